package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
)

const guestPolicy = `package vigil.edge

import data.vigil.lib

# The guest network never reaches the PACS.
alerts contains {
	"rule": "guest_to_pacs",
	"severity": "high",
	"title": sprintf("guest %s reached the PACS on %s/%d", [input.body.orig.ip, input.body.transport, input.body.port]),
} if {
	net.cidr_contains("10.99.0.0/16", input.body.orig.ip)
	lib.listed(input.body.resp.ip, ["10.30.0.5"])
}

enforce contains {
	"scope": {"ip": input.body.orig.ip, "peer_ip": input.body.resp.ip},
	"duration_s": 600,
	"reason": "guest network must not reach the PACS",
} if {
	net.cidr_contains("10.99.0.0/16", input.body.orig.ip)
	lib.listed(input.body.resp.ip, ["10.30.0.5"])
}
`

func flowEvent(origIP, respIP string, port uint16, id string) events.Event[events.Flow] {
	return events.MustEvent(eventTime, events.Source{Component: "sensor"}, events.Flow{
		FlowID: id, Phase: events.FlowEnd, Start: eventTime, Last: eventTime, Transport: "tcp",
		Orig:        events.Endpoint{MAC: "00:aa:00:00:00:01", IP: origIP, Port: 40000},
		Resp:        events.Endpoint{MAC: "00:aa:00:00:00:02", IP: respIP, Port: port},
		OrigPackets: 4, RespPackets: 3, State: "SF", History: "ShADadFf", AppProto: "dicom",
	})
}

func TestEdgePolicyOncePerEdgeAndRevision(t *testing.T) {
	dir := writePolicies(t, map[string]string{"guest.rego": guestPolicy})
	cfg := DefaultConfiguration()
	cfg.Dir = dir
	eng := newEngine(t, cfg)
	if !eng.HasEdgePolicies() {
		t.Fatal("HasEdgePolicies() = false")
	}
	ctx := context.Background()
	dec, alerts, err := eng.EvaluateEdge(ctx, flowEvent("10.99.0.7", "10.30.0.5", 104, "f1"))
	if err != nil {
		t.Fatal(err)
	}
	if dec.Body.Query != EdgeQuery || dec.Body.InputKind != EdgeKind || dec.Body.Alerts != 1 || len(dec.Body.Enforce) != 1 ||
		dec.Body.Device != events.DeviceKey("00:aa:00:00:00:01", "10.99.0.7", 0) || dec.Body.Error != "" {
		t.Errorf("decision = %+v", dec.Body)
	}
	if len(alerts) != 1 || alerts[0].Body.Rule != "guest_to_pacs" || alerts[0].Body.Peer.IP != "10.30.0.5" ||
		alerts[0].Body.DecisionID != dec.ID || alerts[0].Body.Device.IPs[0] != "10.99.0.7" {
		t.Fatalf("alerts = %+v", alerts)
	}
	// The same edge again, from another flow: nothing to decide.
	if _, _, err := eng.EvaluateEdge(ctx, flowEvent("10.99.0.7", "10.30.0.5", 104, "f2")); !errors.Is(err, ErrEdgeCached) {
		t.Errorf("second flow on the edge: err = %v, want ErrEdgeCached", err)
	}
	// Another edge is decided (no alert: not a guest).
	dec, alerts, err = eng.EvaluateEdge(ctx, flowEvent("10.20.0.7", "10.30.0.5", 104, "f3"))
	if err != nil || dec.Body.Alerts != 0 || len(alerts) != 0 {
		t.Errorf("other edge: %+v %v %v", dec.Body, alerts, err)
	}
	if s := eng.EdgeStats(); s.Cached != 2 || s.Hits != 1 {
		t.Errorf("edge stats = %+v, want 2 cached, 1 hit", s)
	}
	// A new revision decides every edge again.
	if err := os.WriteFile(filepath.Join(dir, "guest.rego"), []byte(strings.Replace(guestPolicy, `"high"`, `"critical"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := eng.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	_, alerts, err = eng.EvaluateEdge(ctx, flowEvent("10.99.0.7", "10.30.0.5", 104, "f4"))
	if err != nil || len(alerts) != 1 || alerts[0].Body.Severity != events.SeverityCritical {
		t.Errorf("after reload: %+v %v", alerts, err)
	}
}

func TestNoEdgePoliciesNoEdgeEvaluation(t *testing.T) {
	eng := newEngine(t, DefaultConfiguration())
	if eng.HasEdgePolicies() {
		t.Fatal("the shipped library has no edge rules")
	}
	if _, _, err := eng.EvaluateEdge(context.Background(), flowEvent("10.99.0.7", "10.30.0.5", 104, "f1")); !errors.Is(err, ErrEdgeCached) {
		t.Errorf("err = %v, want ErrEdgeCached", err)
	}
}

func TestCheck(t *testing.T) {
	good := writePolicies(t, map[string]string{"guest.rego": guestPolicy})
	res, err := Check(context.Background(), CheckOptions{Builtin: true, Dirs: []string{good}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfiguration()
	cfg.Dir = good
	if eng := newEngine(t, cfg); res.Revision != eng.Revision() {
		t.Errorf("Check revision %s, engine revision %s: a check must name the revision the engine records", res.Revision, eng.Revision())
	}
	bad := writePolicies(t, map[string]string{"broken.rego": "package vigil.rules.broken\n\nalerts contains x if {\n\tx := http.send({})\n}\n"})
	_, err = Check(context.Background(), CheckOptions{Builtin: true, Dirs: []string{bad}})
	var errs Errors
	if !errors.As(err, &errs) || len(errs) == 0 || !strings.HasSuffix(errs[0].File, "broken.rego") || errs[0].Row != 4 ||
		!strings.Contains(errs[0].Message, "http.send is not allowed") {
		t.Errorf("Check(broken) = %v", err)
	}
}

func TestCoverage(t *testing.T) {
	dir := writePolicies(t, map[string]string{
		"site.rego": `package vigil.rules.site

import data.vigil.lib

alerts contains {"rule": "site", "severity": "low", "title": "t"} if lib.deviation("new_device")

alerts contains {"rule": "site_never", "severity": "low", "title": "never"} if {
	lib.deviation("scan")
	input.body.count > 1000000
}
`,
		"site_test.rego": `package vigil.rules.site_test

import data.vigil.fixtures
import data.vigil.main

test_new_device if {
	some a in main.alerts with input as fixtures.deviation("new_device", {})
	a.rule == "site"
}
`,
	})
	rep, err := RunTests(context.Background(), TestOptions{Dirs: []string{dir}, Coverage: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Coverage == nil {
		t.Fatal("no coverage")
	}
	var site *FileCoverage
	for i, f := range rep.Coverage.Files {
		if strings.HasSuffix(f.File, "_test.rego") {
			t.Errorf("test file %s in the coverage", f.File)
		}
		if strings.HasSuffix(f.File, "site.rego") {
			site = &rep.Coverage.Files[i]
		}
	}
	if site == nil || site.CoveredLines == 0 || site.NotCoveredLines == 0 || site.Percent <= 0 || site.Percent >= 100 {
		t.Fatalf("site.rego coverage = %+v, want partly covered", site)
	}
	if !strings.Contains(strings.Join(site.NotCovered, ","), "9") {
		t.Errorf("not covered = %v, want line 9 (the count test never reached)", site.NotCovered)
	}
}

// TestComponentEdges runs the component on a real embedded JetStream with
// an edge policy: three flows on one edge and one on another give two
// decisions and one alert; the edge consumer runs only with edge rules.
func TestComponentEdges(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bus, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Cleanups run last in, first out: the components stop before the bus.
	t.Cleanup(func() {
		stop, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		if err := bus.Stop(stop); err != nil {
			t.Errorf("stop bus: %v", err)
		}
	})
	for i, f := range []events.Event[events.Flow]{
		flowEvent("10.99.0.7", "10.30.0.5", 104, "f1"), flowEvent("10.99.0.7", "10.30.0.5", 104, "f2"),
		flowEvent("10.99.0.7", "10.30.0.5", 104, "f3"), flowEvent("10.20.0.7", "10.30.0.5", 104, "f4"),
	} {
		f = events.MustEvent(f.Time.Add(time.Duration(i)*time.Second), f.Source, f.Body)
		if err := bus.Publish(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	cfg := DefaultConfiguration()
	cfg.Dir = writePolicies(t, map[string]string{"guest.rego": guestPolicy})
	c := startComponent(t, cfg, bus)
	if !c.EdgesRunning() {
		t.Fatal("edge consumer not running with an edge policy")
	}
	if err := bus.WaitCaughtUp(ctx, events.StreamSensor, EdgeDurable); err != nil {
		t.Fatal(err)
	}
	var decisions, alerts int
	err = bus.Read(ctx, events.StreamAlerts, nil, func(d events.Delivery) error {
		switch d.Header.Kind {
		case events.KindDecision:
			decisions++
		case events.KindAlert:
			alerts++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if decisions != 2 || alerts != 1 {
		t.Errorf("%d decisions and %d alerts, want 2 and 1 (one per edge)", decisions, alerts)
	}
	if s := c.Stats(); s.EdgeEvaluations != 2 || s.Edges.Hits != 2 || s.Edges.Cached != 2 {
		t.Errorf("stats %+v", s)
	}

	// Without edge rules, no edge consumer.
	other := startComponent(t, func() Configuration { c := DefaultConfiguration(); c.Durable = "policy-2"; return c }(), bus)
	if other.EdgesRunning() {
		t.Error("edge consumer running without edge rules")
	}
	if err := bus.WaitCaughtUp(ctx, events.StreamAnalytics, "policy-2"); err != nil {
		t.Fatal(err)
	}
}
