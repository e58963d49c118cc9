package enforce

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vigil-health/vigil/events"
)

// reconciler keeps one backend equal to the desired set: it reads what
// the backend holds, applies the difference, and reports what changed
// behind Vigil's back.
type reconciler struct {
	c    *Component
	b    Backend
	wake chan struct{}
	// passing serialises passes (the loop and Reconcile).
	passing sync.Mutex

	mu     sync.Mutex
	status BackendStatus
	// installed is what Vigil last knew the backend to hold (after a
	// successful pass); nil before the first pass since start, so that
	// what is missing then is re-asserted, not reported as drift.
	installed map[string]Entry
	// failed holds the entries whose failure was reported in the current
	// streak of failures, so a point that stays down is reported once.
	failed map[string]bool
	// passes counts successful passes (tests wait on it).
	passes uint64
}

func newReconciler(c *Component, b Backend) *reconciler {
	return &reconciler{c: c, b: b, wake: make(chan struct{}, 1),
		status: BackendStatus{Name: b.Name()}, failed: map[string]bool{}}
}

func (r *reconciler) trigger() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run passes at start, on every change, every ReconcileInterval, and with
// exponential backoff while the backend fails.
func (r *reconciler) run(ctx context.Context) {
	cfg := r.c.cfg
	backoff := cfg.RetryInitial
	for {
		err := r.pass(ctx)
		wait := cfg.ReconcileInterval
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			wait, backoff = backoff, min(2*backoff, cfg.RetryMax)
			r.mu.Lock()
			r.status.NextRetry = r.c.deps.Now().Add(wait)
			r.mu.Unlock()
			r.c.logger.Warn("enforcement point failed, retrying", "backend", r.b.Name(), "err", err, "retry_in", wait)
		} else {
			backoff = cfg.RetryInitial
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-r.wake:
			t.Stop()
			if err != nil { // a failing point is retried on its backoff, not on every change
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(r.statusCopy().NextRetry)):
				}
			}
		}
	}
}

// plan computes what a pass would change, without changing anything.
func (r *reconciler) plan(ctx context.Context) ([]Change, error) {
	desired, known, _ := r.c.desired(r.b)
	actual, _, err := r.actual(ctx)
	if err != nil {
		return nil, err
	}
	add, remove := diff(desired, actual)
	var out []Change
	for _, e := range add {
		out = append(out, Change{Backend: r.b.Name(), Op: "add", Entry: e, Why: "desired, missing"})
	}
	for _, e := range remove {
		out = append(out, Change{Backend: r.b.Name(), Op: "remove", Entry: e, Why: r.c.removalWhy(known[e.ID])})
	}
	return out, nil
}

// actual reads the backend; for one that cannot, it returns what Vigil
// installed (known false).
func (r *reconciler) actual(ctx context.Context) (map[string]Entry, bool, error) {
	list, err := r.b.Actual(ctx)
	if errors.Is(err, ErrActualUnknown) {
		r.mu.Lock()
		defer r.mu.Unlock()
		m := make(map[string]Entry, len(r.installed))
		for id, e := range r.installed {
			m[id] = e
		}
		return m, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", r.b.Name(), err)
	}
	m := make(map[string]Entry, len(list))
	for _, e := range list {
		m[e.ID] = e
	}
	return m, true, nil
}

// diff returns the entries to add (desired, missing or different) and to
// remove (held, not desired or different).
func diff(desired, actual map[string]Entry) (add, remove []Entry) {
	for id, d := range desired {
		if a, ok := actual[id]; !ok {
			add = append(add, d)
		} else if a.Scope != d.Scope {
			remove, add = append(remove, a), append(add, d)
		}
	}
	for id, a := range actual {
		if _, ok := desired[id]; !ok {
			remove = append(remove, a)
		}
	}
	return sortedEntries(toMap(add)), sortedEntries(toMap(remove))
}

func toMap(es []Entry) map[string]Entry {
	m := make(map[string]Entry, len(es))
	for _, e := range es {
		m[e.ID] = e
	}
	return m
}

// pass reconciles once.
func (r *reconciler) pass(ctx context.Context) error {
	r.passing.Lock()
	defer r.passing.Unlock()
	if _, err := r.c.Expire(ctx); err != nil {
		return r.fail(ctx, nil, err)
	}
	desired, known, unsupported := r.c.desired(r.b)
	actual, actualKnown, err := r.actual(ctx)
	if err != nil {
		return r.fail(ctx, desired, err)
	}
	add, remove := diff(desired, actual)

	r.mu.Lock()
	installed := r.installed
	r.mu.Unlock()
	now := r.c.Clock()
	var msgs []events.Message
	var drifted uint64
	// Drift: what Vigil installed and still wants is gone, or an entry
	// labelled as Vigil's is there that Vigil did not install.
	if installed != nil && actualKnown {
		for _, e := range add {
			if _, was := installed[e.ID]; was {
				if _, there := actual[e.ID]; !there {
					drifted++
					msgs = append(msgs, r.c.event(now, r.blockOf(known, e), events.StepDrifted, e.Scope, r.b.Name(),
						"removed behind Vigil's back on "+r.b.Name()+": re-applied", ""))
				}
			}
		}
		for _, e := range remove {
			if _, was := installed[e.ID]; !was {
				drifted++
				msgs = append(msgs, r.c.event(now, r.blockOf(known, e), events.StepDrifted, e.Scope, r.b.Name(),
					"added behind Vigil's back on "+r.b.Name()+" (not in the desired set): removed", ""))
			}
		}
	}
	if len(add) > 0 || len(remove) > 0 {
		if err := r.b.Apply(ctx, add, remove); err != nil {
			r.c.publishQuiet(ctx, msgs)
			return r.fail(ctx, desired, err)
		}
	}
	for _, e := range add {
		reason := "installed on " + r.b.Name()
		if installed == nil {
			reason = "re-asserted on " + r.b.Name() + " at start (missing)"
		}
		msgs = append(msgs, r.c.event(now, r.blockOf(known, e), events.StepApplied, e.Scope, r.b.Name(), reason, ""))
	}
	if r.c.killSwitch() != "" {
		for _, e := range remove {
			msgs = append(msgs, r.c.event(now, r.blockOf(known, e), events.StepGated, e.Scope, r.b.Name(),
				"kill switch is on: removed from "+r.b.Name(), ""))
		}
	}
	r.mu.Lock()
	r.installed = desired
	r.failed = map[string]bool{}
	r.passes++
	st := &r.status
	st.Desired, st.Unsupported = len(desired), unsupported
	st.Actual = len(actual) - len(remove) + len(add)
	if !actualKnown {
		st.Actual = -1
	}
	st.Drifted += drifted
	st.Applied += uint64(len(add))
	st.Removed += uint64(len(remove))
	st.LastReconcile, st.LastError, st.Failures, st.NextRetry = r.c.deps.Now(), "", 0, time.Time{}
	r.mu.Unlock()
	if drifted > 0 {
		r.c.logger.Warn("drift on enforcement point", "backend", r.b.Name(), "entries", drifted)
	}
	return r.c.publish(ctx, msgs...)
}

// fail records a failed pass and reports, once per streak, each desired
// entry that may not be in force.
func (r *reconciler) fail(ctx context.Context, desired map[string]Entry, err error) error {
	now := r.c.Clock()
	r.mu.Lock()
	r.status.LastError, r.status.Failures = err.Error(), r.status.Failures+1
	var msgs []events.Message
	for _, e := range sortedEntries(desired) {
		if r.failed[e.ID] {
			continue
		}
		r.failed[e.ID] = true
		b := r.c.blockCopy(e.ID)
		msgs = append(msgs, r.c.event(now, &b, events.StepFailed, e.Scope, r.b.Name(),
			"enforcement point "+r.b.Name()+" failed, retrying with backoff: "+err.Error(), ""))
	}
	r.mu.Unlock()
	r.c.publishQuiet(ctx, msgs)
	return err
}

func (r *reconciler) blockOf(known map[string]*Block, e Entry) *Block {
	if b, ok := known[e.ID]; ok {
		return b
	}
	return &Block{ID: e.ID, Scope: e.Scope, Expires: e.Expires}
}

func (r *reconciler) statusCopy() BackendStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Passes returns how many successful reconciliation passes each backend
// made since start, by name (tests and `vigil enforce status` use it to
// know a change is in force).
func (c *Component) Passes() map[string]uint64 {
	out := map[string]uint64{}
	for _, r := range c.recs {
		r.mu.Lock()
		out[r.b.Name()] = r.passes
		r.mu.Unlock()
	}
	return out
}

// Reconcile runs one pass on every backend now and returns the first
// error; the loops keep running.
func (c *Component) Reconcile(ctx context.Context) error {
	var errs []error
	for _, r := range c.recs {
		if err := r.pass(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Component) blockCopy(id string) Block {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if r, ok := c.blocks[id]; ok {
		return r.Block
	}
	return Block{ID: id}
}

// removalWhy says why a held entry goes.
func (c *Component) removalWhy(b *Block) string {
	switch {
	case b == nil:
		return "not in Vigil's desired set"
	case c.killSwitch() != "":
		return "kill switch on"
	case b.State == StateExpired:
		return "expired"
	case b.State == StateRevoked:
		return "revoked"
	case b.State == StateActive && !c.Clock().Before(b.Expires):
		return "expired"
	}
	return "not enforceable now (" + string(b.State) + ")"
}

// publishQuiet publishes what it can and logs the rest: used on a path
// that already reports an error.
func (c *Component) publishQuiet(ctx context.Context, msgs []events.Message) {
	if len(msgs) == 0 {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.publish(pctx, msgs...); err != nil {
		c.logger.Warn("enforcement events not published", "events", len(msgs), "err", err)
	}
}
