package bacnet

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

// Builders of BACnet/IP messages (ASHRAE 135 clauses 6 and 20, Annex J).
// The messages the tests build were written to a pcap and decoded with
// tshark 4.0.17, which showed the same objects, properties and values.

func bvlc(function byte, body []byte) []byte {
	b := []byte{0x81, function, 0, 0}
	b = append(b, body...)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	return b
}

// local wraps an APDU in an NPDU without network addresses.
func local(apdu []byte) []byte { return append([]byte{0x01, 0x00}, apdu...) }

// fromNetwork wraps an APDU in an NPDU naming a source network and MS/TP
// address: the APDU came from behind a router.
func fromNetwork(apdu []byte) []byte {
	return append([]byte{0x01, 0x08, 0x00, 0x0d, 0x01, 0x3d}, apdu...)
}

func objID(objType uint16, instance uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(objType)<<22|instance)
}

func iAmAPDU(instance uint32, vendor uint16) []byte {
	b := append([]byte{0x10, 0x00, 0xc4}, objID(objectTypeDevice, instance)...)
	b = append(b, 0x22, 0x05, 0xc4, 0x91, 0x00) // max APDU 1476, segmented-both
	return append(b, 0x22, byte(vendor>>8), byte(vendor))
}

// charStr is an application-tagged CharacterString in charset cs.
func charStr(cs byte, s []byte) []byte {
	data := append([]byte{cs}, s...)
	if len(data) <= 4 {
		return append([]byte{0x70 | byte(len(data))}, data...)
	}
	return append([]byte{0x75, byte(len(data))}, data...)
}

func ucs2(s string) []byte {
	var b []byte
	for _, r := range s {
		b = binary.BigEndian.AppendUint16(b, uint16(r))
	}
	return b
}

// rpACK is a ReadProperty-ACK, segment 0 when segmented (more follows).
func rpACK(segmented bool, objType uint16, instance uint32, prop byte, value []byte) []byte {
	b := []byte{0x30, 0x01, 0x0c}
	if segmented {
		b = []byte{0x3c, 0x01, 0x00, 0x04, 0x0c}
	}
	b = append(b, 0x0c)
	b = append(b, objID(objType, instance)...)
	b = append(b, 0x19, prop, 0x3e)
	b = append(b, value...)
	return append(b, 0x3f)
}

// rpmResult is one property of a ReadPropertyMultiple-ACK; a nil value
// stands for a propertyAccessError.
type rpmResult struct {
	prop  byte
	value []byte
}

func rpmACK(objType uint16, instance uint32, results ...rpmResult) []byte {
	b := []byte{0x30, 0x02, 0x0e, 0x0c}
	b = append(b, objID(objType, instance)...)
	b = append(b, 0x1e)
	for _, r := range results {
		b = append(b, 0x29, r.prop)
		if r.value == nil {
			b = append(b, 0x5e, 0x91, 0x02, 0x91, 0x20, 0x5f) // error-class property, unknown-property
			continue
		}
		b = append(b, 0x4e)
		b = append(b, r.value...)
		b = append(b, 0x4f)
	}
	return append(b, 0x1f)
}

func packet(payload []byte) *dpi.Packet {
	return &dpi.Packet{
		Transport: dpi.UDP, Src: netip.MustParseAddr("10.1.1.165"), Dst: netip.MustParseAddr("10.1.1.167"),
		SrcPort: 47808, DstPort: 47808, HasMAC: true,
		SrcMAC: [6]byte{0x00, 0x19, 0x07, 0x24, 0x3c, 0xca}, DstMAC: [6]byte{0x3c, 0xa9, 0xf4, 0x21, 0x22, 0xf8},
		FlowID: "f1", Payload: payload,
	}
}

func TestDissect(t *testing.T) {
	const mac, ip = "00:19:07:24:3c:ca", "10.1.1.165"
	obs := func(attr, value string, conf float64, ev string) events.Observation {
		return events.Observation{Device: events.DeviceKey(mac, ip, 0), MAC: mac, IP: ip,
			Attribute: attr, Value: value, Protocol: Protocol, Confidence: conf, Evidence: ev, FlowID: "f1"}
	}
	// A BBMD relays the I-Am of 192.168.0.18: that device has no MAC here.
	fwd := func(attr, value string, conf float64, ev string) events.Observation {
		return events.Observation{Device: events.DeviceKey("", "192.168.0.18", 0), IP: "192.168.0.18",
			Attribute: attr, Value: value, Protocol: Protocol, Confidence: conf, Evidence: ev, FlowID: "f1"}
	}
	cases := []struct {
		name     string
		payload  []byte
		want     []events.Observation
		counters []dpi.Counter
	}{
		{"I-Am", bvlc(0x0b, local(iAmAPDU(500, 5))), []events.Observation{
			obs(dpi.AttrBACnetDeviceInstance, "500", 0.95, "I-Am device identifier"),
			obs(dpi.AttrBACnetVendorID, "5", 0.95, "I-Am vendor identifier"),
			obs(dpi.AttrVendor, "Johnson Controls, Inc.", 0.8, "I-Am vendor identifier (ASHRAE vendor ID table)"),
		}, nil},
		{"I-Am, vendor not in the table", bvlc(0x0b, local(iAmAPDU(123, 260))), []events.Observation{
			obs(dpi.AttrBACnetDeviceInstance, "123", 0.95, "I-Am device identifier"),
			obs(dpi.AttrBACnetVendorID, "260", 0.95, "I-Am vendor identifier"),
		}, nil},
		{"I-Am relayed by a BBMD", bvlc(0x04, append([]byte{192, 168, 0, 18, 0xba, 0xc0}, local(iAmAPDU(18, 18))...)), []events.Observation{
			fwd(dpi.AttrBACnetDeviceInstance, "18", 0.95, "I-Am device identifier"),
			fwd(dpi.AttrBACnetVendorID, "18", 0.95, "I-Am vendor identifier"),
			fwd(dpi.AttrVendor, "Alerton / Honeywell", 0.8, "I-Am vendor identifier (ASHRAE vendor ID table)"),
		}, nil},
		{"I-Am from behind a router", bvlc(0x0b, fromNetwork(iAmAPDU(86114, 260))), nil, nil},
		{"ReadProperty-ACK object-name UTF-8", bvlc(0x0a, local(rpACK(false, 8, 501, propObjectName, charStr(0, []byte("AHU-3 East"))))), []events.Observation{
			obs(dpi.AttrBACnetObjectName, "AHU-3 East", 0.95, "ReadProperty-ACK object-name"),
			obs(dpi.AttrHostname, "AHU-3 East", 0.6, "ReadProperty-ACK object-name"),
		}, nil},
		{"ReadProperty-ACK model-name UCS-2", bvlc(0x0a, local(rpACK(false, 8, 4194303, propModelName, charStr(4, ucs2("MS-NAE4510-2"))))), []events.Observation{
			obs(dpi.AttrModel, "MS-NAE4510-2", 0.95, "ReadProperty-ACK model-name"),
		}, nil},
		{"ReadProperty-ACK location ISO 8859-1", bvlc(0x0a, local(rpACK(false, 8, 7, propLocation, charStr(5, []byte("Geb\xe4ude 2"))))), []events.Observation{
			obs(AttrLocation, "Gebäude 2", 0.9, "ReadProperty-ACK location"),
		}, nil},
		{"ReadProperty-ACK description", bvlc(0x0a, local(rpACK(false, 8, 7, propDescription, charStr(0, []byte("Pneumatic tube\r\nstation 4"))))), []events.Observation{
			obs(AttrDescription, "Pneumatic tube station 4", 0.9, "ReadProperty-ACK description"),
		}, nil},
		{"ReadProperty-ACK empty string", bvlc(0x0a, local(rpACK(false, 8, 7, propLocation, charStr(4, nil)))), nil, nil},
		{"ReadProperty-ACK object-identifier", bvlc(0x0a, local(rpACK(false, 8, 4194303, propObjectIdentifier, append([]byte{0xc4}, objID(8, 500)...)))), []events.Observation{
			obs(dpi.AttrBACnetDeviceInstance, "500", 0.95, "ReadProperty-ACK object-identifier"),
		}, nil},
		{"ReadProperty-ACK object-list", bvlc(0x0a, local(rpACK(false, 8, 7, 76, append(append([]byte{0xc4}, objID(8, 7)...), append([]byte{0xc4}, objID(0, 1)...)...)))), nil, nil},
		{"ReadProperty-ACK of an analog input", bvlc(0x0a, local(rpACK(false, 0, 1, propObjectName, charStr(0, []byte("Sensor_45312"))))), nil, nil},
		{"ReadProperty-ACK from behind a router", bvlc(0x0a, fromNetwork(rpACK(false, 8, 86114, propModelName, charStr(0, []byte("LGR25"))))), nil, nil},
		{"segmented ReadProperty-ACK, first segment cut mid-value",
			bvlc(0x0a, local(rpACK(true, 8, 9, propDescription, charStr(0, []byte("Chiller plant controller, level B2")))[:40])), nil, nil},
		{"segmented ReadProperty-ACK, first segment whole value",
			bvlc(0x0a, local(rpACK(true, 8, 9, propVendorName, charStr(0, []byte("Automated Logic"))))), []events.Observation{
				obs(dpi.AttrVendor, "Automated Logic", 0.95, "ReadProperty-ACK vendor-name"),
			}, nil},
		{"segmented ReadProperty-ACK, later segment", bvlc(0x0a, local([]byte{0x3c, 0x01, 0x01, 0x04, 0x0c, 0x41, 0x42})), nil, nil},
		{"ReadPropertyMultiple-ACK", bvlc(0x0a, local(rpmACK(8, 40,
			rpmResult{propVendorName, charStr(0, []byte("Delta Controls"))},
			rpmResult{propVendorIdentifier, []byte{0x21, 8}},
			rpmResult{propModelName, nil},
			rpmResult{propFirmwareRevision, charStr(0, []byte("3.40"))},
			rpmResult{propAppSoftwareVersion, charStr(0, []byte("V3.40 build 1234"))},
		))), []events.Observation{
			obs(dpi.AttrVendor, "Delta Controls", 0.95, "ReadPropertyMultiple-ACK vendor-name"),
			obs(dpi.AttrBACnetVendorID, "8", 0.95, "ReadPropertyMultiple-ACK vendor-identifier"),
			obs(dpi.AttrVendor, "Delta Controls", 0.8, "ReadPropertyMultiple-ACK vendor-identifier (ASHRAE vendor ID table)"),
			obs(dpi.AttrFirmwareVersion, "3.40", 0.9, "ReadPropertyMultiple-ACK firmware-revision"),
			obs(dpi.AttrSoftwareVersion, "V3.40 build 1234", 0.9, "ReadPropertyMultiple-ACK application-software-version"),
		}, nil},
		{"WriteProperty request", bvlc(0x0a, local([]byte{0x00, 0x05, 0x01, 0x0f, 0x0c, 0x00, 0x80, 0x00, 0x01, 0x19, 0x55, 0x3e, 0x44, 0x42, 0x90, 0, 0, 0x3f})),
			nil, []dpi.Counter{{Name: CounterWrites, N: 1}}},
		{"ReadProperty request from behind a router", bvlc(0x0a, fromNetwork([]byte{0x00, 0x05, 0x01, 0x0c, 0x0c, 0x02, 0, 0, 1, 0x19, 0x4d})),
			nil, []dpi.Counter{{Name: CounterReads, N: 1}}},
		{"ReinitializeDevice request", bvlc(0x0a, local([]byte{0x00, 0x05, 0x02, 0x14, 0x09, 0x00})),
			nil, []dpi.Counter{{Name: CounterDeviceControl, N: 1}}},
		{"BVLC result", bvlc(0x00, []byte{0x00, 0x00}), nil, nil},
		{"network layer message", bvlc(0x0b, []byte{0x01, 0x80, 0x00, 0x00, 0x0d}), nil, nil},
	}
	d := New()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out dpi.Output
			if err := d.Dissect(packet(c.payload), &out); err != nil {
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
		"short":                 {0x81, 0x0a},
		"BACnet/IPv6":           {0x82, 0x0a, 0x00, 0x04},
		"length past payload":   {0x81, 0x0a, 0x00, 0x40, 0x01, 0x00},
		"NPDU version":          bvlc(0x0a, []byte{0x10, 0x07, 0x2c, 0x02}),
		"NPDU without APDU":     bvlc(0x0a, []byte{0x01, 0x20, 0x00, 0x0d, 0x01, 0x3d, 0xff}),
		"I-Am of a non-device":  bvlc(0x0b, local(append(append([]byte{0x10, 0x00, 0xc4}, objID(0, 1)...), 0x22, 0x05, 0xc4, 0x91, 0, 0x21, 5))),
		"I-Am cut short":        bvlc(0x0b, local(iAmAPDU(5, 5)[:9])),
		"unsegmented ACK cut":   bvlc(0x0a, local(rpACK(false, 8, 9, propModelName, charStr(0, []byte("ABCDEFGH")))[:14])),
		"ACK with a bad length": bvlc(0x0a, local([]byte{0x30, 0x01, 0x0c, 0x0c, 0x02, 0, 0, 1, 0x19, 0x46, 0x3e, 0x75, 0xff, 0, 0, 0, 0, 1, 0x3f})),
	}
	d := New()
	for name, b := range cases {
		if err := d.Dissect(packet(b), &dpi.Output{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// row is an observation reduced to what the captures' oracles state.
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

func TestCaptures(t *testing.T) {
	const jci, lith, alc, alerton = "00:19:07:24:3c:ca", "00:0c:6e:b0:3c:15", "00:e0:c9:00:10:a5", "00:60:2d:00:15:d5"
	cases := []struct {
		file string
		want []row
		// counters: confirmed requests of BACnet/IP (UDP) messages, from
		// tshark -Y 'udp && bacapp.type == 0' -T fields -e bacapp.confirmed_service
		reads, writes, control uint64
	}{
		// A JCI NAE answering ReadProperty for its device object with
		// UCS-2 strings, instance 4194303 in the request:
		// tshark -r bacnet_test.pcap -Y 'bacapp.type == 3' -O bacapp
		// shows object-identifier device,500; vendor-identifier 5;
		// vendor-name 'JCI'; firmware-revision '5.1.0.4400';
		// application-software-version, description, location ''
		// (empty); object-name KBRNAE; model-name 'MS-NAE4510-2'.
		{"ITI_ICS-Security-Tools/pcaps/BACnet/bacnet_test.pcap", []row{
			{"10.1.1.165", jci, dpi.AttrBACnetDeviceInstance, "500"},
			{"10.1.1.165", jci, dpi.AttrBACnetObjectName, "KBRNAE"},
			{"10.1.1.165", jci, dpi.AttrBACnetVendorID, "5"},
			{"10.1.1.165", jci, dpi.AttrFirmwareVersion, "5.1.0.4400"},
			{"10.1.1.165", jci, dpi.AttrHostname, "KBRNAE"},
			{"10.1.1.165", jci, dpi.AttrModel, "MS-NAE4510-2"},
			{"10.1.1.165", jci, dpi.AttrVendor, "JCI"},
			{"10.1.1.165", jci, dpi.AttrVendor, "Johnson Controls, Inc."},
		}, 9, 0, 0},
		// tshark -r bacnet-ip.cap -Y 'ip && (bacapp.unconfirmed_service == 0 || bacapp.type == 3)' -O bacapp:
		// I-Am device,111 vendor 42 from 192.168.0.13; its device object
		// answers object-name SimpleServer, vendor-name 'Lithonia Lighting',
		// vendor-identifier 42, model-name 'Simple BACnet Server',
		// firmware-revision '1.00', application-software-version 'none'.
		// Its confirmed requests come from behind a router (SNET 13).
		{"ControlThings-io_ct-samples/Protocols/BACnet/bacnet-ip.cap", []row{
			{"192.168.0.13", lith, dpi.AttrBACnetDeviceInstance, "111"},
			{"192.168.0.13", lith, dpi.AttrBACnetObjectName, "SimpleServer"},
			{"192.168.0.13", lith, dpi.AttrBACnetVendorID, "42"},
			{"192.168.0.13", lith, dpi.AttrFirmwareVersion, "1.00"},
			{"192.168.0.13", lith, dpi.AttrHostname, "SimpleServer"},
			{"192.168.0.13", lith, dpi.AttrModel, "Simple BACnet Server"},
			{"192.168.0.13", lith, dpi.AttrSoftwareVersion, "none"},
			{"192.168.0.13", lith, dpi.AttrVendor, "Acuity Brands Lighting, Inc."},
			{"192.168.0.13", lith, dpi.AttrVendor, "Lithonia Lighting"},
		}, 416, 0, 0},
		// tshark -r BACnet-BBMD-on-same-subnet.cap -Y 'bacapp.unconfirmed_service == 0'
		//   -T fields -e ip.src -e eth.src -e bvlc.function -e bvlc.fwd_ip -e bacnet.snet
		//   -e bacapp.instance_number -e bacapp.vendor_identifier
		// The I-Ams of 192.168.0.18 and .105 reach the wire directly and as
		// Forwarded-NPDUs from the BBMD 192.168.0.24 (keyed by IP: the MAC
		// is the BBMD's); 884456 and 86114 come from behind routers (SNET
		// 4, 26001) and yield nothing.
		{"ControlThings-io_ct-samples/Protocols/BACnet/BACnet-BBMD-on-same-subnet.cap", []row{
			{"192.168.0.105", "", dpi.AttrBACnetDeviceInstance, "123"},
			{"192.168.0.105", "", dpi.AttrBACnetVendorID, "260"},
			{"192.168.0.105", "00:21:70:7e:32:bb", dpi.AttrBACnetDeviceInstance, "123"},
			{"192.168.0.105", "00:21:70:7e:32:bb", dpi.AttrBACnetVendorID, "260"},
			{"192.168.0.18", "", dpi.AttrBACnetDeviceInstance, "18"},
			{"192.168.0.18", "", dpi.AttrBACnetVendorID, "18"},
			{"192.168.0.18", "", dpi.AttrVendor, "Alerton / Honeywell"},
			{"192.168.0.18", alerton, dpi.AttrBACnetDeviceInstance, "18"},
			{"192.168.0.18", alerton, dpi.AttrBACnetVendorID, "18"},
			{"192.168.0.18", alerton, dpi.AttrVendor, "Alerton / Honeywell"},
			{"192.168.0.24", "", dpi.AttrBACnetDeviceInstance, "2401"},
			{"192.168.0.24", "", dpi.AttrBACnetVendorID, "24"},
			{"192.168.0.24", "", dpi.AttrVendor, "Automated Logic Corporation"},
			{"192.168.0.24", alc, dpi.AttrBACnetDeviceInstance, "2401"},
			{"192.168.0.24", alc, dpi.AttrBACnetVendorID, "24"},
			{"192.168.0.24", alc, dpi.AttrVendor, "Automated Logic Corporation"},
		}, 0, 0, 0},
		// tshark -r bacnet.pcap -Y 'bacapp.unconfirmed_service == 0' -T fields
		//   -e ip.src -e eth.src -e bacapp.instance_number -e bacapp.vendor_identifier:
		// instances 0 and 4194303 (the wildcard, not an instance), vendor 260.
		{"ntop_nDPI/tests/cfgs/default/pcap/bacnet.pcap", []row{
			{"204.172.177.255", "00:1a:2b:3c:4d:5e", dpi.AttrBACnetDeviceInstance, "0"},
			{"204.172.177.255", "00:1a:2b:3c:4d:5e", dpi.AttrBACnetVendorID, "260"},
		}, 9, 0, 0},
		// tshark -r bacnet_error_reject_abort.pcap -Y 'bacapp.unconfirmed_service == 0'
		//   -T fields -e ip.src -e bacapp.instance_number -e bacapp.vendor_identifier: 10.10.10.10 101 1337.
		{"cisagov_icsnpp-bacnet/testing/traces/bacnet_error_reject_abort.pcap", []row{
			{"10.10.10.10", "10:98:19:00:00:a1", dpi.AttrBACnetDeviceInstance, "101"},
			{"10.10.10.10", "10:98:19:00:00:a1", dpi.AttrBACnetVendorID, "1337"},
			{"10.10.10.10", "10:98:19:00:00:a1", dpi.AttrVendor, "Xxter bv"},
		}, 3, 2, 2},
		// tshark -r bacnet_segmented_data.pcap -Y 'bacapp.unconfirmed_service == 0' -T fields
		//   -e ip.src -e bacapp.instance_number -e bacapp.vendor_identifier:
		// 10.0.0.1 device 0 and 10.0.0.2 device 254, vendor 154; the
		// segmented ReadProperty-ACK (frames 15, 17, 18) reads object-list.
		{"cisagov_icsnpp-bacnet/testing/traces/bacnet_segmented_data.pcap", []row{
			{"10.0.0.1", "00:00:00:00:00:11", dpi.AttrBACnetDeviceInstance, "0"},
			{"10.0.0.1", "00:00:00:00:00:11", dpi.AttrBACnetVendorID, "154"},
			{"10.0.0.1", "00:00:00:00:00:11", dpi.AttrVendor, "Unitec Corporation"},
			{"10.0.0.2", "00:00:00:00:00:22", dpi.AttrBACnetDeviceInstance, "254"},
			{"10.0.0.2", "00:00:00:00:00:22", dpi.AttrBACnetVendorID, "154"},
			{"10.0.0.2", "00:00:00:00:00:22", dpi.AttrVendor, "Unitec Corporation"},
		}, 2, 0, 0},
		// tshark -r bacnet_services.pcap -Y 'udp && bacapp.unconfirmed_service == 0
		//   && !bacnet.snet && bvlc.function != 0x04' -T fields -e ip.src -e eth.src
		//   -e bacapp.instance_number -e bacapp.vendor_identifier
		// lists the unrouted I-Ams: 192.168.0.16 111/42, 192.168.0.50
		// 126/42, 192.168.0.24 4194303/24 and, with the broadcast address
		// as source (so in the capture, Zeek logs them too),
		// 00:30:bd:c5:b2:b6 111/42, 126/42, 4194303/24. The many other
		// I-Ams come from network 3 behind a router.
		{"cisagov_icsnpp-bacnet/testing/traces/bacnet_services.pcap", []row{
			{"192.168.0.16", "00:c0:4f:a0:6b:b6", dpi.AttrBACnetDeviceInstance, "111"},
			{"192.168.0.16", "00:c0:4f:a0:6b:b6", dpi.AttrBACnetVendorID, "42"},
			{"192.168.0.16", "00:c0:4f:a0:6b:b6", dpi.AttrVendor, "Acuity Brands Lighting, Inc."},
			{"192.168.0.50", "00:e0:4b:04:bd:fa", dpi.AttrBACnetDeviceInstance, "126"},
			{"192.168.0.50", "00:e0:4b:04:bd:fa", dpi.AttrBACnetVendorID, "42"},
			{"192.168.0.50", "00:e0:4b:04:bd:fa", dpi.AttrVendor, "Acuity Brands Lighting, Inc."},
			{"192.168.0.24", alc, dpi.AttrBACnetVendorID, "24"},
			{"192.168.0.24", alc, dpi.AttrVendor, "Automated Logic Corporation"},
			{"192.168.0.255", "00:30:bd:c5:b2:b6", dpi.AttrBACnetDeviceInstance, "111"},
			{"192.168.0.255", "00:30:bd:c5:b2:b6", dpi.AttrBACnetDeviceInstance, "126"},
			{"192.168.0.255", "00:30:bd:c5:b2:b6", dpi.AttrBACnetVendorID, "24"},
			{"192.168.0.255", "00:30:bd:c5:b2:b6", dpi.AttrBACnetVendorID, "42"},
			{"192.168.0.255", "00:30:bd:c5:b2:b6", dpi.AttrVendor, "Acuity Brands Lighting, Inc."},
			{"192.168.0.255", "00:30:bd:c5:b2:b6", dpi.AttrVendor, "Automated Logic Corporation"},
		}, 3266, 9, 8},
		// Its MS/TP devices sit behind the router 192.168.0.24 (SNET
		// 26001): their ReadProperty-ACKs yield nothing. Unrouted I-Ams:
		// 192.168.0.103 4194303/260 and 192.168.0.24 2401/24 (same tshark
		// command as above).
		{"ControlThings-io_ct-samples/Protocols/BACnet/BACnetIP-MSTP-Mix.cap", []row{
			{"192.168.0.103", "00:0c:6e:b0:3c:15", dpi.AttrBACnetVendorID, "260"},
			{"192.168.0.24", alc, dpi.AttrBACnetDeviceInstance, "2401"},
			{"192.168.0.24", alc, dpi.AttrBACnetVendorID, "24"},
			{"192.168.0.24", alc, dpi.AttrVendor, "Automated Logic Corporation"},
		}, 31, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			res := dpitest.Run(t, []string{testshared.Pcap(t, c.file)}, dpi.BACnet{}, New())
			if diff := cmp.Diff(c.want, rows(res), sortRows); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
			got := [3]uint64{res.Counter(CounterReads), res.Counter(CounterWrites), res.Counter(CounterDeviceControl)}
			if want := [3]uint64{c.reads, c.writes, c.control}; got != want {
				t.Errorf("reads, writes, device control = %v, want %v", got, want)
			}
			if res.Stats.DissectErrors != 0 {
				t.Errorf("%d dissect errors", res.Stats.DissectErrors)
			}
		})
	}
}

// TestZeekOracle compares the 30 simulated controllers of icsnpp-bacnet's
// bacnet_example.pcap with Zeek's logs of the same capture: every
// read-property-ack of a device object in bacnet_property.log (150
// values; tshark -O bacapp shows the same 150) and every I-Am in
// bacnet_discovery.log.
func TestZeekOracle(t *testing.T) {
	res := dpitest.Run(t, []string{testshared.Pcap(t, "cisagov_icsnpp-bacnet/testing/traces/bacnet_example.pcap")}, dpi.BACnet{}, New())
	got := map[[3]string]bool{}
	for _, o := range res.Observations {
		got[[3]string{o.IP, o.Attribute, o.Value}] = true
	}
	attrs := map[string]string{
		"object-name": dpi.AttrBACnetObjectName, "model-name": dpi.AttrModel,
		"firmware-revision": dpi.AttrFirmwareVersion, "application-software-version": dpi.AttrSoftwareVersion,
		"location": AttrLocation,
	}
	base := "cisagov_icsnpp-bacnet/testing/baseline/analyzer.basic/"
	want := map[[3]string]bool{}
	for _, f := range dpitest.ZeekLog(t, testshared.Pcap(t, base+"bacnet_property.log")) {
		if f["pdu_service"] == "read-property-ack" && f["object_type"] == "device" {
			attr, ok := attrs[f["property"]]
			if !ok {
				t.Fatalf("property %q not mapped", f["property"])
			}
			want[[3]string{f["source_h"], attr, f["value"]}] = true
		}
	}
	for _, f := range dpitest.ZeekLog(t, testshared.Pcap(t, base+"bacnet_discovery.log")) {
		if f["pdu_service"] == "i-am" {
			want[[3]string{f["source_h"], dpi.AttrBACnetDeviceInstance, f["instance_number"]}] = true
		}
	}
	if len(want) != 180 {
		t.Fatalf("oracle has %d values, want 150 properties and 30 I-Am", len(want))
	}
	for w := range want {
		if !got[w] {
			t.Errorf("missing %v", w)
		}
	}
	// Vendor identifiers of three I-Ams, from tshark -r bacnet_example.pcap
	// -Y 'bacapp.unconfirmed_service == 0' -T fields -e ip.src
	// -e bacapp.vendor_identifier (Zeek logs names from its own table).
	for _, w := range [][3]string{
		{"172.20.32.100", dpi.AttrBACnetVendorID, "138"},
		{"172.20.32.100", dpi.AttrVendor, "PowerCold Comfort Air Solutions, Inc."},
		{"172.20.32.116", dpi.AttrVendor, "Siemens Schweiz AG (Formerly: Cerberus AG)"},
		{"172.20.32.129", dpi.AttrBACnetVendorID, "116"},
	} {
		if !got[w] {
			t.Errorf("missing %v", w)
		}
	}
}

func FuzzDissect(f *testing.F) {
	// Seeds: UDP payloads of bacnet_test.pcap frames 4, 8 and 14 (UCS-2
	// ReadProperty-ACKs), BACnet-BBMD-on-same-subnet.cap frame 8 (a
	// Forwarded-NPDU I-Am) and bacnet-ip.cap frame 20 (an ACK to a routed
	// requester), from tshark -T fields -e udp.payload; and the built
	// messages above.
	for _, h := range []string{
		"810a0017010030010c0c023fffff194b3ec4020001f43f",
		"810a001b010030010c0c023fffff19793e750704004a004300493f",
		"810a0021010030010c0c023fffff194d3e750d04004b00420052004e004100453f",
		"8104001ec0a80012bac00120ffff00ff1000c4020000122205c491032112",
		"810a002e0120000d013dff30d10c0c0200006f19463e75150053696d706c65204241436e6574205365727665723f",
	} {
		f.Add(dpitest.MustHex(f, h))
	}
	f.Add(bvlc(0x0b, local(iAmAPDU(500, 5))))
	f.Add(bvlc(0x0a, local(rpmACK(8, 40, rpmResult{propVendorName, charStr(0, []byte("Delta"))}, rpmResult{propModelName, nil}))))
	f.Add(bvlc(0x0a, local(rpACK(true, 8, 9, propDescription, charStr(4, ucs2("Chiller"))))))
	f.Add(bvlc(0x0a, fromNetwork([]byte{0x00, 0x05, 0x01, 0x0c, 0x0c, 0x02, 0, 0, 1, 0x19, 0x4d})))
	d := New()
	f.Fuzz(func(t *testing.T, b []byte) {
		var out dpi.Output
		_ = d.Dissect(packet(b), &out)
		dpitest.CheckValues(t, out.Observations)
	})
}
