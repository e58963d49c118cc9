package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-health/vigil/events"
)

// deployFile is a file of deploy/, from this package's directory.
func deployFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "deploy", rel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

var natsEnv = map[string]string{
	"NATS_SERVER_NAME": "nats-1", "VIGIL_SENSOR_PASSWORD": "sensor-pw-1", "VIGIL_ENGINE_PASSWORD": "engine-pw-2",
	"VIGIL_SOC_PASSWORD": "soc-pw-3", "NATS_SYSTEM_PASSWORD": "sys-pw-4",
}

// TestDeployNATSConfigurationParses reads deploy/nats/nats.conf with the
// real server's parser (the TLS block aside: its files are the site's).
func TestDeployNATSConfigurationParses(t *testing.T) {
	for k, v := range natsEnv {
		t.Setenv(k, v)
	}
	text, err := os.ReadFile(deployFile(t, "nats/nats.conf"))
	if err != nil {
		t.Fatal(err)
	}
	noTLS := regexp.MustCompile(`(?s)\ntls \{.*?\n\}`).ReplaceAll(text, nil)
	dir := t.TempDir()
	accounts, _ := os.ReadFile(deployFile(t, "nats/accounts.conf"))
	os.WriteFile(filepath.Join(dir, "accounts.conf"), accounts, 0o600)
	path := filepath.Join(dir, "nats.conf")
	os.WriteFile(path, noTLS, 0o600)
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if opts.ServerName != "nats-1" || !opts.JetStream || opts.Cluster.Name != "vigil" || len(opts.Routes) != 3 {
		t.Errorf("parsed %q jetstream=%v cluster=%q routes=%d", opts.ServerName, opts.JetStream, opts.Cluster.Name, len(opts.Routes))
	}
}

// TestDeployRoles runs a real server with deploy/nats/accounts.conf and
// checks each role does what Vigil needs and nothing it must not: the
// engine declares streams, consumes, checkpoints, leases slots and
// publishes deviations but cannot forge sensor events; the sensor
// publishes flows but cannot forge alerts.
func TestDeployRoles(t *testing.T) {
	for k, v := range natsEnv {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	accounts, _ := os.ReadFile(deployFile(t, "nats/accounts.conf"))
	os.WriteFile(filepath.Join(dir, "accounts.conf"), accounts, 0o600) // includes are relative
	conf := "listen: 127.0.0.1:-1\njetstream { store_dir: " + filepath.Join(dir, "js") + ", max_file_store: 100GB }\ninclude ./accounts.conf\n"
	path := filepath.Join(dir, "nats.conf")
	os.WriteFile(path, []byte(conf), 0o600)
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opts.NoSigs = true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	ctx := context.Background()
	connect := func(user, password string) *events.Bus {
		cfg := events.DefaultConfiguration()
		cfg.URL = ns.ClientURL()
		cfg.PublishTimeout = time.Second
		pw := filepath.Join(t.TempDir(), "pw")
		os.WriteFile(pw, []byte(password+"\n"), 0o600)
		cfg.Security = events.SecurityConfiguration{User: user, PasswordFile: pw}
		b, err := events.NewBus(cfg, events.Dependencies{})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(ctx); err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		t.Cleanup(func() { b.Stop(ctx) })
		return b
	}
	engine := connect("engine", natsEnv["VIGIL_ENGINE_PASSWORD"])
	sensor := connect("sensor", natsEnv["VIGIL_SENSOR_PASSWORD"])

	if err := sensor.Publish(ctx, testFlow(1)); err != nil {
		t.Errorf("sensor publishes a flow: %v", err)
	}
	alert := events.MustEvent(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), events.Source{Component: "policy"}, events.Alert{Rule: "forged", Severity: "critical"})
	if err := sensor.Publish(ctx, alert); err == nil {
		t.Error("the sensor role published an alert")
	}
	if err := engine.Publish(ctx, testFlow(2)); err == nil {
		t.Error("the engine role published a sensor event")
	}
	dev := events.MustEvent(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), events.Source{Component: "baseline"}, events.Deviation{Type: "new_peer"})
	if err := engine.Publish(ctx, dev); err != nil {
		t.Errorf("engine publishes a deviation: %v", err)
	}
	ph := events.MustEvent(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), events.Source{Component: HealthComponent, Name: "engine"},
		events.Health{IntervalMS: 30000, Pipeline: &events.PipelineHealth{Process: "engine"}})
	if err := engine.Publish(ctx, ph); err != nil {
		t.Errorf("engine publishes its pipeline health: %v", err)
	}
	// Consume, acknowledge, checkpoint, lease.
	cctx, cancel := context.WithCancel(ctx)
	got := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- engine.Consume(cctx, events.ConsumerSpec{Stream: events.StreamSensor, Durable: "probe", Kinds: []events.Kind{events.KindFlow}},
			func(_ context.Context, d events.Delivery) error { got <- d.Header.ID; return nil })
	}()
	select {
	case id := <-got:
		if id != testFlow(1).ID {
			t.Errorf("engine consumed %s", id)
		}
	case <-time.After(10 * time.Second):
		t.Error("engine consumed nothing")
	}
	if err := engine.WaitCaughtUp(ctx, events.StreamSensor, "probe"); err != nil {
		t.Errorf("acknowledgement: %v", err)
	}
	cancel()
	<-done
	if err := engine.SaveCheckpoint(ctx, "probe", events.Position{Seq: 2}, []byte("state")); err != nil {
		t.Errorf("engine checkpoint: %v", err)
	}
	l, err := Claim(ctx, engine.JetStream(), LeaseConfiguration{Slots: 2, Slot: -1, TTL: 2 * time.Second}, "engine", nil)
	if err != nil {
		t.Errorf("engine lease: %v", err)
	} else if err := l.Stop(ctx); err != nil {
		t.Errorf("engine lease free: %v", err)
	}
}

// TestDeployKubernetesNATSMatches checks that the NATS configuration of
// kubernetes/nats.yaml parses and grants the sensor and engine roles
// exactly what deploy/nats/accounts.conf grants them.
func TestDeployKubernetesNATSMatches(t *testing.T) {
	for k, v := range natsEnv {
		t.Setenv(k, v)
	}
	text, err := os.ReadFile(deployFile(t, "kubernetes/nats.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Kind string            `yaml:"kind"`
		Data map[string]string `yaml:"data"`
	}
	for _, doc := range strings.Split(string(text), "\n---\n") {
		if err := yaml.Unmarshal([]byte(doc), &cm); err != nil {
			t.Fatal(err)
		}
		if cm.Kind == "ConfigMap" {
			break
		}
	}
	dir := t.TempDir()
	for name, content := range cm.Data {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600)
	}
	k8s, err := server.ProcessConfigFile(filepath.Join(dir, "nats.conf"))
	if err != nil {
		t.Fatalf("kubernetes nats.conf: %v", err)
	}
	ref := filepath.Join(t.TempDir(), "ref.conf")
	accounts, _ := os.ReadFile(deployFile(t, "nats/accounts.conf"))
	os.WriteFile(filepath.Join(filepath.Dir(ref), "accounts.conf"), accounts, 0o600)
	os.WriteFile(ref, []byte("include ./accounts.conf\n"), 0o600)
	want, err := server.ProcessConfigFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	perms := func(o *server.Options) map[string]string {
		out := map[string]string{}
		for _, u := range o.Users {
			if u.Username == "sensor" || u.Username == "engine" {
				out[u.Username] = fmt.Sprintf("%v %v", u.Permissions.Publish, u.Permissions.Subscribe)
			}
		}
		return out
	}
	if diff := cmp.Diff(perms(want), perms(k8s)); diff != "" {
		t.Errorf("kubernetes roles differ from deploy/nats/accounts.conf (-want +kubernetes):\n%s", diff)
	}
	if len(perms(k8s)) != 2 {
		t.Errorf("roles in kubernetes: %v", perms(k8s))
	}
}
