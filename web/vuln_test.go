package web

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
	"github.com/vigil-health/vigil/risk"
	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/feed"
	"github.com/vigil-health/vigil/vuln/match"
)

// TestVulnRiskAPI serves the real matcher and risk engine over an
// embedded bus: one B. Braun pump with a vulnerable Wi-Fi battery pack.
func TestVulnRiskAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bus, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer bus.Stop(context.Background())
	store := vuln.NewStore()
	if _, err := (&feed.Importer{Store: store}).ImportFile(filepath.Join(testshared.Dir(t), "integrations", "vulndata", "csaf", "icsma", "icsma-21-294-01.json"), feed.Options{}); err != nil {
		t.Fatal(err)
	}
	pump := events.DeviceSnapshot{Key: "mac:00:12:21:4e:0a:11/20", ID: "dev-pump", Category: "infusion_pump", Criticality: "life_sustaining",
		Department: "ICU", Attributes: map[string]string{"vendor": "B. Braun", "model": "Infusomat Space", "software_version": "L80", "hostname": "PUMP-1"}}
	if err := bus.Publish(ctx, events.MustEvent(time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC), events.Source{Component: "inventory"},
		events.DeviceChange{Device: pump, Change: events.ChangeNew})); err != nil {
		t.Fatal(err)
	}
	vc, err := match.NewComponent(match.DefaultConfiguration(), match.Dependencies{Bus: bus, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := risk.New(risk.DefaultConfiguration(), risk.Dependencies{Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []interface{ Start(context.Context) error }{vc, rc} {
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	defer vc.Stop(context.Background())
	defer rc.Stop(context.Background())
	if err := bus.WaitCaughtUp(ctx, events.StreamAnalytics, match.Durable); err != nil {
		t.Fatal(err)
	}
	for _, sd := range risk.Consumers {
		if err := bus.WaitCaughtUp(ctx, sd[0], sd[1]); err != nil {
			t.Fatal(err)
		}
	}
	c, err := New(Configuration{Listen: "127.0.0.1:0"}, Dependencies{Vulns: vc, Risk: rc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()

	code, body, _ := get(t, srv.URL+"/api/v1/vulnerabilities?confidence=confirmed")
	var list struct {
		Summary         vuln.ServiceSummary `json:"summary"`
		Vulnerabilities []vuln.Record       `json:"vulnerabilities"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Vulnerabilities) != 5 || list.Summary.Open != 5 {
		t.Fatalf("vulnerabilities: %d %s", code, body)
	}
	if r := list.Vulnerabilities[0]; r.DeviceID != "dev-pump" || r.Type != vuln.TypeClinical || r.Advisories[0] != "ICSMA-21-294-01" || len(r.Evidence) == 0 {
		t.Errorf("record %+v", r)
	}
	code, body, _ = get(t, srv.URL+"/api/v1/devices/dev-pump/vulnerabilities")
	if code != 200 || strings.Count(body, `"status": "open"`) != 5 {
		t.Errorf("device vulnerabilities: %d %s", code, body)
	}
	code, body, _ = get(t, srv.URL+"/api/v1/devices/dev-pump/risk")
	var dr risk.DeviceRisk
	if code != 200 || json.Unmarshal([]byte(body), &dr) != nil || dr.Formula != risk.FormulaVersion || len(dr.Factors) != 8 || dr.Score <= 5 {
		t.Errorf("device risk: %d %s", code, body)
	}
	code, body, _ = get(t, srv.URL+"/api/v1/risk?department=ICU")
	if code != 200 || !strings.Contains(body, `"device_id": "dev-pump"`) {
		t.Errorf("risk: %d %s", code, body)
	}
	code, body, _ = get(t, srv.URL+"/api/v1/risk/summary?by=department")
	if code != 200 || !strings.Contains(body, `"name": "ICU"`) {
		t.Errorf("summary: %d %s", code, body)
	}
	for _, u := range []string{"/api/v1/risk/summary?by=floor", "/api/v1/vulnerabilities?status=maybe", "/api/v1/vulnerabilities?type=medical"} {
		if code, body, _ := get(t, srv.URL+u); code != 400 || !strings.Contains(body, "want") {
			t.Errorf("%s: %d %s", u, code, body)
		}
	}
	for _, u := range []string{"/api/v1/devices/dev-none/vulnerabilities", "/api/v1/devices/dev-none/risk"} {
		if code, _, _ := get(t, srv.URL+u); code != 404 {
			t.Errorf("%s: %d", u, code)
		}
	}
	// Without the engines the routes say so.
	bare, err := New(Configuration{Listen: "127.0.0.1:0"}, Dependencies{})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(bare.Handler())
	defer srv2.Close()
	if code, body, _ := get(t, srv2.URL+"/api/v1/risk"); code != 404 || !strings.Contains(body, "not running") {
		t.Errorf("no engine: %d %s", code, body)
	}
}
