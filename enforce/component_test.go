package enforce

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/events"
)

// A block on a life-sustaining pump waits for a person; approval applies
// it and every step is an event naming its rule and actor.
func TestLifeSustainingHeldUntilApproved(t *testing.T) {
	bus := newBus(t)
	fake := newFake("fw")
	c := start(t, bus, testConfig(), t0, fake)
	decide(t, bus, t0, &pump, pump.Key, internet, pairReq("10.20.0.102", "203.0.113.45"))
	caughtUp(t, bus, c)
	b := only(t, c)
	if b.State != StatePending || !strings.Contains(strings.Join(b.Gate, ";"), "life-sustaining") {
		t.Fatalf("block %s: %v", b.State, b.Gate)
	}
	if err := c.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ids := fake.ids(); len(ids) != 0 {
		t.Fatalf("a pending block reached the backend: %v", ids)
	}
	pending, _ := c.Pending(context.Background())
	if len(pending) != 1 {
		t.Fatalf("pending: %d", len(pending))
	}
	if _, err := c.Approve(context.Background(), b.ID, "", "no actor"); err == nil {
		t.Fatal("approved without an actor")
	}
	if _, err := c.Approve(context.Background(), b.ID, "dr.house", "called the ward"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Approve(context.Background(), b.ID, "dr.house", "again"); !errors.Is(err, ErrState) {
		t.Fatalf("second approval: %v", err)
	}
	eventually(t, "the approved block on the backend", func() bool { return slices.Equal(fake.ids(), []string{b.ID}) })
	eventually(t, "the applied step", func() bool { return strings.HasSuffix(stepNames(steps(t, bus, b.ID)), "applied") })
	es := steps(t, bus, b.ID)
	if got := stepNames(es); got != "requested,gated,approved,applied" {
		t.Fatalf("steps %s", got)
	}
	if es[1].Reason == "" || !strings.Contains(es[1].Reason, "approval required") || es[1].AlertID == "" {
		t.Errorf("gated step: %+v", es[1])
	}
	if es[2].Actor != "dr.house" || !strings.Contains(es[2].Reason, "called the ward") {
		t.Errorf("approved step: %+v", es[2])
	}
	if es[3].Backend != "fw" {
		t.Errorf("applied step: %+v", es[3])
	}
	// Revoke removes it.
	if _, err := c.Revoke(context.Background(), b.ID, "dr.house", "done"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the revoked block removed", func() bool { return len(fake.ids()) == 0 })
}

// Dry-run gates and records, and the enforcement point never changes.
func TestDryRunChangesNothing(t *testing.T) {
	bus := newBus(t)
	fake := newFake("fw")
	cfg := testConfig()
	cfg.DryRun = true
	c := start(t, bus, cfg, t0, fake)
	decide(t, bus, t0, &workstation, workstation.Key, internet, pairReq("10.20.0.150", "203.0.113.45"))
	caughtUp(t, bus, c)
	b := only(t, c)
	if b.State != StateActive || !b.DryRun {
		t.Fatalf("block %s dry-run %v: %v", b.State, b.DryRun, b.Gate)
	}
	if err := c.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	applies := fake.applies
	fake.mu.Unlock()
	if applies != 0 || len(fake.ids()) != 0 {
		t.Fatalf("dry-run applied: %d calls, %v", applies, fake.ids())
	}
	plan, err := c.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 1 || plan[0].Why != "dry run: would be applied" || plan[0].Entry.ID != b.ID {
		t.Fatalf("plan: %+v", plan)
	}
	for _, e := range steps(t, bus, b.ID) {
		if !e.DryRun || e.Step == events.StepApplied {
			t.Errorf("dry-run step %+v", e)
		}
	}
	// Dry-run is fixed per block: approving does not apply it either.
	if _, err := c.Approve(context.Background(), b.ID, "x", ""); !errors.Is(err, ErrState) {
		t.Errorf("approve an active block: %v", err)
	}
}

// The rate limit holds blocks beyond the burst, refilled in event time.
func TestRateLimitHolds(t *testing.T) {
	bus := newBus(t)
	fake := newFake("fw")
	cfg := testConfig()
	cfg.RateLimit = RateLimitConfiguration{Blocks: 1, Per: time.Hour, Burst: 2}
	c := start(t, bus, cfg, t0, fake)
	long := func(peer string) events.EnforceRequest {
		r := pairReq("10.20.0.150", peer)
		r.DurationS = 4 * 3600
		return r
	}
	for i := range 4 {
		decide(t, bus, t0, &workstation, workstation.Key, internet, long("203.0.113."+string(rune('1'+i))))
	}
	caughtUp(t, bus, c)
	count := func() (active, limited int) {
		bs, _ := c.Desired(context.Background())
		for _, b := range bs {
			switch {
			case b.State == StateActive:
				active++
			case b.State == StatePending && strings.Contains(strings.Join(b.Gate, ";"), "rate limit"):
				limited++
			}
		}
		return
	}
	if a, l := count(); a != 2 || l != 2 {
		bs, _ := c.Desired(context.Background())
		for _, b := range bs {
			t.Logf("%s %s %v", b.ID, b.State, b.Gate)
		}
		t.Fatalf("burst 2: %d active, %d rate-limited", a, l)
	}
	// One hour of event time later one more passes, and only one.
	later := t0.Add(time.Hour)
	decide(t, bus, later, &workstation, workstation.Key, internet, long("198.51.100.1"), long("198.51.100.2"))
	caughtUp(t, bus, c)
	if a, l := count(); a != 3 || l != 3 {
		t.Fatalf("after an hour: %d active, %d rate-limited", a, l)
	}
	eventually(t, "three blocks applied", func() bool { return len(fake.ids()) == 3 })
}

// The kill switch empties the backend, holds new requests, survives a
// restart, and cannot be turned off while the configuration forces it.
func TestKillSwitch(t *testing.T) {
	bus := newBus(t)
	fake := newFake("fw")
	c := start(t, bus, testConfig(), t0, fake)
	decide(t, bus, t0, &workstation, workstation.Key, internet, pairReq("10.20.0.150", "203.0.113.45"))
	caughtUp(t, bus, c)
	eventually(t, "the block applied", func() bool { return len(fake.ids()) == 1 })
	if err := c.SetKillSwitch(context.Background(), true, "soc-lead"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the backend emptied", func() bool { return len(fake.ids()) == 0 })
	if ks := steps(t, bus, KillSwitchRequestID); len(ks) != 1 || ks[0].Step != events.StepGated || ks[0].Actor != "soc-lead" {
		t.Fatalf("kill switch audit: %+v", ks)
	}
	decide(t, bus, t0.Add(time.Minute), &workstation, workstation.Key, internet, pairReq("10.20.0.150", "198.51.100.7"))
	caughtUp(t, bus, c)
	held := 0
	bs, _ := c.Desired(context.Background())
	for _, b := range bs {
		if b.State == StatePending && strings.Contains(strings.Join(b.Gate, ";"), "kill switch is on (set by soc-lead)") {
			held++
		}
	}
	if held != 1 {
		t.Fatalf("new request under the kill switch: %+v", bs)
	}
	if st := c.Status(); !st.KillSwitch || st.KillSwitchBy != "set by soc-lead" {
		t.Fatalf("status: %+v", st)
	}
	// Restart: the switch is persisted and nothing comes back.
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	c2 := start(t, bus, testConfig(), t0.Add(time.Minute), fake)
	if !c2.Status().KillSwitch {
		t.Fatal("kill switch lost in a restart")
	}
	if err := c2.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(fake.ids()) != 0 {
		t.Fatalf("restart under the kill switch applied %v", fake.ids())
	}
	if err := c2.SetKillSwitch(context.Background(), false, "soc-lead"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the approved block back", func() bool { return len(fake.ids()) == 1 })

	forced := testConfig()
	forced.KillSwitch, forced.Bucket, forced.Durable = true, "VIGIL_ENFORCE_FORCED", "enforce-forced"
	c3 := start(t, bus, forced, t0, newFake("other"))
	if err := c3.SetKillSwitch(context.Background(), false, "someone"); err == nil || !strings.Contains(err.Error(), "enforce.kill_switch") {
		t.Fatalf("forced kill switch turned off: %v", err)
	}
}

func TestGateRules(t *testing.T) {
	cfg := testConfig()
	cfg.CriticalSystems = []CriticalSystem{{Name: "PACS", Addresses: []string{"10.30.0.0/28"}}, {Name: "HL7 engine", Devices: []string{"mac:00:00:00:00:00:07/30"}}}
	g := newGate(cfg)
	always := func() (bool, float64) { return true, 5 }
	monitor := pump
	monitor.Criticality, monitor.Category = "patient_connected", "patient_monitor"
	medUnknown := pump
	medUnknown.Criticality = "unknown"
	for _, tc := range []struct {
		name   string
		block  Block
		peer   *events.Endpoint
		kill   string
		state  State
		scope  events.BlockScope
		reason string
	}{
		{"non-clinical passes", Block{Scope: events.BlockScope{IP: "10.20.0.150", PeerIP: "203.0.113.45"}, Snapshot: &workstation},
			nil, "", StateActive, events.BlockScope{IP: "10.20.0.150", PeerIP: "203.0.113.45"}, "passed: WS-NURSE-01 is non_clinical"},
		{"patient-connected held", Block{Scope: events.BlockScope{IP: "10.20.0.102", PeerIP: "203.0.113.45"}, Snapshot: &monitor},
			nil, "", StatePending, events.BlockScope{IP: "10.20.0.102", PeerIP: "203.0.113.45"}, "is patient-connected (patient_monitor): approval required"},
		{"medical of unknown criticality held", Block{Scope: events.BlockScope{IP: "10.20.0.102", PeerIP: "203.0.113.45"}, Snapshot: &medUnknown},
			nil, "", StatePending, events.BlockScope{IP: "10.20.0.102", PeerIP: "203.0.113.45"}, "medical device of unknown criticality"},
		{"no snapshot held", Block{Device: "ip:10.9.9.9/0", Scope: events.BlockScope{IP: "10.9.9.9", PeerIP: "203.0.113.45"}},
			nil, "", StatePending, events.BlockScope{IP: "10.9.9.9", PeerIP: "203.0.113.45"}, "unknown to the gate"},
		{"isolation narrowed to the peer", Block{Scope: events.BlockScope{IP: "10.20.0.102"}, Snapshot: &pump},
			internet, "", StatePending, events.BlockScope{IP: "10.20.0.102", PeerIP: "203.0.113.45"}, "narrowed to its traffic with 203.0.113.45"},
		{"MAC isolation narrowed", Block{Scope: events.BlockScope{MAC: "00:12:21:4E:0A:12"}, Snapshot: &pump},
			internet, "", StatePending, events.BlockScope{IP: "10.20.0.102", PeerIP: "203.0.113.45"}, "narrowed"},
		{"isolation without a peer held", Block{Scope: events.BlockScope{IP: "10.20.0.102"}, Snapshot: &pump},
			nil, "", StatePending, events.BlockScope{IP: "10.20.0.102"}, "no peer to narrow to"},
		{"critical system by address", Block{Scope: events.BlockScope{IP: "10.20.0.150", PeerIP: "10.30.0.5", Port: 104, Transport: "tcp"}, Snapshot: &workstation},
			nil, "", StatePending, events.BlockScope{IP: "10.20.0.150", PeerIP: "10.30.0.5", Port: 104, Transport: "tcp"}, "critical system PACS (10.30.0.5 in 10.30.0.0/28)"},
		{"critical system by device", Block{Device: "mac:00:00:00:00:00:07/30", Scope: events.BlockScope{IP: "10.30.0.7", PeerIP: "203.0.113.45"}, Snapshot: &workstation},
			nil, "", StatePending, events.BlockScope{IP: "10.30.0.7", PeerIP: "203.0.113.45"}, "critical system HL7 engine"},
		{"kill switch holds", Block{Scope: events.BlockScope{IP: "10.20.0.150", PeerIP: "203.0.113.45"}, Snapshot: &workstation},
			nil, "set by x", StatePending, events.BlockScope{IP: "10.20.0.150", PeerIP: "203.0.113.45"}, "kill switch is on (set by x)"},
		{"mixed families rejected", Block{Scope: events.BlockScope{IP: "10.20.0.150", PeerIP: "2001:db8::1"}, Snapshot: &workstation},
			nil, "", StateRejected, events.BlockScope{IP: "10.20.0.150", PeerIP: "2001:db8::1"}, "pairs an IPv4 and an IPv6"},
		{"bad address rejected", Block{Scope: events.BlockScope{IP: "10.20.0.999"}, Snapshot: &workstation},
			nil, "", StateRejected, events.BlockScope{IP: "10.20.0.999"}, `address "10.20.0.999" does not parse`},
		{"leading zeros rejected", Block{Scope: events.BlockScope{PeerIP: "203.0.113.045"}, Snapshot: &workstation},
			nil, "", StateRejected, events.BlockScope{PeerIP: "203.0.113.045"}, "does not parse"},
		{"peer only is one address", Block{Scope: events.BlockScope{PeerIP: "2001:DB8::0:1"}, Snapshot: &workstation},
			nil, "", StateActive, events.BlockScope{IP: "2001:db8::1"}, "passed"},
		{"port without transport kept", Block{Scope: events.BlockScope{IP: "10.20.0.150", Port: 23, Transport: "TCP"}, Snapshot: &workstation},
			nil, "", StateActive, events.BlockScope{IP: "10.20.0.150", Port: 23, Transport: "tcp"}, "passed"},
		{"transport without port rejected", Block{Scope: events.BlockScope{IP: "10.20.0.150", Transport: "tcp"}, Snapshot: &workstation},
			nil, "", StateRejected, events.BlockScope{IP: "10.20.0.150", Transport: "tcp"}, "without a port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := g.judge(&tc.block, tc.peer, tc.kill, always)
			if j.state != tc.state {
				t.Errorf("state %s, want %s: %v", j.state, tc.state, j.reasons)
			}
			if diff := cmp.Diff(tc.scope, j.scope); diff != "" {
				t.Errorf("scope (-want +got):\n%s", diff)
			}
			if !strings.Contains(strings.Join(j.reasons, "; "), tc.reason) {
				t.Errorf("reasons %q lack %q", j.reasons, tc.reason)
			}
		})
	}
}

// A redelivered decision finds its block: one block, the same events.
func TestRedeliveryIsIdempotent(t *testing.T) {
	bus := newBus(t)
	c := start(t, bus, testConfig(), t0)
	dec := events.MustEvent(t0, policyS, events.Decision{Query: "q", Revision: "r", InputKind: events.KindDeviation, InputID: "x",
		Device: workstation.Key, Enforce: []events.EnforceRequest{pairReq("10.20.0.150", "203.0.113.45")}})
	data, err := dec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := events.DecodeHeader(data)
	for seq := range uint64(2) {
		if err := c.handle(context.Background(), events.Delivery{Stream: events.StreamAlerts, Seq: 100 + seq, Header: hdr, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	b := only(t, c)
	if b.ID != RequestID(dec.ID, dec.Body.Enforce[0]) || b.State != StatePending {
		t.Fatalf("block %+v", b)
	}
	if got := stepNames(steps(t, bus, b.ID)); got != "requested,gated" {
		t.Fatalf("steps %s", got)
	}
}

// Blocks end by event time: a later event ends them and they leave the
// backend, with the expired step at the block's end.
func TestExpiryByEventTime(t *testing.T) {
	bus := newBus(t)
	fake := newFake("fw")
	c := start(t, bus, testConfig(), t0, fake) // the wall clock stands still at t0
	req := pairReq("10.20.0.150", "203.0.113.45")
	req.DurationS = 60
	decide(t, bus, t0, &workstation, workstation.Key, internet, req)
	caughtUp(t, bus, c)
	eventually(t, "the block applied", func() bool { return len(fake.ids()) == 1 })
	id := only(t, c).ID
	decide(t, bus, t0.Add(2*time.Minute), &workstation, workstation.Key, nil) // nothing asked: only time passes
	caughtUp(t, bus, c)
	eventually(t, "the expired block removed", func() bool { return len(fake.ids()) == 0 })
	es := steps(t, bus, id)
	last := es[len(es)-1]
	if last.Step != events.StepExpired {
		t.Fatalf("steps %s", stepNames(es))
	}
	if b := only(t, c); b.State != StateExpired {
		t.Fatalf("state %s", b.State)
	}
}

// An unreachable point is retried with backoff, reported once as failed,
// and applied when it comes back; drift behind Vigil's back is reported
// and repaired.
func TestUnreachableAndDrift(t *testing.T) {
	bus := newBus(t)
	fake := newFake("fw")
	fake.fail = 1 << 30 // down until told otherwise
	c := start(t, bus, testConfig(), t0, fake)
	decide(t, bus, t0, &workstation, workstation.Key, internet, pairReq("10.20.0.150", "203.0.113.45"))
	caughtUp(t, bus, c)
	id := only(t, c).ID
	eventually(t, "the failed step", func() bool { return strings.Contains(stepNames(steps(t, bus, id)), "failed") })
	eventually(t, "several failures", func() bool { return c.Status().Backends[0].Failures >= 3 })
	if st := c.Status().Backends[0]; st.LastError == "" || st.NextRetry.IsZero() {
		t.Fatalf("status of a failing point: %+v", st)
	}
	fake.mu.Lock()
	fake.fail = 0
	fake.mu.Unlock()
	eventually(t, "the block applied after the failures", func() bool { return len(fake.ids()) == 1 })
	eventually(t, "the applied step", func() bool { return strings.HasSuffix(stepNames(steps(t, bus, id)), "applied") })
	es := steps(t, bus, id)
	failed := 0
	for _, e := range es {
		if e.Step == events.StepFailed {
			failed++
		}
	}
	if failed != 1 || !strings.HasSuffix(stepNames(es), "applied") {
		t.Fatalf("steps %s", stepNames(es))
	}
	st := c.Status().Backends[0]
	if st.Failures != 0 || st.Desired != 1 || st.Actual != 1 {
		t.Fatalf("status %+v", st)
	}
	// Removed behind Vigil's back, and a stray entry added.
	fake.mu.Lock()
	delete(fake.held, id)
	fake.held["req-ffffffffffffffff"] = Entry{ID: "req-ffffffffffffffff", Scope: events.BlockScope{IP: "192.0.2.1"}}
	fake.mu.Unlock()
	if err := c.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ids := fake.ids(); !slices.Equal(ids, []string{id}) {
		t.Fatalf("after repair: %v", ids)
	}
	var drifted []string
	for _, e := range steps(t, bus, "") {
		if e.Step == events.StepDrifted {
			drifted = append(drifted, e.RequestID+" "+e.Reason)
		}
	}
	if len(drifted) != 2 || c.Status().Backends[0].Drifted != 2 {
		t.Fatalf("drift events %q, status %+v", drifted, c.Status().Backends[0])
	}
}

// A restart re-asserts the desired set on an enforcement point that lost
// it (a rebooted firewall).
func TestRestartReasserts(t *testing.T) {
	bus := newBus(t)
	fake := newFake("fw")
	c := start(t, bus, testConfig(), t0, fake)
	decide(t, bus, t0, &workstation, workstation.Key, internet, pairReq("10.20.0.150", "203.0.113.45"))
	caughtUp(t, bus, c)
	eventually(t, "applied", func() bool { return len(fake.ids()) == 1 })
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	rebooted := newFake("fw")
	c2 := start(t, bus, testConfig(), t0, rebooted)
	eventually(t, "re-asserted", func() bool { return len(rebooted.ids()) == 1 })
	if b := only(t, c2); b.State != StateActive {
		t.Fatalf("state after restart %s", b.State)
	}
	es := steps(t, bus, "")
	if last := es[len(es)-1]; last.Step != events.StepApplied || !strings.Contains(last.Reason, "re-asserted") {
		t.Fatalf("last step %+v", last)
	}
}

// The bucket forgets a block by itself: its key's TTL is the block's end
// (event time of the decision plus its duration) seen from the
// enforcement clock, plus the retention.
func TestBucketTTLFollowsEventTime(t *testing.T) {
	bus := newBus(t)
	c := start(t, bus, testConfig(), t0)
	req := pairReq("10.20.0.150", "203.0.113.45")
	decide(t, bus, t0.Add(-30*time.Minute), &workstation, workstation.Key, internet, req) // ends 30 min after the clock
	caughtUp(t, bus, c)
	b := only(t, c)
	st, err := bus.JetStream().Stream(context.Background(), "KV_"+c.cfg.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.GetLastMsgForSubject(context.Background(), "$KV."+c.cfg.Bucket+"."+blockPrefix+b.ID)
	if err != nil {
		t.Fatal(err)
	}
	ttl, err := time.ParseDuration(msg.Header.Get("Nats-TTL"))
	if err != nil {
		t.Fatalf("Nats-TTL %q: %v", msg.Header.Get("Nats-TTL"), err)
	}
	if want := 30*time.Minute + c.cfg.Retain; ttl != want {
		t.Fatalf("TTL %s, want %s", ttl, want)
	}
}

// blindBackend cannot read back (a webhook): the reconciler trusts what
// it applied, and re-applies everything after a restart.
type blindBackend struct{ *fakeBackend }

func (b blindBackend) Actual(context.Context) ([]Entry, error) { return nil, ErrActualUnknown }

func TestBlindAndUnsupportedBackends(t *testing.T) {
	bus := newBus(t)
	blind := blindBackend{newFake("webhook")}
	feed := newFake("edl")
	feed.noPorts = true
	c := start(t, bus, testConfig(), t0, blind, feed)
	port := events.EnforceRequest{Scope: events.BlockScope{IP: "10.20.0.150", PeerIP: "203.0.113.45", Port: 443, Transport: "tcp"}, DurationS: 3600, Reason: "r"}
	decide(t, bus, t0, &workstation, workstation.Key, internet, port, pairReq("10.20.0.150", "198.51.100.9"))
	caughtUp(t, bus, c)
	eventually(t, "both applied on the blind backend", func() bool { return len(blind.ids()) == 2 })
	eventually(t, "the pair on the feed", func() bool { return len(feed.ids()) == 1 })
	if err := c.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	blind.mu.Lock()
	applies := blind.applies
	blind.mu.Unlock()
	if err := c.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	blind.mu.Lock()
	if blind.applies != applies {
		t.Errorf("a blind backend is re-applied on every pass: %d -> %d", applies, blind.applies)
	}
	blind.mu.Unlock()
	st := c.Status()
	byName := map[string]BackendStatus{}
	for _, b := range st.Backends {
		byName[b.Name] = b
	}
	if w := byName["webhook"]; w.Actual != -1 || w.Desired != 2 {
		t.Errorf("blind status %+v", w)
	}
	if e := byName["edl"]; e.Unsupported != 1 || e.Desired != 1 || e.Actual != 1 {
		t.Errorf("feed status %+v", e)
	}
}

// An offline analysis of an old recording judges blocks by the
// recording's own time: a block requested in the capture is still active
// at its end, whatever today's date, and the clock is the event time.
func TestEventTimeOnlyKeepsARecordingsBlocks(t *testing.T) {
	bus := newBus(t)
	cfg := testConfig()
	cfg.DryRun = true
	today := t0.Add(300 * 24 * time.Hour)
	c, err := New(cfg, Dependencies{Bus: bus, Source: events.Source{Name: "test"}, EventTimeOnly: true,
		Now: func() time.Time { return today }})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	req := pairReq("10.20.0.150", "203.0.113.45")
	req.DurationS = 3600
	decide(t, bus, t0, &workstation, workstation.Key, internet, req)
	caughtUp(t, bus, c)
	if got := c.Clock(); !got.Equal(t0) {
		t.Errorf("clock %s, want the event time %s", got, t0)
	}
	eventually(t, "the block recorded", func() bool { bs, _ := c.Desired(context.Background()); return len(bs) == 1 })
	if b := only(t, c); b.State == StateExpired {
		t.Fatalf("a block of the recording expired against the wall clock: %+v", b)
	}
}
