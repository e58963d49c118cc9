package netbios

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
)

// packet returns a NetBIOS packet from src on port (137 or 138).
func packet(src string, port uint16, payload []byte) *dpi.Packet {
	return &dpi.Packet{
		Time:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Transport: dpi.UDP, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("255.255.255.255"),
		SrcPort: port, DstPort: port, FlowID: "f1", Payload: payload,
	}
}

type obs struct {
	Attr, Value string
	Confidence  float64
	Evidence    string
}

// The expected values were read with tshark from the frames named in
// payloads_test.go:
//
//	tshark -r FILE -Y nbns -T fields -e ip.src -e nbns.flags.opcode \
//	    -e nbns.flags.response -e nbns.name -e nbns.nb_flags.group \
//	    -e nbns.addr -e nbns.netbios_name -e nbns.name_flags.group
//	tshark -r FILE -Y browser -T fields -e ip.src -e nbdgm.src.ip \
//	    -e nbdgm.source_name -e nbdgm.destination_name -e browser.command \
//	    -e browser.server -e browser.os_major -e browser.os_minor \
//	    -e browser.server_type -e browser.comment
func TestDissect(t *testing.T) {
	const (
		reg   = "NBNS name registration"
		src   = "NetBIOS datagram source name"
		host  = "Browser host announcement destination name"
		stype = "Browser host announcement server type"
	)
	name := func(v, evidence string) []obs {
		return []obs{{dpi.AttrNetBIOSName, v, 0.9, evidence}, {dpi.AttrHostname, v, 0.8, evidence}}
	}
	cases := []struct {
		name, src string
		port      uint16
		payload   string
		want      []obs
	}{
		{"group registration", "192.168.239.129", 137, regGroup, []obs{{dpi.AttrNetBIOSGroup, "WORKGROUP", 0.9, reg}}},
		{"unique registration", "192.168.239.129", 137, regName, name("MDJR98", reg)},
		{"registration for another address", "192.168.239.130", 137, regName, nil},
		{"messenger names are skipped", "192.168.239.129", 137, regMessenger, nil},
		{"node status", "10.0.4.24", 137, nodeStatus, append(name("GUNNAR", "NBNS node status response"),
			obs{dpi.AttrNetBIOSGroup, "VIGILANT_GROUP", 0.9, "NBNS node status response"})},
		{"positive response", "10.0.5.1", 137, positiveResponse, name("GURU", "NBNS positive name query response")},
		{"positive response of a name server", "10.0.4.1", 137, positiveResponse, nil},
		{"wildcard query", "10.0.1.87", 137, wildcardQuery, nil},
		{"name query", "10.0.4.131", 137, nameQuery, nil},
		{"host announcement, windows 98", "192.168.239.129", 138, hostAnnounce98, append(name("MDJR98", src),
			obs{dpi.AttrNetBIOSGroup, "WORKGROUP", 0.9, host},
			obs{AttrServerType, "workstation,server,wfw,windows95", 0.9, stype})},
		{"domain announcement", "192.168.239.129", 138, domainAnnounce98, append(name("MDJR98", src),
			obs{dpi.AttrNetBIOSGroup, "WORKGROUP", 0.9, "Browser domain announcement workgroup"})},
		{"host announcement, windows 7", "10.0.5.9", 138, hostAnnounce7, append(name("NVR9", src),
			obs{dpi.AttrNetBIOSGroup, "VIGILANT_GROUP", 0.9, host},
			obs{dpi.AttrOS, "Windows 6.1", 0.6, "Browser host announcement OS version"},
			obs{AttrServerType, "workstation,server,sql,nt", 0.9, stype})},
		{"relayed datagram", "10.0.5.10", 138, hostAnnounce7, nil},
		{"host announcement, printer", "172.31.19.73", 138, hostAnnounceOKI, append(name("OKI-15E6BC", src),
			obs{dpi.AttrNetBIOSGroup, "WORKGROUP", 0.9, host},
			obs{AttrServerType, "workstation,server,print,wfw,windows95", 0.9, stype})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out dpi.Output
			if err := New().Dissect(packet(c.src, c.port, dpitest.MustHex(t, c.payload)), &out); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, dpitest.Details[obs](out.Observations)); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
		})
	}
}

// TestServerName checks that the server name of a host announcement is
// read when the datagram's source name says nothing (a name with another
// suffix).
func TestServerName(t *testing.T) {
	b := dpitest.MustHex(t, hostAnnounce7)
	// The source name NVR9<20> is encoded at 14: 'C','A' is the suffix
	// 0x20 in its last two bytes; make it 0x1b.
	b[14+31], b[14+32] = 'B', 'L'
	var out dpi.Output
	if err := New().Dissect(packet("10.0.5.9", 138, b), &out); err != nil {
		t.Fatal(err)
	}
	got := dpitest.Details[obs](out.Observations)
	want := []obs{
		{dpi.AttrNetBIOSName, "NVR9", 0.9, "Browser host announcement server name"},
		{dpi.AttrHostname, "NVR9", 0.8, "Browser host announcement server name"},
	}
	if len(got) < 2 || !cmp.Equal(want, got[:2]) {
		t.Errorf("observations %v, want first %v", got, want)
	}
}

func TestMalformed(t *testing.T) {
	ann := dpitest.MustHex(t, hostAnnounce7)
	reg := dpitest.MustHex(t, regName)
	for _, c := range []struct {
		name    string
		port    uint16
		payload []byte
	}{
		{"empty", 137, nil},
		{"short ns header", 137, reg[:8]},
		{"cut registration", 137, reg[:40]},
		{"bad name encoding", 137, append(append(append([]byte{}, reg[:13]...), 'Z'), reg[14:]...)},
		{"cut datagram", 138, ann[:20]},
		{"cut announcement", 138, ann[:len(ann)-30]},
		{"other port", 139, reg},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := New().Dissect(packet("10.0.5.9", c.port, c.payload), &dpi.Output{}); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestRepeats checks that refreshes and announcements repeated within the
// hour report nothing new.
func TestRepeats(t *testing.T) {
	d := New()
	var out dpi.Output
	p := packet("10.0.5.9", 138, dpitest.MustHex(t, hostAnnounce7))
	if err := d.Dissect(p, &out); err != nil || len(out.Observations) != 5 {
		t.Fatalf("first: %d observations, %v", len(out.Observations), err)
	}
	out.Reset()
	p.Time = p.Time.Add(12 * time.Minute)
	if err := d.Dissect(p, &out); err != nil || len(out.Observations) != 0 {
		t.Fatalf("12 minutes later: %d observations, %v", len(out.Observations), err)
	}
	want := []dpi.Counter{{Name: CounterDatagrams, N: 1}, {Name: CounterAnnouncements, N: 1}}
	if diff := cmp.Diff(want, out.Counters); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

// TestAllocs checks that repeated registrations and announcements cost no
// allocation.
func TestAllocs(t *testing.T) {
	d := New()
	var out dpi.Output
	for _, c := range []struct {
		src     string
		port    uint16
		payload string
	}{{"192.168.239.129", 137, regName}, {"10.0.4.24", 137, nodeStatus}, {"10.0.5.9", 138, hostAnnounce7}, {"10.0.4.131", 137, nameQuery}} {
		p := packet(c.src, c.port, dpitest.MustHex(t, c.payload))
		_ = d.Dissect(p, &out)
		if n := testing.AllocsPerRun(100, func() {
			out.Reset()
			_ = d.Dissect(p, &out)
		}); n != 0 {
			t.Errorf("%s: %v allocations", c.src, n)
		}
	}
}

func BenchmarkDissect(b *testing.B) {
	d := New()
	p := packet("10.0.5.9", 138, dpitest.MustHex(b, hostAnnounce7))
	var out dpi.Output
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		_ = d.Dissect(p, &out)
	}
}

func FuzzDissect(f *testing.F) {
	seeds := []struct {
		port    uint16
		payload string
	}{
		{137, regGroup}, {137, regName}, {137, regMessenger}, {137, nodeStatus}, {137, positiveResponse},
		{137, wildcardQuery}, {137, nameQuery}, {138, hostAnnounce98}, {138, domainAnnounce98},
		{138, hostAnnounce7}, {138, hostAnnounceOKI},
	}
	for _, s := range seeds {
		f.Add(s.port == 138, dpitest.MustHex(f, s.payload))
	}
	for _, c := range captures {
		if path := dpitest.SharedPcap(c.file); path != "" {
			for _, port := range []uint16{137, 138} {
				for _, b := range dpitest.Payloads(f, path, dpitest.Filter{Port: port}) {
					f.Add(port == 138, b)
				}
			}
		}
	}
	d := New()
	f.Fuzz(func(t *testing.T, dgm bool, b []byte) {
		port := uint16(137)
		if dgm {
			port = 138
		}
		var out dpi.Output
		_ = d.Dissect(packet("10.0.5.9", port, b), &out)
		dpitest.CheckValues(t, out.Observations)
	})
}
