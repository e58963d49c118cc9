package tls_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpi/tls"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/internal/testshared"
)

// TestCaptures runs the dissector over real captures through the sensor
// pipeline. Oracles:
//   - JA4: arkime tests/pcap/*.test ("ja4"), suricata-verify
//     tests/ja4-tls/test.yaml (tls.ja4), nDPI result/*.out ("JA4:");
//     nDPI prints "ht" for an ALPN of http/1.1 where the FoxIO spec's own
//     example says "h1", so ssl-cert-name-mismatch differs from nDPI there
//     and only there. Captures without a JA4 oracle (Zeek traces,
//     ja4-sv-handshake) were cross-checked by recomputing JA4 from
//     tshark's dissection (tls.handshake.ciphersuite, .extension.type,
//     .extensions.supported_version, .extensions_alpn_str and the
//     sig_hash_alg values of extension 13) with an independent script.
//   - SNI and versions: tshark -r FILE -Y 'tls.handshake.type==1 ||
//     tls.handshake.type==2' -T fields -e tls.handshake.extensions_server_name
//     -e tls.handshake.extensions.supported_version -e tls.handshake.version
//   - certificates: tshark -r FILE -Y tls.handshake.type==11 -V, first
//     Certificate's issuer/subject rdnSequence and notAfter utcTime; the
//     subjects also match Zeek's x509.log baselines (certificate.subject).
//     The emailAddress attribute tshark shows for ja4-sv-handshake is
//     dropped on purpose.
func TestCaptures(t *testing.T) {
	type want map[string][]string
	cases := []struct {
		file string
		want want
	}{
		{"arkime_arkime/tests/pcap/tls-split-client-hello.pcap", want{
			dpi.AttrTLSSNI:     {"clients2.google.com"},
			tls.AttrServerName: {"clients2.google.com"},
			dpi.AttrTLSVersion: {"1.3"},
			dpi.AttrTLSJA4:     {"t13d1516h2_8daaf6152771_02713d6af862"},
		}},
		{"arkime_arkime/tests/pcap/tls-client-sessionid.pcap", want{
			dpi.AttrTLSSNI:           {"bl.a.im"},
			tls.AttrServerName:       {"bl.a.im"},
			dpi.AttrTLSVersion:       {"1.0"},
			dpi.AttrTLSJA4:           {"t10d1408s1_4228c87f9d3a_16587fedcc33"},
			dpi.AttrInsecureProtocol: {"tls1.0"},
		}},
		{"OISF_suricata-verify/tests/ja4-tls/input.pcap", want{
			dpi.AttrTLSVersion:     {"1.2"},
			dpi.AttrTLSJA4:         {"t12i1810s1_27d4652c4487_06a4338d0495"},
			dpi.AttrTLSCertSubject: {"CN=SELKS,O=Stamus,L=Paris,ST=IDF,C=FR"},
			dpi.AttrTLSCertIssuer:  {"CN=SELKS,O=Stamus,L=Paris,ST=IDF,C=FR"},
			tls.AttrCertNotAfter:   {"2025-02-09T18:07:27Z"},
			tls.AttrCertSelfSigned: {"true"},
		}},
		{"OISF_suricata-verify/tests/ja4-sv-handshake/input.pcap", want{
			dpi.AttrTLSSNI:         {"dogfish"},
			tls.AttrServerName:     {"dogfish"},
			dpi.AttrTLSVersion:     {"1.2"},
			dpi.AttrTLSJA4:         {"t12d280700_d943125447b4_3c5a66c06c35"},
			dpi.AttrTLSCertSubject: {"CN=tls,O=CloudShark,L=Portsmouth,ST=New Hampshire,C=US"},
			dpi.AttrTLSCertIssuer:  {"CN=tls,O=CloudShark,L=Portsmouth,ST=New Hampshire,C=US"},
			tls.AttrCertNotAfter:   {"2019-07-23T18:44:07Z"},
			tls.AttrCertSelfSigned: {"true"},
		}},
		{"ntop_nDPI/tests/cfgs/default/pcap/443-curl.pcap", want{
			dpi.AttrTLSSNI:         {"www.ntop.org"},
			tls.AttrServerName:     {"www.ntop.org"},
			dpi.AttrTLSVersion:     {"1.2"},
			dpi.AttrTLSJA4:         {"t12d6707h2_2955a3196ffa_c83f907a73d3"},
			dpi.AttrTLSCertSubject: {"CN=www.ntop.org"},
			dpi.AttrTLSCertIssuer:  {"CN=Let's Encrypt Authority X3,O=Let's Encrypt,C=US"},
			tls.AttrCertNotAfter:   {"2020-03-16T01:17:28Z"},
			tls.AttrCertSelfSigned: {"false"},
		}},
		{"ntop_nDPI/tests/cfgs/default/pcap/443-safari.pcap", want{
			dpi.AttrTLSSNI:         {"www.ntop.org"},
			tls.AttrServerName:     {"www.ntop.org"},
			dpi.AttrTLSVersion:     {"1.2"},
			dpi.AttrTLSJA4:         {"t12d2010h2_2a284e3b0c56_f05fdf8c38a9"},
			dpi.AttrTLSCertSubject: {"CN=www.ntop.org"},
			dpi.AttrTLSCertIssuer:  {"CN=Let's Encrypt Authority X3,O=Let's Encrypt,C=US"},
			tls.AttrCertNotAfter:   {"2020-03-16T01:17:28Z"},
			tls.AttrCertSelfSigned: {"false"},
		}},
		// One server packet, no ClientHello: the flow is never identified.
		{"ntop_nDPI/tests/cfgs/default/pcap/443-chrome.pcap", want{}},
		{"ntop_nDPI/tests/cfgs/default/pcap/selfsigned.pcap", want{
			dpi.AttrTLSSNI:         {"localhost"},
			tls.AttrServerName:     {"localhost"},
			dpi.AttrTLSVersion:     {"1.2"},
			dpi.AttrTLSJA4:         {"t12d6707h2_2955a3196ffa_c83f907a73d3"},
			dpi.AttrTLSCertSubject: {"O=ntop.org,ST=Some-State,C=IT"},
			dpi.AttrTLSCertIssuer:  {"O=ntop.org,ST=Some-State,C=IT"},
			tls.AttrCertNotAfter:   {"2016-10-09T15:55:47Z"},
			tls.AttrCertSelfSigned: {"true"},
		}},
		{"ntop_nDPI/tests/cfgs/default/pcap/ssl-cert-name-mismatch.pcap", want{
			dpi.AttrTLSSNI:         {"wrong.host.badssl.com"},
			tls.AttrServerName:     {"wrong.host.badssl.com"},
			dpi.AttrTLSVersion:     {"1.2"},
			dpi.AttrTLSJA4:         {"t12d3810h1_845d1e55a368_7448b1316cd7"},
			dpi.AttrTLSCertSubject: {"CN=*.badssl.com,O=Lucas Garron Torres,L=Walnut Creek,ST=California,C=US"},
			dpi.AttrTLSCertIssuer:  {"CN=DigiCert SHA2 Secure Server CA,O=DigiCert Inc,C=US"},
			tls.AttrCertNotAfter:   {"2022-05-17T12:00:00Z"},
			tls.AttrCertSelfSigned: {"false"},
		}},
		{"ntop_nDPI/tests/cfgs/default/pcap/tls_malicious_sha1.pcapng", want{
			dpi.AttrTLSSNI:         {"www.prbtest.dev"},
			tls.AttrServerName:     {"www.prbtest.dev"},
			dpi.AttrTLSVersion:     {"1.2"},
			dpi.AttrTLSJA4:         {"t12d2808h2_d943125447b4_dd0a478c1db3"},
			dpi.AttrTLSCertSubject: {"CN=www.prbtest.dev"},
			dpi.AttrTLSCertIssuer:  {"CN=GTS CA 1D4,O=Google Trust Services LLC,C=US"},
			tls.AttrCertNotAfter:   {"2024-02-26T13:39:22Z"},
			tls.AttrCertSelfSigned: {"false"},
		}},
		{"zeek_zeek/testing/btest/Traces/tls/tls1.2.pcap", want{
			dpi.AttrTLSVersion: {"1.2"},
			dpi.AttrTLSJA4:     {"t12i800500_15c493246000_3eafcbe19126"},
			dpi.AttrTLSCertSubject: {"CN=*.taleo.net,OU=Comodo PremiumSSL Wildcard,OU=Web,O=Taleo Inc.," +
				"STREET=4140 Dublin Boulevard,STREET=Suite 400,L=Dublin,ST=CA,POSTALCODE=94568,C=US"},
			dpi.AttrTLSCertIssuer:  {"CN=COMODO High-Assurance Secure Server CA,O=COMODO CA Limited,L=Salford,ST=Greater Manchester,C=GB"},
			tls.AttrCertNotAfter:   {"2016-07-04T23:59:59Z"},
			tls.AttrCertSelfSigned: {"false"},
		}},
		{"zeek_zeek/testing/btest/Traces/tls/tls1_1.pcap", want{
			dpi.AttrTLSVersion:       {"1.1"},
			dpi.AttrTLSJA4:           {"t11i500400_59a6c70126c8_282f11336259"},
			dpi.AttrInsecureProtocol: {"tls1.1"},
			dpi.AttrTLSCertSubject:   {"CN=*.google.com,O=Google Inc,L=Mountain View,ST=California,C=US"},
			dpi.AttrTLSCertIssuer:    {"CN=Google Internet Authority G2,O=Google Inc,C=US"},
			tls.AttrCertNotAfter:     {"2018-01-24T13:31:00Z"},
			tls.AttrCertSelfSigned:   {"false"},
		}},
		{"zeek_zeek/testing/btest/Traces/tls/tls-conn-with-extensions.pcap", want{
			dpi.AttrTLSSNI:           {"ssl.gstatic.com"},
			tls.AttrServerName:       {"ssl.gstatic.com"},
			dpi.AttrTLSVersion:       {"1.0"},
			dpi.AttrTLSJA4:           {"t10d360600_b06c425f59b5_eb0e26099a3f"},
			dpi.AttrInsecureProtocol: {"tls1.0"},
			dpi.AttrTLSCertSubject:   {"CN=*.gstatic.com,O=Google Inc,L=Mountain View,ST=California,C=US"},
			dpi.AttrTLSCertIssuer:    {"CN=Google Internet Authority,O=Google Inc,C=US"},
			tls.AttrCertNotAfter:     {"2013-04-11T00:14:37Z"},
			tls.AttrCertSelfSigned:   {"false"},
		}},
		// Two connections: the client offers TLS 1.2, servers answer 1.0.
		{"zeek_zeek/testing/btest/Traces/tls/tls-expired-cert.pcap", want{
			dpi.AttrTLSVersion:       {"1.2", "1.0"},
			dpi.AttrTLSJA4:           {"t12i800500_15c493246000_a1e935682795"},
			dpi.AttrInsecureProtocol: {"tls1.0"},
			dpi.AttrTLSCertSubject: {"CN=www.spidh.org,OU=COMODO SSL,OU=Domain Control Validated",
				`CN=www.tobu-estate.com,OU=Terms of use at www.verisign.com/rpa (c)05,O=TOBU RAILWAY Co.\,Ltd.,L=Sumida-ku,ST=Tokyo,C=JP`},
			dpi.AttrTLSCertIssuer: {"CN=COMODO SSL CA,O=COMODO CA Limited,L=Salford,ST=Greater Manchester,C=GB",
				`CN=VeriSign Class 3 Secure Server CA - G3,OU=Terms of use at https://www.verisign.com/rpa (c)10,OU=VeriSign Trust Network,O=VeriSign\, Inc.,C=US`},
			tls.AttrCertNotAfter:   {"2014-03-04T23:59:59Z", "2014-03-14T23:59:59Z"},
			tls.AttrCertSelfSigned: {"false"},
		}},
		{"zeek_zeek/testing/btest/Traces/tls/chrome-34-google.pcap", want{
			dpi.AttrTLSSNI:         {"google.de"},
			tls.AttrServerName:     {"google.de"},
			dpi.AttrTLSVersion:     {"1.2"},
			dpi.AttrTLSJA4:         {"t12d2011s3_8dd61975155f_06a4338d0495"},
			dpi.AttrTLSCertSubject: {"CN=*.google.de,O=Google Inc,L=Mountain View,ST=California,C=US"},
			dpi.AttrTLSCertIssuer:  {"CN=Google Internet Authority G2,O=Google Inc,C=US"},
			tls.AttrCertNotAfter:   {"2014-07-08T00:00:00Z"},
			tls.AttrCertSelfSigned: {"false"},
		}},
		// TLS 1.3: the certificate is encrypted; the client certificate
		// (TLS 1.2 connection) is not read.
		{"zeek_zeek/testing/btest/Traces/tls/tls13-ech.pcap", want{
			dpi.AttrTLSSNI:     {"cloudflare-ech.com"},
			tls.AttrServerName: {"cloudflare-ech.com"},
			dpi.AttrTLSVersion: {"1.3"},
			dpi.AttrTLSJA4:     {"t13d1517h2_8daaf6152771_b1ff8ab2d16f"},
		}},
		{"zeek_zeek/testing/btest/Traces/tls/client-certificate.pcap", want{
			dpi.AttrTLSSNI:         {"certauth.idrix.fr"},
			tls.AttrServerName:     {"certauth.idrix.fr"},
			dpi.AttrTLSVersion:     {"1.3", "1.2"},
			dpi.AttrTLSJA4:         {"t13d1715h2_5b57614c22b0_3d5424432f57"},
			dpi.AttrTLSCertSubject: {"CN=certauth.idrix.fr"},
			dpi.AttrTLSCertIssuer:  {"CN=R3,O=Let's Encrypt,C=US"},
			tls.AttrCertNotAfter:   {"2023-04-04T16:14:06Z"},
			tls.AttrCertSelfSigned: {"false"},
		}},
	}
	attrs := []string{dpi.AttrTLSSNI, tls.AttrServerName, dpi.AttrTLSVersion, dpi.AttrTLSJA4,
		dpi.AttrInsecureProtocol, dpi.AttrTLSCertSubject, dpi.AttrTLSCertIssuer,
		tls.AttrCertNotAfter, tls.AttrCertSelfSigned}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			res := dpitest.Run(t, []string{testshared.Pcap(t, c.file)}, tls.New())
			got := want{}
			for _, a := range attrs {
				if v := res.Values(a); len(v) > 0 {
					got[a] = v
				}
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
			if res.Stats.DissectErrors != 0 {
				t.Errorf("%d dissector errors", res.Stats.DissectErrors)
			}
		})
	}
}

// TestSides checks who each fact is about on the split ClientHello
// capture: client 10.1.17.215, server 142.250.114.100.
func TestSides(t *testing.T) {
	res := dpitest.Run(t, []string{testshared.Pcap(t, "arkime_arkime/tests/pcap/tls-split-client-hello.pcap")}, tls.New())
	type fact struct{ IP, Attr string }
	var got []fact
	for _, o := range res.Observations {
		got = append(got, fact{o.IP, o.Attribute})
	}
	want := []fact{
		{"10.1.17.215", dpi.AttrTLSSNI},
		{"142.250.114.100", tls.AttrServerName},
		{"10.1.17.215", dpi.AttrTLSVersion},
		{"10.1.17.215", dpi.AttrTLSJA4},
		{"142.250.114.100", dpi.AttrTLSVersion},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("facts (-want +got):\n%s", diff)
	}
}
