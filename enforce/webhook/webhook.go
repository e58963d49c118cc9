// Package webhook sends block changes to any HTTP endpoint as signed JSON,
// for enforcement points Vigil has no backend for (a SOAR playbook, a NAC
// with its own API, a script). The receiver enforces; Vigil cannot read
// back what it did, so Actual returns enforce.ErrActualUnknown and the
// reconciler relies on its own record of what was delivered.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/tlsfile"
)

// Header names of a delivery.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with the
	// shared secret, of the timestamp header, a dot, and the body.
	HeaderSignature = "X-Vigil-Signature"
	// HeaderTimestamp is the Unix time in seconds the attempt was sent;
	// signing it lets a receiver refuse replayed deliveries.
	HeaderTimestamp = "X-Vigil-Timestamp"
	// HeaderDelivery identifies a delivery across its retries (derived
	// from its content), so a receiver can drop duplicates.
	HeaderDelivery = "X-Vigil-Delivery"
)

// Configuration of one webhook.
type Configuration struct {
	// Name identifies the enforcement point ("webhook").
	Name string `yaml:"name"`
	// URL receives the POSTs.
	URL string `yaml:"url"`
	// Secret keys the HMAC signature; at least 16 bytes.
	Secret string `yaml:"secret"`
	// Timeout bounds one attempt.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts is how many times a delivery is tried before Apply
	// fails (the reconciler tries again on its next pass).
	MaxAttempts int `yaml:"max_attempts"`
	// InitialBackoff is the pause after the first failure; it doubles,
	// up to MaxBackoff.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
	// MaxBatch is the most entries (added plus removed) in one POST.
	MaxBatch int `yaml:"max_batch"`
	// CAFile verifies the receiver's certificate; InsecureSkipVerify turns
	// verification off (labs only).
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// DefaultConfiguration tries five times over about 8 seconds, 1000
// entries a request.
func DefaultConfiguration() Configuration {
	return Configuration{
		Name:           "webhook",
		Timeout:        10 * time.Second,
		MaxAttempts:    5,
		InitialBackoff: 500 * time.Millisecond,
		MaxBackoff:     30 * time.Second,
		MaxBatch:       1000,
	}
}

// Validate reports every problem, naming fields within the section.
func (c Configuration) Validate() []error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name: must not be empty"))
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: %q is not an http(s) URL", c.URL))
	}
	if len(c.Secret) < 16 {
		errs = append(errs, errors.New("secret: must be at least 16 bytes (receivers verify the signature with it)"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %s", c.Timeout))
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		errs = append(errs, fmt.Errorf("max_attempts: must be 1-100, got %d", c.MaxAttempts))
	}
	if c.InitialBackoff <= 0 || c.MaxBackoff < c.InitialBackoff {
		errs = append(errs, fmt.Errorf("initial_backoff, max_backoff: want 0 < initial_backoff <= max_backoff, got %s and %s", c.InitialBackoff, c.MaxBackoff))
	}
	if c.MaxBatch < 1 {
		errs = append(errs, fmt.Errorf("max_batch: must be at least 1, got %d", c.MaxBatch))
	}
	return errs
}

// Dependencies of a webhook.
type Dependencies struct {
	Logger *slog.Logger
	// HTTPClient overrides the client built from the configuration (tests).
	HTTPClient *http.Client
	// Now is the wall clock of the timestamp header.
	Now func() time.Time
}

// Payload is the JSON body of a delivery. A receiver applies Remove
// before Add: an entry whose scope changed comes as both, same ID.
type Payload struct {
	// Version of the payload, "v1".
	Version string `json:"version"`
	// Backend is the configured name.
	Backend string          `json:"backend"`
	Add     []enforce.Entry `json:"add"`
	Remove  []enforce.Entry `json:"remove"`
}

// Webhook is the enforcement point.
type Webhook struct {
	cfg  Configuration
	deps Dependencies
	http *http.Client
}

var _ enforce.Backend = (*Webhook)(nil)

// New returns a webhook; it sends nothing.
func New(cfg Configuration, deps Dependencies) (*Webhook, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("webhook: %w", errors.Join(errs...))
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	hc := deps.HTTPClient
	if hc == nil {
		tlsCfg := &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify}
		if cfg.CAFile != "" {
			pool, err := tlsfile.CertPool(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("webhook: ca_file: %w", err)
			}
			tlsCfg.RootCAs = pool
		}
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}}
	}
	return &Webhook{cfg: cfg, deps: deps, http: hc}, nil
}

// Name implements enforce.Backend.
func (w *Webhook) Name() string { return w.cfg.Name }

// Supports implements enforce.Backend: the receiver gets the scope as it
// is, so every well-formed scope (addresses, pair, port with transport,
// MAC) can be sent. Whether the receiver can enforce it is its business.
func (w *Webhook) Supports(s events.BlockScope) bool { return checkScope(s) == nil }

func checkScope(s events.BlockScope) error {
	if s == (events.BlockScope{}) {
		return errors.New("empty scope")
	}
	for _, ip := range []string{s.IP, s.PeerIP} {
		if ip == "" {
			continue
		}
		if _, err := netip.ParseAddr(ip); err != nil {
			if _, err := netip.ParsePrefix(ip); err != nil {
				return fmt.Errorf("%q is not an address or CIDR", ip)
			}
		}
	}
	if s.PeerIP != "" && s.IP == "" {
		return errors.New("peer_ip without ip")
	}
	if (s.Port != 0) != (s.Transport != "") {
		return fmt.Errorf("port %d and transport %q: set both or neither", s.Port, s.Transport)
	}
	if s.MAC != "" {
		if _, err := net.ParseMAC(s.MAC); err != nil {
			return fmt.Errorf("%q is not a MAC address", s.MAC)
		}
	}
	return nil
}

// Actual implements enforce.Backend: a webhook cannot read back.
func (w *Webhook) Actual(context.Context) ([]enforce.Entry, error) {
	return nil, enforce.ErrActualUnknown
}

// Apply implements enforce.Backend: it POSTs the changes, MaxBatch entries
// a request, each retried with backoff on network errors, 408, 429 and
// 5xx, within ctx. Another answer than 2xx fails at once. Delivering the
// same change twice is the receiver's to ignore (HeaderDelivery).
func (w *Webhook) Apply(ctx context.Context, add, remove []enforce.Entry) error {
	for _, e := range append(append([]enforce.Entry(nil), add...), remove...) {
		if err := checkScope(e.Scope); err != nil {
			return fmt.Errorf("webhook %s: entry %s: %w", w.cfg.Name, e.ID, err)
		}
	}
	for len(add)+len(remove) > 0 {
		p := Payload{Version: "v1", Backend: w.cfg.Name, Add: []enforce.Entry{}, Remove: []enforce.Entry{}}
		n := min(len(remove), w.cfg.MaxBatch)
		p.Remove = append(p.Remove, remove[:n]...)
		remove = remove[n:]
		m := min(len(add), w.cfg.MaxBatch-n)
		p.Add = append(p.Add, add[:m]...)
		add = add[m:]
		body, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("webhook %s: encode: %w", w.cfg.Name, err)
		}
		if err := w.deliver(ctx, body); err != nil {
			return fmt.Errorf("webhook %s: %w", w.cfg.Name, err)
		}
	}
	return nil
}

// Sign returns the signature header value for a timestamp and a body.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a delivery as a receiver should: the signature over the
// timestamp and body, in constant time, and the timestamp within
// tolerance of now.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q is not Unix seconds", timestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("timestamp %s is %s away from now (tolerance %s)", timestamp, d.Round(time.Second), tolerance)
	}
	if !hmac.Equal([]byte(signature), []byte(Sign(secret, timestamp, body))) {
		return errors.New("signature does not match")
	}
	return nil
}

func (w *Webhook) deliver(ctx context.Context, body []byte) error {
	sum := sha256.Sum256(body)
	delivery := hex.EncodeToString(sum[:16])
	backoff := w.cfg.InitialBackoff
	var last error
	for attempt := 1; ; attempt++ {
		retry, wait, err := w.attempt(ctx, body, delivery)
		if err == nil {
			return nil
		}
		last = fmt.Errorf("delivery %s, attempt %d of %d: %w", delivery, attempt, w.cfg.MaxAttempts, err)
		if !retry || attempt >= w.cfg.MaxAttempts {
			return last
		}
		if wait <= 0 {
			// Jitter of ±20% keeps many Vigil instances from retrying in step.
			wait = time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
			backoff = min(2*backoff, w.cfg.MaxBackoff)
		}
		wait = min(wait, w.cfg.MaxBackoff)
		w.deps.Logger.Warn("webhook delivery failed, retrying", "backend", w.cfg.Name, "err", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %v)", last, ctx.Err())
		case <-t.C:
		}
	}
}

// attempt sends once; it says whether a failure is worth retrying and how
// long the receiver asked to wait (Retry-After), if it did.
func (w *Webhook) attempt(ctx context.Context, body []byte, delivery string) (retry bool, wait time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, 0, err
	}
	ts := strconv.FormatInt(w.deps.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigil-enforce-webhook/1")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign([]byte(w.cfg.Secret), ts, body))
	req.Header.Set(HeaderDelivery, delivery)
	res, err := w.http.Do(req)
	if err != nil {
		return true, 0, fmt.Errorf("receiver unreachable: %w", err)
	}
	defer res.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	if res.StatusCode/100 == 2 {
		return false, 0, nil
	}
	err = fmt.Errorf("POST %s: HTTP %d: %q", w.cfg.URL, res.StatusCode, strings.TrimSpace(string(text)))
	switch {
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusRequestTimeout || res.StatusCode >= 500:
		if s, perr := strconv.Atoi(res.Header.Get("Retry-After")); perr == nil && s >= 0 {
			wait = time.Duration(s) * time.Second
		}
		return true, wait, err
	default:
		return false, 0, err
	}
}
