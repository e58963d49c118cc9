package ntp

import (
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

// controlIdentifier is dpi.NTP extended to mode 6 and 7 messages, which
// are shorter than 48 bytes (the change proposed for identify.go): the
// tests of control messages need it to reach the dissector.
type controlIdentifier struct{}

func (controlIdentifier) Name() string { return dpi.ProtoNTP }

func (controlIdentifier) Identify(p *dpi.Packet) bool {
	b := p.Payload
	if p.Transport != dpi.UDP || !p.HasPort(123) || len(b) < 1 {
		return false
	}
	version, mode := (b[0]>>3)&0x07, b[0]&0x07
	if version < 1 || version > 4 {
		return false
	}
	switch mode {
	case 1, 2, 3, 4, 5:
		return len(b) >= 48
	case 6: // a 12-byte header and an opcode
		return len(b) >= 12 && b[1]&0x1f != 0
	case 7: // an 8-byte header
		return len(b) >= 8
	}
	return false
}

// summary turns observations into sorted, distinct "device attr=value"
// lines.
func summary(t testing.TB, obs []events.Observation) []string {
	t.Helper()
	for _, o := range obs {
		if o.Protocol != Protocol || len(o.Value) > dpi.MaxValue || o.Value == "" {
			t.Errorf("bad observation %+v", o)
		}
	}
	return dpitest.Summary(obs, func(o events.Observation) string { return o.Device })
}

// The expected values were read with
//
//	tshark -r FILE -Y ntp -T fields -e ip.src -e ip.dst -e ntp.flags.vn \
//	  -e ntp.flags.mode -e ntp.stratum -e ntp.ctrl.flags2.opcode \
//	  -e ntp.priv.reqcode
//
// and tshark -V for the reference IDs, which tshark shows as an address
// above stratum 1 and as text at stratum 1. Devices with public addresses
// are keyed by IP (192.0.2.0/24 is public to netip). Zeek's ntp.log,
// ntp_control.log and ntp_private.log agree where they exist.
var captures = []struct {
	file    string
	want    []string
	control uint64
}{
	// v4 and v3 exchanges; the servers are stratum 2 with reference ID
	// 4c4f434c (76.79.67.76).
	{"OISF_suricata-verify/tests/ntp-keywords/input.pcap", []string{
		"ip:192.0.2.1/0 ntp.server=192.0.2.123",
		"ip:192.0.2.1/0 ntp.version=4",
		"ip:192.0.2.123/0 ntp.reference_id=76.79.67.76",
		"ip:192.0.2.123/0 ntp.stratum=2",
		"ip:192.0.2.123/0 ntp.version=4",
		"ip:192.0.2.124/0 ntp.reference_id=76.79.67.76",
		"ip:192.0.2.124/0 ntp.stratum=2",
		"ip:192.0.2.124/0 ntp.version=3",
		"ip:192.0.2.2/0 ntp.server=192.0.2.124",
		"ip:192.0.2.2/0 ntp.version=3",
	}, 0},
	// A monlist (request code 42) response reflected to port 80: an
	// amplification attack's packet.
	{"ntop_nDPI/tests/cfgs/default/pcap/NTPv2.pcap", []string{
		"ip:208.104.95.10/0 insecure_protocol=ntp mode 7",
		"ip:208.104.95.10/0 ntp.control=mode 7 monlist response",
	}, 1},
	// A server reply of stratum 0 (unsynchronised): only its version.
	{"ntop_nDPI/tests/cfgs/default/pcap/NTPv3.pcap", []string{
		"ip:175.144.140.29/0 ntp.version=3",
	}, 0},
	{"ntop_nDPI/tests/cfgs/default/pcap/NTPv4.pcap", []string{
		"ip:85.22.62.120/0 ntp.server=78.46.76.11",
		"ip:85.22.62.120/0 ntp.version=4",
	}, 0},
	// ntpq: READVAR and READSTAT (tcpdump's ntp-control--v.out). The
	// READVAR response's system variables read (tshark -e udp.payload):
	// version="ntpd 4.2.8p10@1.3728-o Fri May 26 14:07:29 UTC 2017 (1)",
	// processor="x86_64", system="Linux/4.4.79-18.26-default", ...
	{"the-tcpdump-group_tcpdump/tests/ntp-control.pcap", []string{
		"ip:::1/0 ntp.control=mode 6 readstat request",
		"ip:::1/0 ntp.control=mode 6 readstat response",
		"ip:::1/0 ntp.control=mode 6 readvar request",
		"ip:::1/0 ntp.control=mode 6 readvar response",
		"ip:::1/0 os=Linux/4.4.79-18.26-default",
		"ip:::1/0 software_version=ntpd 4.2.8p10@1.3728-o Fri May 26 14:07:29 UTC 2017 (1)",
	}, 21},
	// ntpdc: request codes 1, 8, 28, 38, each answered.
	{"the-tcpdump-group_tcpdump/tests/ntp-mode7.pcap", []string{
		"ip:127.0.0.1/0 insecure_protocol=ntp mode 7",
		"ip:127.0.0.1/0 ntp.control=mode 7 request code 1 request",
		"ip:127.0.0.1/0 ntp.control=mode 7 request code 1 response",
		"ip:127.0.0.1/0 ntp.control=mode 7 request code 28 request",
		"ip:127.0.0.1/0 ntp.control=mode 7 request code 28 response",
		"ip:127.0.0.1/0 ntp.control=mode 7 request code 38 request",
		"ip:127.0.0.1/0 ntp.control=mode 7 request code 38 response",
		"ip:127.0.0.1/0 ntp.control=mode 7 request code 8 request",
		"ip:127.0.0.1/0 ntp.control=mode 7 request code 8 response",
	}, 8},
	// Unanswered queries (zeek's ntp_control.log: opcodes 1, 2, 2;
	// ntp_private.log: request codes 1, 42, 1).
	{"zeek_zeek/testing/btest/Traces/ntp/ntpmode67.pcap", []string{
		"ip:127.0.0.1/0 ntp.control=mode 6 readstat request",
		"ip:127.0.0.1/0 ntp.control=mode 6 readvar request",
		"ip:127.0.0.1/0 ntp.control=mode 7 monlist request",
		"ip:127.0.0.1/0 ntp.control=mode 7 request code 1 request",
	}, 9},
	// Private addresses keep their MAC key. The capture gives both ends
	// the same source MAC 00:12:13:14:15:17; the stratum 0 reply (kiss
	// code STEP) gives no stratum.
	{"the-tcpdump-group_tcpdump/tests/ntp.pcap", []string{
		"mac:00:12:13:14:15:16/0 ntp.server=192.168.100.1",
		"mac:00:12:13:14:15:17/0 ntp.reference_id=10.11.160.238",
		"mac:00:12:13:14:15:17/0 ntp.reference_id=10.5.27.10",
		"mac:00:12:13:14:15:17/0 ntp.server=192.168.100.1",
		"mac:00:12:13:14:15:17/0 ntp.stratum=2",
		"mac:00:12:13:14:15:17/0 ntp.version=4",
	}, 0},
}

func TestCaptures(t *testing.T) {
	for _, c := range captures {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			res := dpitest.Run(t, []string{testshared.Pcap(t, c.file)}, controlIdentifier{}, New())
			if res.Stats.DissectErrors != 0 {
				t.Errorf("%d dissect errors", res.Stats.DissectErrors)
			}
			if diff := cmp.Diff(c.want, summary(t, res.Observations)); diff != "" {
				t.Errorf("facts (-want +got):\n%s", diff)
			}
			if got := res.Counter(CounterControl); got != c.control {
				t.Errorf("%d control messages, want %d", got, c.control)
			}
		})
	}
}

// TestZeek compares with zeek's ntp.log for its ntp.pcap: the servers'
// stratum and ref_id, and the servers the client 192.168.43.118 uses.
func TestZeek(t *testing.T) {
	res := dpitest.Run(t, []string{testshared.Pcap(t, "zeek_zeek/testing/btest/Traces/ntp/ntp.pcap")}, New())
	got := map[string]string{}
	for _, o := range res.Observations {
		if o.Attribute == AttrStratum || o.Attribute == AttrReferenceID {
			got[o.IP+" "+o.Attribute] = o.Value
		}
	}
	want := map[string]string{
		"80.211.52.109 ntp.stratum": "4", "80.211.52.109 ntp.reference_id": "105.237.207.28",
		"212.45.144.88 ntp.stratum": "2", "212.45.144.88 ntp.reference_id": "193.204.114.233",
		"31.14.131.188 ntp.stratum": "2", "31.14.131.188 ntp.reference_id": "195.113.144.238",
		"185.19.184.35 ntp.stratum": "2", "185.19.184.35 ntp.reference_id": "193.204.114.233",
		"188.213.165.209 ntp.stratum": "2", "188.213.165.209 ntp.reference_id": "193.204.114.233",
		"212.45.144.3 ntp.stratum": "2", "212.45.144.3 ntp.reference_id": "193.204.114.232",
		"31.14.133.122 ntp.stratum": "2", "31.14.133.122 ntp.reference_id": "193.204.114.233",
		"94.177.187.22 ntp.stratum": "2", "94.177.187.22 ntp.reference_id": "193.204.114.233",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// the 16 id.resp_h of the mode 3 lines of ntp.log
	servers := res.Values(dpi.AttrNTPServer)
	slices.Sort(servers)
	wantServers := []string{"147.135.207.213", "147.135.207.214", "185.19.184.35", "188.213.165.209",
		"212.45.144.206", "212.45.144.3", "212.45.144.88", "31.14.131.188", "31.14.133.122", "80.211.155.206",
		"80.211.171.177", "80.211.52.109", "80.211.88.132", "85.199.214.99", "93.41.196.243", "94.177.187.22"}
	if diff := cmp.Diff(wantServers, servers); diff != "" {
		t.Errorf("servers (-want +got):\n%s", diff)
	}
}

// TestStratumOne checks a stratum 1 server's reference clock name (zeek
// ntp.pcap: Apple's GPS-disciplined servers, refid 'GPSs').
func TestStratumOne(t *testing.T) {
	res := dpitest.Run(t, []string{testshared.Pcap(t, "zeek_zeek/testing/btest/Traces/ntp.pcap")}, New())
	if diff := cmp.Diff([]string{"GPSs"}, res.Values(AttrReferenceID)); diff != "" {
		t.Errorf("reference IDs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"1"}, res.Values(AttrStratum)); diff != "" {
		t.Errorf("strata (-want +got):\n%s", diff)
	}
}

func TestDissect(t *testing.T) {
	client := netip.MustParseAddr("10.1.2.3")
	server := netip.MustParseAddr("10.1.0.1")
	reply := make([]byte, 48)
	reply[0], reply[1] = 0x24, 2 // v4 server, stratum 2
	copy(reply[12:], []byte{10, 0, 0, 9})
	p := &dpi.Packet{Transport: dpi.UDP, Src: server, Dst: client, SrcPort: 123, DstPort: 123, HasMAC: true,
		SrcMAC: [6]byte{0x00, 0x1b, 0x21, 0, 0, 1}, DstMAC: [6]byte{0x00, 0x1b, 0x21, 0, 0, 2}, FlowID: "f", Payload: reply}
	var out dpi.Output
	if err := New().Dissect(p, &out); err != nil {
		t.Fatal(err)
	}
	srv := func(attr, value string, conf float64, ev string) events.Observation {
		return events.Observation{Device: "mac:00:1b:21:00:00:01/0", MAC: "00:1b:21:00:00:01", IP: "10.1.0.1",
			Attribute: attr, Value: value, Protocol: "ntp", Confidence: conf, Evidence: ev, FlowID: "f"}
	}
	want := []events.Observation{
		srv(AttrVersion, "4", 0.9, "NTPv4 server"),
		srv(AttrStratum, "2", 0.9, "NTP server stratum"),
		srv(AttrReferenceID, "10.0.0.9", 0.9, "NTP server reference ID"),
		{Device: "mac:00:1b:21:00:00:02/0", MAC: "00:1b:21:00:00:02", IP: "10.1.2.3", Attribute: dpi.AttrNTPServer,
			Value: "10.1.0.1", Protocol: "ntp", Confidence: 0.8, Evidence: "NTP server reply source", FlowID: "f"},
	}
	if diff := cmp.Diff(want, out.Observations); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}

	for name, b := range map[string][]byte{
		"empty":         nil,
		"version 0":     {0x03},
		"mode 0":        {0x20},
		"short server":  {0x24, 2, 0, 0},
		"short control": {0x16, 0x02},
		"short private": {0x17, 0},
	} {
		if err := New().Dissect(&dpi.Packet{Payload: b}, &dpi.Output{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestVariable(t *testing.T) {
	data := []byte(`version="ntpd 4.2.8, beta", processor="x86_64",` + "\r\n" + `system="Linux/6.1", leap=00`)
	for name, want := range map[string]string{"version": "ntpd 4.2.8, beta", "system": "Linux/6.1", "leap": "00", "stratum": ""} {
		if got := variable(data, name); got != want {
			t.Errorf("variable(%q) = %q, want %q", name, got, want)
		}
	}
}

func FuzzDissect(f *testing.F) {
	for _, c := range captures {
		for _, b := range dpitest.Payloads(f, testshared.Pcap(f, c.file), dpitest.Filter{Transport: dpi.UDP}) {
			f.Add(b)
		}
	}
	d := New()
	f.Fuzz(func(t *testing.T, b []byte) {
		var out dpi.Output
		p := &dpi.Packet{Transport: dpi.UDP, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Payload: b}
		_ = d.Dissect(p, &out)
		dpitest.CheckValues(t, out.Observations)
	})
}
