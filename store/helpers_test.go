package store

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/goleak"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/store/chtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.Cleanup(func(code int) {
			chtest.Shutdown()
			os.Exit(code)
		}),
		// The embedded server and the nats client keep a few process-wide
		// goroutines (timers, the JetStream store's flusher) after Shutdown.
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreTopFunction("time.Sleep"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).syncBlocks"),
	)
}

// testConfig points at a fresh database of s, with batches small and
// frequent enough for tests.
func testConfig(t *testing.T, s *chtest.Server) Configuration {
	t.Helper()
	cfg := DefaultConfiguration()
	cfg.Addresses = []string{s.Addr}
	cfg.Database = s.Database(t)
	cfg.MaxRows = 1000
	cfg.FlushInterval = 50 * time.Millisecond
	cfg.MaxBackoff = 200 * time.Millisecond
	cfg.AckWait = 30 * time.Second
	return cfg
}

// openDB opens cfg's database, migrated, closed at cleanup.
func openDB(t *testing.T, cfg Configuration) driver.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	return conn
}

func startBus(t *testing.T) *events.Bus {
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
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Stop(ctx)
	})
	return b
}

func startWriter(t *testing.T, b Bus, cfg Configuration) *Writer {
	t.Helper()
	w, err := New(cfg, Dependencies{Bus: b})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopWriter(t, w) })
	return w
}

func stopWriter(t *testing.T, w *Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		t.Errorf("stop writer: %v", err)
	}
}

func publish(t testing.TB, b *events.Bus, msgs ...events.Message) {
	t.Helper()
	for _, m := range msgs {
		if err := b.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

// waitCaughtUp waits until the writer acknowledged everything of every
// stream.
func waitCaughtUp(t *testing.T, b *events.Bus, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, s := range events.Streams(events.DefaultRetention()) {
		if err := b.WaitCaughtUp(ctx, s.Name, Durable); err != nil {
			t.Fatalf("writer did not catch up on %s: %v", s.Name, err)
		}
	}
}

// eventually polls cond every 20ms until it returns "" or timeout passes,
// then fails with cond's last complaint.
func eventually(t *testing.T, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queryUint returns the single number a query answers.
func queryUint(t *testing.T, conn driver.Conn, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// Test events: a small hospital ward on VLAN 20 on 2026-01-05.
var (
	t0      = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	sensor  = events.Source{Component: "sensor", Name: "ward-20", Site: "demo"}
	engine  = events.Source{Component: "policy", Name: "default", Site: "demo"}
	pump    = events.Endpoint{MAC: "00:12:21:4e:0a:11", IP: "10.20.0.101"}
	pacs    = events.Endpoint{MAC: "d4:ae:52:8a:10:30", IP: "10.20.0.30"}
	monitor = events.Endpoint{MAC: "00:09:fb:11:22:33", IP: "10.20.0.40"}
	gateway = events.Endpoint{MAC: "00:00:0c:5a:20:01", IP: "203.0.113.45"}
)

func pumpKey() string { return events.DeviceKey(pump.MAC, pump.IP, 20) }

// testFlow is the end of a flow from orig to resp at offset at, with
// 100*(i+1) bytes one way and 1000*(i+1) back.
func testFlow(i int, at time.Duration, orig, resp events.Endpoint, port uint16) events.Event[events.Flow] {
	ts := t0.Add(at)
	orig.Port, resp.Port = uint16(40000+i%20000), port
	return events.MustEvent(ts, sensor, events.Flow{
		FlowID: fmt.Sprintf("flow-%d", i), Phase: events.FlowEnd, Start: ts.Add(-2 * time.Second), Last: ts,
		DurationMS: 2000, Transport: "tcp", Orig: orig, Resp: resp, VLAN: 20,
		OrigPackets: uint64(i + 1), RespPackets: uint64(2 * (i + 1)),
		OrigBytes: uint64(100 * (i + 1)), RespBytes: uint64(1000 * (i + 1)),
		OrigPayload: uint64(50 * (i + 1)), RespPayload: uint64(900 * (i + 1)),
		State: "SF", History: "ShADadFf", AppProto: "dicom",
		App: map[string]uint64{"dicom.associations": 1},
	})
}

// oneOfEachKind returns one event of every v1 kind.
func oneOfEachKind() []events.Message {
	at := t0.Add(time.Minute)
	snap := events.DeviceSnapshot{Key: pumpKey(), MAC: pump.MAC, IPs: []string{pump.IP}, VLAN: 20,
		Category: "infusion_pump", Medical: true, Criticality: "patient_connected"}
	peer := gateway
	peer.Port = 443
	return []events.Message{
		testFlow(0, time.Minute, pump, pacs, 104),
		events.MustEvent(at, sensor, events.Observation{Device: pumpKey(), MAC: pump.MAC, VLAN: 20,
			Attribute: "hostname", Value: "INF-PUMP-01", Protocol: "dhcp", Confidence: 0.9,
			Evidence: "DHCPDISCOVER option 12", FlowID: "flow-0"}),
		events.MustEvent(at, sensor, events.Auth{Client: pump, Server: pacs, VLAN: 20, Protocol: "dicom",
			Method: "ae-title", Principal: "PUMP", Result: events.AuthFailure, Reason: "called AE title not recognized"}),
		events.MustEvent(at, sensor, events.Health{Sensor: "ward-20", Interface: "ward.pcap", IntervalMS: 60000,
			Packets: 126, Bytes: 29402, ActiveFlows: 2, Silent: true, SilentAfterMS: 300000}),
		events.MustEvent(at, events.Source{Component: "baseline", Name: "default", Site: "demo"}, events.Deviation{
			Type: events.DeviationInternet, Device: snap, Direction: "outbound", Peer: &peer, Transport: "tcp",
			Port: 443, AppProto: "tls", Summary: "pump talked to the internet",
			Baseline: events.BaselineContext{Ready: true, Observations: 18, KnownPeers: 2}, Evidence: []string{"flow-0"}}),
		events.MustEvent(at, events.Source{Component: "inventory", Name: "default", Site: "demo"}, events.DeviceChange{
			Device: snap, Change: events.ChangeAttribute, Attribute: "firmware_version", Old: "3.2.0", New: "2.9.1",
			Summary: "firmware_version downgraded"}),
		events.MustEvent(at, engine, events.Decision{Query: "data.vigil.main", Revision: "287bf7758dd945d4",
			InputKind: events.KindDeviation, InputID: "2f7d3badade7fa2114d3fc36316afe5a", InputHash: "06b8", Device: pumpKey(),
			Alerts: 1, Enforce: []events.EnforceRequest{{Scope: events.BlockScope{IP: pump.IP, PeerIP: gateway.IP}, DurationS: 3600, Reason: "internet"}}}),
		testAlert(0, time.Minute, events.SeverityHigh),
		events.MustEvent(at, events.Source{Component: "enforce", Name: "default", Site: "demo"}, events.Enforcement{
			Step: events.StepGated, RequestID: "req-1", Device: pumpKey(),
			Scope:     events.BlockScope{IP: pump.IP, PeerIP: gateway.IP, Port: 443, Transport: "tcp"},
			DurationS: 3600, Backend: "nftables", DryRun: true, Reason: "approval required"}),
		events.MustEvent(at, events.Source{Component: "vuln", Name: "default", Site: "demo"}, events.Vulnerability{
			Device: snap, Status: events.VulnDetected, ID: "CVE-2024-0001", Type: "cve", Confidence: "high",
			Sources: []string{"nvd"}, Product: "pump-fw", Version: "2.9.1", CVSS: 9.8, EPSS: 0.4, KEV: true,
			Evidence: []string{"firmware_version 2.9.1"}, DetectedAt: at, Summary: "known exploited"}),
		events.MustEvent(at, events.Source{Component: "risk", Name: "default", Site: "demo"}, events.Risk{
			Device: snap, Formula: "v1", Score: 87.5, Previous: 40, Level: "critical", Likelihood: 0.9, Impact: 0.95,
			Factors: []events.RiskFactor{{Name: "kev", Part: "likelihood", Value: 1, Weight: 0.5, Effect: 0.5, Explanation: "known exploited"}},
			Summary: "critical"}),
		events.MustEvent(at, events.Source{Component: "alerts", Name: "default", Site: "demo"}, events.AlertState{
			Action: events.AlertAcknowledge, Incident: "inc-1", Device: pumpKey(), Actor: "soc@example.org", Note: "on it"}),
	}
}

func testAlert(i int, at time.Duration, sev events.Severity) events.Event[events.Alert] {
	peer := gateway
	peer.Port = 443
	return events.MustEvent(t0.Add(at), engine, events.Alert{
		Rule: "internet_communication", Severity: sev, Title: fmt.Sprintf("alert %d", i),
		Device: events.DeviceSnapshot{Key: pumpKey(), MAC: pump.MAC, Category: "infusion_pump"},
		Peer:   &peer, Tags: []string{"internet"}, DeviationID: "d", DecisionID: "x", PolicyRevision: "r",
	})
}
