package netbios

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/internal/testshared"
)

type fact struct{ IP, Attr, Value string }

// names returns the NetBIOS name and host name facts of ip.
func names(ip, name string) []fact {
	return []fact{{ip, dpi.AttrNetBIOSName, name}, {ip, dpi.AttrHostname, name}}
}

func concat(parts ...[]fact) []fact {
	var out []fact
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// captures pairs the NetBIOS captures with the facts they hold, each
// checked with the tshark commands of TestDissect (the registrations,
// responses and announcements of each file), and with
//
//	tshark -r FILE -Y nbns | wc -l; tshark -r FILE -Y nbdgm | wc -l
//	tshark -r FILE -Y 'browser.command==0x01 || browser.command==0x0c || \
//	    browser.command==0x0f' | wc -l
//
// for the counters. Names with suffix 0x03 (MARTIN ROSENAU<03> in
// nbns.pcap), 0x1b-0x1e and __MSBROWSE__ give nothing; the browser
// announcements of Windows 98 (nbns.pcap, OS 4.0, no NT bit), of an OKI
// printer (snmp-public.pcap) and the domain announcements of Samba
// (tor.pcap, smb-on-windows-10.pcap frame 801, version 3.10) give no OS.
// The positive response of frame 180 in smb-on-windows-10.pcap names SCV
// at 192.168.199.1 and 192.168.10.1: the sender's address is one of them.
var captures = []struct {
	file                         string
	facts                        []fact
	ns, datagrams, announcements uint64
}{
	{"arkime_arkime/tests/pcap/nbns.pcap", concat(
		[]fact{{"192.168.239.129", dpi.AttrNetBIOSGroup, "WORKGROUP"}},
		names("192.168.239.129", "MDJR98"),
		[]fact{{"192.168.239.129", AttrServerType, "workstation,server,wfw,windows95"}},
	), 46, 15, 4},
	{"ntop_nDPI/tests/cfgs/default/pcap/netbios.pcap", concat(
		names("10.0.5.9", "NVR9"),
		[]fact{
			{"10.0.5.9", dpi.AttrNetBIOSGroup, "VIGILANT_GROUP"},
			{"10.0.5.9", dpi.AttrOS, "Windows 6.1"},
			{"10.0.5.9", AttrServerType, "workstation,server,sql,nt"},
		},
		names("10.0.4.24", "GUNNAR"),
		[]fact{{"10.0.4.24", dpi.AttrNetBIOSGroup, "VIGILANT_GROUP"}},
		names("10.0.5.1", "GURU"),
		names("10.0.5.93", "BOWIE"),
		[]fact{
			{"10.0.5.93", dpi.AttrNetBIOSGroup, "VIGILANT_GROUP"},
			{"10.0.5.93", dpi.AttrOS, "Windows 6.1"},
			{"10.0.5.93", AttrServerType, "workstation,server,sql,nt"},
		},
	), 256, 2, 2},
	{"packetrat_packethunting/snmp-public.pcap", concat(
		names("172.31.19.73", "OKI-15E6BC"),
		[]fact{
			{"172.31.19.73", dpi.AttrNetBIOSGroup, "WORKGROUP"},
			{"172.31.19.73", AttrServerType, "workstation,server,print,wfw,windows95"},
		},
	), 24, 2, 1},
	{"ITI_ICS-Security-Tools/pcaps/IEC60870-5-104/090813_diverse.pcap", concat(
		names("10.0.0.10", "EVON"),
		[]fact{
			{"10.0.0.10", dpi.AttrNetBIOSGroup, "ARBETSGRUPP"},
			{"10.0.0.10", dpi.AttrOS, "Windows 5.1"},
			{"10.0.0.10", AttrServerType, "workstation,server,nt"},
		},
	), 0, 1, 1},
	{"ntop_nDPI/tests/cfgs/default/pcap/tor.pcap", concat(
		names("192.168.1.252", "ENDIAN-PC"),
		[]fact{{"192.168.1.252", dpi.AttrNetBIOSGroup, "WORKGROUP"}},
	), 0, 1, 1},
	{"zeek_zeek/testing/btest/Traces/smtp.pcap", concat(
		names("10.10.1.20", "MIT-3D655AA09DD"),
		[]fact{
			{"10.10.1.20", dpi.AttrNetBIOSGroup, "WORKGROUP"},
			{"10.10.1.20", dpi.AttrOS, "Windows 5.1"},
			{"10.10.1.20", AttrServerType, "workstation,server,nt"},
		},
	), 0, 1, 1},
	{"ITI_ICS-Security-Tools/pcaps/openics/EIP-FirmwareChange.pcap", concat(
		names("192.168.10.22", "WIN2K3LAB022"),
		[]fact{
			{"192.168.10.22", dpi.AttrNetBIOSGroup, "WORKGROUP"},
			{"192.168.10.22", dpi.AttrOS, "Windows 5.2"},
			{"192.168.10.22", AttrServerType, "workstation,server,nt,nt_server,dfs"},
		},
	), 0, 1, 1},
	{"packetrat_packethunting/smb-on-windows-10.pcap", concat(
		names("192.168.199.1", "SCV"),
		names("192.168.199.133", "DESKTOP-V1FA0UQ"),
		[]fact{
			{"192.168.199.133", dpi.AttrNetBIOSGroup, "WORKGROUP"},
			{"192.168.199.133", dpi.AttrOS, "Windows 10.0"},
			{"192.168.199.133", AttrServerType, "workstation,server,nt"},
			{"192.168.199.1", dpi.AttrNetBIOSGroup, "WORKGROUP"},
			{"192.168.199.1", dpi.AttrOS, "Windows 6.3"},
			{"192.168.199.1", AttrServerType, "workstation,server,nt"},
		},
		names("192.168.199.132", "DESKTOP-2AEFM7G"),
		[]fact{{"192.168.199.132", dpi.AttrNetBIOSGroup, "WORKGROUP"}},
	), 84, 15, 8},
}

func TestCaptures(t *testing.T) {
	for _, c := range captures {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			res := dpitest.Run(t, []string{testshared.Pcap(t, c.file)}, dpi.NetBIOSNS{}, dpi.NetBIOSDGM{}, New())
			if res.Stats.DissectErrors != 0 {
				t.Errorf("%d dissect errors", res.Stats.DissectErrors)
			}
			if diff := cmp.Diff(c.facts, dpitest.DistinctFacts[fact](res.Observations)); diff != "" {
				t.Errorf("facts (-want +got):\n%s", diff)
			}
			got := [3]uint64{res.Counter(CounterNameService), res.Counter(CounterDatagrams), res.Counter(CounterAnnouncements)}
			if want := [3]uint64{c.ns, c.datagrams, c.announcements}; got != want {
				t.Errorf("counted name service, datagrams, announcements %v, want %v", got, want)
			}
		})
	}
}

// TestServerCommentNeverPublished: a browser announcement's comment is
// free text ("Chandra's cube" names a person); no output may carry it.
func TestServerCommentNeverPublished(t *testing.T) {
	res := dpitest.Run(t, []string{testshared.Pcap(t, "packetrat_packethunting/snmp-public.pcap")}, dpi.NetBIOSNS{}, dpi.NetBIOSDGM{}, New())
	for _, o := range res.Observations {
		if strings.Contains(o.Value, "Chandra") || strings.Contains(o.Evidence, "Chandra") {
			t.Errorf("free text published: %+v", o)
		}
	}
}
