package events

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
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
//   - order: a device's events, whatever their kinds, reach the stream in
//     the order they were published (see Batcher), and a partition's next
//     batch is sent only after JetStream stored the previous one (one
//     batch in flight per partition), so a retry never overtakes;
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
	// Span bounds the event time a batch covers: every batch whose first
	// event is older than the newest event published minus Span is sent.
	// Batches of different partitions reach the log out of the order of
	// their events; Span bounds by how much, in event time, so that what
	// engines decide on event time (learning windows, the clock) sees at
	// most Span of skew between devices. Event time, not the wall clock:
	// a capture file gives the same batches at any speed.
	Span time.Duration `yaml:"span"`
	// Linger sends a batch that is not full once its first event has
	// waited this long (wall clock), so a quiet live network still
	// delivers promptly. Captures read from files ignore it: their batches
	// are cut by count, size and span only, which makes them reproducible.
	Linger time.Duration `yaml:"linger"`
}

// DefaultBatch sends up to 512 events or 512 KiB per message, and waits at
// most 50 ms on a live network.
func DefaultBatch() BatchConfiguration {
	return BatchConfiguration{MaxEvents: 512, MaxBytes: 512 << 10, Span: 100 * time.Millisecond, Linger: 50 * time.Millisecond}
}

func (c BatchConfiguration) validate() []error {
	var errs []error
	if c.MaxEvents < 1 || c.MaxEvents > 65536 {
		errs = append(errs, fmt.Errorf("batch.max_events: %d is outside 1..65536", c.MaxEvents))
	}
	if c.MaxBytes < 1024 || c.MaxBytes > 8<<20 {
		errs = append(errs, fmt.Errorf("batch.max_bytes: %d is outside 1 KiB..8 MiB", c.MaxBytes))
	}
	if c.Span < 0 {
		errs = append(errs, fmt.Errorf("batch.span: must not be negative, got %s", c.Span))
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

// Batcher publishes events in batches. It implements the Publisher the
// sensor takes; Flush sends what is left. As a component, Start begins
// the linger loop and Stop flushes and ends it. Safe for concurrent use.
//
// A device's events keep the order they were published in, across kinds:
// a flow, then the observation its payload gave, then the flow's end
// reach every consumer in that order, as with one message per event.
// Batches are kept per partition (all of a device's kinds share its
// partition) in publish order; an event joins the open batch of its
// subject unless its device has an event in a later batch of the
// partition, and a partition's batches are sent in order, one in flight
// at a time. Without this, a batch of observations could overtake the
// flows before them, and the inventory would see a device's address
// before the flow that ties it to the device (measured: 2 devices more
// and 9 deviations fewer in a report of 621 devices).
//
// Publish returns an error when a batch it sent could not be stored
// after retrying for the publish timeout; the batch's events are counted
// in the bus's PublishErrors and the error names how many (BatchError).
// An error met by the linger loop is returned by the next Publish or
// Flush.
type Batcher struct {
	store      batchStore
	partitions int
	timeout    time.Duration // PublishTimeout, for a retry without deadline
	// published, duplicates and failed count events (the bus's counters).
	published, duplicates, failed *atomic.Uint64
	messages                      atomic.Uint64
	cfg                           BatchConfiguration
	linger                        time.Duration
	logger                        *slog.Logger

	mu       sync.Mutex
	parts    map[string]*partitionBatches
	prevPart *partitionBatches // the partition of the previous event, and its name
	prevName string
	subjects map[Kind][]string   // by kind, by partition
	order    []*partitionBatches // creation order: flushes are reproducible
	deferred error               // met by the linger loop, not yet returned
	// oldest is the event time of the oldest first event of a pending
	// batch (zero when none), newest the latest event time published.
	oldest, newest time.Time

	loop          sync.Once // starts the linger loop
	stop, stopped chan struct{}
}

// partitionBatches are one partition's batches: those not sent yet, in
// publish order, and the one in flight before them.
type partitionBatches struct {
	pending []*pendingBatch
	// last is the ordinal of the batch holding each device's latest
	// pending event (by deviceHash), next the next batch's ordinal.
	last map[uint32]uint64
	next uint64

	inflight *inflightBatch // nil or &flight
	flight   inflightBatch
	free     []*pendingBatch // sent batches, for reuse
}

type pendingBatch struct {
	// msg is the message the batch is sent as, reused with its header:
	// JetStream's client keeps it until the batch is settled.
	msg     nats.Msg
	idValue [1]string
	subject string
	ord     uint64
	first   time.Time // event time of the first event
	buf     []byte
	n       int
	firstID string
	ids     *xxh3.Hasher
	since   time.Time // wall clock of the first event, for the linger
}

type inflightBatch struct {
	batch *pendingBatch
	msg   *nats.Msg
	ack   jetstream.PubAckFuture // nil when it was published synchronously
	sent  time.Time
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
		store: b, partitions: b.cfg.Partitions, timeout: b.cfg.PublishTimeout,
		published: &b.published, duplicates: &b.duplicates, failed: &b.publishErrors,
		cfg: b.cfg.Batch, logger: b.logger,
		parts: map[string]*partitionBatches{},
		stop:  make(chan struct{}), stopped: make(chan struct{}),
	}
	if opts.Linger {
		bt.linger = bt.cfg.Linger
	}
	// A message larger than the server's max_payload is refused: keep
	// batches below it, with room for the headers.
	if b.conn != nil {
		if limit := int(b.conn.MaxPayload()) - 4096; limit > 0 && bt.cfg.MaxBytes > limit {
			bt.logger.Info("batches capped below the server's max_payload", "max_bytes", limit, "configured", bt.cfg.MaxBytes)
			bt.cfg.MaxBytes = limit
		}
	}
	return bt
}

// batchStore is where a Batcher's messages go: the bus's JetStream, or
// nowhere (NewDiscardBatcher).
type batchStore interface {
	// publishAsync sends msg; an error means "store it with publishSync",
	// no future and no error that it is stored already.
	publishAsync(msg *nats.Msg) (jetstream.PubAckFuture, error)
	// publishSync stores msg, retrying until ctx ends.
	publishSync(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error)
}

func (b *Bus) publishAsync(msg *nats.Msg) (jetstream.PubAckFuture, error) {
	return b.js.PublishMsgAsync(msg)
}

func (b *Bus) publishSync(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error) {
	return b.publishRetrying(ctx, msg)
}

// NewDiscardBatcher returns a batcher that does all of a Batcher's work
// but drops its messages where it would send them: the sensor's benchmark
// (bench/sensorbench) measures the sensor with the batch assembly it
// really does, without a server. Messages counts what it dropped.
func NewDiscardBatcher(cfg BatchConfiguration, partitions int) *Batcher {
	var published, duplicates, failed atomic.Uint64
	return &Batcher{
		store: discardStore{}, partitions: partitions, timeout: time.Minute,
		published: &published, duplicates: &duplicates, failed: &failed,
		cfg: cfg, logger: slog.New(slog.DiscardHandler),
		parts: map[string]*partitionBatches{},
		stop:  make(chan struct{}), stopped: make(chan struct{}),
	}
}

type discardStore struct{}

// discarded is the acknowledgement of a message the discard store
// dropped.
var discarded jetstream.PubAck

// publishAsync drops msg: a nil future and no error mean "stored".
func (discardStore) publishAsync(*nats.Msg) (jetstream.PubAckFuture, error) { return nil, nil }

func (discardStore) publishSync(context.Context, *nats.Msg) (*jetstream.PubAck, error) {
	return &jetstream.PubAck{}, nil
}

// Messages is how many messages the batcher sent (or dropped).
func (bt *Batcher) Messages() uint64 { return bt.messages.Load() }

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

// hashedDevice is implemented by Event: the hash of its partition key.
type hashedDevice interface{ deviceHash() uint32 }

// Publish adds m to a batch of its subject, sending batches when one is
// full.
func (bt *Batcher) Publish(ctx context.Context, m Message) error {
	data, err := m.Encode()
	if err != nil {
		bt.failed.Add(1)
		return fmt.Errorf("publish: %w", err)
	}
	if d, ok := m.(hashedDevice); ok {
		return bt.PublishEncoded(ctx, m.Meta(), d.deviceHash(), data)
	}
	// A message of another type: one device, so kept in order.
	return bt.publish(ctx, m.Meta(), 0, m.Subject(bt.partitions), data)
}

// PublishEncoded is Publish for an event already encoded (Event.Encode),
// given its header and its DeviceHash: the sensor's events, without
// boxing each one into a Message (an allocation of the whole event).
func (bt *Batcher) PublishEncoded(ctx context.Context, h Header, device uint32, payload []byte) error {
	return bt.publish(ctx, h, device, "", payload)
}

// publish adds an event to a batch; subject is derived from the kind and
// the device when empty.
func (bt *Batcher) publish(ctx context.Context, h Header, device uint32, subject string, data []byte) (err error) {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if subject == "" {
		subject = bt.subject(h.Kind, device)
	}
	id, at := h.ID, h.Time
	err, bt.deferred = bt.deferred, nil
	if at.After(bt.newest) {
		bt.newest = at
		if bt.cfg.Span > 0 && !bt.oldest.IsZero() && at.Sub(bt.oldest) > bt.cfg.Span {
			err = errors.Join(err, bt.sendOlderThan(ctx, at.Add(-bt.cfg.Span)))
		}
	}
	pt := bt.partition(subject)
	var target *pendingBatch
	for i := len(pt.pending) - 1; i >= 0; i-- {
		if pt.pending[i].subject == subject {
			target = pt.pending[i]
			break
		}
	}
	if target != nil {
		if ord, ok := pt.last[device]; ok && ord > target.ord {
			target = nil // the device has a later event in another batch
		} else if len(target.buf)+1+len(data) > bt.cfg.MaxBytes {
			err = errors.Join(err, bt.sendThrough(ctx, pt, target))
			target = nil
		}
	}
	if target == nil {
		target = pt.newBatch(subject, bt.cfg.MaxBytes)
	}
	if target.n == 0 {
		target.firstID, target.first = id, at
		if bt.linger > 0 {
			target.since = time.Now()
		}
		if bt.oldest.IsZero() || at.Before(bt.oldest) {
			bt.oldest = at
		}
	} else {
		target.buf = append(target.buf, eventSeparator)
	}
	target.buf = append(target.buf, data...)
	_, _ = target.ids.WriteString(id)
	target.n++
	pt.last[device] = target.ord
	if target.n >= bt.cfg.MaxEvents || len(target.buf) >= bt.cfg.MaxBytes {
		err = errors.Join(err, bt.sendThrough(ctx, pt, target))
	}
	return err
}

// sendOlderThan sends, in every partition, the pending batches up to the
// last one whose first event is before cutoff. Under mu.
//
// A partition's batches are opened in the order of their first events
// (capture time only goes forward, but for a jump back), so the old ones
// are a prefix of its pending list.
func (bt *Batcher) sendOlderThan(ctx context.Context, cutoff time.Time) error {
	var err error
	bt.oldest = time.Time{}
	for _, pt := range bt.order {
		var last *pendingBatch
		for _, b := range pt.pending {
			if !b.first.Before(cutoff) {
				break
			}
			last = b
		}
		if last != nil {
			err = errors.Join(err, bt.sendThrough(ctx, pt, last))
		}
		if len(pt.pending) > 0 && (bt.oldest.IsZero() || pt.pending[0].first.Before(bt.oldest)) {
			bt.oldest = pt.pending[0].first
		}
	}
	return err
}

// partition returns the batches of subject's partition (its last token).
// Under mu.
func (bt *Batcher) partition(subject string) *partitionBatches {
	part := subject[strings.LastIndexByte(subject, '.')+1:]
	if bt.prevPart != nil && bt.prevName == part {
		return bt.prevPart
	}
	pt := bt.parts[part]
	if pt == nil {
		pt = &partitionBatches{last: map[uint32]uint64{}}
		bt.parts[part] = pt
		bt.order = append(bt.order, pt)
	}
	bt.prevPart, bt.prevName = pt, part
	return pt
}

// subject is subjectOf, from a table built once per kind (formatting the
// subject was an allocation per event). Under mu.
func (bt *Batcher) subject(k Kind, device uint32) string {
	subjects := bt.subjects[k]
	if subjects == nil {
		subjects = make([]string, max(bt.partitions, 1))
		for p := range subjects {
			subjects[p] = subjectOf(k, uint32(p), bt.partitions)
		}
		if bt.subjects == nil {
			bt.subjects = map[Kind][]string{}
		}
		bt.subjects[k] = subjects
	}
	if bt.partitions <= 1 {
		return subjects[0]
	}
	return subjects[device%uint32(bt.partitions)]
}

// newBatch opens a batch of subject after the partition's others.
func (pt *partitionBatches) newBatch(subject string, maxBytes int) *pendingBatch {
	var b *pendingBatch
	if n := len(pt.free); n > 0 {
		b, pt.free = pt.free[n-1], pt.free[:n-1]
		b.buf, b.n = b.buf[:0], 0
		b.ids.Reset()
	} else {
		b = &pendingBatch{buf: make([]byte, 0, min(maxBytes, 4<<10)), ids: xxh3.New()}
	}
	b.subject, b.ord = subject, pt.next
	pt.next++
	pt.pending = append(pt.pending, b)
	return b
}

// Flush sends every partial batch and waits until JetStream stored all of
// them.
func (bt *Batcher) Flush(ctx context.Context) error {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	err := bt.deferred
	bt.deferred = nil
	for _, pt := range bt.order {
		if n := len(pt.pending); n > 0 {
			err = errors.Join(err, bt.sendThrough(ctx, pt, pt.pending[n-1]))
		}
	}
	for _, pt := range bt.order {
		err = errors.Join(err, bt.settle(ctx, pt))
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

// sendThrough sends the partition's pending batches up to and including
// last, in order. Under mu.
func (bt *Batcher) sendThrough(ctx context.Context, pt *partitionBatches, last *pendingBatch) error {
	var err error
	sent := 0
	for _, b := range pt.pending {
		sent++
		if e := bt.send(ctx, pt, b); e != nil {
			err = errors.Join(err, e)
		}
		if b == last {
			break
		}
	}
	n := copy(pt.pending, pt.pending[sent:]) // in place: no allocation
	clear(pt.pending[n:])
	pt.pending = pt.pending[:n]
	// An entry of last naming a sent batch never holds an event back
	// (every pending batch has a higher ordinal): they are only pruned,
	// now and then, to bound the memory.
	if len(pt.last) > 16384 {
		for d, ord := range pt.last {
			if len(pt.pending) == 0 || ord < pt.pending[0].ord {
				delete(pt.last, d)
			}
		}
	}
	return err
}

// send waits for the partition's batch in flight, then sends b
// asynchronously. Under mu.
func (bt *Batcher) send(ctx context.Context, pt *partitionBatches, b *pendingBatch) error {
	err := bt.settle(ctx, pt)
	msg := &b.msg
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	b.idValue[0] = batchID(b)
	msg.Subject, msg.Data, msg.Header[jetstream.MsgIDHeader] = b.subject, b.buf, b.idValue[:]
	pt.flight = inflightBatch{batch: b, msg: msg, sent: time.Now()}
	in := &pt.flight
	pt.inflight = in
	bt.messages.Add(1)
	ack, aerr := bt.store.publishAsync(msg)
	switch {
	case aerr != nil:
		// Too many publishes pending, or the connection is reconnecting:
		// store this batch synchronously, with the usual retries.
		err = errors.Join(err, bt.settle(ctx, pt))
	case ack == nil:
		in.stored = &discarded // NewDiscardBatcher's store
	default:
		in.ack = ack
	}
	return err
}

// batchID is the Nats-Msg-Id of a batch: the event's own ID for a batch
// of one, else "b" and the XXH3-128 of the events' IDs.
func batchID(b *pendingBatch) string {
	if b.n == 1 {
		return b.firstID
	}
	sum := b.ids.Sum128().Bytes()
	return "b" + hex.EncodeToString(sum[:])
}

// settle waits until the partition's batch in flight is stored: its
// acknowledgement, or after apiAttempt without one (a node killed, a
// leader being elected), a synchronous retry of the same message, which
// JetStream de-duplicates if the first attempt was stored after all.
// Under mu.
func (bt *Batcher) settle(ctx context.Context, pt *partitionBatches) error {
	in := pt.inflight
	if in == nil {
		return nil
	}
	pt.inflight = nil
	ack, err := in.stored, in.failed
	if in.ack != nil && ack == nil && err == nil {
		t := time.NewTimer(max(apiAttempt-time.Since(in.sent), time.Millisecond))
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
			bt.logger.Debug("batch not acknowledged, retrying", "subject", in.msg.Subject, "events", in.batch.n, "err", err)
		}
		rctx := ctx
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			rctx, cancel = context.WithTimeout(ctx, bt.timeout)
			defer cancel()
		}
		ack, err = bt.store.publishSync(rctx, in.msg)
	}
	n := in.batch.n
	pt.free = append(pt.free, in.batch)
	if err != nil {
		bt.failed.Add(uint64(n))
		return &BatchError{Events: n, Subject: in.msg.Subject, Err: err}
	}
	if ack.Duplicate {
		bt.duplicates.Add(uint64(n))
	} else {
		bt.published.Add(uint64(n))
	}
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

// lingerLoop sends the batches of a partition whose oldest event waited
// the linger, and settles batches in flight, so a quiet network's events
// are neither held nor left unconfirmed.
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
		for _, pt := range bt.order {
			var err error
			if n := len(pt.pending); n > 0 && time.Since(pt.pending[0].since) >= bt.linger {
				err = bt.sendThrough(ctx, pt, pt.pending[n-1])
			} else if pt.inflight != nil && pt.inflight.done() {
				err = bt.settle(ctx, pt)
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
	if in.ack == nil || in.stored != nil || in.failed != nil || time.Since(in.sent) >= apiAttempt {
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
