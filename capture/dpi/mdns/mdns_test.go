package mdns

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
)

// packet returns an mDNS packet from src (and mac) to the IPv4 group.
func packet(t testing.TB, src, mac string, payload []byte) *dpi.Packet {
	t.Helper()
	p := &dpi.Packet{
		Time:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Transport: dpi.UDP, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("224.0.0.251"),
		SrcPort: 5353, DstPort: 5353, FlowID: "f1", Payload: payload,
	}
	if mac != "" {
		hw, err := parseMAC(mac)
		if err != nil {
			t.Fatal(err)
		}
		p.HasMAC, p.SrcMAC = true, hw
		p.DstMAC = [6]byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}
	}
	return p
}

func parseMAC(s string) ([6]byte, error) {
	var m [6]byte
	if len(s) != 17 {
		return m, errors.New("bad mac")
	}
	for i := range m {
		var v byte
		for _, c := range []byte(s[i*3 : i*3+2]) {
			n, ok := nibble(c)
			if !ok {
				return m, errors.New("bad mac")
			}
			v = v<<4 | n
		}
		m[i] = v
	}
	return m, nil
}

type obs struct {
	Attr, Value string
	Confidence  float64
	Evidence    string
}

// The expected values were read with tshark from the frames named in
// payloads_test.go:
//
//	tshark -r FILE -Y frame.number==N -T fields -e ip.src -e dns.resp.name \
//	    -e dns.resp.type -e dns.a -e dns.aaaa -e dns.ptr.domain_name -e dns.txt
//
// announceQEMU: A johanna-QEMU-Virtual-Machine.local 10.0.2.7 (the
// sender), AAAA records of fd52:: addresses, reverse PTRs. srvGemini: SRV
// gemini._sftp-ssh._tcp.local, A gemini.local 141.142.220.50 (the
// sender), AAAA fe80::217:f2ff:fed7:cf65. reverseTangent:
// 1.238.16.172.in-addr.arpa PTR tangent.local from 172.16.238.1.
// announceAvahi: PTR Vigil-Cast-0001._googlecast._tcp.local, Vigil Test
// Device._device-info._tcp.local, Vigil Test LaserJet
// 400._ipp._tcp.local, vigil-test-dev [6a:61:83:bd:a9:aa]._workstation._tcp.local;
// TXT id=0001, md=Vigil Cast, fn=Nurse Station 3, model=VigilPump1,2,
// txtvers=1, qtotal=1, rp=ipp/print, ty=Vigil Test LaserJet 400,
// product=(Vigil Test LaserJet 400), usb_MFG=VigilTest, usb_MDL=LaserJet
// 400, note=Ward 3 corridor, pdl=...; A vigil-test-dev.local 192.0.2.10.
func TestDissect(t *testing.T) {
	const (
		viaA   = "mDNS A record with the sender's address"
		viaPTR = "mDNS PTR record"
	)
	cases := []struct {
		name, src, payload string
		want               []obs
	}{
		{"address records", "10.0.2.7", announceQEMU, []obs{
			{dpi.AttrHostname, "johanna-QEMU-Virtual-Machine", 0.85, viaA},
		}},
		{"srv", "141.142.220.50", srvGemini, []obs{
			{dpi.AttrMDNSService, "gemini (_sftp-ssh._tcp)", 0.9, "mDNS SRV record"},
			{dpi.AttrHostname, "gemini", 0.85, viaA},
		}},
		{"reverse ptr of the sender", "172.16.238.1", reverseTangent, []obs{
			{dpi.AttrHostname, "tangent", 0.85, "mDNS reverse PTR record of the sender's address"},
		}},
		{"reverse ptr of another address", "172.16.238.2", reverseTangent, nil},
		{"services and txt", "192.0.2.10", announceAvahi, []obs{
			{dpi.AttrMDNSService, "Vigil-Cast-0001 (_googlecast._tcp)", 0.9, viaPTR},
			{dpi.AttrMDNSTXT, "md=Vigil Cast", 0.9, "mDNS TXT record md"},
			{dpi.AttrMDNSTXT, "fn=Nurse Station 3", 0.9, "mDNS TXT record fn"},
			{dpi.AttrMDNSService, "Vigil Test Device (_device-info._tcp)", 0.9, viaPTR},
			{dpi.AttrModel, "VigilPump1,2", 0.8, "mDNS _device-info TXT model"},
			{dpi.AttrMDNSService, "Vigil Test LaserJet 400 (_ipp._tcp)", 0.9, viaPTR},
			{dpi.AttrMDNSTXT, "ty=Vigil Test LaserJet 400", 0.9, "mDNS TXT record ty"},
			{dpi.AttrMDNSTXT, "usb_MFG=VigilTest", 0.9, "mDNS TXT record usb_MFG"},
			{dpi.AttrMDNSTXT, "usb_MDL=LaserJet 400", 0.9, "mDNS TXT record usb_MDL"},
			{dpi.AttrMDNSService, "vigil-test-dev [6a:61:83:bd:a9:aa] (_workstation._tcp)", 0.9, viaPTR},
			{dpi.AttrHostname, "vigil-test-dev", 0.85, viaA},
		}},
		{"probe (query) says nothing", "192.0.2.10", probeAvahi, nil},
		{"address record of another address", "192.168.0.2", unrelatedAAAA, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := New()
			var out dpi.Output
			if err := d.Dissect(packet(t, c.src, "", dpitest.MustHex(t, c.payload)), &out); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, dpitest.Details[obs](out.Observations)); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestObservationKeys(t *testing.T) {
	d := New()
	var out dpi.Output
	p := packet(t, "10.0.2.7", "8a:3c:d6:e1:4d:c4", dpitest.MustHex(t, announceQEMU))
	if err := d.Dissect(p, &out); err != nil {
		t.Fatal(err)
	}
	want := []events.Observation{{
		Device: events.DeviceKey("8a:3c:d6:e1:4d:c4", "10.0.2.7", 0), MAC: "8a:3c:d6:e1:4d:c4", IP: "10.0.2.7",
		Attribute: dpi.AttrHostname, Value: "johanna-QEMU-Virtual-Machine", Protocol: "mdns",
		Confidence: 0.85, Evidence: "mDNS A record with the sender's address", FlowID: "f1",
	}}
	if diff := cmp.Diff(want, out.Observations); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]dpi.Counter{{Name: CounterResponses, N: 1}}, out.Counters); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

// TestRepeats checks that an announcement repeated within the hour
// reports nothing new, and that it does again after the hour.
func TestRepeats(t *testing.T) {
	d := New()
	p := packet(t, "192.0.2.10", "6a:61:83:bd:a9:aa", dpitest.MustHex(t, announceAvahi))
	var out dpi.Output
	if err := d.Dissect(p, &out); err != nil || len(out.Observations) != 11 {
		t.Fatalf("first: %d observations, %v", len(out.Observations), err)
	}
	out.Reset()
	p.Time = p.Time.Add(59 * time.Minute)
	if err := d.Dissect(p, &out); err != nil || len(out.Observations) != 0 {
		t.Fatalf("within the hour: %d observations, %v", len(out.Observations), err)
	}
	out.Reset()
	p.Time = p.Time.Add(2 * time.Minute)
	if err := d.Dissect(p, &out); err != nil || len(out.Observations) != 11 {
		t.Fatalf("after the hour: %d observations, %v", len(out.Observations), err)
	}
}

func TestMalformed(t *testing.T) {
	d := New()
	cut := dpitest.MustHex(t, announceAvahi)
	cases := []struct {
		name    string
		payload []byte
	}{
		{"short header", []byte{0, 0, 0x84}},
		{"cut record", cut[:len(cut)/2]},
		{"opcode 1", []byte{0, 0, 0x88, 0, 0, 0, 0, 1, 0, 0, 0, 0}},
		{"counts beyond the payload", []byte{0, 0, 0x84, 0, 0, 0, 0, 9, 0, 0, 0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out dpi.Output
			if err := d.Dissect(packet(t, "192.0.2.10", "", c.payload), &out); err == nil {
				t.Error("no error")
			}
		})
	}
	// Facts read before a malformed record are kept.
	var out dpi.Output
	if err := New().Dissect(packet(t, "192.0.2.10", "", cut[:len(cut)/2]), &out); err == nil || len(out.Observations) == 0 {
		t.Errorf("cut announcement: %v, %d observations", err, len(out.Observations))
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct{ name, instance, typ string }{
		{"Printer._ipp._tcp.local.", "Printer", "_ipp._tcp"},
		{"x._sleep-proxy._udp.LOCAL.", "x", "_sleep-proxy._udp"},
		{"_ipp._tcp.local.", "", ""},
		{"_universal._sub._ipp._tcp.local.", "", ""},
		{"host.local.", "", ""},
		{"a._b._tcp.example.", "", ""},
		{"._b._tcp.local.", "", ""},
	} {
		i, ty, ok := serviceName([]byte(c.name))
		if string(i) != c.instance || string(ty) != c.typ || ok != (c.instance != "") {
			t.Errorf("serviceName(%q) = %q, %q, %v", c.name, i, ty, ok)
		}
	}
	for _, c := range []struct{ name, addr string }{
		{"7.2.0.10.in-addr.arpa.", "10.0.2.7"},
		{"1.238.16.172.IN-ADDR.ARPA.", "172.16.238.1"},
		{"4.c.d.4.1.e.e.f.f.f.6.d.c.3.8.8.5.3.2.8.c.3.0.c.e.9.2.4.2.5.d.f.ip6.arpa.", "fd52:429e:c03c:8235:883c:d6ff:fee1:4dc4"},
		{"256.2.0.10.in-addr.arpa.", ""},
		{"2.0.10.in-addr.arpa.", ""},
		{"07.2.0.10.in-addr.arpa.", ""},
		{"4.c.d.ip6.arpa.", ""},
	} {
		a, ok := reverseAddr([]byte(c.name))
		if ok != (c.addr != "") || ok && a != netip.MustParseAddr(c.addr) {
			t.Errorf("reverseAddr(%q) = %v, %v", c.name, a, ok)
		}
	}
}

// TestAllocs checks that repeated announcements cost no allocation: the
// multicast traffic of a whole network passes through here.
func TestAllocs(t *testing.T) {
	d := New()
	var out dpi.Output
	for _, c := range []struct{ src, payload string }{{"10.0.2.7", announceQEMU}, {"192.0.2.10", announceAvahi}} {
		p := packet(t, c.src, "8a:3c:d6:e1:4d:c4", dpitest.MustHex(t, c.payload))
		_ = d.Dissect(p, &out)
		if n := testing.AllocsPerRun(100, func() {
			out.Reset()
			_ = d.Dissect(p, &out)
		}); n != 0 {
			t.Errorf("repeated response from %s: %v allocations", c.src, n)
		}
	}
	q := packet(t, "192.0.2.10", "", dpitest.MustHex(t, probeAvahi))
	if n := testing.AllocsPerRun(100, func() {
		out.Reset()
		_ = d.Dissect(q, &out)
	}); n != 0 {
		t.Errorf("query: %v allocations", n)
	}
}

func BenchmarkDissect(b *testing.B) {
	for _, c := range []struct{ name, src, payload string }{
		{"addresses", "10.0.2.7", announceQEMU},
		{"services-txt", "192.0.2.10", announceAvahi},
		{"query", "192.0.2.10", probeAvahi},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := New()
			p := packet(b, c.src, "", dpitest.MustHex(b, c.payload))
			var out dpi.Output
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				_ = d.Dissect(p, &out)
			}
		})
	}
}

func FuzzDissect(f *testing.F) {
	for _, s := range []string{announceQEMU, srvGemini, reverseTangent, announceAvahi, probeAvahi, unrelatedAAAA} {
		f.Add(dpitest.MustHex(f, s))
	}
	for _, b := range dpitest.Payloads(f, "testdata/avahi.pcap", dpitest.Filter{Port: 5353}) {
		f.Add(b)
	}
	for _, c := range captures {
		if path := dpitest.SharedPcap(c.file); path != "" && !c.local {
			for _, b := range dpitest.Payloads(f, path, dpitest.Filter{Port: 5353}) {
				f.Add(b)
			}
		}
	}
	d := New()
	f.Fuzz(func(t *testing.T, b []byte) {
		var out dpi.Output
		p := &dpi.Packet{Transport: dpi.UDP, Src: netip.MustParseAddr("10.0.2.7"), SrcPort: 5353, DstPort: 5353, Payload: b}
		_ = d.Dissect(p, &out)
		dpitest.CheckValues(t, out.Observations)
	})
}
