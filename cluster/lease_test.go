package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
)

// TestLeases: two engines take the two slots, a third waits as a
// standby; the slot of an engine that stops refreshing (dead) goes to the
// standby after the TTL, and the dead one learns it lost the slot; a slot
// freed by a clean stop is taken at once.
func TestLeases(t *testing.T) {
	bus, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := bus.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Stop(ctx) })
	js := bus.JetStream()
	cfg := LeaseConfiguration{Slots: 2, Slot: -1, TTL: time.Second}

	a, err := Claim(ctx, js, cfg, "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Claim(ctx, js, cfg, "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Slot != 0 || b.Slot != 1 {
		t.Fatalf("slots %d and %d, want 0 and 1", a.Slot, b.Slot)
	}
	a.Start(ctx)
	b.Start(ctx)

	// Both held and refreshed: a standby waits beyond several TTLs.
	wctx, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
	if _, err := Claim(wctx, js, cfg, "c", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("standby claimed while both slots are refreshed: %v", err)
	}
	cancel()

	// a dies: it stops refreshing without freeing its slot.
	a.cancel()
	a.wg.Wait()
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := Claim(cctx, js, cfg, "c", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Slot != 0 {
		t.Errorf("standby took slot %d, want 0", c.Slot)
	}
	t.Logf("slot 0 taken over %s after its holder died (ttl %s)", time.Since(start).Round(10*time.Millisecond), cfg.TTL)
	c.Start(ctx)
	defer c.Stop(ctx)
	// a comes back to life: its next refresh finds the slot taken.
	a.Start(ctx)
	select {
	case err := <-a.Lost():
		if !errors.Is(err, ErrLeaseLost) {
			t.Errorf("lost: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the dead engine did not learn it lost its slot")
	}
	a.cancel()
	a.wg.Wait()

	// b stops cleanly: its slot is free at once.
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	dctx, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	d, err := Claim(dctx, js, cfg, "d", nil)
	if err != nil {
		t.Fatalf("slot freed by a clean stop not taken at once: %v", err)
	}
	if d.Slot != 1 {
		t.Errorf("took slot %d, want 1", d.Slot)
	}
}
