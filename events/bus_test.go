package events

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded server and the nats client keep a few process-wide
		// goroutines (timers, the JetStream store's flusher) after Shutdown.
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreTopFunction("time.Sleep"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).syncBlocks"),
	)
}

// newTestBus starts an embedded bus in a temporary directory.
func newTestBus(t *testing.T, dir string) *Bus {
	t.Helper()
	b, err := NewBus(DefaultConfiguration(), Dependencies{DataDir: dir})
	if err != nil {
		t.Fatalf("NewBus: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { stopBus(t, b) })
	return b
}

func stopBus(t *testing.T, b *Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func testFlow(i int) Event[Flow] {
	at := time.Date(2026, 1, 5, 8, 0, i, 0, time.UTC)
	return MustEvent(at, Source{Component: "sensor", Name: "test"}, Flow{
		FlowID: "f", Phase: FlowEnd, Start: at, Last: at, Transport: "tcp",
		Orig: Endpoint{MAC: "00:11:22:33:44:55", IP: "10.0.0.1", Port: 40000 + uint16(i)},
		Resp: Endpoint{MAC: "00:11:22:33:44:66", IP: "10.0.0.2", Port: 104},
	})
}

// collect consumes in the background and returns the IDs handled.
type collector struct {
	mu  sync.Mutex
	ids []string
}

// handle is a Handler that records each delivery's event ID.
func (c *collector) handle(_ context.Context, d Delivery) error {
	c.add(d.Header.ID)
	return nil
}

func (c *collector) add(id string) {
	c.mu.Lock()
	c.ids = append(c.ids, id)
	c.mu.Unlock()
}

func (c *collector) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ids...)
}

func consumeInBackground(t *testing.T, b *Bus, spec ConsumerSpec, h Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Consume(ctx, spec, h) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
	}
}

func TestPublishDeduplicatesAndConsumerRetriesInOrder(t *testing.T) {
	b := newTestBus(t, t.TempDir())
	ctx := context.Background()

	var sent []string
	for i := range 5 {
		ev := testFlow(i)
		sent = append(sent, ev.ID)
		if err := b.Publish(ctx, ev); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	// A replayed capture publishes the same events again: JetStream keeps one copy.
	for i := range 5 {
		if err := b.Publish(ctx, testFlow(i)); err != nil {
			t.Fatalf("re-Publish: %v", err)
		}
	}
	if s := b.Stats(); s.Published != 5 || s.Duplicates != 5 {
		t.Fatalf("stats = %+v, want 5 published and 5 duplicates", s)
	}

	// The handler fails once on the third event: it must be retried in
	// place, before the fourth, and handled exactly once.
	var c collector
	failed := false
	stop := consumeInBackground(t, b, ConsumerSpec{Stream: StreamSensor, Durable: "t", Kinds: []Kind{KindFlow}},
		func(_ context.Context, d Delivery) error {
			if d.Header.ID == sent[2] && !failed {
				failed = true
				return errors.New("transient")
			}
			ev, err := Decode[Flow](d.Data)
			if err != nil {
				return errors.Join(ErrPoison, err)
			}
			c.add(ev.ID)
			return nil
		})
	waitCaughtUp(t, b, StreamSensor, "t")
	stop()
	if got := c.got(); !cmp.Equal(got, sent) {
		t.Fatalf("handled %v, want %v", got, sent)
	}
	if s := b.Stats(); s.Retries != 1 || s.Delivered != 5 {
		t.Fatalf("stats = %+v, want 1 retry and 5 delivered", s)
	}
}

func TestConsumerResumesAfterRestartWithoutRedelivering(t *testing.T) {
	dir := t.TempDir()
	b := newTestBus(t, dir)
	ctx := context.Background()
	for i := range 3 {
		if err := b.Publish(ctx, testFlow(i)); err != nil {
			t.Fatal(err)
		}
	}
	var first collector
	stop := consumeInBackground(t, b, ConsumerSpec{Stream: StreamSensor, Durable: "r"}, first.handle)
	waitCaughtUp(t, b, StreamSensor, "r")
	stop()
	stopBus(t, b)

	// Restart the embedded server on the same directory: the stream, the
	// durable consumer and its acknowledgements survive.
	b2 := newTestBus(t, dir)
	for i := 3; i < 5; i++ {
		if err := b2.Publish(ctx, testFlow(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b2.Publish(ctx, testFlow(0)); err != nil { // still inside the duplicate window
		t.Fatal(err)
	}
	if s := b2.Stats(); s.Duplicates != 1 {
		t.Fatalf("after restart, re-publishing an old event: stats %+v, want 1 duplicate", s)
	}
	var second collector
	stop = consumeInBackground(t, b2, ConsumerSpec{Stream: StreamSensor, Durable: "r"}, second.handle)
	waitCaughtUp(t, b2, StreamSensor, "r")
	stop()
	want := []string{testFlow(3).ID, testFlow(4).ID}
	if got := second.got(); !cmp.Equal(got, want) {
		t.Fatalf("after restart handled %v, want only the new %v", got, want)
	}
	if len(first.got()) != 3 {
		t.Fatalf("before restart handled %d, want 3", len(first.got()))
	}
}

func TestPoisonMessageIsTerminatedAndCounted(t *testing.T) {
	b := newTestBus(t, t.TempDir())
	ctx := context.Background()
	// A foreign publisher puts garbage on a Vigil subject.
	if _, err := b.JetStream().Publish(ctx, Subject(KindFlow, 0), []byte("not json")); err != nil {
		t.Fatal(err)
	}
	good := testFlow(1)
	if err := b.Publish(ctx, good); err != nil {
		t.Fatal(err)
	}
	var c collector
	stop := consumeInBackground(t, b, ConsumerSpec{Stream: StreamSensor, Durable: "p"}, c.handle)
	waitCaughtUp(t, b, StreamSensor, "p")
	stop()
	if got := c.got(); !cmp.Equal(got, []string{good.ID}) {
		t.Fatalf("handled %v, want only the good event", got)
	}
	if s := b.Stats(); s.Poison != 1 {
		t.Fatalf("poison = %d, want 1", s.Poison)
	}
}

func TestReadReturnsStoredEventsInOrder(t *testing.T) {
	b := newTestBus(t, t.TempDir())
	ctx := context.Background()
	var want []string
	for i := range 4 {
		ev := testFlow(i)
		want = append(want, ev.ID)
		if err := b.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := b.Read(ctx, StreamSensor, []Kind{KindFlow}, func(d Delivery) error {
		got = append(got, d.Header.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(got, want) {
		t.Fatalf("Read = %v, want %v", got, want)
	}
	// An empty filter result returns at once instead of blocking.
	if err := b.Read(ctx, StreamSensor, []Kind{KindHealth}, func(Delivery) error {
		t.Fatal("unexpected delivery")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestConfigurationReportsAllErrors(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Partitions = 0
	cfg.Replicas = 3
	cfg.Retention.Alerts.MaxBytes = 0
	errs := cfg.Validate()
	if len(errs) != 3 {
		t.Fatalf("Validate returned %d errors, want 3: %v", len(errs), errs)
	}
}

func waitCaughtUp(t *testing.T, b *Bus, stream, durable string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.WaitCaughtUp(ctx, stream, durable); err != nil {
		t.Fatal(err)
	}
}
