package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-health/vigil/events"
)

// Bus is what the policy engine needs of the event log.
type Bus interface {
	Publish(ctx context.Context, m events.Message) error
	Consume(ctx context.Context, spec events.ConsumerSpec, h events.Handler) error
}

// Dependencies of the component.
type Dependencies struct {
	Logger *slog.Logger
	Bus    Bus
	// Source names this engine in the decisions and alerts it produces
	// (its Component is set to "policy"). It must be the same on every
	// replica, because it is part of the event IDs that de-duplicate a
	// replay.
	Source events.Source
}

// Stats counts what the component did since it started.
type Stats struct {
	// Evaluations is the number of deviations decided (a decision whose
	// publish is retried counts once).
	Evaluations uint64
	// Alerts is the number of alerts raised; Enforce of enforcement
	// requests.
	Alerts  uint64
	Enforce uint64
	// DecisionErrors counts decisions that record an error (evaluation
	// failure or malformed policy output).
	DecisionErrors uint64
	// Poison counts deviations that could not be decoded.
	Poison uint64
	// PublishErrors counts failed publishes (the delivery is retried).
	PublishErrors uint64
	// Reloads counts policy sets swapped in after the first;
	// ReloadErrors reloads that kept the old set.
	Reloads      uint64
	ReloadErrors uint64
	// Revision is the policy revision in use.
	Revision string
	// EdgeEvaluations counts edges decided; Edges the edge cache.
	EdgeEvaluations uint64
	Edges           EdgeStats
}

// Component consumes deviations, evaluates them and publishes a decision
// and the alerts for each.
type Component struct {
	cfg    Configuration
	deps   Dependencies
	logger *slog.Logger

	engine atomic.Pointer[Engine]

	evaluations, alerts, enforce, decisionErrors atomic.Uint64
	poison, publishErrors, reloads, reloadErrors atomic.Uint64

	outbox events.Outbox
	worker events.Worker

	// edgeOutbox and edgeWorker consume flows for the edge policies;
	// edgesOn is set when that consumer runs.
	edgeOutbox events.Outbox
	edgeWorker events.Worker
	edgesOn    atomic.Bool
	edgeEvals  atomic.Uint64

	// stopWatch ends the reload watcher; watching waits for it.
	stopWatch context.CancelFunc
	watching  sync.WaitGroup
}

// New returns an inert component: it checks the configuration and loads
// nothing.
func New(cfg Configuration, deps Dependencies) (*Component, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("policy configuration: %w", errors.Join(errs...))
	}
	if deps.Bus == nil {
		return nil, errors.New("policy: no bus")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Component{cfg: cfg, deps: deps, logger: deps.Logger.With("component", "policy")}, nil
}

// Start loads and compiles the policies (an invalid set is an error that
// lists every problem) and starts consuming deviations.
func (c *Component) Start(ctx context.Context) error {
	eng, err := NewEngine(ctx, c.cfg, c.deps.Source)
	if err != nil {
		return fmt.Errorf("start policy: %w", err)
	}
	c.engine.Store(eng)
	c.logger.Info("policies loaded", "revision", eng.Revision(), "files", len(eng.Files()))

	c.worker.Start(ctx, c.deps.Bus, events.ConsumerSpec{
		Stream:  c.cfg.Stream,
		Durable: c.cfg.Durable,
		Kinds:   []events.Kind{events.KindDeviation},
	}, c.handle)
	if c.cfg.Edges && eng.HasEdgePolicies() {
		c.edgesOn.Store(true)
		c.edgeWorker.Start(ctx, c.deps.Bus, events.ConsumerSpec{
			Stream: events.StreamSensor, Durable: EdgeDurable, Kinds: []events.Kind{events.KindFlow},
		}, c.handleEdge)
	}
	if c.cfg.ReloadInterval > 0 {
		ctx, c.stopWatch = context.WithCancel(context.WithoutCancel(ctx))
		c.watching.Go(func() { c.watch(ctx) })
	}
	return nil
}

// Stop stops the reload watcher and the consumer, waits for the delivery
// in progress and returns the consumer's error, if any.
func (c *Component) Stop(ctx context.Context) error {
	if c.stopWatch != nil {
		c.stopWatch()
		defer c.watching.Wait()
	}
	err := c.worker.Stop(ctx)
	if c.edgesOn.Load() {
		err = errors.Join(err, c.edgeWorker.Stop(ctx))
	}
	return err
}

// EdgesRunning reports whether the edge consumer (EdgeDurable) runs.
func (c *Component) EdgesRunning() bool { return c.edgesOn.Load() }

// Engine returns the engine in use, nil before Start.
func (c *Component) Engine() *Engine { return c.engine.Load() }

// Reload recompiles the policies and swaps them in, keeping the set in use
// when the new one is invalid (the error lists why).
func (c *Component) Reload(ctx context.Context) error {
	eng := c.engine.Load()
	if eng == nil {
		return errors.New("reload policy: not started")
	}
	before := eng.Revision()
	if err := eng.Reload(ctx); err != nil {
		c.reloadErrors.Add(1)
		return fmt.Errorf("reload policy: %w", err)
	}
	if after := eng.Revision(); after != before {
		c.reloads.Add(1)
		c.logger.Info("policies reloaded", "revision", after, "previous", before)
		if c.cfg.Edges && eng.HasEdgePolicies() && !c.edgesOn.Load() {
			c.logger.Warn("the new policies define edge rules, but the edge consumer starts only with policies that have them: restart to evaluate edges")
		}
	}
	return nil
}

// watch reloads the policies every ReloadInterval.
func (c *Component) watch(ctx context.Context) {
	t := time.NewTicker(c.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Reload(ctx); err != nil && ctx.Err() == nil {
				c.logger.Error("policy reload failed, keeping the policies in use",
					"revision", c.Engine().Revision(), "err", err)
			}
		}
	}
}

// Stats returns the counters.
func (c *Component) Stats() Stats {
	s := Stats{
		Evaluations:    c.evaluations.Load(),
		Alerts:         c.alerts.Load(),
		Enforce:        c.enforce.Load(),
		DecisionErrors: c.decisionErrors.Load(),
		Poison:         c.poison.Load(),
		PublishErrors:  c.publishErrors.Load(),
		Reloads:        c.reloads.Load(),
		ReloadErrors:   c.reloadErrors.Load(),
	}
	s.EdgeEvaluations = c.edgeEvals.Load()
	if eng := c.engine.Load(); eng != nil {
		s.Revision = eng.Revision()
		s.Edges = eng.EdgeStats()
	}
	return s
}

// handle decides one deviation and publishes the decision, then its
// alerts. It returns only after every publish returned, so the delivery is
// acknowledged only once its output is durable. When a publish fails, the
// outbox keeps the output and the retry of the same delivery publishes it
// again instead of deciding anew (the policies may have been reloaded in
// between); events already stored are de-duplicated by their IDs.
func (c *Component) handle(ctx context.Context, d events.Delivery) error {
	if c.outbox.Pending(d.Position()) {
		return c.countPublish(c.outbox.Flush(ctx, c.deps.Bus, d.Position()))
	}
	if d.Header.Kind != events.KindDeviation {
		return nil
	}
	ev, err := events.Decode[events.Deviation](d.Data)
	if err != nil {
		c.poison.Add(1)
		return fmt.Errorf("%w: seq %d: %w", events.ErrPoison, d.Seq, err)
	}
	dec, alerts, err := c.engine.Load().Evaluate(ctx, ev)
	if err != nil {
		return err
	}
	c.evaluations.Add(1)
	c.alerts.Add(uint64(len(alerts)))
	c.enforce.Add(uint64(len(dec.Body.Enforce)))
	if dec.Body.Error != "" {
		c.decisionErrors.Add(1)
		c.logger.Warn("policy decision recorded an error",
			"decision", dec.ID, "deviation", ev.ID, "revision", dec.Body.Revision, "err", dec.Body.Error)
	}
	out := append([]events.Message{dec}, events.Messages(alerts)...)
	return c.countPublish(c.outbox.Publish(ctx, c.deps.Bus, d.Position(), out))
}

// handleEdge decides the edge of one flow, once per edge and policy
// revision (Engine.EvaluateEdge), and publishes the decision and alerts;
// a flow on an edge already decided costs a decode and a lookup.
func (c *Component) handleEdge(ctx context.Context, d events.Delivery) error {
	if c.edgeOutbox.Pending(d.Position()) {
		return c.countPublish(c.edgeOutbox.Flush(ctx, c.deps.Bus, d.Position()))
	}
	if d.Header.Kind != events.KindFlow {
		return nil
	}
	ev, err := events.Decode[events.Flow](d.Data)
	if err != nil {
		c.poison.Add(1)
		return fmt.Errorf("%w: seq %d: %w", events.ErrPoison, d.Seq, err)
	}
	dec, alerts, err := c.engine.Load().EvaluateEdge(ctx, ev)
	if errors.Is(err, ErrEdgeCached) {
		return nil
	}
	if err != nil {
		return err
	}
	c.edgeEvals.Add(1)
	c.alerts.Add(uint64(len(alerts)))
	c.enforce.Add(uint64(len(dec.Body.Enforce)))
	if dec.Body.Error != "" {
		c.decisionErrors.Add(1)
		c.logger.Warn("edge policy decision recorded an error", "decision", dec.ID, "flow", ev.ID, "err", dec.Body.Error)
	}
	out := append([]events.Message{dec}, events.Messages(alerts)...)
	return c.countPublish(c.edgeOutbox.Publish(ctx, c.deps.Bus, d.Position(), out))
}

// countPublish counts a failed publish and returns err.
func (c *Component) countPublish(err error) error {
	if err != nil {
		c.publishErrors.Add(1)
	}
	return err
}
