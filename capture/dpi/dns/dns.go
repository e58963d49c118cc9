// Package dns reads the names a device resolves from the DNS queries it
// sends: each distinct question name of a query is an AttrDNSQuery fact
// about the query's sender. Responses are not read: answers of public
// resolvers are not facts about the devices that receive them. (A PTR
// answer of an internal server, mapping an address to a host name, would
// be; it is not read yet.) Multicast DNS (port 5353) belongs to package
// mdns and is skipped here.
//
// A recursive resolver or forwarder on the monitored network sends the
// queries of all its clients: its facts are the names it resolves for
// them.
package dns

import (
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Protocol is the Observation protocol name.
const Protocol = "dns"

// Counters kept per flow.
const (
	CounterQueries   = "dns.queries"
	CounterResponses = "dns.responses"
)

// maxQuestions bounds the questions read from one query (resolvers
// send one).
const maxQuestions = 16

// Dissector reads DNS queries. Its state is the parser, a scratch buffer
// and the bounded record of names already reported per device (a device
// resolves the same names over and over); each capture worker needs its
// own.
type Dissector struct {
	parser dnsmessage.Parser
	seen   *dpi.Recent
	buf    []byte
}

var _ dpi.Dissector = (*Dissector)(nil)

// New returns a DNS dissector.
func New() *Dissector { return &Dissector{seen: dpi.NewRecent(1 << 16), buf: make([]byte, 0, 256)} }

// Name implements dpi.Dissector.
func (*Dissector) Name() string { return "dns" }

// Protocols implements dpi.Dissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoDNS} }

// ErrShortTCP is returned for a DNS-over-TCP segment without its
// two-byte length prefix.
var ErrShortTCP = errors.New("dns: tcp segment shorter than its length prefix")

// Dissect implements dpi.Dissector.
func (d *Dissector) Dissect(p *dpi.Packet, out *dpi.Output) error {
	if p.HasPort(5353) {
		return nil // mDNS: package mdns
	}
	b := p.Payload
	if p.Transport == dpi.TCP {
		// A query fits in the segment that starts it. Some clients
		// send the length prefix in a segment of its own: the next
		// segment is then a bare message, taken only when its header
		// is that of a plain query (no answer or authority record).
		if len(b) < 2 {
			return ErrShortTCP
		}
		if n := int(b[0])<<8 | int(b[1]); n >= 12 && n <= len(b)-2 {
			b = b[2 : 2+n]
		} else if len(b) < 12 || b[2]&0x80 != 0 || b[6]|b[7]|b[8]|b[9] != 0 {
			return nil // a long response or the continuation of one
		}
	}
	h, err := d.parser.Start(b)
	if err != nil {
		return fmt.Errorf("dns: header: %w", err)
	}
	if h.Response {
		out.Count(CounterResponses, 1)
		return nil
	}
	out.Count(CounterQueries, 1)
	if h.OpCode != 0 || b[4] != 0 || b[5] == 0 || b[5] > maxQuestions {
		return nil // notify, update: no resolution; or no plausible question count
	}
	for i := 0; i < maxQuestions; i++ {
		q, err := d.parser.Question()
		if err == dnsmessage.ErrSectionDone {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dns: question: %w", err)
		}
		d.question(p, out, &q)
	}
	return nil
}

// question reports the name of one question.
func (d *Dissector) question(p *dpi.Packet, out *dpi.Output, q *dnsmessage.Question) {
	name := q.Name.Data[:q.Name.Length]
	if len(name) > 1 && name[len(name)-1] == '.' {
		name = name[:len(name)-1]
	}
	if len(name) == 0 || len(name) == 1 && name[0] == '.' || netbiosEncoded(name) {
		return // the root (a priming query), or an NBNS query sent to port 53
	}
	d.buf = append(d.buf[:0], name...)
	for i, c := range d.buf {
		if 'A' <= c && c <= 'Z' {
			d.buf[i] = c + 'a' - 'A'
		}
	}
	// The freshness record is per device, so it also removes a name
	// asked twice in one query (A and AAAA, or a retry).
	if !d.seen.Fresh(p, dpi.AttrDNSQuery, d.buf) {
		return
	}
	if v := dpi.Text(d.buf); v != "" {
		out.Observe(p, dpi.Sender, dpi.AttrDNSQuery, v, Protocol, 1.0, queryEvidence(q.Type))
	}
}

// netbiosEncoded tells whether name is a single label of 32 letters 'A'
// to 'P': the first-level encoding of a NetBIOS name (RFC 1001 14.1),
// which scanners send to port 53 in NBNS node status queries.
func netbiosEncoded(name []byte) bool {
	if len(name) != 32 {
		return false
	}
	for _, c := range name {
		if c < 'A' || c > 'P' {
			return false
		}
	}
	return true
}

// queryEvidence names the query by its type; common types get constant
// strings.
func queryEvidence(t dnsmessage.Type) string {
	switch t {
	case dnsmessage.TypeA:
		return "DNS query A"
	case dnsmessage.TypeAAAA:
		return "DNS query AAAA"
	case dnsmessage.TypePTR:
		return "DNS query PTR"
	case dnsmessage.TypeSRV:
		return "DNS query SRV"
	case dnsmessage.TypeTXT:
		return "DNS query TXT"
	case dnsmessage.TypeMX:
		return "DNS query MX"
	case dnsmessage.TypeCNAME:
		return "DNS query CNAME"
	case dnsmessage.TypeNS:
		return "DNS query NS"
	case dnsmessage.TypeSOA:
		return "DNS query SOA"
	case dnsmessage.TypeALL:
		return "DNS query ANY"
	case 64:
		return "DNS query SVCB"
	case 65:
		return "DNS query HTTPS"
	case 35:
		return "DNS query NAPTR"
	case dnsmessage.TypeAXFR:
		return "DNS query AXFR"
	case 251:
		return "DNS query IXFR"
	}
	return "DNS query TYPE" + strconv.Itoa(int(t))
}
