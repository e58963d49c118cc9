package policy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
)

var (
	eventTime = time.Date(2025, 3, 1, 10, 0, 0, 123456789, time.UTC)
	testSrc   = events.Source{Name: "engine", Site: "campus-a"}
)

var (
	workstation = events.DeviceSnapshot{
		Key: "mac:00:11:22:33:44:55/10", MAC: "00:11:22:33:44:55", IPs: []string{"10.1.2.3"}, VLAN: 10,
		Attributes: map[string]string{"hostname": "ws-radiology-3", "category": "workstation"},
	}
	pump = events.DeviceSnapshot{
		Key: "mac:00:aa:bb:cc:dd:01/20", MAC: "00:aa:bb:cc:dd:01", IPs: []string{"10.20.0.17"}, VLAN: 20,
		Attributes: map[string]string{"hostname": "pump-17", "category": "infusion_pump"},
	}
	unknownDevice = events.DeviceSnapshot{Key: "mac:00:de:ad:be:ef:00/10", MAC: "00:de:ad:be:ef:00", IPs: []string{"10.1.9.9"}, VLAN: 10}
	ready         = events.BaselineContext{
		Ready: true, LearningStart: eventTime.Add(-7 * 24 * time.Hour), LearningEnd: eventTime.Add(-24 * time.Hour),
		Observations: 1200, KnownPeers: 4, KnownPorts: 2,
	}
	learning = events.BaselineContext{Ready: false, LearningStart: eventTime.Add(-time.Hour), Observations: 30, KnownPeers: 1, KnownPorts: 1}
)

// deviation builds a deviation event as the baseline publishes it.
func deviation(typ events.DeviationType, dev events.DeviceSnapshot, mutate ...func(*events.Deviation)) events.Event[events.Deviation] {
	d := events.Deviation{
		Type: typ, Device: dev, Direction: "outbound",
		Summary:  "test " + string(typ) + " deviation.",
		Baseline: ready,
		Evidence: []string{"flow-1"},
	}
	for _, m := range mutate {
		m(&d)
	}
	return events.MustEvent(eventTime, events.Source{Component: "baseline", Name: "b1", Site: "campus-a"}, d)
}

func withPeer(ip string, port uint16) func(*events.Deviation) {
	return func(d *events.Deviation) {
		d.Peer = &events.Endpoint{IP: ip, Port: port}
		d.Transport, d.Port = "tcp", port
	}
}

// newEngine builds an engine or fails the test.
func newEngine(t *testing.T, cfg Configuration) *Engine {
	t.Helper()
	eng, err := NewEngine(context.Background(), cfg, testSrc)
	if err != nil {
		t.Fatalf("NewEngine() error: %v", err)
	}
	return eng
}

// writePolicies writes files (name → content) into a new temporary
// directory and returns it.
func writePolicies(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// siteConfig is a configuration running only the policies of dir.
func siteConfig(dir string) Configuration {
	cfg := DefaultConfiguration()
	cfg.Builtin, cfg.Dir = false, dir
	return cfg
}

func writePolicyFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or 5 seconds passed.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
