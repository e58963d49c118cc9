package baseline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/netclass"
)

// Bus is what the baseline engine needs of the event log.
type Bus interface {
	Publish(ctx context.Context, m events.Message) error
	Consume(ctx context.Context, spec events.ConsumerSpec, h events.Handler) error
}

// Dependencies of the component.
type Dependencies struct {
	Logger *slog.Logger
	Bus    Bus
	// Source names this engine in the events it produces.
	Source events.Source
	// Networks says which addresses are the monitored network; nil means
	// the private ranges.
	Networks *netclass.Networks
	// Classifier and Vendors classify devices so that deviations carry
	// category, medical flag and criticality; nil leaves them empty.
	Classifier Classifier
	Vendors    func(mac string) (string, bool)
	// Checkpoints stores the model so that a restart resumes from the
	// event after the checkpoint instead of the whole stream; nil keeps
	// the model in memory only (it is then rebuilt from the stream).
	Checkpoints events.Checkpointer
	// CheckpointEvery is the wall-clock interval between checkpoints
	// (default 5 minutes); one is also written on Stop.
	CheckpointEvery time.Duration
}

// Durable is the name of the baseline's JetStream consumer.
const Durable = "baseline"

// Component consumes flows, observations and authentication attempts and
// publishes deviations.
type Component struct {
	cfg    Configuration
	deps   Dependencies
	logger *slog.Logger

	mu    sync.Mutex // guards model against Stats readers
	model *Model

	outbox events.Outbox

	worker events.Worker

	next  events.Position // where the stream resumes after the last event applied (under mu)
	saved time.Time       // wall time of the last checkpoint (handler only)
}

// New returns an inert component.
func New(cfg Configuration, deps Dependencies) (*Component, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("baseline configuration: %w", errors.Join(errs...))
	}
	if deps.Bus == nil {
		return nil, errors.New("baseline: no bus")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	deps.Source.Component = "baseline"
	if deps.CheckpointEvery <= 0 {
		deps.CheckpointEvery = 5 * time.Minute
	}
	model := NewModel(cfg, deps.Source, deps.Networks)
	if deps.Classifier != nil {
		model.SetClassifier(deps.Classifier, deps.Vendors)
	}
	return &Component{cfg: cfg, deps: deps, logger: deps.Logger.With("component", "baseline"), model: model}, nil
}

// Start restores the last checkpoint, if any, and consumes from the
// event after it. The model lives in memory: the consumer is a
// projection, so a restart without a checkpoint replays the whole stream
// (deviations raised again carry the same IDs, which JetStream
// de-duplicates within its window).
func (c *Component) Start(ctx context.Context) error {
	spec := events.ConsumerSpec{
		Stream: events.StreamSensor, Durable: Durable,
		Kinds:      []events.Kind{events.KindFlow, events.KindObservation, events.KindAuth},
		Projection: true,
	}
	if cp := c.deps.Checkpoints; cp != nil {
		next, st, ok, err := cp.LoadCheckpoint(ctx, Durable)
		if err != nil {
			return err
		}
		if ok {
			c.mu.Lock()
			err := c.model.RestoreState(st)
			if err == nil {
				c.next = next
			}
			c.mu.Unlock()
			if err != nil {
				// An unreadable checkpoint is not fatal: the stream holds
				// the truth, and the model is rebuilt from it.
				c.logger.Warn("baseline checkpoint ignored; rebuilding from the stream", "err", err)
			} else {
				spec.From = next
				c.logger.Info("baseline restored from checkpoint", "next", next, "devices", c.Stats().Devices)
			}
		}
	}
	c.saved = time.Now()
	c.worker.Start(ctx, c.deps.Bus, spec, c.handle)
	return nil
}

// Stop stops consuming, waits for the handler in progress and writes a
// final checkpoint.
func (c *Component) Stop(ctx context.Context) error {
	err := c.worker.Stop(ctx)
	return errors.Join(err, c.Checkpoint(ctx))
}

// Checkpoint saves the model with the sequence of the last event it
// applied.
func (c *Component) Checkpoint(ctx context.Context) error {
	if c.deps.Checkpoints == nil {
		return nil
	}
	c.mu.Lock()
	next := c.next
	st, err := c.model.MarshalState()
	c.mu.Unlock()
	if err != nil || next.Seq == 0 {
		return err
	}
	return c.deps.Checkpoints.SaveCheckpoint(ctx, Durable, next, st)
}

// Learn takes an edge or a service as normal for a device (a person's
// "learn this"). It applies at once and is kept in the next checkpoint.
func (c *Component) Learn(ctx context.Context, r LearnRequest) error {
	c.mu.Lock()
	err := c.model.Learn(r)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.logger.Info("edge learned on request", "device", r.Device, "peer", r.Peer, "transport", r.Transport,
		"port", r.Port, "reason", r.Reason)
	return c.Checkpoint(ctx)
}

// Confirm ends a device's learning (a person confirms that what it did
// so far is normal).
func (c *Component) Confirm(ctx context.Context, device string) error {
	c.mu.Lock()
	err := c.model.Confirm(device)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.logger.Info("device learning confirmed", "device", device)
	return c.Checkpoint(ctx)
}

// MemoryByGroup reports the memory of the device models per peer group.
func (c *Component) MemoryByGroup() []GroupMemory {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.model.MemoryByGroup()
}

// Readiness returns one device's readiness.
func (c *Component) Readiness(device string) (Readiness, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.model.Readiness(device)
}

// Stats returns the model's counters.
func (c *Component) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.model.Stats()
}

// Devices returns the readiness of every modelled device.
func (c *Component) Devices() []Readiness {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.model.Devices()
}

func (c *Component) handle(ctx context.Context, d events.Delivery) error {
	if c.outbox.Pending(d.Position()) {
		return c.outbox.Flush(ctx, c.deps.Bus, d.Position())
	}
	var out []events.Event[events.Deviation]
	var err error
	switch d.Header.Kind {
	case events.KindFlow:
		out, err = events.Apply(d, &c.mu, c.model.ObserveFlow)
	case events.KindObservation:
		out, err = events.Apply(d, &c.mu, c.model.ObserveAttribute)
	case events.KindAuth:
		out, err = events.Apply(d, &c.mu, c.model.ObserveAuth)
	default:
		return nil
	}
	if err != nil {
		return err
	}
	if err := c.outbox.Publish(ctx, c.deps.Bus, d.Position(), events.Messages(out)); err != nil {
		return err
	}
	c.mu.Lock()
	c.next = d.Next()
	c.mu.Unlock()
	if time.Since(c.saved) >= c.deps.CheckpointEvery {
		c.saved = time.Now()
		if err := c.Checkpoint(ctx); err != nil {
			c.logger.Warn("checkpoint failed; the next one will retry", "err", err)
		}
	}
	return nil
}

// LearningEnd is the end of the global learning window in event time, zero
// before the first flow.
func (c *Component) LearningEnd() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.model.LearningEnd()
}
