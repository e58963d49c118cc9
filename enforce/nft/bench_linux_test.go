//go:build linux

package nft

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
)

var benchSrc = events.Source{Component: "policy", Name: "bench"}

// decision publishes a decision with reqs and its alert about hostA, as
// the policy engine does, and returns the decision.
func publishDecision(b testing.TB, bus *events.Bus, at time.Time, reqs []events.EnforceRequest) events.Event[events.Decision] {
	b.Helper()
	ctx := context.Background()
	dec := events.MustEvent(at, benchSrc, events.Decision{Query: "data.vigil.main", Revision: "bench", InputKind: events.KindDeviation,
		InputID: at.String(), Device: hostA.Key, Alerts: 1, Enforce: reqs})
	alert := events.MustEvent(at, benchSrc, events.Alert{Rule: "bench", Severity: events.SeverityHigh, Title: "bench",
		Device: hostA, DeviationID: at.String(), DecisionID: dec.ID, PolicyRevision: "bench"})
	if err := bus.Publish(ctx, dec); err != nil {
		b.Fatal(err)
	}
	if err := bus.Publish(ctx, alert); err != nil {
		b.Fatal(err)
	}
	return dec
}

func benchPipeline(b *testing.B, cfg enforce.Configuration) (*lab, *pipeline) {
	l := newLab(b)
	cfg.DryRun = false
	cfg.RateLimit.Blocks = 0
	cfg.ReconcileInterval = time.Hour
	return l, newPipeline(b, l, cfg)
}

// BenchmarkAlertToRule measures the time from the publication of a
// decision and its alert to the applied step, published once the
// nftables element is installed in the kernel; reported as median and
// p99 in milliseconds.
func BenchmarkAlertToRule(b *testing.B) {
	_, p := benchPipeline(b, enforce.DefaultConfiguration())
	applied := make(chan string, 1024)
	sub, err := p.bus.JetStream().Conn().Subscribe(events.KindSubjects(events.KindEnforcement), func(m *nats.Msg) {
		ev, err := events.Decode[events.Enforcement](m.Data)
		if err == nil && ev.Body.Step == events.StepApplied {
			applied <- ev.Body.RequestID
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	var lat []time.Duration
	base := time.Now().UTC()
	i := 0
	for b.Loop() {
		req := events.EnforceRequest{Scope: events.BlockScope{IP: addrA, PeerIP: fmt.Sprintf("198.18.%d.%d", i/250, i%250+1), Port: 443, Transport: "tcp"},
			DurationS: 3600, Reason: "bench"}
		start := time.Now()
		dec := publishDecision(b, p.bus, base.Add(time.Duration(i)*time.Millisecond), []events.EnforceRequest{req})
		want := enforce.RequestID(dec.ID, req)
		for id := range applied {
			if id == want {
				break
			}
		}
		lat = append(lat, time.Since(start))
		i++
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "ms-p99")
}

// BenchmarkReconcile10k measures one reconciliation pass over 10,000
// desired blocks (flows of 100 x 100 address pairs) in nftables: steady
// (read back, nothing to change) and after Vigil's table was lost (all
// 10,000 re-installed and reported as drift).
func BenchmarkReconcile10k(b *testing.B) {
	_, p := benchPipeline(b, enforce.DefaultConfiguration())
	ctx := context.Background()
	base := time.Now().UTC()
	setup := time.Now()
	for d := range 100 {
		reqs := make([]events.EnforceRequest, 100)
		for r := range reqs {
			reqs[r] = events.EnforceRequest{Scope: events.BlockScope{IP: fmt.Sprintf("10.%d.%d.1", 100+d/50, d%50), PeerIP: fmt.Sprintf("198.18.%d.%d", d, r+1),
				Port: 443, Transport: "tcp"}, DurationS: 3600, Reason: "bench"}
		}
		publishDecision(b, p.bus, base.Add(time.Duration(d)*time.Millisecond), reqs)
	}
	waitFor(b, "10,000 blocks installed", func() bool {
		st := p.enforce.Status()
		return st.Backends[0].Actual == 10000 && st.Backends[0].Desired == 10000
	})
	b.Logf("10,000 blocks requested, gated and installed in %s", time.Since(setup).Round(time.Millisecond))

	b.Run("steady", func(b *testing.B) {
		for b.Loop() {
			if err := p.enforce.Reconcile(ctx); err != nil {
				b.Fatal(err)
			}
		}
		if st := p.enforce.Status().Backends[0]; st.Actual != 10000 {
			b.Fatalf("status %+v", st)
		}
	})
	b.Run("after-table-lost", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			if err := p.backend.Remove(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := p.enforce.Reconcile(ctx); err != nil {
				b.Fatal(err)
			}
		}
		if st := p.enforce.Status().Backends[0]; st.Actual != 10000 {
			b.Fatalf("status %+v", st)
		}
	})
}
