package risk

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

var src = events.Source{Component: "test"}

func snap(key, id, crit, host string) events.DeviceSnapshot {
	return events.DeviceSnapshot{Key: key, ID: id, Criticality: crit, Category: "infusion_pump", Department: "ward 3", Site: "main",
		Attributes: map[string]string{"hostname": host}}
}

func flowEv(sec int, origMAC, origIP, respMAC, respIP, app string) events.Event[events.Flow] {
	return events.MustEvent(t0.Add(time.Duration(sec)*time.Second), src, events.Flow{FlowID: fmt.Sprint(sec, origIP, respIP), Phase: events.FlowEnd,
		Transport: "tcp", Orig: events.Endpoint{MAC: origMAC, IP: origIP}, Resp: events.Endpoint{MAC: respMAC, IP: respIP, Port: 443}, VLAN: 20, AppProto: app})
}

// TestModelFromEvents builds the inputs of the golden pump example from
// events and checks the score, the events published, and that a
// resolved vulnerability and an expired alert lower it again.
func TestModelFromEvents(t *testing.T) {
	m := NewModel(DefaultConfiguration(), src, nil)
	const pumpMAC, pumpIP = "00:12:21:4e:0a:12", "10.20.0.102"
	pump := snap(events.DeviceKey(pumpMAC, "", 20), "dev-pump", "life_sustaining", "INF-PUMP-02")
	var out []events.Event[events.Risk]
	out = append(out, m.ObserveChange(events.MustEvent(t0, src, events.DeviceChange{Device: pump, Change: events.ChangeNew}))...)
	for i := range 12 { // enough flows, inside the segment
		out = append(out, m.ObserveFlow(flowEv(i, pumpMAC, pumpIP, "d4:ae:52:8a:10:21", "10.20.0.21", "tls"))...)
	}
	if r, _ := m.Device("dev-pump"); r.Score != 2.8 { // 0.05 × 0.7 × 0.8 × 100
		t.Errorf("controlled pump: %v %+v", r.Score, r.Factors)
	}
	out = append(out, m.ObserveFlow(flowEv(100, pumpMAC, pumpIP, "00:00:0c:5a:20:01", "10.30.0.5", ""))...)       // another segment
	out = append(out, m.ObserveFlow(flowEv(200, pumpMAC, pumpIP, "00:00:0c:5a:20:01", "203.0.113.45", "tls"))...) // internet
	vul := events.MustEvent(t0.Add(300*time.Second), src, events.Vulnerability{Device: pump, Status: events.VulnDetected,
		ID: "CVE-2021-33886", Confidence: "confirmed", Type: "clinical", CVSS: 7.5, EPSS: 0.01, Evidence: []string{}})
	out = append(out, m.ObserveVulnerability(vul)...)
	dev := events.MustEvent(t0.Add(400*time.Second), src, events.Deviation{Type: events.DeviationInternet, Device: pump, Direction: "outbound"})
	out = append(out, m.ObserveDeviation(dev)...)
	out = append(out, m.ObserveAlert(events.MustEvent(t0.Add(400*time.Second), src, events.Alert{Rule: "internet_communication",
		Severity: events.SeverityCritical, Device: pump, DeviationID: dev.ID}))...)
	r, ok := m.Device("dev-pump")
	if !ok || r.Score != 67.7 || r.Level != "critical" {
		t.Fatalf("pump: %v %s\n%+v", r.Score, r.Level, r.Factors)
	}
	var scores []float64
	for _, e := range out {
		scores = append(scores, e.Body.Score)
		if e.Body.Formula != FormulaVersion || len(e.Body.Factors) != 8 || e.Body.Device.ID != "dev-pump" {
			t.Errorf("event %+v", e.Body)
		}
	}
	// new (0.05); 12 flows cross min_flows (controls credited: 0.05 × 0.7
	// × 0.8); a peer in another segment (0.05 × 0.8); internet (1 − 0.95 ×
	// 0.7); the vulnerability (1 − 0.95 × 0.7 × 0.6388); the deviation
	// (anomaly 0.1: × 0.96); the alert (critical: × 0.76 instead).
	want := fmt.Sprint([]float64{5, 2.8, 4, 33.5, 57.5, 59.2, 67.7})
	if fmt.Sprint(scores) != want {
		t.Errorf("published scores %v, want %s", scores, want)
	}
	// Resolved, and eight days later the alert is out of the window.
	out = m.ObserveVulnerability(events.MustEvent(t0.Add(8*24*time.Hour), src, events.Vulnerability{Device: pump,
		Status: events.VulnResolved, ID: "CVE-2021-33886", Confidence: "confirmed", Evidence: []string{}}))
	if len(out) != 1 || out[0].Body.Previous != 67.7 || out[0].Body.Score != 33.5 {
		t.Errorf("after resolution and expiry: %d events", len(out))
		for _, e := range out {
			t.Errorf("  %v <- %v", e.Body.Score, e.Body.Previous)
		}
	}

	// The checkpoint restores the same scores.
	b, err := m.MarshalState(map[string]events.Position{"S": {Seq: 7, Index: 3}})
	if err != nil {
		t.Fatal(err)
	}
	m2 := NewModel(DefaultConfiguration(), src, nil)
	next, err := m2.RestoreState(b)
	if err != nil || next["S"] != (events.Position{Seq: 7, Index: 3}) {
		t.Fatal(next, err)
	}
	if a, b := m.Results(), m2.Results(); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("restored results differ:\n%v\n%v", a, b)
	}
}

func TestSummarise(t *testing.T) {
	scores := []DeviceRisk{
		{DeviceID: "a", Department: "ICU", Result: Result{Score: 70, Level: "critical"}, Inputs: Inputs{Vulns: []Vuln{{}, {}}}},
		{DeviceID: "b", Department: "ICU", Result: Result{Score: 10, Level: "low"}},
		{DeviceID: "c", Result: Result{Score: 20, Level: "medium"}},
	}
	s, err := Summarise(scores, "department")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Groups) != 2 || s.Groups[0].Name != "ICU" || s.Groups[0].Mean != 40 || s.Groups[0].Max != 70 || s.Groups[0].Top != "a" ||
		s.Groups[0].Levels["critical"] != 1 || s.Groups[0].OpenVulnerabilities != 2 || s.Groups[1].Name != "(unknown)" {
		t.Errorf("%+v", s)
	}
	if _, err := Summarise(scores, "floor"); err == nil {
		t.Error("by floor accepted")
	}
}

// TestComponent runs the engine over the bus and restarts it from its
// checkpoint.
func TestComponent(t *testing.T) {
	b, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Stop(context.Background())
	pump := snap("mac:00:12:21:4e:0a:12/20", "dev-pump", "life_sustaining", "INF-PUMP-02")
	pub := func(ms ...events.Message) {
		for _, m := range ms {
			if err := b.Publish(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	wait := func(c *Component) {
		for _, sd := range Consumers {
			if err := b.WaitCaughtUp(ctx, sd[0], sd[1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	pub(events.MustEvent(t0, src, events.DeviceChange{Device: pump, Change: events.ChangeNew}))
	c1, err := New(DefaultConfiguration(), Dependencies{Bus: b, Checkpoints: b})
	if err != nil {
		t.Fatal(err)
	}
	if err := c1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wait(c1)
	if err := c1.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	pub(events.MustEvent(t0.Add(time.Minute), src, events.Vulnerability{Device: pump, Status: events.VulnDetected, ID: "CVE-1",
		Confidence: "confirmed", CVSS: 7.5, EPSS: 0.01, Evidence: []string{}}))
	c2, err := New(DefaultConfiguration(), Dependencies{Bus: b, Checkpoints: b})
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wait(c2)
	defer c2.Stop(ctx)
	var got []float64
	if err := b.Read(ctx, events.StreamAnalytics, []events.Kind{events.KindRisk}, func(d events.Delivery) error {
		e, err := events.Decode[events.Risk](d.Data)
		got = append(got, e.Body.Score)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// 5.0 alone; with the vulnerability: 1 − 0.95 × (1 − 0.8 × 0.4515) = 0.39314.
	if fmt.Sprint(got) != "[5 39.3]" {
		t.Errorf("risk events %v", got)
	}
	if r, ok := c2.DeviceRisk("dev-pump"); !ok || r.Score != 39.3 {
		t.Errorf("DeviceRisk %+v", r)
	}
	if s, err := c2.Summary("category"); err != nil || s.Groups[0].Name != "infusion_pump" {
		t.Errorf("summary %+v %v", s, err)
	}
}

// TestOrderIndependent: the engine reads three streams whose deliveries
// interleave differently from run to run; the final scores and their
// explanations must not depend on it.
func TestOrderIndependent(t *testing.T) {
	const mac, ip = "00:14:22:b7:3e:5a", "10.20.0.150"
	ws := snap(events.DeviceKey(mac, "", 20), "dev-ws", "non_clinical", "WS-1")
	ws.Attributes["dicom.ae_title"] = "WS_NURSE"
	baselineSnap := events.DeviceSnapshot{Key: ws.Key, Attributes: map[string]string{"hostname": "WS-1"}} // no ID, no class
	tel := events.MustEvent(t0.Add(time.Minute), src, events.Deviation{Type: events.DeviationInsecureProtocol, Device: baselineSnap,
		Attribute: "insecure_protocol", Value: "telnet"})
	scan := events.MustEvent(t0.Add(2*time.Minute), src, events.Deviation{Type: events.DeviationScan, Device: baselineSnap})
	var all []func(*Model)
	all = append(all,
		func(m *Model) {
			m.ObserveChange(events.MustEvent(t0, src, events.DeviceChange{Device: ws, Change: events.ChangeNew}))
		},
		func(m *Model) { m.ObserveDeviation(tel) },
		func(m *Model) {
			m.ObserveAlert(events.MustEvent(t0.Add(time.Minute), src, events.Alert{Severity: "high", Device: baselineSnap, DeviationID: tel.ID}))
		},
		func(m *Model) { m.ObserveDeviation(scan) },
		func(m *Model) {
			m.ObserveAlert(events.MustEvent(t0.Add(2*time.Minute), src, events.Alert{Severity: "high", Device: baselineSnap, DeviationID: scan.ID}))
		},
		func(m *Model) {
			m.ObserveVulnerability(events.MustEvent(t0.Add(3*time.Minute), src, events.Vulnerability{Device: ws, Status: events.VulnDetected,
				ID: "CVE-1", Confidence: "potential", CVSS: 8.8, Evidence: []string{}}))
		},
	)
	for i := range 12 {
		all = append(all, func(m *Model) { m.ObserveFlow(flowEv(i, mac, ip, "d4:ae:52:8a:10:11", "10.20.0.11", "dicom")) })
	}
	run := func(order []int) string {
		m := NewModel(DefaultConfiguration(), src, nil)
		for _, i := range order {
			all[i](m)
		}
		r := m.Results()
		if len(r) != 1 {
			t.Fatalf("%d results", len(r))
		}
		return fmt.Sprintf("%+v", r[0])
	}
	var forward, backward []int
	for i := range all {
		forward = append(forward, i)
		backward = append(backward, len(all)-1-i)
	}
	a, b := run(forward), run(backward)
	if a != b {
		t.Errorf("order changes the result:\n%s\n%s", a, b)
	}
	// The telnet alert is not an anomaly; the scan alert is (high: 0.4).
	if !strings.Contains(a, "recent anomalies: 1 high alert") || !strings.Contains(a, "insecure protocols telnet") {
		t.Errorf("explanation: %s", a)
	}
}
