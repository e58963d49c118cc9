package modbus

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

// adu builds a Modbus/TCP ADU: MBAP header (transaction 1, protocol 0,
// length, unit) and PDU.
func adu(unit byte, pdu ...byte) []byte {
	b := []byte{0x00, 0x01, 0x00, 0x00, 0, 0, unit}
	binary.BigEndian.PutUint16(b[4:6], uint16(1+len(pdu)))
	return append(b, pdu...)
}

// deviceIDResponse builds a Read Device Identification response with the
// layout of the Modbus Application Protocol v1.1b3 section 6.21: function
// 0x2B, MEI type 0x0E, read device ID code, conformity level, more
// follows, next object ID, number of objects, then ID, length and value of
// each object. The built responses were written to a pcap and decoded with
// tshark 4.0.17, which listed the same objects and values.
func deviceIDResponse(code, conformity byte, objects ...any) []byte {
	pdu := []byte{0x2b, 0x0e, code, conformity, 0x00, 0x00, byte(len(objects) / 2)}
	for i := 0; i+1 < len(objects); i += 2 {
		v := objects[i+1].(string)
		pdu = append(pdu, objects[i].(byte), byte(len(v)))
		pdu = append(pdu, v...)
	}
	return pdu
}

func packet(sport, dport uint16, payload []byte) *dpi.Packet {
	return &dpi.Packet{
		Transport: dpi.TCP, Src: netip.MustParseAddr("10.0.0.57"), Dst: netip.MustParseAddr("10.0.0.3"),
		SrcPort: sport, DstPort: dport, HasMAC: true,
		SrcMAC: [6]byte{0x00, 0x80, 0xf4, 0x12, 0x34, 0x56}, DstMAC: [6]byte{0x00, 0x0c, 0x29, 0x01, 0x02, 0x03},
		FlowID: "f1", Payload: payload,
	}
}

func TestDissect(t *testing.T) {
	const mac, ip = "00:80:f4:12:34:56", "10.0.0.57"
	obs := func(attr, value string, conf float64, ev string) events.Observation {
		return events.Observation{Device: events.DeviceKey(mac, ip, 0), MAC: mac, IP: ip,
			Attribute: attr, Value: value, Protocol: Protocol, Confidence: conf, Evidence: ev, FlowID: "f1"}
	}
	const rdi = "Read Device Identification "
	cases := []struct {
		name     string
		fromPort uint16 // the sender's port: 502 for responses
		payload  []byte
		want     []events.Observation
		counters []dpi.Counter
	}{
		{"basic identification, unit 0xFF", 502,
			adu(0xff, deviceIDResponse(0x01, 0x81, byte(0x00), "Schneider Electric", byte(0x01), "BMX P34 2020", byte(0x02), "v3.10")...),
			[]events.Observation{
				obs(dpi.AttrVendor, "Schneider Electric", 0.95, rdi+"VendorName"),
				obs(dpi.AttrModbusVendor, "Schneider Electric", 0.95, rdi+"VendorName"),
				obs(dpi.AttrModbusProductCode, "BMX P34 2020", 0.95, rdi+"ProductCode"),
				obs(dpi.AttrFirmwareVersion, "v3.10", 0.9, rdi+"MajorMinorRevision"),
			}, nil},
		{"regular identification, unit 1, with URL and private objects", 502,
			adu(0x01, deviceIDResponse(0x02, 0x82,
				byte(0x03), "www.se.com", byte(0x04), "Modicon M340", byte(0x05), "BMX P34 2020",
				byte(0x06), "AHU_Level3 v12", byte(0x80), "private", byte(0x07), "")...),
			[]events.Observation{
				obs(dpi.AttrModel, "Modicon M340", 0.7, rdi+"ProductName (unit 1)"),
				obs(dpi.AttrModel, "BMX P34 2020", 0.8, rdi+"ModelName (unit 1)"),
				obs(AttrApplication, "AHU_Level3 v12", 0.75, rdi+"UserApplicationName (unit 1)"),
			}, nil},
		{"identification request", 40000, adu(0xff, 0x2b, 0x0e, 0x01, 0x00), nil, []dpi.Counter{{Name: CounterReads, N: 1}}},
		{"exception response", 502, adu(0xff, 0xab, 0x01), nil, []dpi.Counter{{Name: CounterExceptions, N: 1}}},
		{"three requests in one segment", 40000, slices.Concat(
			adu(1, 0x03, 0x00, 0x00, 0x00, 0x0a),
			adu(1, 0x10, 0x00, 0x01, 0x00, 0x01, 0x02, 0x00, 0x2a),
			adu(1, 0x17, 0x00, 0x00, 0x00, 0x01, 0x00, 0x05, 0x00, 0x01, 0x02, 0x00, 0x07),
		), nil, []dpi.Counter{{Name: CounterReads, N: 1}, {Name: CounterWrites, N: 1}, {Name: CounterReads, N: 1}, {Name: CounterWrites, N: 1}}},
		{"diagnostics request counts nothing", 40000, adu(1, 0x08, 0x00, 0x01, 0x00, 0x00), nil, nil},
		{"read response counts nothing", 502, adu(1, 0x03, 0x02, 0x00, 0x2a), nil, nil},
	}
	d := New()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out dpi.Output
			p := packet(c.fromPort, 40000, c.payload)
			if c.fromPort != Port {
				p = packet(c.fromPort, Port, c.payload)
			}
			if err := d.Dissect(p, &out); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, out.Observations); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.counters, out.Counters); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDissectErrors(t *testing.T) {
	cases := map[string][]byte{
		"short":                {0x00, 0x01, 0x00, 0x00, 0x00},
		"protocol identifier":  {0x00, 0x01, 0x00, 0x10, 0x00, 0x02, 0x01, 0x03},
		"length 1":             {0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x01, 0x03},
		"length 300":           {0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x01, 0x03},
		"ADU past the segment": adu(1, 0x03, 0x00, 0x00, 0x00, 0x0a)[:10],
		"trailing bytes":       append(adu(1, 0x03, 0x00, 0x00, 0x00, 0x0a), 0x01, 0x01, 0x23),
		"object past the PDU":  adu(0xff, 0x2b, 0x0e, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x20, 'S'),
		"objects missing":      adu(0xff, 0x2b, 0x0e, 0x01, 0x01, 0x00, 0x00, 0x02, 0x00, 0x01, 'S'),
		"identification short": adu(0xff, 0x2b, 0x0e, 0x01),
	}
	for name, b := range cases {
		if err := New().Dissect(packet(Port, 40000, b), &dpi.Output{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

type row struct{ IP, MAC, Attr, Value string }

func TestCaptures(t *testing.T) {
	cases := []struct {
		file string
		want []row
		// reads, writes, exceptions. Reads and writes are the requests
		// (tcp.dstport == 502) of the functions counted, exceptions the
		// responses with a modbus.exception_code, from tshark -Y mbtcp
		// -T fields -e tcp.srcport -e tcp.dstport -e modbus.func_code
		// -e modbus.mei -e modbus.exception_code.
		counters [3]uint64
		errors   uint64
	}{
		// Frame 94 is the only Read Device Identification response of
		// the reference captures (tshark -Y 'modbus.func_code == 43'):
		// tshark -r modbus_example.pcap -Y 'frame.number == 94' -T fields
		//   -e ip.src -e mbtcp.unit_id -e modbus.object_id -e modbus.object_str_value
		// 127.0.0.1 1 0,1,2 Zeek Modbus Test,Protocol Parsing is fun!,1.2.3.6
		// (the loopback capture has all-zero MACs).
		{"cisagov_icsnpp-modbus/testing/traces/modbus_example.pcap", []row{
			{"127.0.0.1", "", dpi.AttrVendor, "Zeek Modbus Test"},
			{"127.0.0.1", "", dpi.AttrModbusVendor, "Zeek Modbus Test"},
			{"127.0.0.1", "", dpi.AttrModbusProductCode, "Protocol Parsing is fun!"},
			{"127.0.0.1", "", dpi.AttrFirmwareVersion, "1.2.3.6"},
		}, [3]uint64{14, 9, 1}, 0},
		{"OISF_suricata-verify/tests/modbus/modbus.pcap", nil, [3]uint64{5, 3, 9}, 0},
		// Frames 111 and 113 hold an 11-byte ADU and 3 bytes more (tshark:
		// mbtcp.len 5, tcp.len 14): an error each.
		{"ITI_ICS-Security-Tools/pcaps/openics/MODBUS-TestDataPart1.pcap", nil, [3]uint64{5, 3, 14}, 2},
		{"zeek_zeek/testing/btest/Traces/modbus/modbusBig.pcap", nil, [3]uint64{1387, 1387, 0}, 0},
		{"zeek_zeek/testing/btest/Traces/modbus/modbusSmall.pcap", nil, [3]uint64{8, 8, 0}, 0},
		{"zeek_zeek/testing/btest/Traces/modbus/4SICS-GeekLounge-151022-min.pcap", nil, [3]uint64{1, 1, 1}, 0},
		{"ntop_nDPI/tests/cfgs/default/pcap/modbus.pcap", nil, [3]uint64{51, 0, 0}, 0},
		{"ntop_nDPI/tests/cfgs/default/pcap/umas.pcap", nil, [3]uint64{0, 0, 0}, 0},
		// tshark counts 144 exceptions; the first (frame 127) answers a
		// request of function 0 that opens its connection, before the
		// flow is recognised as Modbus, so the pipeline never offers it.
		// The same two ADUs with trailing bytes as in the ITI capture.
		{"arkime_arkime/tests/pcap/modbus.pcap", nil, [3]uint64{266, 25, 143}, 2},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			res := dpitest.Run(t, []string{testshared.Pcap(t, c.file)}, dpi.Modbus{}, New())
			var got []row
			for _, o := range res.Observations {
				if r := (row{o.IP, o.MAC, o.Attribute, o.Value}); !slices.Contains(got, r) {
					got = append(got, r)
				}
			}
			if diff := cmp.Diff(c.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
			counters := [3]uint64{res.Counter(CounterReads), res.Counter(CounterWrites), res.Counter(CounterExceptions)}
			if counters != c.counters {
				t.Errorf("reads, writes, exceptions = %v, want %v", counters, c.counters)
			}
			if res.Stats.DissectErrors != c.errors {
				t.Errorf("%d dissect errors, want %d", res.Stats.DissectErrors, c.errors)
			}
		})
	}
}

// TestZeekOracle runs modbus-and-non-modbus-p502.pcap, where port 502
// also carries TLS, HTTP and scanners, and compares with Zeek's logs:
// only the connection Zeek's conn.log calls modbus is Modbus here, and
// its requests in modbus.log give the read and write counts.
func TestZeekOracle(t *testing.T) {
	res := dpitest.Run(t, []string{testshared.Pcap(t, "zeek_zeek/testing/btest/Traces/modbus/modbus-and-non-modbus-p502.pcap")}, dpi.Modbus{}, New())
	base := "zeek_zeek/testing/btest/Baseline/scripts.base.protocols.modbus.modbus_and_non_modbus_on_port_502/"
	var wantFlows []string
	for _, f := range dpitest.ZeekLog(t, testshared.Pcap(t, base+"conn.log")) {
		if f["service"] == "modbus" {
			wantFlows = append(wantFlows, f["id.orig_h"]+":"+f["id.orig_p"])
		}
	}
	var gotFlows []string
	var reads, writes uint64
	for _, fl := range res.Flows {
		if fl.AppProto == dpi.ProtoModbus {
			gotFlows = append(gotFlows, fl.Orig.IP+":"+itoa(fl.Orig.Port))
			reads += fl.App[CounterReads]
			writes += fl.App[CounterWrites]
		}
	}
	if diff := cmp.Diff(wantFlows, gotFlows); diff != "" || len(wantFlows) == 0 {
		t.Errorf("Modbus flows (-zeek +got):\n%s", diff)
	}
	var wantReads, wantWrites uint64
	for _, f := range dpitest.ZeekLog(t, testshared.Pcap(t, base+"modbus.log")) {
		if f["pdu_type"] != "REQ" {
			continue
		}
		switch {
		case strings.HasPrefix(f["func"], "READ_"):
			wantReads++
		case strings.HasPrefix(f["func"], "WRITE_"):
			wantWrites++
		}
	}
	if reads != wantReads || writes != wantWrites || reads == 0 {
		t.Errorf("reads, writes = %d, %d; Zeek's modbus.log has %d, %d", reads, writes, wantReads, wantWrites)
	}
}

func itoa(v uint16) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + v%10)}, b...)
		if v /= 10; v == 0 {
			return string(b)
		}
	}
}

func FuzzDissect(f *testing.F) {
	// Seeds: TCP payloads of modbus_example.pcap frames 92 and 94 (Read
	// Device Identification request and response), suricata modbus.pcap
	// frames 8 and 9 (a diagnostics request and its exception) and nDPI
	// umas.pcap frame 6 (UMAS), from tshark -T fields -e tcp.payload; and
	// built ADUs.
	for _, s := range []struct {
		port uint16
		hex  string
	}{
		{40000, "001700000005012b0e0100"},
		{Port, "00170000003d012b0e018300000300105a65656b204d6f646275732054657374011850726f746f636f6c2050617273696e672069732066756e210207312e322e332e36"},
		{40000, "0000000000060a0800040000"},
		{Port, "0000000000030a880b"},
		{Port, "000000000032005a00fe10ff5a010100000070020000270009000800000000000e3134302043505520333131203130010101000000001100"},
	} {
		f.Add(s.port, dpitest.MustHex(f, s.hex))
	}
	f.Add(uint16(Port), adu(0x01, deviceIDResponse(0x03, 0x83, byte(0x04), "Modicon M340", byte(0x05), "BMX P34 2020", byte(0x06), "AHU")...))
	f.Add(uint16(40000), slices.Concat(adu(1, 0x03, 0, 0, 0, 1), adu(1, 0x06, 0, 1, 0, 2)))
	d := New()
	f.Fuzz(func(t *testing.T, sport uint16, b []byte) {
		var out dpi.Output
		dport := uint16(Port)
		if sport == Port {
			dport = 40000
		}
		_ = d.Dissect(packet(sport, dport, b), &out)
		dpitest.CheckValues(t, out.Observations)
	})
}
