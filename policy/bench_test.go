package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
)

// BenchmarkEvaluate measures one decision with the shipped library: an
// internet deviation of a medical device (one alert, one block request).
func BenchmarkEvaluate(b *testing.B) {
	eng, err := NewEngine(context.Background(), DefaultConfiguration(), testSrc)
	if err != nil {
		b.Fatal(err)
	}
	ev := deviation(events.DeviationInternet, pump, withPeer("203.0.113.7", 443))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := eng.Evaluate(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecisionLatency measures the latency of single decisions with
// the full shipped library over a mix of deviation types (every type the
// baseline raises, on a workstation and on a medical device) and reports
// the median and the 99th percentile.
func BenchmarkDecisionLatency(b *testing.B) {
	eng, err := NewEngine(context.Background(), DefaultConfiguration(), testSrc)
	if err != nil {
		b.Fatal(err)
	}
	var inputs []events.Event[events.Deviation]
	for _, dev := range []events.DeviceSnapshot{workstation, pump} {
		inputs = append(inputs,
			deviation(events.DeviationInternet, dev, withPeer("203.0.113.7", 443)),
			deviation(events.DeviationNewPeer, dev, withPeer("10.9.9.9", 104), func(d *events.Deviation) { d.AppProto = "dicom" }),
			deviation(events.DeviationNewPort, dev, withPeer("10.9.9.9", 2575), func(d *events.Deviation) { d.AppProto = "hl7" }),
			deviation(events.DeviationNewProtocol, dev, withPeer("10.9.9.9", 80)),
			deviation(events.DeviationNewDevice, dev),
			deviation(events.DeviationScan, dev, func(d *events.Deviation) { d.Count = 40 }),
			deviation(events.DeviationVolumeSpike, dev, withPeer("10.9.9.9", 443)),
			deviation(events.DeviationOffHours, dev, func(d *events.Deviation) { d.Attribute, d.Value = "hour_of_day", "3" }),
			deviation(events.DeviationAuthFailures, dev, withPeer("10.9.9.9", 21), func(d *events.Deviation) { d.Count, d.AppProto = 20, "ftp" }),
			deviation(events.DeviationInsecureProtocol, dev, func(d *events.Deviation) { d.Attribute, d.Value = "insecure_protocol", "telnet" }),
			deviation(events.DeviationIdentityChange, dev, func(d *events.Deviation) {
				d.Attribute, d.Value, d.Previous, d.Change = "firmware_version", "2.9", "3.2", events.IdentityDowngrade
			}),
		)
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		start := time.Now()
		if _, _, err := eng.Evaluate(ctx, inputs[i%len(inputs)]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		i++
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkEdgeFlow measures the cost of one flow event for the edge
// policies once its edge was decided (a cache lookup), next to a new edge
// (an evaluation).
func BenchmarkEdgeFlow(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "guest.rego"), []byte(guestPolicy), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfiguration()
	cfg.Dir = dir
	eng, err := NewEngine(context.Background(), cfg, testSrc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("known-edge", func(b *testing.B) {
		ev := flowEvent("10.99.0.7", "10.30.0.5", 104, "f1")
		eng.EvaluateEdge(ctx, ev)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := eng.EvaluateEdge(ctx, ev); !errors.Is(err, ErrEdgeCached) {
				b.Fatal(err)
			}
		}
	})
	i := 0 // across runs: every edge is new
	b.Run("new-edge", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			i++
			ev := flowEvent(fmt.Sprintf("10.%d.%d.%d", 99+i>>16&0xff, i>>8&0xff, i&0xff), "10.30.0.5", 105, "f")
			if _, _, err := eng.EvaluateEdge(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
