package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// stuck is a component whose Stop waits for its context, like a
// checkpoint sent to a NATS cluster without a leader.
type stuck struct{ stopped chan error }

func (stuck) Start(context.Context) error { return nil }
func (s stuck) Stop(ctx context.Context) error {
	<-ctx.Done()
	s.stopped <- ctx.Err()
	return ctx.Err()
}

// TestStopBoundsEachComponent: a component that never finishes stopping
// gets its share of the shutdown and no more, and the ones after it are
// still stopped with time left.
func TestStopBoundsEachComponent(t *testing.T) {
	lc := &lifecycle{logger: slog.New(slog.DiscardHandler), stopBound: 2 * time.Second, componentBound: 100 * time.Millisecond}
	first, second := stuck{make(chan error, 1)}, stuck{make(chan error, 1)}
	ctx := context.Background()
	if err := lc.start(ctx, "first", first); err != nil {
		t.Fatal(err)
	}
	if err := lc.start(ctx, "second", second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := lc.stop()
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stop: %v, want both components' deadline", err)
	}
	for name, c := range map[string]stuck{"first": first, "second": second} {
		select {
		case err := <-c.stopped:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s stopped with %v", name, err)
			}
		default:
			t.Errorf("%s was not stopped", name)
		}
	}
	// Each waited its 100 ms share, not the whole 2 s bound.
	if took >= 2*time.Second {
		t.Errorf("stop took %s: the first component used up the whole bound", took)
	}
}
