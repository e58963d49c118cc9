package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Configuration configures the event log.
type Configuration struct {
	// URL of an external NATS server or cluster (comma separated). Empty
	// runs the embedded server.
	URL string `yaml:"url"`
	// Embedded configures the in-process server used when URL is empty.
	Embedded EmbeddedConfiguration `yaml:"embedded"`
	// Partitions is the number of partitions of every kind's subjects.
	Partitions int `yaml:"partitions"`
	// Replicas is the JetStream replica count of each stream (1 for the
	// embedded server, 3 on a cluster).
	Replicas int `yaml:"replicas"`
	// DuplicateWindow is how long JetStream remembers message IDs to drop
	// re-published events.
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// Retention bounds each stream.
	Retention RetentionConfiguration `yaml:"retention"`
	// PublishTimeout bounds one publish when the caller's context has none.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// Batch bounds the batches of events the sensor publishes as one
	// message (batch.go).
	Batch BatchConfiguration `yaml:"batch"`
	// Security authenticates and encrypts the connection to an external
	// NATS (TLS, credentials file, nkey seed, user and password).
	Security SecurityConfiguration `yaml:"security"`
	// Share restricts the projections' consumers to the partitions this
	// process owns; set by `vigil engine` from its slot lease, never read
	// from the file. The zero Share is every partition.
	Share Share `yaml:"-"`
}

// EmbeddedConfiguration configures the embedded NATS server.
type EmbeddedConfiguration struct {
	// Listen is the client address other processes (sensors, `vigil
	// alerts tail`) connect to, for example 127.0.0.1:4222. Empty serves
	// this process only.
	Listen string `yaml:"listen"`
	// StoreDir holds JetStream's files. Empty means <data>/jetstream.
	StoreDir string `yaml:"store_dir"`
	// MaxStoreBytes bounds JetStream's file storage.
	MaxStoreBytes int64 `yaml:"max_store_bytes"`
}

// DefaultConfiguration runs the embedded server for this process only.
func DefaultConfiguration() Configuration {
	return Configuration{
		Partitions:      DefaultPartitions,
		Replicas:        1,
		DuplicateWindow: 2 * time.Hour,
		Retention:       DefaultRetention(),
		PublishTimeout:  10 * time.Second,
		Batch:           DefaultBatch(),
		Embedded:        EmbeddedConfiguration{MaxStoreBytes: 64 << 30},
	}
}

// Validate reports every problem of the configuration, naming fields
// relative to the events section.
func (c Configuration) Validate() []error {
	var errs []error
	if c.Partitions < 1 || c.Partitions > 1024 {
		errs = append(errs, fmt.Errorf("partitions: %d is outside 1..1024", c.Partitions))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas: %d is outside 1..5", c.Replicas))
	}
	if c.URL == "" && c.Replicas != 1 {
		errs = append(errs, fmt.Errorf("replicas: the embedded server holds one replica, not %d (set url for a cluster)", c.Replicas))
	}
	if c.DuplicateWindow <= 0 {
		errs = append(errs, fmt.Errorf("duplicate_window: must be positive, got %s", c.DuplicateWindow))
	}
	if c.PublishTimeout <= 0 {
		errs = append(errs, fmt.Errorf("publish_timeout: must be positive, got %s", c.PublishTimeout))
	}
	for _, s := range []struct {
		name string
		l    StreamLimits
	}{{"sensor", c.Retention.Sensor}, {"analytics", c.Retention.Analytics}, {"alerts", c.Retention.Alerts}, {"enforce", c.Retention.Enforce}} {
		if s.l.MaxAge <= 0 {
			errs = append(errs, fmt.Errorf("retention.%s.max_age: must be positive, got %s", s.name, s.l.MaxAge))
		} else if s.l.MaxAge < c.DuplicateWindow {
			errs = append(errs, fmt.Errorf("retention.%s.max_age: %s is shorter than duplicate_window %s", s.name, s.l.MaxAge, c.DuplicateWindow))
		}
		if s.l.MaxBytes <= 0 {
			errs = append(errs, fmt.Errorf("retention.%s.max_bytes: must be positive, got %d", s.name, s.l.MaxBytes))
		}
	}
	errs = append(errs, c.Batch.validate()...)
	errs = append(errs, c.Security.validate()...)
	if c.URL == "" && c.Embedded.MaxStoreBytes <= 0 {
		errs = append(errs, fmt.Errorf("embedded.max_store_bytes: must be positive, got %d", c.Embedded.MaxStoreBytes))
	}
	return errs
}

// Dependencies of the bus.
type Dependencies struct {
	Logger *slog.Logger
	// DataDir is where the embedded server keeps JetStream files when
	// Embedded.StoreDir is empty.
	DataDir string
}

// BusStats counts what moved through the bus. Loss is data: every failure
// is counted here and logged once.
type BusStats struct {
	Published     uint64 // events stored by JetStream
	Duplicates    uint64 // publishes JetStream dropped as already stored
	PublishErrors uint64 // publishes that failed
	Delivered     uint64 // messages handed to handlers and acknowledged
	Redelivered   uint64 // messages skipped because already handled
	Retries       uint64 // handler errors retried in place
	Poison        uint64 // messages terminated as unprocessable
}

// Bus is the event log component: an embedded NATS server with JetStream
// or a connection to an external one, the same code path either way.
type Bus struct {
	cfg    Configuration
	logger *slog.Logger
	store  string

	server *server.Server
	conn   *nats.Conn
	js     jetstream.JetStream

	published, duplicates, publishErrors  atomic.Uint64
	delivered, redelivered, retries, pois atomic.Uint64
}

// NewBus returns an inert bus; Start connects.
func NewBus(cfg Configuration, deps Dependencies) (*Bus, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("events configuration: %w", errors.Join(errs...))
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	store := cfg.Embedded.StoreDir
	if cfg.URL == "" && store == "" {
		if deps.DataDir == "" {
			return nil, errors.New("events configuration: embedded server needs embedded.store_dir or a data directory")
		}
		store = filepath.Join(deps.DataDir, "jetstream")
	}
	return &Bus{cfg: cfg, logger: logger.With("component", "events"), store: store}, nil
}

// Start starts the embedded server when configured, connects, and
// declares the v1 streams idempotently.
func (b *Bus) Start(ctx context.Context) error {
	url := b.cfg.URL
	var opts []nats.Option
	if url == "" {
		if err := b.startEmbedded(); err != nil {
			return err
		}
		url = b.server.ClientURL()
		opts = append(opts, nats.InProcessServer(b.server))
	} else {
		sec, err := b.cfg.Security.options()
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		opts = append(opts, sec...)
	}
	opts = append(opts,
		nats.Name("vigil"),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { b.logger.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
		// Asynchronous errors (a permission refused, a slow consumer) go
		// to the structured log, not to nats.go's default print on stderr.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				b.logger.Warn("nats error", "subject", sub.Subject, "err", err)
				return
			}
			b.logger.Warn("nats error", "err", err)
		}),
	)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		b.stopEmbedded()
		return fmt.Errorf("connect to nats %s: %w", RedactURL(url), err)
	}
	b.conn = nc
	js, err := jetstream.New(nc)
	if err != nil {
		b.Stop(ctx)
		return fmt.Errorf("jetstream: %w", err)
	}
	b.js = js
	if err := b.declareStreams(ctx); err != nil {
		b.Stop(ctx)
		return err
	}
	return nil
}

func (b *Bus) startEmbedded() error {
	opts := &server.Options{
		ServerName:         "vigil-embedded",
		JetStream:          true,
		StoreDir:           b.store,
		JetStreamMaxStore:  b.cfg.Embedded.MaxStoreBytes,
		JetStreamMaxMemory: 256 << 20,
		NoSigs:             true,
		DontListen:         b.cfg.Embedded.Listen == "",
		Host:               "127.0.0.1",
		Port:               -1,
	}
	if l := b.cfg.Embedded.Listen; l != "" {
		host, port, err := splitHostPort(l)
		if err != nil {
			return fmt.Errorf("embedded.listen %q: %w", l, err)
		}
		opts.Host, opts.Port = host, port
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("embedded nats: %w", err)
	}
	ns.SetLoggerV2(&natsLogger{b.logger.With("server", "nats")}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return fmt.Errorf("embedded nats: not ready after 30s (store %s)", b.store)
	}
	b.server = ns
	b.logger.Info("embedded nats started", "store", b.store, "listen", b.cfg.Embedded.Listen)
	return nil
}

func (b *Bus) declareStreams(ctx context.Context) error {
	for _, s := range Streams(b.cfg.Retention) {
		want := jetstream.StreamConfig{
			Name:        s.Name,
			Description: "Vigil " + Version + " events: " + fmt.Sprint(s.Kinds),
			Subjects:    s.Subjects(),
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    b.cfg.Replicas,
			MaxAge:      s.Limits.MaxAge,
			MaxBytes:    s.Limits.MaxBytes,
			Duplicates:  b.cfg.DuplicateWindow,
			Discard:     jetstream.DiscardOld,
		}
		if streamUpToDate(ctx, b.js, want) {
			continue // a sensor's role may read streams but not change them
		}
		_, err := b.js.CreateOrUpdateStream(ctx, want)
		if err != nil {
			return fmt.Errorf("declare stream %s: %w", s.Name, err)
		}
	}
	return nil
}

// Stop drains the connection (pending publishes and acknowledgements are
// sent) and shuts the embedded server down.
func (b *Bus) Stop(ctx context.Context) error {
	var err error
	if b.conn != nil {
		done := make(chan struct{})
		b.conn.SetClosedHandler(func(*nats.Conn) { close(done) })
		if derr := b.conn.Drain(); derr != nil {
			b.conn.Close()
		} else {
			select {
			case <-done:
			case <-ctx.Done():
				b.conn.Close()
				err = fmt.Errorf("drain nats connection: %w", ctx.Err())
			}
		}
		b.conn = nil
	}
	b.stopEmbedded()
	return err
}

func (b *Bus) stopEmbedded() {
	if b.server == nil {
		return
	}
	b.server.Shutdown()
	b.server.WaitForShutdown()
	b.server = nil
}

// ClientURL is the URL other processes use to reach the bus: the external
// URL, or the embedded server's listen address ("" when in-process only).
func (b *Bus) ClientURL() string {
	if b.cfg.URL != "" {
		return b.cfg.URL
	}
	if b.server == nil || b.cfg.Embedded.Listen == "" {
		return ""
	}
	return b.server.ClientURL()
}

// JetStream gives tools (replay, tail) direct access to the streams.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Partitions is the configured partition count.
func (b *Bus) Partitions() int { return b.cfg.Partitions }

// Stats returns the counters.
func (b *Bus) Stats() BusStats {
	return BusStats{
		Published: b.published.Load(), Duplicates: b.duplicates.Load(), PublishErrors: b.publishErrors.Load(),
		Delivered: b.delivered.Load(), Redelivered: b.redelivered.Load(), Retries: b.retries.Load(), Poison: b.pois.Load(),
	}
}

// Publish stores one event and returns once JetStream acknowledged it. The
// event ID is the Nats-Msg-Id, so a re-published event is stored once.
func (b *Bus) Publish(ctx context.Context, m Message) error {
	data, err := m.Encode()
	if err != nil {
		b.publishErrors.Add(1)
		return fmt.Errorf("publish: %w", err)
	}
	h := m.Meta()
	msg := &nats.Msg{Subject: m.Subject(b.cfg.Partitions), Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, h.ID)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.cfg.PublishTimeout)
		defer cancel()
	}
	ack, err := b.publishRetrying(ctx, msg)
	if err != nil {
		b.publishErrors.Add(1)
		return fmt.Errorf("publish %s %s: %w", h.Kind, h.ID, err)
	}
	if ack.Duplicate {
		b.duplicates.Add(1)
	} else {
		b.published.Add(1)
	}
	return nil
}

// apiAttempt bounds one attempt of a JetStream request (a publish, a
// checkpoint): a node killed or a stream leader being elected leaves a
// request without any answer, and only a new attempt gets one.
const apiAttempt = 2 * time.Second

// publishRetrying publishes msg until JetStream acknowledges it or ctx
// ends. When an attempt that got no answer was stored after all, the
// stream drops the copy by its Nats-Msg-Id, so a retry never stores an
// event twice.
func (b *Bus) publishRetrying(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error) {
	var ack *jetstream.PubAck
	err := b.retryAPI(ctx, "publish "+msg.Subject, func(ctx context.Context) error {
		var err error
		ack, err = b.js.PublishMsg(ctx, msg)
		return err
	})
	return ack, err
}

// retryAPI runs op, each attempt bounded by apiAttempt, until it succeeds,
// fails for good or ctx ends. An attempt without an answer and a
// temporary refusal (503: no leader yet) are tried again with backoff; an
// explicit refusal (a subject without stream, a permission, a closed
// connection) is final.
func (b *Bus) retryAPI(ctx context.Context, what string, op func(context.Context) error) error {
	backoff := 50 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, apiAttempt)
		err := op(actx)
		cancel()
		if err == nil || finalAPIError(err) || ctx.Err() != nil {
			return err
		}
		b.logger.Debug("JetStream request not answered, retrying", "request", what, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func finalAPIError(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code != 503 || errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrPermissionViolation) || errors.Is(err, nats.ErrBadSubject) ||
		errors.Is(err, jetstream.ErrObjectNotFound) || errors.Is(err, jetstream.ErrBucketNotFound)
}

func (s ConsumerSpec) subjects() []string {
	subjects := make([]string, len(s.Kinds))
	for i, k := range s.Kinds {
		subjects[i] = KindSubjects(k)
	}
	return subjects
}

// Consume delivers the stream's events to h, in stream order, until ctx
// is cancelled; it returns nil then. The durable consumer is declared (or
// updated) first, so a restarted process resumes where it acknowledged.
//
// A handler error is retried in place with backoff, so a partition's order
// is kept; a message is acknowledged only after h returned nil for each
// of its events. An event delivered again after it was handled (an
// acknowledgement lost in a restart of the connection) is skipped by its
// position. An event that does not decode is counted as poison and
// skipped; a message of one such event is terminated.
func (b *Bus) Consume(ctx context.Context, spec ConsumerSpec, h Handler) error {
	spec.Durable = b.cfg.Share.name(spec.Durable)
	cc := jetstream.ConsumerConfig{
		Durable:        spec.Durable,
		FilterSubjects: b.cfg.Share.filter(spec.Kinds),
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckWait:        time.Minute,
		MaxAckPending:  4096,
		MaxDeliver:     -1,
	}
	// last is the position of the last event handled; events at or before
	// it are skipped.
	last := Position{0, math.MaxInt}
	if spec.Projection {
		// The start position of a durable consumer cannot be updated:
		// recreate it from the checkpoint's position.
		if err := b.js.DeleteConsumer(ctx, spec.Stream, spec.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("reset consumer %s on %s: %w", spec.Durable, spec.Stream, err)
		}
		if spec.From.Seq > 1 {
			cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, spec.From.Seq
		}
		if spec.From.Index > 0 {
			last = Position{spec.From.Seq, spec.From.Index - 1}
		}
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, spec.Stream, cc)
	if err != nil {
		return fmt.Errorf("declare consumer %s on %s: %w", spec.Durable, spec.Stream, err)
	}
	// Bounded by bytes as well: a message of the sensor holds hundreds of
	// events.
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(512, 8<<20))
	if err != nil {
		return fmt.Errorf("consume %s: %w", spec.Durable, err)
	}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		it.Stop()
	}()
	log := b.logger.With("consumer", spec.Durable, "stream", spec.Stream)
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("consume %s: %w", spec.Durable, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			b.pois.Add(1)
			log.Error("message without metadata terminated", "err", err)
			_ = msg.Term()
			continue
		}
		seq := meta.Sequence.Stream
		var poison error
		handled := 0
		rest := msg.Data()
		for i := 0; rest != nil || i == 0; i++ {
			var data []byte
			data, rest = NextEvent(rest)
			pos := Position{seq, i}
			if !last.Before(pos) {
				b.redelivered.Add(1)
				continue
			}
			hdr, err := DecodeHeader(data)
			if err != nil {
				b.pois.Add(1)
				log.Error("undecodable event skipped", "seq", seq, "index", i, "subject", msg.Subject(), "err", err)
				poison, last = err, pos
				continue
			}
			d := Delivery{
				Stream: spec.Stream, Seq: seq, Index: i, Last: rest == nil, Subject: msg.Subject(), Header: hdr,
				Data: data, Redelivered: meta.NumDelivered > 1,
			}
			if !b.handle(ctx, log, msg, d, h) {
				return nil // cancelled: the message stays unacknowledged and is redelivered
			}
			handled++
			last = pos
		}
		if poison != nil && handled == 0 && CountEvents(msg.Data()) <= 1 {
			_ = msg.TermWithReason(poison.Error())
		} else if aerr := msg.Ack(); aerr != nil {
			log.Warn("ack failed; the message will be redelivered and skipped", "seq", seq, "err", aerr)
		}
	}
}

// handle runs h until it succeeds, reports poison, or ctx ends; it returns
// false when ctx ended first.
func (b *Bus) handle(ctx context.Context, log *slog.Logger, msg jetstream.Msg, d Delivery, h Handler) bool {
	backoff := 50 * time.Millisecond
	for {
		err := h(ctx, d)
		switch {
		case err == nil:
			b.delivered.Add(1)
			return true
		case errors.Is(err, ErrPoison):
			b.pois.Add(1)
			log.Error("event skipped as unprocessable", "seq", d.Seq, "index", d.Index, "id", d.Header.ID, "kind", d.Header.Kind, "err", err)
			return true
		case ctx.Err() != nil:
			return false
		}
		b.retries.Add(1)
		log.Warn("handler failed, retrying", "seq", d.Seq, "index", d.Index, "id", d.Header.ID, "err", err, "backoff", backoff)
		_ = msg.InProgress()
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// WaitCaughtUp blocks until the durable consumer has acknowledged every
// message of its stream that matches its filter. Offline analysis uses it
// to drain the pipeline stage by stage.
func (b *Bus) WaitCaughtUp(ctx context.Context, stream, durable string) error {
	durable = b.cfg.Share.name(durable)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	// The consumer must look idle on two polls in a row, at the same
	// sequence: a loaded server may show a filtered consumer's pending
	// count a moment behind its stream.
	var idleAt uint64
	idle := false
	for {
		cons, err := b.js.Consumer(ctx, stream, durable)
		if err == nil {
			var info *jetstream.ConsumerInfo
			info, err = cons.Info(ctx)
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream == info.Delivered.Stream {
				if idle && idleAt == info.Delivered.Stream {
					return nil
				}
				idle, idleAt = true, info.Delivered.Stream
			} else {
				idle = false
			}
		}
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("wait for consumer %s: %w", durable, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for consumer %s: %w", durable, ctx.Err())
		case <-tick.C:
		}
	}
}

// Read calls fn for every event of the stream that matches kinds and was
// stored before the call, in stream order, with an ephemeral ordered
// consumer. Reports and replay use it.
func (b *Bus) Read(ctx context.Context, stream string, kinds []Kind, fn func(Delivery) error) error {
	spec := ConsumerSpec{Stream: stream, Kinds: kinds}
	cons, err := b.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: spec.subjects()})
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	if info.NumPending == 0 {
		return nil
	}
	for {
		msg, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		if err := EachDelivery(stream, meta.Sequence.Stream, msg.Subject(), msg.Data(), fn); err != nil {
			return err
		}
		if meta.NumPending == 0 {
			return nil
		}
	}
}

// EachDelivery calls fn with each event of a message read outside
// Consume (an ordered consumer); an event that does not decode is an
// error naming its position.
func EachDelivery(stream string, seq uint64, subject string, payload []byte, fn func(Delivery) error) error {
	rest := payload
	for i := 0; rest != nil || i == 0; i++ {
		var data []byte
		data, rest = NextEvent(rest)
		hdr, err := DecodeHeader(data)
		if err != nil {
			return fmt.Errorf("read %s seq %d event %d: %w", stream, seq, i, err)
		}
		if err := fn(Delivery{Stream: stream, Seq: seq, Index: i, Last: rest == nil, Subject: subject, Header: hdr, Data: data}); err != nil {
			return err
		}
	}
	return nil
}
