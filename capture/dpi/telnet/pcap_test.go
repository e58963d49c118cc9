package telnet_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpi/telnet"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
)

// fact is the part of an observation the capture tests compare.
type fact struct{ IP, Attr, Value string }

type auth struct {
	Client, Server string
	Result         events.AuthResult
	Reason         string
}

func auths(res dpitest.Result) []auth {
	var out []auth
	for _, a := range res.Auths {
		if a.Protocol != "telnet" || a.Method != "password" || a.Principal != "" {
			panic("unexpected auth fields")
		}
		out = append(out, auth{a.Client.IP, a.Server.IP, a.Result, a.Reason})
	}
	return out
}

// The banner values were checked with
//
//	tshark -r FILE -Y 'tcp.srcport==23 && telnet.data' -T fields -e frame.number -e telnet.data
//
// which shows the server text before "login:" (telnet.pcap frame 27:
// "\r\n,OpenBSD/i386 (oof) (ttyp2)\r\n,\r\n"; debian-telnetd-login.pcap
// frame 21: "\r\n,Linux 6.18.44-fc-v657 (localhost) (pts/2)\r\n,\r\n,vm login: ").
// Verdicts: telnet.pcap prints "Last login:" after the password,
// Telnet-login.pcap a "$ " prompt, the Debian capture "Login incorrect"
// and then, on the second try, a "$ " prompt.
func TestCaptures(t *testing.T) {
	cases := []struct {
		file  string
		facts []fact
		auths []auth
	}{
		{"ntop_nDPI/tests/cfgs/default/pcap/telnet.pcap",
			[]fact{
				{"192.168.0.2", dpi.AttrInsecureProtocol, "telnet"},
				{"192.168.0.1", dpi.AttrInsecureProtocol, "telnet"},
				{"192.168.0.1", dpi.AttrTelnetBanner, "OpenBSD/i386 (oof) (ttyp2)"},
				{"192.168.0.2", dpi.AttrCleartextCredential, "telnet login"},
				{"192.168.0.1", dpi.AttrCleartextCredential, "telnet login"},
			},
			[]auth{{"192.168.0.2", "192.168.0.1", events.AuthSuccess, ""}}},
		{"packetrat_packethunting/Telnet-login.pcap",
			[]fact{
				{"192.168.1.140", dpi.AttrInsecureProtocol, "telnet"},
				{"192.168.1.194", dpi.AttrInsecureProtocol, "telnet"},
				{"192.168.1.140", dpi.AttrCleartextCredential, "telnet login"},
				{"192.168.1.194", dpi.AttrCleartextCredential, "telnet login"},
			},
			[]auth{{"192.168.1.140", "192.168.1.194", events.AuthSuccess, ""}}},
		{"testdata/debian-telnetd-login.pcap",
			[]fact{
				{"127.0.0.1", dpi.AttrInsecureProtocol, "telnet"},
				{"127.0.0.1", dpi.AttrInsecureProtocol, "telnet"},
				{"127.0.0.1", dpi.AttrTelnetBanner, "Linux 6.18.44-fc-v657 (localhost) (pts/2) vm"},
				{"127.0.0.1", dpi.AttrCleartextCredential, "telnet login"},
				{"127.0.0.1", dpi.AttrCleartextCredential, "telnet login"},
			},
			[]auth{
				{"127.0.0.1", "127.0.0.1", events.AuthFailure, "login incorrect"},
				{"127.0.0.1", "127.0.0.1", events.AuthSuccess, ""},
			}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			res := dpitest.Run(t, []string{dpitest.Pcap(t, c.file)}, dpi.Telnet{}, telnet.New())
			if diff := cmp.Diff(c.facts, dpitest.Facts[fact](res.Observations)); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.auths, auths(res)); diff != "" {
				t.Errorf("auths (-want +got):\n%s", diff)
			}
			if res.Stats.DissectErrors != 0 {
				t.Errorf("%d dissect errors", res.Stats.DissectErrors)
			}
			// The typed user names and passwords of these captures never
			// come out.
			for _, o := range res.Observations {
				for _, secret := range []string{"fake", "user", "test", "capture", "vigiltest", "wrong-password", "Corr3ct-Horse"} {
					if o.Attribute != dpi.AttrTelnetBanner && o.Value == secret || o.Attribute == dpi.AttrTelnetBanner && strings.Contains(o.Value, secret) {
						t.Errorf("typed text %q published in %+v", secret, o)
					}
				}
			}
		})
	}
}
