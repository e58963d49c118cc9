package events

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/zeebo/xxh3"
)

// A message of the log holds one event, or a batch: events of one subject
// (one kind, one partition), in order, each a complete JSON payload,
// separated by a newline. Compact JSON never contains a raw newline, so a
// message of one event is a batch of one and every reader splits the same
// way. The sensor publishes batches because a JetStream message costs the
// server far more than an event's bytes: one message per flow capped the
// log at about 150,000 events/s on two cores (docs/deployment.md).
//
// A batch keeps what one message per event guaranteed:
//   - order: a subject's events are in order within a batch, and a
//     subject's next batch is sent only after JetStream stored the
//     previous one (one batch in flight per subject), so a retry never
//     overtakes;
//   - no copies: the batch's Nats-Msg-Id is derived from its events' IDs
//     (a batch of one uses the event's ID), so a batch published again
//     (a retry, or a sensor re-reading a capture: batches of a file are
//     cut by count and size only, so the same capture gives the same
//     batches) is dropped by JetStream's duplicate window, and consumers
//     still see each event's own ID;
//   - a position per event: consumers resume at (stream sequence, index
//     within the message), see Position.
const eventSeparator = '\n'

// NextEvent splits the first event off a message's payload: it returns
// the event's JSON and the rest (nil after the last event).
func NextEvent(payload []byte) (event, rest []byte) {
	i := bytes.IndexByte(payload, eventSeparator)
	if i < 0 {
		return payload, nil
	}
	return payload[:i], payload[i+1:]
}

// CountEvents is the number of events in a message's payload.
func CountEvents(payload []byte) int {
	if len(payload) == 0 {
		return 0
	}
	return bytes.Count(payload, []byte{eventSeparator}) + 1
}

// BatchConfiguration bounds the batches a publisher of many events (the
// sensor) sends.
type BatchConfiguration struct {
	// MaxEvents ends a batch at this many events.
	MaxEvents int `yaml:"max_events"`
	// MaxBytes ends a batch before it would exceed this size. It must stay
	// below the server's max_payload (1 MiB unless configured).
	MaxBytes int `yaml:"max_bytes"`
	// Linger sends a batch that is not full once its first event has
	// waited this long (wall clock), so a quiet live network still
	// delivers promptly. Captures read from files ignore it: their batches
	// are cut by count and size only, which makes them reproducible.
	Linger time.Duration `yaml:"linger"`
}

// DefaultBatch sends up to 512 events or 512 KiB per message, and waits at
// most 50 ms on a live network.
func DefaultBatch() BatchConfiguration {
	return BatchConfiguration{MaxEvents: 512, MaxBytes: 512 << 10, Linger: 50 * time.Millisecond}
}

func (c BatchConfiguration) validate() []error {
	var errs []error
	if c.MaxEvents < 1 || c.MaxEvents > 65536 {
		errs = append(errs, fmt.Errorf("batch.max_events: %d is outside 1..65536", c.MaxEvents))
	}
	if c.MaxBytes < 1024 || c.MaxBytes > 8<<20 {
		errs = append(errs, fmt.Errorf("batch.max_bytes: %d is outside 1 KiB..8 MiB", c.MaxBytes))
	}
	if c.Linger < 0 {
		errs = append(errs, fmt.Errorf("batch.linger: must not be negative, got %s", c.Linger))
	}
	return errs
}

// BatchOptions configure one Batcher.
type BatchOptions struct {
	// Linger enables the configured wall-clock linger (live capture).
	Linger bool
}

// Batcher publishes events in batches, one batch per subject being
// filled and one in flight. It implements the Publisher the sensor takes;
// Flush sends what is left. As a component, Start begins the linger loop
// and Stop flushes and ends it. Safe for concurrent use.
//
// Publish returns an error when a batch it sent could not be stored
// after retrying for the publish timeout; the batch's events are counted
// in the bus's PublishErrors and the error names how many. An error met
// by the linger loop is returned by the next Publish or Flush.
type Batcher struct {
	bus    *Bus
	cfg    BatchConfiguration
	linger time.Duration
	logger *slog.Logger

	mu       sync.Mutex
	subjects map[string]*subjectBatch
	order    []*subjectBatch // creation order: flushes are reproducible
	deferred error           // met by the linger loop, not yet returned

	loop          sync.Once // starts the linger loop
	stop, stopped chan struct{}
}

// subjectBatch is the batch being filled for one subject and the batch in
// flight before it.
type subjectBatch struct {
	subject string
	buf     []byte
	n       int
	firstID string
	ids     *xxh3.Hasher
	since   time.Time // wall clock of the first event, for the linger

	inflight *inflightBatch
	spare    []byte // the buffer of the last batch stored, for reuse
}

type inflightBatch struct {
	msg  *nats.Msg
	n    int
	ack  jetstream.PubAckFuture // nil when it was published synchronously
	sent time.Time
	// stored and failed hold the outcome once read from ack (its
	// channels hand it out once).
	stored *jetstream.PubAck
	failed error
}

// NewBatcher returns a batcher publishing on b. Partial batches are sent
// by Flush, and after the linger once Start ran; Stop (or Close) sends
// what is left.
func (b *Bus) NewBatcher(opts BatchOptions) *Batcher {
	bt := &Batcher{
		bus: b, cfg: b.cfg.Batch, logger: b.logger,
		subjects: map[string]*subjectBatch{},
		stop:     make(chan struct{}), stopped: make(chan struct{}),
	}
	if opts.Linger {
		bt.linger = bt.cfg.Linger
	}
	return bt
}

// Start begins the linger loop, when the batcher lingers.
func (bt *Batcher) Start(context.Context) error {
	bt.loop.Do(func() {
		if bt.linger > 0 {
			go bt.lingerLoop()
		} else {
			close(bt.stopped)
		}
	})
	return nil
}

// Stop is Close.
func (bt *Batcher) Stop(ctx context.Context) error { return bt.Close(ctx) }

// Publish adds m to its subject's batch, sending the batch when full.
func (bt *Batcher) Publish(ctx context.Context, m Message) error {
	data, err := m.Encode()
	if err != nil {
		bt.bus.publishErrors.Add(1)
		return fmt.Errorf("publish: %w", err)
	}
	subject := m.Subject(bt.bus.cfg.Partitions)
	id := m.Meta().ID
	bt.mu.Lock()
	defer bt.mu.Unlock()
	err, bt.deferred = bt.deferred, nil
	sb := bt.subjects[subject]
	if sb == nil {
		sb = &subjectBatch{subject: subject, ids: xxh3.New()}
		bt.subjects[subject] = sb
		bt.order = append(bt.order, sb)
	}
	if sb.n > 0 && len(sb.buf)+1+len(data) > bt.cfg.MaxBytes {
		err = errors.Join(err, bt.send(ctx, sb))
	}
	if sb.n == 0 {
		sb.firstID, sb.since = id, time.Now()
		sb.ids.Reset()
		if sb.buf == nil {
			sb.buf = make([]byte, 0, min(bt.cfg.MaxBytes, 64<<10))
		}
	} else {
		sb.buf = append(sb.buf, eventSeparator)
	}
	sb.buf = append(sb.buf, data...)
	_, _ = sb.ids.WriteString(id)
	sb.n++
	if sb.n >= bt.cfg.MaxEvents || len(sb.buf) >= bt.cfg.MaxBytes {
		err = errors.Join(err, bt.send(ctx, sb))
	}
	return err
}

// Flush sends every partial batch and waits until JetStream stored all of
// them.
func (bt *Batcher) Flush(ctx context.Context) error {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	err := bt.deferred
	bt.deferred = nil
	for _, sb := range bt.order {
		if sb.n > 0 {
			err = errors.Join(err, bt.send(ctx, sb))
		}
	}
	for _, sb := range bt.order {
		err = errors.Join(err, bt.settle(ctx, sb))
	}
	return err
}

// Close stops the linger loop and flushes.
func (bt *Batcher) Close(ctx context.Context) error {
	bt.loop.Do(func() { close(bt.stopped) }) // never started
	select {
	case <-bt.stop:
	default:
		close(bt.stop)
	}
	<-bt.stopped
	return bt.Flush(ctx)
}

// send waits for the subject's batch in flight, then sends the batch being
// filled asynchronously. Under mu.
func (bt *Batcher) send(ctx context.Context, sb *subjectBatch) error {
	err := bt.settle(ctx, sb)
	msg := &nats.Msg{Subject: sb.subject, Data: sb.buf, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, batchID(sb))
	in := &inflightBatch{msg: msg, n: sb.n, sent: time.Now()}
	sb.buf, sb.spare = sb.spare[:0], nil
	sb.n = 0
	if ack, aerr := bt.bus.js.PublishMsgAsync(msg); aerr == nil {
		in.ack = ack
	} else {
		// Too many publishes pending, or the connection is reconnecting:
		// store this batch synchronously, with the usual retries.
		in.ack = nil
	}
	sb.inflight = in
	if in.ack == nil {
		err = errors.Join(err, bt.settle(ctx, sb))
	}
	return err
}

// batchID is the Nats-Msg-Id of the batch being filled: the event's own
// ID for a batch of one, else "b" and the XXH3-128 of the events' IDs.
func batchID(sb *subjectBatch) string {
	if sb.n == 1 {
		return sb.firstID
	}
	sum := sb.ids.Sum128().Bytes()
	return "b" + hex.EncodeToString(sum[:])
}

// settle waits until the subject's batch in flight is stored: its
// acknowledgement, or after publishAttempt without one (a node killed, a
// leader being elected), a synchronous retry of the same message, which
// JetStream de-duplicates if the first attempt was stored after all.
// Under mu.
func (bt *Batcher) settle(ctx context.Context, sb *subjectBatch) error {
	in := sb.inflight
	if in == nil {
		return nil
	}
	sb.inflight = nil
	ack, err := in.stored, in.failed
	if in.ack != nil && ack == nil && err == nil {
		t := time.NewTimer(max(publishAttempt-time.Since(in.sent), time.Millisecond))
		select {
		case ack = <-in.ack.Ok():
		case err = <-in.ack.Err():
		case <-t.C:
			err = errors.New("no acknowledgement")
		case <-ctx.Done():
			err = ctx.Err()
		}
		t.Stop()
	}
	if ack == nil {
		if err != nil {
			bt.logger.Debug("batch not acknowledged, retrying", "subject", sb.subject, "events", in.n, "err", err)
		}
		rctx := ctx
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			rctx, cancel = context.WithTimeout(ctx, bt.bus.cfg.PublishTimeout)
			defer cancel()
		}
		ack, err = bt.bus.publishRetrying(rctx, in.msg)
	}
	if err != nil {
		bt.bus.publishErrors.Add(uint64(in.n))
		return &BatchError{Events: in.n, Subject: sb.subject, Err: err}
	}
	if ack.Duplicate {
		bt.bus.duplicates.Add(uint64(in.n))
	} else {
		bt.bus.published.Add(uint64(in.n))
	}
	sb.spare = in.msg.Data
	return nil
}

// BatchError is a batch JetStream did not store: its events are lost to
// the log, counted in the bus's PublishErrors.
type BatchError struct {
	Events  int
	Subject string
	Err     error
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("publish a batch of %d events on %s: %v", e.Events, e.Subject, e.Err)
}

func (e *BatchError) Unwrap() error { return e.Err }

// FailedEvents is how many events a publish error lost: the events of
// every BatchError in err (errors.Join'ed ones included), or 1 for any
// other error.
func FailedEvents(err error) int {
	if err == nil {
		return 0
	}
	if be, ok := err.(*BatchError); ok {
		return be.Events
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		n := 0
		for _, e := range j.Unwrap() {
			n += FailedEvents(e)
		}
		return n
	}
	return 1
}

// lingerLoop sends batches whose first event waited the linger, and
// settles batches in flight, so a quiet network's events are neither held
// nor left unconfirmed.
func (bt *Batcher) lingerLoop() {
	defer close(bt.stopped)
	tick := time.NewTicker(max(bt.linger/2, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-bt.stop:
			return
		case <-tick.C:
		}
		bt.mu.Lock()
		ctx := context.Background()
		for _, sb := range bt.order {
			var err error
			if sb.n > 0 && time.Since(sb.since) >= bt.linger {
				err = bt.send(ctx, sb)
			} else if sb.inflight != nil && sb.inflight.done() {
				err = bt.settle(ctx, sb)
			}
			if err != nil {
				bt.deferred = errors.Join(bt.deferred, err)
			}
		}
		bt.mu.Unlock()
	}
}

// done reports whether the batch's outcome arrived (keeping it for
// settle) or its attempt timed out.
func (in *inflightBatch) done() bool {
	if in.ack == nil || in.stored != nil || in.failed != nil || time.Since(in.sent) >= publishAttempt {
		return true
	}
	select {
	case in.stored = <-in.ack.Ok():
		return true
	case in.failed = <-in.ack.Err():
		return true
	default:
		return false
	}
}
