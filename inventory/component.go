package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

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
	return &Component{deps: deps, logger: deps.Logger.With("component", "inventory"), model: NewModel(cfg, deps.Source, deps.Networks)}, nil
}

// Start begins consuming flows and observations.
func (c *Component) Start(ctx context.Context) error {
	c.worker.Start(ctx, c.deps.Bus, events.ConsumerSpec{
		Stream: events.StreamSensor, Durable: Durable,
		Kinds: []events.Kind{events.KindFlow, events.KindObservation},
	}, c.handle)
	return nil
}

// Stop stops consuming and waits for the handler in progress.
func (c *Component) Stop(ctx context.Context) error {
	return c.worker.Stop(ctx)
}

// Devices returns the current inventory, sorted by key.
func (c *Component) Devices() []Device {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.model.Devices()
}

// Stats returns the projection's counters.
func (c *Component) Stats() Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.model.Stats()
}

func (c *Component) handle(ctx context.Context, d events.Delivery) error {
	if c.outbox.Pending(d.Seq) {
		return c.outbox.Flush(ctx, c.deps.Bus, d.Seq)
	}
	var out []events.Event[events.DeviceChange]
	switch d.Header.Kind {
	case events.KindFlow:
		ev, err := events.DecodeDelivery[events.Flow](d)
		if err != nil {
			return err
		}
		c.mu.Lock()
		out = c.model.ObserveFlow(ev)
		c.mu.Unlock()
	case events.KindObservation:
		ev, err := events.DecodeDelivery[events.Observation](d)
		if err != nil {
			return err
		}
		c.mu.Lock()
		out = c.model.ObserveAttribute(ev)
		c.mu.Unlock()
	}
	return c.outbox.Publish(ctx, c.deps.Bus, d.Seq, events.Messages(out))
}
