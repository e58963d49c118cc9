package http_test

import (
	"bufio"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpi/http"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

// notIdentified are tshark facts of requests the HTTP identifier does not
// recognise (a request line "GET . HTTP/1.0"), so no dissector sees them.
var notIdentified = []string{
	"ntop_nDPI/tests/cfgs/default/pcap/WebattackRCE.pcap|127.0.0.1|http.user_agent|Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:headers: WebLogic internal IP)",
}

// TestCaptures compares the User-Agent, Host and Server facts of every
// HTTP capture of the shared corpus with tshark's (testdata/tshark-http.txt
// says how they were produced). This covers pipelined keep-alive
// connections, Content-Length and chunked bodies in both directions,
// HEAD, 304 and 1xx responses, header blocks split across segments
// (nDPI http_ua_splitted_in_two_pkts) and Zeek's malformed methods.pcap.
func TestCaptures(t *testing.T) {
	f, err := os.Open("testdata/tshark-http.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" || slices.Contains(notIdentified, line) {
			continue
		}
		file, fact, _ := strings.Cut(line, "|")
		if f := strings.Split(fact, "|"); f[1] == "http.host@server" && isAddress(f[2]) {
			continue // an address is not a name the server serves
		}
		want[file] = append(want[file], fact)
	}
	files := slices.Sorted(maps.Keys(want))
	total := 0
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			res := dpitest.Run(t, []string{testshared.Pcap(t, file)}, http.New())
			var got []string
			for _, o := range res.Observations {
				switch o.Attribute {
				case dpi.AttrHTTPUserAgent, dpi.AttrHTTPHost, dpi.AttrHTTPServer:
					attr := o.Attribute
					if attr == dpi.AttrHTTPHost && o.Confidence < 0.9 {
						attr += "@server" // the Host about the server
					}
					f := o.IP + "|" + attr + "|" + o.Value
					if !slices.Contains(got, f) {
						got = append(got, f)
					}
				}
			}
			slices.Sort(got)
			slices.Sort(want[file])
			if diff := cmp.Diff(want[file], got); diff != "" {
				t.Errorf("facts (-tshark +dissector):\n%s", diff)
			}
			if res.Stats.DissectErrors != 0 {
				t.Errorf("%d dissector errors", res.Stats.DissectErrors)
			}
			total += len(got)
		})
	}
	t.Logf("%d distinct facts in %d captures matched tshark", total, len(files))
}

func isAddress(host string) bool {
	if ap, err := netip.ParseAddrPort(host); err == nil && ap.Addr().IsValid() {
		return true
	}
	_, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil
}

// TestAuth checks authentication attempts and cleartext-credential facts.
// Oracles (tshark -r FILE -Y http -T fields -e ip.src -e http.authorization
// -e ntlmssp.messagetype -e http.response.code; for forms
// -e urlencoded-form.key):
//   - arkime http-basicauth: Basic, answered 304;
//   - nDPI http_auth: Basic, answered 401;
//   - Zeek http-basic-auth-colon: Basic, answered 200 (http.log username
//     "test", status 200);
//   - chrissanders http_dvwa_clearlogin: POST form with a "password"
//     key, answered 302 either way;
//   - packetrat HTTP-password: POST form with a "pwd" key, answered 200;
//   - nDPI webdav: seven NTLM handshakes, type 1 answered 401 with the
//     challenge (not an attempt), type 3 answered 403 once and 400/405
//     otherwise (unknown).
func TestAuth(t *testing.T) {
	type attempt struct {
		Client, Server, Method string
		Result                 events.AuthResult
		Reason                 string
	}
	type cred struct{ IP, Value string }
	cases := []struct {
		file  string
		auths []attempt
		creds []cred
	}{
		{"arkime_arkime/tests/pcap/http-basicauth.pcap",
			[]attempt{{"10.0.0.2", "10.0.0.1", "basic", events.AuthSuccess, ""}},
			[]cred{{"10.0.0.2", "http basic"}, {"10.0.0.1", "http basic"}}},
		{"ntop_nDPI/tests/cfgs/default/pcap/http_auth.pcap",
			[]attempt{{"192.168.0.4", "192.254.189.169", "basic", events.AuthFailure, "401"}},
			[]cred{{"192.168.0.4", "http basic"}, {"192.254.189.169", "http basic"}}},
		{"zeek_zeek/testing/btest/Traces/http/basic-auth-with-colon.pcap",
			[]attempt{{"172.24.133.205", "172.24.133.205", "basic", events.AuthSuccess, ""}},
			[]cred{{"172.24.133.205", "http basic"}, {"172.24.133.205", "http basic"}}},
		{"chrissanders_packets/http_dvwa_clearlogin.pcapng",
			[]attempt{{"10.2.2.101", "10.2.2.104", "form", events.AuthUnknown, ""}},
			[]cred{{"10.2.2.101", "http form"}, {"10.2.2.104", "http form"}}},
		{"packetrat_packethunting/HTTP-password.pcap",
			[]attempt{{"192.168.56.1", "192.168.56.101", "form", events.AuthUnknown, ""}},
			[]cred{{"192.168.56.1", "http form"}, {"192.168.56.101", "http form"}}},
		{"ntop_nDPI/tests/cfgs/default/pcap/webdav.pcap",
			[]attempt{
				{"192.168.16.173", "198.244.151.63", "ntlm", events.AuthUnknown, ""},
				{"192.168.16.173", "198.244.151.63", "ntlm", events.AuthUnknown, ""},
				{"192.168.16.173", "198.244.151.63", "ntlm", events.AuthUnknown, ""},
				{"192.168.16.173", "198.244.151.63", "ntlm", events.AuthUnknown, ""},
				{"192.168.16.173", "198.244.151.63", "ntlm", events.AuthUnknown, ""},
				{"192.168.16.173", "198.244.151.63", "ntlm", events.AuthFailure, "403"},
				{"192.168.16.173", "198.244.151.63", "ntlm", events.AuthUnknown, ""},
			}, nil},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			res := dpitest.Run(t, []string{testshared.Pcap(t, c.file)}, http.New())
			var auths []attempt
			for _, a := range res.Auths {
				if a.Principal != "" || a.Protocol != "http" {
					t.Errorf("auth %+v: principal or protocol", a)
				}
				auths = append(auths, attempt{a.Client.IP, a.Server.IP, a.Method, a.Result, a.Reason})
			}
			var creds []cred
			for _, o := range res.Observations {
				if o.Attribute == dpi.AttrCleartextCredential {
					creds = append(creds, cred{o.IP, o.Value})
				}
			}
			if diff := cmp.Diff(c.auths, auths); diff != "" {
				t.Errorf("auths (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.creds, creds); diff != "" {
				t.Errorf("cleartext credentials (-want +got):\n%s", diff)
			}
		})
	}
}
