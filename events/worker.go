package events

import (
	"context"
	"fmt"
)

// Consumer is the part of the bus a Worker needs.
type Consumer interface {
	Consume(ctx context.Context, spec ConsumerSpec, h Handler) error
}

// Worker runs one durable consumer in the background on behalf of a
// component: the Start and Stop every engine would otherwise repeat.
type Worker struct {
	spec   ConsumerSpec
	cancel context.CancelFunc
	done   chan error
}

// Start consumes spec with h until Stop. The consumer outlives ctx's
// cancellation on purpose: components stop when told to, in order.
func (w *Worker) Start(ctx context.Context, c Consumer, spec ConsumerSpec, h Handler) {
	ctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	w.spec = spec
	w.done = make(chan error, 1)
	go func() { w.done <- c.Consume(ctx, spec, h) }()
}

// Stop cancels the consumer and waits for the handler in progress.
func (w *Worker) Stop(ctx context.Context) error {
	if w.cancel == nil {
		return nil
	}
	w.cancel()
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("stop consumer %s: %w", w.spec.Durable, ctx.Err())
	}
}
