package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-health/vigil/capture"
	"github.com/vigil-health/vigil/capture/protocols"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/synth"
	"github.com/vigil-health/vigil/store"
	"github.com/vigil-health/vigil/store/chtest"
)

// The fault tests run real processes: three nats-server processes built
// from the nats-server/v2 module of go.mod, the vigil binary (sensor and
// engine) built from this checkout, and ClickHouse from store/chtest. The
// binaries are built once per test binary.
var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	chtest.Shutdown()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries builds nats-server and vigil, or skips (fails under CI=true)
// when the go tool is missing.
func binaries(t *testing.T) (natsServer, vigil string) {
	t.Helper()
	if testing.Short() {
		t.Skip("fault tests run real processes for about a minute each: skipped with -short")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the go tool is needed to build nats-server and vigil (CI=true)")
		}
		t.Skip("the go tool is not on PATH: fault tests that build nats-server and vigil are skipped")
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "vigil-cluster-bin-")
		if binErr != nil {
			return
		}
		for _, b := range []struct{ out, pkg string }{
			{"nats-server", "github.com/nats-io/nats-server/v2"},
			{"vigil", "github.com/vigil-health/vigil/cmd/vigil"},
		} {
			cmd := exec.Command(gobin, "build", "-o", filepath.Join(binDir, b.out), b.pkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				binErr = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "nats-server"), filepath.Join(binDir, "vigil")
}

// freePorts returns n TCP ports free at the time of the call.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// proc is a child process whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func startProc(t *testing.T, dir, name string, bin string, args ...string) *proc {
	return startProcEnv(t, dir, name, nil, bin, args...)
}

func startProcEnv(t *testing.T, dir, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	log := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(append(os.Environ(), "VIGIL_CONFIG="), env...)
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- %s log (tail):\n%s", name, p.tail(3000))
		}
	})
	return p
}

// kill sends SIGKILL (kill -9) and waits for the process to end.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.done
}

// running reports whether the process has not exited.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits up to d for a clean exit.
func (p *proc) stop(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		// SIGQUIT makes the Go runtime print every goroutine's stack:
		// the error then shows where the process was stuck.
		p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.kill()
		}
		return fmt.Errorf("%s did not stop within %s; its goroutines:\n%s", p.name, d, p.tail(64<<10))
	}
}

// wait waits for the process to exit by itself.
func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		t.Fatalf("%s still running after %s", p.name, d)
		return nil
	}
}

func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// natsCluster is three nats-server processes with JetStream, clustered.
type natsCluster struct {
	t       *testing.T
	bin     string
	dir     string
	clients []int
	routes  []int
	nodes   []*proc
}

func startNATSCluster(t *testing.T, bin string) *natsCluster {
	t.Helper()
	ports := freePorts(t, 6)
	c := &natsCluster{t: t, bin: bin, dir: t.TempDir(), clients: ports[:3], routes: ports[3:], nodes: make([]*proc, 3)}
	for i := range 3 {
		c.start(i)
	}
	c.waitReady()
	return c
}

func (c *natsCluster) start(i int) {
	var routes []string
	for j, p := range c.routes {
		if j != i {
			routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
		}
	}
	conf := fmt.Sprintf(`server_name: n%d
listen: 127.0.0.1:%d
jetstream { store_dir: %q, max_file_store: 100GB, max_memory_store: 256MB }
cluster { name: vigil-test, listen: 127.0.0.1:%d, routes: [%s] }
`, i, c.clients[i], filepath.Join(c.dir, fmt.Sprintf("n%d", i)), c.routes[i], strings.Join(routes, ", "))
	path := filepath.Join(c.dir, fmt.Sprintf("n%d.conf", i))
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		c.t.Fatal(err)
	}
	c.nodes[i] = startProc(c.t, c.dir, fmt.Sprintf("nats-n%d", i), c.bin, "-c", path)
}

// kill9 kills node i with SIGKILL.
func (c *natsCluster) kill9(i int) { c.nodes[i].kill() }

// URLs lists the client URLs of every node.
func (c *natsCluster) URLs() string {
	var us []string
	for _, p := range c.clients {
		us = append(us, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	return strings.Join(us, ",")
}

// waitReady waits until JetStream answers with a meta leader.
func (c *natsCluster) waitReady() {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		nc, err := nats.Connect(c.URLs(), nats.Timeout(time.Second))
		if err == nil {
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = js.AccountInfo(ctx)
			cancel()
			nc.Close()
			if err == nil {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.t.Fatal("nats cluster: JetStream not ready after 60s")
}

// client connects the test itself to the cluster.
func (c *natsCluster) client() jetstream.JetStream {
	c.t.Helper()
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	return js
}

// rig is one fault test's world: the cluster, a ClickHouse database, the
// capture and what the sensor publishes for it.
type rig struct {
	t      *testing.T
	vigil  string
	dir    string
	nats   *natsCluster
	ch     *chtest.Server
	store  store.Configuration
	config string // the vigil configuration file
	// engineEnv is added to the engines' environment.
	engineEnv []string
	capture   string
	want      sensorCounts
}

// sensorCounts is what the sensor publishes for the capture, per kind,
// and the flow events that end a flow (what the rollups count).
type sensorCounts struct {
	byKind   map[events.Kind]int
	flowEnds int
}

type counter struct{ c sensorCounts }

func (c *counter) Publish(_ context.Context, m events.Message) error {
	c.c.byKind[m.Meta().Kind]++
	if f, ok := m.(events.Event[events.Flow]); ok && f.Body.Phase == events.FlowEnd {
		c.c.flowEnds++
	}
	return nil
}

// newRig starts three nats-server processes, gives the test a database
// on ch, writes a ward capture and counts what the sensor publishes for
// it (in process, with the same configuration the sensor process gets).
func newRig(t *testing.T, ch *chtest.Server, opts synth.Options) *rig {
	t.Helper()
	natsBin, vigil := binaries(t)
	r := &rig{t: t, vigil: vigil, dir: t.TempDir(), ch: ch}
	r.nats = startNATSCluster(t, natsBin)
	r.store = store.DefaultConfiguration()
	r.store.Addresses, r.store.Database = []string{ch.Addr}, ch.Database(t)

	r.capture = filepath.Join(r.dir, "ward.pcap")
	if err := synth.Ward(opts).WritePCAPFile(r.capture); err != nil {
		t.Fatal(err)
	}
	cc := capture.DefaultConfiguration()
	cc.Files = []string{r.capture}
	cnt := &counter{c: sensorCounts{byKind: map[events.Kind]int{}}}
	s, err := capture.New(cc, capture.Dependencies{Publisher: cnt, Dissectors: protocols.Dissectors})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.want = cnt.c

	// Small stream limits: the cluster's nodes reserve them on a test
	// disk. A short ack_wait lets a killed engine's batches go to the
	// next one quickly.
	conf := fmt.Sprintf(`data_dir: %q
events:
  url: %q
  replicas: 3
  publish_timeout: 60s
  # Small batches: the sensor's publishing spreads over many messages,
  # so a fault lands while it publishes.
  batch: {max_events: 8}
  retention:
    sensor: {max_age: 24h, max_bytes: 1073741824}
    analytics: {max_age: 24h, max_bytes: 268435456}
    alerts: {max_age: 24h, max_bytes: 268435456}
    enforce: {max_age: 24h, max_bytes: 268435456}
store:
  addresses: [%q]
  database: %s
  max_rows: 5000
  flush_interval: 200ms
  ack_wait: 5s
  max_backoff: 1s
engine:
  health: {interval: 0s}
`, filepath.Join(r.dir, "data"), r.nats.URLs(), ch.Addr, r.store.Database)
	r.config = filepath.Join(r.dir, "vigil.yaml")
	if err := os.WriteFile(r.config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) total() int {
	n := 0
	for _, v := range r.want.byKind {
		n += v
	}
	return n
}

// engine starts `vigil engine` against the cluster and waits until it
// runs (streams and consumers declared). A fresh cluster may still be
// electing stream leaders: an engine that gave up at start is started
// again.
func (r *rig) engine(name string, args ...string) *proc {
	r.t.Helper()
	for attempt := 1; ; attempt++ {
		args := append([]string{"engine", "--config", r.config, "--nats", r.nats.URLs(), "--name", name, "--log-level", "info"}, args...)
		p := startProcEnv(r.t, r.dir, name, r.engineEnv, r.vigil, args...)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if strings.Contains(p.tail(1<<16), "vigil engine "+name+": running") {
				return p
			}
			select {
			case <-p.done:
				deadline = time.Time{}
			case <-time.After(50 * time.Millisecond):
			}
		}
		p.kill()
		if attempt == 3 {
			r.t.Fatalf("engine %s did not start:\n%s", name, p.tail(2000))
		}
	}
}

// sensor starts `vigil sensor` on the capture.
func (r *rig) sensor(name string) *proc {
	return startProc(r.t, r.dir, name, r.vigil, "sensor", "--config", r.config, "--nats", r.nats.URLs(), "--pcap", r.capture, "--log-level", "info")
}

// streamMsgs is how many messages the sensor stream holds, from its
// state: a poll of a few milliseconds, where streamMessages reads every
// message (a fault test that waited on it could see the sensor finish
// while it counted).
func (r *rig) streamMsgs(js jetstream.JetStream) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, events.StreamSensor)
	if err != nil {
		return 0
	}
	return s.CachedInfo().State.Msgs
}

// waitPublishing waits until the sensor stream holds at least msgs
// messages, and fails the test if the sensor p had finished by then:
// the fault would not land while it publishes.
func (r *rig) waitPublishing(js jetstream.JetStream, p *proc, msgs uint64) {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for r.streamMsgs(js) < msgs && time.Now().Before(deadline) && p.running() {
		time.Sleep(10 * time.Millisecond)
	}
	if !p.running() {
		r.t.Fatalf("%s finished before the fault: the capture is too short for this test", p.name)
	}
}

// streamMessages is how many events the sensor stream holds: its
// messages are batches (events.Batcher), counted event by event.
func (r *rig) streamMessages(js jetstream.JetStream) uint64 {
	_, n := streamCount(js)
	return n
}

// streamCount counts the messages of the sensor stream on the subjects of
// kinds (all when none) and the events they hold.
func streamCount(js jetstream.JetStream, kinds ...events.Kind) (msgs, evs uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var filter []string
	for _, k := range kinds {
		filter = append(filter, events.KindSubjects(k))
	}
	cons, err := js.OrderedConsumer(ctx, events.StreamSensor, jetstream.OrderedConsumerConfig{FilterSubjects: filter})
	if err != nil {
		return 0, 0
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, 0
	}
	it, err := cons.Messages()
	if err != nil {
		return 0, 0
	}
	defer it.Stop()
	for msgs < info.NumPending {
		m, err := it.Next()
		if err != nil {
			return msgs, evs
		}
		msgs++
		evs += uint64(events.CountEvents(m.Data()))
	}
	return msgs, evs
}

// rows counts the rows of a table, copies included (no FINAL), and the
// distinct IDs among them.
func (r *rig) rows(table string) (rows, ids uint64) {
	r.t.Helper()
	conn, err := store.Open(context.Background(), r.store)
	if err != nil {
		return 0, 0
	}
	defer conn.Close()
	if err := conn.QueryRow(context.Background(), "SELECT count(), uniqExact(id) FROM "+table).Scan(&rows, &ids); err != nil {
		return 0, 0
	}
	return rows, ids
}

var tables = map[events.Kind]string{
	events.KindFlow: "flows", events.KindObservation: "observations", events.KindAuth: "auth", events.KindHealth: "health",
}

// stored counts sensor rows in ClickHouse.
func (r *rig) stored() uint64 {
	var n uint64
	for _, tb := range tables {
		rows, _ := r.rows(tb)
		n += rows
	}
	return n
}

// waitStored waits until ClickHouse holds at least n sensor rows.
func (r *rig) waitStored(n uint64, d time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if r.stored() >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("ClickHouse holds %d sensor rows after %s, want at least %d", r.stored(), d, n)
}

// checkExact is how every fault test ends: every event the sensor
// produced is a row, exactly once, in the event tables and in the
// rollups (which count every inserted copy, merged or not).
func (r *rig) checkExact() {
	r.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for r.stored() < uint64(r.total()) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	// A copy inserted late (a redelivered batch) would show up after the
	// count reached the total: look again after the ack wait.
	time.Sleep(time.Second)
	for k, tb := range tables {
		rows, ids := r.rows(tb)
		want := uint64(r.want.byKind[k])
		if rows != want || ids != want {
			r.t.Errorf("%s: %d rows, %d distinct events; the sensor produced %d", tb, rows, ids, want)
		} else {
			r.t.Logf("%s: %d rows = %d produced, none duplicated", tb, rows, want)
		}
	}
	conn, err := store.Open(context.Background(), r.store)
	if err != nil {
		r.t.Fatal(err)
	}
	defer conn.Close()
	var rolled uint64
	if err := conn.QueryRow(context.Background(), "SELECT sum(flows) FROM traffic_1m WHERE outbound = 1").Scan(&rolled); err != nil {
		r.t.Fatal(err)
	}
	if rolled != uint64(r.want.flowEnds) {
		r.t.Errorf("traffic_1m counts %d flows, the sensor ended %d: a copy was inserted", rolled, r.want.flowEnds)
	}
}

// sensorLine is the summary a sensor process prints at exit.
func sensorLine(p *proc) string {
	for _, l := range strings.Split(p.tail(4000), "\n") {
		if strings.HasPrefix(l, "vigil sensor:") {
			return l
		}
	}
	return ""
}

// scrape reads one sample from a /metrics URL; ok is false when the
// endpoint or the sample is missing.
func scrape(url, sample string) (float64, bool) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, false
	}
	for _, l := range bytes.Split(body, []byte("\n")) {
		if v, ok := bytes.CutPrefix(l, []byte(sample+" ")); ok {
			f, err := strconv.ParseFloat(string(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}
