package detection

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-health/vigil/internal/report"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

func TestScore(t *testing.T) {
	rep := &report.Report{
		Window: report.Window{Start: t0, End: t0.Add(24 * time.Hour), LearningEnd: t0.Add(12 * time.Hour)},
		Devices: []report.Device{
			{ID: "d1", IPs: []string{"10.0.0.1"}, FirstSeen: t0},
			{ID: "d2", IPs: []string{"10.0.0.2"}, FirstSeen: t0},
			{ID: "d3", IPs: []string{"10.0.0.3"}, FirstSeen: t0.Add(18 * time.Hour)},
			{ID: "gw", IPs: []string{"10.0.0.254", "203.0.113.9"}, Gateway: true, FirstSeen: t0},
		},
		Alerts: []report.Alert{
			{Time: t0.Add(time.Hour), Rule: "cleartext_administration", Device: "d1"},    // while learning
			{Time: t0.Add(13 * time.Hour), Rule: "network_scan", Device: "d1"},           // the scan
			{Time: t0.Add(13 * time.Hour), Rule: "new_peer", Device: "d1"},               // same device, other rule
			{Time: t0.Add(13*time.Hour + time.Minute), Rule: "new_port", Device: "d2"},   // the scanned server
			{Time: t0.Add(20 * time.Hour), Rule: "new_peer", Device: "d2"},               // false
			{Time: t0.Add(20 * time.Hour), Rule: "internet_communication", Device: "gw"}, // false
			{Time: t0.Add(13 * time.Hour), Rule: "internet_communication", Device: "d3"}, // false
		},
	}
	c := Case{Name: "t", Anomalies: []Anomaly{
		{Name: "scan", Device: "10.0.0.1", Peers: []string{"10.0.0.2"}, Rules: []string{RuleScan},
			Start: t0.Add(13 * time.Hour), End: t0.Add(13*time.Hour + 30*time.Second)},
		{Name: "internet", Device: "203.0.113.9", Rules: []string{RuleInternet}}, // only the gateway's own address identifies it
	}}
	r := Score(c, rep)
	if !r.Found[0].Detected || len(r.Found[0].Alerts) != 1 || len(r.Found[0].Other) != 1 {
		t.Errorf("scan = %+v, want detected with one other alert", r.Found[0])
	}
	if r.Found[1].Detected {
		t.Errorf("an address behind a gateway identified the gateway: %+v", r.Found[1])
	}
	if r.Recall != 0.5 {
		t.Errorf("recall = %v, want 0.5", r.Recall)
	}
	if len(r.Learning) != 1 || len(r.Consequences) != 1 || len(r.FalseAlerts) != 3 {
		t.Errorf("learning %d, consequences %d, false %d; want 1, 1, 3", len(r.Learning), len(r.Consequences), len(r.FalseAlerts))
	}
	// d1, d2 and gw judged 12 h each, d3 6 h: 42 h.
	if want := 42.0 / 24; r.DeviceDays != want || r.FalseAlertsPerDevDay != 3/want {
		t.Errorf("device-days %v, rate %v; want %v, %v", r.DeviceDays, r.FalseAlertsPerDevDay, want, 3/want)
	}
	s := Summarize([]Result{r, r})
	if s.Anomalies != 4 || s.Detected != 2 || s.FalseAlerts != 6 || s.Recall != 0.5 {
		t.Errorf("summary = %+v", s)
	}
}

func TestRigCaseRejectsBadTruth(t *testing.T) {
	for name, body := range map[string]string{
		"not json":     `{`,
		"schema":       `{"schema":2}`,
		"unknown kind": `{"schema":1,"capture":"d.pcap","lan":"192.0.2.0/24","learn_s":10,"anomalies":[{"name":"x","kind":"telepathy","device":"192.0.2.1"}]}`,
		"no anomaly":   `{"schema":1,"capture":"d.pcap","lan":"192.0.2.0/24","learn_s":10,"anomalies":[]}`,
		"extra field":  `{"schema":1,"surprise":true}`,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "detect.json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := RigCase(dir); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	dir := t.TempDir()
	good := `{"schema":1,"capture":"d.pcap","lan":"192.0.2.0/24","learn_s":60,"normal_start":"2026-01-05T08:00:00Z","normal_end":"2026-01-05T08:02:00Z","rounds":30,
	"anomalies":[{"name":"scan","kind":"scan","device":"192.0.2.110","peers":["192.0.2.10"],"tool":"nmap","start":"2026-01-05T08:02:05Z","end":"2026-01-05T08:02:07Z"}]}`
	if err := os.WriteFile(filepath.Join(dir, "detect.json"), []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := RigCase(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Learn != time.Minute || c.Local[0] != "192.0.2.0/24" || c.Anomalies[0].Rules[0] != RuleScan || c.Captures[0] != filepath.Join(dir, "d.pcap") {
		t.Errorf("case = %+v", c)
	}
}
