package enforce

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-health/vigil/events"
)

// replayScenario runs the engine (dry-run off, an enforcement point in
// memory, a rate limit of burst 3) through every path that writes the
// bucket: a block that passes; a life-sustaining pump's isolation
// narrowed, held and approved by a person; a block revoked by a person; a
// block that expires by event time; an invalid scope rejected; a decision
// whose alert never comes (judged at the timeout); a block held by the
// rate limit; one held by the kill switch, turned on and off by a person;
// drift repaired on the point; a decision still awaiting its alert. It
// returns the component once everything is in the log.
func replayScenario(t *testing.T, bus *events.Bus) (*Component, Configuration) {
	t.Helper()
	ctx := context.Background()
	cfg := testConfig()
	cfg.RateLimit = RateLimitConfiguration{Blocks: 1, Per: time.Hour, Burst: 3}
	fake := newFake("fw")
	c := start(t, bus, cfg, t0, fake)
	step := func() { t.Helper(); caughtUp(t, bus, c) }
	idOf := func(d events.Event[events.Decision]) string { return RequestID(d.ID, d.Body.Enforce[0]) }
	ws2 := workstation
	ws2.Key, ws2.MAC, ws2.IPs = "mac:00:14:22:b7:3e:5b/20", "00:14:22:b7:3e:5b", []string{"10.20.0.151"}

	decide(t, bus, t0, &workstation, workstation.Key, internet, pairReq("10.20.0.150", "203.0.113.45"))
	isolate := events.EnforceRequest{Scope: events.BlockScope{IP: "10.20.0.102"}, DurationS: 3600, Reason: "pump talks to the internet"}
	pumpDec := decide(t, bus, t0.Add(time.Second), &pump, pump.Key, internet, isolate)
	revoked := decide(t, bus, t0.Add(2*time.Second), &ws2, ws2.Key, internet, pairReq("10.20.0.151", "203.0.113.45"))
	short := events.EnforceRequest{Scope: events.BlockScope{IP: "10.20.0.150", PeerIP: "203.0.113.45", Port: 443, Transport: "TCP"}, DurationS: 60, Reason: "short"}
	expiring := decide(t, bus, t0.Add(3*time.Second), &workstation, workstation.Key, internet, short)
	decide(t, bus, t0.Add(4*time.Second), &workstation, workstation.Key, internet, pairReq("10.20.0.300", "203.0.113.45"))
	lostAlert(t, bus, t0.Add(5*time.Second), "mac:00:99:99:00:00:01/20", pairReq("10.20.0.160", "203.0.113.45"))
	decide(t, bus, t0.Add(6*time.Second), &workstation, workstation.Key, internet, pairReq("10.20.0.150", "198.51.100.7"))
	step()
	if _, err := c.Approve(ctx, idOf(pumpDec), "charge-nurse", "pump off the patient"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Revoke(ctx, idOf(revoked), "soc-analyst", ""); err != nil {
		t.Fatal(err)
	}
	if err := c.SetKillSwitch(ctx, true, "soc-lead"); err != nil {
		t.Fatal(err)
	}
	decide(t, bus, t0.Add(7*time.Second), &workstation, workstation.Key, internet, pairReq("10.20.0.150", "198.51.100.8"))
	step()
	if err := c.Reconcile(ctx); err != nil { // empties the point: gated steps with a backend
		t.Fatal(err)
	}
	if err := c.SetKillSwitch(ctx, false, "soc-lead"); err != nil {
		t.Fatal(err)
	}
	if err := c.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	clear(fake.held) // behind Vigil's back
	fake.mu.Unlock()
	if err := c.Reconcile(ctx); err != nil { // drifted and applied steps
		t.Fatal(err)
	}
	decide(t, bus, t0.Add(10*time.Minute), &workstation, workstation.Key, nil) // time passes: the lost alert's timeout, the short block's end
	lostAlert(t, bus, t0.Add(10*time.Minute+time.Second), "mac:00:99:99:00:00:02/20", pairReq("10.20.0.161", "203.0.113.45"))
	step()
	if _, err := c.Expire(ctx); err != nil { // the loop may have done it: this waits for its event
		t.Fatal(err)
	}
	if b, _ := c.Block(ctx, idOf(expiring)); b.State != StateExpired {
		t.Fatalf("the short block is %s", b.State)
	}
	return c, cfg
}

// lostAlert publishes a decision that announces an alert which never
// comes: its block awaits, then is judged without a snapshot.
func lostAlert(t *testing.T, bus *events.Bus, at time.Time, device string, req events.EnforceRequest) {
	t.Helper()
	dec := events.MustEvent(at, policyS, events.Decision{Query: "data.vigil.main", Revision: "r1", InputKind: events.KindDeviation,
		InputID: "dev-lost-" + device, Device: device, Alerts: 1, Enforce: []events.EnforceRequest{req}})
	if err := bus.Publish(context.Background(), dec); err != nil {
		t.Fatal(err)
	}
}

// enforcementEvents reads every enforcement event of the log, in order.
func enforcementEvents(t testing.TB, bus *events.Bus) []events.Event[events.Enforcement] {
	t.Helper()
	var out []events.Event[events.Enforcement]
	err := bus.Read(context.Background(), events.StreamEnforce, []events.Kind{events.KindEnforcement}, func(d events.Delivery) error {
		ev, err := events.Decode[events.Enforcement](d.Data)
		out = append(out, ev)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// bucketContents reads every key of the live bucket.
func bucketContents(t testing.TB, js jetstream.JetStream, bucket string) map[string]string {
	t.Helper()
	kv, err := ReadBucket(context.Background(), js, bucket)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range kv {
		out[k] = string(v)
	}
	return out
}

func rebuiltContents(t testing.TB, s DesiredState) map[string]string {
	t.Helper()
	kv, err := s.Bucket()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range kv {
		out[k] = string(v)
	}
	return out
}

// TestReplayRebuildsTheBucket: the desired set rebuilt from the
// enforcement events alone equals the bucket, key by key and byte for
// byte: every block (state, scope, requested scope, snapshot, gate,
// history of people), the kill switch and the rate bucket.
func TestReplayRebuildsTheBucket(t *testing.T) {
	bus := newBus(t)
	c, cfg := replayScenario(t, bus)
	live := bucketContents(t, bus.JetStream(), cfg.Bucket)
	evs := enforcementEvents(t, bus)
	got := Replay(evs, ReplayOptions{RateLimit: cfg.RateLimit, Retain: cfg.Retain})
	if diff := cmp.Diff(live, rebuiltContents(t, got)); diff != "" {
		t.Fatalf("rebuilt bucket (-live +rebuilt):\n%s", diff)
	}
	desired, _ := c.Desired(context.Background())
	if diff := cmp.Diff(desired, got.Blocks); diff != "" {
		t.Errorf("rebuilt blocks (-engine +rebuilt):\n%s", diff)
	}

	// The scenario went where it should, so the comparison covers it.
	states := map[State]int{}
	var narrowed, approved, revoked bool
	for _, b := range got.Blocks {
		states[b.State]++
		narrowed = narrowed || b.Requested != nil && b.Snapshot != nil && b.Snapshot.Criticality == "life_sustaining"
		for _, a := range b.History {
			approved = approved || a.Step == "approved" && a.Actor == "charge-nurse" && a.Note == "pump off the patient"
			revoked = revoked || a.Step == "revoked" && a.Actor == "soc-analyst"
		}
	}
	want := map[State]int{StateActive: 2, StatePending: 3, StateRevoked: 1, StateExpired: 1, StateRejected: 1, StateAwaiting: 1}
	if diff := cmp.Diff(want, states); diff != "" || !narrowed || !approved || !revoked {
		t.Errorf("scenario: states (-want +got) %s; narrowed %v approved %v revoked %v", diff, narrowed, approved, revoked)
	}
	if got.KillSwitch == nil || got.KillSwitch.On || got.KillSwitch.Actor != "soc-lead" || got.Rate == nil {
		t.Errorf("kill switch %+v, rate %+v", got.KillSwitch, got.Rate)
	}
	var backendSteps int
	for _, ev := range evs {
		if ev.Body.Backend != "" {
			backendSteps++
		}
	}
	if backendSteps == 0 || got.Events != len(evs) || got.Forgotten != 0 || len(got.Incomplete) != 0 {
		t.Errorf("%d steps of the point among %d events; replay counted %d, forgot %d, incomplete %v",
			backendSteps, len(evs), got.Events, got.Forgotten, got.Incomplete)
	}
}

// TestReplayOrderAndCopies: copies of events change nothing, and people's
// steps or expiries read before the gate's step (the API and the consumer
// write concurrently) give the same blocks. Only the gate steps' order
// matters, for the rate bucket.
func TestReplayOrderAndCopies(t *testing.T) {
	bus := newBus(t)
	_, cfg := replayScenario(t, bus)
	evs := enforcementEvents(t, bus)
	opts := ReplayOptions{RateLimit: cfg.RateLimit, Retain: cfg.Retain}
	want := Replay(evs, opts)

	twice := Replay(append(slices.Clone(evs), evs...), opts)
	if twice.Events != 2*len(evs) {
		t.Errorf("%d events read of %d", twice.Events, 2*len(evs))
	}
	twice.Events = want.Events
	if diff := cmp.Diff(want, twice); diff != "" {
		t.Errorf("copies (-once +twice):\n%s", diff)
	}
	var early, rest []events.Event[events.Enforcement]
	for _, ev := range evs {
		if ev.Body.Actor != "" || ev.Body.Step == events.StepExpired {
			early = append(early, ev)
		} else {
			rest = append(rest, ev)
		}
	}
	slices.Reverse(early)
	moved := append(early, rest...)
	got := Replay(moved, opts)
	if diff := cmp.Diff(want.Blocks, got.Blocks); diff != "" {
		t.Errorf("people's steps first (-log order +moved):\n%s", diff)
	}
	if diff := cmp.Diff(want.KillSwitch, got.KillSwitch); diff != "" {
		t.Errorf("kill switch (-log order +moved):\n%s", diff)
	}
}

// TestReplayEveryStepCounts: leaving out any one step of a block changes
// the rebuilt state, so the comparison with the bucket can fail; a block
// whose requested step the log no longer holds is reported, not guessed.
func TestReplayEveryStepCounts(t *testing.T) {
	bus := newBus(t)
	_, cfg := replayScenario(t, bus)
	evs := enforcementEvents(t, bus)
	opts := ReplayOptions{RateLimit: cfg.RateLimit, Retain: cfg.Retain}
	want := Replay(evs, opts)
	lastKill := -1
	for i, ev := range evs {
		if ev.Body.RequestID == KillSwitchRequestID {
			lastKill = i
		}
	}
	for i, ev := range evs {
		if ev.Body.Backend != "" {
			continue // the points' steps are not the desired set
		}
		if ev.Body.RequestID == KillSwitchRequestID && i != lastKill {
			continue // a kill switch step that a later one overrides
		}
		without := slices.Delete(slices.Clone(evs), i, i+1)
		got := Replay(without, opts)
		got.Events = want.Events
		name := fmt.Sprintf("without %s %s", ev.Body.Step, ev.Body.RequestID)
		if cmp.Equal(want, got) {
			t.Errorf("%s: the same state", name)
		}
		others := slices.ContainsFunc(without, func(o events.Event[events.Enforcement]) bool { return o.Body.RequestID == ev.Body.RequestID })
		if ev.Body.Step == events.StepRequested && others && !slices.Contains(got.Incomplete, ev.Body.RequestID) {
			t.Errorf("%s: not reported incomplete: %v", name, got.Incomplete)
		}
	}
}

// TestReplayRetain: a block leaves the rebuilt set retain after it ended
// (a revoked one: after its revocation), counted by the replay's clock,
// the latest event time, as the bucket forgets it.
func TestReplayRetain(t *testing.T) {
	bus := newBus(t)
	_, cfg := replayScenario(t, bus)
	evs := enforcementEvents(t, bus)
	all := Replay(evs, ReplayOptions{RateLimit: cfg.RateLimit})
	got := Replay(evs, ReplayOptions{RateLimit: cfg.RateLimit, Retain: 5 * time.Minute})
	var left []string
	for _, b := range all.Blocks {
		if !slices.ContainsFunc(got.Blocks, func(g Block) bool { return g.ID == b.ID }) {
			left = append(left, string(b.State))
		}
	}
	slices.Sort(left)
	// The clock is t0+10m1s: the revocation (t0+6s) and the short block's
	// end (t0+63s) are more than 5 min before it; every other block ends
	// an hour after it started.
	if strings.Join(left, ",") != "expired,revoked" || got.Forgotten != 2 {
		t.Errorf("forgotten: %v (%d)", left, got.Forgotten)
	}
}

// TestReplayOlderEvents: events written before the steps carried the
// state, the gate's sentences and the note still rebuild every block;
// what they never carried (the snapshot, the requested scope) stays
// empty.
func TestReplayOlderEvents(t *testing.T) {
	bus := newBus(t)
	_, cfg := replayScenario(t, bus)
	evs := enforcementEvents(t, bus)
	opts := ReplayOptions{RateLimit: cfg.RateLimit, Retain: cfg.Retain}
	want := Replay(evs, opts)
	for i := range want.Blocks {
		b := &want.Blocks[i]
		b.Snapshot, b.Requested = nil, nil
		if b.Gate != nil { // the reason joined the sentences, some of which have "; " inside
			b.Gate = strings.Split(strings.Join(b.Gate, "; "), "; ")
		}
	}
	old := make([]events.Event[events.Enforcement], len(evs))
	for i, ev := range evs {
		b := ev.Body
		b.State, b.Requested, b.Gate, b.Snapshot, b.Note = "", nil, nil, nil, ""
		old[i] = events.MustEvent(ev.Time, ev.Source, b)
	}
	got := Replay(old, opts)
	if diff := cmp.Diff(want.Blocks, got.Blocks); diff != "" {
		t.Errorf("from older events (-new +old):\n%s", diff)
	}
	if diff := cmp.Diff(want.Rate, got.Rate); diff != "" {
		t.Errorf("rate from older events (-new +old):\n%s", diff)
	}
}

// TestRateLimitReasonIsTheGates ties the prefix the replay looks for to
// the sentence the gate writes.
func TestRateLimitReasonIsTheGates(t *testing.T) {
	cfg := DefaultConfiguration()
	b := &Block{Scope: events.BlockScope{IP: "10.20.0.150", PeerIP: "203.0.113.45"}, Snapshot: &workstation, Device: workstation.Key}
	j := newGate(cfg).judge(b, nil, "", func() (bool, float64) { return false, 0 })
	if j.state != StatePending || !reachedRateLimit(j.state, j.reasons) {
		t.Fatalf("%s %q", j.state, j.reasons)
	}
}

// BenchmarkReplay rebuilds a desired set of 10,000 blocks from 40,000
// events (requested, gated, applied, expired each).
func BenchmarkReplay(b *testing.B) {
	const n = 10000
	src := events.Source{Component: "enforce", Name: "bench"}
	evs := make([]events.Event[events.Enforcement], 0, 4*n)
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Second)
		snap := workstation
		body := events.Enforcement{RequestID: fmt.Sprintf("req-%016x", i), Device: snap.Key,
			Scope: events.BlockScope{IP: "10.20.0.150", PeerIP: fmt.Sprintf("203.0.%d.%d", i/256%256, i%256)}, DurationS: 3600, Reason: "bench"}
		for _, s := range []struct {
			step  events.EnforcementStep
			at    time.Time
			state State
		}{{events.StepRequested, at, StateAwaiting}, {events.StepApproved, at, StateActive}, {events.StepApplied, at, ""}, {events.StepExpired, at.Add(time.Hour), StateExpired}} {
			e := body
			e.Step, e.State = s.step, string(s.state)
			if s.step == events.StepApproved {
				e.Snapshot, e.Gate = &snap, []string{"passed"}
			}
			if s.step == events.StepApplied {
				e.Backend = "fw"
			}
			evs = append(evs, events.MustEvent(s.at, src, e))
		}
	}
	opts := ReplayOptions{RateLimit: DefaultConfiguration().RateLimit, Retain: 24 * time.Hour}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s := Replay(evs, opts)
		if len(s.Blocks) != n {
			b.Fatalf("%d blocks", len(s.Blocks))
		}
	}
	b.ReportMetric(float64(len(evs))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
