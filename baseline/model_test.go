package baseline

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/events"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

const (
	pumpMAC = "00:12:34:00:00:01"
	srvMAC  = "00:12:34:00:00:02"
	gwMAC   = "00:12:34:00:00:fe"
)

// tcp builds an established TCP flow from the pump to ip:port at minute min.
func tcp(min int, origMAC, origIP, respMAC, respIP string, port uint16) events.Event[events.Flow] {
	at := t0.Add(time.Duration(min) * time.Minute)
	return events.MustEvent(at, events.Source{Component: "sensor"}, events.Flow{
		FlowID: "f" + respIP, Phase: events.FlowEnd, Start: at, Last: at, Transport: "tcp",
		Orig:        events.Endpoint{MAC: origMAC, IP: origIP, Port: 40000},
		Resp:        events.Endpoint{MAC: respMAC, IP: respIP, Port: port},
		OrigPackets: 5, RespPackets: 4, State: "SF", History: "ShADadFf",
	})
}

func refused(sec int, port uint16) events.Event[events.Flow] {
	ev := tcp(0, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", port)
	ev.Body.Start = t0.Add(40*time.Minute + time.Duration(sec)*time.Second)
	ev.Body.State, ev.Body.History, ev.Body.RespPackets = "REJ", "Sr", 1
	return ev
}

func TestModelDeviations(t *testing.T) {
	learning := []events.Event[events.Flow]{
		tcp(0, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 443),
		tcp(10, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 443),
	}
	cases := []struct {
		name  string
		flows []events.Event[events.Flow]
		want  []events.DeviationType
	}{
		{"known edge after learning is quiet", []events.Event[events.Flow]{tcp(40, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 443)}, nil},
		{"internet address", []events.Event[events.Flow]{tcp(40, pumpMAC, "10.0.0.5", gwMAC, "203.0.113.7", 443)}, []events.DeviationType{events.DeviationInternet}},
		{"raised once per peer", []events.Event[events.Flow]{
			tcp(40, pumpMAC, "10.0.0.5", gwMAC, "203.0.113.7", 443),
			tcp(41, pumpMAC, "10.0.0.5", gwMAC, "203.0.113.7", 443),
		}, []events.DeviationType{events.DeviationInternet}},
		{"new local peer that is itself new", []events.Event[events.Flow]{tcp(40, pumpMAC, "10.0.0.5", "00:12:34:00:00:03", "10.0.0.10", 22)}, []events.DeviationType{events.DeviationNewDevice, events.DeviationNewPeer}},
		{"new port to known peer and new service", []events.Event[events.Flow]{tcp(40, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 8080)}, []events.DeviationType{events.DeviationNewPort, events.DeviationNewPort}},
		{"new device after learning", []events.Event[events.Flow]{tcp(40, "00:12:34:00:00:04", "10.0.0.11", srvMAC, "10.0.0.9", 443)}, []events.DeviationType{events.DeviationNewDevice}},
		{"refused connections are not edges but count as a scan", func() []events.Event[events.Flow] {
			var fs []events.Event[events.Flow]
			for p := range 30 {
				fs = append(fs, refused(p, uint16(1000+p)))
			}
			return fs
		}(), []events.DeviationType{events.DeviationScan}},
		{"new edge during learning is learned", []events.Event[events.Flow]{
			tcp(20, pumpMAC, "10.0.0.5", gwMAC, "203.0.113.7", 443),
			tcp(40, pumpMAC, "10.0.0.5", gwMAC, "203.0.113.7", 443),
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfiguration()
			cfg.Learning = 30 * time.Minute
			m := NewModel(cfg, events.Source{Component: "baseline"}, nil)
			for _, f := range learning {
				if got := m.ObserveFlow(f); len(got) != 0 {
					t.Fatalf("deviation while learning: %+v", got)
				}
			}
			var got []events.DeviationType
			for _, f := range tc.flows {
				for _, dv := range m.ObserveFlow(f) {
					got = append(got, dv.Body.Type)
					if !dv.Body.Baseline.Ready && dv.Body.Type != events.DeviationNewDevice {
						t.Errorf("%s raised for a device not ready", dv.Body.Type)
					}
					if len(dv.Body.Evidence) == 0 || dv.Body.Summary == "" {
						t.Errorf("%s has no evidence or summary", dv.Body.Type)
					}
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("deviations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestModelIsDeterministic(t *testing.T) {
	run := func() []string {
		cfg := DefaultConfiguration()
		cfg.Learning = 30 * time.Minute
		m := NewModel(cfg, events.Source{Component: "baseline"}, nil)
		var ids []string
		for _, f := range []events.Event[events.Flow]{
			tcp(0, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 443),
			tcp(40, pumpMAC, "10.0.0.5", gwMAC, "203.0.113.7", 443),
			tcp(41, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 8443),
		} {
			for _, dv := range m.ObserveFlow(f) {
				ids = append(ids, dv.ID)
			}
		}
		return ids
	}
	a, b := run(), run()
	if len(a) == 0 || !cmp.Equal(a, b) {
		t.Fatalf("runs differ or are empty: %v vs %v", a, b)
	}
}

func TestModelBoundsMemory(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Learning = time.Hour
	cfg.MaxEdgesPerDevice = 3
	m := NewModel(cfg, events.Source{}, nil)
	for p := range 10 {
		m.ObserveFlow(tcp(1, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", uint16(100+p)))
	}
	s := m.Stats()
	if s.EdgesDropped == 0 {
		t.Fatalf("no edge dropped: %+v", s)
	}
	for _, d := range m.Devices() {
		if d.Edges+d.Services > 3 {
			t.Errorf("device %s holds %d edges, limit 3", d.Key, d.Edges+d.Services)
		}
	}
}
