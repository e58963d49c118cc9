package dns

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
)

func packet(src string, transport uint8, sport, dport uint16, payload []byte) *dpi.Packet {
	return &dpi.Packet{
		Time:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Transport: transport, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("192.0.2.53"),
		SrcPort: sport, DstPort: dport, FlowID: "f1", Payload: payload,
	}
}

// The expected names were read with tshark from the frames named in
// payloads_test.go:
//
//	tshark -r FILE -Y frame.number==N -T fields -e ip.src \
//	    -e dns.flags.response -e dns.qry.name -e dns.qry.type
func TestDissect(t *testing.T) {
	axfr := dpitest.MustHex(t, axfrQuery)
	prefixed := append([]byte{0, byte(len(axfr) - 2)}, axfr[:len(axfr)-2]...)
	cases := []struct {
		name      string
		src       string
		transport uint8
		port      uint16
		payload   []byte
		want      []events.Observation
	}{
		{"query", "192.168.1.11", dpi.UDP, 53, dpitest.MustHex(t, queryTcpdump), []events.Observation{{
			Device: events.DeviceKey("", "192.168.1.11", 0), IP: "192.168.1.11",
			Attribute: dpi.AttrDNSQuery, Value: "www.tcpdump.org", Protocol: "dns",
			Confidence: 1, Evidence: "DNS query A", FlowID: "f1",
		}}},
		{"aaaa query", "192.168.170.8", dpi.UDP, 53, dpitest.MustHex(t, queryExample), []events.Observation{{
			Device: events.DeviceKey("", "192.168.170.8", 0), IP: "192.168.170.8",
			Attribute: dpi.AttrDNSQuery, Value: "www.example.com", Protocol: "dns",
			Confidence: 1, Evidence: "DNS query AAAA", FlowID: "f1",
		}}},
		{"llmnr query, lower-cased", "141.142.220.226", dpi.UDP, 5355, dpitest.MustHex(t, llmnrQuery), []events.Observation{{
			Device: events.DeviceKey("", "141.142.220.226", 0), IP: "141.142.220.226",
			Attribute: dpi.AttrDNSQuery, Value: "brwc0cb383d1f42", Protocol: "dns",
			Confidence: 1, Evidence: "DNS query A", FlowID: "f1",
		}}},
		{"tcp query", "172.16.16.164", dpi.TCP, 53, prefixed, []events.Observation{{
			Device: events.DeviceKey("", "172.16.16.164", 0), IP: "172.16.16.164",
			Attribute: dpi.AttrDNSQuery, Value: "contoso.local", Protocol: "dns",
			Confidence: 1, Evidence: "DNS query AXFR", FlowID: "f1",
		}}},
		{"tcp query after its length", "172.16.16.164", dpi.TCP, 53, axfr, []events.Observation{{
			Device: events.DeviceKey("", "172.16.16.164", 0), IP: "172.16.16.164",
			Attribute: dpi.AttrDNSQuery, Value: "contoso.local", Protocol: "dns",
			Confidence: 1, Evidence: "DNS query AXFR", FlowID: "f1",
		}}},
		{"response", "209.87.249.18", dpi.UDP, 53, dpitest.MustHex(t, responseTcpdump), nil},
		{"response without its query", "207.158.192.40", dpi.UDP, 53, dpitest.MustHex(t, responseFlip), nil},
		{"nbns query to port 53", "10.1.67.250", dpi.UDP, 53, dpitest.MustHex(t, nbstatQuery), nil},
		{"mdns", "10.0.2.7", dpi.UDP, 5353, dpitest.MustHex(t, mdnsQuery), nil},
		{"tcp length prefix alone", "172.16.16.164", dpi.TCP, 53, []byte{0, 33}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out dpi.Output
			if err := New().Dissect(packet(c.src, c.transport, 40000, c.port, c.payload), &out); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, out.Observations); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDistinct checks one observation per name: a query that asks for a
// name twice, and the same name asked again within the hour, give one.
func TestDistinct(t *testing.T) {
	// Two questions in one query (RFC 1035 allows it, resolvers do not
	// send it): www.tcpdump.org A and WWW.TCPDUMP.ORG AAAA.
	q := []byte{0x12, 0x34, 0x01, 0x00, 0, 2, 0, 0, 0, 0, 0, 0}
	q = append(q, "\x03www\x07tcpdump\x03org\x00\x00\x01\x00\x01"...)
	q = append(q, "\x03WWW\x07TCPDUMP\x03ORG\x00\x00\x1c\x00\x01"...)
	d := New()
	var out dpi.Output
	p := packet("192.168.1.11", dpi.UDP, 40000, 53, q)
	if err := d.Dissect(p, &out); err != nil || len(out.Observations) != 1 || out.Observations[0].Value != "www.tcpdump.org" {
		t.Fatalf("two questions: %v, %v", out.Observations, err)
	}
	out.Reset()
	p.Payload = dpitest.MustHex(t, queryTcpdump)
	p.Time = p.Time.Add(30 * time.Minute)
	if err := d.Dissect(p, &out); err != nil || len(out.Observations) != 0 {
		t.Fatalf("within the hour: %v, %v", out.Observations, err)
	}
	out.Reset()
	p.Time = p.Time.Add(31 * time.Minute)
	if err := d.Dissect(p, &out); err != nil || len(out.Observations) != 1 {
		t.Fatalf("after the hour: %v, %v", out.Observations, err)
	}
	// Another device asking for the same name is another fact.
	out.Reset()
	if err := d.Dissect(packet("192.168.1.12", dpi.UDP, 40000, 53, p.Payload), &out); err != nil || len(out.Observations) != 1 {
		t.Fatalf("another device: %v, %v", out.Observations, err)
	}
	want := []dpi.Counter{{Name: CounterQueries, N: 1}}
	if diff := cmp.Diff(want, out.Counters); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func TestMalformed(t *testing.T) {
	q := dpitest.MustHex(t, queryTcpdump)
	for _, c := range []struct {
		name      string
		transport uint8
		payload   []byte
	}{
		{"short header", dpi.UDP, q[:8]},
		{"cut question", dpi.UDP, q[:20]},
		{"pointer loop", dpi.UDP, append(append([]byte{}, q[:12]...), 0xc0, 12, 0, 1, 0, 1)},
		{"tcp byte", dpi.TCP, []byte{0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := New().Dissect(packet("192.0.2.1", c.transport, 40000, 53, c.payload), &dpi.Output{}); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestAllocs checks that queries for names already reported and
// responses cost no allocation: every DNS packet of the network passes
// here.
func TestAllocs(t *testing.T) {
	d := New()
	var out dpi.Output
	for _, s := range []string{queryTcpdump, responseTcpdump} {
		p := packet("192.168.1.11", dpi.UDP, 40000, 53, dpitest.MustHex(t, s))
		_ = d.Dissect(p, &out)
		if n := testing.AllocsPerRun(100, func() {
			out.Reset()
			_ = d.Dissect(p, &out)
		}); n != 0 {
			t.Errorf("%v allocations", n)
		}
	}
}

func BenchmarkDissect(b *testing.B) {
	d := New()
	p := packet("192.168.1.11", dpi.UDP, 40000, 53, dpitest.MustHex(b, queryTcpdump))
	var out dpi.Output
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		_ = d.Dissect(p, &out)
	}
}

func FuzzDissect(f *testing.F) {
	for _, s := range []string{queryTcpdump, responseTcpdump, queryExample, responseFlip, nbstatQuery, llmnrQuery, axfrQuery} {
		f.Add(false, dpitest.MustHex(f, s))
	}
	f.Add(true, dpitest.MustHex(f, axfrQuery))
	for _, c := range captures {
		if path := dpitest.SharedPcap(c.file); path != "" {
			for _, b := range dpitest.Payloads(f, path, dpitest.Filter{Port: 53}) {
				f.Add(false, b)
			}
		}
	}
	d := New()
	f.Fuzz(func(t *testing.T, tcp bool, b []byte) {
		transport := uint8(dpi.UDP)
		if tcp {
			transport = dpi.TCP
		}
		var out dpi.Output
		_ = d.Dissect(packet("192.0.2.1", transport, 40000, 53, b), &out)
		dpitest.CheckValues(t, out.Observations)
	})
}
