// Package syslog reads the sender's identity from syslog messages over
// UDP: the HOSTNAME and APP-NAME of RFC 5424, or the HOSTNAME and TAG of
// the RFC 3164 (BSD) format. The MSG part is never read into any output:
// device logs carry free text, sometimes patient data.
//
// RFC 3164 headers are a convention more than a format. A host name is
// only taken after a recognised timestamp ("Mmm dd hh:mm:ss" or RFC 3339),
// and, as rsyslog does, a word that ends in ':' or holds '[' is the TAG
// of a sender that left its host name out ("<13>Apr  5 12:56:51 robin:
// ..."). Messages without a recognised header give nothing.
package syslog

import (
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Protocol is the Observation protocol name.
const Protocol = "syslog"

// AttrAppName is the APP-NAME (RFC 5424) or TAG (RFC 3164) of the program
// that logged, an attribute this package adds to the dpi vocabulary.
const AttrAppName = "syslog.app_name"

// CounterMessages counts the syslog messages of a flow.
const CounterMessages = "syslog.messages"

// maxAppName is the RFC 5424 bound of APP-NAME; RFC 3164 bounds its TAG
// at 32.
const maxAppName = 48

// Dissector reads syslog messages. Its only state is the bounded record
// of facts already reported per flow (a busy sender logs many messages a
// second); each capture worker needs its own.
type Dissector struct {
	seen recent
}

// New returns a syslog dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.Dissector.
func (*Dissector) Name() string { return "syslog" }

// Protocols implements dpi.Dissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoSyslog} }

// Header is what a message says about its sender.
type Header struct {
	// Format is "rfc5424", "rfc3164" or "cisco" (IOS's own header).
	Format string
	// Hostname and AppName are "" when absent.
	Hostname, AppName string
}

// ErrNoPRI is returned for a payload without a "<PRI>" prefix.
var ErrNoPRI = errors.New("syslog: no <PRI> prefix")

// Dissect implements dpi.Dissector.
func (d *Dissector) Dissect(p *dpi.Packet, out *dpi.Output) error {
	h, ok := Parse(p.Payload)
	if !ok {
		return ErrNoPRI
	}
	out.Count(CounterMessages, 1)
	if h.Hostname != "" {
		evidence := "syslog " + h.Format + " HOSTNAME"
		d.observe(p, out, dpi.AttrSyslogHostname, h.Hostname, 0.9, evidence)
		if informative(h.Hostname) {
			d.observe(p, out, dpi.AttrHostname, h.Hostname, 0.6, evidence)
		}
	}
	if h.AppName != "" {
		field := " APP-NAME"
		if h.Format == "rfc3164" {
			field = " TAG"
		}
		d.observe(p, out, AttrAppName, h.AppName, 0.9, "syslog "+h.Format+field)
	}
	return nil
}

func (d *Dissector) observe(p *dpi.Packet, out *dpi.Output, attr, value string, confidence float64, evidence string) {
	if d.seen.fresh(p.FlowID, p.Time, attr, value) {
		observe(out, p, dpi.Sender, attr, value, confidence, evidence)
	}
}

// observe is out.Observe, except that a device with a public address is
// keyed by that address alone: its packets reach the mirror port through
// a router and carry the router's MAC, which must not collect its facts.
// An all-zero source MAC (loopback captures, some test traces) keys
// nothing either.
func observe(out *dpi.Output, p *dpi.Packet, side dpi.Side, attr, value string, confidence float64, evidence string) {
	addr, mac := p.Src, p.SrcMAC
	if side == dpi.Receiver {
		addr, mac = p.Dst, p.DstMAC
	}
	if p.HasMAC && (public(addr) || mac == [6]byte{}) {
		q := *p
		q.HasMAC = false
		p = &q
	}
	out.Observe(p, side, attr, value, Protocol, confidence, evidence)
}

// cgnat is the shared address space of RFC 6598, private in practice.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// public reports whether a is a global unicast address outside the
// private (RFC 1918, RFC 4193) and shared ranges.
func public(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsGlobalUnicast() && !a.IsPrivate() && !cgnat.Contains(a)
}

// Parse reads the header of a syslog message. It reports false when the
// message has no "<PRI>" prefix; a header it does not recognise gives an
// empty Header. Parse never looks past the header.
func Parse(b []byte) (Header, bool) {
	rest, ok := pri(b)
	if !ok {
		return Header{}, false
	}
	if h, ok := parse5424(rest); ok {
		return h, true
	}
	if h, ok := parseCisco(rest); ok {
		return h, true
	}
	return parse3164(rest), true
}

// pri strips "<PRI>" (1 to 3 digits, at most 191).
func pri(b []byte) ([]byte, bool) {
	if len(b) < 3 || b[0] != '<' {
		return nil, false
	}
	v := 0
	for i := 1; i < len(b) && i <= 4; i++ {
		c := b[i]
		if c == '>' {
			return b[i+1:], i > 1 && v <= 191
		}
		if c < '0' || c > '9' {
			return nil, false
		}
		v = v*10 + int(c-'0')
	}
	return nil, false
}

// parse5424 reads VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP.
func parse5424(b []byte) (Header, bool) {
	version, b := word(b)
	if len(version) == 0 || len(version) > 3 || version[0] < '1' || version[0] > '9' || !digits(version) {
		return Header{}, false
	}
	ts, b := word(b)
	if !(len(ts) == 1 && ts[0] == '-') && !rfc3339(ts) {
		return Header{}, false
	}
	host, b := word(b)
	app, _ := word(b)
	h := Header{Format: "rfc5424"}
	if len(host) > 0 && !(len(host) == 1 && host[0] == '-') && hostname(host) {
		h.Hostname = dpi.Text(host)
	}
	if len(app) > 0 && len(app) <= maxAppName && !(len(app) == 1 && app[0] == '-') && printableASCII(app) {
		h.AppName = dpi.Text(app)
	}
	return h, true
}

// parseCisco reads the header of Cisco IOS messages, which put a sequence
// number first and, with "logging origin-id hostname", the host name
// before the timestamp: "<189>38: R1: *Sep 22 13:39:11.250: %LINK-3-...".
// The host name is only taken when what follows it is a timestamp ('*',
// '.', a month) or the structured forms IOS writes there ('[', '<').
func parseCisco(b []byte) (Header, bool) {
	seq, b := word(b)
	if len(seq) < 2 || seq[len(seq)-1] != ':' || !digits(seq[:len(seq)-1]) {
		return Header{}, false
	}
	h := Header{Format: "cisco"}
	host, b := word(b)
	if len(host) < 2 || host[len(host)-1] != ':' || !hostname(host[:len(host)-1]) || len(b) < 3 {
		return h, true
	}
	if c := b[0]; c == '*' || c == '.' || c == '[' || c == '<' || month(b[:3]) {
		h.Hostname = dpi.Text(host[:len(host)-1])
	}
	return h, true
}

// parse3164 reads TIMESTAMP SP [HOSTNAME SP] TAG.
func parse3164(b []byte) Header {
	h := Header{Format: "rfc3164"}
	rest, ok := timestamp3164(b)
	if !ok {
		// Local forwarders often send the TAG alone ("<30>snmpd[6956]:
		// ..."): taken only in its "name[pid]:" form, which free text
		// hardly starts with.
		if first, _ := word(b); isTag(first) && first[len(first)-2] == ']' {
			h.AppName = tagName(first)
		}
		return h
	}
	first, b := word(rest)
	if !isTag(first) {
		if !hostname(first) {
			return h
		}
		h.Hostname = dpi.Text(first)
		first, _ = word(b)
	}
	if isTag(first) {
		h.AppName = tagName(first)
	}
	return h
}

// timestamp3164 strips "Mmm dd hh:mm:ss" (day space-padded or not) or an
// RFC 3339 timestamp, and the space after it.
func timestamp3164(b []byte) ([]byte, bool) {
	if ts, rest := word(b); rfc3339(ts) {
		return rest, true
	}
	if len(b) < 16 || b[3] != ' ' || !month(b[:3]) {
		return nil, false
	}
	day := b[4:6]
	if !(day[0] == ' ' || isDigit(day[0])) || !isDigit(day[1]) || b[6] != ' ' {
		return nil, false
	}
	t := b[7:15]
	if !isDigit(t[0]) || !isDigit(t[1]) || t[2] != ':' || !isDigit(t[3]) || !isDigit(t[4]) || t[5] != ':' || !isDigit(t[6]) || !isDigit(t[7]) {
		return nil, false
	}
	if b[15] != ' ' {
		return nil, false // a fraction or a ':' (Cisco's "19:57:17.371:") does not lead to a host name
	}
	return b[16:], true
}

// month reports whether b is an English month abbreviation.
func month(b []byte) bool {
	const months = "JanFebMarAprMayJunJulAugSepOctNovDec"
	for i := 0; i < len(months); i += 3 {
		if b[0] == months[i] && b[1] == months[i+1] && b[2] == months[i+2] {
			return true
		}
	}
	return false
}

// rfc3339 reports whether b starts like an RFC 3339 timestamp
// ("2013-09-12T19:16:34.457849+04:00"): a full date, 'T', hh:mm:ss.
func rfc3339(b []byte) bool {
	const shape = "dddd-dd-ddTdd:dd:dd"
	if len(b) < len(shape) {
		return false
	}
	for i := 0; i < len(shape); i++ {
		if shape[i] == 'd' && !isDigit(b[i]) || shape[i] != 'd' && b[i] != shape[i] {
			return false
		}
	}
	return true
}

// word returns the bytes up to the next space and what follows it.
func word(b []byte) (w, rest []byte) {
	for i, c := range b {
		if c == ' ' {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}

// hostname reports whether b can be a host name or address: letters,
// digits, '.', '-', '_', and ':' for IPv6, not ending in ':'.
func hostname(b []byte) bool {
	if len(b) == 0 || len(b) > 255 || b[len(b)-1] == ':' {
		return false
	}
	for _, c := range b {
		if !(isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '-' || c == '_' || c == ':') {
			return false
		}
	}
	return true
}

// isTag reports whether b is an RFC 3164 TAG as senders write it: a
// program name, an optional "[pid]", and a closing ':'.
func isTag(b []byte) bool {
	if len(b) < 2 || b[len(b)-1] != ':' {
		return false
	}
	name := tagName(b)
	return name != "" && len(name) <= maxAppName
}

// tagName returns the program name of a TAG ("chillispot[4222]:" gives
// "chillispot"), or "" when it has other characters.
func tagName(b []byte) string {
	b = b[:len(b)-1] // ':'
	if i := indexByte(b, '['); i >= 0 {
		if b[len(b)-1] != ']' || !digits(b[i+1:len(b)-1]) {
			return ""
		}
		b = b[:i]
	}
	if len(b) == 0 {
		return ""
	}
	for _, c := range b {
		if !(isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '-' || c == '_' || c == '/') {
			return ""
		}
	}
	return string(b)
}

// informative reports whether a host name names a device: not an IP
// address and not a loopback name.
func informative(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return false
	}
	h := strings.ToLower(host)
	return h != "localhost" && !strings.HasPrefix(h, "localhost.")
}

func printableASCII(b []byte) bool {
	for _, c := range b {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

func digits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return len(b) > 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// recent remembers which facts were reported in which flow, so that a
// sender logging all day reports its name once an hour per flow, not once
// per message. It forgets all when it holds too many.
type recent struct {
	m map[recentKey]time.Time
}

type recentKey struct{ flow, attr, value string }

const (
	recentMax   = 4096
	recentAfter = time.Hour
)

// fresh reports whether the fact was not reported in the flow within the
// last hour, and records it.
func (r *recent) fresh(flow string, now time.Time, attr, value string) bool {
	if r.m == nil {
		r.m = make(map[recentKey]time.Time)
	}
	k := recentKey{flow, attr, value}
	if at, ok := r.m[k]; ok && now.Sub(at) < recentAfter && !now.Before(at) {
		return false
	}
	if len(r.m) >= recentMax {
		clear(r.m)
	}
	r.m[k] = now
	return true
}
