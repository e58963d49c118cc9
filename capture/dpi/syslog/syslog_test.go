package syslog

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
)

// facts summarises observations as sorted, distinct "ip attr=value"
// lines (several senders sit behind one router MAC in these captures).
func facts(t testing.TB, obs []events.Observation) []string {
	t.Helper()
	for _, o := range obs {
		if o.Protocol != Protocol || len(o.Value) > dpi.MaxValue || strings.ContainsAny(o.Value, " \t") {
			t.Errorf("bad observation %+v", o)
		}
	}
	return dpitest.Summary(obs, func(o events.Observation) string { return o.IP })
}

// The expected values were read with
//
//	tshark -r FILE -Y syslog -T fields -e ip.src -e syslog.hostname \
//	  -e syslog.appname -e syslog.procid
//
// (tshark 4.0 puts an RFC 3164 TAG in syslog.procid), except where noted.
var captures = []struct {
	file     string
	want     []string
	messages uint64
}{
	// tshark parses none of the Cisco IOS headers; "<187>38: R1: *Sep 22
	// ..." (logging origin-id) names R1, read from tshark -e udp.payload.
	// tshark reads "<30>snmpd[6956]: ..." (no timestamp, no host) as
	// nothing; rsyslog takes snmpd as the TAG. The PPPoE frames (nb6 nbd,
	// pfSense) are not decoded by the sensor.
	{"ntop_nDPI/tests/cfgs/default/pcap/syslog.pcap", []string{
		"10.22.179.215 hostname=R1",
		"10.22.179.215 syslog.hostname=R1",
		"10.251.23.139 hostname=nb6",
		"10.251.23.139 syslog.app_name=chillispot",
		"10.251.23.139 syslog.hostname=nb6",
		"10.94.232.21 hostname=NDC3CLNDMVA22",
		"10.94.232.21 syslog.app_name=NetworkManager",
		"10.94.232.21 syslog.app_name=kernel",
		"10.94.232.21 syslog.hostname=NDC3CLNDMVA22",
		"10.94.80.60 hostname=ndc3lvmsdptd2",
		"10.94.80.60 syslog.app_name=filebeat",
		"10.94.80.60 syslog.hostname=ndc3lvmsdptd2",
		"172.26.229.190 syslog.app_name=snmpd",
		"192.168.126.102 hostname=R1",
		"192.168.126.102 syslog.hostname=R1",
		"192.168.45.162 hostname=R1",
		"192.168.45.162 syslog.hostname=R1",
		"192.168.67.241 hostname=R1",
		"192.168.67.241 syslog.hostname=R1",
	}, 77}, // tshark -Y 'syslog && !pppoes' counts 77 messages
	// Frames 3 and 4 ("<13>2013-09-12T19:16:34.457849+04:00 localhost
	// through rsyslog: ...", tcpdump's syslog-v.out) have an RFC 3339
	// timestamp that tshark does not parse: their host is localhost (not
	// a host name fact), and "through" is no TAG.
	{"the-tcpdump-group_tcpdump/tests/syslog_udp.pcap", []string{
		"10.0.0.20 hostname=through",
		"10.0.0.20 syslog.app_name=logger",
		"10.0.0.20 syslog.hostname=localhost",
		"10.0.0.20 syslog.hostname=through",
	}, 4},
	// "<133>Apr  5 12:56:51 robin: Hello, syslog!": tshark reads a host
	// "robin:"; "robin:" is the TAG of a sender without host name.
	{"zeek_zeek/testing/btest/Traces/syslog-single-udp.pcap", []string{
		"127.0.0.1 syslog.app_name=robin",
	}, 1},
	// PIX messages ("<166>%PIX-6-305011: ...") have no header.
	{"zeek_zeek/testing/btest/Traces/dce-rpc/mapi.pcap", nil, 7},
	// util-linux logger --rfc5424 and --rfc3164 (testdata/README.md).
	{"testdata/logger-rfc5424-rfc3164.pcap", []string{
		"127.0.0.1 hostname=ward3-monitor-gw",
		"127.0.0.1 hostname=ward3-monitor-gw.example.org",
		"127.0.0.1 syslog.app_name=vitalsd",
		"127.0.0.1 syslog.hostname=ward3-monitor-gw",
		"127.0.0.1 syslog.hostname=ward3-monitor-gw.example.org",
	}, 2},
}

func TestCaptures(t *testing.T) {
	for _, c := range captures {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			res := dpitest.Run(t, []string{dpitest.Pcap(t, c.file)}, dpi.Syslog{}, New())
			if res.Stats.DissectErrors != 0 {
				t.Errorf("%d dissect errors", res.Stats.DissectErrors)
			}
			if diff := cmp.Diff(c.want, facts(t, res.Observations)); diff != "" {
				t.Errorf("facts (-want +got):\n%s", diff)
			}
			if got := res.Counter(CounterMessages); got != c.messages {
				t.Errorf("%d messages, want %d", got, c.messages)
			}
		})
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		msg  string
		want Header
	}{
		{"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - BOM'su root' failed", Header{"rfc5424", "mymachine.example.com", "su"}},
		{"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time", Header{"rfc5424", "192.0.2.1", "myproc"}},
		{"<13>1 - - - - - -", Header{Format: "rfc5424"}},
		{"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8", Header{"rfc3164", "mymachine", "su"}},
		{"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!", Header{Format: "rfc3164", Hostname: "10.0.0.99"}},
		{"<13>Feb  5 17:32:18 pump7 infusiond[77]: rate 5 ml/h", Header{"rfc3164", "pump7", "infusiond"}},
		{"<13>Feb  5 17:32:18 pump7 infusiond[x]: rate", Header{Format: "rfc3164", Hostname: "pump7"}},
		{"<189>72: Mar  3 19:57:17.371: %LINK-5-CHANGED: Interface", Header{Format: "cisco"}},
		{"<189>38: R1: *Sep 22 13:39:11.250: %LINK-3-UPDOWN", Header{Format: "cisco", Hostname: "R1"}},
		{"<189>38: DOE: JOHN was admitted", Header{Format: "cisco"}},
		{"<30>snmpd[6956]: Connection from UDP", Header{Format: "rfc3164", AppName: "snmpd"}},
		{"<133>ssg: NetScreen device_id=0185082008001541", Header{Format: "rfc3164"}},
		{"<134>854 08/20/2013-19:05:23 CONFIG QLA23XX", Header{Format: "rfc3164"}},
		{"<13>Xyz  5 17:32:18 host app: msg", Header{Format: "rfc3164"}},
		{"<13>Feb  5 17:32:18", Header{Format: "rfc3164"}},
		{"<13>", Header{Format: "rfc3164"}},
	}
	for _, c := range cases {
		got, ok := Parse([]byte(c.msg))
		if !ok {
			t.Errorf("Parse(%q) not syslog", c.msg)
			continue
		}
		if got != c.want {
			t.Errorf("Parse(%q) = %+v, want %+v", c.msg, got, c.want)
		}
	}
	for _, bad := range []string{"", "<", "<>x", "<192>x", "<1234>x", "<1a>x", "hello"} {
		if _, ok := Parse([]byte(bad)); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// TestNoMessage checks that nothing of the MSG part reaches an output.
func TestNoMessage(t *testing.T) {
	d := New()
	p := &dpi.Packet{Transport: dpi.UDP, Src: netip.MustParseAddr("10.1.1.7"), Dst: netip.MustParseAddr("10.1.1.1"),
		SrcPort: 514, DstPort: 514, FlowID: "f",
		Payload: []byte("<134>1 2024-01-02T03:04:05Z monitor-7 hl7bridge 12 ADT [x@1 a=\"b\"] PID|1||123456^^^MRN||DOE^JANE||19700101|F")}
	var out dpi.Output
	if err := d.Dissect(p, &out); err != nil {
		t.Fatal(err)
	}
	want := []events.Observation{
		{Device: "ip:10.1.1.7/0", IP: "10.1.1.7", Attribute: dpi.AttrSyslogHostname, Value: "monitor-7", Protocol: "syslog", Confidence: 0.9, Evidence: "syslog rfc5424 HOSTNAME", FlowID: "f"},
		{Device: "ip:10.1.1.7/0", IP: "10.1.1.7", Attribute: dpi.AttrHostname, Value: "monitor-7", Protocol: "syslog", Confidence: 0.6, Evidence: "syslog rfc5424 HOSTNAME", FlowID: "f"},
		{Device: "ip:10.1.1.7/0", IP: "10.1.1.7", Attribute: AttrAppName, Value: "hl7bridge", Protocol: "syslog", Confidence: 0.9, Evidence: "syslog rfc5424 APP-NAME", FlowID: "f"},
	}
	if diff := cmp.Diff(want, out.Observations); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}
	// The next message of the flow repeats nothing.
	out.Reset()
	if err := d.Dissect(p, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Observations) != 0 {
		t.Errorf("repeated: %+v", out.Observations)
	}
	if diff := cmp.Diff([]dpi.Counter{{Name: CounterMessages, N: 1}}, out.Counters); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	if err := d.Dissect(&dpi.Packet{Payload: []byte("no pri")}, &out); err != ErrNoPRI {
		t.Errorf("error %v, want ErrNoPRI", err)
	}
}

func FuzzDissect(f *testing.F) {
	for _, c := range captures {
		for _, b := range dpitest.Payloads(f, dpitest.Pcap(f, c.file), dpitest.Filter{Transport: dpi.UDP}) {
			f.Add(b)
		}
	}
	d := New()
	f.Fuzz(func(t *testing.T, b []byte) {
		var out dpi.Output
		_ = d.Dissect(&dpi.Packet{FlowID: "f", Payload: b}, &out)
		for _, o := range out.Observations {
			if len(o.Value) > dpi.MaxValue || o.Value == "" || strings.ContainsAny(o.Value, " \t\r\n") {
				t.Fatalf("value %q", o.Value)
			}
		}
	})
}
