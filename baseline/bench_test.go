package baseline

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
)

// BenchmarkObserveFlow measures the baseline's cost per flow event on a
// network of 1000 devices, each talking to 8 servers, half of the events
// after learning; it reports the estimated memory per device model.
func BenchmarkObserveFlow(b *testing.B) {
	const devices, servers = 1000, 8
	flows := make([]events.Event[events.Flow], 0, 4096)
	for i := range cap(flows) {
		at := t0.Add(time.Duration(i) * 30 * time.Second)
		d, s := i%devices, i%servers
		flows = append(flows, events.MustEvent(at, sensor, events.Flow{
			FlowID: fmt.Sprintf("f%d", i), Phase: events.FlowEnd, Start: at, Last: at, Transport: "tcp",
			Orig:        events.Endpoint{MAC: fmt.Sprintf("00:12:34:00:%02x:%02x", d>>8, d&0xff), IP: fmt.Sprintf("10.1.%d.%d", d>>8, d&0xff), Port: 40000},
			Resp:        events.Endpoint{MAC: fmt.Sprintf("00:99:00:00:00:%02x", s), IP: fmt.Sprintf("10.9.0.%d", s), Port: 443},
			OrigPackets: 5, RespPackets: 4, OrigBytes: 900, RespBytes: 4000, State: "SF", History: "ShADadFf", AppProto: "tls",
		}))
	}
	cfg := DefaultConfiguration()
	cfg.Learning = time.Duration(len(flows)/2) * 30 * time.Second
	m := NewModel(cfg, events.Source{Component: "baseline"}, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m.ObserveFlow(flows[i%len(flows)])
	}
	b.StopTimer()
	s := m.Stats()
	b.ReportMetric(float64(s.MemoryBytes)/float64(max(s.Devices, 1)), "B/device")
}
