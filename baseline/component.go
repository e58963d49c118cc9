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
	model := NewModel(cfg, deps.Source, deps.Networks)
	if deps.Classifier != nil {
		model.SetClassifier(deps.Classifier, deps.Vendors)
	}
	return &Component{cfg: cfg, deps: deps, logger: deps.Logger.With("component", "baseline"), model: model}, nil
}

// Start begins consuming.
func (c *Component) Start(ctx context.Context) error {
	c.worker.Start(ctx, c.deps.Bus, events.ConsumerSpec{
		Stream: events.StreamSensor, Durable: Durable,
		Kinds: []events.Kind{events.KindFlow, events.KindObservation, events.KindAuth},
	}, c.handle)
	return nil
}

// Stop stops consuming and waits for the handler in progress.
func (c *Component) Stop(ctx context.Context) error {
	return c.worker.Stop(ctx)
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
	if c.outbox.Pending(d.Seq) {
		return c.outbox.Flush(ctx, c.deps.Bus, d.Seq)
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
	return c.outbox.Publish(ctx, c.deps.Bus, d.Seq, events.Messages(out))
}

// LearningEnd is the end of the global learning window in event time, zero
// before the first flow.
func (c *Component) LearningEnd() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.model.LearningEnd()
}
