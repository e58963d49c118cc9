package ssh_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpi/ssh"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/internal/testshared"
)

// tsharkFacts lists, per capture, the distinct (sender IP, attribute,
// value) of banners and HASSH fingerprints, as tshark dissects them:
//
//	tshark -r FILE -d tcp.port==8000,ssh -d tcp.port==2222,ssh \
//	  -d tcp.port==41644,ssh -d tcp.port==2200,ssh \
//	  -Y 'ssh.protocol || ssh.kex.hassh || ssh.kex.hasshserver' \
//	  -T fields -e ip.src -e ipv6.src -e ssh.protocol -e ssh.kex.hassh -e ssh.kex.hasshserver
//
// (ssh.protocol is the banner, ssh.kex.hassh the client's HASSH,
// ssh.kex.hasshserver the server's). They agree with suricata-verify
// ssh-hassh's expected hashes and with the client/server columns of
// Zeek's ssh.log baselines.
const tsharkFacts = `
OISF_suricata-verify/tests/ssh-banner-only/input.pcap|192.168.0.103|ssh.banner|SSH-2.0-OpenSSH_7.4
OISF_suricata-verify/tests/ssh-banner-only/input.pcap|192.168.0.27|ssh.banner|SSH-2.0-OpenSSH_for_Windows_7.7
OISF_suricata-verify/tests/ssh-hassh/input.pcap|192.168.0.103|ssh.banner|SSH-2.0-OpenSSH_7.4
OISF_suricata-verify/tests/ssh-hassh/input.pcap|192.168.0.103|ssh.hassh_server|6832f1ce43d4397c2c0a3e2f8c94334e
OISF_suricata-verify/tests/ssh-hassh/input.pcap|192.168.0.27|ssh.banner|SSH-2.0-OpenSSH_for_Windows_7.7
OISF_suricata-verify/tests/ssh-hassh/input.pcap|192.168.0.27|ssh.hassh|2dd6531c7e89d3c925db9214711be76a
arkime_arkime/tests/pcap/ssh2.pcap|10.0.0.1|ssh.banner|SSH-2.0-OpenSSH_5.3
arkime_arkime/tests/pcap/ssh2.pcap|10.0.0.1|ssh.hassh|21b457a327ce7a2d4fce5ef2c42400bd
arkime_arkime/tests/pcap/ssh2.pcap|10.0.0.2|ssh.banner|SSH-1.99-OpenSSH_3.9p1
arkime_arkime/tests/pcap/ssh2.pcap|10.0.0.2|ssh.hassh_server|f430cd6761697a6a658ee1d45ed22e49
ntop_nDPI/tests/cfgs/default/pcap/ssh.pcap|127.0.0.1|ssh.banner|SSH-2.0-APACHE-SSHD-2.5.0
ntop_nDPI/tests/cfgs/default/pcap/ssh.pcap|127.0.0.1|ssh.banner|SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.11
ntop_nDPI/tests/cfgs/default/pcap/ssh.pcap|127.0.0.1|ssh.hassh|c11b200866cf918393e62ea25d851d90
ntop_nDPI/tests/cfgs/default/pcap/ssh.pcap|127.0.0.1|ssh.hassh_server|ca6dd86b2d9a44e4a3f1a55c53e6b0fa
ntop_nDPI/tests/cfgs/default/pcap/ssh.pcap|172.16.238.1|ssh.banner|SSH-2.0-OpenSSH_5.6
ntop_nDPI/tests/cfgs/default/pcap/ssh.pcap|172.16.238.1|ssh.hassh|21b457a327ce7a2d4fce5ef2c42400bd
ntop_nDPI/tests/cfgs/default/pcap/ssh.pcap|172.16.238.168|ssh.banner|SSH-2.0-OpenSSH_5.3
ntop_nDPI/tests/cfgs/default/pcap/ssh.pcap|172.16.238.168|ssh.hassh_server|b1c6c0d56317555b85c7005a3de29325
the-tcpdump-group_tcpdump/tests/ssh.pcap|202.108.87.165|ssh.banner|SSH-2.0-OpenSSH_7.8
the-tcpdump-group_tcpdump/tests/ssh.pcap|202.108.87.165|ssh.hassh|ec7378c1a92f5a8dde7e8b7a1ddf33d1
the-tcpdump-group_tcpdump/tests/ssh.pcap|223.132.53.222|ssh.banner|SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u3
the-tcpdump-group_tcpdump/tests/ssh.pcap|223.132.53.222|ssh.hassh_server|c099ec12a2b4c3b347f8f17d966469ed
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|10.0.0.18|ssh.banner|SSH-2.0-OpenSSH_6.6
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|10.0.0.18|ssh.hassh|e30029a55fea2fcd3501023fb659bfae
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|128.2.10.238|ssh.banner|SSH-1.99-OpenSSH_3.4+p1+gssapi+OpenSSH_3.7.1buf_fix+2006100301
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|128.2.10.238|ssh.hassh_server|5280acc8be4a17ac96c05b6f3bdaec60
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|128.2.13.133|ssh.banner|SSH-2.0-OpenSSH_5.3
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|128.2.13.133|ssh.hassh_server|0f5053d1cc689128b6db47f340f3285f
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|128.2.6.88|ssh.banner|SSH-2.0-OpenSSH_5.9p1 Debian-5ubuntu1.1
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|128.2.6.88|ssh.hassh_server|ce3c327f37ea2ec21f317fbc3fd1ea43
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|131.103.20.168|ssh.banner|SSH-2.0-OpenSSH_5.3
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|131.103.20.168|ssh.hassh_server|b1c6c0d56317555b85c7005a3de29325
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|131.159.21.1|ssh.banner|SSH-2.0-OpenSSH_5.8
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|131.159.21.1|ssh.hassh_server|60205d0b53ffd441ead5c43b5a6f1bc7
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.1.31|ssh.banner|SSH-2.0-OpenSSH_6.7
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.1.31|ssh.hassh|777e66d81dadd6002bf417dc5e1c61df
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.1.31|ssh.hassh|a708ee258c30a58517040d6611dce408
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.1.32|ssh.banner|SSH-2.0-OpenSSH_6.6
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.1.32|ssh.banner|SSH-2.0-OpenSSH_6.6p1-hpn14v4
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.1.32|ssh.banner|SSH-2.0-OpenSSH_6.7
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.1.32|ssh.hassh|46c5bd9748882f1a5d75753fb7d47a61
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.1.32|ssh.hassh|e30029a55fea2fcd3501023fb659bfae
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.1.32|ssh.hassh_server|41ed548e9e885f199ea6919370d83c68
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.1.79|ssh.banner|SSH-2.0-OpenSSH_5.9
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.1.79|ssh.hassh|fded76fff260754db84bd4725a931b7e
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.2.1|ssh.banner|SSH-1.5-OpenSSH_5.3
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.2.1|ssh.banner|SSH-1.5-OpenSSH_6.2
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.2.1|ssh.banner|SSH-2.0-OpenSSH_6.2
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.2.1|ssh.hassh|1f120ecfc2c57fbdeaf66b93a3bf26ee
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.2.1|ssh.hassh|3b310af105a6d0567dc00a90451b0e6e
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.2.158|ssh.banner|SSH-1.99-OpenSSH_6.6.1p1 Ubuntu-2ubuntu2
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.2.158|ssh.banner|SSH-2.0-paramiko_1.15.2
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.2.158|ssh.hassh_server|ba6d3d2aecbd0d91b01dfa7828110d70
zeek_zeek/testing/btest/Traces/ssh/ssh.pcap|192.168.2.158|ssh.hassh_server|d72f74b08466652d162ca02ad197b9ad
zeek_zeek/testing/btest/Traces/ssh/ssh1-ssh2-fingerprints.pcap|127.0.0.1|ssh.banner|SSH-1.5-OpenSSH_6.6
zeek_zeek/testing/btest/Traces/ssh/ssh1-ssh2-fingerprints.pcap|127.0.0.1|ssh.banner|SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.1
zeek_zeek/testing/btest/Traces/ssh/ssh1-ssh2-fingerprints.pcap|127.0.0.1|ssh.hassh|ae8bd7dd09970555aa4c6ed22adbbf56
zeek_zeek/testing/btest/Traces/ssh/ssh1-ssh2-fingerprints.pcap|127.0.0.1|ssh.hassh_server|3ccd1778a76049721c71ad7d2bf62bbc
zeek_zeek/testing/btest/Traces/ssh/ssh_kex_curve25519.pcap|192.168.1.100|ssh.banner|SSH-2.0-OpenSSH_7.4
zeek_zeek/testing/btest/Traces/ssh/ssh_kex_curve25519.pcap|192.168.1.100|ssh.hassh|0df0d56bb50c6b2426d8d40234bf1826
zeek_zeek/testing/btest/Traces/ssh/ssh_kex_curve25519.pcap|192.168.1.32|ssh.banner|SSH-2.0-OpenSSH_7.5
zeek_zeek/testing/btest/Traces/ssh/ssh_kex_curve25519.pcap|192.168.1.32|ssh.hassh_server|a95c22bf8e9b19ed0a5dc74bb2f9c613
zeek_zeek/testing/btest/Traces/ssh/ssh_version_199.pcap|10.0.0.1|ssh.banner|SSH-1.99-Cisco-1.25
zeek_zeek/testing/btest/Traces/ssh/ssh_version_199.pcap|10.0.0.1|ssh.hassh|3cc67862bceac0f334c62ad1b76895b4
zeek_zeek/testing/btest/Traces/ssh/ssh_version_199.pcap|10.0.0.2|ssh.banner|SSH-2.0-Cisco-1.25
zeek_zeek/testing/btest/Traces/ssh/ssh_version_199.pcap|10.0.0.2|ssh.hassh_server|3cc67862bceac0f334c62ad1b76895b4
zeek_zeek/testing/btest/Traces/ssh/sshguess.pcap|192.168.56.1|ssh.banner|SSH-2.0-OpenSSH_6.2
zeek_zeek/testing/btest/Traces/ssh/sshguess.pcap|192.168.56.1|ssh.hassh|1f120ecfc2c57fbdeaf66b93a3bf26ee
zeek_zeek/testing/btest/Traces/ssh/sshguess.pcap|192.168.56.103|ssh.banner|SSH-2.0-OpenSSH_6.7p1 Debian-3
zeek_zeek/testing/btest/Traces/ssh/sshguess.pcap|192.168.56.103|ssh.hassh_server|3711ee816d3ea9975d96c39c31c54299
`

func TestCaptures(t *testing.T) {
	want := map[string][]string{}
	for line := range strings.Lines(strings.TrimSpace(tsharkFacts)) {
		file, fact, _ := strings.Cut(strings.TrimSpace(line), "|")
		want[file] = append(want[file], fact)
	}
	files := slices.Sorted(maps.Keys(want))
	total := 0
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			res := dpitest.Run(t, []string{testshared.Pcap(t, file)}, ssh.New())
			var got []string
			for _, o := range res.Observations {
				switch o.Attribute {
				case dpi.AttrSSHBanner, dpi.AttrSSHHASSH, dpi.AttrSSHHASSHServer:
					f := fmt.Sprintf("%s|%s|%s", o.IP, o.Attribute, o.Value)
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
	t.Logf("%d distinct banner and HASSH facts matched tshark", total)
}

// TestInsecureAndOS checks protocol 1 and operating system facts on Zeek's
// ssh.pcap, whose ssh.log says which connections are version 1
// (client SSH-1.5-OpenSSH_*, server SSH-1.99-OpenSSH_6.6.1p1 Ubuntu).
func TestInsecureAndOS(t *testing.T) {
	res := dpitest.Run(t, []string{testshared.Pcap(t, "zeek_zeek/testing/btest/Traces/ssh/ssh.pcap")}, ssh.New())
	type fact struct {
		IP, Attr, Value string
		Confidence      float64
	}
	got := map[fact]int{}
	for _, o := range res.Observations {
		if o.Attribute == dpi.AttrInsecureProtocol || o.Attribute == dpi.AttrOS {
			got[fact{o.IP, o.Attribute, o.Value, o.Confidence}]++
		}
	}
	// ssh.log: 9 version-1 connections between 192.168.2.1 and
	// 192.168.2.158; 4 more connections to 192.168.2.158 port 22 (two
	// version 2) and 128.2.10.238 (two) show SSH-1.99 banners.
	want := map[fact]int{
		{"192.168.2.1", dpi.AttrInsecureProtocol, "ssh1", 0.9}:   9,
		{"192.168.2.158", dpi.AttrInsecureProtocol, "ssh1", 0.9}: 9,
		{"192.168.2.158", dpi.AttrInsecureProtocol, "ssh1", 0.6}: 11,
		{"128.2.10.238", dpi.AttrInsecureProtocol, "ssh1", 0.6}:  2,
		{"192.168.2.158", dpi.AttrOS, "Ubuntu", 0.5}:             11,
		{"128.2.6.88", dpi.AttrOS, "Ubuntu", 0.5}:                1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("facts (-want +got):\n%s", diff)
	}
}
