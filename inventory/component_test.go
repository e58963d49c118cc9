package inventory

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-health/vigil/events"
)

func startBus(t *testing.T) *events.Bus {
	t.Helper()
	b, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop(context.Background()) })
	return b
}

func publish(t *testing.T, b *events.Bus, msgs ...events.Message) {
	t.Helper()
	for _, m := range msgs {
		if err := b.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

func runUntilCaughtUp(t *testing.T, b *events.Bus, c *Component) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitCaughtUp(ctx, events.StreamSensor, Durable); err != nil {
		t.Fatal(err)
	}
}

// TestComponentResumesFromCheckpoint stops the inventory half way (it
// checkpoints), starts a new one on the same log, which restores the
// checkpoint and handles only the events after it; the result must equal
// an inventory that read the whole log at once.
func TestComponentResumesFromCheckpoint(t *testing.T) {
	b := startBus(t)
	first := []events.Message{
		flow(0, events.FlowEnd, "a", pump, "10.20.0.102", "d4:ae:52:8a:10:21", "10.20.0.21", 5),
		obs(10, "hostname", "PUMP-1", 0.9),
		obs(20, "ip", "10.20.0.140", 0.95),
	}
	second := []events.Message{
		flow(400, events.FlowEnd, "b", pump, "10.20.0.140", "d4:ae:52:8a:10:21", "10.20.0.21", 9),
		obsFrom(3000, "firmware_version", "1.2", "snmp", 0.9),
		obs(3100, "hostname", "PUMP-2", 0.9),
	}
	publish(t, b, first...)
	c1, err := New(DefaultConfiguration(), Dependencies{Bus: b, Checkpoints: b})
	if err != nil {
		t.Fatal(err)
	}
	runUntilCaughtUp(t, b, c1)
	if err := c1.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	publish(t, b, second...)
	c2, err := New(DefaultConfiguration(), Dependencies{Bus: b, Checkpoints: b})
	if err != nil {
		t.Fatal(err)
	}
	runUntilCaughtUp(t, b, c2)
	defer c2.Stop(context.Background())
	if got := c2.Stats(); got.Flows != 2 || got.Observations != 4 {
		t.Errorf("resumed stats %+v: the restored inventory handled events twice or missed some", got)
	}

	// The reference reads the whole log from the start (no checkpoint).
	whole := NewModel(DefaultConfiguration(), events.Source{Component: "inventory"}, Options{})
	for _, m := range append(first, second...) {
		switch e := m.(type) {
		case events.Event[events.Flow]:
			whole.ObserveFlow(e)
		case events.Event[events.Observation]:
			whole.ObserveAttribute(e)
		}
	}
	if diff := cmp.Diff(whole.Devices(), c2.Devices(), cmpopts.IgnoreUnexported(Device{})); diff != "" {
		t.Errorf("resumed inventory differs from a whole replay (-whole +resumed):\n%s", diff)
	}
}
