package policy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/vigil-health/vigil/events"
)

// fakeBus is an in-memory Bus: Consume hands the deliveries sent on
// deliveries to the handler, one at a time, and reports each handler
// result on results.
type fakeBus struct {
	deliveries chan events.Delivery
	results    chan error

	mu        sync.Mutex
	published []events.Header
	payloads  [][]byte
	failNext  error
	specs     []events.ConsumerSpec
}

func newFakeBus() *fakeBus {
	return &fakeBus{deliveries: make(chan events.Delivery), results: make(chan error)}
}

func (b *fakeBus) Publish(_ context.Context, m events.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.failNext; err != nil {
		b.failNext = nil
		return err
	}
	payload, err := m.Encode()
	if err != nil {
		return err
	}
	b.published = append(b.published, m.Meta())
	b.payloads = append(b.payloads, payload)
	return nil
}

func (b *fakeBus) Consume(ctx context.Context, spec events.ConsumerSpec, h events.Handler) error {
	b.mu.Lock()
	b.specs = append(b.specs, spec)
	b.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return nil
		case d := <-b.deliveries:
			err := h(ctx, d)
			select {
			case b.results <- err:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// deliver hands ev's payload to the consumer and returns the handler's
// result.
func (b *fakeBus) deliver(t *testing.T, seq uint64, payload []byte) error {
	t.Helper()
	hdr, _ := events.DecodeHeader(payload)
	if hdr.Kind == "" {
		hdr.Kind = events.KindDeviation
	}
	d := events.Delivery{Stream: events.StreamAnalytics, Seq: seq, Subject: events.Subject(hdr.Kind, 0), Header: hdr, Data: payload}
	select {
	case b.deliveries <- d:
	case <-time.After(5 * time.Second):
		t.Fatal("consumer not running")
	}
	select {
	case err := <-b.results:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not return")
	}
	return nil
}

func (b *fakeBus) kinds() []events.Kind {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []events.Kind
	for _, h := range b.published {
		out = append(out, h.Kind)
	}
	return out
}

// startComponent starts a component on bus and stops it at cleanup.
func startComponent(t *testing.T, cfg Configuration, bus Bus) *Component {
	t.Helper()
	c, err := New(cfg, Dependencies{Bus: bus, Source: testSrc})
	if err != nil {
		t.Fatalf("New() error: %v", err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("Start() error: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("Stop() error: %v", err)
		}
	})
	return c
}

func encode(t *testing.T, m events.Message) []byte {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestComponentPublishesDecisionThenAlerts(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	bus := newFakeBus()
	c := startComponent(t, DefaultConfiguration(), bus)

	ev := deviation(events.DeviationInternet, pump, withPeer("203.0.113.7", 443))
	if err := bus.deliver(t, 1, encode(t, ev)); err != nil {
		t.Fatalf("handler error: %v", err)
	}
	if diff := cmp.Diff([]events.Kind{events.KindDecision, events.KindAlert}, bus.kinds()); diff != "" {
		t.Errorf("published kinds (-want +got):\n%s", diff)
	}
	// What was published is what Evaluate decides.
	dec, alerts, err := c.Engine().Evaluate(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]byte{encode(t, dec), encode(t, alerts[0])}, bus.payloads); diff != "" {
		t.Errorf("payloads (-want +got):\n%s", diff)
	}
	// Other kinds on the stream are acknowledged without output.
	if err := bus.deliver(t, 2, encode(t, dec)); err != nil {
		t.Errorf("handler error on a decision: %v", err)
	}
	if diff := cmp.Diff([]events.ConsumerSpec{{Stream: events.StreamAnalytics, Durable: "policy", Kinds: []events.Kind{events.KindDeviation}}}, bus.specs); diff != "" {
		t.Errorf("consumer spec (-want +got):\n%s", diff)
	}
	want := Stats{Evaluations: 1, Alerts: 1, Enforce: 1, Revision: c.Engine().Revision()}
	if diff := cmp.Diff(want, c.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestComponentPoison(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	bus := newFakeBus()
	c := startComponent(t, DefaultConfiguration(), bus)
	err := bus.deliver(t, 1, []byte(`{"version":"v1","kind":"deviation","id":"x","body":{"type":7}}`))
	if !errors.Is(err, events.ErrPoison) {
		t.Errorf("handler error = %v, want ErrPoison", err)
	}
	if got := c.Stats().Poison; got != 1 {
		t.Errorf("poison = %d", got)
	}
	if len(bus.kinds()) != 0 {
		t.Errorf("published %v for a poison message", bus.kinds())
	}
}

func TestComponentPublishFailureIsRetried(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	bus := newFakeBus()
	c := startComponent(t, DefaultConfiguration(), bus)
	ev := deviation(events.DeviationScan, workstation, func(d *events.Deviation) { d.Count = 30 })
	bus.failNext = errors.New("stream unavailable")
	err := bus.deliver(t, 1, encode(t, ev))
	if err == nil || errors.Is(err, events.ErrPoison) || !strings.Contains(err.Error(), "publish decision") {
		t.Fatalf("handler error = %v, want a retryable publish error", err)
	}
	// The redelivery publishes the same events.
	if err := bus.deliver(t, 1, encode(t, ev)); err != nil {
		t.Fatalf("retry error: %v", err)
	}
	if diff := cmp.Diff([]events.Kind{events.KindDecision, events.KindAlert}, bus.kinds()); diff != "" {
		t.Errorf("published kinds (-want +got):\n%s", diff)
	}
	if s := c.Stats(); s.PublishErrors != 1 || s.Evaluations != 1 {
		t.Errorf("stats = %+v", s)
	}
}

func TestComponentStartRejectsInvalidPolicy(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := writePolicies(t, map[string]string{"x.rego": "package vigil.rules.x\n\nalerts contains http.send({}) if true\n"})
	cfg := DefaultConfiguration()
	cfg.Dir = dir
	c, err := New(cfg, Dependencies{Bus: newFakeBus()})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "x.rego:3:") {
		t.Errorf("Start() error = %v", err)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Errorf("Stop() after failed Start: %v", err)
	}
}

func TestComponentReloadInterval(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := writePolicies(t, map[string]string{"site.rego": strings.Replace(siteRule, "%s", "v1", 1)})
	cfg := siteConfig(dir)
	cfg.ReloadInterval = 10 * time.Millisecond
	c := startComponent(t, cfg, newFakeBus())
	rev := c.Stats().Revision

	writePolicyFile(t, dir, "site.rego", strings.Replace(siteRule, "%s", "v2", 1))
	waitFor(t, func() bool { return c.Stats().Revision != rev })
	if s := c.Stats(); s.Reloads != 1 {
		t.Errorf("reloads = %d, want 1", s.Reloads)
	}

	rev = c.Stats().Revision
	writePolicyFile(t, dir, "site.rego", "package vigil.rules.site\n\nalerts contains")
	waitFor(t, func() bool { return c.Stats().ReloadErrors > 0 })
	if got := c.Stats().Revision; got != rev {
		t.Errorf("revision changed to %s after a failed reload", got)
	}
}

func TestNewValidates(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Durable = ""
	if _, err := New(cfg, Dependencies{Bus: newFakeBus()}); err == nil || !strings.Contains(err.Error(), "durable") {
		t.Errorf("New() error = %v", err)
	}
	if _, err := New(DefaultConfiguration(), Dependencies{}); err == nil {
		t.Error("New() without a bus succeeded")
	}
}
