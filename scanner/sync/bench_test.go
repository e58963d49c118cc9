package sync

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/scanner"
)

type nopBus struct{}

func (nopBus) Publish(context.Context, events.Message) error { return nil }
func (nopBus) Consume(context.Context, events.ConsumerSpec, events.Handler) error {
	return nil
}

// BenchmarkWatch is the per-flow cost of the passive watch with 10 000
// excluded devices and 4 engine prefixes: most flows are ordinary
// traffic, one in 100 comes from an engine.
func BenchmarkWatch(b *testing.B) {
	var devices []scanner.Device
	for i := range 10_000 {
		devices = append(devices, scanner.Device{ID: fmt.Sprint("dev-", i), Medical: true,
			IPs: []string{fmt.Sprintf("10.20.%d.%d", i>>8&255, i&255)}})
	}
	conf := cfg()
	conf.InsightVM.URL = ""
	conf.ScanEngines = []string{"10.0.5.10", "10.0.6.0/24", "10.0.7.0/24", "fd00::/64"}
	c, err := New(conf, Dependencies{Bus: nopBus{}, Devices: func() []scanner.Device { return devices }})
	if err != nil {
		b.Fatal(err)
	}
	c.refreshExcluded()
	flows := make([]events.Event[events.Flow], 100)
	for i := range flows {
		orig := fmt.Sprintf("10.30.0.%d", i)
		if i == 0 {
			orig = "10.0.5.10"
		}
		flows[i] = events.MustEvent(t0.Add(time.Duration(i)*time.Second), events.Source{}, events.Flow{FlowID: fmt.Sprint(i),
			Transport: "tcp", Orig: events.Endpoint{IP: orig}, Resp: events.Endpoint{IP: fmt.Sprintf("10.20.0.%d", i), Port: 443}})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.watch(flows[i%len(flows)])
		i++
	}
}

// BenchmarkPlan is the diff of one site for a large hospital: 20 000
// medical addresses wanted, the console holding last sync's list in which
// 1 000 devices have since moved, plus 500 foreign entries.
func BenchmarkPlan(b *testing.B) {
	want := map[string]string{}
	var before, mine []string
	for i := range 20_000 {
		old := fmt.Sprintf("10.20.%d.%d", i>>8&255, i&255)
		cur := old
		if i%20 == 0 {
			cur = fmt.Sprintf("10.21.%d.%d", i>>8&255, i&255)
		}
		want[cur] = fmt.Sprint("dev-", i)
		before, mine = append(before, old), append(mine, old)
	}
	for i := range 500 {
		before = append(before, fmt.Sprintf("192.0.2.%d", i%250))
	}
	r := NewReconciler(cfg(), nil, &MemoryLedger{}, nil)
	desired := slices.SortedFunc(maps.Keys(want), scanner.CompareTargets)
	b.ReportAllocs()
	for b.Loop() {
		sr := r.plan(SiteResult{Desired: desired}, "s", before, want, mine, mine, false)
		if len(sr.Added) != 1000 || len(sr.Removed) != 1000 {
			b.Fatalf("added %d removed %d", len(sr.Added), len(sr.Removed))
		}
	}
}
