package baseline

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/events"
)

// pumpN is the MAC and address of the n-th pump of one model.
func pumpN(n int) (string, string) {
	return fmt.Sprintf("00:12:34:00:01:%02x", n), fmt.Sprintf("10.0.1.%d", n)
}

// modelObs tells the model that a device is a pump of model RX-7.
func modelObs(at time.Time, mac, ip string) events.Event[events.Observation] {
	return events.MustEvent(at, sensor, events.Observation{
		Device: events.DeviceKey(mac, ip, 0), MAC: mac, IP: ip, Attribute: "model", Value: "RX-7",
		Protocol: "dhcp", Confidence: 0.9, Evidence: "test",
	})
}

// groupWard has four pumps of one model learn, during the first 30
// minutes, to talk to the pump server 10.0.0.9 on 443, and a fifth pump
// of the same model and a workstation appear after the window.
func groupWard(t *testing.T, mutate func(*Configuration)) *Model {
	t.Helper()
	m := newModel(t, func(c *Configuration) {
		c.Learning = 30 * time.Minute
		if mutate != nil {
			mutate(c)
		}
	})
	for n := 1; n <= 4; n++ {
		mac, ip := pumpN(n)
		m.ObserveAttribute(modelObs(t0, mac, ip))
		m.ObserveFlow(tcp(n, mac, ip, srvMAC, "10.0.0.9", 443))
	}
	m.ObserveFlow(tcp(10, "00:12:34:00:00:77", "10.0.0.77", srvMAC, "10.0.0.9", 8443))
	return m
}

func TestPeerGroup(t *testing.T) {
	t.Run("a new pump behaving like its siblings raises only new_device", func(t *testing.T) {
		m := groupWard(t, nil)
		mac, ip := pumpN(5)
		m.ObserveAttribute(modelObs(t0.Add(40*time.Minute), mac, ip))
		devs := m.ObserveFlow(tcp(41, mac, ip, srvMAC, "10.0.0.9", 443))
		if got := typesOf(devs); !cmp.Equal(got, []events.DeviationType{events.DeviationNewDevice}) {
			t.Fatalf("deviations = %v, want only new_device", got)
		}
		if b := devs[0].Body.Baseline; b.PeerGroup != "model:/rx-7" || b.GroupMembers != 4 ||
			!strings.HasSuffix(devs[0].Body.Summary, "; 4 ready devices of model:/rx-7 are known.") {
			t.Errorf("new_device context %+v, summary %q", b, devs[0].Body.Summary)
		}
	})
	t.Run("a new pump talking elsewhere is judged against the group while learning", func(t *testing.T) {
		m := groupWard(t, nil)
		mac, ip := pumpN(5)
		m.ObserveAttribute(modelObs(t0.Add(40*time.Minute), mac, ip))
		m.ObserveFlow(tcp(41, mac, ip, srvMAC, "10.0.0.9", 443))
		devs := m.ObserveFlow(tcp(42, mac, ip, "00:12:34:00:00:77", "10.0.0.77", 22))
		peer := types(devs, events.DeviationNewPeer)
		if len(peer) != 1 {
			t.Fatalf("deviations = %v, want one new_peer", typesOf(devs))
		}
		b := peer[0].Body.Baseline
		want := events.BaselineContext{Ready: false, PeerGroup: "model:/rx-7", GroupMembers: 4, GroupSupport: 0}
		got := events.BaselineContext{Ready: b.Ready, PeerGroup: b.PeerGroup, GroupMembers: b.GroupMembers, GroupSupport: b.GroupSupport}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("baseline context (-want +got):\n%s", diff)
		}
		if !strings.Contains(peer[0].Body.Summary, "unlike its peer group (0 of 4 devices of model:/rx-7)") {
			t.Errorf("summary %q does not explain the group", peer[0].Body.Summary)
		}
	})
	t.Run("a ready pump using an edge most siblings learned is not alerted", func(t *testing.T) {
		m := groupWard(t, nil)
		// Pumps 1-3 also learned the backup server; pump 4 did not.
		for n := 1; n <= 3; n++ {
			mac, ip := pumpN(n)
			m.ObserveFlow(tcp(20+n, mac, ip, "00:12:34:00:00:08", "10.0.0.8", 443))
		}
		mac, ip := pumpN(4)
		devs := m.ObserveFlow(tcp(45, mac, ip, "00:12:34:00:00:08", "10.0.0.8", 443))
		if len(types(devs, events.DeviationNewPeer)) != 0 {
			t.Fatalf("deviations = %v, want none", typesOf(devs))
		}
		if s := m.Stats(); s.GroupAdopted != 1 {
			t.Errorf("group_adopted = %d, want 1", s.GroupAdopted)
		}
		// Learned now: no alert later either, and the workstation (no
		// group) is alerted for the same edge.
		if devs := m.ObserveFlow(tcp(46, mac, ip, "00:12:34:00:00:08", "10.0.0.8", 443)); len(devs) != 0 {
			t.Errorf("second flow raised %v", typesOf(devs))
		}
		devs = m.ObserveFlow(tcp(47, "00:12:34:00:00:77", "10.0.0.77", "00:12:34:00:00:08", "10.0.0.8", 443))
		if len(types(devs, events.DeviationNewPeer)) != 1 {
			t.Errorf("workstation deviations = %v, want new_peer", typesOf(devs))
		}
	})
	t.Run("memory per group", func(t *testing.T) {
		m := groupWard(t, nil)
		got := m.MemoryByGroup()
		if len(got) != 2 || got[0].Group != "model:/rx-7" || got[0].Devices != 4 || got[0].Bytes < 4*got[0].MaxDeviceBytes/2 {
			t.Fatalf("memory by group = %+v, want the four pumps first", got)
		}
		total := 0
		for _, g := range got {
			total += g.Bytes
		}
		if s := m.Stats(); total > s.MemoryBytes {
			t.Errorf("groups hold %d B, the model reports %d B in all", total, s.MemoryBytes)
		}
	})
	t.Run("internet is raised whatever the group does, with its support", func(t *testing.T) {
		m := groupWard(t, nil)
		for n := 1; n <= 3; n++ {
			mac, ip := pumpN(n)
			m.ObserveFlow(tcp(20+n, mac, ip, gwMAC, "203.0.113.7", 443))
		}
		mac, ip := pumpN(4)
		devs := types(m.ObserveFlow(tcp(45, mac, ip, gwMAC, "203.0.113.7", 443)), events.DeviationInternet)
		if len(devs) != 1 || devs[0].Body.Baseline.GroupSupport != 3 || devs[0].Body.Baseline.GroupMembers != 3 {
			t.Fatalf("internet deviations = %+v, want one with support 3 of 3", devs)
		}
	})
	t.Run("peer groups off", func(t *testing.T) {
		m := groupWard(t, func(c *Configuration) { c.PeerGroupMin = 0 })
		mac, ip := pumpN(5)
		m.ObserveAttribute(modelObs(t0.Add(40*time.Minute), mac, ip))
		m.ObserveFlow(tcp(41, mac, ip, srvMAC, "10.0.0.9", 443))
		// The workstation answers on a new port (it is ready); the pump,
		// learning, raises nothing.
		devs := m.ObserveFlow(tcp(42, mac, ip, "00:12:34:00:00:77", "10.0.0.77", 22))
		if got := typesOf(devs); !cmp.Equal(got, []events.DeviationType{events.DeviationNewPort}) || devs[0].Body.Device.MAC == mac {
			t.Fatalf("deviations = %v, want only the workstation's new_port", got)
		}
	})
}

func typesOf(devs []events.Event[events.Deviation]) []events.DeviationType {
	var out []events.DeviationType
	for _, d := range devs {
		out = append(out, d.Body.Type)
	}
	return out
}

func TestLearningModes(t *testing.T) {
	srv := func(min int) events.Event[events.Flow] { return tcp(min, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 443) }
	other := func(min int) events.Event[events.Flow] {
		return tcp(min, pumpMAC, "10.0.0.5", "00:12:34:00:00:03", "10.0.0.10", 22)
	}
	t.Run("device mode learns from each device's first sighting", func(t *testing.T) {
		m := newModel(t, func(c *Configuration) { c.Learning, c.LearningMode = 30*time.Minute, LearnDevice })
		m.ObserveFlow(tcp(0, "00:12:34:00:00:09", "10.0.0.99", srvMAC, "10.0.0.9", 443)) // starts the clock
		m.ObserveFlow(srv(20))
		// Minute 40: past the global window, but the pump learns until 50.
		if devs := m.ObserveFlow(other(40)); len(types(devs, events.DeviationNewPeer)) != 0 {
			t.Fatalf("learning device raised %v", typesOf(devs))
		}
		r, _ := m.Readiness(events.DeviceKey(pumpMAC, "10.0.0.5", 0))
		if r.Ready || !r.LearningEnd.Equal(t0.Add(50*time.Minute)) || r.Mode != LearnDevice || r.ObservedS != 20*60 {
			t.Errorf("readiness = %+v, want learning until minute 50, observed 20 minutes", r)
		}
	})
	t.Run("confirmed mode waits for a person", func(t *testing.T) {
		m := newModel(t, func(c *Configuration) { c.Learning, c.LearningMode = 30*time.Minute, LearnConfirmed })
		m.ObserveFlow(srv(0))
		if devs := m.ObserveFlow(other(90)); len(types(devs, events.DeviationNewPeer)) != 0 {
			t.Fatalf("unconfirmed device raised %v", typesOf(devs))
		}
		key := events.DeviceKey(pumpMAC, "10.0.0.5", 0)
		r, _ := m.Readiness(key)
		if r.Ready || !r.LearningEnd.IsZero() || r.ObservedS != 90*60 {
			t.Errorf("readiness before confirmation = %+v", r)
		}
		if err := m.Confirm(key); err != nil {
			t.Fatal(err)
		}
		devs := m.ObserveFlow(tcp(91, pumpMAC, "10.0.0.5", gwMAC, "203.0.113.7", 443))
		if len(devs) != 1 || devs[0].Body.Type != events.DeviationInternet || !devs[0].Body.Baseline.Confirmed ||
			devs[0].Body.Baseline.LearningMode != LearnConfirmed {
			t.Fatalf("after confirmation: %+v", devs)
		}
		if err := m.Confirm("mac:nope"); err == nil || !strings.Contains(err.Error(), "unknown device") {
			t.Errorf("Confirm(unknown) = %v", err)
		}
	})
	t.Run("learn this", func(t *testing.T) {
		m := newModel(t, func(c *Configuration) { c.Learning = 30 * time.Minute })
		m.ObserveFlow(srv(0))
		key := events.DeviceKey(pumpMAC, "10.0.0.5", 0)
		if err := m.Learn(LearnRequest{Device: key, Peer: "10.0.0.10", Transport: "tcp", Port: 22, Reason: "service laptop"}); err != nil {
			t.Fatal(err)
		}
		if devs := m.ObserveFlow(other(40)); len(types(devs, events.DeviationNewPeer)) != 0 {
			t.Fatalf("learned edge raised %v", typesOf(devs))
		}
		for _, bad := range []LearnRequest{
			{Device: "mac:nope", Peer: "10.0.0.10", Transport: "tcp", Port: 22},
			{Device: key, Peer: "not-an-ip", Transport: "tcp", Port: 22},
			{Device: key, Peer: "10.0.0.10", Port: 22},
		} {
			if err := m.Learn(bad); err == nil {
				t.Errorf("Learn(%+v) accepted", bad)
			}
		}
		if s := m.Stats(); s.Learned != 1 {
			t.Errorf("learned = %d, want 1", s.Learned)
		}
	})
	t.Run("invalid mode", func(t *testing.T) {
		cfg := DefaultConfiguration()
		cfg.LearningMode = "weekly"
		if errs := cfg.Validate(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "learning_mode") {
			t.Errorf("Validate() = %v", errs)
		}
	})
}

func TestSSHGuessing(t *testing.T) {
	m := newModel(t, func(c *Configuration) { c.AuthThreshold = 5 })
	session := func(i int, resp uint64) events.Event[events.Flow] {
		ev := tcp(i, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 22)
		ev.Body.FlowID = fmt.Sprintf("ssh%d", i)
		ev.Body.AppProto, ev.Body.OrigPayload, ev.Body.RespPayload = "ssh", 2500, resp
		return ev
	}
	// A long interactive session and a banner grab are not guesses.
	m.ObserveFlow(session(0, 900_000))
	m.ObserveFlow(session(1, 40))
	var got []events.Event[events.Deviation]
	for i := 2; i < 7; i++ {
		got = append(got, types(m.ObserveFlow(session(i, 2900)), events.DeviationAuthFailures)...)
	}
	if len(got) != 1 || got[0].Body.AppProto != "ssh" || got[0].Body.Count != 5 || got[0].Body.Port != 22 {
		t.Fatalf("auth_failures = %+v, want one burst of 5 ssh failures", got)
	}
	if s := m.Stats(); s.SSHGuesses != 5 || s.Deviations != 1 {
		t.Errorf("ssh_guesses = %d, deviations = %d; want 5 and 1", s.SSHGuesses, s.Deviations)
	}
}

func TestStateRoundTrip(t *testing.T) {
	// Two models see the first half of the same events; one is
	// checkpointed and restored into a fresh model; both then see the
	// second half and must raise the same deviations and hold the same
	// state.
	feed := func(m *Model, from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			mac, ip := pumpN(1 + i%6)
			var devs []events.Event[events.Deviation]
			switch {
			case i%7 == 0:
				devs = m.ObserveAttribute(modelObs(t0.Add(time.Duration(i)*time.Minute), mac, ip))
			case i%11 == 0:
				devs = m.ObserveAuth(events.MustEvent(t0.Add(time.Duration(i)*time.Minute), sensor, events.Auth{
					Client: events.Endpoint{MAC: mac, IP: ip}, Server: events.Endpoint{MAC: srvMAC, IP: "10.0.0.9", Port: 21},
					Protocol: "ftp", Result: events.AuthFailure}))
			default:
				port := uint16(443)
				if i > 60 && i%5 == 0 {
					port = uint16(8000 + i)
				}
				devs = m.ObserveFlow(tcp(i, mac, ip, srvMAC, "10.0.0.9", port))
			}
			for _, d := range devs {
				b, _ := d.Encode()
				out = append(out, string(b))
			}
		}
		return out
	}
	cfg := func(c *Configuration) { c.Learning = time.Hour; c.AuthThreshold = 3 }
	a := newModel(t, cfg)
	feed(a, 0, 50)
	st, err := a.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	b := newModel(t, cfg)
	if err := b.RestoreState(st); err != nil {
		t.Fatal(err)
	}
	st2, _ := b.MarshalState()
	if string(st) != string(st2) {
		t.Fatal("restored model marshals differently")
	}
	wantDevs, gotDevs := feed(a, 50, 120), feed(b, 50, 120)
	if diff := cmp.Diff(wantDevs, gotDevs); diff != "" || len(wantDevs) == 0 {
		t.Errorf("deviations after restore (-uninterrupted +restored), %d raised:\n%s", len(wantDevs), diff)
	}
	sa, _ := a.MarshalState()
	sb, _ := b.MarshalState()
	if string(sa) != string(sb) {
		t.Error("states differ after the same events")
	}
	for _, bad := range []string{`{`, `{"version":99}`, `{"version":1,"devices":[{"key":"k","edges":["x"]}]}`} {
		if err := b.RestoreState([]byte(bad)); err == nil {
			t.Errorf("RestoreState(%s) accepted", bad)
		}
	}
}

func TestSNMPWriteIsItsOwnCause(t *testing.T) {
	m := newModel(t, nil)
	obs := func(evidence string) events.Event[events.Observation] {
		return events.MustEvent(t0, sensor, events.Observation{
			Device: events.DeviceKey(pumpMAC, "10.0.0.5", 0), MAC: pumpMAC, IP: "10.0.0.5",
			Attribute: "insecure_protocol", Value: "snmpv2c", Protocol: "snmp", Confidence: 0.95, Evidence: evidence,
		})
	}
	var values []string
	for _, e := range []string{"SNMPv2c GetRequest", "SNMPv2c SetRequest", "SNMPv2c GetRequest", "SNMPv2c SetRequest"} {
		for _, d := range m.ObserveAttribute(obs(e)) {
			values = append(values, d.Body.Value)
		}
	}
	if diff := cmp.Diff([]string{"snmpv2c", "snmpv2c write"}, values); diff != "" {
		t.Errorf("insecure_protocol values (-want +got):\n%s", diff)
	}
}

// FuzzRestoreState feeds arbitrary checkpoints: RestoreState returns an
// error or a model that works (marshals again and takes a flow), never a
// panic, and a failed restore leaves the model as it was.
func FuzzRestoreState(f *testing.F) {
	m := newModel(&testing.T{}, func(c *Configuration) { c.AuthThreshold = 3 })
	m.ObserveFlow(tcp(0, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 443))
	m.ObserveAttribute(modelObs(t0, pumpMAC, "10.0.0.5"))
	m.ObserveAuth(events.MustEvent(t0, sensor, events.Auth{Client: events.Endpoint{MAC: pumpMAC, IP: "10.0.0.5"},
		Server: events.Endpoint{MAC: srvMAC, IP: "10.0.0.9", Port: 21}, Protocol: "ftp", Result: events.AuthFailure}))
	seed, _ := m.MarshalState()
	f.Add(seed)
	f.Add([]byte(`{"version":1,"devices":[{"key":"k","auth":{"ring":[],"next":3}}]}`))
	f.Add([]byte(`{"version":1,"devices":[{"key":"k","volume":{"hist":[1,2]}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := NewModel(DefaultConfiguration(), events.Source{Component: "baseline"}, nil)
		before, _ := m.MarshalState()
		if err := m.RestoreState(b); err != nil {
			after, _ := m.MarshalState()
			if string(before) != string(after) {
				t.Fatal("a failed restore changed the model")
			}
			return
		}
		if _, err := m.MarshalState(); err != nil {
			t.Fatal(err)
		}
		m.ObserveFlow(tcp(5, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 22))
		m.Devices()
	})
}
