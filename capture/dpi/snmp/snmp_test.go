package snmp

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

// summary turns what the pipeline published into sorted, distinct lines:
// "device attr=value" for observations and "auth client>server method
// result reason" for authentication outcomes.
func summary(t testing.TB, res dpitest.Result) []string {
	t.Helper()
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, o := range res.Observations {
		if o.Protocol != Protocol || len(o.Value) > dpi.MaxValue {
			t.Errorf("bad observation %+v", o)
		}
		add(fmt.Sprintf("%s %s=%s", o.Device, o.Attribute, o.Value))
	}
	for _, a := range res.Auths {
		if a.Protocol != Protocol || a.Principal != "" {
			t.Errorf("bad auth %+v", a)
		}
		add(strings.TrimSpace(fmt.Sprintf("auth %s>%s %s %s %s", a.Client.IP, a.Server.IP, a.Method, a.Result, a.Reason)))
	}
	slices.Sort(out)
	return out
}

// The identity values were read with
//
//	tshark -r FILE -Y 'snmp.data==2' -T fields -E occurrence=a \
//	  -e ip.src -e snmp.name -e snmp.value.octets -e snmp.value.oid
//
// (octets shown in hex by tshark, decoded here), and the versions,
// communities and PDU types with -e snmp.version -e snmp.community
// -e snmp.data. The zeek snmpwalk-short capture is a v2c walk of a
// net-snmp agent; kholia's SNMPv3 capture holds authNoPriv responses;
// suricata's snmp-v3-unauth holds usmStatsUnknownUserNames reports
// (1.3.6.1.6.3.15.1.1.3.0). Devices with public addresses (the walk's)
// are keyed by IP: their MAC may be a router's.
var captures = []struct {
	file     string
	want     []string
	counters map[string]uint64
}{
	{"zeek_zeek/testing/btest/Traces/snmp/snmpwalk-short.pcap", []string{
		"auth 138.68.14.240>138.68.10.203 community success",
		"ip:138.68.10.203/0 cleartext_credential=snmp default community public",
		"ip:138.68.10.203/0 hostname=ubuntu-512mb-sfo2-01",
		"ip:138.68.10.203/0 insecure_protocol=snmpv2c",
		"ip:138.68.10.203/0 snmp.sys_contact=Me <me@example.org>",
		"ip:138.68.10.203/0 snmp.sys_descr=Linux ubuntu-512mb-sfo2-01 4.4.0-31-generic #50~14.04.1-Ubuntu SMP Wed Jul 13 01:07:32 UTC 2016 x86_64",
		"ip:138.68.10.203/0 snmp.sys_location=Sitting on the Dock of the Bay",
		"ip:138.68.10.203/0 snmp.sys_name=ubuntu-512mb-sfo2-01",
		"ip:138.68.10.203/0 snmp.sys_object_id=1.3.6.1.4.1.8072.3.2.10",
		"ip:138.68.14.240/0 cleartext_credential=snmp default community public",
		"ip:138.68.14.240/0 insecure_protocol=snmpv2c",
	}, map[string]uint64{CounterRequests: 200, CounterResponses: 200}},
	// A Fuji Xerox printer (enterprise 297) polled with v1 "public":
	// tshark counts 25 get-request, 5 set-request, 28 get-response.
	{"zeek_zeek/testing/btest/Traces/snmp/snmpv1_get.pcap", []string{
		"auth 172.31.19.54>172.31.19.73 community success",
		"mac:00:12:3f:4a:33:d2/0 cleartext_credential=snmp default community public",
		"mac:00:12:3f:4a:33:d2/0 insecure_protocol=snmpv1",
		"mac:08:00:37:15:e6:bc/0 cleartext_credential=snmp default community public",
		"mac:08:00:37:15:e6:bc/0 hostname=B6300",
		"mac:08:00:37:15:e6:bc/0 insecure_protocol=snmpv1",
		"mac:08:00:37:15:e6:bc/0 snmp.sys_location=Chandra's cube",
		"mac:08:00:37:15:e6:bc/0 snmp.sys_name=B6300",
		"mac:08:00:37:15:e6:bc/0 snmp.sys_object_id=1.3.6.1.4.1.2001.1.1.1.297.93.1.27.2.2.1",
	}, map[string]uint64{CounterRequests: 30, CounterResponses: 28}},
	// A community that is not a default one is never named.
	{"OISF_suricata-verify/tests/snmp-v2c-get/SNMPv2c_get_requests.pcap", []string{
		"auth 10.144.246.184>10.144.246.161 community success",
		"mac:00:0e:83:16:f5:00/0 cleartext_credential=snmp community",
		"mac:00:0e:83:16:f5:00/0 insecure_protocol=snmpv2c",
		"mac:00:1d:60:b3:0a:dd/0 cleartext_credential=snmp community",
		"mac:00:1d:60:b3:0a:dd/0 insecure_protocol=snmpv2c",
	}, map[string]uint64{CounterRequests: 4, CounterResponses: 4}},
	// A v1 linkDown trap: the sender is the agent.
	{"zeek_zeek/testing/btest/Traces/snmp/snmpv1_trap.pcap", []string{
		"mac:01:02:03:04:05:06/0 cleartext_credential=snmp default community public",
		"mac:01:02:03:04:05:06/0 insecure_protocol=snmpv1",
		"mac:06:05:04:03:02:01/0 cleartext_credential=snmp default community public",
		"mac:06:05:04:03:02:01/0 insecure_protocol=snmpv1",
	}, map[string]uint64{CounterTraps: 1}},
	// SNMPv3 authNoPriv (a loopback capture: no MACs).
	{"kholia_my-pcaps/SNMPv3/snmp_usm.pcap", []string{
		"auth 127.0.0.1>127.0.0.1 usm success",
		"ip:127.0.0.1/0 snmp.sys_descr=Darwin id-est.local 8.8.0 Darwin Kernel Version 8.8.0: Fri Sep 8 17:18:57 PDT 2006; root:xnu-792.12.6.obj~1/RELEASE_PPC Power Macintosh",
	}, map[string]uint64{CounterRequests: 40, CounterResponses: 32, CounterReports: 8}},
	{"OISF_suricata-verify/tests/snmp-v3-unauth/snmp-v3-get-bulk-unauth.pcap", []string{
		"auth 127.0.0.1>127.0.0.1 usm failure unknown user name",
	}, map[string]uint64{CounterRequests: 4, CounterReports: 4}},
	// SNMPv3 noAuthNoPriv response (zeek snmp v3 test).
	{"zeek_zeek/testing/btest/Traces/snmp/snmpv3_get_next.pcap", []string{
		"mac:06:05:04:03:02:01/0 insecure_protocol=snmpv3 noauth",
	}, map[string]uint64{CounterRequests: 2, CounterResponses: 1, CounterReports: 1}},
}

func TestCaptures(t *testing.T) {
	for _, c := range captures {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			res := dpitest.Run(t, []string{testshared.Pcap(t, c.file)}, New())
			if res.Stats.DissectErrors != 0 {
				t.Errorf("%d dissect errors", res.Stats.DissectErrors)
			}
			if diff := cmp.Diff(c.want, summary(t, res)); diff != "" {
				t.Errorf("facts (-want +got):\n%s", diff)
			}
			for name, want := range c.counters {
				if got := res.Counter(name); got != want {
					t.Errorf("counter %s = %d, want %d", name, got, want)
				}
			}
		})
	}
}

// TestNDPI checks the nDPI capture: v1, v2c and v3 (noAuthNoPriv,
// authNoPriv and authPriv) exchanges with a Cisco router whose system
// group tshark shows as sysLocation "GlobomanticsHQ", sysName
// "R1.lab.local", sysContact "nick@globomantics.com".
func TestNDPI(t *testing.T) {
	res := dpitest.Run(t, []string{testshared.Pcap(t, "ntop_nDPI/tests/cfgs/default/pcap/snmp.pcap")}, New())
	if res.Stats.DissectErrors != 0 {
		t.Errorf("%d dissect errors", res.Stats.DissectErrors)
	}
	for attr, want := range map[string][]string{
		dpi.AttrSNMPSysLocation:  {"GlobomanticsHQ"},
		dpi.AttrSNMPSysName:      {"R1.lab.local"},
		dpi.AttrSNMPSysContact:   {"nick@globomantics.com"},
		dpi.AttrInsecureProtocol: {"snmpv1", "snmpv2c", "snmpv3 noauth"},
	} {
		got := res.Values(attr)
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", attr, diff)
		}
	}
}

// packet builds a UDP packet from the manager (10.0.0.1) to the agent
// (10.0.0.2) or back.
func packet(payload []byte, fromAgent bool) *dpi.Packet {
	p := &dpi.Packet{
		Transport: dpi.UDP, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
		SrcPort: 40000, DstPort: 161, HasMAC: true,
		SrcMAC: [6]byte{0x00, 0x1b, 0x21, 0, 0, 1}, DstMAC: [6]byte{0x00, 0x1b, 0x21, 0, 0, 2},
		FlowID: "f1", FromOrig: true, Payload: payload,
	}
	if fromAgent {
		p.Src, p.Dst = p.Dst, p.Src
		p.SrcPort, p.DstPort = p.DstPort, p.SrcPort
		p.SrcMAC, p.DstMAC = p.DstMAC, p.SrcMAC
		p.FromOrig = false
	}
	return p
}

// Real messages from the captures (tshark -e udp.payload).
const (
	// snmpv2_get_next.pcap frame 2: a v2c GetResponse, community
	// "[R0_C@cti!]", lldpLocChassisIdSubtype.0 = 4.
	v2cResponse = "3031020101040b5b52305f4340637469215da21f02042b133f850201000201003011300f060a28c46201010101010100020102"
	// snmpv1_get.pcap frame 4: v1 GetResponse from the printer with
	// sysName.0 "B6300" and sysLocation.0 "Chandra's cube".
	v1Response = "304702010004067075626c6963a23a020127020100020100302f301106082b0601020101050004054236333030301a06082b06010201010600040e4368616e64726127732063756265"
)

func TestDissect(t *testing.T) {
	d := New()
	var out dpi.Output
	p := packet(dpitest.MustHex(t, v1Response), true)
	if err := d.Dissect(p, &out); err != nil {
		t.Fatal(err)
	}
	agent := events.DeviceKey("00:1b:21:00:00:02", "", 0)
	manager := events.DeviceKey("00:1b:21:00:00:01", "", 0)
	obs := func(dev, ip, attr, value string, conf float64, evidence string) events.Observation {
		mac := strings.TrimSuffix(strings.TrimPrefix(dev, "mac:"), "/0")
		return events.Observation{Device: dev, MAC: mac, IP: ip, Attribute: attr, Value: value,
			Protocol: "snmp", Confidence: conf, Evidence: evidence, FlowID: "f1"}
	}
	want := []events.Observation{
		obs(agent, "10.0.0.2", dpi.AttrCleartextCredential, "snmp default community public", 0.95, "snmpv1 Response community"),
		obs(manager, "10.0.0.1", dpi.AttrCleartextCredential, "snmp default community public", 0.95, "snmpv1 Response community"),
		obs(agent, "10.0.0.2", dpi.AttrInsecureProtocol, "snmpv1", 0.95, "snmpv1 Response"),
		obs(manager, "10.0.0.1", dpi.AttrInsecureProtocol, "snmpv1", 0.95, "snmpv1 Response"),
		obs(agent, "10.0.0.2", dpi.AttrSNMPSysName, "B6300", 0.95, "snmpv1 Response sysName.0"),
		obs(agent, "10.0.0.2", dpi.AttrHostname, "B6300", 0.7, "snmpv1 Response sysName.0"),
		obs(agent, "10.0.0.2", dpi.AttrSNMPSysLocation, "Chandra's cube", 0.95, "snmpv1 Response sysLocation.0"),
	}
	if diff := cmp.Diff(want, out.Observations); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}
	wantAuth := []events.Auth{{
		Client:   events.Endpoint{MAC: "00:1b:21:00:00:01", IP: "10.0.0.1", Port: 40000},
		Server:   events.Endpoint{MAC: "00:1b:21:00:00:02", IP: "10.0.0.2", Port: 161},
		Protocol: "snmp", Method: "community", Result: events.AuthSuccess, FlowID: "f1",
	}}
	if diff := cmp.Diff(wantAuth, out.Auths); diff != "" {
		t.Errorf("auths (-want +got):\n%s", diff)
	}

	// The same response again in the flow reports nothing new.
	out.Reset()
	if err := d.Dissect(p, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Observations)+len(out.Auths) != 0 {
		t.Errorf("repeated response reported again: %+v %+v", out.Observations, out.Auths)
	}
	if diff := cmp.Diff([]dpi.Counter{{Name: CounterResponses, N: 1}}, out.Counters); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}

	// No community value leaks into any output.
	out.Reset()
	if err := New().Dissect(packet(dpitest.MustHex(t, v2cResponse), true), &out); err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Observations {
		if strings.Contains(o.Value, "R0_C") || strings.Contains(o.Evidence, "R0_C") {
			t.Errorf("community published: %+v", o)
		}
	}
}

// TestReport builds v3 reports of each USM counter.
func TestReport(t *testing.T) {
	report := func(counter byte) []byte {
		vb := []byte{0x30, 0x0f, 0x06, 0x0a, 0x2b, 6, 1, 6, 3, 15, 1, 1, counter, 0, 0x41, 0x01, 0x01}
		pdu := append([]byte{0xa8, byte(9 + len(vb) + 2), 2, 1, 1, 2, 1, 0, 2, 1, 0, 0x30, byte(len(vb))}, vb...)
		scoped := append([]byte{0x30, byte(4 + len(pdu)), 4, 0, 4, 0}, pdu...)
		global := []byte{0x30, 0x0d, 2, 1, 1, 2, 2, 0x05, 0xdc, 4, 1, 0x00, 2, 1, 3}
		sec := []byte{4, 0}
		body := append(append(append([]byte{2, 1, 3}, global...), sec...), scoped...)
		return append([]byte{0x30, byte(len(body))}, body...)
	}
	for counter, reason := range map[byte]string{1: "unsupported security level", 2: "", 3: "unknown user name", 4: "", 5: "wrong digest", 6: "decryption error"} {
		var out dpi.Output
		if err := New().Dissect(packet(report(counter), true), &out); err != nil {
			t.Fatalf("counter %d: %v", counter, err)
		}
		var got string
		for _, a := range out.Auths {
			if a.Result != events.AuthFailure || a.Method != "usm" || a.Client.IP != "10.0.0.1" {
				t.Errorf("counter %d: auth %+v", counter, a)
			}
			got = a.Reason
		}
		if got != reason {
			t.Errorf("counter %d: reason %q, want %q", counter, got, reason)
		}
	}
}

func TestMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":               nil,
		"not a sequence":      {0x02, 0x01, 0x00},
		"sequence too long":   {0x30, 0x10, 0x02, 0x01, 0x00},
		"indefinite length":   {0x30, 0x80, 0x02, 0x01, 0x00, 0, 0},
		"five length octets":  {0x30, 0x85, 0, 0, 0, 0, 3, 0x02, 0x01, 0x00},
		"version 2":           {0x30, 0x03, 0x02, 0x01, 0x02},
		"huge integer":        {0x30, 0x0b, 0x02, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		"no community":        {0x30, 0x03, 0x02, 0x01, 0x01},
		"unknown PDU":         {0x30, 0x07, 0x02, 0x01, 0x01, 0x04, 0x00, 0xa9, 0x00},
		"PDU without fields":  {0x30, 0x07, 0x02, 0x01, 0x01, 0x04, 0x00, 0xa2, 0x00},
		"v3 flags two octets": {0x30, 0x10, 0x02, 0x01, 0x03, 0x30, 0x0b, 2, 1, 1, 2, 1, 1, 4, 2, 0, 0, 2, 1, 3},
	} {
		t.Run(name, func(t *testing.T) {
			var out dpi.Output
			if err := New().Dissect(packet(b, false), &out); err == nil {
				t.Error("no error")
			}
			if len(out.Observations)+len(out.Auths) != 0 {
				t.Errorf("reported %+v %+v", out.Observations, out.Auths)
			}
		})
	}
	if err := New().Dissect(packet([]byte{0x30, 0x03, 0x02, 0x01, 0x02}, false), &dpi.Output{}); !errors.Is(err, ErrVersion) {
		t.Errorf("version 2: %v", err)
	}
}

func TestFormatOID(t *testing.T) {
	for enc, want := range map[string]string{
		"2b06010401bf08030a":                   "1.3.6.1.4.1.8072.3.10",
		"2b060104018f5101010182295d011b020201": "1.3.6.1.4.1.2001.1.1.1.297.93.1.27.2.2.1",
		"00":                                   "0.0",
		"8837":                                 "2.999",
		"":                                     "",
		"2b86":                                 "", // dangling continuation
		"2bffffffffffffffffff7f":               "", // arc over 64 bits
		"2b" + strings.Repeat("01", maxArcs+1): "",
	} {
		b, _ := hex.DecodeString(enc)
		if got := formatOID(b); got != want {
			t.Errorf("formatOID(%s) = %q, want %q", enc, got, want)
		}
	}
}

func FuzzDissect(f *testing.F) {
	for _, c := range captures {
		res := dpitest.Payloads(f, testshared.Pcap(f, c.file), dpitest.Filter{Transport: dpi.UDP})
		for _, b := range res {
			f.Add(b)
		}
	}
	f.Add(dpitest.MustHex(f, v1Response))
	f.Add(dpitest.MustHex(f, v2cResponse))
	d := New()
	f.Fuzz(func(t *testing.T, b []byte) {
		var out dpi.Output
		_ = d.Dissect(packet(b, true), &out)
		dpitest.CheckValues(t, out.Observations)
	})
}
