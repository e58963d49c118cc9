package alerts

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
)

// benchAlerts are n alerts over devices devices and 5 rules: the folding
// key repeats, as in an alert flood.
func benchAlerts(n, devices int) []events.Event[events.Alert] {
	rules := []string{"internet_communication", "new_peer", "scan_from_inside", "cleartext_admin", "auth_failures"}
	sev := []events.Severity{events.SeverityLow, events.SeverityMedium, events.SeverityHigh, events.SeverityCritical}
	out := make([]events.Event[events.Alert], n)
	for i := range out {
		d := events.DeviceSnapshot{Key: fmt.Sprintf("mac:02:00:00:00:%02x:%02x/20", (i%devices)>>8, (i%devices)&0xff), Category: "infusion_pump"}
		out[i] = alert(t0.Add(time.Duration(i)*time.Second), rules[i%len(rules)], sev[i%len(sev)], d, fmt.Sprintf("203.0.113.%d", i%7), 443)
	}
	return out
}

// BenchmarkApplyAlert is the cost of folding one alert into its incident
// (2000 devices, 5 rules, 7 peers: 70 000 possible incidents).
func BenchmarkApplyAlert(b *testing.B) {
	evs := benchAlerts(100_000, 2000)
	m := NewModel()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ev := evs[i%len(evs)]
		ev.ID = fmt.Sprint(i) // a new alert each time, not a duplicate
		m.ApplyAlert(uint64(i+1), ev)
	}
}

// BenchmarkIncidents is one page of the default query over 10 000
// incidents with 20 suppressions in force: the read-time cost of applying
// suppressions.
func BenchmarkIncidents(b *testing.B) {
	m := NewModel()
	for i, ev := range benchAlerts(10_000, 2000) {
		m.ApplyAlert(uint64(i+1), ev)
	}
	for i := range 20 {
		sup := events.AlertSuppression{Device: fmt.Sprintf("mac:02:00:00:00:00:%02x/20", i), Reason: "r", Owner: "o"}
		m.ApplyState(uint64(20_000+i), events.MustEvent(t0, events.Source{}, events.AlertState{Action: events.AlertSuppress, Actor: "a", Suppression: &sup}))
	}
	b.ResetTimer()
	for range b.N {
		m.Incidents(Query{Limit: 50})
	}
	b.ReportMetric(float64(len(m.incidents)), "incidents")
}
