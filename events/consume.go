package events

import (
	"context"
	"errors"
	"sync"
)

// Delivery is one event handed to a consumer's handler.
type Delivery struct {
	// Stream and Seq locate the message in JetStream; Seq increases along
	// the stream. Index is the event's place in the message (a batch,
	// batch.go) and Last is true for the message's last event: the
	// message is acknowledged after it. Projections checkpoint Next().
	Stream string
	Seq    uint64
	Index  int
	Last   bool
	// Subject the message was published on.
	Subject string
	// Header is the decoded event header; Data the whole JSON payload,
	// valid only during the handler call.
	Header Header
	Data   []byte
	// Redelivered is true when JetStream delivered this message before.
	Redelivered bool
}

// Position is where an event sits in a stream: its message's sequence and
// its index within the message.
type Position struct {
	Seq   uint64
	Index int
}

// Before reports whether p comes before q in the stream.
func (p Position) Before(q Position) bool {
	return p.Seq < q.Seq || p.Seq == q.Seq && p.Index < q.Index
}

// Position is the delivered event's position.
func (d Delivery) Position() Position { return Position{d.Seq, d.Index} }

// Next is the position of the event after this one: what a projection
// that applied this event resumes from.
func (d Delivery) Next() Position {
	if d.Last {
		return Position{d.Seq + 1, 0}
	}
	return Position{d.Seq, d.Index + 1}
}

// Handler processes one delivery. The message is acknowledged only after
// the handler returns nil, so a handler must make its work durable (or
// publish its output and wait for the stream's acknowledgement) before it
// returns. A handler error is retried in place, keeping the order of the
// partition, unless it wraps ErrPoison.
type Handler func(ctx context.Context, d Delivery) error

// ErrPoison marks a message that can never be processed (a payload that
// does not decode, a version this build does not read). It is terminated
// instead of retried, counted and logged: reported, never silently lost.
var ErrPoison = errors.New("poison message")

// ConsumerSpec declares a durable consumer.
type ConsumerSpec struct {
	// Stream is the stream name (see Streams).
	Stream string
	// Durable is the consumer's durable name; it survives restarts.
	Durable string
	// Kinds filters the stream to these kinds; empty means all.
	Kinds []Kind
	// Projection marks a consumer whose state lives in memory and is
	// restored from a checkpoint: the durable consumer is recreated to
	// deliver from From (the checkpoint's next position; the zero
	// Position means the whole stream) instead of resuming where it
	// acknowledged, so a restarted projection never skips events it had
	// not saved, nor applies twice the part of a batch it had.
	Projection bool
	From       Position
}

// DecodeDelivery decodes a delivery as an event with body B. A payload
// that does not decode can never be processed, so the error wraps
// ErrPoison and the bus terminates the message instead of retrying it.
func DecodeDelivery[B Body](d Delivery) (Event[B], error) {
	ev, err := Decode[B](d.Data)
	if err != nil {
		return ev, errors.Join(ErrPoison, err)
	}
	return ev, nil
}

// Apply decodes a delivery as an event with body B and hands it to apply
// under mu, the projection's lock: the step every engine's handler takes
// for each kind it reads. A payload that does not decode is poison.
func Apply[B Body, O any](d Delivery, mu sync.Locker, apply func(Event[B]) O) (O, error) {
	ev, err := DecodeDelivery[B](d)
	if err != nil {
		var zero O
		return zero, err
	}
	mu.Lock()
	defer mu.Unlock()
	return apply(ev), nil
}
