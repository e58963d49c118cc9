// Package cluster holds what Vigil needs to run as several processes over
// a NATS cluster: the health of an engine (consumer lag, redeliveries,
// failed inserts, the age of the oldest unacknowledged event) as periodic
// health events in the event log and Prometheus metrics, and the
// partition leases that give each engine its share of the devices. The
// fault tests with real nats-server processes live here too.
// docs/deployment.md describes the design.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/store"
)

// HealthConfiguration configures the health reports.
type HealthConfiguration struct {
	// Interval between two health events; 0 disables them (the
	// /metrics endpoint still answers).
	Interval time.Duration `yaml:"interval"`
}

// DefaultHealthConfiguration reports every 30 seconds.
func DefaultHealthConfiguration() HealthConfiguration {
	return HealthConfiguration{Interval: 30 * time.Second}
}

// Validate reports every problem, naming fields within the section.
func (c HealthConfiguration) Validate() []error {
	if c.Interval != 0 && c.Interval < time.Second {
		return []error{fmt.Errorf("interval: must be 0 (off) or at least 1s, got %s", c.Interval)}
	}
	return nil
}

// Bus is what health needs of the event log.
type Bus interface {
	ConsumersHealth(ctx context.Context, now time.Time) ([]events.ConsumerHealth, error)
	Stats() events.BusStats
	Publish(ctx context.Context, m events.Message) error
}

var _ Bus = (*events.Bus)(nil)

// HealthDependencies of the health component.
type HealthDependencies struct {
	Logger *slog.Logger
	Bus    Bus
	// Name identifies this process in health events and metrics.
	Name string
	// Writer returns the store writer's counters; nil without a store.
	Writer func() store.WriterStats
	// Now is the clock of the live system (time.Now when nil): health is
	// about the running processes, not about event time.
	Now func() time.Time
}

// HealthComponent is the source component of the health events this
// package publishes (Source.Name is the process name).
const HealthComponent = "pipeline"

// Health publishes the pipeline's health as health events in the event
// log and serves it as Prometheus metrics.
type Health struct {
	cfg    HealthConfiguration
	deps   HealthDependencies
	logger *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewHealth returns an inert health component.
func NewHealth(cfg HealthConfiguration, deps HealthDependencies) (*Health, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("health configuration: %w", errors.Join(errs...))
	}
	if deps.Bus == nil {
		return nil, errors.New("health: no bus")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Name == "" {
		deps.Name = "vigil"
	}
	return &Health{cfg: cfg, deps: deps, logger: deps.Logger.With("component", "health")}, nil
}

// Start begins the periodic health events.
func (h *Health) Start(ctx context.Context) error {
	if h.cfg.Interval == 0 {
		return nil
	}
	ctx, h.cancel = context.WithCancel(context.WithoutCancel(ctx))
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(h.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := h.publish(ctx); err != nil {
					h.logger.Warn("health event not published", "err", err)
				}
			}
		}
	}()
	return nil
}

// Stop ends the health events.
func (h *Health) Stop(context.Context) error {
	if h.cancel != nil {
		h.cancel()
		h.wg.Wait()
	}
	return nil
}

// Report gathers the current health of the pipeline as this process sees
// it, and the wall-clock time it was taken.
func (h *Health) Report(ctx context.Context) (time.Time, events.PipelineHealth) {
	now := h.deps.Now()
	p := events.PipelineHealth{Process: h.deps.Name, Bus: events.BusHealthOf(h.deps.Bus.Stats())}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cons, err := h.deps.Bus.ConsumersHealth(ctx, now)
	if err != nil {
		p.ConsumersError = err.Error()
	}
	p.Consumers = cons
	if h.deps.Writer != nil {
		ws := h.deps.Writer()
		p.Store = &events.StoreHealth{
			Received: ws.Received, Inserted: ws.Inserted, Duplicates: ws.Duplicates, Rejected: ws.Rejected,
			InsertErrors: ws.InsertErrors, Batches: ws.Batches, AckErrors: ws.AckErrors,
		}
	}
	return now, p
}

// Event is the health event of a report. Its time is the wall clock of
// the observation (the figures describe the running system, which has no
// event time); its ID derives from the content as every event's does.
func (h *Health) Event(at time.Time, p events.PipelineHealth) (events.Event[events.Health], error) {
	return events.NewEvent(at, events.Source{Component: HealthComponent, Name: h.deps.Name},
		events.Health{IntervalMS: h.cfg.Interval.Milliseconds(), Pipeline: &p})
}

// publish takes a report and publishes it as a health event.
func (h *Health) publish(ctx context.Context) error {
	e, err := h.Event(h.Report(ctx))
	if err != nil {
		return err
	}
	return h.deps.Bus.Publish(ctx, e)
}

// ServeHTTP writes the metrics in the Prometheus text exposition format
// (version 0.0.4), gathered at scrape time.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, p := h.Report(r.Context())
	if err := WriteMetrics(w, p); err != nil {
		h.logger.Warn("write metrics", "err", err)
	}
}

// metric is one family of the exposition.
type metric struct {
	name, help, typ string
	samples         []sample
}

type sample struct {
	labels [][2]string
	value  float64
}

// WriteMetrics writes a report in the Prometheus text format.
func WriteMetrics(w io.Writer, s events.PipelineHealth) error {
	var fams []metric
	gauge := func(name, help string) *metric {
		fams = append(fams, metric{name: name, help: help, typ: "gauge"})
		return &fams[len(fams)-1]
	}
	counter := func(name, help string, v uint64) {
		fams = append(fams, metric{name: name, help: help, typ: "counter", samples: []sample{{value: float64(v)}}})
	}
	up := 1.0
	if s.ConsumersError != "" {
		up = 0
	}
	g := gauge("vigil_nats_up", "1 when the consumers' state could be read from JetStream")
	g.samples = []sample{{value: up}}
	type field struct {
		name, help string
		get        func(events.ConsumerHealth) float64
	}
	for _, f := range []field{
		{"vigil_consumer_pending_messages", "messages of the consumer's subjects not yet delivered (lag)", func(c events.ConsumerHealth) float64 { return float64(c.Pending) }},
		{"vigil_consumer_ack_pending_messages", "messages delivered and not yet acknowledged", func(c events.ConsumerHealth) float64 { return float64(c.AckPending) }},
		{"vigil_consumer_redelivered_messages", "unacknowledged messages delivered more than once", func(c events.ConsumerHealth) float64 { return float64(c.Redelivered) }},
		{"vigil_consumer_oldest_unacked_seconds", "age of the oldest message the consumer has not acknowledged (0 when caught up)", func(c events.ConsumerHealth) float64 { return c.OldestUnacked.Seconds() }},
		{"vigil_consumer_ack_floor_sequence", "stream sequence up to which every message is acknowledged", func(c events.ConsumerHealth) float64 { return float64(c.AckFloor) }},
	} {
		g := gauge(f.name, f.help)
		for _, c := range s.Consumers {
			g.samples = append(g.samples, sample{labels: [][2]string{{"stream", c.Stream}, {"consumer", c.Durable}}, value: f.get(c)})
		}
	}
	b := s.Bus
	counter("vigil_bus_published_total", "events stored by JetStream", b.Published)
	counter("vigil_bus_duplicates_total", "publishes JetStream dropped as already stored", b.Duplicates)
	counter("vigil_bus_publish_errors_total", "publishes that failed", b.PublishErrors)
	counter("vigil_bus_delivered_total", "messages handled and acknowledged by this process's engines", b.Delivered)
	counter("vigil_bus_redelivered_total", "messages skipped because already handled", b.Redelivered)
	counter("vigil_bus_retries_total", "handler errors retried in place", b.Retries)
	counter("vigil_bus_poison_total", "messages terminated as unprocessable", b.Poison)
	if st := s.Store; st != nil {
		counter("vigil_store_received_total", "messages the store writer fetched (redeliveries included)", st.Received)
		counter("vigil_store_inserted_total", "event rows inserted into ClickHouse", st.Inserted)
		counter("vigil_store_duplicates_total", "events not inserted because already stored", st.Duplicates)
		counter("vigil_store_rejected_total", "messages stored in rejected_events", st.Rejected)
		counter("vigil_store_insert_errors_total", "failed insert attempts (each retried)", st.InsertErrors)
		counter("vigil_store_batches_total", "batches inserted and acknowledged", st.Batches)
		counter("vigil_store_ack_errors_total", "batch acknowledgements that failed", st.AckErrors)
	}
	var sb strings.Builder
	for _, f := range fams {
		fmt.Fprintf(&sb, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		for _, smp := range f.samples {
			sb.WriteString(f.name)
			if len(smp.labels) > 0 {
				sb.WriteByte('{')
				for i, l := range smp.labels {
					if i > 0 {
						sb.WriteByte(',')
					}
					sb.WriteString(l[0] + `="` + escapeLabel(l[1]) + `"`)
				}
				sb.WriteByte('}')
			}
			sb.WriteString(" " + strconv.FormatFloat(smp.value, 'g', -1, 64) + "\n")
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
