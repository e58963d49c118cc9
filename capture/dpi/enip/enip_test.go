package enip

import (
	"bufio"
	"encoding/binary"
	"net/netip"
	"os"
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

// Builders of EtherNet/IP encapsulation messages (CIP Networks Library
// Volume 2, chapter 2). The messages the tests build were written to a
// pcap and decoded with tshark 4.0.17, which showed the same fields.

func encap(cmd uint16, session uint32, status uint32, context string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, cmd)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(data)))
	b = binary.LittleEndian.AppendUint32(b, session)
	b = binary.LittleEndian.AppendUint32(b, status)
	var ctx [8]byte
	copy(ctx[:], context)
	b = append(b, ctx[:]...)
	b = binary.LittleEndian.AppendUint32(b, 0)
	return append(b, data...)
}

// identityAttrs encodes Identity attributes 1 to 7.
func identityAttrs(vendor, devType, product uint16, major, minor byte, serial uint32, name string) []byte {
	b := binary.LittleEndian.AppendUint16(nil, vendor)
	b = binary.LittleEndian.AppendUint16(b, devType)
	b = binary.LittleEndian.AppendUint16(b, product)
	b = append(b, major, minor, 0x30, 0x00)
	b = binary.LittleEndian.AppendUint32(b, serial)
	b = append(b, byte(len(name)))
	return append(b, name...)
}

func item(typ uint16, data []byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, typ)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

func itemList(items ...[]byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, uint16(len(items)))
	for _, i := range items {
		b = append(b, i...)
	}
	return b
}

// listIdentityReply is a ListIdentity reply with one CIP Identity item.
func listIdentityReply(attrs []byte) []byte {
	id := []byte{0x01, 0x00, 0x00, 0x02, 0xaf, 0x12, 10, 1, 1, 164, 0, 0, 0, 0, 0, 0, 0, 0}
	id = append(append(id, attrs...), 0x03)
	return encap(cmdListIdentity, 0, 0, "ctx", itemList(item(itemCIPIdentity, id)))
}

// sendRRData wraps a CIP message in a SendRRData with a null address item
// and an unconnected message item.
func sendRRData(session uint32, context string, cip []byte) []byte {
	data := append([]byte{0, 0, 0, 0, 20, 0}, itemList(item(0, nil), item(itemUnconnectedMsg, cip))...)
	return encap(cmdSendRRData, session, 0, context, data)
}

var (
	gaaIdentity   = []byte{0x01, 0x02, 0x20, 0x01, 0x24, 0x01}
	gaaIdentity16 = []byte{0x01, 0x04, 0x21, 0x00, 0x01, 0x00, 0x25, 0x00, 0x01, 0x00}
	// An Unconnected_Send through the adapter to the Identity of the
	// module in slot 2: the reply is about that module.
	unconnectedSend = []byte{0x52, 0x02, 0x20, 0x06, 0x24, 0x01, 0x0a, 0xf0, 0x06, 0x00,
		0x01, 0x02, 0x20, 0x01, 0x24, 0x01, 0x01, 0x00, 0x01, 0x02}
)

func gaaReply(status byte, attrs []byte) []byte {
	return append([]byte{0x81, 0x00, status, 0x00}, attrs...)
}

func packet(transport uint8, payload []byte) *dpi.Packet {
	return &dpi.Packet{
		Transport: transport, Src: netip.MustParseAddr("10.1.1.164"), Dst: netip.MustParseAddr("10.1.1.167"),
		SrcPort: 44818, DstPort: 5262, HasMAC: true,
		SrcMAC: [6]byte{0x00, 0x00, 0xbc, 0x3e, 0xeb, 0xe4}, DstMAC: [6]byte{0x00, 0x1d, 0x09, 0x99, 0xb2, 0x2c},
		FlowID: "f1", Payload: payload,
	}
}

func TestDissect(t *testing.T) {
	const mac, ip = "00:00:bc:3e:eb:e4", "10.1.1.164"
	identityObs := func(message, vendorID, vendor, devType, product, rev, serial, name string) []events.Observation {
		o := func(attr, value string, conf float64, field string) events.Observation {
			return events.Observation{Device: events.DeviceKey(mac, ip, 0), MAC: mac, IP: ip,
				Attribute: attr, Value: value, Protocol: Protocol, Confidence: conf, Evidence: message + " " + field, FlowID: "f1"}
		}
		out := []events.Observation{o(dpi.AttrENIPVendorID, vendorID, 0.95, "vendor ID")}
		if vendor != "" {
			out = append(out, o(dpi.AttrVendor, vendor, 0.85, "vendor ID (ODVA vendor table)"))
		}
		out = append(out,
			o(dpi.AttrENIPDeviceType, devType, 0.95, "device type"),
			o(AttrProductCode, product, 0.95, "product code"),
			o(dpi.AttrFirmwareVersion, rev, 0.9, "revision"),
			o(dpi.AttrSerial, serial, 0.95, "serial number"),
		)
		if name != "" {
			out = append(out, o(dpi.AttrENIPProductName, name, 0.95, "product name"), o(dpi.AttrModel, name, 0.9, "product name"))
		}
		return out
	}
	plc := identityAttrs(1, 14, 166, 32, 11, 0x00c0ffee, "1769-L33ER/A LOGIX5333ER")
	// Each case runs its messages in order through one dissector.
	cases := []struct {
		name      string
		transport uint8
		messages  [][]byte
		want      []events.Observation
		counters  []dpi.Counter
	}{
		{"ListIdentity reply over UDP", dpi.UDP, [][]byte{listIdentityReply(plc)},
			identityObs("ListIdentity", "1", "Rockwell Automation/Allen-Bradley", "Programmable Logic Controller", "166", "32.11", "00c0ffee", "1769-L33ER/A LOGIX5333ER"), nil},
		{"ListIdentity reply, unknown vendor and type, no name", dpi.UDP, [][]byte{listIdentityReply(identityAttrs(9999, 0x1234, 7, 1, 2, 0xa, ""))},
			identityObs("ListIdentity", "9999", "", "4660", "7", "1.2", "0000000a", ""), nil},
		{"ListIdentity reply with an error status", dpi.UDP, [][]byte{encap(cmdListIdentity, 0, 0x65, "", itemList(item(itemCIPIdentity, nil)))}, nil, nil},
		{"requests counted", dpi.TCP, [][]byte{
			encap(cmdListIdentity, 0, 0, "a", nil), encap(cmdListServices, 0, 0, "b", nil),
			encap(cmdListInterfaces, 0, 0, "c", nil), encap(cmdRegisterSession, 0, 0, "d", []byte{1, 0, 0, 0}),
			encap(cmdRegisterSession, 0x12020100, 0, "d", []byte{1, 0, 0, 0}), // the reply
		}, nil, []dpi.Counter{{Name: CounterListIdentity, N: 1}, {Name: CounterListServices, N: 1},
			{Name: CounterListInterfaces, N: 1}, {Name: CounterRegisterSession, N: 1}}},
		{"two messages in one segment", dpi.TCP, [][]byte{append(encap(cmdListServices, 0, 0, "b", nil), encap(cmdListIdentity, 0, 0, "a", nil)...)},
			nil, []dpi.Counter{{Name: CounterListServices, N: 1}, {Name: CounterListIdentity, N: 1}}},
		{"Get_Attributes_All of Identity and its reply", dpi.TCP, [][]byte{
			sendRRData(7, "req1", gaaIdentity), sendRRData(7, "req1", gaaReply(0, plc)),
		}, identityObs("Identity Get_Attributes_All", "1", "Rockwell Automation/Allen-Bradley", "Programmable Logic Controller", "166", "32.11", "00c0ffee", "1769-L33ER/A LOGIX5333ER"), nil},
		{"16-bit path", dpi.TCP, [][]byte{
			sendRRData(7, "req1", gaaIdentity16), sendRRData(7, "req1", gaaReply(0, identityAttrs(243, 12, 2, 3, 4, 5, "BMENOC0301"))),
		}, identityObs("Identity Get_Attributes_All", "243", "Schneider Automation, Inc.", "Communications Adapter", "2", "3.4", "00000005", "BMENOC0301"), nil},
		{"reply to another context", dpi.TCP, [][]byte{
			sendRRData(7, "req1", gaaIdentity), sendRRData(7, "req2", gaaReply(0, plc)),
		}, nil, nil},
		{"reply without a request", dpi.TCP, [][]byte{sendRRData(7, "req1", gaaReply(0, plc))}, nil, nil},
		{"reply with a CIP error", dpi.TCP, [][]byte{
			sendRRData(7, "req1", gaaIdentity), sendRRData(7, "req1", gaaReply(0x08, nil)),
		}, nil, nil},
		{"reply through Unconnected_Send", dpi.TCP, [][]byte{
			sendRRData(7, "req1", unconnectedSend), sendRRData(7, "req1", append([]byte{0xd2, 0, 0, 0}, plc...)),
		}, nil, nil},
		{"legacy command 0x0001", dpi.TCP, [][]byte{encap(0x0001, 0, 0, "", nil)}, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := New()
			var out dpi.Output
			for _, m := range c.messages {
				if err := d.Dissect(packet(c.transport, m), &out); err != nil {
					t.Fatal(err)
				}
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
		"short header":        make([]byte, 10),
		"length past payload": encap(cmdListIdentity, 0, 0, "", make([]byte, 40))[:30],
		"unknown command":     encap(0x0099, 0, 0, "", nil),
		"identity item short": encap(cmdListIdentity, 0, 0, "", itemList(item(itemCIPIdentity, make([]byte, 20)))),
		"item past data":      encap(cmdListIdentity, 0, 0, "", []byte{1, 0, 0x0c, 0, 0x40, 0}),
		"name past item":      listIdentityReply(identityAttrs(1, 12, 58, 4, 3, 1, "1756-ENBT/A"))[:60],
		"trailing bytes":      append(encap(cmdListServices, 0, 0, "", nil), 1, 2, 3),
	}
	for name, b := range cases {
		if err := New().Dissect(packet(dpi.TCP, b), &dpi.Output{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The pending requests stay bounded when replies never come.
func TestPendingBounded(t *testing.T) {
	d := New()
	for i := range 10 * maxPending {
		var ctx [8]byte
		binary.LittleEndian.PutUint64(ctx[:], uint64(i))
		if err := d.Dissect(packet(dpi.TCP, sendRRData(1, string(ctx[:]), gaaIdentity)), &dpi.Output{}); err != nil {
			t.Fatal(err)
		}
	}
	if len(d.pending) > maxPending {
		t.Errorf("%d pending requests", len(d.pending))
	}
}

type row struct{ IP, MAC, Attr, Value string }

var sortRows = cmpopts.SortSlices(func(a, b row) bool {
	return a.IP+"|"+a.MAC+"|"+a.Attr+"|"+a.Value < b.IP+"|"+b.MAC+"|"+b.Attr+"|"+b.Value
})

func rows(res dpitest.Result) []row {
	var out []row
	for _, o := range res.Observations {
		r := row{o.IP, o.MAC, o.Attribute, o.Value}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func identityRows(ip, mac, serial string) []row {
	return []row{
		{ip, mac, dpi.AttrENIPVendorID, "1"},
		{ip, mac, dpi.AttrVendor, "Rockwell Automation/Allen-Bradley"},
		{ip, mac, dpi.AttrENIPDeviceType, "Communications Adapter"},
		{ip, mac, AttrProductCode, "58"},
		{ip, mac, dpi.AttrFirmwareVersion, "4.3"},
		{ip, mac, dpi.AttrSerial, serial},
		{ip, mac, dpi.AttrENIPProductName, "1756-ENBT/A"},
		{ip, mac, dpi.AttrModel, "1756-ENBT/A"},
	}
}

func TestCaptures(t *testing.T) {
	cases := []struct {
		file string
		want []row
		// counters: list identity, list services, list interfaces,
		// register session requests, from tshark -Y 'enip.command
		// != 0x006f && enip.command != 0x0070' -T fields -e ip.src
		// -e enip.command -e enip.length -e enip.session
		counters [4]uint64
	}{
		// tshark -r enip_test1.pcap -Y 'enip.command == 0x0063' -T fields -e ip.src -e eth.src
		//   -e enip.lir.vendor -e enip.lir.devtype -e enip.lir.prodcode -e enip.lir.revision
		//   -e enip.lir.serial -e enip.lir.name
		// 172.25.23.2 e4:aa:ea:a9:25:2f 0x0001 12 58 1027 0x00524d8e 1756-ENBT/A
		// (revision 1027 = 0x0403: major 4, minor 3; -V shows "4.03").
		{"OISF_suricata-verify/tests/enip-alert/enip_test1.pcap",
			identityRows("172.25.23.2", "e4:aa:ea:a9:25:2f", "00524d8e"), [4]uint64{1, 0, 0, 0}},
		// Same command: 10.1.1.164 00:19:07:24:3c:ca, same identity; Zeek's
		// cip_identity.log for this capture agrees (TestZeekOracle).
		{"cisagov_icsnpp-enip/tests/traces/enip_cip_example.pcap",
			identityRows("10.1.1.164", "00:19:07:24:3c:ca", "00524d8e"), [4]uint64{1, 0, 0, 0}},
		// RSLinx reads the Identity of a 1756-ENBT: tshark -r EIP-FirmwareChange.pcap
		//   -Y 'cip.id.vendor_id' -T fields -e ip.src -e eth.src -e cip.id.vendor_id
		//   -e cip.id.device_type -e cip.id.product_code -e cip.id.major_rev
		//   -e cip.id.minor_rev -e cip.id.serial_number -e cip.id.product_name
		// 192.168.10.120 00:00:bc:3e:eb:e4 0x0001 0x000c 58 4 3 0x0051aec3 1756-ENBT/A
		// (frames 10683, 10687, 10689). It also sends ListServices,
		// ListInterfaces and RegisterSession once (frames 10673-10680).
		{"ITI_ICS-Security-Tools/pcaps/openics/EIP-FirmwareChange.pcap",
			identityRows("192.168.10.120", "00:00:bc:3e:eb:e4", "0051aec3"), [4]uint64{0, 1, 1, 1}},
		// CIP over SendUnitData only, two segments holding two messages.
		{"ntop_nDPI/tests/cfgs/default/pcap/ethernetIP.pcap", nil, [4]uint64{}},
		{"ITI_ICS-Security-Tools/pcaps/openics/EIP-RebootorRestart.pcap", nil, [4]uint64{}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			res := dpitest.Run(t, []string{testshared.Pcap(t, c.file)}, dpi.ENIP{}, New())
			if diff := cmp.Diff(c.want, rows(res), sortRows); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
			got := [4]uint64{res.Counter(CounterListIdentity), res.Counter(CounterListServices),
				res.Counter(CounterListInterfaces), res.Counter(CounterRegisterSession)}
			if got != c.counters {
				t.Errorf("counters = %v, want %v", got, c.counters)
			}
			if res.Stats.DissectErrors != 0 {
				t.Errorf("%d dissect errors", res.Stats.DissectErrors)
			}
		})
	}
}

// TestZeekOracle compares the ListIdentity reply of enip_cip_example.pcap
// with Zeek's cip_identity.log of the same capture (icsnpp-enip).
func TestZeekOracle(t *testing.T) {
	res := dpitest.Run(t, []string{testshared.Pcap(t, "cisagov_icsnpp-enip/tests/traces/enip_cip_example.pcap")}, dpi.ENIP{}, New())
	got := map[[3]string]bool{}
	for _, o := range res.Observations {
		got[[3]string{o.IP, o.Attribute, o.Value}] = true
	}
	// The baseline has no #fields line (zeek-cut -n stripped it); its 24
	// columns are icsnpp-enip's cip_identity record: ts, uid, id (4),
	// is_orig, source_h, source_p, destination_h, destination_p,
	// packet_correlation_id, socket_address, socket_port, vendor_id,
	// vendor_name, device_type_id, device_type_name, product_code,
	// revision, device_status, serial_number, product_name, device_state.
	lines := readLines(t, "cisagov_icsnpp-enip/tests/baseline/analyzer.basic/cip_identity.log")
	if len(lines) != 1 {
		t.Fatalf("%d identity lines, want 1", len(lines))
	}
	f := strings.Split(lines[0], "\t")
	if len(f) != 24 {
		t.Fatalf("%d columns, want 24", len(f))
	}
	src := f[7]
	for _, w := range [][2]string{
		{dpi.AttrENIPVendorID, f[14]},
		{dpi.AttrVendor, f[15]},
		{dpi.AttrENIPDeviceType, f[17]},
		{AttrProductCode, f[18]},
		{dpi.AttrFirmwareVersion, f[19]},
		{dpi.AttrSerial, strings.TrimPrefix(f[21], "0x")},
		{dpi.AttrENIPProductName, f[22]},
	} {
		if !got[[3]string{src, w[0], w[1]}] {
			t.Errorf("missing %s %s=%q", src, w[0], w[1])
		}
	}
}

func readLines(t *testing.T, rel string) []string {
	t.Helper()
	f, err := os.Open(testshared.Pcap(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := s.Text(); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func FuzzDissect(f *testing.F) {
	// Seeds: TCP payloads of enip_test1.pcap frame 6 (ListIdentity
	// reply) and EIP-FirmwareChange.pcap frames 10682-10683
	// (Get_Attributes_All of Identity and its reply) and 10677
	// (ListServices reply), from tshark -T fields -e tcp.payload; and the
	// built messages above.
	for _, h := range []string{
		"63003300000000000000000000000000c1debed10000000001000c002d0001000002af120a0101a4000000000000000001000c003a00040330008e4d52000b313735362d454e42542f4103",
		"6f00160000010212000000008d3f0000489ae00000000000000000001400020000000000b2000600010220012401",
		"6f002e0000010212000000008d3f0000489ae00000000000000000001400020000000000b2001e008100000001000c003a0004033000c3ae51000b313735362d454e42542f41",
		"04001a00000000000000000000000000000000000000000001000001140001002001436f6d6d756e69636174696f6e730000",
	} {
		f.Add(uint8(dpi.TCP), dpitest.MustHex(f, h))
	}
	f.Add(uint8(dpi.UDP), listIdentityReply(identityAttrs(1, 14, 166, 32, 11, 1, "1769-L33ER/A")))
	f.Add(uint8(dpi.TCP), append(sendRRData(7, "r", gaaIdentity16), sendRRData(7, "r", gaaReply(0, identityAttrs(1, 14, 1, 1, 1, 1, "x")))...))
	d := New()
	f.Fuzz(func(t *testing.T, transport uint8, b []byte) {
		var out dpi.Output
		_ = d.Dissect(packet(transport, b), &out)
		dpitest.CheckValues(t, out.Observations)
	})
}
