package ssdp

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
)

type fact struct{ IP, Attr, Value string }

// captures pairs the SSDP captures with the facts they hold, each
// checked with tshark:
//
//	tshark -r FILE -Y ssdp -T fields -e ip.src -e http.request.method \
//	    -e http.response.code -e http.server -e http.location \
//	    -e http.user_agent -e http.unknown_header
//	tshark -r FILE -Y 'udp && udp.payload contains "M-SEARCH"' | wc -l
//
// ssdp-m-search.pcap holds 19 bare "M-SEARCH * HTTP/1.1" lines to port
// 32412 (Plex GDM) that tshark leaves undissected; upnp.pcap holds
// WS-Discovery (port 3702), not SSDP, despite its name;
// smb-on-windows-10.pcap 8 M-SEARCHes of Windows without USER-AGENT.
// testdata/minidlna.pcap (see README) holds 12 byebye and 12 alive
// NOTIFYs of MiniDLNA, 4 M-SEARCHes of upnpc and one answer.
var captures = []struct {
	file                      string
	local                     bool
	facts                     []fact
	notify, search, responses uint64
}{
	{file: "OISF_suricata-verify/tests/sip-ssdp-pm/ssdp.pcap", facts: []fact{
		{"192.168.1.1", AttrLocation, "http://192.168.1.1:7406/rootDesc.xml"},
		{"192.168.1.1", dpi.AttrSSDPServer, "UPnP/Tomato 1.28.7500 MIPSR2Toastman-RT K26 USB Ext UPnP/1.0 MiniUPnPd/1.6"},
		{"192.168.1.1", dpi.AttrSSDPUSN, "04645c3d-e6b4-4eea-bd35-5c320c12969f"},
	}, notify: 1},
	{file: "ntop_nDPI/tests/cfgs/default/pcap/ssdp-m-search-ua.pcap", facts: []fact{
		{"192.168.242.50", dpi.AttrHTTPUserAgent, "Google Chrome/99.0.4844.74 Mac OS X"},
	}, search: 4},
	{file: "ntop_nDPI/tests/cfgs/default/pcap/ssdp-m-search.pcap", search: 19},
	{file: "ntop_nDPI/tests/cfgs/default/pcap/upnp.pcap"},
	{file: "packetrat_packethunting/smb-on-windows-10.pcap", search: 8},
	{file: "testdata/minidlna.pcap", local: true, facts: []fact{
		{"192.0.2.10", dpi.AttrSSDPUSN, "4d696e69-444c-164e-9d41-3640b7df6678"},
		{"192.0.2.10", AttrDeviceType, "urn:schemas-upnp-org:device:MediaServer:1"},
		{"192.0.2.10", AttrLocation, "http://192.0.2.10:8200/rootDesc.xml"},
		{"192.0.2.10", dpi.AttrSSDPServer, "Debian DLNADOC/1.50 UPnP/1.0 MiniDLNA/1.3.0"},
	}, notify: 24, search: 4, responses: 1},
}

func TestCaptures(t *testing.T) {
	for _, c := range captures {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			res := dpitest.Run(t, []string{dpitest.Pcap(t, c.file)}, dpi.SSDP{}, New())
			if res.Stats.DissectErrors != 0 {
				t.Errorf("%d dissect errors", res.Stats.DissectErrors)
			}
			if diff := cmp.Diff(c.facts, dpitest.DistinctFacts[fact](res.Observations)); diff != "" {
				t.Errorf("facts (-want +got):\n%s", diff)
			}
			got := [3]uint64{res.Counter(CounterNotify), res.Counter(CounterSearch), res.Counter(CounterResponses)}
			if want := [3]uint64{c.notify, c.search, c.responses}; got != want {
				t.Errorf("counted notify, m-search, responses %v, want %v", got, want)
			}
		})
	}
}
