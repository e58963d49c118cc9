package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-health/vigil/alerts"
	capturepkg "github.com/vigil-health/vigil/capture"
	"github.com/vigil-health/vigil/capture/protocols"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/synth"
	"github.com/vigil-health/vigil/store"
	"github.com/vigil-health/vigil/store/chtest"
)

// TestRunWritesToClickHouse runs `vigil run` with a store configured
// against a real ClickHouse server: every flow of the capture ends up as a
// row, once.
func TestRunWritesToClickHouse(t *testing.T) {
	srv := chtest.Start(t)
	db := srv.Database(t)
	capture, _ := wardCapture(t, synth.Options{})
	want := flowEventsIn(t, capture)

	cfgFile := filepath.Join(t.TempDir(), "vigil.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("store:\n  addresses: [%q]\n  database: %s\n  flush_interval: 200ms\n", srv.Addr, db)), 0o600)
	t.Setenv("VIGIL_CONFIG", "")
	cmd := newRootCommand()
	var out, errOut syncBuffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"run", "--config", cfgFile, "--pcap", capture, "--data", t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	scfg := store.DefaultConfiguration()
	scfg.Addresses, scfg.Database = []string{srv.Addr}, db
	var got uint64
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if conn, err := store.Open(context.Background(), scfg); err == nil {
			got, err = store.NewQueries(conn).CountEvents(context.Background(), events.KindFlow, time.Time{}, time.Now().AddDate(10, 0, 0))
			conn.Close()
			if err == nil && got >= uint64(want) {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	if got != uint64(want) {
		t.Errorf("%d flow rows in ClickHouse, the sensor publishes %d flow events", got, want)
	}
}

type allFlows struct{ n int }

func (c *allFlows) Publish(_ context.Context, m events.Message) error {
	if _, ok := m.(events.Event[events.Flow]); ok {
		c.n++
	}
	return nil
}

// flowEventsIn counts the flow events (updates and ends) the sensor
// publishes for a file.
func flowEventsIn(t *testing.T, file string) int {
	cfg := capturepkg.DefaultConfiguration()
	cfg.Files = []string{file}
	c := &allFlows{}
	s, err := capturepkg.New(cfg, capturepkg.Dependencies{Publisher: c})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c.n
}

// liveState is what the test compares byte for byte: the inventory's
// devices and the baselines, as JSON.
func liveState(t *testing.T, devices, readiness, stats, incidents any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(struct {
		Devices, Baseline, Stats, Incidents any
	}{devices, readiness, stats, incidents}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReplayRebuildsTheLiveState runs the engines live on a ward capture
// with the store writer, then rebuilds the inventory and the baselines
// three ways: from JetStream in process, with `vigil replay` on the
// stopped data directory, and with `vigil replay --from-store` from
// ClickHouse. Each rebuilt state equals the live one byte for byte, and
// the rebuilt models derive the same deviations and device changes (by
// content-derived ID, in order) that the live engines published.
func TestReplayRebuildsTheLiveState(t *testing.T) {
	srv := chtest.Start(t)
	file, _ := wardCapture(t, synth.DefaultOptions()) // the demo's ward, anomalies included
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logger := slog.New(slog.DiscardHandler)

	cfg := defaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Store.Addresses, cfg.Store.Database = []string{srv.Addr}, srv.Database(t)
	cfg.Store.FlushInterval = 100 * time.Millisecond
	cfg.Baseline.Learning = 30 * time.Minute // the ward's learning phase: its anomalies raise deviations and alerts
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
	scfg := cfg.Sensor
	scfg.Files = []string{file}
	sensor, err := capturepkg.New(scfg, capturepkg.Dependencies{Logger: logger, Publisher: sensorPublisher(eng.bus, scfg), Dissectors: protocols.Dissectors})
	if err != nil {
		t.Fatal(err)
	}
	if err := sensor.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := eng.drain(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ stream, durable string }{
		{events.StreamAlerts, alerts.Durable},
		{events.StreamSensor, store.Durable}, {events.StreamAlerts, store.Durable},
	} {
		if err := eng.bus.WaitCaughtUp(ctx, c.stream, c.durable); err != nil {
			t.Fatal(err)
		}
	}
	liveIncidents := eng.alerts.service.Incidents(allIncidents)
	live := liveState(t, eng.inventory.Devices(), eng.baseline.Devices(), eng.baseline.Stats(), liveIncidents)
	ids := func(k events.Kind) []string {
		var out []string
		if err := eng.bus.Read(ctx, events.StreamAnalytics, []events.Kind{k}, func(d events.Delivery) error {
			out = append(out, d.Header.ID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	liveDeviations, liveChanges := ids(events.KindDeviation), ids(events.KindDeviceChange)
	if len(eng.inventory.Devices()) == 0 || len(liveDeviations) == 0 {
		t.Fatalf("the live run built %d devices and %d deviations: nothing to compare", len(eng.inventory.Devices()), len(liveDeviations))
	}

	t.Logf("live: %d devices, %d deviations, %d device changes, %d alert incidents", len(eng.inventory.Devices()), len(liveDeviations), len(liveChanges), liveIncidents.Total)
	if liveIncidents.Total == 0 {
		t.Fatal("the live run raised no alert: the alert state is not compared")
	}
	check := func(name string, p *projections) {
		t.Helper()
		got := liveState(t, p.inventory.Devices(), p.baseline.Devices(), p.baseline.Stats(), p.alerts.Incidents(allIncidents))
		if !bytes.Equal(got, live) {
			t.Errorf("%s: rebuilt state differs from the live one:\n%s", name, cmp.Diff(string(live), string(got)))
		}
		if diff := cmp.Diff(liveDeviations, p.Deviations); diff != "" {
			t.Errorf("%s: deviations (-live +rebuilt):\n%s", name, diff)
		}
		if diff := cmp.Diff(liveChanges, p.DeviceChanges); diff != "" {
			t.Errorf("%s: device changes (-live +rebuilt):\n%s", name, diff)
		}
	}
	fromBus, err := newProjections(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := replayFromBus(ctx, eng.bus, fromBus); err != nil {
		t.Fatal(err)
	}
	check("from JetStream", fromBus)
	fromStore, err := newProjections(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := replayFromStore(ctx, store.NewQueries(w.Conn()), fromStore); err != nil {
		t.Fatal(err)
	}
	check("from ClickHouse", fromStore)
	if fromStore.seq != fromBus.seq || fromStore.alertsSeq != fromBus.alertsSeq || fromBus.alertsSeq == 0 {
		t.Errorf("replay from ClickHouse ended at sequences %d/%d, from JetStream at %d/%d", fromStore.seq, fromStore.alertsSeq, fromBus.seq, fromBus.alertsSeq)
	}
	if err := lc.stop(); err != nil {
		t.Fatal(err)
	}

	// The command, on the stopped engines' data directory and on
	// ClickHouse.
	cfgFile := filepath.Join(t.TempDir(), "vigil.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("baseline:\n  learning: 30m\nstore:\n  addresses: [%q]\n  database: %s\n", srv.Addr, cfg.Store.Database)), 0o600)
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
		if got := liveState(t, d.Devices, d.Baseline, d.BaselineStats, d.Incidents); !bytes.Equal(got, live) {
			t.Errorf("%v: rebuilt state differs from the live one:\n%s", args, cmp.Diff(string(live), string(got)))
		}
		if d.Deviations != len(liveDeviations) || d.DeviceChanges != len(liveChanges) || d.Seq != fromBus.seq {
			t.Errorf("%v: %d deviations, %d device changes up to %d; live %d, %d up to %d", args,
				d.Deviations, d.DeviceChanges, d.Seq, len(liveDeviations), len(liveChanges), fromBus.seq)
		}
	}
}

// TestDeployConfigurationsLoad checks the Vigil configurations of
// deploy/ (compose files, and the ones embedded in the Kubernetes
// ConfigMaps) with `vigil config check`, and that `config dump` of the
// engine's shows no secret given through the environment.
func TestDeployConfigurationsLoad(t *testing.T) {
	dir := t.TempDir()
	files := []string{"../../deploy/compose/vigil-engine.yaml", "../../deploy/compose/vigil-sensor.yaml"}
	for _, k := range []string{"engine", "sensor"} {
		text, err := os.ReadFile("../../deploy/kubernetes/" + k + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		var cm struct {
			Data map[string]string `yaml:"data"`
		}
		if err := yaml.Unmarshal([]byte(strings.Split(string(text), "\n---\n")[0]), &cm); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "k8s-"+k+".yaml")
		os.WriteFile(p, []byte(cm.Data["vigil.yaml"]), 0o600)
		files = append(files, p)
	}
	for _, f := range files {
		if out, errOut, err := vigil(t, "config", "check", "--config", f); err != nil || !strings.Contains(out, "valid") {
			t.Errorf("%s: %v\n%s%s", f, err, out, errOut)
		}
	}
	const secret = "pw-from-the-environment-42"
	t.Setenv("VIGIL_EVENTS_SECURITY_PASSWORD", secret)
	t.Setenv("VIGIL_STORE_PASSWORD", secret)
	out, errOut, err := vigil(t, "config", "dump", "--config", files[0])
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if strings.Contains(out, secret) {
		t.Errorf("config dump shows a password:\n%s", out)
	}
	if strings.Count(out, "(set; not shown)") != 2 {
		t.Errorf("config dump does not say both passwords are set:\n%s", out)
	}
}
