package inventory

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

// Bus is what the inventory needs of the event log.
type Bus interface {
	Publish(ctx context.Context, m events.Message) error
	Consume(ctx context.Context, spec events.ConsumerSpec, h events.Handler) error
}

// Dependencies of the component.
type Dependencies struct {
	Logger *slog.Logger
	Bus    Bus
	Source events.Source
	// Networks says which addresses are the monitored network; nil means
	// the private ranges.
	Networks *netclass.Networks
	// Classifier, Vendors and Register are the model's collaborators
	// (see Options); nil disables each.
	Classifier Classifier
	Vendors    VendorLookup
	Register   *Register
	// Checkpoints stores the projection so a restart resumes without
	// replaying the whole log; nil rebuilds from the stream's start.
	Checkpoints events.Checkpointer
	// CheckpointEvery is the wall-clock interval between checkpoints
	// (they are also written on Stop); 0 means 5 minutes.
	CheckpointEvery time.Duration
}

// Durable is the name of the inventory's JetStream consumer.
const Durable = "inventory"

// Component keeps the inventory projection up to date from the log.
type Component struct {
	deps   Dependencies
	logger *slog.Logger

	mu    sync.RWMutex
	model *Model

	outbox events.Outbox

	worker events.Worker
	// next is where the stream resumes after the last event handled, saved is when
	// the last checkpoint was written (wall clock: it only paces saving).
	next  events.Position
	saved time.Time
}

// New returns an inert component.
func New(cfg Configuration, deps Dependencies) (*Component, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("inventory configuration: %w", errors.Join(errs...))
	}
	if deps.Bus == nil {
		return nil, errors.New("inventory: no bus")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	deps.Source.Component = "inventory"
	if deps.CheckpointEvery <= 0 {
		deps.CheckpointEvery = 5 * time.Minute
	}
	model := NewModel(cfg, deps.Source, Options{Networks: deps.Networks, Classifier: deps.Classifier,
		Vendors: deps.Vendors, Register: deps.Register})
	return &Component{deps: deps, logger: deps.Logger.With("component", "inventory"), model: model}, nil
}

// Start restores the last checkpoint, if any, and consumes flows and
// observations from the event after it.
func (c *Component) Start(ctx context.Context) error {
	spec := events.ConsumerSpec{
		Stream: events.StreamSensor, Durable: Durable,
		Kinds:      []events.Kind{events.KindFlow, events.KindObservation},
		Projection: true,
	}
	if cp := c.deps.Checkpoints; cp != nil {
		next, st, ok, err := cp.LoadCheckpoint(ctx, Durable)
		if err != nil {
			return err
		}
		if ok {
			if err := c.model.RestoreState(st); err != nil {
				return err
			}
			spec.From, c.next = next, next
			c.logger.Info("inventory restored from checkpoint", "next", next, "devices", c.model.Stats().Devices)
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

// Checkpoint saves the projection with the sequence of the last event it
// handled.
func (c *Component) Checkpoint(ctx context.Context) error {
	if c.deps.Checkpoints == nil {
		return nil
	}
	c.mu.RLock()
	next := c.next
	st, err := c.model.MarshalState()
	c.mu.RUnlock()
	if err != nil || next.Seq == 0 {
		return err
	}
	return c.deps.Checkpoints.SaveCheckpoint(ctx, Durable, next, st)
}

// Device returns one device by ID.
func (c *Component) Device(id string) (Device, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.model.Device(id)
}

// Devices returns the current inventory, sorted by key.
func (c *Component) Devices() []Device {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.model.Devices()
}

// Select returns the page of devices that q asks for, copying only that
// page.
func (c *Component) Select(q Query) Page {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.model.Select(q)
}

// Facets returns the categories and departments present.
func (c *Component) Facets() Facets {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.model.Facets()
}

// Stats returns the projection's counters.
func (c *Component) Stats() Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.model.Stats()
}

func (c *Component) handle(ctx context.Context, d events.Delivery) error {
	if c.outbox.Pending(d.Position()) {
		return c.outbox.Flush(ctx, c.deps.Bus, d.Position())
	}
	var out []events.Event[events.DeviceChange]
	var err error
	switch d.Header.Kind {
	case events.KindFlow:
		out, err = events.Apply(d, &c.mu, c.model.ObserveFlow)
	case events.KindObservation:
		out, err = events.Apply(d, &c.mu, c.model.ObserveAttribute)
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
