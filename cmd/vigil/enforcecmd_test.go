package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/web"
)

// TestEnforceCommands drives `vigil enforce` against the API of a running
// enforcement engine: list, approve, revoke, the kill switch and status.
func TestEnforceCommands(t *testing.T) {
	ctx := context.Background()
	bus, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer bus.Stop(ctx)
	cfg := enforce.DefaultConfiguration()
	cfg.DryRun = false
	eng, err := enforce.New(cfg, enforce.Dependencies{Bus: bus, Source: events.Source{Name: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop(ctx)

	// A decision about a life-sustaining pump, with its alert.
	at := time.Now().UTC()
	pump := events.DeviceSnapshot{Key: "mac:00:12:21:4e:0a:12/20", IPs: []string{"10.20.0.102"}, Category: "infusion_pump", Medical: true, Criticality: "life_sustaining"}
	dec := events.MustEvent(at, events.Source{Component: "policy"}, events.Decision{Query: "q", Revision: "r", InputKind: events.KindDeviation, InputID: "d",
		Device: pump.Key, Alerts: 1, Enforce: []events.EnforceRequest{{Scope: events.BlockScope{IP: "10.20.0.102", PeerIP: "203.0.113.45", Port: 443, Transport: "tcp"}, DurationS: 3600, Reason: "internet"}}})
	alert := events.MustEvent(at, events.Source{Component: "policy"}, events.Alert{Rule: "internet", Severity: events.SeverityHigh, Title: "t", Device: pump, DecisionID: dec.ID})
	for _, m := range []events.Message{dec, alert} {
		if err := bus.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p, _ := eng.Pending(ctx); len(p) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no pending block")
		}
		time.Sleep(10 * time.Millisecond)
	}

	api, err := web.New(web.Configuration{Listen: "127.0.0.1:0"}, web.Dependencies{Enforce: eng})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()

	out, _, err := vigil(t, "enforce", "list", "--server", srv.URL, "--state", "pending")
	if err != nil || !strings.Contains(out, "10.20.0.102 <-> 203.0.113.45 tcp/443") || !strings.Contains(out, "life-sustaining") || !strings.Contains(out, "1 blocks") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	id := enforce.RequestID(dec.ID, dec.Body.Enforce[0])
	out, _, err = vigil(t, "enforce", "approve", id, "--server", srv.URL, "--actor", "charge-nurse", "--note", "pump off the patient")
	if err != nil || !strings.Contains(out, id+" active") {
		t.Fatalf("approve: %v\n%s", err, out)
	}
	if _, _, err = vigil(t, "enforce", "approve", id, "--server", srv.URL, "--actor", "x"); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("second approve: %v", err)
	}
	if _, _, err = vigil(t, "enforce", "revoke", "req-0000000000000000", "--server", srv.URL, "--actor", "x"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("revoke unknown: %v", err)
	}
	b, _ := eng.Block(ctx, id)
	if len(b.History) != 1 || b.History[0].Actor != "local" && b.History[0].Actor != "charge-nurse" {
		t.Fatalf("history %+v", b.History)
	}
	out, _, err = vigil(t, "enforce", "kill-switch", "on", "--server", srv.URL, "--actor", "soc-lead")
	if err != nil || !strings.Contains(out, "kill switch: ON") {
		t.Fatalf("kill-switch: %v\n%s", err, out)
	}
	out, _, err = vigil(t, "enforce", "status", "--server", srv.URL, "--json")
	var st enforce.Status
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || !st.KillSwitch || st.States[enforce.StateActive] != 1 {
		t.Fatalf("status: %v\n%s", err, out)
	}
	out, _, err = vigil(t, "enforce", "plan", "--server", srv.URL)
	if err != nil || !strings.Contains(out, "0 changes") {
		t.Fatalf("plan: %v\n%s", err, out)
	}
	if _, _, err = vigil(t, "enforce", "kill-switch", "maybe", "--server", srv.URL); err == nil {
		t.Fatal("kill-switch maybe accepted")
	}
}
