package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/internal/report"
	"github.com/vigil-health/vigil/internal/synth"
	"github.com/vigil-health/vigil/internal/testshared"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// vigil runs the command line in process and returns stdout, stderr and
// the error.
func vigil(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	t.Setenv("VIGIL_CONFIG", "")
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// wardCapture writes the default synthetic ward to a temporary file.
func wardCapture(t *testing.T, opts synth.Options) (string, *synth.Scenario) {
	t.Helper()
	s := synth.Ward(opts)
	p := filepath.Join(t.TempDir(), "ward.pcap")
	if err := s.WritePCAPFile(p); err != nil {
		t.Fatal(err)
	}
	return p, s
}

func decodeReport(t *testing.T, out string) report.Report {
	t.Helper()
	var r report.Report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("report is not valid JSON: %v\n%s", err, out)
	}
	return r
}

// TestWardEndToEnd runs the generated ward through the whole pipeline
// (sensor, JetStream, inventory, baseline, Rego) and checks the report
// against the generator's ground truth.
func TestWardEndToEnd(t *testing.T) {
	opts := synth.DefaultOptions()
	path, scenario := wardCapture(t, opts)
	out, _, err := vigil(t, "analyze", "--json", "--learn", opts.Learning.String(), path)
	if err != nil {
		t.Fatal(err)
	}
	r := decodeReport(t, out)

	// Every device of the ward is in the inventory with its MAC and IP,
	// and DHCP clients with their hostname.
	byMAC := map[string]report.Device{}
	for _, d := range r.Devices {
		byMAC[d.MAC] = d
	}
	for _, want := range scenario.Devices {
		got, ok := byMAC[want.MAC.String()]
		if !ok {
			t.Errorf("device %s (%s) missing from the inventory", want.Name, want.MAC)
			continue
		}
		if !contains(got.IPs, want.IP.String()) {
			t.Errorf("device %s: IPs %v, want %s", want.Name, got.IPs, want.IP)
		}
		if want.DHCP && got.Attributes["hostname"] != want.Hostname {
			t.Errorf("device %s: hostname %q, want %q", want.Name, got.Attributes["hostname"], want.Hostname)
		}
	}
	if len(r.Devices) != len(scenario.Devices) {
		t.Errorf("inventory has %d devices, the ward %d", len(r.Devices), len(scenario.Devices))
	}

	// Each injected anomaly raised an alert on the device that misbehaved,
	// after the learning window; nothing was raised during learning.
	ids := map[string]string{} // synth device name → report device ID
	for _, d := range scenario.Devices {
		ids[d.Name] = byMAC[d.MAC.String()].ID
	}
	rules := map[string]string{synth.KindInternet: "internet_communication", synth.KindScan: "network_scan", synth.KindNewPeer: "new_peer"}
	for _, a := range scenario.Anomalies {
		found := false
		for _, al := range r.Alerts {
			if al.Rule == rules[a.Kind] && al.Device == ids[a.Device] && !al.Time.Before(a.Start) && !al.Time.After(a.End.Add(time.Minute)) {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s alert for the %s anomaly of %s at %s; alerts: %+v", rules[a.Kind], a.Kind, a.Device, a.Start, r.Alerts)
		}
	}
	for _, al := range r.Alerts {
		if al.Time.Before(scenario.LearningEnd()) {
			t.Errorf("alert during learning: %+v", al)
		}
	}
	if r.Policy.Errors != 0 || len(r.Policy.Revisions) != 1 {
		t.Errorf("policy: %+v, want one revision and no error", r.Policy)
	}
}

// TestWardWithoutAnomaliesRaisesNothing is the false-positive check: the
// same ward, normal traffic only.
func TestWardWithoutAnomaliesRaisesNothing(t *testing.T) {
	opts := synth.DefaultOptions()
	opts.NoAnomalies = true
	path, _ := wardCapture(t, opts)
	out, _, err := vigil(t, "analyze", "--json", "--learn", opts.Learning.String(), path)
	if err != nil {
		t.Fatal(err)
	}
	r := decodeReport(t, out)
	if len(r.Alerts) != 0 || len(r.Deviations) != 0 {
		t.Fatalf("normal traffic raised %d deviations and %d alerts: %+v %+v", len(r.Deviations), len(r.Alerts), r.Deviations, r.Alerts)
	}
}

// TestReportGolden pins the JSON report of the demo capture, and checks a
// second run gives the same bytes. Regenerate with -update.
func TestReportGolden(t *testing.T) {
	opts := synth.DefaultOptions()
	path, _ := wardCapture(t, opts)
	run := func() string {
		out, _, err := vigil(t, "analyze", "--json", "--learn", opts.Learning.String(), path)
		if err != nil {
			t.Fatal(err)
		}
		// The capture's temporary path is the only input-dependent text.
		return strings.ReplaceAll(out, path, "ward.pcap")
	}
	first := run()
	if second := run(); second != first {
		t.Fatalf("two runs differ:\n%s", cmp.Diff(first, second))
	}
	golden := filepath.Join("testdata", "ward-report.json")
	if *update {
		if err := os.WriteFile(golden, []byte(first), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), first); diff != "" {
		t.Fatalf("report differs from %s (-want +got); if intended, run go test ./cmd/vigil -run TestReportGolden -update:\n%s", golden, diff)
	}
}

func TestDemoPrintsDevicesAndAlerts(t *testing.T) {
	out, _, err := vigil(t, "demo")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Devices (14)", "Alerts (", "internet address 203.0.113.45", "HIGH"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

// TestAnalyzeSharedCapture runs the example capture twice: exit 0
// and byte-identical reports.
func TestAnalyzeSharedCapture(t *testing.T) {
	path := testshared.Pcap(t, "zeek_zeek/testing/btest/Traces/wikipedia.pcap")
	first, _, err := vigil(t, "analyze", "--json", path)
	if err != nil {
		t.Fatal(err)
	}
	r := decodeReport(t, first)
	if r.Flows.Count == 0 || len(r.Captures) != 1 || r.Captures[0].Packets == 0 {
		t.Fatalf("empty report: %+v", r)
	}
	for range 3 {
		again, _, err := vigil(t, "analyze", "--json", path)
		if err != nil {
			t.Fatal(err)
		}
		if again != first {
			t.Fatalf("reports differ between runs:\n%s", cmp.Diff(first, again))
		}
	}
}

func TestAnalyzeRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("this is not a capture\n"), 0o644)
	empty := filepath.Join(dir, "empty.pcap")
	os.WriteFile(empty, nil, 0o644)
	ward, _ := wardCapture(t, synth.DefaultOptions())
	data, err := os.ReadFile(ward)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.pcap")
	os.WriteFile(truncated, data[:len(data)/2+7], 0o644)

	cases := []struct {
		name, path, want string
		report           bool
	}{
		{"text file", text, "not a pcap or pcapng file", false},
		{"empty file", empty, "empty.pcap", false},
		{"missing file", filepath.Join(dir, "nope.pcap"), "nope.pcap", false},
		{"truncated capture", truncated, "truncated", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := vigil(t, "analyze", "--json", tc.path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q: want one line containing %q", msg, tc.want)
			}
			if tc.report {
				r := decodeReport(t, out)
				if r.Flows.Count == 0 {
					t.Error("the packets before the truncation were lost")
				}
			} else if out != "" {
				t.Errorf("report printed for unreadable input: %s", out)
			}
		})
	}
}

func TestConfigCommands(t *testing.T) {
	out, _, err := vigil(t, "config", "check", "--config", filepath.Join("..", "..", "deploy", "vigil.yaml"))
	if err != nil || !strings.Contains(out, "valid") {
		t.Fatalf("deploy/vigil.yaml: %v %s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("events:\n  partitions: 0\nbaseline:\n  lerning: 1h\n"), 0o644)
	_, _, err = vigil(t, "config", "check", "--config", bad)
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{`unknown key "lerning" in section baseline`, "events.partitions"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	out, _, err = vigil(t, "config", "dump")
	if err != nil || !strings.Contains(out, "learning: 24h0m0s") {
		t.Fatalf("config dump: %v\n%s", err, out)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemoServesTheAPIUntilInterrupted checks `vigil demo --http`: the
// summary first, then the inventory over HTTP, then a clean stop.
func TestDemoServesTheAPIUntilInterrupted(t *testing.T) {
	t.Setenv("VIGIL_CONFIG", "")
	cmd := newRootCommand()
	var out, errOut syncBuffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"demo", "--http", "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	addr := regexp.MustCompile(`dashboard on http://(\S+)/ `)
	var url string
	deadline := time.Now().Add(time.Minute)
	for url == "" && time.Now().Before(deadline) {
		if m := addr.FindStringSubmatch(errOut.String()); m != nil {
			url = "http://" + m[1] + "/api/v1/devices"
		}
		time.Sleep(10 * time.Millisecond)
	}
	if url == "" {
		t.Fatalf("no API address announced; stderr: %s", errOut.String())
	}
	if !strings.Contains(out.String(), "Alerts (") {
		t.Errorf("summary not printed before serving: %s", out.String())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Total   int
		Devices []map[string]any
	}
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if err != nil || len(page.Devices) != 14 || page.Total != 14 {
		t.Errorf("API returned %d devices (%v), want the ward's 14", len(page.Devices), err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(strings.TrimSuffix(url, "/api/v1/devices") + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/api/v1/devices?category=patient_monitor&sort=-last_seen"); code != 200 || !strings.Contains(body, `"total": 2`) {
		t.Errorf("filtered: %d %.300s", code, body)
	}
	if code, body := get("/api/v1/devices?vlan=x"); code != 400 || !strings.Contains(body, "vlan") {
		t.Errorf("bad filter: %d %s", code, body)
	}
	if code, body := get("/api/v1/devices?format=csv&medical=true"); code != 200 || !strings.HasPrefix(body, "id,mac,vlan,") {
		t.Errorf("csv: %d %.200s", code, body)
	}
	id, _ := page.Devices[0]["id"].(string)
	if code, body := get("/api/v1/devices/" + id); code != 200 || !strings.Contains(body, `"classification"`) || !strings.Contains(body, `"addresses"`) {
		t.Errorf("detail: %d %.300s", code, body)
	}
	if code, _ := get("/api/v1/devices/dev-nothing"); code != 404 {
		t.Errorf("unknown device: %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo ended with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop after interrupt")
	}
}
