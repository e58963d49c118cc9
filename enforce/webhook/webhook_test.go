package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
)

const secret = "0123456789abcdef-secret"

// receiver is a webhook receiver that does what the documentation asks of
// one: it verifies signatures, drops repeated deliveries and keeps the
// set of blocks it was told about.
type receiver struct {
	*httptest.Server
	mu         sync.Mutex
	blocks     map[string]enforce.Entry
	deliveries map[string]bool
	posts      int
	failNext   int // answer 503 to this many requests
	status     int // answer this to every request when not 0
	retryAfter string
	clock      func() time.Time
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{blocks: map[string]enforce.Entry{}, deliveries: map[string]bool{}, clock: time.Now}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.posts++
	if r.status != 0 {
		http.Error(w, "configured failure", r.status)
		return
	}
	if r.failNext > 0 {
		r.failNext--
		if r.retryAfter != "" {
			w.Header().Set("Retry-After", r.retryAfter)
		}
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	if err := Verify([]byte(secret), req.Header.Get(HeaderTimestamp), req.Header.Get(HeaderSignature), body, r.clock(), 5*time.Minute); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	id := req.Header.Get(HeaderDelivery)
	if r.deliveries[id] {
		w.WriteHeader(http.StatusOK)
		return
	}
	var p Payload
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || p.Version != "v1" {
		http.Error(w, fmt.Sprintf("bad payload: %v", err), http.StatusBadRequest)
		return
	}
	r.deliveries[id] = true
	for _, e := range p.Remove {
		delete(r.blocks, e.ID)
	}
	for _, e := range p.Add {
		r.blocks[e.ID] = e
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) set(f func(*receiver)) { r.mu.Lock(); f(r); r.mu.Unlock() }

func (r *receiver) state() (map[string]enforce.Entry, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]enforce.Entry{}
	for k, v := range r.blocks {
		out[k] = v
	}
	return out, r.posts
}

func newHook(t testing.TB, url string, mod func(*Configuration)) *Webhook {
	t.Helper()
	cfg := DefaultConfiguration()
	cfg.URL, cfg.Secret = url, secret
	cfg.InitialBackoff, cfg.MaxBackoff = time.Millisecond, 5*time.Millisecond
	if mod != nil {
		mod(&cfg)
	}
	w, err := New(cfg, Dependencies{})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

var (
	t0   = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	pump = enforce.Entry{ID: "a", Scope: events.BlockScope{IP: "10.20.0.102", PeerIP: "203.0.113.45", Port: 443, Transport: "tcp"}, Expires: t0.Add(time.Hour), Reason: "internet"}
	nac  = enforce.Entry{ID: "b", Scope: events.BlockScope{MAC: "00:12:21:4e:0a:12"}, Reason: "nac"}
)

func TestAddRemove(t *testing.T) {
	r := newReceiver(t)
	w := newHook(t, r.URL, nil)
	ctx := context.Background()
	if err := w.Apply(ctx, []enforce.Entry{pump, nac}, nil); err != nil {
		t.Fatal(err)
	}
	// The same change again is the same delivery: the receiver ignores it.
	if err := w.Apply(ctx, []enforce.Entry{pump, nac}, nil); err != nil {
		t.Fatal(err)
	}
	got, posts := r.state()
	if diff := cmp.Diff(map[string]enforce.Entry{"a": pump, "b": nac}, got); diff != "" || posts != 2 {
		t.Errorf("receiver after add (posts %d, -want +got):\n%s", posts, diff)
	}
	if err := w.Apply(ctx, nil, []enforce.Entry{pump}); err != nil {
		t.Fatal(err)
	}
	got, _ = r.state()
	if diff := cmp.Diff(map[string]enforce.Entry{"b": nac}, got); diff != "" {
		t.Errorf("receiver after remove (-want +got):\n%s", diff)
	}
	if _, err := w.Actual(ctx); !errors.Is(err, enforce.ErrActualUnknown) {
		t.Errorf("Actual: %v, want ErrActualUnknown", err)
	}
	if err := w.Apply(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, posts := r.state(); posts != 3 {
		t.Errorf("an empty Apply sent something: %d posts", posts)
	}
}

func TestRetriesThenSucceeds(t *testing.T) {
	r := newReceiver(t)
	r.set(func(r *receiver) { r.failNext = 3; r.retryAfter = "0" })
	w := newHook(t, r.URL, nil)
	if err := w.Apply(context.Background(), []enforce.Entry{pump}, nil); err != nil {
		t.Fatal(err)
	}
	if got, posts := r.state(); len(got) != 1 || posts != 4 {
		t.Errorf("after 3 failures: %d blocks, %d posts", len(got), posts)
	}
}

func TestGivesUp(t *testing.T) {
	r := newReceiver(t)
	r.set(func(r *receiver) { r.failNext = 100 })
	w := newHook(t, r.URL, func(c *Configuration) { c.MaxAttempts = 3 })
	err := w.Apply(context.Background(), []enforce.Entry{pump}, nil)
	if err == nil || !strings.Contains(err.Error(), "attempt 3 of 3: POST "+r.URL+`: HTTP 503: "busy"`) {
		t.Errorf("after 3 attempts: %v", err)
	}
	if _, posts := r.state(); posts != 3 {
		t.Errorf("%d posts, want 3", posts)
	}
}

func TestBackoffBoundedByContext(t *testing.T) {
	r := newReceiver(t)
	r.set(func(r *receiver) { r.failNext = 100 })
	w := newHook(t, r.URL, func(c *Configuration) {
		c.MaxAttempts, c.InitialBackoff, c.MaxBackoff = 100, time.Hour, time.Hour
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if _, posts := r.state(); posts > 0 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	err := w.Apply(ctx, []enforce.Entry{pump}, nil)
	if err == nil || !strings.Contains(err.Error(), "gave up: context canceled") {
		t.Errorf("cancelled during backoff: %v", err)
	}
}

func TestPermanentFailureIsNotRetried(t *testing.T) {
	r := newReceiver(t)
	w := newHook(t, r.URL, func(c *Configuration) { c.Secret = "another-secret-of-16" })
	err := w.Apply(context.Background(), []enforce.Entry{pump}, nil)
	if err == nil || !strings.Contains(err.Error(), `attempt 1 of 5: POST `+r.URL+`: HTTP 401: "signature does not match"`) {
		t.Errorf("bad signature: %v", err)
	}
	if _, posts := r.state(); posts != 1 {
		t.Errorf("a 401 was retried: %d posts", posts)
	}
}

func TestUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	w := newHook(t, "http://"+addr+"/hook", func(c *Configuration) { c.MaxAttempts = 2 })
	err := w.Apply(context.Background(), []enforce.Entry{pump}, nil)
	if err == nil || !strings.Contains(err.Error(), "attempt 2 of 2: receiver unreachable") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("nothing listening: %v", err)
	}
}

func TestBatches(t *testing.T) {
	r := newReceiver(t)
	w := newHook(t, r.URL, func(c *Configuration) { c.MaxBatch = 10 })
	var add []enforce.Entry
	for i := range 25 {
		add = append(add, enforce.Entry{ID: fmt.Sprint(i), Scope: events.BlockScope{IP: fmt.Sprintf("10.0.0.%d", i)}})
	}
	if err := w.Apply(context.Background(), add, nil); err != nil {
		t.Fatal(err)
	}
	if got, posts := r.state(); len(got) != 25 || posts != 3 {
		t.Errorf("%d blocks in %d posts, want 25 in 3", len(got), posts)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"version":"v1"}`)
	ts := fmt.Sprint(t0.Unix())
	sig := Sign([]byte(secret), ts, body)
	if err := Verify([]byte(secret), ts, sig, body, t0.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("valid: %v", err)
	}
	for name, err := range map[string]error{
		"old":      Verify([]byte(secret), ts, sig, body, t0.Add(10*time.Minute), 5*time.Minute),
		"body":     Verify([]byte(secret), ts, sig, []byte(`{"version":"v2"}`), t0, 5*time.Minute),
		"secret":   Verify([]byte("other"), ts, sig, body, t0, 5*time.Minute),
		"ts":       Verify([]byte(secret), "soon", sig, body, t0, 5*time.Minute),
		"replayed": Verify([]byte(secret), fmt.Sprint(t0.Unix()+1), sig, body, t0, 5*time.Minute),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSupports(t *testing.T) {
	w := newHook(t, "http://127.0.0.1:1/", nil)
	for _, s := range []events.BlockScope{pump.Scope, nac.Scope, {IP: "10.0.0.0/8"}, {IP: "2001:db8::1", PeerIP: "2001:db8::2"}} {
		if !w.Supports(s) {
			t.Errorf("Supports(%+v) = false", s)
		}
	}
	for _, s := range []events.BlockScope{{}, {IP: "x"}, {PeerIP: "10.0.0.1"}, {IP: "10.0.0.1", Port: 80}, {MAC: "zz"}} {
		if w.Supports(s) {
			t.Errorf("Supports(%+v) = true", s)
		}
	}
}

func BenchmarkApply10k(b *testing.B) {
	r := newReceiver(b)
	w := newHook(b, r.URL, nil)
	add := make([]enforce.Entry, 10_000)
	for i := range add {
		add[i] = enforce.Entry{ID: fmt.Sprintf("req-%05d", i), Scope: events.BlockScope{IP: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}, Reason: "bench"}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Apply(ctx, add, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		r.set(func(r *receiver) { r.deliveries = map[string]bool{} })
		b.StartTimer()
	}
}

// FuzzVerify: receivers run Verify on untrusted headers and bodies; it
// accepts exactly what Sign produced.
func FuzzVerify(f *testing.F) {
	f.Add("1767600000", "sha256=00", []byte(`{"version":"v1"}`))
	f.Add("-1", "", []byte{})
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		now := time.Unix(1767600000, 0)
		err := Verify([]byte(secret), ts, sig, body, now, 5*time.Minute)
		if err == nil && sig != Sign([]byte(secret), ts, body) {
			t.Fatalf("accepted a wrong signature %q", sig)
		}
		good := Sign([]byte(secret), ts, body)
		if Verify([]byte(secret), ts, good, body, now, 5*time.Minute) == nil && err != nil && sig == good {
			t.Fatal("inconsistent")
		}
	})
}

// TestDocumentedPayload decodes the example of docs/enforcement-backends.md
// strictly, so the page shows what receivers get.
func TestDocumentedPayload(t *testing.T) {
	doc, err := os.ReadFile("../../docs/enforcement-backends.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## Webhook")
	_, rest, ok2 := strings.Cut(rest, "```json\n")
	example, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("no JSON example in the webhook section")
	}
	var p Payload
	dec := json.NewDecoder(strings.NewReader(example))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("documented payload: %v", err)
	}
	if p.Version != "v1" || len(p.Add) != 1 || p.Add[0].Scope.Port != 443 || p.Add[0].Expires.IsZero() {
		t.Errorf("documented payload read as %+v", p)
	}
	// And what Vigil sends has the same fields.
	b, _ := json.Marshal(Payload{Version: "v1", Backend: "webhook", Add: []enforce.Entry{pump}, Remove: []enforce.Entry{}})
	var sent, documented map[string]any
	json.Unmarshal(b, &sent)
	json.Unmarshal([]byte(example), &documented)
	keys := func(m map[string]any) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	if diff := cmp.Diff(keys(documented), keys(sent)); diff != "" {
		t.Errorf("payload fields (-documented +sent):\n%s", diff)
	}
}
