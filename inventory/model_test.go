package inventory

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/events"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

const pump = "00:12:21:4e:0a:12"

func flow(sec int, phase events.FlowPhase, id, origMAC, origIP, respMAC, respIP string, pkts uint64) events.Event[events.Flow] {
	at := t0.Add(time.Duration(sec) * time.Second)
	return events.MustEvent(at, events.Source{Component: "sensor"}, events.Flow{
		FlowID: id, Phase: phase, Start: t0, Last: at, Transport: "tcp", AppProto: "tls", VLAN: 20,
		Orig: events.Endpoint{MAC: origMAC, IP: origIP, Port: 40000}, Resp: events.Endpoint{MAC: respMAC, IP: respIP, Port: 443},
		OrigPackets: pkts, RespPackets: pkts, OrigBytes: 100 * pkts, RespBytes: 200 * pkts,
	})
}

func obs(sec int, attr, value string, conf float64) events.Event[events.Observation] {
	return events.MustEvent(t0.Add(time.Duration(sec)*time.Second), events.Source{Component: "sensor"}, events.Observation{
		Device: events.DeviceKey(pump, "", 20), MAC: pump, VLAN: 20, Attribute: attr, Value: value,
		Protocol: "dhcp", Confidence: conf, Evidence: "test",
	})
}

func changes(evs []events.Event[events.DeviceChange]) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Body.Change)+":"+e.Body.Attribute+":"+e.Body.Old+">"+e.Body.New)
	}
	return out
}

func TestAddressChangeKeepsOneDevice(t *testing.T) {
	m := NewModel(DefaultConfiguration(), events.Source{}, nil)
	got := changes(m.ObserveFlow(flow(1, events.FlowEnd, "a", pump, "10.20.0.102", "d4:ae:52:8a:10:21", "10.20.0.21", 3)))
	got = append(got, changes(m.ObserveAttribute(obs(2, "ip", "10.20.0.140", 0.9)))...)
	got = append(got, changes(m.ObserveFlow(flow(3, events.FlowEnd, "b", pump, "10.20.0.140", "d4:ae:52:8a:10:21", "10.20.0.21", 3)))...)
	want := []string{
		"new::>", "address:ip:>10.20.0.102", "new::>", "address:ip:>10.20.0.21",
		"address:ip:10.20.0.102>10.20.0.140",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	devs := m.Devices()
	if len(devs) != 2 {
		t.Fatalf("%d devices, want the pump and the server", len(devs))
	}
	p := devs[0]
	if p.MAC != pump || len(p.Addresses) != 2 || p.Addresses[1].Source != "dhcp" || p.Traffic.Flows != 2 {
		t.Errorf("pump = %+v", p)
	}
}

func TestInternetAndGroupAddressesAreNotDevices(t *testing.T) {
	m := NewModel(DefaultConfiguration(), events.Source{}, nil)
	m.ObserveFlow(flow(1, events.FlowEnd, "a", pump, "10.20.0.102", "00:00:0c:5a:20:01", "203.0.113.45", 3))
	m.ObserveFlow(flow(1, events.FlowEnd, "b", pump, "10.20.0.102", "01:00:5e:00:00:fb", "224.0.0.251", 1))
	if n := len(m.Devices()); n != 1 {
		t.Fatalf("%d devices, want only the pump: %+v", n, m.Devices())
	}
}

func TestAttributeFusion(t *testing.T) {
	m := NewModel(DefaultConfiguration(), events.Source{}, nil)
	var got []string
	got = append(got, changes(m.ObserveAttribute(obs(1, "hostname", "INF-PUMP-02", 0.9)))...)
	got = append(got, changes(m.ObserveAttribute(obs(2, "hostname", "INF-PUMP-02", 0.9)))...) // same value: no change
	got = append(got, changes(m.ObserveAttribute(obs(3, "hostname", "guess", 0.3)))...)       // weaker source: ignored
	got = append(got, changes(m.ObserveAttribute(obs(4, "hostname", "PUMP-ICU-7", 0.9)))...)  // renamed: a change
	want := []string{"new::>", "attribute:hostname:>INF-PUMP-02", "attribute:hostname:INF-PUMP-02>PUMP-ICU-7"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	a := m.Devices()[0].Attributes[0]
	if a.Value != "PUMP-ICU-7" || a.Protocol != "dhcp" || len(a.EventIDs) != 1 || !a.FirstSeen.Equal(t0.Add(4*time.Second)) {
		t.Errorf("attribute = %+v", a)
	}
}

func TestUpdatesAreCountedOnce(t *testing.T) {
	m := NewModel(DefaultConfiguration(), events.Source{}, nil)
	m.ObserveFlow(flow(300, events.FlowUpdate, "a", pump, "10.20.0.102", "d4:ae:52:8a:10:21", "10.20.0.21", 10))
	m.ObserveFlow(flow(600, events.FlowUpdate, "a", pump, "10.20.0.102", "d4:ae:52:8a:10:21", "10.20.0.21", 25))
	m.ObserveFlow(flow(700, events.FlowEnd, "a", pump, "10.20.0.102", "d4:ae:52:8a:10:21", "10.20.0.21", 30))
	got := m.Devices()[0].Traffic
	want := Traffic{Flows: 1, PacketsSent: 30, PacketsReceived: 30, BytesSent: 3000, BytesReceived: 6000}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("traffic (-want +got):\n%s", diff)
	}
}

func TestGatewayAddressesAreNotAttributed(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.GatewayAddresses = 3
	m := NewModel(cfg, events.Source{}, nil)
	for i := range 6 {
		ip := "10.30.0." + string(rune('1'+i))
		m.ObserveFlow(flow(i, events.FlowEnd, ip, "00:00:0c:5a:20:01", ip, pump, "10.20.0.102", 1))
	}
	var gw Device
	for _, d := range m.Devices() {
		if d.MAC == "00:00:0c:5a:20:01" {
			gw = d
		}
	}
	if !gw.Gateway || len(gw.Addresses) != 3 {
		t.Fatalf("router = %+v, want gateway with 3 addresses", gw)
	}
}
