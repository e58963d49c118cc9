package risk

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
)

// BenchmarkCompute scores one device with three vulnerabilities, two
// insecure protocols and two anomalies.
func BenchmarkCompute(b *testing.B) {
	in := Inputs{Criticality: "life_sustaining", Flows: 40, MinFlows: 10, InternetOutbound: true,
		Vulns:             []Vuln{{ID: "a", CVSS: 7.5, Confirmed: true}, {ID: "b", CVSS: 9.8, KEV: true}, {ID: "c", EPSS: 0.3}},
		InsecureProtocols: []string{"ftp", "telnet"}, Anomalies: []Anomaly{{Severity: "high"}, {}}}
	w := DefaultWeights()
	for b.Loop() {
		Compute(in, w)
	}
}

// BenchmarkObserveFlow is the engine's hot path: flows between devices
// it knows, none of which changes a fact (no rescore).
func BenchmarkObserveFlow(b *testing.B) {
	m := NewModel(DefaultConfiguration(), events.Source{}, nil)
	flows := make([]events.Event[events.Flow], 256)
	for i := range flows {
		flows[i] = events.MustEvent(time.Unix(int64(i), 0), events.Source{}, events.Flow{FlowID: fmt.Sprint(i), Phase: events.FlowEnd,
			Orig: events.Endpoint{MAC: fmt.Sprintf("00:00:00:00:00:%02x", i%64), IP: fmt.Sprintf("10.0.0.%d", i%64)},
			Resp: events.Endpoint{MAC: "00:00:00:00:01:01", IP: "10.0.0.200", Port: 443}, VLAN: 1})
	}
	for _, f := range flows { // warm: past min_flows
		for range 10 {
			m.ObserveFlow(f)
		}
	}
	i := 0
	for b.Loop() {
		m.ObserveFlow(flows[i%len(flows)])
		i++
	}
}
