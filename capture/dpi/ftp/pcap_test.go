package ftp_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpi/ftp"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

type auth struct {
	Client, Server, Principal string
	Result                    events.AuthResult
	Reason                    string
}

func count(res dpitest.Result, attr string) int {
	n := 0
	for _, o := range res.Observations {
		if o.Attribute == attr {
			n++
		}
	}
	return n
}

// The expected values were read with
//
//	tshark -r FILE -Y ftp -T fields -e tcp.stream -e ip.src -e ftp.request.command \
//	    -e ftp.request.arg -e ftp.response.code -e ftp.response.arg
//
// banners are the ftp.response.arg of the first 220 of each stream, the
// principal is "anonymous" where ftp.request.arg of USER is anonymous, and
// each verdict is the code answering USER or PASS (230 success, 421/530
// failure). Streams answered 234 to AUTH TLS give a banner and nothing else.
func TestCaptures(t *testing.T) {
	failure := func(c, s, principal, code string) auth { return auth{c, s, principal, events.AuthFailure, code} }
	success := func(c, s, principal string) auth { return auth{c, s, principal, events.AuthSuccess, ""} }
	pure := "--------- Welcome to Pure-FTPd [privsep] [TLS] ----------"
	repeat := func(a auth, n int) []auth {
		var out []auth
		for range n {
			out = append(out, a)
		}
		return out
	}
	cases := []struct {
		file        string
		banners     []string
		auths       []auth
		credentials int // observations: two per connection that sent PASS
		insecure    int
	}{
		{"ntop_nDPI/tests/cfgs/default/pcap/ftp_failed.pcap", []string{"(vsFTPd 3.0.3)"},
			[]auth{failure("2a00:d40:1:3:192:12:193:11", "2a00:800:1010::1", "", "530")}, 0, 2},
		{"zeek_zeek/testing/btest/Traces/ftp/ipv4.pcap", []string{"ftp.NetBSD.org FTP server (NetBSD-ftpd 20100320) ready."},
			[]auth{success("141.142.220.235", "199.233.217.249", "anonymous")}, 0, 2},
		{"zeek_zeek/testing/btest/Traces/ftp/ftp-auth-tls.pcap", []string{"(vsFTPd 3.0.5)"}, nil, 0, 0},
		{"OISF_suricata-verify/tests/ftp/ftp-bounce/test.pcap", []string{"Operation successful"},
			repeat(success("1.1.1.2", "2.2.2.1", "anonymous"), 2), 0, 4},
		{"ntop_nDPI/tests/cfgs/default/pcap/ftp.pcap", []string{"(vsFTPd 3.0.3)"},
			[]auth{success("192.168.1.212", "90.130.70.73", "anonymous")}, 0, 2},
		{"packetrat_packethunting/filezilla-ftp-leakage.pcap", []string{pure, "FZ router and firewall tester ready"},
			[]auth{
				failure("10.0.0.12", "162.241.224.77", "anonymous", "421"),
				failure("10.0.0.12", "162.241.224.77", "", "530"),
				failure("10.0.0.12", "162.241.224.77", "anonymous", "421"),
				failure("10.0.0.12", "162.241.224.77", "", "530"),
				failure("10.0.0.12", "162.241.224.77", "anonymous", "421"),
				failure("10.0.0.12", "162.241.224.77", "", "530"),
				failure("10.0.0.12", "162.241.224.77", "anonymous", "421"),
				success("10.0.0.12", "162.241.224.77", ""),
				success("10.0.0.11", "136.243.154.86", ""),
			}, 2 * 5, 2 * 9},
		{"zeek_zeek/testing/btest/Traces/ftp/bruteforce.pcap", []string{"redmint FTP server (Version 6.4/OpenBSD/Linux-ftpd-0.17) ready."},
			repeat(failure("192.168.56.1", "192.168.56.101", "", "530"), 30), 2 * 30, 2 * 30},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			res := dpitest.Run(t, []string{testshared.Pcap(t, c.file)}, dpi.FTP{}, ftp.New())
			if diff := cmp.Diff(c.banners, res.Values(dpi.AttrFTPBanner)); diff != "" {
				t.Errorf("banners (-want +got):\n%s", diff)
			}
			var got []auth
			for _, a := range res.Auths {
				if a.Protocol != "ftp" || a.Method != "password" {
					t.Errorf("auth %+v", a)
				}
				got = append(got, auth{a.Client.IP, a.Server.IP, a.Principal, a.Result, a.Reason})
			}
			if diff := cmp.Diff(c.auths, got); diff != "" {
				t.Errorf("auths (-want +got):\n%s", diff)
			}
			if n := count(res, dpi.AttrCleartextCredential); n != c.credentials {
				t.Errorf("%d cleartext credential observations, want %d", n, c.credentials)
			}
			if n := count(res, dpi.AttrInsecureProtocol); n != c.insecure {
				t.Errorf("%d insecure protocol observations, want %d", n, c.insecure)
			}
			if res.Stats.DissectErrors != 0 {
				t.Errorf("%d dissect errors", res.Stats.DissectErrors)
			}
			// Passwords of these captures (PASS arguments) never come out.
			for _, o := range res.Observations {
				for _, secret := range []string{"areallybadpassword", "sean", "bro", "NcFTP@", "test"} {
					if o.Value == secret {
						t.Errorf("credential %q published in %+v", secret, o)
					}
				}
			}
		})
	}
}
