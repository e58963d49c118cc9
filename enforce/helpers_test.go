package enforce

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
)

var (
	t0      = time.Date(2026, 1, 5, 8, 33, 0, 0, time.UTC)
	policyS = events.Source{Component: "policy", Name: "default", Site: "test"}

	pump = events.DeviceSnapshot{
		Key: "mac:00:12:21:4e:0a:12/20", MAC: "00:12:21:4e:0a:12", IPs: []string{"10.20.0.102"}, VLAN: 20,
		Attributes: map[string]string{"hostname": "INF-PUMP-02"},
		Category:   "infusion_pump", Medical: true, Criticality: "life_sustaining",
	}
	workstation = events.DeviceSnapshot{
		Key: "mac:00:14:22:b7:3e:5a/20", MAC: "00:14:22:b7:3e:5a", IPs: []string{"10.20.0.150"}, VLAN: 20,
		Attributes: map[string]string{"hostname": "WS-NURSE-01"},
		Category:   "workstation", Criticality: "non_clinical",
	}
	internet = &events.Endpoint{IP: "203.0.113.45", Port: 443}
)

// fakeBackend is an enforcement point in memory, for the gate and
// reconciliation logic; the end-to-end tests use real nftables.
type fakeBackend struct {
	mu      sync.Mutex
	name    string
	held    map[string]Entry
	applies int
	fail    int // the next fail Apply calls fail
	noPorts bool
}

func newFake(name string) *fakeBackend { return &fakeBackend{name: name, held: map[string]Entry{}} }

func (f *fakeBackend) Name() string { return f.name }
func (f *fakeBackend) Supports(s events.BlockScope) bool {
	return !(f.noPorts && s.Port != 0)
}

func (f *fakeBackend) Actual(context.Context) ([]Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail > 0 {
		f.fail--
		return nil, errors.New("connection refused")
	}
	return sortedEntries(f.held), nil
}

func (f *fakeBackend) Apply(_ context.Context, add, remove []Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applies++
	if f.fail > 0 {
		f.fail--
		return errors.New("connection refused")
	}
	for _, e := range remove {
		delete(f.held, e.ID)
	}
	for _, e := range add {
		f.held[e.ID] = e
	}
	return nil
}

func (f *fakeBackend) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.held {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func newBus(t testing.TB) *events.Bus {
	t.Helper()
	bus, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := bus.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Stop(context.Background()) })
	return bus
}

// testConfig is the default with dry-run off and fast loops.
func testConfig() Configuration {
	cfg := DefaultConfiguration()
	cfg.DryRun = false
	cfg.ReconcileInterval = 50 * time.Millisecond
	cfg.RetryInitial, cfg.RetryMax = 20*time.Millisecond, 100*time.Millisecond
	return cfg
}

// start runs a component with the wall clock stopped at wall.
func start(t testing.TB, bus *events.Bus, cfg Configuration, wall time.Time, backends ...Backend) *Component {
	t.Helper()
	c, err := New(cfg, Dependencies{Bus: bus, Source: events.Source{Name: "test"}, Backends: backends,
		Now: func() time.Time { return wall }})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}

// decide publishes a decision with its requests and, when snap is set,
// its alert, as the policy engine does.
func decide(t testing.TB, bus *events.Bus, at time.Time, snap *events.DeviceSnapshot, device string, peer *events.Endpoint, reqs ...events.EnforceRequest) events.Event[events.Decision] {
	t.Helper()
	d := events.Decision{Query: "data.vigil.main", Revision: "r1", InputKind: events.KindDeviation,
		InputID: "dev-" + at.Format(time.RFC3339Nano) + device, Device: device, Enforce: reqs}
	if snap != nil {
		d.Alerts = 1
	}
	dec := events.MustEvent(at, policyS, d)
	ctx := context.Background()
	if err := bus.Publish(ctx, dec); err != nil {
		t.Fatal(err)
	}
	if snap != nil {
		a := events.MustEvent(at, policyS, events.Alert{Rule: "internet_communication", Severity: events.SeverityHigh,
			Title: "test", Device: *snap, Peer: peer, DeviationID: d.InputID, DecisionID: dec.ID, PolicyRevision: "r1"})
		if err := bus.Publish(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	return dec
}

func pairReq(ip, peer string) events.EnforceRequest {
	return events.EnforceRequest{Scope: events.BlockScope{IP: ip, PeerIP: peer}, DurationS: 3600, Reason: "test block"}
}

// caughtUp waits until the component handled everything published.
func caughtUp(t testing.TB, bus *events.Bus, c *Component) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.WaitCaughtUp(ctx, events.StreamAlerts, c.cfg.Durable); err != nil {
		t.Fatal(err)
	}
	// A consumer just created may report nothing pending for a moment:
	// also wait for its acknowledgements to reach the stream's end (the
	// tests publish only what the component reads).
	js := bus.JetStream()
	eventually(t, "the consumer at the end of the stream", func() bool {
		st, err := js.Stream(ctx, events.StreamAlerts)
		if err != nil {
			return false
		}
		cons, err := js.Consumer(ctx, events.StreamAlerts, c.cfg.Durable)
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		return err == nil && info.AckFloor.Stream >= st.CachedInfo().State.LastSeq
	})
}

// eventually polls cond until it holds or 10 s passed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// steps returns the enforcement events of the log as "step request
// backend: reason" lines, in order, for one request ("" for all).
func steps(t testing.TB, bus *events.Bus, id string) []events.Enforcement {
	t.Helper()
	var out []events.Enforcement
	err := bus.Read(context.Background(), events.StreamEnforce, []events.Kind{events.KindEnforcement}, func(d events.Delivery) error {
		ev, err := events.Decode[events.Enforcement](d.Data)
		if err != nil {
			return err
		}
		if id == "" || ev.Body.RequestID == id {
			out = append(out, ev.Body)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func stepNames(es []events.Enforcement) string {
	var s []string
	for _, e := range es {
		s = append(s, string(e.Step))
	}
	return strings.Join(s, ",")
}

func only(t testing.TB, c *Component) Block {
	t.Helper()
	bs, _ := c.Desired(context.Background())
	if len(bs) != 1 {
		t.Fatalf("want one block, have %d: %+v", len(bs), bs)
	}
	return bs[0]
}
