// Package ssdp reads what devices say about themselves in the Simple
// Service Discovery Protocol of UPnP (UPnP Device Architecture 1.1
// section 1): the SERVER header ("OS/version UPnP/1.1 product/version"),
// the device UUID of the USN header, the device type of the NT or ST
// header and the LOCATION of the device description in NOTIFY
// announcements and search responses, and the USER-AGENT of the control
// points that send M-SEARCH requests.
//
// The device description that LOCATION points to is not fetched (Vigil
// is passive); when a control point fetches it over TCP, reading it is
// the HTTP dissector's business.
package ssdp

import (
	"bytes"
	"errors"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Protocol is the Observation protocol name.
const Protocol = "ssdp"

// Attributes this package adds to the dpi vocabulary.
const (
	// AttrLocation is the URL of the device description (LOCATION).
	AttrLocation = "ssdp.location"
	// AttrDeviceType is the UPnP device type a device announces or
	// answers a search for ("urn:schemas-upnp-org:device:MediaServer:1").
	AttrDeviceType = "ssdp.device_type"
)

// Counters kept per flow.
const (
	CounterNotify    = "ssdp.notify"
	CounterSearch    = "ssdp.m_search"
	CounterResponses = "ssdp.responses"
)

// Confidences: a device's own headers are self-identification; the OS is
// read from a header convention that many stacks fill with placeholders
// or a product name, so it is a guess.
const (
	confSelf      = 0.9
	confUserAgent = 0.6
	confOS        = 0.5
)

// maxHeaders bounds the header lines read from one message.
const maxHeaders = 64

// Dissector reads SSDP messages. Its only state is the bounded record of
// facts already reported (devices repeat their announcements every few
// minutes, once per device and service type); each capture worker needs
// its own.
type Dissector struct {
	seen *dpi.Recent
	buf  []byte
}

var _ dpi.Dissector = (*Dissector)(nil)

// New returns an SSDP dissector.
func New() *Dissector { return &Dissector{seen: dpi.NewRecent(8192), buf: make([]byte, 0, 256)} }

// Name implements dpi.Dissector.
func (*Dissector) Name() string { return "ssdp" }

// Protocols implements dpi.Dissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoSSDP} }

// ErrNotSSDP is returned for a payload that starts with none of the
// SSDP start lines.
var ErrNotSSDP = errors.New("ssdp: not a NOTIFY, M-SEARCH or 200 OK message")

// Message kinds.
const (
	kindNotify = iota + 1
	kindSearch
	kindResponse
)

var (
	startNotify = []byte("NOTIFY * HTTP/1.")
	startSearch = []byte("M-SEARCH * HTTP/1.")
	startHTTP   = []byte("HTTP/1.")
	status200   = []byte(" 200")
)

// Dissect implements dpi.Dissector.
func (d *Dissector) Dissect(p *dpi.Packet, out *dpi.Output) error {
	b := p.Payload
	line, rest := nextLine(b)
	kind := 0
	switch {
	case bytes.HasPrefix(line, startNotify):
		kind = kindNotify
		out.Count(CounterNotify, 1)
	case bytes.HasPrefix(line, startSearch):
		kind = kindSearch
		out.Count(CounterSearch, 1)
	case bytes.HasPrefix(line, startHTTP) && len(line) >= 12 && bytes.Equal(line[8:12], status200):
		kind = kindResponse
		out.Count(CounterResponses, 1)
	default:
		return ErrNotSSDP
	}
	for i := 0; i < maxHeaders && len(rest) > 0; i++ {
		line, rest = nextLine(rest)
		if len(line) == 0 {
			break // end of the headers
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		if len(value) == 0 {
			continue
		}
		if kind == kindSearch {
			if equalFold(name, "user-agent") {
				d.observe(p, out, dpi.AttrHTTPUserAgent, value, confUserAgent, "SSDP M-SEARCH USER-AGENT header")
				if os, ok := osToken(value); ok {
					d.os(p, out, os, "SSDP M-SEARCH USER-AGENT header OS token")
				}
			}
			continue
		}
		ev := &notifyEvidence
		if kind == kindResponse {
			ev = &responseEvidence
		}
		switch {
		case equalFold(name, "server"):
			d.observe(p, out, dpi.AttrSSDPServer, value, confSelf, ev.server)
			if os, ok := osToken(value); ok {
				d.os(p, out, os, ev.serverOS)
			}
		case equalFold(name, "usn"):
			if uuid, ok := usnUUID(value); ok {
				d.buf = append(d.buf[:0], uuid...)
				lower(d.buf)
				d.observe(p, out, dpi.AttrSSDPUSN, d.buf, confSelf, ev.usn)
			}
		case equalFold(name, "location"):
			d.buf = appendWithoutUserinfo(d.buf[:0], value)
			d.observe(p, out, AttrLocation, d.buf, confSelf, ev.location)
		case equalFold(name, "nt") && kind == kindNotify, equalFold(name, "st") && kind == kindResponse:
			if isDeviceType(value) {
				d.observe(p, out, AttrDeviceType, value, confSelf, ev.typ)
			}
		}
	}
	return nil
}

// evidences name the headers of a message kind; constants, so that no
// evidence is built per packet.
type evidences struct{ server, serverOS, usn, location, typ string }

var (
	notifyEvidence = evidences{
		"SSDP NOTIFY SERVER header", "SSDP NOTIFY SERVER header OS token",
		"SSDP NOTIFY USN header", "SSDP NOTIFY LOCATION header", "SSDP NOTIFY NT header",
	}
	responseEvidence = evidences{
		"SSDP search response SERVER header", "SSDP search response SERVER header OS token",
		"SSDP search response USN header", "SSDP search response LOCATION header", "SSDP search response ST header",
	}
)

// observe reports a fact not reported lately.
func (d *Dissector) observe(p *dpi.Packet, out *dpi.Output, attr string, value []byte, confidence float64, evidence string) {
	if !d.seen.Fresh(p, attr, value) {
		return
	}
	if v := dpi.Text(value); v != "" {
		out.Observe(p, dpi.Sender, attr, v, Protocol, confidence, evidence)
	}
}

// os reports an "OS/version" token as "OS version".
func (d *Dissector) os(p *dpi.Packet, out *dpi.Output, token []byte, evidence string) {
	d.buf = append(d.buf[:0], token...)
	if i := bytes.IndexByte(d.buf, '/'); i >= 0 {
		d.buf[i] = ' '
	}
	d.observe(p, out, dpi.AttrOS, d.buf, confOS, evidence)
}

// osToken returns the "OS/version" token that UDA puts first in SERVER
// and USER-AGENT headers, before "UPnP/1.x" ("Linux/3.10 UPnP/1.0
// MiniDLNA/1.3.0", "Linux/2.6.21, UPnP/1.0, Portable SDK"): the first
// word, when it is a name/version pair whose version starts with a digit
// and a UPnP/ token follows. Placeholders copied from the specification
// ("OS/version", "Custom/1.0") and browser tokens are refused.
func osToken(v []byte) ([]byte, bool) {
	end := bytes.IndexAny(v, " ,\t")
	if end <= 0 || indexFold(v[end:], "upnp/") < 0 {
		return nil, false
	}
	token := v[:end]
	slash := bytes.IndexByte(token, '/')
	if slash <= 0 || slash == len(token)-1 || bytes.IndexByte(token[slash+1:], '/') >= 0 {
		return nil, false
	}
	name, version := token[:slash], token[slash+1:]
	if version[0] < '0' || version[0] > '9' {
		return nil, false
	}
	for _, bad := range placeholderOS {
		if equalFold(name, bad) {
			return nil, false
		}
	}
	return token, true
}

// placeholderOS are the names before a version that are no OS.
var placeholderOS = []string{"os", "custom", "mozilla", "unknown", "unspecified", "upnp"}

// usnUUID returns the UUID of a USN ("uuid:<UUID>" alone or followed by
// "::" and a type).
func usnUUID(v []byte) ([]byte, bool) {
	if len(v) < 6 || !equalFold(v[:5], "uuid:") {
		return nil, false
	}
	v = v[5:]
	if i := bytes.Index(v, []byte("::")); i >= 0 {
		v = v[:i]
	}
	if len(v) == 0 || len(v) > 128 {
		return nil, false
	}
	return v, true
}

// isDeviceType tells whether an NT or ST value is a device type
// ("urn:<domain>:device:<type>:<version>") rather than a service type, a
// UUID or upnp:rootdevice.
func isDeviceType(v []byte) bool {
	return len(v) > 4 && equalFold(v[:4], "urn:") && indexFold(v, ":device:") > 0
}

// appendWithoutUserinfo appends the URL u without the user name and
// password it may carry ("http://user:pw@host/"): a value never holds a
// secret.
func appendWithoutUserinfo(dst, u []byte) []byte {
	scheme := bytes.Index(u, []byte("://"))
	if scheme < 0 {
		return append(dst, u...)
	}
	host := u[scheme+3:]
	if end := bytes.IndexAny(host, "/?#"); end >= 0 {
		host = host[:end]
	}
	at := bytes.LastIndexByte(host, '@')
	if at < 0 {
		return append(dst, u...)
	}
	dst = append(dst, u[:scheme+3]...)
	return append(dst, u[scheme+3+at+1:]...)
}

// nextLine returns the line at the start of b without its CRLF or LF,
// and what follows.
func nextLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.TrimSuffix(b, []byte{'\r'}), nil
	}
	return bytes.TrimSuffix(b[:i], []byte{'\r'}), b[i+1:]
}

// equalFold compares ASCII case-insensitively without allocating.
func equalFold(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if toLower(a[i]) != toLower(b[i]) {
			return false
		}
	}
	return true
}

// indexFold is bytes.Index for a lower-case ASCII needle, ignoring case.
func indexFold(b []byte, needle string) int {
	for i := 0; i+len(needle) <= len(b); i++ {
		if equalFold(b[i:i+len(needle)], needle) {
			return i
		}
	}
	return -1
}

func lower(b []byte) {
	for i, c := range b {
		b[i] = toLower(c)
	}
}

func toLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
