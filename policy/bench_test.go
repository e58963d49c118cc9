package policy

import (
	"context"
	"testing"

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
