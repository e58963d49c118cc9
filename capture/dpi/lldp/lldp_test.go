package lldp

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
)

// facts summarises observations as sorted, distinct "mac attr=value"
// lines, each checked against the device key.
func facts(t testing.TB, obs []events.Observation) []string {
	t.Helper()
	for _, o := range obs {
		if o.Device != events.DeviceKey(o.MAC, "", o.VLAN) || o.Protocol != Protocol || o.IP != "" {
			t.Errorf("observation badly keyed: %+v", o)
		}
		if len(o.Value) > dpi.MaxValue {
			t.Errorf("value of %d bytes", len(o.Value))
		}
	}
	return dpitest.Summary(obs, func(o events.Observation) string { return o.MAC })
}

// The expected values were read with
//
//	tshark -r FILE -Y lldp -T fields -e eth.src -e lldp.chassis.id.mac \
//	  -e lldp.port.id -e lldp.port.desc -e lldp.tlv.system.name \
//	  -e lldp.tlv.system.desc -e lldp.tlv.system_cap -e lldp.mgn.addr.ip4 \
//	  -e lldp.mgn.addr.ip6 -e lldp.mgn.addr.hex -e lldp.iana.mudurl \
//	  -e lldp.media.hardware -e lldp.media.firmware -e lldp.media.software \
//	  -e lldp.media.sn -e lldp.media.manufacturer -e lldp.media.model \
//	  -e lldp.media.asset
//
// and tshark -V for the LLDP-MED class type. Capability bit masks are
// named per 802.1AB (0x0014 bridge,router; 0x009c
// bridge,wlan-ap,router,station; 0x0004 bridge). tshark prints newlines in
// system descriptions as \n; dpi.Text makes them spaces.
var captures = []struct {
	file    string
	want    []string
	wantErr error
}{
	{file: "arkime_arkime/tests/pcap/wireshark-lldp.pcap", want: []string{
		"00:01:30:f9:ad:a0 hostname=Summit300-48",
		"00:01:30:f9:ad:a0 lldp.capabilities=bridge,router",
		"00:01:30:f9:ad:a0 lldp.chassis_id=00:01:30:f9:ad:a0",
		"00:01:30:f9:ad:a0 lldp.management_address=00:01:30:f9:ad:a0",
		"00:01:30:f9:ad:a0 lldp.port_description=Summit300-48-Port 1001",
		"00:01:30:f9:ad:a0 lldp.port_id=1/1",
		"00:01:30:f9:ad:a0 lldp.system_description=Summit300-48 - Version 7.4e.1 (Build 5) by Release_Master 05/27/05 04:53:11",
		"00:01:30:f9:ad:a0 lldp.system_name=Summit300-48",
		"00:04:96:1f:a7:26 lldp.chassis_id=00:04:96:1f:a7:26",
		"00:04:96:1f:a7:26 lldp.port_id=1/3",
		"00:13:21:57:ca:7f hostname=ProCurve Switch 2600-8-PWR",
		"00:13:21:57:ca:7f ip=15.255.122.148",
		"00:13:21:57:ca:7f lldp.capabilities=bridge,router",
		"00:13:21:57:ca:7f lldp.chassis_id=00:13:21:57:ca:40",
		"00:13:21:57:ca:7f lldp.management_address=15.255.122.148",
		"00:13:21:57:ca:7f lldp.med_class=network connectivity",
		"00:13:21:57:ca:7f lldp.port_description=1",
		"00:13:21:57:ca:7f lldp.port_id=1",
		"00:13:21:57:ca:7f lldp.system_description=ProCurve J8762A Switch 2600-8-PWR, revision H.08.89, ROM H.08.5X (/sw/code/build/fish(ts_08_5))",
		"00:13:21:57:ca:7f lldp.system_name=ProCurve Switch 2600-8-PWR",
	}},
	{file: "the-tcpdump-group_tcpdump/tests/LLDP_and_CDP.pcap", want: []string{
		"00:18:ba:98:68:8f hostname=S1.cisco.com",
		"00:18:ba:98:68:8f lldp.capabilities=bridge,router",
		"00:18:ba:98:68:8f lldp.chassis_id=00:18:ba:98:68:8f",
		"00:18:ba:98:68:8f lldp.port_description=FastEthernet0/13",
		"00:18:ba:98:68:8f lldp.port_id=Fa0/13",
		"00:18:ba:98:68:8f lldp.system_description=Cisco IOS Software, C3560 Software (C3560-ADVIPSERVICESK9-M), Version 12.2(44)SE, RELEASE SOFTWARE (fc1) Copyright (c) 1986-2008 by Cisco Systems, Inc. Compiled Sat 05-Jan-08 00:15 by weiliu",
		"00:18:ba:98:68:8f lldp.system_name=S1.cisco.com",
		"00:19:2f:a7:b2:8d hostname=S2.cisco.com",
		"00:19:2f:a7:b2:8d lldp.capabilities=bridge,router",
		"00:19:2f:a7:b2:8d lldp.chassis_id=00:19:2f:a7:b2:8d",
		"00:19:2f:a7:b2:8d lldp.port_description=GigabitEthernet0/13",
		"00:19:2f:a7:b2:8d lldp.port_id=Uplink to S1",
		"00:19:2f:a7:b2:8d lldp.system_description=Cisco IOS Software, C3560 Software (C3560-ADVIPSERVICESK9-M), Version 12.2(44)SE, RELEASE SOFTWARE (fc1) Copyright (c) 1986-2008 by Cisco Systems, Inc. Compiled Sat 05-Jan-08 00:15 by weiliu",
		"00:19:2f:a7:b2:8d lldp.system_name=S2.cisco.com",
	}},
	{file: "the-tcpdump-group_tcpdump/tests/lldp_mudurl.pcap", want: []string{
		"00:23:54:c2:57:02 hostname=upstairs.ofcourseimright.com",
		"00:23:54:c2:57:02 ip=2001:8a8:1006:4:223:54ff:fec2:5702",
		"00:23:54:c2:57:02 ip=62.12.173.114",
		"00:23:54:c2:57:02 lldp.capabilities=bridge,wlan-ap,router,station",
		"00:23:54:c2:57:02 lldp.chassis_id=00:23:54:c2:57:02",
		"00:23:54:c2:57:02 lldp.management_address=2001:8a8:1006:4:223:54ff:fec2:5702",
		"00:23:54:c2:57:02 lldp.management_address=62.12.173.114",
		"00:23:54:c2:57:02 lldp.port_description=eth0",
		"00:23:54:c2:57:02 lldp.port_id=00:23:54:c2:57:02",
		"00:23:54:c2:57:02 lldp.system_description=Ubuntu 14.04.5 LTS Linux 3.13.0-106-generic #153-Ubuntu SMP Tue Dec 6 15:45:13 UTC 2016 i686",
		"00:23:54:c2:57:02 lldp.system_name=upstairs.ofcourseimright.com",
		"00:23:54:c2:57:02 mud_url=https://imright.mud.example.com/.well-known/mud/v1/vomitv2.0",
	}},
	// The sender's source MAC is all zero: the MAC chassis ID keys it.
	{file: "the-tcpdump-group_tcpdump/tests/lldp-app-priority.pcap", want: []string{
		"00:00:00:02:00:02 hostname=leaf0b",
		"00:00:00:02:00:02 lldp.chassis_id=00:00:00:02:00:02",
		"00:00:00:02:00:02 lldp.port_description=Big Cloud Fabric Switch Port leaf0b-eth10",
		"00:00:00:02:00:02 lldp.port_id=leaf0b-eth10",
		"00:00:00:02:00:02 lldp.system_description=5c:16:c7:00:00:01",
		"00:00:00:02:00:02 lldp.system_name=leaf0b",
	}},
	// Two LLDPDUs holding only a link aggregation TLV (tcpdump's
	// lldp_8021_linkagg-v.out): malformed, nothing to report.
	{file: "the-tcpdump-group_tcpdump/tests/lldp_8021_linkagg.pcap", wantErr: ErrMissingMandatory},
	{file: "zeek_zeek/testing/btest/Traces/lldp.pcap", want: []string{
		"00:22:2d:81:db:10 hostname=SMCGS8P-Smart",
		"00:22:2d:81:db:10 ip=192.168.2.10",
		"00:22:2d:81:db:10 lldp.capabilities=bridge",
		"00:22:2d:81:db:10 lldp.chassis_id=00:22:2d:81:db:10",
		"00:22:2d:81:db:10 lldp.management_address=192.168.2.10",
		"00:22:2d:81:db:10 lldp.port_description=Port #1",
		"00:22:2d:81:db:10 lldp.port_id=1",
		"00:22:2d:81:db:10 lldp.system_description=SMCGS8P-Smart - SMCGS8P-Smart v3.20",
		"00:22:2d:81:db:10 lldp.system_name=SMCGS8P-Smart",
	}},
	// lldpd 1.0.16 with LLDP-MED inventory (see testdata/README.md).
	{file: "testdata/lldpd-med-inventory.pcap", want: []string{
		"02:42:ac:11:00:07 firmware_version=FW 1.0.9",
		"02:42:ac:11:00:07 hardware_version=HW 2.1",
		"02:42:ac:11:00:07 hostname=pump-ward3-07.example.org",
		"02:42:ac:11:00:07 ip=192.0.2.10",
		"02:42:ac:11:00:07 lldp.capabilities=bridge,wlan-ap,router,station",
		"02:42:ac:11:00:07 lldp.chassis_id=02:42:ac:11:00:07",
		"02:42:ac:11:00:07 lldp.management_address=192.0.2.10",
		"02:42:ac:11:00:07 lldp.med_asset_id=ASSET-0042",
		"02:42:ac:11:00:07 lldp.med_class=endpoint class I",
		"02:42:ac:11:00:07 lldp.port_description=vl0",
		"02:42:ac:11:00:07 lldp.port_id=02:42:ac:11:00:07",
		"02:42:ac:11:00:07 lldp.system_description=Vigil test endpoint (lldpd 1.0.16 on Debian 12)",
		"02:42:ac:11:00:07 lldp.system_name=pump-ward3-07.example.org",
		"02:42:ac:11:00:07 model=VT-Infusion 100",
		"02:42:ac:11:00:07 serial=SN-TEST-000123",
		"02:42:ac:11:00:07 software_version=SW 4.3.2",
		"02:42:ac:11:00:07 vendor=Vigil Test Devices",
	}},
}

func TestCaptures(t *testing.T) {
	for _, c := range captures {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			out, errs := dpitest.DissectFrames(t, New(), dpitest.Frames(t, dpitest.Pcap(t, c.file)))
			for i, err := range errs {
				if !errors.Is(err, c.wantErr) {
					t.Errorf("frame %d: error %v, want %v", i+1, err, c.wantErr)
				}
			}
			if diff := cmp.Diff(c.want, facts(t, out.Observations)); diff != "" {
				t.Errorf("facts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPipeline runs the captures through the sensor pipeline: the frames
// it builds must give the same facts.
func TestPipeline(t *testing.T) {
	for _, c := range captures {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			res := dpitest.Run(t, []string{dpitest.Pcap(t, c.file)}, New())
			if diff := cmp.Diff(c.want, facts(t, res.Observations)); diff != "" {
				t.Errorf("facts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestObservation(t *testing.T) {
	frames := dpitest.Frames(t, "testdata/lldpd-med-inventory.pcap")
	f := frames[0]
	f.VLAN = 12
	var out dpi.Output
	if err := New().DissectFrame(&f, &out); err != nil {
		t.Fatal(err)
	}
	want := events.Observation{
		Device: "mac:02:42:ac:11:00:07/12", MAC: "02:42:ac:11:00:07", VLAN: 12,
		Attribute: dpi.AttrSerial, Value: "SN-TEST-000123", Protocol: "lldp",
		Confidence: 0.95, Evidence: "LLDP-MED serial number TLV",
	}
	i := slices.IndexFunc(out.Observations, func(o events.Observation) bool { return o.Attribute == dpi.AttrSerial })
	if i < 0 {
		t.Fatal("no serial number")
	}
	if diff := cmp.Diff(want, out.Observations[i]); diff != "" {
		t.Errorf("serial observation (-want +got):\n%s", diff)
	}
}

func TestMalformed(t *testing.T) {
	mac := [6]byte{0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc}
	cases := []struct {
		name    string
		payload []byte
		want    error
		facts   int
	}{
		{"empty", nil, ErrMissingMandatory, 0},
		{"one byte", []byte{0x02}, ErrTruncated, 0},
		{"TLV past the end", []byte{0x02, 0x07, 0x04, 0x00}, ErrTruncated, 0},
		// chassis ID then a system name cut short: the chassis is kept.
		{"cut after chassis", []byte{0x02, 0x07, 0x04, 0, 0x1b, 0x21, 0xaa, 0xbb, 0xcc, 0x0a, 0x09, 'a'}, ErrTruncated, 1},
		{"no port ID", []byte{0x02, 0x07, 0x04, 0, 0x1b, 0x21, 0xaa, 0xbb, 0xcc, 0, 0}, ErrMissingMandatory, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out dpi.Output
			err := New().DissectFrame(&dpi.Frame{SrcMAC: mac, EtherType: EtherType, Payload: c.payload}, &out)
			if !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
			if len(out.Observations) != c.facts {
				t.Errorf("%d observations, want %d", len(out.Observations), c.facts)
			}
		})
	}
}

func TestCapabilities(t *testing.T) {
	for bits, want := range map[uint16]string{0: "", 0x0014: "bridge,router", 0x0024: "bridge,telephone", 0xffff: "other,repeater,bridge,wlan-ap,router,telephone,docsis,station,c-vlan,s-vlan,tpmr"} {
		if got := Capabilities(bits); got != want {
			t.Errorf("Capabilities(%#x) = %q, want %q", bits, got, want)
		}
	}
}

func FuzzDissectFrame(f *testing.F) {
	for _, c := range captures {
		for _, fr := range dpitest.Frames(f, dpitest.Pcap(f, c.file)) {
			f.Add(fr.Payload)
		}
	}
	f.Add([]byte{0x02, 0x07, 0x04, 0, 0x1b, 0x21, 0xaa, 0xbb, 0xcc, 0x10, 0x0c, 0x05, 0x01, 10, 0, 0, 1, 0x02, 0, 0, 0, 1, 0})
	f.Add([]byte{0xfe, 0x08, 0x00, 0x12, 0xbb, 0x08, 'S', 'N', '1', 0})
	d := New()
	f.Fuzz(func(t *testing.T, b []byte) {
		var out dpi.Output
		_ = d.DissectFrame(&dpi.Frame{SrcMAC: [6]byte{2, 0, 0, 0, 0, 1}, EtherType: EtherType, Payload: b}, &out)
		dpitest.CheckValues(t, out.Observations)
	})
}
