package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/store"
	"github.com/vigil-health/vigil/store/chtest"
)

// TestReplayRebuildsTheEnforcementState runs the engines live (the
// default enforcement configuration: dry-run, the patient-safety gate,
// the rate limit) with the store writer, feeds the enforcement engine
// decisions and alerts as the policy engine publishes them, and has
// people act through enforce.Service, the API's path: a workstation's
// dry-run block that passes the gate; a life-sustaining pump's isolation,
// narrowed to its internet peer, held and approved by a person; a block
// revoked by a person; a block that expires by event time; a request
// held by the kill switch, which a person turns on and off. Then the
// desired set is rebuilt from the enforcement events four ways (JetStream
// and ClickHouse in process, `vigil replay --data` on the stopped data
// directory and `vigil replay --from-store`): each equals the live
// bucket VIGIL_ENFORCE key by key, byte for byte (every block, the kill
// switch, the rate bucket), and the engine's own Desired list.
func TestReplayRebuildsTheEnforcementState(t *testing.T) {
	srv := chtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logger := slog.New(slog.DiscardHandler)

	cfg := defaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Store.Addresses, cfg.Store.Database = []string{srv.Addr}, srv.Database(t)
	cfg.Store.FlushInterval = 100 * time.Millisecond
	if !cfg.Enforce.DryRun || cfg.Enforce.RateLimit.Blocks == 0 {
		t.Fatal("the default enforcement configuration is no longer dry-run with a rate limit: revisit this test")
	}
	lc := &lifecycle{logger: logger}
	defer lc.stop()
	eng, err := startEngines(ctx, cfg, logger, lc)
	if err != nil {
		t.Fatal(err)
	}
	w, err := startStore(ctx, cfg, logger, lc, eng.bus)
	if err != nil {
		t.Fatal(err)
	}

	svc := eng.enforce
	t0 := time.Now().UTC().Truncate(time.Second)
	policySrc := events.Source{Component: "policy", Name: cfg.Site, Site: cfg.Site}
	internet := &events.Endpoint{IP: "203.0.113.45", Port: 443}
	ws := events.DeviceSnapshot{Key: "mac:00:14:22:b7:3e:5a/20", MAC: "00:14:22:b7:3e:5a", IPs: []string{"10.20.0.150"}, VLAN: 20,
		Attributes: map[string]string{"hostname": "WS-NURSE-01"}, Category: "workstation", Criticality: "non_clinical"}
	ws2 := ws
	ws2.Key, ws2.MAC, ws2.IPs, ws2.Attributes = "mac:00:14:22:b7:3e:5b/20", "00:14:22:b7:3e:5b", []string{"10.20.0.151"}, map[string]string{"hostname": "WS-NURSE-02"}
	pump := events.DeviceSnapshot{Key: "mac:00:12:21:4e:0a:12/20", MAC: "00:12:21:4e:0a:12", IPs: []string{"10.20.0.102"}, VLAN: 20,
		Attributes: map[string]string{"hostname": "INF-PUMP-02"}, Category: "infusion_pump", Medical: true, Criticality: "life_sustaining"}
	// decide publishes a decision and, with a snapshot, its alert; it
	// returns the ID of the decision's block.
	decide := func(at time.Time, snap *events.DeviceSnapshot, reqs ...events.EnforceRequest) string {
		t.Helper()
		d := events.Decision{Query: "data.vigil.main", Revision: "r1", InputKind: events.KindDeviation,
			InputID: "dev-" + at.Format(time.RFC3339Nano), Device: ws.Key, Enforce: reqs}
		if snap != nil {
			d.Device, d.Alerts = snap.Key, 1
		}
		dec := events.MustEvent(at, policySrc, d)
		if err := eng.bus.Publish(ctx, dec); err != nil {
			t.Fatal(err)
		}
		if snap != nil {
			a := events.MustEvent(at, policySrc, events.Alert{Rule: "internet_communication", Severity: events.SeverityHigh,
				Title: "talks to the internet", Device: *snap, Peer: internet, DeviationID: d.InputID, DecisionID: dec.ID, PolicyRevision: "r1"})
			if err := eng.bus.Publish(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		if len(reqs) == 0 {
			return ""
		}
		return enforce.RequestID(dec.ID, reqs[0])
	}
	handled := func() {
		t.Helper()
		if err := eng.bus.WaitCaughtUp(ctx, events.StreamAlerts, cfg.Enforce.Durable); err != nil {
			t.Fatal(err)
		}
	}
	pair := func(ip, peer string, seconds int64) events.EnforceRequest {
		return events.EnforceRequest{Scope: events.BlockScope{IP: ip, PeerIP: peer}, DurationS: seconds, Reason: "internet communication"}
	}

	normal := decide(t0, &ws, pair("10.20.0.150", "203.0.113.45", 3600))
	pumpID := decide(t0.Add(time.Second), &pump, events.EnforceRequest{Scope: events.BlockScope{IP: "10.20.0.102"}, DurationS: 3600, Reason: "pump isolated"})
	revokedID := decide(t0.Add(2*time.Second), &ws2, pair("10.20.0.151", "203.0.113.45", 3600))
	expiring := decide(t0.Add(3*time.Second), &ws, pair("10.20.0.150", "198.51.100.7", 60))
	handled()
	if b, err := svc.Block(ctx, pumpID); err != nil || b.State != enforce.StatePending {
		t.Fatalf("the pump's block: %v %+v", err, b)
	}
	if _, err := svc.Approve(ctx, pumpID, "charge-nurse", "pump taken off the patient"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Revoke(ctx, revokedID, "soc-analyst", "false positive"); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetKillSwitch(ctx, true, "soc-lead"); err != nil {
		t.Fatal(err)
	}
	killHeld := decide(t0.Add(4*time.Second), &ws, pair("10.20.0.150", "198.51.100.8", 3600))
	handled()
	if err := svc.SetKillSwitch(ctx, false, "soc-lead"); err != nil {
		t.Fatal(err)
	}
	decide(t0.Add(5*time.Minute), nil) // event time passes the short block's end
	handled()
	if _, err := svc.Expire(ctx); err != nil { // the engine's loop may have done it: this waits for its event
		t.Fatal(err)
	}
	want := map[string]enforce.State{normal: enforce.StateActive, pumpID: enforce.StateActive, revokedID: enforce.StateRevoked,
		expiring: enforce.StateExpired, killHeld: enforce.StatePending}
	liveBlocks, _ := svc.Desired(ctx)
	got := map[string]enforce.State{}
	for _, b := range liveBlocks {
		got[b.ID] = b.State
		if !b.DryRun {
			t.Errorf("block %s is not a dry run", b.ID)
		}
		if b.ID == pumpID && (b.Requested == nil || len(b.History) != 1 || b.History[0].Actor != "charge-nurse") {
			t.Errorf("the pump's block was not narrowed and approved by a person: %+v", b)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("the live run's blocks (-want +got):\n%s", diff)
	}
	live := liveBucket(t, eng.bus.JetStream(), cfg.Enforce.Bucket)
	if live["control.kill_switch"] == "" || live["control.rate"] == "" {
		t.Fatalf("the bucket has no kill switch or rate: %v", live)
	}
	for _, s := range []string{events.StreamSensor, events.StreamAlerts, events.StreamEnforce} {
		if err := eng.bus.WaitCaughtUp(ctx, s, store.Durable); err != nil {
			t.Fatal(err)
		}
	}

	check := func(name string, s enforce.DesiredState) {
		t.Helper()
		kv, err := s.Bucket()
		if err != nil {
			t.Fatal(err)
		}
		rebuilt := map[string]string{}
		for k, v := range kv {
			rebuilt[k] = string(v)
		}
		if diff := cmp.Diff(live, rebuilt); diff != "" {
			t.Errorf("%s: rebuilt bucket (-live +rebuilt):\n%s", name, diff)
		}
		if diff := cmp.Diff(liveBlocks, s.Blocks); diff != "" {
			t.Errorf("%s: rebuilt blocks (-engine +rebuilt):\n%s", name, diff)
		}
		if len(s.Incomplete) > 0 || s.Forgotten > 0 {
			t.Errorf("%s: incomplete %v, forgotten %d", name, s.Incomplete, s.Forgotten)
		}
	}
	fromBus, err := newProjections(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := replayFromBus(ctx, eng.bus, fromBus); err != nil {
		t.Fatal(err)
	}
	check("from JetStream", fromBus.enforce.State())
	fromStore, err := newProjections(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := replayFromStore(ctx, store.NewQueries(w.Conn()), fromStore); err != nil {
		t.Fatal(err)
	}
	check("from ClickHouse", fromStore.enforce.State())
	if fromStore.enforceSeq != fromBus.enforceSeq || fromBus.enforceSeq == 0 {
		t.Errorf("replay from ClickHouse ended at enforce sequence %d, from JetStream at %d", fromStore.enforceSeq, fromBus.enforceSeq)
	}
	if err := lc.stop(); err != nil {
		t.Fatal(err)
	}

	cfgFile := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, "store:\n  addresses: [%q]\n  database: %s\n", srv.Addr, cfg.Store.Database), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"replay", "--data", cfg.DataDir, "--config", cfgFile},
		{"replay", "--from-store", "--config", cfgFile},
	} {
		out, errOut, err := vigil(t, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut)
		}
		var d projectionDump
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("%v: output is not the state: %v", args, err)
		}
		check(fmt.Sprint(args), d.Enforcement)
		if d.EnforceSeq != fromBus.enforceSeq {
			t.Errorf("%v: enforce sequence %d, live %d", args, d.EnforceSeq, fromBus.enforceSeq)
		}
	}
}

// liveBucket reads every key of the enforcement bucket.
func liveBucket(t *testing.T, js jetstream.JetStream, bucket string) map[string]string {
	t.Helper()
	kv, err := enforce.ReadBucket(context.Background(), js, bucket)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range kv {
		out[k] = string(v)
	}
	return out
}
