package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-health/vigil/events"
)

// Bus is what the alert service needs of the event log: publish, consume
// durably, and JetStream itself for the SOC stream it owns.
type Bus interface {
	Publish(ctx context.Context, m events.Message) error
	Consume(ctx context.Context, spec events.ConsumerSpec, h events.Handler) error
	JetStream() jetstream.JetStream
}

// Dependencies of the component.
type Dependencies struct {
	Logger *slog.Logger
	Bus    Bus
	Source events.Source
	// Checkpoints stores the projection so a restart resumes without
	// replaying the whole stream; nil rebuilds from the stream's start.
	Checkpoints events.Checkpointer
	// Durable names the consumer and the checkpoint (empty: Durable).
	// Engines sharing partitions each keep the whole alert state under
	// their own name.
	Durable string
	// Replicas is the replica count of the SOC stream (the events
	// section's replicas); 0 means 1.
	Replicas int
	// Now is the clock that dates the SOC's actions (acknowledge,
	// suppress, ...); nil is time.Now. Alerts keep their own event time.
	Now func() time.Time
}

// Durable is the name of the alert service's JetStream consumer.
const Durable = "alerts"

// Component keeps the alert state (incidents, lifecycle, suppressions) as
// a projection of the alerts stream, republishes every alert on the SOC's
// per-severity subjects, and serves the Service API.
type Component struct {
	cfg    Configuration
	deps   Dependencies
	logger *slog.Logger

	mu    sync.RWMutex
	model *Model
	seq   uint64          // last alerts-stream sequence applied
	next  events.Position // where the stream resumes after it
	saved time.Time

	// socFloor is the alerts-stream sequence of the last alert already
	// republished on the SOC stream: a replay does not send them again.
	socFloor uint64
	outbox   events.Outbox
	worker   events.Worker

	wmu      sync.Mutex
	watchers map[*watcher]struct{}
	waiting  map[string]chan error

	socPublished, lagged atomic.Uint64
	stopped              atomic.Bool
}

var _ Service = (*Component)(nil)

// New returns an inert component.
func New(cfg Configuration, deps Dependencies) (*Component, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("alerts configuration: %w", errors.Join(errs...))
	}
	if deps.Bus == nil {
		return nil, errors.New("alerts: no bus")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Durable == "" {
		deps.Durable = Durable
	}
	deps.Source.Component = "alerts"
	return &Component{
		cfg: cfg, deps: deps, logger: deps.Logger.With("component", "alerts"), model: NewModel(),
		watchers: map[*watcher]struct{}{}, waiting: map[string]chan error{},
	}, nil
}

// Start declares the SOC stream, restores the last checkpoint and
// consumes the alerts stream from the event after it.
func (c *Component) Start(ctx context.Context) error {
	if err := DeclareSOCStream(ctx, c.deps.Bus.JetStream(), c.cfg.SOC, c.deps.Replicas); err != nil {
		return err
	}
	floor, err := socFloor(ctx, c.deps.Bus.JetStream())
	if err != nil {
		return err
	}
	c.socFloor = floor
	spec := events.ConsumerSpec{
		Stream: events.StreamAlerts, Durable: c.deps.Durable,
		Kinds:      []events.Kind{events.KindAlert, events.KindAlertState},
		Projection: true,
	}
	if cp := c.deps.Checkpoints; cp != nil {
		next, st, ok, err := cp.LoadCheckpoint(ctx, c.deps.Durable)
		if err != nil {
			return err
		}
		if ok {
			if err := c.model.RestoreState(st); err != nil {
				return err
			}
			spec.From, c.next, c.seq = next, next, max(next.Seq, 1)-1
			c.logger.Info("alerts restored from checkpoint", "next", next, "incidents", c.model.Stats().Incidents)
		}
	}
	c.saved = time.Now()
	c.worker.Start(ctx, c.deps.Bus, spec, c.handle)
	return nil
}

// Stop stops consuming, waits for the handler in progress, writes a final
// checkpoint and closes the live watchers.
func (c *Component) Stop(ctx context.Context) error {
	if c.stopped.Swap(true) {
		return nil
	}
	err := c.worker.Stop(ctx)
	c.wmu.Lock()
	for w := range c.watchers {
		delete(c.watchers, w)
		close(w.ch)
	}
	c.wmu.Unlock()
	return errors.Join(err, c.Checkpoint(ctx))
}

// Checkpoint saves the projection with the sequence of the last event it
// applied.
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
	return c.deps.Checkpoints.SaveCheckpoint(ctx, c.deps.Durable, next, st)
}

// Stats are the component's counters.
type Stats struct {
	ModelStats
	// Seq is the last alerts-stream sequence applied.
	Seq uint64 `json:"seq"`
	// SOCPublished counts records published on the SOC subjects; Watchers
	// the live feeds connected, Lagged those closed for falling behind.
	SOCPublished uint64 `json:"soc_published"`
	Watchers     int    `json:"watchers"`
	Lagged       uint64 `json:"lagged"`
}

// Stats returns the counters.
func (c *Component) Stats() Stats {
	c.mu.RLock()
	s := Stats{ModelStats: c.model.Stats(), Seq: c.seq}
	c.mu.RUnlock()
	c.wmu.Lock()
	s.Watchers = len(c.watchers)
	c.wmu.Unlock()
	s.SOCPublished, s.Lagged = c.socPublished.Load(), c.lagged.Load()
	return s
}

func (c *Component) handle(ctx context.Context, d events.Delivery) error {
	if c.outbox.Pending(d.Position()) {
		// A retry of a delivery already applied: publish what it produced.
		if err := c.outbox.Flush(ctx, c.deps.Bus, d.Position()); err != nil {
			return err
		}
		c.mu.Lock()
		c.seq, c.next = d.Seq, d.Next()
		c.mu.Unlock()
		return nil
	}
	var out []events.Message
	switch d.Header.Kind {
	case events.KindAlert:
		ev, err := events.DecodeDelivery[events.Alert](d)
		if err != nil {
			return err
		}
		c.mu.Lock()
		u, ok := c.model.ApplyAlert(d.Seq, ev)
		c.mu.Unlock()
		if ok {
			c.notify(u)
			if d.Seq > c.socFloor {
				out = c.socOutput(d.Seq, u)
			}
		}
	case events.KindAlertState:
		ev, err := events.DecodeDelivery[events.AlertState](d)
		if err != nil {
			return err
		}
		c.mu.Lock()
		u, ok, why := c.model.ApplyState(d.Seq, ev)
		c.mu.Unlock()
		if why != nil {
			c.logger.Warn("alert state event not applied", "id", ev.ID, "action", ev.Body.Action, "actor", ev.Body.Actor, "err", why)
		}
		if ok {
			c.notify(u)
			if u.Type == UpdateTransition && d.Seq > c.socFloor {
				out = []events.Message{NewTransitionRecord(d.Seq, u)}
			}
		}
		c.done(ev.ID, why)
	}
	if err := c.outbox.Publish(ctx, c.deps.Bus, d.Position(), out); err != nil {
		return err
	}
	c.socPublished.Add(uint64(countSOC(out)))
	c.mu.Lock()
	c.seq, c.next = d.Seq, d.Next()
	c.mu.Unlock()
	if time.Since(c.saved) >= c.cfg.CheckpointEvery {
		c.saved = time.Now()
		if err := c.Checkpoint(ctx); err != nil {
			c.logger.Warn("checkpoint failed; the next one will retry", "err", err)
		}
	}
	return nil
}

// socOutput is what an applied alert publishes: the reopen it caused (an
// alert_state event, for the record and the SOC) and its SOC record.
func (c *Component) socOutput(seq uint64, u Update) []events.Message {
	var out []events.Message
	if u.Reopened {
		a := u.Alert
		out = append(out, events.MustEvent(a.Time, c.deps.Source, events.AlertState{
			Action: events.AlertReopen, Incident: u.Incident.ID, Device: a.Body.Device.Key,
			Actor: SystemActor, Note: "a new alert of the resolved incident", AlertID: a.ID,
		}))
	}
	return append(out, NewRecord(seq, u))
}

func countSOC(out []events.Message) int {
	n := 0
	for _, m := range out {
		if _, ok := m.(Record); ok {
			n++
		}
	}
	return n
}

// Incidents implements Service.
func (c *Component) Incidents(q Query) Page {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.model.Incidents(q)
}

// Incident implements Service.
func (c *Component) Incident(id string) (Incident, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.model.Incident(id)
}

// Suppressions implements Service.
func (c *Component) Suppressions() []Suppression {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.model.Suppressions()
}

// Acknowledge implements Service.
func (c *Component) Acknowledge(ctx context.Context, id string, a Action) (Incident, error) {
	return c.act(ctx, id, events.AlertAcknowledge, a)
}

// Resolve implements Service.
func (c *Component) Resolve(ctx context.Context, id string, a Action) (Incident, error) {
	return c.act(ctx, id, events.AlertResolve, a)
}

// Reopen implements Service.
func (c *Component) Reopen(ctx context.Context, id string, a Action) (Incident, error) {
	return c.act(ctx, id, events.AlertReopen, a)
}

// maxText bounds the free text of an action (a note, a reason): the
// events carrying it are kept for a year.
const maxText = 4096

func (c *Component) act(ctx context.Context, id string, action events.AlertAction, a Action) (Incident, error) {
	if strings.TrimSpace(a.Actor) == "" {
		return Incident{}, fmt.Errorf("%w: actor is required", ErrInvalid)
	}
	if len(a.Note) > maxText || len(a.Actor) > 256 {
		return Incident{}, fmt.Errorf("%w: note longer than %d bytes or actor longer than 256", ErrInvalid, maxText)
	}
	c.mu.RLock()
	inc, ok := c.model.incidents[id]
	var key string
	var err error
	if ok {
		key = inc.Device.Key
		_, err = next(inc.State, action)
	}
	c.mu.RUnlock()
	if !ok {
		return Incident{}, fmt.Errorf("%w: incident %q", ErrNotFound, id)
	}
	if err != nil {
		return Incident{}, err
	}
	ev := events.MustEvent(c.deps.Now(), c.deps.Source, events.AlertState{
		Action: action, Incident: id, Device: key, Actor: a.Actor, Note: a.Note,
	})
	if err := c.publishAndWait(ctx, ev); err != nil {
		return Incident{}, err
	}
	got, _ := c.Incident(id)
	return got, nil
}

// Suppress implements Service.
func (c *Component) Suppress(ctx context.Context, s SuppressionSpec) (Suppression, error) {
	var problems []string
	if strings.TrimSpace(s.Actor) == "" {
		problems = append(problems, "actor is required")
	}
	if strings.TrimSpace(s.Reason) == "" {
		problems = append(problems, "reason is required")
	}
	if strings.TrimSpace(s.Owner) == "" {
		problems = append(problems, "owner is required")
	}
	if len(s.Reason) > maxText || len(s.Owner) > 256 || len(s.Actor) > 256 {
		problems = append(problems, fmt.Sprintf("reason longer than %d bytes, or owner or actor longer than 256", maxText))
	}
	if s.Rule == "" && s.Device == "" && s.Peer == "" && s.Category == "" {
		problems = append(problems, "scope is empty: set at least one of rule, device, peer and category")
	}
	for _, b := range []struct {
		name string
		sev  events.Severity
	}{{"min_severity", s.MinSeverity}, {"max_severity", s.MaxSeverity}} {
		if b.sev != "" && Rank(b.sev) == 0 {
			problems = append(problems, fmt.Sprintf("%s %q is not info, low, medium, high or critical", b.name, b.sev))
		}
	}
	if s.MinSeverity != "" && s.MaxSeverity != "" && Rank(s.MinSeverity) > Rank(s.MaxSeverity) {
		problems = append(problems, "min_severity is above max_severity")
	}
	now := c.deps.Now()
	if !s.Expires.IsZero() && !s.Expires.After(now) {
		problems = append(problems, fmt.Sprintf("expires %s is not in the future", s.Expires.Format(time.RFC3339)))
	}
	if len(problems) > 0 {
		return Suppression{}, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	body := s.AlertSuppression
	if !body.Expires.IsZero() {
		body.Expires = body.Expires.UTC()
	}
	ev := events.MustEvent(now, c.deps.Source, events.AlertState{Action: events.AlertSuppress, Actor: s.Actor, Suppression: &body})
	if err := c.publishAndWait(ctx, ev); err != nil {
		return Suppression{}, err
	}
	for _, sup := range c.Suppressions() {
		if sup.ID == ev.ID {
			return sup, nil
		}
	}
	return Suppression{}, fmt.Errorf("suppression %s was published but is not in force", ev.ID)
}

// Unsuppress implements Service.
func (c *Component) Unsuppress(ctx context.Context, id string, a Action) error {
	if strings.TrimSpace(a.Actor) == "" {
		return fmt.Errorf("%w: actor is required", ErrInvalid)
	}
	if len(a.Note) > maxText || len(a.Actor) > 256 {
		return fmt.Errorf("%w: note longer than %d bytes or actor longer than 256", ErrInvalid, maxText)
	}
	c.mu.RLock()
	_, ok := c.model.suppressions[id]
	c.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: suppression %q", ErrNotFound, id)
	}
	ev := events.MustEvent(c.deps.Now(), c.deps.Source, events.AlertState{
		Action: events.AlertUnsuppress, SuppressionID: id, Actor: a.Actor, Note: a.Note,
	})
	return c.publishAndWait(ctx, ev)
}

// publishAndWait publishes an alert_state event and waits until the
// projection applied it, so the caller reads its own change; it returns
// why the projection did not apply it, if it did not (another person
// resolved the incident a moment before, say).
func (c *Component) publishAndWait(ctx context.Context, ev events.Event[events.AlertState]) error {
	ch := make(chan error, 1)
	c.wmu.Lock()
	c.waiting[ev.ID] = ch
	c.wmu.Unlock()
	defer func() {
		c.wmu.Lock()
		delete(c.waiting, ev.ID)
		c.wmu.Unlock()
	}()
	if err := c.deps.Bus.Publish(ctx, ev); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%s %s was stored but not yet applied: %w", ev.Body.Action, ev.ID, ctx.Err())
	}
}

func (c *Component) done(id string, why error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if ch, ok := c.waiting[id]; ok {
		ch <- why
		delete(c.waiting, id)
	}
}

type watcher struct {
	ch  chan Update
	min int
}

// Watch implements Service.
func (c *Component) Watch(ctx context.Context, minSeverity events.Severity) <-chan Update {
	w := &watcher{ch: make(chan Update, c.cfg.WatchBuffer), min: max(Rank(minSeverity), 1)}
	c.wmu.Lock()
	c.watchers[w] = struct{}{}
	c.wmu.Unlock()
	context.AfterFunc(ctx, func() {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		if _, ok := c.watchers[w]; ok {
			delete(c.watchers, w)
			close(w.ch)
		}
	})
	return w.ch
}

// notify hands u to every watcher that wants it, without ever waiting: a
// watcher whose buffer is full is closed and counted.
func (c *Component) notify(u Update) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for w := range c.watchers {
		if Rank(u.Severity()) < w.min && u.Type != UpdateSuppress && u.Type != UpdateUnsuppress {
			continue
		}
		select {
		case w.ch <- u:
		default:
			delete(c.watchers, w)
			close(w.ch)
			c.lagged.Add(1)
			c.logger.Warn("live alert watcher fell behind and was disconnected", "buffer", c.cfg.WatchBuffer)
		}
	}
}

// The SOC stream: every alert, republished on a subject per severity.
const (
	// SOCStream holds the SOC records and the outputs' dead letters.
	SOCStream = "VIGIL_V1_SOC"
	// SOCPrefix starts the SOC subjects: <prefix>.<severity> for alerts no
	// suppression hides, <prefix>.suppressed.<severity> for the others,
	// <prefix>.state.<severity> for incidents' lifecycle changes,
	// <prefix>.deadletter.<output> for what an output gave up on.
	SOCPrefix = events.SubjectPrefix + ".soc"
)

// SOCSubject is the subject of a record of severity sev.
func SOCSubject(sev events.Severity, suppressed bool) string {
	if suppressed {
		return SOCPrefix + ".suppressed." + string(sev)
	}
	return SOCPrefix + "." + string(sev)
}

// SOCStateSubject is the subject of the lifecycle records of incidents of
// severity sev: <prefix>.state.<severity>, or
// <prefix>.suppressed.state.<severity>.
func SOCStateSubject(sev events.Severity, suppressed bool) string {
	if suppressed {
		return SOCPrefix + ".suppressed.state." + string(sev)
	}
	return SOCPrefix + ".state." + string(sev)
}

// DeadLetterSubject is where output name puts what it gave up on.
func DeadLetterSubject(output string) string { return SOCPrefix + ".deadletter." + output }

// DeclareSOCStream creates or updates the SOC stream.
func DeclareSOCStream(ctx context.Context, js jetstream.JetStream, limits events.StreamLimits, replicas int) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        SOCStream,
		Description: "Vigil " + events.Version + " alerts by severity for the SOC, and output dead letters",
		Subjects:    []string{SOCPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
		MaxAge:      limits.MaxAge,
		MaxBytes:    limits.MaxBytes,
		Duplicates:  2 * time.Hour,
		Discard:     jetstream.DiscardOld,
	})
	if err != nil {
		return fmt.Errorf("declare stream %s: %w", SOCStream, err)
	}
	return nil
}

// socFloor reads the alerts-stream sequence of the last record on the SOC
// stream: alerts up to it were republished already.
func socFloor(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	st, err := js.Stream(ctx, SOCStream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", SOCStream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", SOCStream, err)
	}
	// The last messages may be dead letters: look back until a record.
	for seq := info.State.LastSeq; seq >= info.State.FirstSeq && seq > 0 && info.State.LastSeq-seq < 10000; seq-- {
		msg, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("stream %s seq %d: %w", SOCStream, seq, err)
		}
		if strings.HasPrefix(msg.Subject, SOCPrefix+".deadletter.") {
			continue
		}
		var r struct {
			AlertSeq uint64 `json:"alert_seq"`
		}
		if json.Unmarshal(msg.Data, &r) == nil && r.AlertSeq > 0 {
			return r.AlertSeq, nil
		}
		break
	}
	// No record: the service starts for the first time (or every record
	// expired). The SOC subjects start with the alerts raised from now on,
	// rather than flooding the SOC with the stream's whole history.
	al, err := js.Stream(ctx, events.StreamAlerts)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", events.StreamAlerts, err)
	}
	ainfo, err := al.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", events.StreamAlerts, err)
	}
	return ainfo.State.LastSeq, nil
}
