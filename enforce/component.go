package enforce

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-health/vigil/events"
)

// Bus is what the enforcement engine needs of the event log: decisions and
// alerts in, enforcement events out, and JetStream for the key-value
// bucket of the desired set.
type Bus interface {
	Publish(ctx context.Context, m events.Message) error
	Consume(ctx context.Context, spec events.ConsumerSpec, h events.Handler) error
	JetStream() jetstream.JetStream
}

// Dependencies of the component.
type Dependencies struct {
	Logger *slog.Logger
	Bus    Bus
	// Source names this engine in the events it publishes (Component is
	// set to "enforce").
	Source events.Source
	// Backends are the enforcement points; each gets its own
	// reconciliation loop. None is allowed: the desired set is then
	// recorded and gated only.
	Backends []Backend
	// Now is the wall clock (time.Now when nil): the enforcement clock is
	// the later of it and the latest event time (see Component.Clock).
	Now func() time.Time
	// EventTimeOnly makes the enforcement clock the latest event time
	// alone: an offline analysis of a recording (always dry-run) shows the
	// blocks as they stood at the end of the capture, the same on every
	// run, instead of expiring them all against today's date.
	EventTimeOnly bool
}

// record is a block with the revision of its key and when (wall clock)
// the bucket forgets it, its key's TTL: memory forgets it then too.
type record struct {
	Block
	rev    uint64
	forget time.Time
}

// forgetAt is when a key written now with ttl goes.
func (c *Component) forgetAt(ttl time.Duration) time.Time { return c.deps.Now().Add(ttl) }

// killRecord is the persisted runtime kill switch.
type killRecord struct {
	On    bool      `json:"on"`
	Actor string    `json:"actor"`
	Time  time.Time `json:"time"`
}

// Component turns the enforcement requests of policy decisions into a
// desired set of blocks held in JetStream key-value storage, passes each
// through the patient-safety gate, and reconciles every backend with the
// blocks that may be enforced.
type Component struct {
	cfg    Configuration
	deps   Dependencies
	logger *slog.Logger
	gate   *gate

	store *store

	// wmu serialises changes (handler, API, expiry), so each is a
	// read-modify-write of the bucket at a known revision; mu guards the
	// in-memory copy that readers and reconcilers use.
	wmu        sync.Mutex
	mu         sync.RWMutex
	blocks     map[string]*record
	eventClock time.Time
	kill       killRecord
	rate       rateBucket

	outbox events.Outbox
	worker events.Worker
	recs   []*reconciler

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped atomic.Bool
}

// New returns an inert component.
func New(cfg Configuration, deps Dependencies) (*Component, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("enforce configuration: %w", errors.Join(errs...))
	}
	if deps.Bus == nil {
		return nil, errors.New("enforce: no bus")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	deps.Source.Component = "enforce"
	names := map[string]bool{}
	for _, b := range deps.Backends {
		if names[b.Name()] {
			return nil, fmt.Errorf("enforce: two backends named %q", b.Name())
		}
		names[b.Name()] = true
	}
	c := &Component{cfg: cfg, deps: deps, logger: deps.Logger.With("component", "enforce"),
		gate: newGate(cfg), blocks: map[string]*record{}}
	for _, b := range deps.Backends {
		c.recs = append(c.recs, newReconciler(c, b))
	}
	return c, nil
}

// Start opens the bucket, loads the desired set and the kill switch,
// starts one reconciliation loop per backend (the first pass re-asserts
// the desired set after a restart) and consumes decisions and alerts.
func (c *Component) Start(ctx context.Context) error {
	js := c.deps.Bus.JetStream()
	if js == nil {
		return errors.New("start enforce: the bus is not started")
	}
	var err error
	if c.store, err = openStore(ctx, js, c.cfg.Bucket); err != nil {
		return fmt.Errorf("start enforce: %w", err)
	}
	if err := c.store.blocks(ctx, func(b Block, rev uint64) {
		c.blocks[b.ID] = &record{Block: b, rev: rev, forget: c.forgetAt(c.cfg.Retain)}
		if b.Created.After(c.eventClock) {
			c.eventClock = b.Created
		}
	}); err != nil {
		return fmt.Errorf("start enforce: %w", err)
	}
	if _, err := c.store.get(ctx, keyKillSwitch, &c.kill); err != nil {
		return fmt.Errorf("start enforce: %w", err)
	}
	if _, err := c.store.get(ctx, keyRate, &c.rate); err != nil {
		return fmt.Errorf("start enforce: %w", err)
	}
	c.logger.Info("desired set loaded", "blocks", len(c.blocks), "dry_run", c.cfg.DryRun,
		"kill_switch", c.killSwitch() != "", "backends", len(c.recs))

	loops, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	for _, r := range c.recs {
		c.wg.Go(func() { r.run(loops) })
	}
	c.wg.Go(func() { c.expiryLoop(loops) })
	c.worker.Start(ctx, c.deps.Bus, events.ConsumerSpec{
		Stream:  events.StreamAlerts,
		Durable: c.cfg.Durable,
		Kinds:   []events.Kind{events.KindDecision, events.KindAlert},
	}, c.handle)
	return nil
}

// Stop stops the consumer, then the loops. What is installed stays
// installed: blocks outlive the process and are re-asserted at start.
func (c *Component) Stop(ctx context.Context) error {
	if !c.stopped.CompareAndSwap(false, true) {
		return nil
	}
	err := c.worker.Stop(ctx)
	if c.cancel != nil {
		c.cancel()
		done := make(chan struct{})
		go func() { c.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return errors.Join(err, fmt.Errorf("stop enforce loops: %w", ctx.Err()))
		}
	}
	return err
}

// Clock is the enforcement clock: the later of the latest event time
// seen and the wall clock (the event time alone with EventTimeOnly). Blocks end by it, so a replay of old events
// does not revive old blocks and a live system whose traffic went quiet
// still ends its blocks on time.
func (c *Component) Clock() time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.clockLocked()
}

func (c *Component) clockLocked() time.Time {
	if c.deps.EventTimeOnly {
		return c.eventClock
	}
	wall := c.deps.Now().UTC()
	if c.eventClock.After(wall) {
		return c.eventClock
	}
	return wall
}

// killSwitch returns who holds the kill switch on, "" when it is off.
func (c *Component) killSwitch() string {
	if c.cfg.KillSwitch {
		return "configuration enforce.kill_switch"
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.kill.On {
		return "set by " + c.kill.Actor
	}
	return ""
}

// ttl is how long the bucket keeps a block: until its end by the
// enforcement clock, plus the retention.
func (c *Component) ttl(b *Block, now time.Time) time.Duration {
	return max(b.Expires.Sub(now), 0) + c.cfg.Retain
}

// handle processes one decision or alert.
func (c *Component) handle(ctx context.Context, d events.Delivery) error {
	if c.outbox.Pending(d.Position()) {
		if err := c.outbox.Flush(ctx, c.deps.Bus, d.Position()); err != nil {
			return err
		}
		c.triggerAll()
		return nil
	}
	var (
		out []events.Message
		err error
	)
	// A failed delivery is retried: the rate limit must not count its
	// blocks twice.
	c.mu.RLock()
	rate := c.rate
	c.mu.RUnlock()
	defer func() {
		if err != nil {
			c.mu.Lock()
			c.rate = rate
			c.mu.Unlock()
		}
	}()
	switch d.Header.Kind {
	case events.KindDecision:
		ev, derr := events.DecodeDelivery[events.Decision](d)
		if derr != nil {
			return derr
		}
		out, err = c.onDecision(ctx, ev)
	case events.KindAlert:
		ev, derr := events.DecodeDelivery[events.Alert](d)
		if derr != nil {
			return derr
		}
		out, err = c.onAlert(ctx, ev)
	default:
		return nil
	}
	if err != nil {
		return err
	}
	more, err := c.awaitTimeouts(ctx)
	if err != nil {
		return err
	}
	out = append(out, more...)
	// The audit comes first: the reconcilers' applied steps follow the
	// requested and gate steps in the stream.
	if perr := c.outbox.Publish(ctx, c.deps.Bus, d.Position(), out); perr != nil {
		return perr
	}
	if len(out) > 0 {
		c.triggerAll()
	}
	return nil
}

func (c *Component) advance(at time.Time) {
	c.mu.Lock()
	if at.After(c.eventClock) {
		c.eventClock = at.UTC()
	}
	c.mu.Unlock()
}

// onDecision adds a block per enforcement request. A decision that raised
// alerts is judged when its first alert brings the device snapshot.
func (c *Component) onDecision(ctx context.Context, ev events.Event[events.Decision]) ([]events.Message, error) {
	c.advance(ev.Time)
	if len(ev.Body.Enforce) == 0 {
		return nil, nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var out []events.Message
	for _, req := range ev.Body.Enforce {
		id := RequestID(ev.ID, req)
		c.mu.RLock()
		existing, ok := c.blocks[id]
		c.mu.RUnlock()
		if ok { // redelivered: publish its events again, de-duplicated by ID
			out = append(out, c.creationEvents(&existing.Block)...)
			continue
		}
		b := &Block{
			ID: id, State: StateAwaiting, Scope: req.Scope,
			Created: ev.Time, Expires: ev.Time.Add(time.Duration(req.DurationS) * time.Second), DurationS: req.DurationS,
			Reason: req.Reason, Device: ev.Body.Device, DecisionID: ev.ID, DryRun: c.cfg.DryRun,
		}
		if ev.Body.Alerts == 0 {
			c.judge(b, nil, ev.Time)
		}
		ttl := c.ttl(b, c.Clock())
		rev, created, err := c.store.create(ctx, blockPrefix+id, b, ttl)
		if err != nil {
			return nil, err
		}
		if !created { // stored by another writer or a try whose answer was lost: take the stored one
			stored, rev, err := c.store.block(ctx, id)
			if err != nil {
				return nil, err
			}
			c.mu.Lock()
			c.blocks[id] = &record{Block: stored, rev: rev, forget: c.forgetAt(c.cfg.Retain)}
			c.mu.Unlock()
			out = append(out, c.creationEvents(&stored)...)
			continue
		}
		if err := c.saveRate(ctx); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.blocks[id] = &record{Block: *b, rev: rev, forget: c.forgetAt(ttl)}
		c.mu.Unlock()
		out = append(out, c.creationEvents(b)...)
	}
	return out, nil
}

// onAlert gives the blocks of the alert's decision their device snapshot
// and judges them.
func (c *Component) onAlert(ctx context.Context, ev events.Event[events.Alert]) ([]events.Message, error) {
	c.advance(ev.Time)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var out []events.Message
	for _, r := range c.awaiting(func(b *Block) bool { return b.DecisionID == ev.Body.DecisionID }) {
		b := r.Block
		snap := ev.Body.Device
		b.Snapshot, b.AlertID = &snap, ev.ID
		c.judge(&b, ev.Body.Peer, ev.Time)
		msgs, err := c.commitJudged(ctx, r, &b)
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
	}
	return out, nil
}

// awaitTimeouts judges, without a snapshot, the blocks whose alert did not
// come within AwaitAlert of event time.
func (c *Component) awaitTimeouts(ctx context.Context) ([]events.Message, error) {
	c.mu.RLock()
	clock := c.eventClock
	c.mu.RUnlock()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var out []events.Message
	for _, r := range c.awaiting(func(b *Block) bool { return !clock.Before(b.Created.Add(c.cfg.AwaitAlert)) }) {
		b := r.Block
		c.judge(&b, nil, b.Created.Add(c.cfg.AwaitAlert))
		msgs, err := c.commitJudged(ctx, r, &b)
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
	}
	return out, nil
}

// awaiting returns the awaiting blocks that match, oldest first.
func (c *Component) awaiting(match func(*Block) bool) []record {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var rs []record
	for _, r := range c.blocks {
		if r.State == StateAwaiting && match(&r.Block) {
			rs = append(rs, *r)
		}
	}
	slices.SortFunc(rs, func(a, b record) int { return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID)) })
	return rs
}

func (c *Component) commitJudged(ctx context.Context, r record, b *Block) ([]events.Message, error) {
	ttl := c.ttl(b, c.Clock())
	rev, err := c.store.update(ctx, blockPrefix+b.ID, b, r.rev, ttl)
	if err != nil {
		return nil, err
	}
	if err := c.saveRate(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.blocks[b.ID] = &record{Block: *b, rev: rev, forget: c.forgetAt(ttl)}
	c.mu.Unlock()
	return c.creationEvents(b)[1:], nil // the requested step was published with the decision
}

// judge runs the gate over b at event time at.
func (c *Component) judge(b *Block, peer *events.Endpoint, at time.Time) {
	kill := c.killSwitch()
	j := c.gate.judge(b, peer, kill, func() (bool, float64) {
		c.mu.Lock()
		defer c.mu.Unlock()
		ok := c.rate.take(c.cfg.RateLimit, at)
		return ok, c.rate.Tokens
	})
	if j.narrowed {
		req := b.Scope
		b.Requested = &req
	}
	b.Scope, b.State, b.Verdict, b.Gate, b.Judged = j.scope, j.state, j.state, j.reasons, at
}

func (c *Component) saveRate(ctx context.Context) error {
	if c.cfg.RateLimit.Blocks == 0 {
		return nil
	}
	c.mu.RLock()
	r := c.rate
	c.mu.RUnlock()
	return c.store.put(ctx, keyRate, r)
}

// creationEvents are the requested step and, once judged, the gate's
// step: the same content every time, so a re-publish is de-duplicated.
func (c *Component) creationEvents(b *Block) []events.Message {
	scope := b.Scope
	if b.Requested != nil {
		scope = *b.Requested
	}
	out := []events.Message{c.event(b.Created, b, events.StepRequested, scope, "", b.Reason, "", withState(StateAwaiting))}
	if b.Verdict == "" {
		return out
	}
	step := events.StepGated
	if b.Verdict == StateActive {
		step = events.StepApproved
	}
	// What the gate decided and knew, so that the block can be rebuilt
	// from the events alone (Replay).
	return append(out, c.event(b.Judged, b, step, b.Scope, "", strings.Join(b.Gate, "; "), "", func(e *events.Enforcement) {
		e.State, e.Requested, e.Gate, e.Snapshot = string(b.Verdict), b.Requested, b.Gate, b.Snapshot
	}))
}

// withState sets the block's state after the step on its event.
func withState(s State) func(*events.Enforcement) {
	return func(e *events.Enforcement) { e.State = string(s) }
}

func (c *Component) event(at time.Time, b *Block, step events.EnforcementStep, scope events.BlockScope, backend, reason, actor string, more ...func(*events.Enforcement)) events.Message {
	body := events.Enforcement{
		Step: step, RequestID: b.ID, Device: b.Device, Scope: scope, DurationS: b.DurationS,
		Backend: backend, DryRun: b.DryRun, Reason: reason,
		AlertID: b.AlertID, DecisionID: b.DecisionID, Actor: actor,
	}
	for _, f := range more {
		f(&body)
	}
	return events.MustEvent(at, c.deps.Source, body)
}

// publish sends events outside a delivery (API actions, reconciliation),
// retrying within ctx: the change they audit is already stored.
func (c *Component) publish(ctx context.Context, msgs ...events.Message) error {
	for _, m := range msgs {
		backoff := 50 * time.Millisecond
		for {
			err := c.deps.Bus.Publish(ctx, m)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("publish enforcement event: %w", err)
			}
			c.logger.Warn("publish enforcement event failed, retrying", "err", err)
			select {
			case <-ctx.Done():
				return fmt.Errorf("publish enforcement event: %w", err)
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
	return nil
}

// expiryLoop ends blocks whose end passed while no event arrived.
func (c *Component) expiryLoop(ctx context.Context) {
	t := time.NewTicker(min(c.cfg.ReconcileInterval, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := c.Expire(ctx); err != nil {
				c.logger.Warn("expire blocks", "err", err)
			} else if n > 0 {
				c.triggerAll()
			}
		}
	}
}

// Expire marks the pending and active blocks whose end passed by the
// enforcement clock as expired and publishes their expired step (at the
// block's end: the same event whenever it is noticed). It returns how
// many ended.
func (c *Component) Expire(ctx context.Context) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.RLock()
	now := c.clockLocked()
	var due []record
	for _, r := range c.blocks {
		if (r.State == StatePending || r.State == StateActive) && !now.Before(r.Expires) {
			due = append(due, *r)
		}
	}
	c.mu.RUnlock()
	slices.SortFunc(due, func(a, b record) int { return cmp.Or(a.Expires.Compare(b.Expires), strings.Compare(a.ID, b.ID)) })
	for _, r := range due {
		b := r.Block
		was := b.State
		b.State = StateExpired
		rev, err := c.store.update(ctx, blockPrefix+b.ID, &b, r.rev, c.cfg.Retain)
		if err != nil {
			return 0, err
		}
		c.mu.Lock()
		c.blocks[b.ID] = &record{Block: b, rev: rev, forget: c.forgetAt(c.cfg.Retain)}
		c.mu.Unlock()
		reason := fmt.Sprintf("ended after %ds", b.DurationS)
		if was == StatePending {
			reason += " while waiting for approval"
		}
		if err := c.publish(ctx, c.event(b.Expires, &b, events.StepExpired, b.Scope, "", reason, "", withState(StateExpired))); err != nil {
			return 0, err
		}
	}
	// Forget what the bucket forgot (its key's TTL passed).
	wall := c.deps.Now()
	c.mu.Lock()
	for id, r := range c.blocks {
		if !r.State.live() && wall.After(r.forget) {
			delete(c.blocks, id)
		}
	}
	c.mu.Unlock()
	return len(due), nil
}

func (s State) live() bool { return s == StateAwaiting || s == StatePending || s == StateActive }

func (c *Component) triggerAll() {
	for _, r := range c.recs {
		r.trigger()
	}
}

// Desired implements Service.
func (c *Component) Desired(context.Context) ([]Block, error) {
	return c.list(func(*Block) bool { return true }), nil
}

// Pending implements Service.
func (c *Component) Pending(context.Context) ([]Block, error) {
	return c.list(func(b *Block) bool { return b.State == StatePending }), nil
}

func (c *Component) list(keep func(*Block) bool) []Block {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := []Block{}
	for _, r := range c.blocks {
		if keep(&r.Block) {
			out = append(out, r.Block)
		}
	}
	slices.SortFunc(out, func(a, b Block) int { return cmp.Or(b.Created.Compare(a.Created), strings.Compare(a.ID, b.ID)) })
	return out
}

// Block implements Service.
func (c *Component) Block(_ context.Context, id string) (Block, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.blocks[id]
	if !ok {
		return Block{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return r.Block, nil
}

// Approve implements Service.
func (c *Component) Approve(ctx context.Context, id, actor, note string) (Block, error) {
	return c.act(ctx, id, actor, note, events.StepApproved, func(b *Block, now time.Time) error {
		if b.State != StatePending {
			return fmt.Errorf("%w: %s is %s, only a pending block can be approved", ErrState, id, b.State)
		}
		if !now.Before(b.Expires) {
			return fmt.Errorf("%w: %s ended at %s", ErrState, id, b.Expires.Format(time.RFC3339))
		}
		b.State = StateActive
		return nil
	})
}

// Revoke implements Service.
func (c *Component) Revoke(ctx context.Context, id, actor, note string) (Block, error) {
	return c.act(ctx, id, actor, note, events.StepRevoked, func(b *Block, _ time.Time) error {
		if !b.State.live() {
			return fmt.Errorf("%w: %s is already %s", ErrState, id, b.State)
		}
		b.State = StateRevoked
		return nil
	})
}

func (c *Component) act(ctx context.Context, id, actor, note string, step events.EnforcementStep, change func(*Block, time.Time) error) (Block, error) {
	if strings.TrimSpace(actor) == "" {
		return Block{}, fmt.Errorf("%s %s: the actor is required", step, id)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.RLock()
	r, ok := c.blocks[id]
	now := c.clockLocked()
	c.mu.RUnlock()
	if !ok {
		return Block{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	b := r.Block
	b.History = slices.Clone(b.History)
	if err := change(&b, now); err != nil {
		return Block{}, err
	}
	b.History = append(b.History, Action{Step: string(step), Actor: actor, Note: note, Time: now})
	ttl := c.ttl(&b, now)
	if b.State == StateRevoked {
		ttl = c.cfg.Retain
	}
	rev, err := c.store.update(ctx, blockPrefix+id, &b, r.rev, ttl)
	if err != nil {
		return Block{}, err
	}
	c.mu.Lock()
	c.blocks[id] = &record{Block: b, rev: rev, forget: c.forgetAt(ttl)}
	c.mu.Unlock()
	c.logger.Info("block "+string(step), "id", id, "actor", actor, "note", note)
	reason := string(step) + " by " + actor
	if note != "" {
		reason += ": " + note
	}
	c.triggerAll()
	if err := c.publish(ctx, c.event(now, &b, step, b.Scope, "", reason, actor, func(e *events.Enforcement) {
		e.State, e.Note = string(b.State), note
	})); err != nil {
		return b, fmt.Errorf("%s %s stored, audit event not published: %w", step, id, err)
	}
	return b, nil
}

// SetKillSwitch implements Service.
func (c *Component) SetKillSwitch(ctx context.Context, on bool, actor string) error {
	if strings.TrimSpace(actor) == "" {
		return errors.New("kill switch: the actor is required")
	}
	if !on && c.cfg.KillSwitch {
		return fmt.Errorf("kill switch: %w; change the configuration to turn it off", ErrKillSwitchForced)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	rec := killRecord{On: on, Actor: actor, Time: c.Clock()}
	if err := c.store.put(ctx, keyKillSwitch, rec); err != nil {
		return fmt.Errorf("kill switch: %w", err)
	}
	c.mu.Lock()
	c.kill = rec
	c.mu.Unlock()
	c.logger.Warn("kill switch changed", "on", on, "actor", actor)
	c.triggerAll()
	// Audited as a step of the pseudo-request "kill-switch": gated (all
	// enforcement held) or approved (resumed).
	step, reason := events.StepApproved, "kill switch turned off by "+actor+": enforcement resumes"
	if on {
		step, reason = events.StepGated, "kill switch turned on by "+actor+": every backend is emptied of Vigil's entries"
	}
	ev := events.MustEvent(rec.Time, c.deps.Source, events.Enforcement{Step: step, RequestID: KillSwitchRequestID,
		DryRun: c.cfg.DryRun, Reason: reason, Actor: actor})
	if err := c.publish(ctx, ev); err != nil {
		return fmt.Errorf("kill switch stored, audit event not published: %w", err)
	}
	return nil
}

// KillSwitchRequestID is the request ID of the enforcement events that
// audit the kill switch.
const KillSwitchRequestID = "kill-switch"

// Status implements Service.
func (c *Component) Status() Status {
	c.mu.RLock()
	s := Status{DryRun: c.cfg.DryRun, Clock: c.clockLocked(), States: map[State]int{}}
	for _, r := range c.blocks {
		s.States[r.State]++
	}
	rate := c.rate
	c.mu.RUnlock()
	s.RateLimit = "off"
	if r := c.cfg.RateLimit; r.Blocks > 0 {
		rate.refill(r, s.Clock)
		s.RateLimit, s.RateTokens = fmt.Sprintf("%d per %s, burst %d", r.Blocks, r.Per, r.Burst), rate.Tokens
	}
	if k := c.killSwitch(); k != "" {
		s.KillSwitch, s.KillSwitchBy = true, k
	}
	for _, r := range c.recs {
		s.Backends = append(s.Backends, r.statusCopy())
	}
	return s
}

// Plan implements Service.
func (c *Component) Plan(ctx context.Context) ([]Change, error) {
	var out []Change
	for _, r := range c.recs {
		changes, err := r.plan(ctx)
		if err != nil {
			return nil, fmt.Errorf("plan %s: %w", r.b.Name(), err)
		}
		out = append(out, changes...)
	}
	// What dry-run blocks would do, so that dry-run can be judged.
	for _, b := range c.list(func(b *Block) bool { return b.DryRun && b.State == StateActive }) {
		for _, r := range c.recs {
			if r.b.Supports(b.Scope) {
				out = append(out, Change{Backend: r.b.Name(), Op: "add", Entry: b.entry(), Why: "dry run: would be applied"})
			}
		}
	}
	return out, nil
}

func (b *Block) entry() Entry {
	return Entry{ID: b.ID, Scope: b.Scope, Expires: b.Expires, Reason: b.Reason}
}

// desired returns, for one backend, the entries it should hold now and
// how many enforceable blocks it cannot hold. Blocks with the same scope
// become one entry: the one that ends last.
func (c *Component) desired(b Backend) (map[string]Entry, map[string]*Block, int) {
	kill := c.killSwitch() != ""
	c.mu.RLock()
	defer c.mu.RUnlock()
	now := c.clockLocked()
	byScope := map[events.BlockScope]*Block{}
	known := make(map[string]*Block, len(c.blocks))
	unsupported := 0
	for _, r := range c.blocks {
		blk := &r.Block
		known[blk.ID] = blk
		if kill || blk.State != StateActive || blk.DryRun || !now.Before(blk.Expires) {
			continue
		}
		if !b.Supports(blk.Scope) {
			unsupported++
			continue
		}
		if cur, ok := byScope[blk.Scope]; !ok || blk.Expires.After(cur.Expires) || (blk.Expires.Equal(cur.Expires) && blk.ID < cur.ID) {
			byScope[blk.Scope] = blk
		}
	}
	out := make(map[string]Entry, len(byScope))
	for _, blk := range byScope {
		out[blk.ID] = blk.entry()
	}
	return out, known, unsupported
}

// sortedEntries returns the map's entries by ID.
func sortedEntries(m map[string]Entry) []Entry {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.ID, b.ID) })
	return out
}
