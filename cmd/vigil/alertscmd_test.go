package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/report"
	"github.com/vigil-health/vigil/internal/synth"
	"github.com/vigil-health/vigil/internal/testshared"
	"github.com/vigil-health/vigil/web"
)

// lockedBuffer is an output the test reads while the command writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.TrimSpace(l.b.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// runUntil runs vigil with args until it printed n lines, then
// interrupts it, and returns the lines.
func runUntil(t *testing.T, n int, during func(), args ...string) []string {
	t.Helper()
	t.Setenv("VIGIL_CONFIG", "")
	cmd := newRootCommand()
	out := &lockedBuffer{}
	var errOut bytes.Buffer
	cmd.SetOut(out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	if during != nil {
		time.Sleep(200 * time.Millisecond) // let the command subscribe
		during()
	}
	deadline := time.After(30 * time.Second)
	for len(out.lines()) < n {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("vigil %v ended early: %v %s\n%s", args, err, errOut.String(), out.lines())
		case <-deadline:
			cancel()
			t.Fatalf("vigil %v printed %d of %d lines: %s", args, len(out.lines()), n, out.lines())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("vigil %v: %v", args, err)
	}
	return out.lines()
}

func TestAlertsTail(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := events.DefaultConfiguration()
	cfg.Embedded.Listen = addr
	bus, err := events.NewBus(cfg, events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer bus.Stop(context.Background())
	svc, err := alerts.New(alerts.DefaultConfiguration(), alerts.Dependencies{Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(context.Background())
	at := time.Date(2026, 1, 5, 8, 33, 0, 0, time.UTC)
	raise := func(i int, sev events.Severity) {
		dev := events.DeviceSnapshot{Key: "mac:00:12:21:4e:0a:12/20", Attributes: map[string]string{"hostname": "INF-PUMP-02"}}
		ev := events.MustEvent(at.Add(time.Duration(i)*time.Minute), events.Source{Component: "policy"}, events.Alert{
			Rule: "internet_communication", Severity: sev, Title: "pump to internet", Device: dev,
			Peer: &events.Endpoint{IP: "203.0.113.45", Port: 443}})
		if err := bus.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	raise(0, events.SeverityHigh)
	raise(1, events.SeverityLow)
	raise(2, events.SeverityCritical)

	t.Run("nats", func(t *testing.T) {
		lines := runUntil(t, 2, nil, "alerts", "tail", "--nats", "nats://"+addr, "--since", "1h", "--json", "--min-severity", "high")
		var counts []uint64
		for _, l := range lines {
			rec, err := alerts.DecodeRecord([]byte(l))
			if err != nil {
				t.Fatal(err)
			}
			counts = append(counts, rec.Incident.Count)
		}
		if len(counts) != 2 || counts[0] != 1 || counts[1] != 3 {
			t.Errorf("incident counts %v, want [1 3] (the low alert is below the minimum)", counts)
		}
	})

	t.Run("server", func(t *testing.T) {
		api, err := web.New(web.Configuration{Listen: "127.0.0.1:0"}, web.Dependencies{Alerts: svc})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(api.Handler())
		defer srv.Close()
		lines := runUntil(t, 1, func() { raise(3, events.SeverityLow); raise(4, events.SeverityHigh) },
			"alerts", "tail", "--server", srv.URL, "--min-severity", "medium")
		if !strings.Contains(lines[0], "HIGH") || !strings.Contains(lines[0], "internet_communication") ||
			!strings.Contains(lines[0], "INF-PUMP-02") || !strings.Contains(lines[0], "5 alert(s)") {
			t.Errorf("line %q", lines[0])
		}
		jsonLines := runUntil(t, 1, func() { raise(5, events.SeverityCritical) }, "alerts", "tail", "--server", srv.URL, "--json")
		var u alerts.Update
		if err := json.Unmarshal([]byte(jsonLines[0]), &u); err != nil || u.Type != alerts.UpdateAlert || u.Incident.Count != 6 {
			t.Errorf("json line %q: %v", jsonLines[0], err)
		}
	})

	if _, _, err := vigil(t, "alerts", "tail", "--nats", "nats://x", "--server", "http://y"); err == nil {
		t.Error("both sources accepted")
	}
	if _, _, err := vigil(t, "alerts", "tail", "--min-severity", "severe", "--nats", "nats://x"); err == nil || !strings.Contains(err.Error(), "severe") {
		t.Errorf("bad severity: %v", err)
	}
}

// TestAlertsFoldCaptures runs real captures through the whole pipeline
// and checks that the alert service accounts for every alert the policies
// raised: the incidents' counts add up to the alerts in the stream, each
// alert is in its incident, and a suppression hides without losing.
func TestAlertsFoldCaptures(t *testing.T) {
	ward, _ := wardCapture(t, synth.DefaultOptions())
	for _, tc := range []struct {
		name  string
		files func(t *testing.T) []string
		learn time.Duration
	}{
		{"synthetic ward", func(*testing.T) []string { return []string{ward} }, synth.DefaultOptions().Learning},
		{"zeek ftp/bruteforce", func(t *testing.T) []string {
			return []string{testshared.Pcap(t, "zeek_zeek/testing/btest/Traces/ftp/bruteforce.pcap")}
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := tc.files(t)
			cfg := defaultConfig()
			cfg.DataDir = t.TempDir()
			// An output configured for the live system must stay off when
			// a capture is analysed.
			leak := filepath.Join(t.TempDir(), "siem.jsonl")
			cfg.Alerts.Outputs.File = []alerts.FileConfiguration{{Name: "siem", Enabled: true, Path: leak}}
			_, err := analysis{files: files, learn: tc.learn, hold: func(eng *engines, rep *report.Report) error {
				if len(rep.Alerts) == 0 {
					t.Fatal("the capture raised no alert")
				}
				svc := eng.alerts.service
				page := svc.Incidents(alerts.Query{Suppressed: "include", Limit: 1000})
				var sum uint64
				inIncident := map[string]bool{}
				for _, inc := range page.Incidents {
					sum += inc.Count
					for _, id := range inc.LatestAlerts {
						inIncident[id] = true
					}
				}
				if sum != uint64(len(rep.Alerts)) {
					t.Errorf("incidents count %d alerts, the stream holds %d", sum, len(rep.Alerts))
				}
				if len(rep.Alerts) <= alerts.MaxLatest*len(page.Incidents) {
					for _, a := range rep.Alerts {
						if !inIncident[a.ID] {
							t.Errorf("alert %s (%s) is in no incident", a.ID, a.Rule)
						}
					}
				}
				if eng.alerts.outputs != nil {
					t.Error("outputs run in offline analysis")
				}
				// Suppress the first incident's rule: hidden and counted.
				first := page.Incidents[0]
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if _, err := svc.Suppress(ctx, alerts.SuppressionSpec{Actor: "test", AlertSuppression: events.AlertSuppression{
					Rule: first.Rule, Reason: "test", Owner: "test"}}); err != nil {
					t.Fatal(err)
				}
				after := svc.Incidents(alerts.Query{Limit: 1000})
				if after.Total+after.SuppressedIncidents != page.Total || after.SuppressedIncidents == 0 {
					t.Errorf("after suppressing %s: %d shown + %d suppressed, want %d", first.Rule, after.Total, after.SuppressedIncidents, page.Total)
				}
				return nil
			}}.run(t.Context(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(leak); !os.IsNotExist(err) {
				t.Errorf("offline analysis wrote to the SOC output %s (%v)", leak, err)
			}
		})
	}
}

// TestAlertsWholeStateWithSharedPartitions: an engine that owns half the
// partitions still keeps every incident and every suppression, and two
// such engines publish each SOC record once.
func TestAlertsWholeStateWithSharedPartitions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ecfg := events.DefaultConfiguration()
	ecfg.Embedded.Listen = addr
	server, err := events.NewBus(ecfg, events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer server.Stop(context.Background())

	var svcs []*alerts.Component
	for slot := range 2 {
		cfg := defaultConfig()
		cfg.DataDir = t.TempDir()
		cfg.Events.URL = "nats://" + addr
		share, err := events.SlotShare(slot, 2, cfg.Events.Partitions)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Events.Share = share
		bus, err := events.NewBus(cfg.Events, events.Dependencies{DataDir: cfg.DataDir})
		if err != nil {
			t.Fatal(err)
		}
		lc := &lifecycle{logger: slog.New(slog.DiscardHandler)}
		defer lc.stop()
		if err := lc.start(context.Background(), "events", bus); err != nil {
			t.Fatal(err)
		}
		e, err := startAlerts(context.Background(), cfg, slog.New(slog.DiscardHandler), lc, bus, events.Source{Name: "default", Site: "default"})
		if err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, e.service)
	}
	// Devices on partitions of both slots.
	at := time.Date(2026, 1, 5, 8, 33, 0, 0, time.UTC)
	parts := map[int]bool{}
	for i := 0; len(parts) < 2 || i < 8; i++ {
		key := events.DeviceKey("02:00:00:00:00:"+string(rune('a'+i%6))+"0", "", 20)
		parts[events.Partition(key, ecfg.Partitions)%2] = true
		ev := events.MustEvent(at.Add(time.Duration(i)*time.Second), events.Source{Component: "policy"}, events.Alert{
			Rule: "new_peer", Severity: events.SeverityHigh, Title: "t", Device: events.DeviceSnapshot{Key: key}})
		if err := server.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := svcs[0].Suppress(ctx, alerts.SuppressionSpec{Actor: "anna", AlertSuppression: events.AlertSuppression{
		Rule: "new_peer", Device: events.DeviceKey("02:00:00:00:00:a0", "", 20), Reason: "r", Owner: "o"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		a, b := svcs[0].Incidents(alerts.Query{Suppressed: "include"}), svcs[1].Incidents(alerts.Query{})
		if a.Total == 6 && b.Total == 5 && b.SuppressedIncidents == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot 0 sees %d incidents, slot 1 %d shown + %d suppressed; want 6 each", a.Total, b.Total, b.SuppressedIncidents)
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, err := server.JetStream().Stream(ctx, alerts.SOCStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 8 {
		t.Errorf("%d SOC records for 8 alerts raised", info.State.Msgs)
	}
}
