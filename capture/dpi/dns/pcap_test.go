package dns

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/internal/testshared"
)

type fact struct{ IP, Attr, Value string }

// captures pairs the DNS captures with the names their clients resolve,
// each checked with tshark:
//
//	tshark -r FILE -Y 'dns && !mdns' -T fields -e ip.src -e ipv6.src \
//	    -e dns.flags.response -e dns.qry.name -e dns.qry.type
//
// dns.pcap: frames 4 and 5 (e7.whatsapp.net) ride PPPoE in QinQ, which
// the capture decoder does not read; frame 1 is a response without its
// query. dns_udp.pcap is tcpdump's dns_udp-v oracle (22836+ [1au] A?
// www.tcpdump.org. from 192.168.1.11). dns53.pcap is Zeek's "flip" trace:
// one response, port 53 to 53, no query. netbios_wildcard_dns_query.pcap
// is an NBNS node status query sent to port 53 (CKAAAA..., type 33).
// wikipedia.pcap: 14 queries to port 53 from 141.142.220.118 for three
// names (upload.wikimedia.org A and AAAA, with the search domain
// ncsa.uiuc.edu, and meta.wikimedia.org), 14 responses, and 8 LLMNR
// queries (port 5355) for BRWC0CB383D1F42 from 141.142.220.226 and
// fe80::3074:17d5:2052:c324; its mDNS packets give nothing.
var captures = []struct {
	file               string
	facts              []fact
	queries, responses uint64
}{
	{"ntop_nDPI/tests/cfgs/default/pcap/dns.pcap", []fact{
		{"192.168.170.8", dpi.AttrDNSQuery, "www.example.com"},
	}, 1, 2},
	{"the-tcpdump-group_tcpdump/tests/dns_udp.pcap", []fact{
		{"192.168.1.11", dpi.AttrDNSQuery, "www.tcpdump.org"},
	}, 1, 1},
	{"zeek_zeek/testing/btest/Traces/dns53.pcap", nil, 0, 1},
	{"ntop_nDPI/tests/cfgs/default/pcap/netbios_wildcard_dns_query.pcap", nil, 1, 0},
	{"zeek_zeek/testing/btest/Traces/wikipedia.pcap", []fact{
		{"141.142.220.118", dpi.AttrDNSQuery, "upload.wikimedia.org"},
		{"141.142.220.118", dpi.AttrDNSQuery, "upload.wikimedia.org.ncsa.uiuc.edu"},
		{"141.142.220.118", dpi.AttrDNSQuery, "meta.wikimedia.org"},
		{"fe80::3074:17d5:2052:c324", dpi.AttrDNSQuery, "brwc0cb383d1f42"},
		{"141.142.220.226", dpi.AttrDNSQuery, "brwc0cb383d1f42"},
	}, 22, 14},
	// The default identifiers name mDNS flows "dns" until the mdns
	// identifier is registered before DNS: nothing must come of them.
	{"zeek_zeek/testing/btest/Traces/dns/mdns.pcap", nil, 0, 0},
}

func TestCaptures(t *testing.T) {
	for _, c := range captures {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			res := dpitest.Run(t, []string{testshared.Pcap(t, c.file)}, New())
			if res.Stats.DissectErrors != 0 {
				t.Errorf("%d dissect errors", res.Stats.DissectErrors)
			}
			if diff := cmp.Diff(c.facts, dpitest.DistinctFacts[fact](res.Observations)); diff != "" {
				t.Errorf("facts (-want +got):\n%s", diff)
			}
			if q, r := res.Counter(CounterQueries), res.Counter(CounterResponses); q != c.queries || r != c.responses {
				t.Errorf("counted %d queries, %d responses; want %d, %d", q, r, c.queries, c.responses)
			}
		})
	}
}
