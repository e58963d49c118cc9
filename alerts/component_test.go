package alerts

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/vigil-health/vigil/events"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

func newBus(t *testing.T) *events.Bus {
	t.Helper()
	b, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop(context.Background()) })
	return b
}

// pump is the demo's infusion pump.
func pump() events.DeviceSnapshot {
	return events.DeviceSnapshot{
		Key: "mac:00:12:21:4e:0a:12/20", ID: "dev-pump-02", MAC: "00:12:21:4e:0a:12", IPs: []string{"10.20.0.102"}, VLAN: 20,
		Attributes: map[string]string{"hostname": "INF-PUMP-02"}, Category: "infusion_pump", Medical: true, Criticality: "life_sustaining",
	}
}

func monitor() events.DeviceSnapshot {
	return events.DeviceSnapshot{Key: "mac:00:09:fb:01:02:03/20", MAC: "00:09:fb:01:02:03", IPs: []string{"10.20.0.50"}, Category: "patient_monitor", Medical: true}
}

// alert builds an alert event as the policy engine publishes it.
func alert(at time.Time, rule string, sev events.Severity, dev events.DeviceSnapshot, peer string, port uint16) events.Event[events.Alert] {
	a := events.Alert{
		Rule: rule, Severity: sev, Title: rule + " on " + dev.Key, Description: "why " + rule,
		Device: dev, Tags: []string{"medical", "mitre:T0886"}, DeviationID: "dev-" + at.Format("150405"),
		DecisionID: "dec-" + at.Format("150405"), PolicyRevision: "rev1",
	}
	if peer != "" {
		a.Peer = &events.Endpoint{IP: peer, Port: port}
	}
	return events.MustEvent(at, events.Source{Component: "policy", Name: "default", Site: "default"}, a)
}

func publish(t *testing.T, b *events.Bus, msgs ...events.Message) {
	t.Helper()
	for _, m := range msgs {
		if err := b.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

type fixture struct {
	bus  *events.Bus
	comp *Component
	now  time.Time
}

func start(t *testing.T, b *events.Bus, cp events.Checkpointer) *fixture {
	t.Helper()
	f := &fixture{bus: b, now: t0.Add(24 * time.Hour)}
	c, err := New(DefaultConfiguration(), Dependencies{Bus: b, Checkpoints: cp, Source: events.Source{Name: "default", Site: "default"},
		Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.comp = c
	t.Cleanup(func() { c.Stop(context.Background()) })
	return f
}

func (f *fixture) drain(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.bus.WaitCaughtUp(ctx, events.StreamAlerts, Durable); err != nil {
		t.Fatal(err)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestRepeatedAlertsFoldIntoOneIncident(t *testing.T) {
	b := newBus(t)
	f := start(t, b, nil)
	publish(t, b,
		alert(t0.Add(2*time.Minute), "internet_communication", events.SeverityHigh, pump(), "203.0.113.45", 443),
		alert(t0, "internet_communication", events.SeverityMedium, pump(), "203.0.113.45", 8443),
		alert(t0.Add(time.Minute), "internet_communication", events.SeverityCritical, pump(), "203.0.113.45", 443),
		alert(t0.Add(time.Minute), "internet_communication", events.SeverityHigh, pump(), "198.51.100.7", 443),
		alert(t0.Add(time.Minute), "scan_from_inside", events.SeverityHigh, monitor(), "", 0),
	)
	f.drain(t)

	page := f.comp.Incidents(Query{})
	if page.Total != 3 {
		t.Fatalf("%d incidents, want 3: %+v", page.Total, page.Incidents)
	}
	id := IncidentID("internet_communication", pump().Key, "203.0.113.45")
	inc, ok := f.comp.Incident(id)
	if !ok {
		t.Fatalf("no incident %s", id)
	}
	if inc.Count != 3 || !inc.FirstSeen.Equal(t0) || !inc.LastSeen.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("count %d, first %s, last %s; want 3 from %s to %s", inc.Count, inc.FirstSeen, inc.LastSeen, t0, t0.Add(2*time.Minute))
	}
	// The highest severity stays; the description follows the latest alert
	// by event time, not by arrival.
	if inc.Severity != events.SeverityCritical || inc.LatestSeverity != events.SeverityHigh || inc.Peer.Port != 443 {
		t.Errorf("severity %s latest %s peer %+v", inc.Severity, inc.LatestSeverity, inc.Peer)
	}
	if inc.State != StateOpen || len(inc.LatestAlerts) != 3 || len(inc.Evidence) != 3 {
		t.Errorf("state %s, %d latest alerts, %d evidence", inc.State, len(inc.LatestAlerts), len(inc.Evidence))
	}
	if diff := cmp.Diff([]string{"T0886"}, inc.MITRE); diff != "" {
		t.Errorf("mitre (-want +got):\n%s", diff)
	}
	// Nothing is dropped: every alert is still in the stream.
	if n := countKind(t, b, events.KindAlert); n != 5 {
		t.Errorf("%d alerts in the stream, want 5", n)
	}
	// The SOC subjects carry every alert once, by severity.
	if got := socSubjects(t, b); !cmp.Equal(got, map[string]int{
		"vigil.v1.soc.high": 3, "vigil.v1.soc.medium": 1, "vigil.v1.soc.critical": 1,
	}) {
		t.Errorf("SOC subjects: %v", got)
	}
	if p := f.comp.Incidents(Query{MinSeverity: events.SeverityCritical}); p.Total != 1 || p.Incidents[0].ID != id {
		t.Errorf("min_severity critical: %+v", p)
	}
	if p := f.comp.Incidents(Query{Device: "dev-pump-02"}); p.Total != 2 {
		t.Errorf("by device ID: %d incidents, want 2", p.Total)
	}
}

func TestLifecycle(t *testing.T) {
	b := newBus(t)
	f := start(t, b, nil)
	publish(t, b, alert(t0, "internet_communication", events.SeverityHigh, pump(), "203.0.113.45", 443))
	f.drain(t)
	id := IncidentID("internet_communication", pump().Key, "203.0.113.45")

	if _, err := f.comp.Acknowledge(ctx(t), id, Action{Note: "no actor"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("acknowledge without actor: %v, want ErrInvalid", err)
	}
	if _, err := f.comp.Acknowledge(ctx(t), "nope", Action{Actor: "alice"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("acknowledge unknown: %v, want ErrNotFound", err)
	}
	if _, err := f.comp.Acknowledge(ctx(t), id, Action{Actor: "alice", Note: strings.Repeat("x", 5000)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("acknowledge with a 5000-byte note: %v, want ErrInvalid", err)
	}
	if _, err := f.comp.Reopen(ctx(t), id, Action{Actor: "alice"}); !errors.Is(err, ErrTransition) {
		t.Errorf("reopen an open incident: %v, want ErrTransition", err)
	}
	inc, err := f.comp.Acknowledge(ctx(t), id, Action{Actor: "alice", Note: "calling biomed"})
	if err != nil {
		t.Fatal(err)
	}
	if inc.State != StateAcknowledged {
		t.Fatalf("state %s after acknowledge", inc.State)
	}
	f.now = f.now.Add(time.Hour)
	inc, err = f.comp.Resolve(ctx(t), id, Action{Actor: "bob", Note: "vendor update server, firewalled"})
	if err != nil {
		t.Fatal(err)
	}
	if inc.State != StateResolved {
		t.Fatalf("state %s after resolve", inc.State)
	}
	// The same incident fires again: it reopens, and says so on the stream.
	publish(t, b, alert(t0.Add(3*time.Hour), "internet_communication", events.SeverityHigh, pump(), "203.0.113.45", 443))
	f.drain(t)
	f.drain(t) // the reopen event the component published
	inc, _ = f.comp.Incident(id)
	if inc.State != StateOpen || inc.Count != 2 {
		t.Fatalf("after a new alert: state %s count %d, want open 2", inc.State, inc.Count)
	}
	want := []Transition{
		{Action: events.AlertAcknowledge, From: StateOpen, To: StateAcknowledged, Actor: "alice", Note: "calling biomed", Time: t0.Add(24 * time.Hour)},
		{Action: events.AlertResolve, From: StateAcknowledged, To: StateResolved, Actor: "bob", Note: "vendor update server, firewalled", Time: t0.Add(25 * time.Hour)},
		{Action: events.AlertReopen, From: StateResolved, To: StateOpen, Actor: SystemActor, Note: "a new alert of the resolved incident", Time: t0.Add(3 * time.Hour), AlertID: inc.LatestAlerts[1]},
	}
	if diff := cmp.Diff(want, inc.History, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".EventID" }, cmp.Ignore())); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	// The two changes a person made went to the SOC's lifecycle subject;
	// the reopen travels with its alert.
	if got := socSubjects(t, b); !cmp.Equal(got, map[string]int{"vigil.v1.soc.high": 2, "vigil.v1.soc.state.high": 2}) {
		t.Errorf("SOC subjects %v", got)
	}
	states := readStates(t, b)
	if len(states) != 3 || states[2].Action != events.AlertReopen || states[2].Actor != SystemActor || states[2].AlertID != inc.LatestAlerts[1] {
		t.Errorf("alert_state events: %+v", states)
	}
	if s := f.comp.Stats(); s.Ignored != 0 || s.Reopened != 1 || s.Transitions != 3 {
		t.Errorf("stats %+v", s)
	}
}

func TestSuppressionAppliesToPastAlertsAndIsCounted(t *testing.T) {
	b := newBus(t)
	f := start(t, b, nil)
	publish(t, b,
		alert(t0, "internet_communication", events.SeverityHigh, pump(), "203.0.113.45", 443),
		alert(t0.Add(time.Minute), "internet_communication", events.SeverityHigh, pump(), "203.0.113.45", 443),
		alert(t0.Add(time.Minute), "scan_from_inside", events.SeverityMedium, monitor(), "", 0),
	)
	f.drain(t)
	if _, err := f.comp.Suppress(ctx(t), SuppressionSpec{Actor: "alice", AlertSuppression: events.AlertSuppression{Reason: "x", Owner: "y"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty scope: %v, want ErrInvalid", err)
	}
	sup, err := f.comp.Suppress(ctx(t), SuppressionSpec{Actor: "alice", AlertSuppression: events.AlertSuppression{
		Rule: "internet_communication", Peer: "203.0.113.45", Reason: "pump vendor's update server", Owner: "biomed",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if sup.ID == "" || sup.CreatedBy != "alice" || !sup.Created.Equal(f.now) {
		t.Errorf("suppression %+v", sup)
	}
	page := f.comp.Incidents(Query{})
	if page.Total != 1 || page.Incidents[0].Rule != "scan_from_inside" || page.SuppressedIncidents != 1 || page.SuppressedAlerts != 2 {
		t.Errorf("default query: total %d, suppressed %d incidents %d alerts: %+v", page.Total, page.SuppressedIncidents, page.SuppressedAlerts, page.Incidents)
	}
	only := f.comp.Incidents(Query{Suppressed: "only"})
	if only.Total != 1 || !only.Incidents[0].Suppressed || only.Incidents[0].Suppression.ID != sup.ID || only.Incidents[0].Count != 2 {
		t.Errorf("suppressed=only: %+v", only)
	}
	if all := f.comp.Incidents(Query{Suppressed: "include"}); all.Total != 2 || all.SuppressedIncidents != 0 {
		t.Errorf("suppressed=include: %+v", all)
	}
	// A new alert of the suppressed incident is stored and counted, and
	// goes to the suppressed SOC subject.
	publish(t, b, alert(t0.Add(2*time.Minute), "internet_communication", events.SeverityHigh, pump(), "203.0.113.45", 443))
	f.drain(t)
	if got := socSubjects(t, b); got["vigil.v1.soc.suppressed.high"] != 1 || got["vigil.v1.soc.high"] != 2 {
		t.Errorf("SOC subjects %v", got)
	}
	if page := f.comp.Incidents(Query{}); page.SuppressedAlerts != 3 {
		t.Errorf("suppressed alerts %d, want 3", page.SuppressedAlerts)
	}
	if err := f.comp.Unsuppress(ctx(t), sup.ID, Action{Actor: "bob", Note: "update server retired"}); err != nil {
		t.Fatal(err)
	}
	if page := f.comp.Incidents(Query{}); page.Total != 2 || page.SuppressedIncidents != 0 {
		t.Errorf("after unsuppress: %+v", page)
	}
	if err := f.comp.Unsuppress(ctx(t), sup.ID, Action{Actor: "bob"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("second unsuppress: %v, want ErrNotFound", err)
	}
}

func TestSuppressionExpiresByEventTime(t *testing.T) {
	b := newBus(t)
	f := start(t, b, nil)
	f.now = t0.Add(-time.Hour) // the suppression is made before the alerts
	expires := t0.Add(time.Hour)
	if _, err := f.comp.Suppress(ctx(t), SuppressionSpec{Actor: "alice", AlertSuppression: events.AlertSuppression{
		Device: pump().Key, Reason: "pump firmware update window", Owner: "biomed", Expires: expires,
	}}); err != nil {
		t.Fatal(err)
	}
	publish(t, b, alert(t0.Add(30*time.Minute), "new_port", events.SeverityMedium, pump(), "10.20.0.9", 22))
	f.drain(t)
	if p := f.comp.Incidents(Query{}); p.Total != 0 || p.SuppressedIncidents != 1 {
		t.Fatalf("inside the window: %+v", p)
	}
	// The same incident after the expiry (event time): shown again, even
	// though the wall clock of the test never moved.
	publish(t, b, alert(expires, "new_port", events.SeverityMedium, pump(), "10.20.0.9", 22))
	f.drain(t)
	if p := f.comp.Incidents(Query{}); p.Total != 1 || p.Incidents[0].Count != 2 || p.Incidents[0].Suppressed {
		t.Errorf("after expiry: %+v", p)
	}
	if got := socSubjects(t, b); got["vigil.v1.soc.suppressed.medium"] != 1 || got["vigil.v1.soc.medium"] != 1 {
		t.Errorf("SOC subjects %v", got)
	}
	sups := f.comp.Suppressions()
	if len(sups) != 1 || !sups[0].Expired(expires) || sups[0].Expired(expires.Add(-time.Nanosecond)) {
		t.Errorf("suppressions %+v", sups)
	}
	f.now = t0.Add(2 * time.Hour)
	if _, err := f.comp.Suppress(ctx(t), SuppressionSpec{Actor: "a", AlertSuppression: events.AlertSuppression{Rule: "r", Reason: "x", Owner: "y", Expires: t0}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("expiry in the past: %v, want ErrInvalid", err)
	}
}

// TestReplayGivesTheSameState rebuilds the projection from the stream,
// then from a checkpoint plus the rest, and compares the bytes.
func TestReplayGivesTheSameState(t *testing.T) {
	b := newBus(t)
	cp := &memCheckpoints{}
	f := start(t, b, nil)
	id := IncidentID("internet_communication", pump().Key, "203.0.113.45")
	publish(t, b, alert(t0, "internet_communication", events.SeverityHigh, pump(), "203.0.113.45", 443),
		alert(t0.Add(time.Minute), "scan_from_inside", events.SeverityMedium, monitor(), "", 0))
	f.drain(t)
	mustOK(t, func() error { _, err := f.comp.Acknowledge(ctx(t), id, Action{Actor: "alice"}); return err })
	mustOK(t, func() error { _, err := f.comp.Resolve(ctx(t), id, Action{Actor: "alice", Note: "done"}); return err })
	publish(t, b, alert(t0.Add(2*time.Hour), "internet_communication", events.SeverityCritical, pump(), "203.0.113.45", 443))
	f.drain(t)
	mustOK(t, func() error {
		_, err := f.comp.Suppress(ctx(t), SuppressionSpec{Actor: "bob", AlertSuppression: events.AlertSuppression{Category: "patient_monitor", MaxSeverity: events.SeverityMedium, Reason: "r", Owner: "o"}})
		return err
	})
	f.drain(t)
	want := stateOf(t, f.comp)
	socBefore := socSubjects(t, b)
	if err := f.comp.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// From the stream's start, no checkpoint.
	g := start(t, b, cp)
	g.drain(t)
	if diff := cmp.Diff(string(want), string(stateOf(t, g.comp))); diff != "" {
		t.Errorf("replayed state differs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(socBefore, socSubjects(t, b)); diff != "" {
		t.Errorf("the replay republished SOC records (-before +after):\n%s", diff)
	}
	if err := g.comp.Stop(context.Background()); err != nil { // writes the checkpoint
		t.Fatal(err)
	}
	if cp.next.Seq == 0 {
		t.Fatal("no checkpoint written on stop")
	}

	// From the checkpoint, then one more alert: same as applying it live.
	h := start(t, b, cp)
	publish(t, b, alert(t0.Add(3*time.Hour), "scan_from_inside", events.SeverityMedium, monitor(), "", 0))
	h.drain(t)
	live := start(t, newBusWith(t, b), nil)
	live.drain(t)
	if diff := cmp.Diff(string(stateOf(t, live.comp)), string(stateOf(t, h.comp))); diff != "" {
		t.Errorf("checkpoint + rest differs from a full replay (-full +checkpoint):\n%s", diff)
	}
}

// newBusWith copies every alerts-stream event of from into a new bus, in
// order, for a second independent replay.
func newBusWith(t *testing.T, from *events.Bus) *events.Bus {
	t.Helper()
	to := newBus(t)
	err := from.Read(context.Background(), events.StreamAlerts, []events.Kind{events.KindAlert, events.KindAlertState}, func(d events.Delivery) error {
		_, err := to.JetStream().Publish(context.Background(), d.Subject, d.Data, jetstream.WithMsgID(d.Header.ID))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

func TestWatch(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last, after the bus stopped
	b := newBus(t)
	f := start(t, b, nil)
	wctx, cancel := context.WithCancel(context.Background())
	ch := f.comp.Watch(wctx, events.SeverityHigh)
	publish(t, b,
		alert(t0, "new_port", events.SeverityLow, pump(), "10.20.0.9", 22),
		alert(t0, "internet_communication", events.SeverityHigh, pump(), "203.0.113.45", 443))
	select {
	case u := <-ch:
		if u.Type != UpdateAlert || u.Alert.Body.Rule != "internet_communication" || u.Incident == nil || u.Incident.Count != 1 {
			t.Errorf("update %+v", u)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no update")
	}
	cancel()
	for range ch { // closed once ctx ends
	}
	if s := f.comp.Stats(); s.Watchers != 0 {
		t.Errorf("%d watchers left", s.Watchers)
	}
}

func TestSlowWatcherIsDisconnectedNotWaitedFor(t *testing.T) {
	b := newBus(t)
	cfg := DefaultConfiguration()
	cfg.WatchBuffer = 1
	c, err := New(cfg, Dependencies{Bus: b})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	ch := c.Watch(context.Background(), events.SeverityInfo)
	for i := range 3 {
		publish(t, b, alert(t0.Add(time.Duration(i)*time.Second), "r", events.SeverityLow, pump(), "", 0))
	}
	(&fixture{bus: b}).drain(t)
	n := 0
	for range ch {
		n++
	}
	if n != 1 || c.Stats().Lagged != 1 || c.Stats().Alerts != 3 {
		t.Errorf("read %d updates, stats %+v", n, c.Stats())
	}
}

func mustOK(t *testing.T, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatal(err)
	}
}

func stateOf(t *testing.T, c *Component) []byte {
	t.Helper()
	c.mu.RLock()
	defer c.mu.RUnlock()
	b, err := c.model.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type memCheckpoints struct {
	next  events.Position
	state []byte
}

func (m *memCheckpoints) SaveCheckpoint(_ context.Context, _ string, next events.Position, st []byte) error {
	m.next, m.state = next, append([]byte(nil), st...)
	return nil
}

func (m *memCheckpoints) LoadCheckpoint(context.Context, string) (events.Position, []byte, bool, error) {
	return m.next, m.state, m.next.Seq > 0, nil
}

func countKind(t *testing.T, b *events.Bus, k events.Kind) int {
	t.Helper()
	n := 0
	if err := b.Read(context.Background(), events.StreamAlerts, []events.Kind{k}, func(events.Delivery) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func readStates(t *testing.T, b *events.Bus) []events.AlertState {
	t.Helper()
	var out []events.AlertState
	err := b.Read(context.Background(), events.StreamAlerts, []events.Kind{events.KindAlertState}, func(d events.Delivery) error {
		ev, err := events.Decode[events.AlertState](d.Data)
		out = append(out, ev.Body)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// socSubjects counts the records on each SOC subject.
func socSubjects(t *testing.T, b *events.Bus) map[string]int {
	t.Helper()
	st, err := b.JetStream().Stream(context.Background(), SOCStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(SOCPrefix+".>"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for s, n := range info.State.Subjects {
		out[s] = int(n)
	}
	return out
}

// TestFirstStartDoesNotFloodTheSOC: alerts stored before the service ever
// ran are folded into incidents but not republished on the SOC subjects.
func TestFirstStartDoesNotFloodTheSOC(t *testing.T) {
	b := newBus(t)
	publish(t, b, alert(t0, "internet_communication", events.SeverityHigh, pump(), "203.0.113.45", 443))
	f := start(t, b, nil)
	publish(t, b, alert(t0.Add(time.Minute), "internet_communication", events.SeverityCritical, pump(), "203.0.113.45", 443))
	f.drain(t)
	if inc := f.comp.Incidents(Query{}); inc.Total != 1 || inc.Incidents[0].Count != 2 {
		t.Errorf("incidents %+v", inc)
	}
	if got := socSubjects(t, b); !cmp.Equal(got, map[string]int{"vigil.v1.soc.critical": 1}) {
		t.Errorf("SOC subjects %v, want only the alert raised after the start", got)
	}
}
