package smb_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpi/smb"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

type fact struct{ IP, Attr, Value string }

type auth struct {
	Client, Server, Principal string
	Result                    events.AuthResult
	Reason                    string
}

// Every value below was checked with tshark:
//
//	tshark -r FILE -Y 'smb.cmd==0x72 || smb2.cmd==0' -T fields -e ip.src \
//	    -e smb.dialect.name -e smb.dialect.index -e smb2.dialect
//	tshark -r FILE -Y 'ntlmssp.messagetype==2 || smb.native_os' -T fields \
//	    -e ntlmssp.challenge.target_info.nb_computer_name \
//	    -e ntlmssp.challenge.target_info.nb_domain_name \
//	    -e ntlmssp.challenge.target_info.dns_computer_name \
//	    -e ntlmssp.version.major -e ntlmssp.version.minor \
//	    -e ntlmssp.version.build_number -e smb.native_os
//	tshark -r FILE -Y 'ntlmssp.messagetype==3' -T fields -e ntlmssp.auth.domain \
//	    -e ntlmssp.auth.username -e ntlmssp.auth.hostname -e ntlmssp.version.build_number
//	tshark -r FILE -Y 'smb2.cmd==1 && smb2.flags.response==1' -T fields -e smb2.nt_status
//
// (the SMB1 session setup status with smb.cmd==0x73 and smb.nt_status).
// The SMB1 dialect is the request's dialect at the response's index:
// cifs_negotiate_lanman index 3 of "PC NETWORK PROGRAM 1.0,LANMAN1.0,
// LM1.2X002,LANMAN2.1", output-eve-smb-01 index 9, smbv1 index 5 and the
// Windows 10 capture's stream 1 index 5, all "NT LM 0.12". Zeek's
// ntlm.log for aduser1 (LDAP, not SMB) names the same ADHACKING domain.
func TestCaptures(t *testing.T) {
	const (
		win10Server = "192.168.199.133"
		win10Client = "192.168.199.132"
	)
	cases := []struct {
		file  string
		facts []fact
		auths []auth
	}{
		{"zeek_zeek/testing/btest/Traces/smb/cifs_negotiate_lanman.pcap",
			[]fact{
				{"10.0.0.1", dpi.AttrInsecureProtocol, "smb1"},
				{"10.0.0.2", dpi.AttrInsecureProtocol, "smb1"},
				{"10.0.0.1", dpi.AttrSMBDialect, "LANMAN2.1"},
			}, nil},
		{"zeek_zeek/testing/btest/Traces/smb/smb2.pcap",
			[]fact{
				{"10.0.0.12", dpi.AttrSMBDialect, "SMB 2.0.2"},
				{"10.0.0.12", dpi.AttrNTLMHost, "SERVER002"},
				{"10.0.0.12", dpi.AttrNTLMDomain, "CONTOSO"},
				{"10.0.0.12", dpi.AttrHostname, "SERVER002.contoso.com"},
				{"10.0.0.12", dpi.AttrOS, "Windows 6.0 build 6001"},
				{"10.0.0.11", dpi.AttrNTLMHost, "SERVER01"},
				{"10.0.0.11", dpi.AttrHostname, "SERVER01"},
				{"10.0.0.11", dpi.AttrNTLMDomain, "CONTOSO"},
				{"10.0.0.11", dpi.AttrOS, "Windows 6.0 build 6001"},
			},
			[]auth{{"10.0.0.11", "10.0.0.12", `CONTOSO\Administrator`, events.AuthSuccess, ""}}},
		{"zeek_zeek/testing/btest/Traces/smb/smb3.pcap",
			[]fact{
				{"10.160.65.202", dpi.AttrSMBDialect, "SMB 3.0"},
				{"10.160.65.202", dpi.AttrNTLMHost, "WS2016"},
				{"10.160.65.202", dpi.AttrNTLMDomain, "SUSE"},
				{"10.160.65.202", dpi.AttrHostname, "WS2016.suse.de"},
				{"10.160.65.202", dpi.AttrOS, "Windows 10.0 build 14393"},
				{"10.160.64.139", dpi.AttrNTLMDomain, "SUSE"},
			},
			[]auth{{"10.160.64.139", "10.160.65.202", `SUSE\administrator`, events.AuthSuccess, ""}}},
		{"zeek_zeek/testing/btest/Traces/smb/smb311.pcap",
			[]fact{
				{"10.160.67.244", dpi.AttrSMBDialect, "SMB 3.1.1"},
				{"10.160.67.244", dpi.AttrNTLMHost, "AD"},
				{"10.160.67.244", dpi.AttrNTLMDomain, "FOO"},
				{"10.160.67.244", dpi.AttrHostname, "AD.foo.test"},
				{"10.160.67.244", dpi.AttrOS, "Windows 10.0 build 14393"},
			},
			[]auth{{"192.168.100.168", "10.160.67.244", "administrator", events.AuthSuccess, ""}}},
		{"zeek_zeek/testing/btest/Traces/smb/smb3_negotiate_context.pcap",
			[]fact{{"192.168.1.21", dpi.AttrSMBDialect, "SMB 3.1.1"}}, nil},
		{"OISF_suricata-verify/tests/smb-version-keyword/input.pcap",
			[]fact{
				{"172.31.222.157", dpi.AttrSMBDialect, "SMB 2.1"},
				{"172.31.222.157", dpi.AttrNTLMHost, "WS01"},
				{"172.31.222.157", dpi.AttrNTLMDomain, "CYLERA"},
				{"172.31.222.157", dpi.AttrHostname, "ws01.cylera.lab"},
				{"172.31.222.157", dpi.AttrOS, "Windows 10.0 build 17763"},
				{"172.31.222.186", dpi.AttrNTLMHost, "WS02"},
				{"172.31.222.186", dpi.AttrHostname, "WS02"},
				{"172.31.222.186", dpi.AttrNTLMDomain, "cylera.lab"},
			},
			[]auth{{"172.31.222.186", "172.31.222.157", `cylera.lab\robin`, events.AuthSuccess, ""}}},
		{"OISF_suricata-verify/tests/output-eve-smb-01/input.pcap",
			[]fact{
				{"192.168.1.3", dpi.AttrInsecureProtocol, "smb1"},
				{"192.168.1.100", dpi.AttrInsecureProtocol, "smb1"},
				{"192.168.1.3", dpi.AttrSMBDialect, "NT LM 0.12"},
				{"192.168.1.100", dpi.AttrOS, "Unix"},
				{"192.168.1.3", dpi.AttrNTLMHost, "WIN-MV8B5VI0FAL"},
				{"192.168.1.3", dpi.AttrNTLMDomain, "WIN-MV8B5VI0FAL"},
				{"192.168.1.3", dpi.AttrHostname, "WIN-MV8B5VI0FAL"},
				{"192.168.1.3", dpi.AttrOS, "Windows 10.0 build 17763"},
				{"192.168.1.3", dpi.AttrOS, "Windows Server 2019 Standard 17763"},
				{"192.168.1.100", dpi.AttrNTLMHost, "HOST"},
				{"192.168.1.100", dpi.AttrHostname, "HOST"},
			},
			[]auth{{"192.168.1.100", "192.168.1.3", "anonymous", events.AuthSuccess, ""}}},
		{"ntop_nDPI/tests/cfgs/default/pcap/smbv1.pcap",
			[]fact{
				{"10.128.0.243", dpi.AttrInsecureProtocol, "smb1"},
				{"172.16.156.130", dpi.AttrInsecureProtocol, "smb1"},
				{"10.128.0.243", dpi.AttrSMBDialect, "NT LM 0.12"},
				{"172.16.156.130", dpi.AttrOS, "Windows 2000 2195"},
				{"10.128.0.243", dpi.AttrOS, "Windows 7 Ultimate 7601 Service Pack 1"},
			},
			[]auth{{"172.16.156.130", "10.128.0.243", "anonymous", events.AuthSuccess, ""}}},
		{"arkime_arkime/tests/pcap/wireshark-smb-on-windows10.pcap",
			[]fact{
				{"192.168.199.1", dpi.AttrSMBDialect, "SMB 3.0.2"},
				{"192.168.199.1", dpi.AttrInsecureProtocol, "smb1"},
				{"192.168.199.133", dpi.AttrInsecureProtocol, "smb1"},
				{"192.168.199.1", dpi.AttrSMBDialect, "NT LM 0.12"},
				{"192.168.199.1", dpi.AttrNTLMHost, "SCV"},
				{"192.168.199.1", dpi.AttrNTLMDomain, "SCV"},
				{"192.168.199.1", dpi.AttrHostname, "SCV"},
				{"192.168.199.1", dpi.AttrOS, "Windows 6.3 build 9600"},
				{"192.168.199.1", dpi.AttrOS, "Windows 8.1 9600"},
				{"192.168.199.133", dpi.AttrNTLMHost, "DESKTOP-V1FA0UQ"},
				{"192.168.199.133", dpi.AttrHostname, "DESKTOP-V1FA0UQ"},
				{"192.168.199.133", dpi.AttrOS, "Windows 10.0 build 10586"},
				{"192.168.199.133", dpi.AttrSMBDialect, "SMB 3.1.1"},
				{"192.168.199.133", dpi.AttrNTLMDomain, "DESKTOP-V1FA0UQ"},
				{win10Client, dpi.AttrNTLMHost, "DESKTOP-2AEFM7G"},
				{win10Client, dpi.AttrHostname, "DESKTOP-2AEFM7G"},
				{win10Client, dpi.AttrNTLMDomain, "DESKTOP-2AEFM7G"},
				{win10Client, dpi.AttrOS, "Windows 10.0 build 10586"},
			},
			[]auth{
				{"192.168.199.133", "192.168.199.1", "anonymous", events.AuthSuccess, ""},
				{win10Client, win10Server, `DESKTOP-2AEFM7G\user`, events.AuthFailure, "STATUS_LOGON_FAILURE"},
				{win10Client, win10Server, `DESKTOP-2AEFM7G\user`, events.AuthFailure, "STATUS_LOGON_FAILURE"},
				{win10Client, win10Server, `DESKTOP-2AEFM7G\user`, events.AuthFailure, "STATUS_LOGON_FAILURE"},
				{win10Client, win10Server, `DESKTOP-2AEFM7G\user`, events.AuthFailure, "STATUS_LOGON_FAILURE"},
				{win10Client, win10Server, `DESKTOP-2AEFM7G\Tim Tester`, events.AuthFailure, "STATUS_LOGON_FAILURE"},
				{win10Client, win10Server, `DESKTOP-2AEFM7G\Willi Wireshark`, events.AuthSuccess, ""},
			}},
		{"zeek_zeek/testing/btest/Traces/ldap/aduser1.pcap",
			[]fact{
				{"192.168.226.136", dpi.AttrSMBDialect, "SMB 3.0"},
				{"192.168.226.136", dpi.AttrNTLMHost, "WIN-VGO56I95EAK"},
				{"192.168.226.136", dpi.AttrNTLMDomain, "ADHACKING"},
				{"192.168.226.136", dpi.AttrHostname, "WIN-VGO56I95EAK.ADHACKING.local"},
				{"192.168.226.136", dpi.AttrOS, "Windows 10.0 build 20348"},
			},
			[]auth{{"192.168.226.131", "192.168.226.136", "anonymous", events.AuthSuccess, ""}}},
		// Mid-connection SMB2 traffic without NEGOTIATE or SESSION_SETUP.
		{"zeek_zeek/testing/btest/Traces/smb/smb2readwrite.pcap", nil, nil},
		{"ntop_nDPI/tests/cfgs/default/pcap/smb_deletefile.pcap", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			res := dpitest.Run(t, []string{testshared.Pcap(t, c.file)}, dpi.SMB{}, smb.New())
			if diff := cmp.Diff(c.facts, dpitest.DistinctFacts[fact](res.Observations)); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
			var got []auth
			for _, a := range res.Auths {
				if a.Protocol != "smb" || a.Method != "ntlm" {
					t.Errorf("auth %+v", a)
				}
				got = append(got, auth{a.Client.IP, a.Server.IP, a.Principal, a.Result, a.Reason})
			}
			if diff := cmp.Diff(c.auths, got); diff != "" {
				t.Errorf("auths (-want +got):\n%s", diff)
			}
			if res.Stats.DissectErrors != 0 {
				t.Errorf("%d dissect errors", res.Stats.DissectErrors)
			}
		})
	}
}
