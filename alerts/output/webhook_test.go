package output

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/events"
)

var fastRetry = alerts.RetryConfiguration{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}

// receiver is a webhook endpoint that answers fail for the first n
// requests and 200 afterwards, checking signatures.
type receiver struct {
	fail   int32
	status int
	secret []byte

	calls atomic.Int32
	mu    sync.Mutex
	got   []alerts.Record
	bad   []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	n := r.calls.Add(1)
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secret != nil {
		ts := req.Header.Get(HeaderTimestamp)
		if _, err := strconv.ParseInt(ts, 10, 64); err != nil || req.Header.Get(HeaderSignature) != Sign(r.secret, ts, body) {
			r.bad = append(r.bad, "bad signature "+req.Header.Get(HeaderSignature))
		}
	}
	if req.Header.Get("Content-Type") != "application/json" || req.Header.Get("Authorization") != "Bearer token" {
		r.bad = append(r.bad, "headers "+req.Header.Get("Content-Type")+" "+req.Header.Get("Authorization"))
	}
	if n <= r.fail {
		http.Error(w, "SIEM busy", r.status)
		return
	}
	rec, err := alerts.DecodeRecord(body)
	if err != nil {
		r.bad = append(r.bad, err.Error())
	}
	if req.Header.Get(HeaderAlertID) != rec.Alert.ID {
		r.bad = append(r.bad, "alert ID header "+req.Header.Get(HeaderAlertID))
	}
	r.got = append(r.got, rec)
	w.WriteHeader(http.StatusAccepted)
}

func webhookConfig(name, url string) alerts.WebhookConfiguration {
	return alerts.WebhookConfiguration{Name: name, Enabled: true, URL: url, MinSeverity: events.SeverityMedium,
		Headers: map[string]string{"Authorization": "Bearer token"}, Retry: fastRetry}
}

func TestWebhookRetriesThenDelivers(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rcv := &receiver{fail: 3, status: http.StatusServiceUnavailable, secret: []byte("s3cr3t")}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	b := newBus(t)
	cfg := webhookConfig("soar", srv.URL+"/hook?token=x")
	cfg.SecretFile = secret
	cfg.Retry.MaxAttempts = 5
	out := startOutputs(t, b, alerts.OutputsConfiguration{Webhook: []alerts.WebhookConfiguration{cfg}})
	publish(t, b, record(0, events.SeverityHigh), record(1, events.SeverityLow), record(2, events.SeverityCritical))
	eventually(t, "two deliveries", func() bool { return out.Stats()["soar"].Delivered == 2 })
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, b := range rcv.bad {
		t.Error(b)
	}
	if len(rcv.got) != 2 || rcv.got[0].Alert.ID != record(0, events.SeverityHigh).Alert.ID || rcv.got[1].Alert.Body.Severity != events.SeverityCritical {
		t.Errorf("received %+v", rcv.got)
	}
	if s := out.Stats()["soar"]; s.Retries != 3 || s.DeadLettered != 0 || rcv.calls.Load() != 5 {
		t.Errorf("stats %+v after %d calls, want 3 retries and 5 calls", s, rcv.calls.Load())
	}
	if dl := deadLetters(t, b, "soar"); len(dl) != 0 {
		t.Errorf("dead letters %+v", dl)
	}
}

func TestWebhookDeadLetters(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		attempts int
	}{
		{"retries exhausted", http.StatusBadGateway, 4},
		{"refused at once", http.StatusBadRequest, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := &receiver{fail: 1 << 30, status: tc.status}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			b := newBus(t)
			cfg := webhookConfig("siem", srv.URL)
			cfg.Retry.MaxAttempts = 4
			out := startOutputs(t, b, alerts.OutputsConfiguration{Webhook: []alerts.WebhookConfiguration{cfg}})
			publish(t, b, record(0, events.SeverityHigh), record(1, events.SeverityHigh))
			eventually(t, "two dead letters", func() bool { return out.Stats()["siem"].DeadLettered == 2 })
			dls := deadLetters(t, b, "siem")
			if len(dls) != 2 {
				t.Fatalf("%d dead letters stored, want 2", len(dls))
			}
			dl := dls[0]
			if dl.Output != "siem" || dl.Attempts != tc.attempts || dl.Record.Alert.ID != record(0, events.SeverityHigh).Alert.ID || dl.Error == "" {
				t.Errorf("dead letter %+v", dl)
			}
			if got := int(rcv.calls.Load()); got != 2*tc.attempts {
				t.Errorf("%d calls, want %d", got, 2*tc.attempts)
			}
		})
	}
}

// TestOutputResumesAfterRestart: records published while an output is
// stopped are delivered when it starts again, none twice.
func TestOutputResumesAfterRestart(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last, after the bus stopped
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	b := newBus(t)
	cfg := alerts.OutputsConfiguration{File: []alerts.FileConfiguration{{Name: "file", Enabled: true, Path: path, Format: alerts.FormatOCSF}}}
	out := startOutputs(t, b, cfg)
	publish(t, b, record(0, events.SeverityHigh))
	eventually(t, "first delivery", func() bool { return out.Stats()["file"].Delivered == 1 })
	if err := out.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	publish(t, b, record(1, events.SeverityHigh), record(2, events.SeverityInfo), record(3, events.SeverityCritical))
	again := startOutputs(t, b, cfg)
	eventually(t, "delivery after restart", func() bool { return again.Stats()["file"].Delivered == 2 })
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var counts []uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var df DetectionFinding
		if err := json.Unmarshal(sc.Bytes(), &df); err != nil {
			t.Fatal(err)
		}
		counts = append(counts, df.Count)
	}
	if len(counts) != 3 || counts[0] != 1 || counts[1] != 2 || counts[2] != 4 {
		t.Errorf("file holds findings with counts %v, want [1 2 4]", counts)
	}
}

// TestLifecycleRecords: an output with lifecycle set receives the
// incidents' lifecycle records, one without does not.
func TestLifecycleRecords(t *testing.T) {
	dir := t.TempDir()
	b := newBus(t)
	out := startOutputs(t, b, alerts.OutputsConfiguration{File: []alerts.FileConfiguration{
		{Name: "with", Enabled: true, Path: filepath.Join(dir, "with.jsonl"), Lifecycle: true},
		{Name: "without", Enabled: true, Path: filepath.Join(dir, "without.jsonl")},
	}})
	rec := record(0, events.SeverityHigh)
	resolved := rec
	resolved.AlertSeq, resolved.Incident.State = 11, alerts.StateResolved
	resolved.Transition = &alerts.Transition{Action: events.AlertResolve, From: alerts.StateOpen, To: alerts.StateResolved,
		Actor: "anna", Note: "firewalled", Time: t0.Add(time.Hour), EventID: "e38d69497905918dd9f454aad38386ba"}
	publish(t, b, rec, resolved)
	eventually(t, "deliveries", func() bool { s := out.Stats(); return s["with"].Delivered == 2 && s["without"].Delivered == 1 })
	data, err := os.ReadFile(filepath.Join(dir, "with.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var got []alerts.Record
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		r, err := alerts.DecodeRecord(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if len(got) != 2 || got[0].Transition != nil || got[1].Transition == nil || got[1].Transition.Actor != "anna" {
		t.Errorf("records %+v", got)
	}
	if s := out.Stats()["without"]; s.Delivered != 1 {
		t.Errorf("output without lifecycle delivered %d", s.Delivered)
	}
}
