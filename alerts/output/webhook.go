package output

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-health/vigil/alerts"
)

// Webhook request headers.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256 of
	// timestamp + "." + body with the configured secret.
	HeaderSignature = "X-Vigil-Signature"
	// HeaderTimestamp is the Unix time (seconds) the request was signed,
	// so a receiver can refuse replays of old requests.
	HeaderTimestamp = "X-Vigil-Timestamp"
	// HeaderAlertID is the alert's event ID (for a lifecycle record, the
	// incident's latest alert).
	HeaderAlertID = "X-Vigil-Alert-Id"
	// HeaderRecordID identifies the record: "soc-" and the alert's event
	// ID, or the lifecycle event's for a lifecycle record. Receivers
	// de-duplicate on it.
	HeaderRecordID = "X-Vigil-Record-Id"
)

// Sign returns the signature of body at timestamp ts with secret.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// webhookOutput POSTs one JSON document per record.
type webhookOutput struct {
	cfg     alerts.WebhookConfiguration
	product Product
	secret  []byte
	client  *http.Client
	now     func() time.Time
}

func newWebhook(cfg alerts.WebhookConfiguration, p Product, client *http.Client) (*webhookOutput, error) {
	w := &webhookOutput{cfg: cfg, product: p, client: client, now: time.Now}
	if w.client == nil {
		w.client = &http.Client{Timeout: cfg.Timeout}
	}
	if cfg.SecretFile != "" {
		b, err := os.ReadFile(cfg.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("webhook output %s: secret_file: %w", cfg.Name, err)
		}
		w.secret = bytes.TrimSpace(b)
		if len(w.secret) == 0 {
			return nil, fmt.Errorf("webhook output %s: secret_file %s is empty", cfg.Name, cfg.SecretFile)
		}
	}
	return w, nil
}

// Body is the JSON a format gives for a record.
func Body(format string, rec alerts.Record, p Product) ([]byte, error) {
	if format == alerts.FormatOCSF {
		return json.Marshal(RecordOCSF(rec, p))
	}
	return json.Marshal(rec)
}

func (w *webhookOutput) Send(ctx context.Context, rec alerts.Record) error {
	body, err := Body(w.cfg.Format, rec, w.product)
	if err != nil {
		return permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigil/"+w.product.Version)
	req.Header.Set(HeaderAlertID, rec.Alert.ID)
	req.Header.Set(HeaderRecordID, rec.Meta().ID)
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	if w.secret != nil {
		ts := strconv.FormatInt(w.now().Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign(w.secret, ts, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", redact(w.cfg.URL), err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("post to %s: %s: %s", redact(w.cfg.URL), resp.Status, strings.TrimSpace(string(snippet)))
	// 408, 429 and 5xx may pass on a retry; any other refusal will not.
	if resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return err
	}
	return permanent(err)
}

func (w *webhookOutput) Close() error {
	w.client.CloseIdleConnections()
	return nil
}

// redact drops the query and user info of a URL for logs (tokens live
// there).
func redact(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if at := strings.Index(u, "@"); at >= 0 {
		if s := strings.Index(u, "://"); s >= 0 && s < at {
			u = u[:s+3] + u[at+1:]
		}
	}
	return u
}

// fileOutput appends one JSON document per line and syncs it to disk
// before the record is acknowledged.
type fileOutput struct {
	cfg     alerts.FileConfiguration
	product Product
	f       *os.File
}

func newFile(cfg alerts.FileConfiguration, p Product) *fileOutput {
	return &fileOutput{cfg: cfg, product: p}
}

func (o *fileOutput) Send(_ context.Context, rec alerts.Record) error {
	body, err := Body(o.cfg.Format, rec, o.product)
	if err != nil {
		return permanent(err)
	}
	if o.f == nil {
		f, err := os.OpenFile(o.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("open %s: %w", o.cfg.Path, err)
		}
		o.f = f
	}
	if _, err := o.f.Write(append(body, '\n')); err != nil {
		o.Close()
		return fmt.Errorf("write %s: %w", o.cfg.Path, err)
	}
	if err := o.f.Sync(); err != nil {
		o.Close()
		return fmt.Errorf("sync %s: %w", o.cfg.Path, err)
	}
	return nil
}

func (o *fileOutput) Close() error {
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f = nil
	return err
}
