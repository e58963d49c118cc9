// Package output delivers the SOC records of the alert service to the
// SOC's systems: syslog (RFC 5424 over UDP, TCP or TLS) with a CEF
// payload, webhooks (JSON, optionally signed) and JSON-lines files, each
// in Vigil's record format or as an OCSF Detection Finding.
//
// Each output is a durable JetStream consumer of the SOC stream filtered
// to the severities it wants, so a slow or absent SIEM delays only its own
// output, and a restart resumes where it acknowledged. A record is
// acknowledged only once delivered, or once its dead letter is stored.
package output

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/events"
)

// Sender delivers one record, once; the Component retries.
type Sender interface {
	Send(ctx context.Context, rec alerts.Record) error
	Close() error
}

// permanentError marks a failure no retry will fix (a 400 from the
// receiver, a message too large for UDP): the record goes to the dead
// letters at once.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

// Dependencies of the outputs.
type Dependencies struct {
	Logger    *slog.Logger
	JetStream jetstream.JetStream
	// Product names Vigil in CEF and OCSF (vendor, name, version).
	Product Product
	// HTTPClient is used by webhooks (nil: one per webhook with its
	// timeout).
	HTTPClient *http.Client
}

// Stats counts one output's deliveries.
type Stats struct {
	Delivered    uint64 `json:"delivered"`
	Retries      uint64 `json:"retries"`
	DeadLettered uint64 `json:"dead_lettered"`
	Poison       uint64 `json:"poison"`
	// LastError is the latest failure ("" after a success).
	LastError string `json:"last_error,omitempty"`
}

type output struct {
	name      string
	min       events.Severity
	lifecycle bool
	retry     alerts.RetryConfiguration
	sender    Sender

	delivered, retries, dead, poison atomic.Uint64
	mu                               sync.Mutex
	lastErr                          string
}

// Component runs the configured outputs.
type Component struct {
	deps    Dependencies
	logger  *slog.Logger
	outputs []*output
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New builds the enabled outputs; it opens nothing.
func New(cfg alerts.OutputsConfiguration, deps Dependencies) (*Component, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Product.Name == "" {
		deps.Product = Product{Vendor: "Vigil", Name: "Vigil", Version: deps.Product.Version}
	}
	c := &Component{deps: deps, logger: deps.Logger.With("component", "alerts/output")}
	for _, s := range cfg.EnabledSyslog() {
		snd, err := newSyslog(s, deps.Product)
		if err != nil {
			return nil, err
		}
		c.outputs = append(c.outputs, &output{name: s.Name, min: s.MinSeverity, lifecycle: s.Lifecycle, retry: s.Retry, sender: snd})
	}
	for _, w := range cfg.EnabledWebhook() {
		snd, err := newWebhook(w, deps.Product, deps.HTTPClient)
		if err != nil {
			return nil, err
		}
		c.outputs = append(c.outputs, &output{name: w.Name, min: w.MinSeverity, lifecycle: w.Lifecycle, retry: w.Retry, sender: snd})
	}
	for _, f := range cfg.EnabledFile() {
		c.outputs = append(c.outputs, &output{name: f.Name, min: f.MinSeverity, lifecycle: f.Lifecycle, retry: f.Retry, sender: newFile(f, deps.Product)})
	}
	return c, nil
}

// Len is the number of enabled outputs.
func (c *Component) Len() int { return len(c.outputs) }

// Durable is the durable consumer name of output name.
func Durable(name string) string { return "soc-output-" + name }

// Subjects are the SOC subjects of the severities at least min: what an
// output (or a SOC consumer) with that minimum subscribes to; with
// lifecycle, the incidents' lifecycle subjects too.
func Subjects(min events.Severity, lifecycle bool) []string {
	var out []string
	for _, s := range alerts.Severities {
		if alerts.Rank(s) >= alerts.Rank(min) {
			out = append(out, alerts.SOCSubject(s, false))
			if lifecycle {
				out = append(out, alerts.SOCStateSubject(s, false))
			}
		}
	}
	return out
}

// Start declares each output's durable consumer and starts delivering.
func (c *Component) Start(ctx context.Context) error {
	if len(c.outputs) == 0 {
		return nil
	}
	if c.deps.JetStream == nil {
		return errors.New("alerts outputs: no JetStream")
	}
	var iters []jetstream.MessagesContext
	for _, o := range c.outputs {
		cons, err := c.deps.JetStream.CreateOrUpdateConsumer(ctx, alerts.SOCStream, jetstream.ConsumerConfig{
			Durable:        Durable(o.name),
			Description:    "Vigil SOC output " + o.name,
			FilterSubjects: Subjects(o.min, o.lifecycle),
			AckPolicy:      jetstream.AckExplicitPolicy,
			// A new output starts with the alerts raised from now on;
			// afterwards it resumes where it acknowledged.
			DeliverPolicy: jetstream.DeliverNewPolicy,
			AckWait:       time.Minute,
			// One record at a time: the SIEM receives them in order.
			MaxAckPending: 1,
			MaxDeliver:    -1,
		})
		if err != nil {
			for _, it := range iters {
				it.Stop()
			}
			return fmt.Errorf("declare output consumer %s: %w", Durable(o.name), err)
		}
		it, err := cons.Messages(jetstream.PullMaxMessages(1))
		if err != nil {
			for _, it := range iters {
				it.Stop()
			}
			return fmt.Errorf("consume %s: %w", Durable(o.name), err)
		}
		iters = append(iters, it)
	}
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	for i, o := range c.outputs {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.run(run, o, iters[i])
		}()
	}
	c.logger.Info("alert outputs started", "outputs", len(c.outputs))
	return nil
}

// Stop stops the outputs; a record in delivery stays unacknowledged and is
// delivered again after a restart.
func (c *Component) Stop(ctx context.Context) error {
	if c.cancel == nil {
		return nil
	}
	c.cancel()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("stop alert outputs: %w", ctx.Err())
	}
	var errs []error
	for _, o := range c.outputs {
		errs = append(errs, o.sender.Close())
	}
	return errors.Join(errs...)
}

// Stats returns each output's counters by name.
func (c *Component) Stats() map[string]Stats {
	out := map[string]Stats{}
	for _, o := range c.outputs {
		o.mu.Lock()
		last := o.lastErr
		o.mu.Unlock()
		out[o.name] = Stats{Delivered: o.delivered.Load(), Retries: o.retries.Load(), DeadLettered: o.dead.Load(), Poison: o.poison.Load(), LastError: last}
	}
	return out
}

func (c *Component) run(ctx context.Context, o *output, it jetstream.MessagesContext) {
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	log := c.logger.With("output", o.name)
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				log.Error("output stopped", "err", err)
			}
			return
		}
		rec, err := alerts.DecodeRecord(msg.Data())
		if err != nil {
			o.poison.Add(1)
			log.Error("undecodable SOC record terminated", "subject", msg.Subject(), "err", err)
			_ = msg.TermWithReason(err.Error())
			continue
		}
		if !c.deliver(ctx, log, o, msg, rec) {
			return
		}
	}
}

// deliver sends rec until it is delivered or dead-lettered (and then
// acknowledges it), or ctx ends (false).
func (c *Component) deliver(ctx context.Context, log *slog.Logger, o *output, msg jetstream.Msg, rec alerts.Record) bool {
	first := time.Now()
	backoff := o.retry.InitialBackoff
	for attempt := 1; ; attempt++ {
		err := o.sender.Send(ctx, rec)
		if err == nil {
			o.delivered.Add(1)
			o.setErr("")
			if aerr := ack(ctx, msg); aerr != nil {
				log.Warn("ack failed; the record will be delivered again", "alert", rec.Alert.ID, "err", aerr)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		o.setErr(err.Error())
		var perm permanentError
		if errors.As(err, &perm) || (o.retry.MaxAttempts > 0 && attempt >= o.retry.MaxAttempts) {
			return c.deadLetter(ctx, log, o, msg, rec, err, attempt, first)
		}
		o.retries.Add(1)
		log.Warn("delivery failed, retrying", "alert", rec.Alert.ID, "attempt", attempt, "backoff", backoff, "err", err)
		if !sleep(ctx, msg, backoff) {
			return false
		}
		backoff = min(2*backoff, o.retry.MaxBackoff)
	}
}

// DeadLetter is what an output stores when it gives up on a record.
type DeadLetter struct {
	Output       string        `json:"output"`
	Error        string        `json:"error"`
	Attempts     int           `json:"attempts"`
	FirstAttempt time.Time     `json:"first_attempt"`
	LastAttempt  time.Time     `json:"last_attempt"`
	Record       alerts.Record `json:"record"`
}

// deadLetter stores the record with the failure on the output's
// dead-letter subject, retrying the store itself, and only then
// acknowledges the record: nothing is dropped silently.
func (c *Component) deadLetter(ctx context.Context, log *slog.Logger, o *output, msg jetstream.Msg, rec alerts.Record, cause error, attempts int, first time.Time) bool {
	dl := DeadLetter{Output: o.name, Error: cause.Error(), Attempts: attempts, FirstAttempt: first.UTC(), LastAttempt: time.Now().UTC(), Record: rec}
	data, err := json.Marshal(dl)
	if err != nil {
		log.Error("dead letter does not encode", "err", err)
		return false
	}
	m := &nats.Msg{Subject: alerts.DeadLetterSubject(o.name), Data: data, Header: nats.Header{}}
	m.Header.Set(jetstream.MsgIDHeader, "dl-"+o.name+"-"+rec.Alert.ID)
	backoff := time.Second
	for {
		_, err := c.deps.JetStream.PublishMsg(ctx, m)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		log.Error("dead letter not stored, retrying", "alert", rec.Alert.ID, "err", err)
		if !sleep(ctx, msg, backoff) {
			return false
		}
		backoff = min(2*backoff, time.Minute)
	}
	o.dead.Add(1)
	log.Error("delivery abandoned; record stored as dead letter", "alert", rec.Alert.ID, "attempts", attempts,
		"subject", alerts.DeadLetterSubject(o.name), "err", cause)
	if err := ack(ctx, msg); err != nil {
		log.Warn("ack failed; the record will be delivered again", "alert", rec.Alert.ID, "err", err)
	}
	return true
}

// ack acknowledges a delivered record and waits for the server's
// confirmation, even when the output is stopping: the record was
// delivered, and an ack lost now would deliver it twice.
func ack(ctx context.Context, msg jetstream.Msg) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return msg.DoubleAck(ctx)
}

// sleep waits d, telling JetStream the message is still in progress so it
// is not redelivered meanwhile; false when ctx ended.
func sleep(ctx context.Context, msg jetstream.Msg, d time.Duration) bool {
	for d > 0 {
		step := min(d, 20*time.Second)
		_ = msg.InProgress()
		t := time.NewTimer(step)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		d -= step
	}
	return true
}

func (o *output) setErr(s string) {
	o.mu.Lock()
	o.lastErr = s
	o.mu.Unlock()
}
