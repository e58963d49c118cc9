// Package mdns reads what a device says about itself in multicast DNS
// (RFC 6762) and DNS-SD (RFC 6763) responses and announcements: its host
// name (the owner of address records that carry its own address, or the
// target of the reverse-mapping PTR record of its own address), the
// service instances it offers (PTR and SRV records), the model in its
// _device-info TXT record and a few well-known identity keys of its
// other TXT records.
//
// Queries are ignored: their questions name what the sender looks for,
// and their known-answer records are other devices' records from the
// sender's cache. Responses can also come from a Bonjour Sleep Proxy
// answering for a sleeping device; address records that do not carry
// the sender's own address are therefore not taken as its host name.
package mdns

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Protocol is the Observation protocol name.
const Protocol = "mdns"

// Counters kept per flow.
const (
	CounterQueries   = "mdns.queries"
	CounterResponses = "mdns.responses"
)

// Confidences: the device states these facts about itself; the model is
// a free-form key some vendors fill with a product family.
const (
	confHostname = 0.85
	confService  = 0.9
	confTXT      = 0.9
	confModel    = 0.8
)

// maxMatched bounds the host names per message whose address records
// carry the sender's address (a responder has one or two).
const maxMatched = 8

// Dissector reads mDNS responses. Its state is the parser, scratch
// buffers and the bounded record of facts already reported; each capture
// worker needs its own.
type Dissector struct {
	parser  dnsmessage.Parser
	section int
	seen    *dpi.Recent
	buf     []byte
	// hosts are the .local names that the address and reverse PTR
	// records of the message being read tie to the sender's address;
	// their bytes are in hostBuf.
	hosts   [maxMatched]host
	nhosts  int
	hostBuf []byte
}

// host is a host name tied to the sender's address, and the evidence
// naming the record that does.
type host struct {
	start, end int
	evidence   string
}

var _ dpi.Dissector = (*Dissector)(nil)

// New returns an mDNS dissector.
func New() *Dissector {
	return &Dissector{seen: dpi.NewRecent(8192), buf: make([]byte, 0, 512), hostBuf: make([]byte, 0, 256)}
}

// Name implements dpi.Dissector.
func (*Dissector) Name() string { return "mdns" }

// Protocols implements dpi.Dissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoMDNS} }

// ErrNotMDNS is returned for a message that mDNS does not allow (an
// opcode or response code other than 0).
var ErrNotMDNS = errors.New("mdns: opcode or response code is not 0")

// Dissect implements dpi.Dissector.
func (d *Dissector) Dissect(p *dpi.Packet, out *dpi.Output) error {
	h, err := d.parser.Start(p.Payload)
	if err != nil {
		return fmt.Errorf("mdns: header: %w", err)
	}
	if h.OpCode != 0 || h.RCode != 0 {
		return ErrNotMDNS
	}
	if !h.Response {
		out.Count(CounterQueries, 1)
		return nil
	}
	out.Count(CounterResponses, 1)
	d.nhosts, d.hostBuf = 0, d.hostBuf[:0]
	err = d.records(p, out)
	// Host names last: whether one of a name's address records carries
	// the sender's address is only known at the end. Those read before
	// a malformed record count.
	for _, h := range d.hosts[:d.nhosts] {
		d.observe(p, out, dpi.AttrHostname, d.hostBuf[h.start:h.end], confHostname, h.evidence)
	}
	return err
}

// records walks the answer, authority and additional records.
func (d *Dissector) records(p *dpi.Packet, out *dpi.Output) error {
	pr := &d.parser
	if err := pr.SkipAllQuestions(); err != nil {
		return fmt.Errorf("mdns: question: %w", err)
	}
	for d.section = 0; d.section < 3; d.section++ {
		for {
			var rh dnsmessage.ResourceHeader
			var err error
			switch d.section {
			case 0:
				rh, err = pr.AnswerHeader()
			case 1:
				rh, err = pr.AuthorityHeader()
			default:
				rh, err = pr.AdditionalHeader()
			}
			if err == dnsmessage.ErrSectionDone {
				break
			}
			if err != nil {
				return fmt.Errorf("mdns: record header: %w", err)
			}
			if err := d.record(p, out, &rh); err != nil {
				return fmt.Errorf("mdns: %v record: %w", rh.Type, err)
			}
		}
	}
	return nil
}

// skip skips the body of the current record.
func (d *Dissector) skip() error {
	switch d.section {
	case 0:
		return d.parser.SkipAnswer()
	case 1:
		return d.parser.SkipAuthority()
	}
	return d.parser.SkipAdditional()
}

// record reads the body of one record, or skips it.
func (d *Dissector) record(p *dpi.Packet, out *dpi.Output, rh *dnsmessage.ResourceHeader) error {
	pr := &d.parser
	owner := rh.Name.Data[:rh.Name.Length]
	switch rh.Type {
	case dnsmessage.TypeA, dnsmessage.TypeAAAA:
		name, ok := localHost(owner)
		if !ok {
			return d.skip()
		}
		var addr netip.Addr
		evidence := "mDNS A record with the sender's address"
		if rh.Type == dnsmessage.TypeA {
			r, err := pr.AResource()
			if err != nil {
				return err
			}
			addr = netip.AddrFrom4(r.A)
		} else {
			r, err := pr.AAAAResource()
			if err != nil {
				return err
			}
			addr = netip.AddrFrom16(r.AAAA)
			evidence = "mDNS AAAA record with the sender's address"
		}
		if addr.Unmap() == p.Src.Unmap() {
			d.addHost(name, evidence)
		}
		return nil
	case dnsmessage.TypePTR:
		if addr, ok := reverseAddr(owner); ok {
			if addr.Unmap() != p.Src.Unmap() {
				return d.skip()
			}
			// The sender maps its own address to its name.
			r, err := pr.PTRResource()
			if err != nil {
				return err
			}
			if name, ok := localHost(r.PTR.Data[:r.PTR.Length]); ok {
				d.addHost(name, evidenceReverse)
			}
			return nil
		}
		r, err := pr.PTRResource()
		if err != nil {
			return err
		}
		d.service(p, out, r.PTR.Data[:r.PTR.Length], "mDNS PTR record")
		return nil
	case dnsmessage.TypeSRV:
		d.service(p, out, owner, "mDNS SRV record")
		return d.skip()
	case dnsmessage.TypeTXT:
		_, typ, ok := serviceName(owner)
		if !ok || !d.seen.Fresh(p, txtRecordKey, owner) {
			// Reading TXT strings allocates: an instance's TXT record is
			// read once an hour, as its facts are reported.
			return d.skip()
		}
		r, err := pr.TXTResource()
		if err != nil {
			return err
		}
		deviceInfo := equalFold(typ, "_device-info._tcp")
		for _, kv := range r.TXT {
			d.txt(p, out, kv, deviceInfo)
		}
		return nil
	}
	return d.skip()
}

const evidenceReverse = "mDNS reverse PTR record of the sender's address"

// txtRecordKey is the recent-record key of the TXT records read.
const txtRecordKey = "mdns TXT record read"

// addHost notes a host name that an address record or a reverse PTR
// record ties to the sender's address, once; an address record is the
// better evidence.
func (d *Dissector) addHost(name []byte, evidence string) {
	for i, h := range d.hosts[:d.nhosts] {
		if equalFold(d.hostBuf[h.start:h.end], name) {
			if h.evidence == evidenceReverse {
				d.hosts[i].evidence = evidence
			}
			return
		}
	}
	if d.nhosts == maxMatched {
		return
	}
	start := len(d.hostBuf)
	d.hostBuf = append(d.hostBuf, name...)
	d.hosts[d.nhosts] = host{start, len(d.hostBuf), evidence}
	d.nhosts++
}

// service reports the service instance named by name
// ("<instance>.<_service>.<_tcp|_udp>.local.") as "<instance> (<type>)".
func (d *Dissector) service(p *dpi.Packet, out *dpi.Output, name []byte, evidence string) {
	instance, typ, ok := serviceName(name)
	if !ok || !d.seen.Fresh(p, dpi.AttrMDNSService, instance, typ) {
		return
	}
	d.buf = append(d.buf[:0], instance...)
	d.buf = append(d.buf, " ("...)
	d.buf = append(d.buf, typ...)
	d.buf = append(d.buf, ')')
	if v := dpi.Text(d.buf); v != "" {
		out.Observe(p, dpi.Sender, dpi.AttrMDNSService, v, Protocol, confService, evidence)
	}
}

// txtKeys are the TXT keys that name a device's maker, model or given
// name: the printer keys of the Bonjour Printing Specification (ty,
// usb_MFG, usb_MDL), the md (model) and fn (friendly name) of Google
// Cast, mf and manufacturer of other devices, and model.
var txtKeys = []struct{ key, evidence string }{
	{"ty", "mDNS TXT record ty"},
	{"usb_MFG", "mDNS TXT record usb_MFG"},
	{"usb_MDL", "mDNS TXT record usb_MDL"},
	{"md", "mDNS TXT record md"},
	{"mf", "mDNS TXT record mf"},
	{"manufacturer", "mDNS TXT record manufacturer"},
	{"model", "mDNS TXT record model"},
	{"fn", "mDNS TXT record fn"},
}

// txt reports one TXT string when its key is a well-known identity key,
// and the model of a _device-info record.
func (d *Dissector) txt(p *dpi.Packet, out *dpi.Output, kv string, deviceInfo bool) {
	eq := strings.IndexByte(kv, '=')
	if eq <= 0 || eq == len(kv)-1 {
		return // a boolean attribute or an empty value
	}
	key := kv[:eq]
	if deviceInfo && equalFold(key, "model") {
		d.buf = append(d.buf[:0], kv[eq+1:]...)
		d.observe(p, out, dpi.AttrModel, d.buf, confModel, "mDNS _device-info TXT model")
		return
	}
	for _, k := range txtKeys {
		if equalFold(key, k.key) {
			d.buf = append(d.buf[:0], kv...)
			d.observe(p, out, dpi.AttrMDNSTXT, d.buf, confTXT, k.evidence)
			return
		}
	}
}

// observe reports a fact not reported lately.
func (d *Dissector) observe(p *dpi.Packet, out *dpi.Output, attr string, value []byte, confidence float64, evidence string) {
	if !d.seen.Fresh(p, attr, value) {
		return
	}
	if v := dpi.Text(value); v != "" {
		out.Observe(p, dpi.Sender, attr, v, Protocol, confidence, evidence)
	}
}

// localHost returns the host part of a name in the .local domain
// ("gemini.local." gives "gemini").
func localHost(name []byte) ([]byte, bool) {
	host, ok := cutSuffixFold(name, ".local.")
	if !ok || len(host) == 0 || host[0] == '_' {
		return nil, false // a service name, not a host
	}
	return host, true
}

// serviceName splits a service instance name
// "<instance>.<_service>.<_tcp|_udp>.local." into the instance and the
// type "<_service>.<_tcp|_udp>". The parser refuses labels that hold
// dots, so the dots of name all separate labels.
func serviceName(name []byte) (instance, typ []byte, ok bool) {
	rest, ok := cutSuffixFold(name, ".local.")
	if !ok {
		return nil, nil, false
	}
	proto := bytes.LastIndexByte(rest, '.')
	if proto <= 0 || !(equalFold(rest[proto+1:], "_tcp") || equalFold(rest[proto+1:], "_udp")) {
		return nil, nil, false
	}
	svc := bytes.LastIndexByte(rest[:proto], '.')
	if svc <= 0 || rest[svc+1] != '_' || svc+2 > proto {
		return nil, nil, false
	}
	instance, typ = rest[:svc], rest[svc+1:]
	if instance[0] == '_' {
		return nil, nil, false // "_printer._sub": a subtype, not an instance
	}
	return instance, typ, true
}

// reverseAddr parses a reverse-mapping name ("7.2.0.10.in-addr.arpa." or
// the 32 nibbles of ip6.arpa).
func reverseAddr(name []byte) (netip.Addr, bool) {
	if rest, ok := cutSuffixFold(name, ".in-addr.arpa."); ok {
		var a [4]byte
		for i := 3; i >= 0; i-- {
			j := bytes.IndexByte(rest, '.')
			label := rest
			if i > 0 {
				if j < 0 {
					return netip.Addr{}, false
				}
				label, rest = rest[:j], rest[j+1:]
			} else if j >= 0 {
				return netip.Addr{}, false
			}
			v, ok := octet(label)
			if !ok {
				return netip.Addr{}, false
			}
			a[i] = v
		}
		return netip.AddrFrom4(a), true
	}
	if rest, ok := cutSuffixFold(name, ".ip6.arpa."); ok {
		if len(rest) != 63 {
			return netip.Addr{}, false
		}
		var a [16]byte
		for i := 0; i < 32; i++ {
			c := rest[2*i]
			if i < 31 && rest[2*i+1] != '.' {
				return netip.Addr{}, false
			}
			n, ok := nibble(c)
			if !ok {
				return netip.Addr{}, false
			}
			// Nibbles run from the lowest: nibble i is byte 15-i/2.
			if i%2 == 0 {
				a[15-i/2] |= n
			} else {
				a[15-i/2] |= n << 4
			}
		}
		return netip.AddrFrom16(a), true
	}
	return netip.Addr{}, false
}

func octet(b []byte) (byte, bool) {
	if len(b) == 0 || len(b) > 3 || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return byte(v), v <= 255
}

func nibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func cutSuffixFold(b []byte, suffix string) ([]byte, bool) {
	if len(b) < len(suffix) || !equalFold(b[len(b)-len(suffix):], suffix) {
		return nil, false
	}
	return b[:len(b)-len(suffix)], true
}

// equalFold compares ASCII case-insensitively without allocating.
func equalFold[A, B ~string | ~[]byte](a A, b B) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
