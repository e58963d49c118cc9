package risk

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

// Bus is what the risk engine needs of the event log.
type Bus interface {
	Publish(ctx context.Context, m events.Message) error
	Consume(ctx context.Context, spec events.ConsumerSpec, h events.Handler) error
}

// Dependencies of the component.
type Dependencies struct {
	Logger *slog.Logger
	Bus    Bus
	Source events.Source
	// Networks says which addresses are the monitored network.
	Networks        *netclass.Networks
	Checkpoints     events.Checkpointer
	CheckpointEvery time.Duration
}

// Durable names of the risk engine's consumers, one per stream.
const (
	Durable        = "risk"
	DurableSensor  = "risk-sensor"
	DurableAlerts  = "risk-alerts"
	checkpointName = "risk"
)

// Consumers lists the (stream, durable) pairs the engine consumes, for
// callers that wait until it caught up.
var Consumers = [][2]string{
	{events.StreamSensor, DurableSensor},
	{events.StreamAnalytics, Durable},
	{events.StreamAlerts, DurableAlerts},
}

// Component keeps every device's score up to date and publishes risk
// events. It implements Service.
type Component struct {
	deps   Dependencies
	logger *slog.Logger

	mu    sync.RWMutex
	model *Model
	next  map[string]events.Position // where each stream resumes (under mu)
	saved time.Time

	workers [3]events.Worker
	outbox  [3]events.Outbox
}

var _ Service = (*Component)(nil)

// New returns an inert component.
func New(cfg Configuration, deps Dependencies) (*Component, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("risk configuration: %w", errors.Join(errs...))
	}
	if deps.Bus == nil {
		return nil, errors.New("risk: no bus")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.CheckpointEvery <= 0 {
		deps.CheckpointEvery = 5 * time.Minute
	}
	deps.Source.Component = "risk"
	return &Component{deps: deps, logger: deps.Logger.With("component", "risk"),
		model: NewModel(cfg, deps.Source, deps.Networks), next: map[string]events.Position{}}, nil
}

// Start restores the checkpoint and consumes the three streams.
func (c *Component) Start(ctx context.Context) error {
	if cp := c.deps.Checkpoints; cp != nil {
		_, st, ok, err := cp.LoadCheckpoint(ctx, checkpointName)
		if err != nil {
			return err
		}
		if ok {
			next, err := c.model.RestoreState(st)
			if err != nil {
				return err
			}
			if next != nil {
				c.next = next
			}
		}
	}
	c.saved = time.Now()
	kinds := [][]events.Kind{
		{events.KindFlow},
		{events.KindDeviceChange, events.KindDeviation, events.KindVulnerability},
		{events.KindAlert},
	}
	for i, sd := range Consumers {
		i, stream := i, sd[0]
		spec := events.ConsumerSpec{Stream: stream, Durable: sd[1], Kinds: kinds[i], Projection: true, From: c.next[stream]}
		c.workers[i].Start(ctx, c.deps.Bus, spec, func(ctx context.Context, d events.Delivery) error { return c.handle(ctx, i, d) })
	}
	return nil
}

// Stop stops the consumers and writes a final checkpoint.
func (c *Component) Stop(ctx context.Context) error {
	var errs []error
	for i := range c.workers {
		errs = append(errs, c.workers[i].Stop(ctx))
	}
	return errors.Join(append(errs, c.Checkpoint(ctx))...)
}

// Checkpoint saves the model with the position of each stream.
func (c *Component) Checkpoint(ctx context.Context) error {
	if c.deps.Checkpoints == nil {
		return nil
	}
	c.mu.RLock()
	st, err := c.model.MarshalState(c.next)
	next := c.next[events.StreamAnalytics]
	c.mu.RUnlock()
	if err != nil {
		return err
	}
	return c.deps.Checkpoints.SaveCheckpoint(ctx, checkpointName, next, st)
}

func (c *Component) handle(ctx context.Context, i int, d events.Delivery) error {
	if c.outbox[i].Pending(d.Position()) {
		return c.outbox[i].Flush(ctx, c.deps.Bus, d.Position())
	}
	var out []events.Event[events.Risk]
	var err error
	switch d.Header.Kind {
	case events.KindFlow:
		out, err = events.Apply(d, &c.mu, c.model.ObserveFlow)
	case events.KindDeviceChange:
		out, err = events.Apply(d, &c.mu, c.model.ObserveChange)
	case events.KindDeviation:
		out, err = events.Apply(d, &c.mu, c.model.ObserveDeviation)
	case events.KindVulnerability:
		out, err = events.Apply(d, &c.mu, c.model.ObserveVulnerability)
	case events.KindAlert:
		out, err = events.Apply(d, &c.mu, c.model.ObserveAlert)
	}
	if err != nil {
		return err
	}
	if err := c.outbox[i].Publish(ctx, c.deps.Bus, d.Position(), events.Messages(out)); err != nil {
		return err
	}
	c.mu.Lock()
	c.next[d.Stream] = d.Next()
	due := time.Since(c.saved) >= c.deps.CheckpointEvery
	if due {
		c.saved = time.Now()
	}
	c.mu.Unlock()
	if due {
		if err := c.Checkpoint(ctx); err != nil {
			c.logger.Warn("checkpoint failed; the next one will retry", "err", err)
		}
	}
	return nil
}

// Scores implements Service.
func (c *Component) Scores() []DeviceRisk {
	c.mu.Lock() // inputs prune expired anomalies
	defer c.mu.Unlock()
	return c.model.Results()
}

// Device implements Service.
func (c *Component) Device(device string) (DeviceRisk, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.model.Device(device)
}

// DeviceRisk implements Service.
func (c *Component) DeviceRisk(device string) (Result, bool) {
	d, ok := c.Device(device)
	return d.Result, ok
}

// Summary implements Service.
func (c *Component) Summary(by string) (Summary, error) {
	return Summarise(c.Scores(), by)
}
