package baseline

import (
	"fmt"
	"runtime"
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
	for _, groups := range []bool{false, true} {
		b.Run(fmt.Sprintf("peer-groups=%t", groups), func(b *testing.B) {
			cfg := DefaultConfiguration()
			cfg.Learning = time.Duration(len(flows)/2) * 30 * time.Second
			m := NewModel(cfg, events.Source{Component: "baseline"}, nil)
			if groups {
				// Every device reports one of 8 models: 8 groups of 125.
				for d := range devices {
					mac, ip := flows[d].Body.Orig.MAC, flows[d].Body.Orig.IP
					m.ObserveAttribute(events.MustEvent(t0, sensor, events.Observation{Device: events.DeviceKey(mac, ip, 0),
						MAC: mac, IP: ip, Attribute: "model", Value: fmt.Sprintf("RX-%d", d%8), Protocol: "dhcp", Confidence: 0.9}))
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				m.ObserveFlow(flows[i%len(flows)])
			}
			b.StopTimer()
			s := m.Stats()
			b.ReportMetric(float64(s.MemoryBytes)/float64(max(s.Devices, 1)), "B/device")
		})
	}
}

// BenchmarkDeviceMemory measures the heap a device model really holds
// (runtime.MemStats, after GC) next to the estimate Stats reports, for
// devices with 8 edges and for devices at the max_edges_per_device cap
// (more edges are offered than it allows: the cap holds).
func BenchmarkDeviceMemory(b *testing.B) {
	for _, tc := range []struct {
		name         string
		edges, limit int
	}{{"edges=8", 8, 4096}, {"edges=cap-256", 1024, 256}} {
		b.Run(tc.name, func(b *testing.B) {
			const devices = 200
			var heap, est float64
			for range b.N {
				cfg := DefaultConfiguration()
				cfg.MaxEdgesPerDevice = tc.limit
				flows := make([]events.Event[events.Flow], 0, devices*tc.edges)
				for d := range devices {
					for e := range tc.edges {
						at := t0.Add(time.Duration(e) * time.Second)
						flows = append(flows, events.MustEvent(at, sensor, events.Flow{
							FlowID: "f", Phase: events.FlowEnd, Start: at, Last: at, Transport: "tcp",
							Orig:        events.Endpoint{MAC: fmt.Sprintf("00:12:34:00:%02x:%02x", d>>8, d&0xff), IP: fmt.Sprintf("10.1.%d.%d", d>>8, d&0xff), Port: 40000},
							Resp:        events.Endpoint{MAC: "00:99:00:00:00:01", IP: fmt.Sprintf("10.9.%d.%d", e>>8, e&0xff), Port: 443},
							OrigPackets: 5, RespPackets: 4, OrigBytes: 900, RespBytes: 4000, State: "SF", History: "ShADadFf", AppProto: "tls",
						}))
					}
				}
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				m := NewModel(cfg, events.Source{Component: "baseline"}, nil)
				for _, f := range flows {
					m.ObserveFlow(f)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				s := m.Stats()
				heap += (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(s.Devices)
				est += float64(s.MemoryBytes) / float64(s.Devices)
				runtime.KeepAlive(m)
				runtime.KeepAlive(flows)
			}
			b.ReportMetric(heap/float64(b.N), "heap-B/device")
			b.ReportMetric(est/float64(b.N), "estimated-B/device")
		})
	}
}
