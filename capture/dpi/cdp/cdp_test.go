package cdp

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

// facts summarises observations as sorted, distinct "mac attr=value"
// lines, each checked against the device key.
func facts(t testing.TB, obs []events.Observation) []string {
	t.Helper()
	for _, o := range obs {
		if o.Device != events.DeviceKey(o.MAC, "", o.VLAN) || o.Protocol != Protocol || o.IP != "" {
			t.Errorf("observation badly keyed: %+v", o)
		}
	}
	return dpitest.Summary(obs, func(o events.Observation) string { return o.MAC })
}

// The expected values were read with
//
//	tshark -r FILE -Y cdp -T fields -e eth.src -e cdp.deviceid \
//	  -e cdp.platform -e cdp.portid -e cdp.capabilities \
//	  -e cdp.nrgyz.ip_address -e cdp.software_version
//
// (tshark joins the banner's lines with commas; dpi.Text makes the
// newlines spaces). Capabilities 0x28 are switch (0x08) and IGMP (0x20),
// 0x01 is router. The 0.0.0.0 addresses of LLDP_and_CDP.pcap are not
// reported. The versions agree with tcpdump's cdp-v.out and
// lldp_cdp-ev.out.
var captures = []struct {
	file string
	want []string
}{
	{"the-tcpdump-group_tcpdump/tests/3560_CDP.pcap", []string{
		"00:19:06:ea:b8:85 cdp.capabilities=switch,igmp",
		"00:19:06:ea:b8:85 cdp.device_id=Switch",
		"00:19:06:ea:b8:85 cdp.platform=cisco WS-C3560G-24PS",
		"00:19:06:ea:b8:85 cdp.port_id=GigabitEthernet0/5",
		"00:19:06:ea:b8:85 cdp.software_version=Cisco IOS Software, C3560 Software (C3560-ADVIPSERVICESK9-M), Version 12.2(25)SEB4, RELEASE SOFTWARE (fc1) Copyright (c) 1986-2005 by Cisco Systems, Inc. Compiled Tue 30-Aug-05 17:56 by yenanh",
		"00:19:06:ea:b8:85 hostname=Switch",
		"00:19:06:ea:b8:85 ip=192.168.0.1",
		"00:19:06:ea:b8:85 model=WS-C3560G-24PS",
		"00:19:06:ea:b8:85 software_version=12.2(25)SEB4",
	}},
	{"the-tcpdump-group_tcpdump/tests/LLDP_and_CDP.pcap", []string{
		"00:18:ba:98:68:8f cdp.capabilities=switch,igmp",
		"00:18:ba:98:68:8f cdp.device_id=S1",
		"00:18:ba:98:68:8f cdp.platform=cisco WS-C3560-24TS",
		"00:18:ba:98:68:8f cdp.port_id=FastEthernet0/13",
		"00:18:ba:98:68:8f cdp.software_version=Cisco IOS Software, C3560 Software (C3560-ADVIPSERVICESK9-M), Version 12.2(44)SE, RELEASE SOFTWARE (fc1) Copyright (c) 1986-2008 by Cisco Systems, Inc. Compiled Sat 05-Jan-08 00:15 by weiliu",
		"00:18:ba:98:68:8f hostname=S1",
		"00:18:ba:98:68:8f model=WS-C3560-24TS",
		"00:18:ba:98:68:8f software_version=12.2(44)SE",
		"00:19:2f:a7:b2:8d cdp.capabilities=switch,igmp",
		"00:19:2f:a7:b2:8d cdp.device_id=S2",
		"00:19:2f:a7:b2:8d cdp.platform=cisco WS-C3560G-24PS",
		"00:19:2f:a7:b2:8d cdp.port_id=GigabitEthernet0/13",
		"00:19:2f:a7:b2:8d cdp.software_version=Cisco IOS Software, C3560 Software (C3560-ADVIPSERVICESK9-M), Version 12.2(44)SE, RELEASE SOFTWARE (fc1) Copyright (c) 1986-2008 by Cisco Systems, Inc. Compiled Sat 05-Jan-08 00:15 by weiliu",
		"00:19:2f:a7:b2:8d hostname=S2",
		"00:19:2f:a7:b2:8d model=WS-C3560G-24PS",
		"00:19:2f:a7:b2:8d software_version=12.2(44)SE",
	}},
	// CDPv1 from a Cisco 1601 router (zeek snap-cdp).
	{"zeek_zeek/testing/btest/Traces/cdp-v1.pcap", []string{
		"00:e0:1e:d5:d5:15 cdp.capabilities=router",
		"00:e0:1e:d5:d5:15 cdp.device_id=R1",
		"00:e0:1e:d5:d5:15 cdp.platform=cisco 1601",
		"00:e0:1e:d5:d5:15 cdp.port_id=Ethernet0",
		"00:e0:1e:d5:d5:15 cdp.software_version=Cisco Internetwork Operating System Software IOS (tm) 1600 Software (C1600-NY-L), Version 11.2(12)P, RELEASE SOFTWARE (fc1) Copyright (c) 1986-1998 by cisco Systems, Inc. Compiled Tue 03-Mar-98 06:33 by dschwart",
		"00:e0:1e:d5:d5:15 hostname=R1",
		"00:e0:1e:d5:d5:15 ip=192.168.10.1",
		"00:e0:1e:d5:d5:15 model=1601",
		"00:e0:1e:d5:d5:15 software_version=11.2(12)P",
	}},
	// A Catalyst Express 500 among EtherNet/IP traffic.
	{"ITI_ICS-Security-Tools/pcaps/openics/EIP-FirmwareChange.pcap", []string{
		"00:1e:f6:73:59:81 cdp.capabilities=switch,igmp",
		"00:1e:f6:73:59:81 cdp.device_id=Ns5gt",
		"00:1e:f6:73:59:81 cdp.platform=cisco WS-CE500-24TT",
		"00:1e:f6:73:59:81 cdp.port_id=GigabitEthernet1",
		"00:1e:f6:73:59:81 cdp.software_version=Cisco IOS Software, CE500 Software (CE500-LANBASE-M), Version 12.2(25)SEG4, RELEASE SOFTWARE (fc1) Copyright (c) 1986-2007 by Cisco Systems, Inc. Compiled Mon 13-Aug-07 17:34 by yenanh",
		"00:1e:f6:73:59:81 hostname=Ns5gt",
		"00:1e:f6:73:59:81 ip=192.168.10.253",
		"00:1e:f6:73:59:81 model=WS-CE500-24TT",
		"00:1e:f6:73:59:81 software_version=12.2(25)SEG4",
	}},
}

func TestCaptures(t *testing.T) {
	for _, c := range captures {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			out, errs := dpitest.DissectFrames(t, New(), dpitest.Frames(t, testshared.Pcap(t, c.file)))
			for i, err := range errs {
				if err != nil {
					t.Errorf("frame %d: %v", i+1, err)
				}
			}
			if diff := cmp.Diff(c.want, facts(t, out.Observations)); diff != "" {
				t.Errorf("facts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPipeline runs the captures through the sensor pipeline, which
// builds the frames with its own LLC/SNAP decoding.
func TestPipeline(t *testing.T) {
	for _, c := range captures {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			res := dpitest.Run(t, []string{testshared.Pcap(t, c.file)}, New())
			if diff := cmp.Diff(c.want, facts(t, res.Observations)); diff != "" {
				t.Errorf("facts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestObservation(t *testing.T) {
	frames := dpitest.Frames(t, testshared.Pcap(t, "zeek_zeek/testing/btest/Traces/cdp-v1.pcap"))
	f := frames[0]
	f.VLAN = 3
	var out dpi.Output
	if err := New().DissectFrame(&f, &out); err != nil {
		t.Fatal(err)
	}
	want := events.Observation{
		Device: "mac:00:e0:1e:d5:d5:15/3", MAC: "00:e0:1e:d5:d5:15", VLAN: 3,
		Attribute: dpi.AttrModel, Value: "1601", Protocol: "cdp",
		Confidence: 0.8, Evidence: "CDP platform TLV",
	}
	i := slices.IndexFunc(out.Observations, func(o events.Observation) bool { return o.Attribute == dpi.AttrModel })
	if i < 0 {
		t.Fatal("no model")
	}
	if diff := cmp.Diff(want, out.Observations[i]); diff != "" {
		t.Errorf("model observation (-want +got):\n%s", diff)
	}
}

func TestMalformed(t *testing.T) {
	mac := [6]byte{0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc}
	hdr := []byte{2, 180, 0, 0}
	cases := []struct {
		name    string
		src     [6]byte
		payload []byte
		want    error
		facts   int
	}{
		{"short", mac, []byte{2, 180}, ErrTruncated, 0},
		{"version 3", mac, []byte{3, 180, 0, 0}, ErrVersion, 0},
		{"multicast source", [6]byte{1, 0, 0x0c, 0xcc, 0xcc, 0xcc}, hdr, ErrNoSender, 0},
		{"TLV length 2", mac, append(hdr, 0, 1, 0, 2), ErrTLVLength, 0},
		{"TLV past the end", mac, append(hdr, 0, 1, 0, 9, 'a'), ErrTruncated, 0},
		// a device ID then a cut platform: the device ID is kept (and
		// read as a host name).
		{"cut after device ID", mac, append(hdr, 0, 1, 0, 6, 'S', '1', 0, 6, 0, 20, 'c'), ErrTruncated, 2},
		{"address count beyond data", mac, append(hdr, 0, 2, 0, 8, 0xff, 0xff, 0xff, 0xff), nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out dpi.Output
			err := New().DissectFrame(&dpi.Frame{SrcMAC: c.src, SNAPOrg: SNAPOrg, SNAPPID: SNAPPID, Payload: c.payload}, &out)
			if !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
			if len(out.Observations) != c.facts {
				t.Errorf("%d observations, want %d", len(out.Observations), c.facts)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for banner, want := range map[string]string{
		"Cisco IOS Software, C3560 Software (C3560-ADVIPSERVICESK9-M), Version 12.2(44)SE, RELEASE SOFTWARE (fc1)": "12.2(44)SE",
		"Cisco Nexus Operating System (NX-OS) Software, Version 7.0(3)I7(6)":                                       "7.0(3)I7(6)",
		"SCCP75.9-3-1SR2-1S": "",
	} {
		if got := Version(banner); got != want {
			t.Errorf("Version(%q) = %q, want %q", banner, got, want)
		}
	}
}

func FuzzDissectFrame(f *testing.F) {
	for _, c := range captures {
		for _, fr := range dpitest.Frames(f, testshared.Pcap(f, c.file)) {
			if fr.SNAPPID == SNAPPID {
				f.Add(fr.Payload)
			}
		}
	}
	d := New()
	f.Fuzz(func(t *testing.T, b []byte) {
		var out dpi.Output
		_ = d.DissectFrame(&dpi.Frame{SrcMAC: [6]byte{2, 0, 0, 0, 0, 1}, SNAPOrg: SNAPOrg, SNAPPID: SNAPPID, Payload: b}, &out)
		dpitest.CheckValues(t, out.Observations)
	})
}
