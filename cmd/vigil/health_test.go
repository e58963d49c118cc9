package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-health/vigil/enforce/edl"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/web"
)

// A blocklist that no firewall fetches any more enforces nothing: the
// health page says so once the last fetch is older than staleBlocklist.
func TestHealthWarnsOfAnUnfetchedBlocklist(t *testing.T) {
	polled := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	cfg := edl.DefaultConfiguration()
	cfg.Name, cfg.Username, cfg.Password = "ward-feed", "paloalto", "feed-pw"
	feed, err := edl.New(cfg, edl.Dependencies{Now: func() time.Time { return polled }})
	if err != nil {
		t.Fatal(err)
	}
	eng := &engines{blocklists: []*edl.Feed{feed}}
	check := func(now time.Time) web.HealthCheck {
		t.Helper()
		var checks []web.HealthCheck
		enforcementHealth(eng, now, func(component, name string, warn, fail bool, detail string, args ...any) {
			state := web.HealthOK
			if warn {
				state = web.HealthWarning
			}
			if fail {
				state = web.HealthFailing
			}
			checks = append(checks, web.HealthCheck{Component: component, Name: name, State: state, Detail: fmt.Sprintf(detail, args...)})
		})
		if len(checks) != 1 {
			t.Fatalf("checks %+v, want one for the feed", checks)
		}
		return checks[0]
	}
	if c := check(polled); c.State != web.HealthOK || !strings.Contains(c.Detail, "not fetched") {
		t.Errorf("never fetched: %+v", c)
	}
	req := httptest.NewRequest(http.MethodGet, cfg.Path+"panos.txt", nil)
	req.SetBasicAuth("paloalto", "feed-pw")
	rec := httptest.NewRecorder()
	feed.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("fetch: %d %s", rec.Code, rec.Body)
	}
	if c := check(polled.Add(10 * time.Minute)); c.State != web.HealthOK {
		t.Errorf("fetched 10 minutes ago: %+v", c)
	}
	if c := check(polled.Add(3 * time.Hour)); c.State != web.HealthWarning || !strings.Contains(c.Detail, "3h0m0s ago") {
		t.Errorf("fetched 3 hours ago: %+v", c)
	}
}

// The health page's mirror-port checks come from the sensors' health
// events. A pipeline process's report (every engine.health.interval) on
// the same partition subject, or another interface of the same sensor,
// must not hide a sensor's latest report, and is not a mirror port.
func TestHealthPageSeesSensorsBesidePipelineReports(t *testing.T) {
	ctx := context.Background()
	bus, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Stop(context.WithoutCancel(ctx)) })
	// A process whose reports share the sensor's subject.
	process := ""
	for i := 0; process == ""; i++ {
		if n := fmt.Sprintf("engine-%d", i); events.Partition("process:"+n, events.DefaultPartitions) == events.Partition("sensor:ward-20", events.DefaultPartitions) {
			process = n
		}
	}
	at := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	sensor := events.Source{Component: "sensor", Name: "ward-20"}
	publish := func(m events.Message) {
		t.Helper()
		if err := bus.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	publish(events.MustEvent(at, sensor, events.Health{Sensor: "ward-20", Interface: "eth1", IntervalMS: 60000, Packets: 10}))
	publish(events.MustEvent(at, sensor, events.Health{Sensor: "ward-20", Interface: "eth2", IntervalMS: 60000, Packets: 7, Silent: true, SilentAfterMS: 300000}))
	pipeline := func(i int) events.Message {
		return events.MustEvent(at.Add(time.Duration(i)*time.Second), events.Source{Component: "pipeline", Name: process},
			events.Health{IntervalMS: 30000, Pipeline: &events.PipelineHealth{Process: process, Bus: events.BusHealth{Published: uint64(i)}}})
	}
	publish(pipeline(1))
	check := func(want string) {
		t.Helper()
		hs, _, err := lastHealth(ctx, bus.JetStream())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range hs {
			got = append(got, fmt.Sprintf("%s/%s %d silent=%v pipeline=%v", h.Sensor, h.Interface, h.Packets, h.Silent, h.Pipeline != nil))
		}
		if strings.Join(got, "; ") != want {
			t.Errorf("latest sensor health:\n got %s\nwant %s", strings.Join(got, "; "), want)
		}
	}
	check("ward-20/eth1 10 silent=false pipeline=false; ward-20/eth2 7 silent=true pipeline=false")
	publish(events.MustEvent(at.Add(time.Minute), sensor, events.Health{Sensor: "ward-20", Interface: "eth1", IntervalMS: 60000, Packets: 20}))
	publish(pipeline(2))
	check("ward-20/eth1 20 silent=false pipeline=false; ward-20/eth2 7 silent=true pipeline=false")

	// The process's latest report comes back apart, and the page judges
	// it by its age.
	_, pipes, err := lastHealth(ctx, bus.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	if len(pipes) != 1 || pipes[0].Report.Process != process || pipes[0].Report.Bus.Published != 2 {
		t.Fatalf("pipeline reports %+v, want %s's second", pipes, process)
	}
	for _, tc := range []struct {
		after time.Duration
		want  string
	}{{time.Minute, web.HealthOK}, {2 * time.Minute, web.HealthWarning}, {6 * time.Minute, web.HealthFailing}} {
		var got web.HealthCheck
		pipelineHealth(pipes[0], pipes[0].At.Add(tc.after), func(component, name string, warn, fail bool, detail string, args ...any) {
			got = web.HealthCheck{Component: component, Name: name, State: map[bool]string{true: web.HealthWarning, false: web.HealthOK}[warn], Detail: fmt.Sprintf(detail, args...)}
			if fail {
				got.State = web.HealthFailing
			}
		})
		if got.State != tc.want || !strings.Contains(got.Detail, "last report") {
			t.Errorf("%s after the report: %+v, want %s", tc.after, got, tc.want)
		}
	}
}
