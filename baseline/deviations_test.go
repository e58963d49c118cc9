package baseline

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/inventory/classify"
)

var sensor = events.Source{Component: "sensor", Name: "test"}

// newModel returns a model with the default configuration changed by
// mutate.
func newModel(t *testing.T, mutate func(*Configuration)) *Model {
	t.Helper()
	cfg := DefaultConfiguration()
	if mutate != nil {
		mutate(&cfg)
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatalf("configuration: %v", errs)
	}
	return NewModel(cfg, events.Source{Component: "baseline"}, nil)
}

// flowAt is an established TCP flow from the pump to the server that ends
// at at and moved bytes in total.
func flowAt(at time.Time, id string, bytes uint64) events.Event[events.Flow] {
	return events.MustEvent(at, sensor, events.Flow{
		FlowID: id, Phase: events.FlowEnd, Start: at, Last: at, Transport: "tcp",
		Orig:        events.Endpoint{MAC: pumpMAC, IP: "10.0.0.5", Port: 40000},
		Resp:        events.Endpoint{MAC: srvMAC, IP: "10.0.0.9", Port: 443},
		OrigPackets: 5, RespPackets: 4, OrigBytes: bytes / 2, RespBytes: bytes - bytes/2,
		State: "SF", History: "ShADadFf", AppProto: "tls",
	})
}

// types lists the types of deviations of one kind (all when kind is "").
func types(devs []events.Event[events.Deviation], kind events.DeviationType) []events.Event[events.Deviation] {
	var out []events.Event[events.Deviation]
	for _, d := range devs {
		if kind == "" || d.Body.Type == kind {
			out = append(out, d)
		}
	}
	return out
}

// learnHourly feeds a day of learning: from t0, one flow of perHour bytes
// every 10 minutes of each hour in which active says so.
func learnHourly(t *testing.T, m *Model, hours int, perHour uint64, active func(at time.Time) bool) {
	t.Helper()
	for h := range hours {
		for k := range 6 {
			at := t0.Add(time.Duration(h)*time.Hour + time.Duration(k*10+1)*time.Minute)
			if active != nil && !active(at) {
				continue
			}
			if got := m.ObserveFlow(flowAt(at, fmt.Sprintf("learn-%d-%d", h, k), perHour/6)); len(got) != 0 {
				t.Fatalf("deviation while learning at %s: %s", at, summaries(got))
			}
		}
	}
}

func TestVolumeSpike(t *testing.T) {
	day := t0.Add(24 * time.Hour) // the end of learning
	t.Run("an hour above the profile raises once", func(t *testing.T) {
		m := newModel(t, func(c *Configuration) { c.VolumeFloorBytes = 1 << 20 })
		learnHourly(t, m, 24, 120_000, nil)
		var got []events.Event[events.Deviation]
		// 600 kB is five times the profile but under the floor.
		got = append(got, m.ObserveFlow(flowAt(day.Add(10*time.Minute), "a", 600_000))...)
		if len(got) != 0 {
			t.Fatalf("below the floor: %+v", got)
		}
		got = append(got, m.ObserveFlow(flowAt(day.Add(20*time.Minute), "b", 2_000_000))...)
		got = append(got, m.ObserveFlow(flowAt(day.Add(30*time.Minute), "c", 2_000_000))...)
		got = append(got, m.ObserveFlow(flowAt(day.Add(70*time.Minute), "d", 3_000_000))...) // next hour
		var spikes []events.Event[events.Deviation]
		for _, d := range types(got, events.DeviationVolumeSpike) {
			if d.Body.Device.MAC == pumpMAC {
				spikes = append(spikes, d)
			}
		}
		if len(spikes) != 2 || len(got) != 4 { // the server spiked too
			t.Fatalf("want one spike per hour and device, got %d: %s", len(got), summaries(got))
		}
		dv := spikes[0].Body
		ctx := dv.Baseline
		// The learned hours hold 120 kB: the p95 is the upper bound of
		// its bucket (at most a quarter above).
		if !ctx.Ready || ctx.Metric != "bytes_per_hour" || ctx.Learned < 120_000 || ctx.Learned > 150_000 ||
			ctx.Observed != 2_600_000 || ctx.Threshold != 1<<20 || ctx.Samples != 23 || ctx.Ratio < 17 || ctx.Ratio > 22 {
			t.Errorf("context %+v", ctx)
		}
		if dv.Peer == nil || dv.Peer.IP != "10.0.0.9" || dv.Direction != "outbound" || dv.Evidence[0] != "b" ||
			!strings.Contains(dv.Summary, "moved 2.5 MiB in the hour from 2026-01-06 08:00 UTC") {
			t.Errorf("deviation %+v", dv)
		}
	})
	t.Run("both ends of a flow are judged", func(t *testing.T) {
		m := newModel(t, func(c *Configuration) { c.VolumeFloorBytes = 1 << 20 })
		learnHourly(t, m, 24, 120_000, nil)
		got := m.ObserveFlow(flowAt(day.Add(10*time.Minute), "a", 5_000_000))
		var dirs []string
		for _, d := range got {
			dirs = append(dirs, d.Body.Direction+" "+d.Body.Device.MAC)
		}
		if diff := cmp.Diff([]string{"outbound " + pumpMAC, "inbound " + srvMAC}, dirs); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("nothing while learning", func(t *testing.T) {
		m := newModel(t, nil)
		learnHourly(t, m, 12, 100_000, nil)
		if got := m.ObserveFlow(flowAt(t0.Add(13*time.Hour), "big", 1<<30)); len(got) != 0 {
			t.Fatalf("deviation while learning: %+v", got)
		}
	})
	t.Run("a short learning window judges no volume", func(t *testing.T) {
		m := newModel(t, func(c *Configuration) { c.Learning = 30 * time.Minute })
		m.ObserveFlow(flowAt(t0.Add(time.Minute), "first", 10_000))
		if got := m.ObserveFlow(flowAt(t0.Add(2*time.Hour), "big", 1<<30)); len(got) != 0 {
			t.Fatalf("volume judged after 30 minutes of learning: %+v", got)
		}
		if s := m.Stats(); s.VolumeProfiles != 0 {
			t.Errorf("stats %+v", s)
		}
	})
	t.Run("hours without traffic are learned as empty", func(t *testing.T) {
		m := newModel(t, func(c *Configuration) { c.VolumeFloorBytes = 1000 })
		// Busy only in the first two hours: the p95 of 23 hours is 0.
		learnHourly(t, m, 24, 10<<20, func(at time.Time) bool { return at.Before(t0.Add(2 * time.Hour)) })
		got := types(m.ObserveFlow(flowAt(day.Add(3*time.Hour), "x", 5000)), events.DeviationVolumeSpike)
		if len(got) != 2 || got[0].Body.Baseline.Learned != 0 || got[0].Body.Baseline.Ratio != 0 || got[0].Body.Baseline.Threshold != 1000 ||
			!strings.Contains(got[0].Body.Summary, "4.9 KiB in the hour from 2026-01-06 11:00 UTC, above its learned 95th percentile of 0 B") {
			t.Fatalf("got %s", summaries(got))
		}
	})
}

func TestFlowBytesCountsUpdatesOnce(t *testing.T) {
	m := newModel(t, nil)
	ev := func(phase events.FlowPhase, total uint64) events.Flow {
		return events.Flow{FlowID: "long", Phase: phase, OrigBytes: total}
	}
	var sum uint64
	for _, f := range []events.Flow{ev(events.FlowUpdate, 600), ev(events.FlowUpdate, 1200), ev(events.FlowEnd, 1500)} {
		sum += m.flowBytes(f)
	}
	if sum != 1500 || len(m.open) != 0 {
		t.Fatalf("sum %d, open %v", sum, m.open)
	}
}

func TestVolumeHistogramBuckets(t *testing.T) {
	prev := -1
	for _, b := range []uint64{0, 1, 3, 4, 5, 7, 8, 9, 100, 1000, 123_456, 1 << 40, math.MaxUint64} {
		i := bucketOf(b)
		if i < prev || i >= volumeBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d", b, i, prev)
		}
		prev = i
		hi := bucketHigh(i)
		if hi < b || (i > 0 && bucketHigh(i-1) >= b) {
			t.Errorf("bucket %d of %d: [%d, %d]", i, b, bucketHigh(i-1)+1, hi)
		}
		if b >= 4 && float64(hi) > float64(b)*1.25+1 {
			t.Errorf("bucket %d of %d is too wide: up to %d", i, b, hi)
		}
	}
}

func TestOffHours(t *testing.T) {
	workday := func(at time.Time) bool { return at.Hour() >= 8 && at.Hour() < 18 }
	// flowAtHour is a flow at hh:mm UTC on the day after learning.
	flowAtHour := func(hh, mm int) events.Event[events.Flow] {
		at := time.Date(2026, 1, 6, hh, mm, 0, 0, time.UTC).Add(24 * time.Hour)
		return flowAt(at, fmt.Sprintf("late-%02d%02d", hh, mm), 1000)
	}
	t.Run("an hour never used raises once per hour of day", func(t *testing.T) {
		m := newModel(t, nil)
		learnHourly(t, m, 24, 60_000, workday)
		var got []events.Event[events.Deviation]
		for _, f := range []events.Event[events.Flow]{flowAtHour(9, 30), flowAtHour(3, 5), flowAtHour(3, 40), flowAtHour(4, 10)} {
			got = append(got, m.ObserveFlow(f)...)
		}
		off := types(got, events.DeviationOffHours)
		if len(off) != 2 || len(got) != 2 {
			t.Fatalf("want off_hours at 03 and 04, got %+v", got)
		}
		dv := off[0].Body
		if dv.Value != "3" || dv.Attribute != "hour_of_day" || dv.Device.MAC != pumpMAC || !dv.Baseline.Ready ||
			!cmp.Equal(dv.Baseline.ActiveHours, []int{8, 9, 10, 11, 12, 13, 14, 15, 16, 17}) ||
			!strings.Contains(dv.Summary, "between 03:00 and 04:00 (UTC)") || !strings.Contains(dv.Summary, "active hours: 08-17") {
			t.Errorf("deviation %+v", dv)
		}
	})
	t.Run("hours are read in the configured time zone", func(t *testing.T) {
		m := newModel(t, func(c *Configuration) { c.Timezone = "Europe/Zurich" })
		learnHourly(t, m, 24, 60_000, workday)   // 08-17 UTC is 09-18 in Zurich in January
		got := m.ObserveFlow(flowAtHour(18, 30)) // 19:30 in Zurich
		if len(got) != 1 || got[0].Body.Value != "19" || got[0].Body.Baseline.ActiveHours[0] != 9 {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("a short learning window judges no hours", func(t *testing.T) {
		m := newModel(t, func(c *Configuration) { c.Learning = 30 * time.Minute })
		m.ObserveFlow(flowAt(t0.Add(time.Minute), "first", 1000))
		m.ObserveFlow(flowAt(t0.Add(10*time.Minute), "second", 1000))
		if got := m.ObserveFlow(flowAt(t0.Add(15*time.Hour), "night", 1000)); len(got) != 0 {
			t.Fatalf("off_hours after 30 minutes of learning: %+v", got)
		}
	})
	t.Run("nothing before learning ends", func(t *testing.T) {
		m := newModel(t, nil)
		learnHourly(t, m, 12, 60_000, workday)
		if got := m.ObserveFlow(flowAt(t0.Add(19*time.Hour), "night", 1000)); len(got) != 0 {
			t.Fatalf("deviation while learning: %+v", got)
		}
	})
	t.Run("a device first seen late in the window is judged", func(t *testing.T) {
		m := newModel(t, nil)
		learnHourly(t, m, 24, 60_000, nil)
		const late = "00:12:34:00:00:0a"
		for _, min := range []int{10*60 + 5, 11*60 + 5} { // 18:05 and 19:05
			m.ObserveFlow(tcp(min, late, "10.0.0.10", srvMAC, "10.0.0.9", 443))
		}
		got := m.ObserveFlow(tcp(24*60+19*60+30, late, "10.0.0.10", srvMAC, "10.0.0.9", 443)) // 03:30 the day after learning
		if len(got) != 1 || got[0].Body.Type != events.DeviationOffHours || !cmp.Equal(got[0].Body.Baseline.ActiveHours, []int{18, 19}) {
			t.Fatalf("got %s", summaries(got))
		}
	})
	t.Run("a device that never originated is not judged", func(t *testing.T) {
		m := newModel(t, nil)
		learnHourly(t, m, 24, 60_000, workday)
		// The server only answered while learning: its first outbound
		// flow is a new peer, not an off-hours activity.
		at := t0.Add(24*time.Hour + 20*time.Hour)
		f := flowAt(at, "reverse", 1000)
		f.Body.Orig, f.Body.Resp = f.Body.Resp, f.Body.Orig
		for _, d := range m.ObserveFlow(f) {
			if d.Body.Type == events.DeviationOffHours {
				t.Fatalf("off_hours for a device with no learned hours: %+v", d.Body)
			}
		}
	})
}

// authAt is a failed login from the pump (or from client) to the server.
func authAt(at time.Time, client events.Endpoint, result events.AuthResult) events.Event[events.Auth] {
	return events.MustEvent(at, sensor, events.Auth{
		Client: client, Server: events.Endpoint{MAC: srvMAC, IP: "10.0.0.9", Port: 21},
		Protocol: "ftp", Method: "password", Result: result, FlowID: "ftp-" + at.Format("150405"),
	})
}

var pumpClient = events.Endpoint{MAC: pumpMAC, IP: "10.0.0.5", Port: 50000}

func TestAuthFailures(t *testing.T) {
	burst := func(m *Model, from time.Time, n int, every time.Duration, client events.Endpoint) []events.Event[events.Deviation] {
		var out []events.Event[events.Deviation]
		for i := range n {
			out = append(out, m.ObserveAuth(authAt(from.Add(time.Duration(i)*every), client, events.AuthFailure))...)
		}
		return out
	}
	t.Run("a burst raises once per window", func(t *testing.T) {
		m := newModel(t, nil)
		if got := burst(m, t0, 19, 2*time.Second, pumpClient); len(got) != 0 {
			t.Fatalf("19 failures raised %+v", got)
		}
		got := burst(m, t0.Add(38*time.Second), 1, 0, pumpClient)
		if len(got) != 1 {
			t.Fatalf("20th failure raised %d deviations", len(got))
		}
		dv := got[0].Body
		if dv.Type != events.DeviationAuthFailures || dv.Direction != "outbound" || dv.Device.MAC != pumpMAC ||
			dv.Peer == nil || dv.Peer.IP != "10.0.0.9" || dv.Port != 21 || dv.AppProto != "ftp" || dv.Count != 20 ||
			dv.Baseline.Metric != "auth_failures" || dv.Baseline.Observed != 20 || dv.Baseline.Threshold != 20 ||
			dv.Baseline.Ready || len(dv.Evidence) != 20 {
			t.Errorf("deviation %+v", dv)
		}
		if want := "00:12:34:00:00:01 had 20 failed logins on 1 server(s) within 38s (threshold 20 within 15m0s); most against 10.0.0.9:21 (ftp, 20 attempts)."; dv.Summary != want {
			t.Errorf("summary %q, want %q", dv.Summary, want)
		}
		if more := burst(m, t0.Add(time.Minute), 40, time.Second, pumpClient); len(more) != 0 {
			t.Errorf("the same window raised again: %+v", more)
		}
		if again := burst(m, t0.Add(20*time.Minute), 20, time.Second, pumpClient); len(again) != 1 {
			t.Errorf("a burst in a later window raised %d", len(again))
		}
	})
	t.Run("slow failures are no burst", func(t *testing.T) {
		m := newModel(t, nil)
		if got := burst(m, t0, 60, time.Minute, pumpClient); len(got) != 0 {
			t.Fatalf("one failure a minute raised %+v", got)
		}
	})
	t.Run("successes do not count", func(t *testing.T) {
		m := newModel(t, nil)
		for i := range 30 {
			if got := m.ObserveAuth(authAt(t0.Add(time.Duration(i)*time.Second), pumpClient, events.AuthSuccess)); len(got) != 0 {
				t.Fatalf("success raised %+v", got)
			}
		}
	})
	t.Run("an outside client is counted on the server it attacks", func(t *testing.T) {
		m := newModel(t, nil)
		got := burst(m, t0, 20, time.Second, events.Endpoint{MAC: gwMAC, IP: "198.51.100.7", Port: 40000})
		if len(got) != 1 || got[0].Body.Device.MAC != srvMAC || got[0].Body.Direction != "inbound" ||
			got[0].Body.Peer.IP != "198.51.100.7" || got[0].Body.Peer.Port != 0 {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("failures between outside addresses are ignored", func(t *testing.T) {
		m := newModel(t, nil)
		ev := authAt(t0, events.Endpoint{IP: "198.51.100.7"}, events.AuthFailure)
		ev.Body.Server = events.Endpoint{IP: "203.0.113.9", Port: 21}
		m.ObserveAuth(ev)
		if s := m.Stats(); s.AuthIgnored != 1 || s.AuthFailures != 0 || s.Devices != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
	t.Run("memory is bounded by the threshold", func(t *testing.T) {
		m := newModel(t, nil)
		burst(m, t0, 500, time.Second, pumpClient)
		d := m.devices[events.DeviceKey(pumpMAC, "", 0)]
		if d == nil || cap(d.auth.ring) != 20 || len(d.auth.ring) != 20 {
			t.Fatalf("ring %+v", d)
		}
	})
}

// observe is an observation of the device with the given MAC.
func observe(at time.Time, mac, ip, attr, value, protocol string, confidence float64) events.Event[events.Observation] {
	return events.MustEvent(at, sensor, events.Observation{
		Device: events.DeviceKey(mac, ip, 0), MAC: mac, IP: ip, Attribute: attr, Value: value,
		Protocol: protocol, Confidence: confidence, Evidence: "test", FlowID: "flow-" + attr + "-" + value,
	})
}

func TestInsecureProtocol(t *testing.T) {
	m := newModel(t, nil)
	m.ObserveFlow(tcp(0, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 443))
	var got []events.Event[events.Deviation]
	for _, o := range []events.Event[events.Observation]{
		observe(t0.Add(time.Minute), pumpMAC, "10.0.0.5", "insecure_protocol", "telnet", "telnet", 0.9),
		observe(t0.Add(2*time.Minute), pumpMAC, "10.0.0.5", "insecure_protocol", "telnet", "telnet", 0.9),
		observe(t0.Add(3*time.Minute), pumpMAC, "10.0.0.5", "cleartext_credential", "telnet login", "telnet", 0.9),
		observe(t0.Add(4*time.Minute), srvMAC, "10.0.0.9", "insecure_protocol", "telnet", "telnet", 0.9),
		observe(t0.Add(5*time.Minute), pumpMAC, "10.0.0.5", "hostname", "pump-1", "dhcp", 0.9),
		// The internet server of a TLS 1.0 session, behind the router's MAC.
		observe(t0.Add(6*time.Minute), gwMAC, "203.0.113.7", "insecure_protocol", "tls1.0", "tls", 0.9),
	} {
		got = append(got, m.ObserveAttribute(o)...)
	}
	var seen []string
	for _, d := range got {
		b := d.Body
		if b.Type != events.DeviationInsecureProtocol || b.AppProto != "telnet" || b.Baseline.Ready || b.Evidence[0] != "flow-"+b.Attribute+"-"+b.Value {
			t.Errorf("deviation %+v", b)
		}
		seen = append(seen, b.Device.MAC+" "+b.Attribute+"="+b.Value)
	}
	want := []string{pumpMAC + " insecure_protocol=telnet", pumpMAC + " cleartext_credential=telnet login", srvMAC + " insecure_protocol=telnet"}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("raised once per device and value, during learning (-want +got):\n%s", diff)
	}
	if s := got[1].Body.Summary; s != "00:12:34:00:00:01 sent or accepted a credential in clear text: telnet login (telnet, test)." {
		t.Errorf("summary %q", s)
	}
}

func TestIdentityChange(t *testing.T) {
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	fw := func(min int, value, protocol, ip string, confidence float64) events.Event[events.Observation] {
		return observe(at(min), pumpMAC, ip, "firmware_version", value, protocol, confidence)
	}
	m := newModel(t, nil)
	var got []events.Event[events.Deviation]
	for _, o := range []events.Event[events.Observation]{
		fw(1, "3.2.0", "snmp", "10.0.0.5", 0.9),
		fw(2, "3.2.0", "snmp", "10.0.0.5", 0.9),
		fw(3, "V3.2 build 7", "http", "10.0.0.5", 0.8), // another source: not compared
		fw(4, "1.0", "snmp", "10.0.0.5", 0.5),          // weaker: ignored
		fw(5, "2.10.1", "snmp", "10.0.0.5", 0.9),       // downgrade
		fw(6, "2.9.9", "snmp", "10.0.0.5", 0.9),        // downgrade again
		fw(7, "3.10.0", "snmp", "10.0.0.5", 0.9),       // upgrade
		fw(8, "2.9.9", "snmp", "10.0.0.5", 0.9),        // downgrade, a new pair
		fw(9, "3.10.0", "snmp", "10.0.0.5", 0.9),       // upgrade already raised
		fw(10, "1.0.0", "snmp", "10.0.0.77", 0.9),      // another address behind the same MAC
		observe(at(11), pumpMAC, "10.0.0.5", "model", "Infusomat Space", "dicom", 0.9),
		observe(at(12), pumpMAC, "10.0.0.5", "model", "Perfusor Space", "dicom", 0.9),
	} {
		got = append(got, m.ObserveAttribute(o)...)
	}
	var seen []string
	for _, d := range got {
		b := d.Body
		if b.Type != events.DeviationIdentityChange || b.Baseline.Ready {
			t.Errorf("deviation %+v", b)
		}
		seen = append(seen, fmt.Sprintf("%s %s %s→%s", b.Attribute, b.Change, b.Previous, b.Value))
	}
	want := []string{
		"firmware_version downgrade 3.2.0→2.10.1",
		"firmware_version downgrade 2.10.1→2.9.9",
		"firmware_version upgrade 2.9.9→3.10.0",
		"firmware_version downgrade 3.10.0→2.9.9",
		"model changed Infusomat Space→Perfusor Space",
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	first := got[0].Body
	if wantSummary := `00:12:34:00:00:01: firmware_version downgraded from "3.2.0" to "2.10.1" (snmp); a downgrade can bring back vulnerabilities the newer version fixed.`; first.Summary != wantSummary {
		t.Errorf("summary %q", first.Summary)
	}
	if first.Device.Attributes["firmware_version"] != "2.10.1" || first.AppProto != "snmp" {
		t.Errorf("snapshot %+v", first.Device)
	}
}

func TestSerialConflict(t *testing.T) {
	m := newModel(t, nil)
	const other = "00:12:34:00:00:07"
	m.ObserveFlow(tcp(0, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 443))
	var got []events.Event[events.Deviation]
	for _, o := range []events.Event[events.Observation]{
		observe(t0, pumpMAC, "10.0.0.5", "serial", "SN-4711-A", "poct1a", 0.9),
		observe(t0.Add(time.Minute), pumpMAC, "10.0.0.5", "serial", "SN-4711-A", "poct1a", 0.9),
		observe(t0.Add(2*time.Minute), other, "10.0.0.6", "serial", "0000", "poct1a", 0.9), // placeholder
		observe(t0.Add(3*time.Minute), srvMAC, "10.0.0.9", "serial", "0000", "poct1a", 0.9),
		observe(t0.Add(4*time.Minute), other, "10.0.0.6", "serial", "SN-4711-A", "poct1a", 0.9),
		observe(t0.Add(5*time.Minute), other, "10.0.0.6", "serial", "SN-4711-A", "poct1a", 0.9),
	} {
		got = append(got, m.ObserveAttribute(o)...)
	}
	var conflicts []events.Deviation
	for _, d := range got {
		if d.Body.Change == events.IdentityConflict {
			conflicts = append(conflicts, d.Body)
		}
	}
	if len(conflicts) != 1 {
		t.Fatalf("want one conflict, got %s", summaries(got))
	}
	c := conflicts[0]
	if c.Device.MAC != other || c.Peer == nil || c.Peer.MAC != pumpMAC || c.Peer.IP != "10.0.0.5" || c.Value != "SN-4711-A" {
		t.Errorf("conflict %+v", c)
	}
}

func TestNewDeviceSeenFirstInAnObservation(t *testing.T) {
	m := newModel(t, func(c *Configuration) { c.Learning = 30 * time.Minute })
	m.ObserveFlow(tcp(0, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 443))
	const late = "00:12:34:00:00:08"
	m.ObserveAttribute(observe(t0.Add(40*time.Minute), late, "10.0.0.8", "hostname", "late-1", "dhcp", 0.9))
	got := m.ObserveFlow(tcp(41, late, "10.0.0.8", srvMAC, "10.0.0.9", 443))
	if len(got) == 0 || got[0].Body.Type != events.DeviationNewDevice || !strings.Contains(got[0].Body.Summary, "late-1") {
		t.Fatalf("got %+v", got)
	}
}

// categories classifies devices by their hostname.
type categories map[string]string

func (c categories) Classify(f classify.Facts) classify.Result {
	for _, h := range f.Attributes["hostname"] {
		if cat, ok := c[h]; ok {
			return classify.Result{Category: cat, Medical: cat == "imaging_ct", Criticality: classify.Criticality("patient_connected")}
		}
	}
	return classify.Result{Category: "unknown"}
}

func TestDeviationsCarryThePeerCategory(t *testing.T) {
	m := newModel(t, func(c *Configuration) { c.Learning = 30 * time.Minute })
	m.SetClassifier(categories{"ct-1": "imaging_ct", "pacs-1": "pacs"}, nil)
	const ws = "00:12:34:00:00:09"
	m.ObserveAttribute(observe(t0, pumpMAC, "10.0.0.5", "hostname", "ct-1", "dhcp", 0.9))
	m.ObserveAttribute(observe(t0, srvMAC, "10.0.0.9", "hostname", "pacs-1", "dhcp", 0.9))
	m.ObserveFlow(tcp(0, ws, "10.0.0.20", srvMAC, "10.0.0.9", 443))
	m.ObserveFlow(tcp(1, pumpMAC, "10.0.0.5", ws, "10.0.0.20", 443))
	got := m.ObserveFlow(tcp(40, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 104))
	var cats []string
	for _, d := range got {
		cats = append(cats, fmt.Sprintf("%s %s %s→%s", d.Body.Type, d.Body.Direction, d.Body.Device.Category, d.Body.PeerCategory))
	}
	want := []string{"new_peer outbound imaging_ct→pacs", "new_port inbound pacs→imaging_ct"}
	if diff := cmp.Diff(want, cats); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// summaries lists the deviations' types and summaries, for messages.
func summaries(devs []events.Event[events.Deviation]) string {
	var b strings.Builder
	for _, d := range devs {
		fmt.Fprintf(&b, "\n  %s: %s", d.Body.Type, d.Body.Summary)
	}
	return b.String()
}

// TestNewKindsAreDeterministic replays a mixed log twice: the same
// deviations, byte for byte.
func TestNewKindsAreDeterministic(t *testing.T) {
	run := func() []string {
		m := newModel(t, func(c *Configuration) { c.VolumeFloorBytes = 1 << 20 })
		learnHourly(t, m, 24, 100_000, func(at time.Time) bool { return at.Hour() >= 8 && at.Hour() < 18 })
		var out []events.Event[events.Deviation]
		day := t0.Add(24 * time.Hour)
		out = append(out, m.ObserveAttribute(observe(day, pumpMAC, "10.0.0.5", "firmware_version", "3.2", "snmp", 0.9))...)
		out = append(out, m.ObserveAttribute(observe(day.Add(time.Minute), pumpMAC, "10.0.0.5", "firmware_version", "3.1", "snmp", 0.9))...)
		out = append(out, m.ObserveAttribute(observe(day.Add(2*time.Minute), pumpMAC, "10.0.0.5", "insecure_protocol", "snmpv2c", "snmp", 0.95))...)
		for i := range 25 {
			out = append(out, m.ObserveAuth(authAt(day.Add(time.Duration(i)*time.Second), pumpClient, events.AuthFailure))...)
		}
		out = append(out, m.ObserveFlow(flowAt(day.Add(14*time.Hour), "night", 50<<20))...)
		var lines []string
		for _, d := range out {
			b, err := d.Encode()
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, string(b))
		}
		return lines
	}
	a, b := run(), run()
	kinds := map[string]bool{}
	for _, l := range a {
		for _, k := range []string{"identity_change", "insecure_protocol", "auth_failures", "volume_spike", "off_hours"} {
			if strings.Contains(l, `"type":"`+k+`"`) {
				kinds[k] = true
			}
		}
	}
	if len(kinds) != 5 {
		t.Errorf("the log raised only %v", kinds)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("runs differ:\n%s", diff)
	}
}

func TestRaisedCausesAreBounded(t *testing.T) {
	m := newModel(t, func(c *Configuration) { c.MaxEdgesPerDevice = 4 })
	for i := range 10 {
		m.ObserveAttribute(observe(t0, pumpMAC, "10.0.0.5", "insecure_protocol", fmt.Sprintf("p%d", i), "x", 0.9))
	}
	d := m.devices[events.DeviceKey(pumpMAC, "", 0)]
	s := m.Stats()
	if len(d.reported) != 4 || s.CausesForgotten != 6 || s.Deviations != 10 {
		t.Fatalf("reported %d, stats %+v", len(d.reported), s)
	}
	if s.MemoryBytes <= 0 || s.MaxDeviceBytes <= 0 || s.MaxDeviceBytes > s.MemoryBytes {
		t.Errorf("memory %+v", s)
	}
}

func TestConfigurationValidate(t *testing.T) {
	cfg := DefaultConfiguration()
	if errs := cfg.Validate(); len(errs) != 0 {
		t.Fatalf("defaults invalid: %v", errs)
	}
	cfg.VolumeFactor, cfg.VolumeMinHours, cfg.OffHoursMinLearning = 0.5, 0, 0
	cfg.Timezone, cfg.AuthWindow, cfg.AuthThreshold = "Mars/Olympus", 0, 1
	var fields []string
	for _, err := range cfg.Validate() {
		fields = append(fields, strings.SplitN(err.Error(), ":", 2)[0])
	}
	want := []string{"volume_factor", "volume_min_hours", "off_hours_min_learning", "timezone", "auth_window", "auth_threshold"}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
