package events

import (
	"context"
	"fmt"
)

// Publisher stores events in the log.
type Publisher interface {
	Publish(ctx context.Context, m Message) error
}

// Outbox publishes what a handler produced for one delivery before that
// delivery is acknowledged. When publishing fails, it keeps the output so
// the retry of the same delivery publishes it again instead of feeding the
// projection the same input twice. Events already stored are dropped by
// JetStream's de-duplication on their content-derived IDs.
type Outbox struct {
	at      Position
	pending []Message
}

// Pending returns the output kept for the delivery at position at, if any.
func (o *Outbox) Pending(at Position) bool {
	return o.pending != nil && o.at == at
}

// Flush publishes the output kept for the delivery at position at.
func (o *Outbox) Flush(ctx context.Context, p Publisher, at Position) error {
	return o.Publish(ctx, p, at, o.pending)
}

// Publish publishes out in order for the delivery at position at.
func (o *Outbox) Publish(ctx context.Context, p Publisher, at Position, out []Message) error {
	for _, m := range out {
		if err := p.Publish(ctx, m); err != nil {
			o.at, o.pending = at, out
			return fmt.Errorf("publish %s: %w", m.Meta().Kind, err)
		}
	}
	o.pending = nil
	return nil
}

// Messages converts typed events to messages.
func Messages[B Body](evs []Event[B]) []Message {
	out := make([]Message, len(evs))
	for i, e := range evs {
		out[i] = e
	}
	return out
}
