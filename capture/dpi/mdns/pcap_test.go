package mdns

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
)

type fact struct{ IP, Attr, Value string }

const (
	qemu6  = "fd52:429e:c03c:8235:883c:d6ff:fee1:4dc4"
	gemini = "fe80::217:f2ff:fed7:cf65"
	avahi6 = "fe80::6861:83ff:febd:a9aa"
)

// captures pairs the mDNS captures with the facts they hold. Each value
// was checked with tshark:
//
//	tshark -r FILE -Y 'mdns && dns.flags.response==1' -T fields -e ip.src \
//	    -e ipv6.src -e dns.resp.name -e dns.resp.type -e dns.a -e dns.aaaa \
//	    -e dns.ptr.domain_name -e dns.txt
//	tshark -r FILE -Y 'mdns && dns.flags.response==0' | wc -l
//
// mdns.pcap: johanna-QEMU-Virtual-Machine.local has A 10.0.2.7 and AAAA
// fd52:...:4dc4, the two sources; 12 queries, 6 responses.
// mdns-no-assoc.pcap: unrelated-reply-a.local A 192.168.0.2 (the
// sender); unrelated-reply-aaaa.local AAAA fe80::200:deff:fead:beef from
// 192.168.0.2 and v6-unrelated.local AAAA fe80::1 from
// fe80::200:deff:fead:beef carry other addresses. var-services:
// 1.238.16.172.in-addr.arpa PTR tangent.local from 172.16.238.1.
// wikipedia.pcap: gemini._sftp-ssh._tcp.local SRV, gemini.local A
// 141.142.220.50 and AAAA fe80::217:f2ff:fed7:cf65, sent from both.
// testdata/avahi.pcap (see README): the services, TXT and addresses of
// TestDissect, from 192.0.2.10 and fe80::6861:83ff:febd:a9aa (which only
// carries AAAA records, and the reverse PTR of its address).
var captures = []struct {
	file               string
	local              bool
	facts              []fact
	queries, responses uint64
}{
	{file: "zeek_zeek/testing/btest/Traces/dns/mdns.pcap", facts: []fact{
		{qemu6, dpi.AttrHostname, "johanna-QEMU-Virtual-Machine"},
		{"10.0.2.7", dpi.AttrHostname, "johanna-QEMU-Virtual-Machine"},
	}, queries: 12, responses: 6},
	{file: "zeek_zeek/testing/btest/Traces/dns/mdns-no-assoc.pcap", facts: []fact{
		{"192.168.0.2", dpi.AttrHostname, "unrelated-reply-a"},
	}, queries: 3, responses: 3},
	{file: "zeek_zeek/testing/btest/Traces/var-services-std-ports.pcap", facts: []fact{
		{"172.16.238.1", dpi.AttrHostname, "tangent"},
	}, queries: 12, responses: 5},
	{file: "zeek_zeek/testing/btest/Traces/wikipedia.pcap", facts: []fact{
		{gemini, dpi.AttrMDNSService, "gemini (_sftp-ssh._tcp)"},
		{gemini, dpi.AttrHostname, "gemini"},
		{"141.142.220.50", dpi.AttrMDNSService, "gemini (_sftp-ssh._tcp)"},
		{"141.142.220.50", dpi.AttrHostname, "gemini"},
	}, queries: 2, responses: 2},
	{file: "testdata/avahi.pcap", local: true, facts: append(
		[]fact{{"192.0.2.10", dpi.AttrHostname, "vigil-test-dev"}, {avahi6, dpi.AttrHostname, "vigil-test-dev"}},
		append(avahiServices("192.0.2.10"), avahiServices(avahi6)...)...,
	), queries: 12, responses: 12},
}

func avahiServices(ip string) []fact {
	return []fact{
		{ip, dpi.AttrMDNSService, "Vigil-Cast-0001 (_googlecast._tcp)"},
		{ip, dpi.AttrMDNSTXT, "md=Vigil Cast"},
		{ip, dpi.AttrMDNSTXT, "fn=Nurse Station 3"},
		{ip, dpi.AttrMDNSService, "Vigil Test Device (_device-info._tcp)"},
		{ip, dpi.AttrModel, "VigilPump1,2"},
		{ip, dpi.AttrMDNSService, "Vigil Test LaserJet 400 (_ipp._tcp)"},
		{ip, dpi.AttrMDNSTXT, "ty=Vigil Test LaserJet 400"},
		{ip, dpi.AttrMDNSTXT, "usb_MFG=VigilTest"},
		{ip, dpi.AttrMDNSTXT, "usb_MDL=LaserJet 400"},
		{ip, dpi.AttrMDNSService, "vigil-test-dev [6a:61:83:bd:a9:aa] (_workstation._tcp)"},
	}
}

func TestCaptures(t *testing.T) {
	for _, c := range captures {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			res := dpitest.Run(t, []string{dpitest.Pcap(t, c.file)}, dpi.MDNS{}, New())
			if res.Stats.DissectErrors != 0 {
				t.Errorf("%d dissect errors", res.Stats.DissectErrors)
			}
			if diff := cmp.Diff(c.facts, dpitest.DistinctFacts[fact](res.Observations)); diff != "" {
				t.Errorf("facts (-want +got):\n%s", diff)
			}
			if q, r := res.Counter(CounterQueries), res.Counter(CounterResponses); q != c.queries || r != c.responses {
				t.Errorf("counted %d queries, %d responses; want %d, %d", q, r, c.queries, c.responses)
			}
			for _, o := range res.Observations {
				if o.Value == "note=Ward 3 corridor" || o.Value == "Ward 3 corridor" {
					t.Errorf("free-text TXT key published: %+v", o)
				}
			}
		})
	}
}
