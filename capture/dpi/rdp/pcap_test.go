package rdp_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpi/rdp"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/internal/testshared"
)

type fact struct{ IP, Attr, Value string }

// The values were checked with
//
//	tshark -r FILE -Y 'rdp.rt_cookie || rdp.negReq.requestedProtocols || rdp.negReq.selectedProtocol || rdp.client.name' \
//	    -T fields -e tcp.stream -e ip.src -e rdp.negReq.requestedProtocols \
//	    -e rdp.negReq.selectedProtocol -e rdp.client.name -e rdp.client.build
//
// and agree with Zeek's rdp.log (client_name FROG-POND, build "RDP 6.0"
// = 6000; JOHN-PC-LAPTOP, "RDP 8.1" = 9600). Connections that select TLS
// or CredSSP (rdp.pcap, rdp_over_tls.pcap, rdp-to-ssl.pcap,
// rdp-no-cookie-mstshash.pcap) or fail negotiation (the first connection
// of rdp-proprietary-encryption.pcap) tell nothing in clear.
func TestCaptures(t *testing.T) {
	standard := func(client, server string) []fact {
		return []fact{
			{client, dpi.AttrInsecureProtocol, "rdp-standard-security"},
			{server, dpi.AttrInsecureProtocol, "rdp-standard-security"},
		}
	}
	core := func(client, build, name string) []fact {
		return []fact{
			{client, dpi.AttrRDPClientBuild, build},
			{client, dpi.AttrRDPClientName, name},
			{client, dpi.AttrHostname, name},
		}
	}
	cases := []struct {
		file  string
		facts []fact
	}{
		{"zeek_zeek/testing/btest/Traces/rdp/rdp-x509.pcap",
			append(standard("192.168.1.1", "192.168.1.2"), core("192.168.1.1", "9600", "JOHN-PC-LAPTOP")...)},
		{"zeek_zeek/testing/btest/Traces/rdp/rdp-proprietary-encryption.pcap",
			append(standard("172.21.128.16", "10.226.24.52"), core("172.21.128.16", "6000", "FROG-POND")...)},
		{"ntop_nDPI/tests/cfgs/default/pcap/rdp3.pcap",
			append(standard("10.150.9.21", "10.157.4.161"), core("10.150.9.21", "2600", "SEPTU")...)},
		{"OISF_suricata-verify/tests/rdp-protocol/RDP-003.pcap",
			append(standard("10.226.41.226", "10.226.29.74"), core("10.226.41.226", "2600", "ISD2-KM84178")...)},
		{"ntop_nDPI/tests/cfgs/default/pcap/rdp.pcap", nil},
		{"ntop_nDPI/tests/cfgs/default/pcap/rdp_over_tls.pcap", nil},
		{"zeek_zeek/testing/btest/Traces/rdp/rdp-to-ssl.pcap", nil},
		{"zeek_zeek/testing/btest/Traces/rdp/rdp-no-cookie-mstshash.pcap", nil},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			res := dpitest.Run(t, []string{testshared.Pcap(t, c.file)}, dpi.RDP{}, rdp.New())
			if diff := cmp.Diff(c.facts, dpitest.Facts[fact](res.Observations)); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
			if len(res.Auths) != 0 {
				t.Errorf("auths %+v", res.Auths)
			}
			if res.Stats.DissectErrors != 0 {
				t.Errorf("%d dissect errors", res.Stats.DissectErrors)
			}
		})
	}
}
