package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-health/vigil/events"
)

// Bus is what the writer needs of the event log: JetStream itself,
// because the writer acknowledges a whole batch once it is inserted,
// which events.Handler (one message, acknowledged when it returns) cannot
// express without an insert per event. See doc.go.
type Bus interface {
	JetStream() jetstream.JetStream
}

var _ Bus = (*events.Bus)(nil)

// Dependencies of the writer.
type Dependencies struct {
	Logger *slog.Logger
	Bus    Bus
}

// Durable is the name of the writer's consumer on each stream. Writers of
// several engines share it: JetStream hands each batch to one of them.
const Durable = "store"

// WriterStats counts what the writer did. Loss is data: a failed insert
// is counted every time it is retried, a rejected message is counted and
// kept in rejected_events.
type WriterStats struct {
	Received     uint64 // events fetched from JetStream (redeliveries included)
	Inserted     uint64 // event rows inserted
	Duplicates   uint64 // events not inserted because their ID was already stored or in the batch
	Rejected     uint64 // messages stored in rejected_events instead of an event table
	InsertErrors uint64 // failed insert attempts, each retried
	Batches      uint64 // batches inserted and acknowledged
	AckErrors    uint64 // batch acknowledgements that failed (the batch is redelivered, then found stored)
}

// Writer copies every v1 event from JetStream into ClickHouse in batches,
// acknowledging a batch only after its insert succeeded.
type Writer struct {
	cfg    Configuration
	deps   Dependencies
	logger *slog.Logger
	conn   driver.Conn

	stopFetch  context.CancelFunc // stops fetching: the batch in hand is still flushed
	stopInsert context.CancelFunc // abandons the batch in hand (it stays unacknowledged)
	wg         sync.WaitGroup

	received, inserted, duplicates, rejected atomic.Uint64
	insertErrors, batches, ackErrors         atomic.Uint64

	// inflight holds the IDs of the batches being inserted, so that two
	// inserters never insert the same event: the look-up in ClickHouse
	// cannot see rows another insert has not finished.
	inflightMu sync.Mutex
	inflight   map[string]struct{}
}

// New returns an inert writer.
func New(cfg Configuration, deps Dependencies) (*Writer, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("store configuration: %w", errors.Join(errs...))
	}
	if !cfg.Enabled() {
		return nil, errors.New("store configuration: addresses: no clickhouse server configured")
	}
	if deps.Bus == nil {
		return nil, errors.New("store: no bus")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Writer{cfg: cfg, deps: deps, logger: deps.Logger.With("component", "store")}, nil
}

// Start connects to ClickHouse, migrates the schema (when configured),
// declares the durable consumers and starts one batching loop per stream.
// ClickHouse must answer at start; once started, an unreachable server
// only delays the writer: events wait in JetStream.
func (w *Writer) Start(ctx context.Context) error {
	conn, err := Open(ctx, w.cfg)
	if err != nil {
		return err
	}
	if w.cfg.Migrate {
		if err := Migrate(ctx, conn); err != nil {
			conn.Close()
			return err
		}
	}
	if v, err := SchemaVersion(ctx, conn); err != nil {
		conn.Close()
		return err
	} else if v < LatestVersion() {
		conn.Close()
		return fmt.Errorf("store: schema of %s is at version %d, this build needs %d (enable migrate)", w.cfg.Database, v, LatestVersion())
	}
	js := w.deps.Bus.JetStream()
	var consumers []jetstream.Consumer
	for _, s := range events.Streams(events.DefaultRetention()) {
		cons, err := js.CreateOrUpdateConsumer(ctx, s.Name, jetstream.ConsumerConfig{
			Durable:       Durable,
			Description:   "Vigil store: events into ClickHouse",
			AckPolicy:     jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckWait:       w.cfg.AckWait,
			// A batch is acknowledged once stored: JetStream must let the
			// two batches of each writer be outstanding, for two writers
			// sharing the consumer.
			MaxAckPending: 2 * (w.cfg.InsertWorkers + 1) * w.cfg.MaxRows,
			MaxDeliver:    -1,
		})
		if err != nil {
			conn.Close()
			return fmt.Errorf("declare consumer %s on %s: %w", Durable, s.Name, err)
		}
		consumers = append(consumers, cons)
	}
	w.conn = conn
	base := context.WithoutCancel(ctx)
	fetchCtx, stopFetch := context.WithCancel(base)
	insertCtx, stopInsert := context.WithCancel(base)
	w.stopFetch, w.stopInsert = stopFetch, stopInsert
	for i, s := range events.Streams(events.DefaultRetention()) {
		l := &loop{w: w, stream: s.Name, cons: consumers[i], logger: w.logger.With("stream", s.Name)}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			l.run(fetchCtx, insertCtx)
		}()
	}
	w.logger.Info("store writer started", "database", w.cfg.Database, "max_rows", w.cfg.MaxRows, "flush_interval", w.cfg.FlushInterval)
	return nil
}

// Stop stops fetching, inserts and acknowledges the batches in hand, and
// closes the connection. When ctx ends first (ClickHouse is down), the
// batches in hand are abandoned unacknowledged: JetStream delivers them
// again to the next writer.
func (w *Writer) Stop(ctx context.Context) error {
	if w.stopFetch == nil {
		return nil
	}
	w.stopFetch()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		w.stopInsert()
		<-done
		err = fmt.Errorf("flush on stop: %w (the unflushed events stay in JetStream)", ctx.Err())
	}
	w.stopInsert()
	w.stopFetch = nil
	return errors.Join(err, w.conn.Close())
}

// Conn is the writer's ClickHouse connection (for Queries in the same
// process); valid between Start and Stop.
func (w *Writer) Conn() driver.Conn { return w.conn }

// Stats returns the counters.
func (w *Writer) Stats() WriterStats {
	return WriterStats{
		Received: w.received.Load(), Inserted: w.inserted.Load(), Duplicates: w.duplicates.Load(),
		Rejected: w.rejected.Load(), InsertErrors: w.insertErrors.Load(), Batches: w.batches.Load(),
		AckErrors: w.ackErrors.Load(),
	}
}

// loop batches one stream. One goroutine fetches up to MaxRows events for
// at most FlushInterval and decodes them; InsertWorkers others each insert
// a batch (retrying until it works or the writer gives up) and
// acknowledge it. ClickHouse handles one INSERT on one core: with two
// inserts at once and the next batch decoded meanwhile, both cores work
// (BenchmarkWriter). At most InsertWorkers+1 batches are unacknowledged,
// which MaxAckPending allows, and none is acknowledged before it is
// stored. Batches are stored in any order; an event is one row whatever
// the order (claim keeps two inserts from taking the same event).
type loop struct {
	w      *Writer
	stream string
	cons   jetstream.Consumer
	logger *slog.Logger
}

// batch is one fetch's messages and what they decode to.
type batch struct {
	msgs     []jetstream.Msg
	events   int // in msgs: a message of the sensor holds a batch of events
	kinds    map[events.Kind]batchRows
	rejected []rejected
}

func (l *loop) run(fetchCtx, insertCtx context.Context) {
	inserters := l.w.cfg.InsertWorkers
	free := make(chan *batch, inserters+1)
	pool := new(columnPool)
	for range inserters + 1 {
		kinds := newKindRows()
		for _, r := range kinds {
			r.reuseColumns(pool)
		}
		free <- &batch{kinds: kinds}
	}
	ready := make(chan *batch, 1)
	inserterDone := make(chan struct{})
	var iwg sync.WaitGroup
	for range inserters {
		iwg.Add(1)
		go func() {
			defer iwg.Done()
			for b := range ready {
				if err := l.flush(insertCtx, b); err != nil {
					for range ready { // abandoned by Stop: left unacknowledged
					}
					return
				}
				free <- b
			}
		}()
	}
	go func() { iwg.Wait(); close(inserterDone) }()
	defer func() {
		close(ready)
		<-inserterDone
	}()

	backoff := 100 * time.Millisecond
	for {
		var b *batch
		select {
		case b = <-free:
		case <-fetchCtx.Done():
			return
		case <-inserterDone:
			return
		}
		err := l.fetch(fetchCtx, b)
		if err != nil && len(b.msgs) == 0 {
			free <- b
			l.logger.Warn("fetch failed, retrying", "err", err, "backoff", backoff)
			if !sleep(fetchCtx, backoff) {
				return
			}
			backoff = min(2*backoff, l.w.cfg.MaxBackoff)
			continue
		}
		backoff = 100 * time.Millisecond
		if len(b.msgs) == 0 {
			free <- b
			if fetchCtx.Err() != nil {
				return
			}
			continue
		}
		l.decode(b)
		ready <- b
	}
}

// fetchChunk and fetchWait bound one pull request. A pull of a whole
// batch (50,000 events, 50 MB) overflows the client's 64 MB pending limit
// for a subscription: the client drops what overflows, and JetStream
// delivers it again only after AckWait, a minute later. A pull ends on
// the server's side (its expiry) and the client reads it to the end:
// messages sent to a pull the client stopped reading would also wait out
// AckWait (measured: a 50,000-event batch that took longer than
// FlushInterval to gather lost its last pull for a minute). Short pulls
// keep Stop prompt without walking away from one.
//
// A pull is bounded by bytes too (fetchBytes): a message of the sensor
// holds hundreds of events.
const (
	fetchChunk = 2000
	fetchBytes = 8 << 20
	fetchWait  = 100 * time.Millisecond
)

// fetch pulls the next batch into b.msgs: pulls of at most fetchChunk
// messages and fetchBytes until the batch holds MaxRows events,
// FlushInterval has passed, or ctx ends.
func (l *loop) fetch(ctx context.Context, b *batch) error {
	clear(b.msgs)
	b.msgs, b.events = b.msgs[:0], 0
	deadline := time.Now().Add(l.w.cfg.FlushInterval)
	for b.events < l.w.cfg.MaxRows && ctx.Err() == nil {
		wait := min(time.Until(deadline), fetchWait)
		if wait < time.Millisecond {
			return nil // the batch's time is up
		}
		want := min(l.w.cfg.MaxRows-b.events, fetchChunk)
		res, err := l.cons.Fetch(want, jetstream.FetchMaxBytes(fetchBytes), jetstream.FetchMaxWait(wait))
		if err != nil {
			return fmt.Errorf("fetch from %s: %w", l.stream, err)
		}
		n := b.events
		for m := range res.Messages() {
			b.msgs = append(b.msgs, m)
			b.events += events.CountEvents(m.Data())
		}
		l.w.received.Add(uint64(b.events - n))
		if err := res.Error(); err != nil {
			return fmt.Errorf("fetch from %s: %w", l.stream, err)
		}
	}
	return nil
}

// decode routes each message of b to the rows of its kind, or to
// rejected.
func (l *loop) decode(b *batch) {
	for _, r := range b.kinds {
		r.reset()
	}
	clear(b.rejected)
	b.rejected = b.rejected[:0]
	for _, m := range b.msgs {
		var seq uint64
		if md, err := m.Metadata(); err == nil {
			seq = md.Sequence.Stream
		}
		for i, rest := 0, m.Data(); ; i++ {
			var data []byte
			data, rest = events.NextEvent(rest)
			env, err := decodeAt(data, events.Position{Seq: seq, Index: i}, b.kinds)
			if err != nil {
				if len(data) > maxRejectedData {
					data = data[:maxRejectedData]
				}
				b.rejected = append(b.rejected, rejected{
					received: time.Now().UTC(), stream: l.stream, seq: seq, subject: m.Subject(),
					kind: string(env.Kind), id: env.ID, err: err.Error(), data: string(data),
				})
				l.w.rejected.Add(1)
			}
			if rest == nil {
				break
			}
		}
	}
}

// flush inserts b and acknowledges its messages. It returns an error only
// when ctx ended before the insert succeeded.
func (l *loop) flush(ctx context.Context, b *batch) error {
	start := time.Now()
	heartbeat := start
	backoff := 100 * time.Millisecond
	done := map[string]bool{}
	l.w.duplicates.Add(uint64(l.w.claim(b)))
	defer l.w.release(b)
	for {
		err := l.insert(ctx, b, done)
		if err == nil {
			break
		}
		l.w.insertErrors.Add(1)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.logger.Warn("insert failed, retrying", "err", err, "events", b.events, "backoff", backoff, "failing_for", time.Since(start).Round(time.Millisecond))
		if time.Since(heartbeat) > l.w.cfg.AckWait/3 {
			// Still working on it: JetStream must not deliver the batch
			// to another writer while this one retries.
			heartbeat = time.Now()
			for _, m := range b.msgs {
				_ = m.InProgress()
			}
		}
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(2*backoff, l.w.cfg.MaxBackoff)
	}
	l.ack(b.msgs)
	l.w.batches.Add(1)
	return nil
}

// insert stores what is left of the batch: each table's rows not already
// stored, then the rejected messages. Tables done in an earlier attempt
// are skipped; an attempt that failed after the server took the rows is
// caught by the ID look-up of the next one.
func (l *loop) insert(ctx context.Context, b *batch, done map[string]bool) error {
	for _, k := range events.Kinds {
		r := b.kinds[k]
		if r.len() == 0 || done[r.table()] {
			continue
		}
		dup, err := r.dedupe(ctx, l.w.conn)
		if err != nil {
			return err
		}
		l.w.duplicates.Add(uint64(dup))
		if err := r.insert(ctx, l.w.conn); err != nil {
			return err
		}
		l.w.inserted.Add(uint64(r.len()))
		done[r.table()] = true
	}
	if len(b.rejected) > 0 && !done["rejected_events"] {
		if err := insertRejected(ctx, l.w.conn, b.rejected); err != nil {
			return err
		}
		done["rejected_events"] = true
	}
	return nil
}

// ack acknowledges every message of a batch; the last one waits for
// JetStream's confirmation, so that when flush returns the server has
// processed the acknowledgements sent before it on the same connection.
func (l *loop) ack(msgs []jetstream.Msg) {
	last := len(msgs) - 1
	for _, m := range msgs[:last] {
		if err := m.Ack(); err != nil {
			l.w.ackErrors.Add(1)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := msgs[last].DoubleAck(ctx); err != nil {
		l.w.ackErrors.Add(1)
		l.logger.Warn("acknowledgement not confirmed; the batch may be delivered again and found stored", "err", err)
	}
}

// claim registers the IDs of b as being inserted and drops from b the
// events another batch in flight holds (a copy of an event in two
// batches): the look-up in ClickHouse would not see them before that
// insert ends. It returns how many it dropped. If the other batch is
// abandoned (the writer stops), its messages stay unacknowledged and
// bring the event back.
func (w *Writer) claim(b *batch) int {
	w.inflightMu.Lock()
	defer w.inflightMu.Unlock()
	if w.inflight == nil {
		w.inflight = map[string]struct{}{}
	}
	dropped := 0
	for _, r := range b.kinds {
		dropped += r.keep(func(id string) bool {
			if _, held := w.inflight[id]; held {
				return false
			}
			w.inflight[id] = struct{}{}
			return true
		})
	}
	return dropped
}

// release forgets the IDs of b once its insert ended.
func (w *Writer) release(b *batch) {
	w.inflightMu.Lock()
	defer w.inflightMu.Unlock()
	for _, r := range b.kinds {
		r.eachID(func(id string) { delete(w.inflight, id) })
	}
}

// sleep waits d or until ctx ends; it returns false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
