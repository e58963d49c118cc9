package dpi

import "bytes"

// ProtoSSDP is the application protocol name of the Simple Service
// Discovery Protocol of UPnP (HTTP over UDP, UPnP Device Architecture
// section 1).
const ProtoSSDP = "ssdp"

// SSDP recognises an SSDP message over UDP: a NOTIFY or M-SEARCH request
// line, which no other protocol starts with, on any port (port 1900 is
// the standard one, but the same messages discover Plex and DIAL devices
// on others), or an "HTTP/1.x 200 OK" search response, which must either
// use port 1900 or carry an ST or USN header: a search response goes to
// the searcher's own port, usually not 1900.
type SSDP struct{}

// Name implements Identifier.
func (SSDP) Name() string { return ProtoSSDP }

var (
	ssdpNotify = []byte("NOTIFY * HTTP/1.")
	ssdpSearch = []byte("M-SEARCH * HTTP/1.")
	ssdpHTTP   = []byte("HTTP/1.")
	ssdpOK     = []byte(" 200 ")
)

// ssdpHeadScan bounds the search for an ST or USN header.
const ssdpHeadScan = 1024

// Identify implements Identifier.
func (SSDP) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != UDP {
		return false
	}
	if bytes.HasPrefix(b, ssdpNotify) || bytes.HasPrefix(b, ssdpSearch) {
		return true
	}
	if len(b) < 13 || !bytes.HasPrefix(b, ssdpHTTP) || !bytes.Equal(b[8:13], ssdpOK) {
		return false
	}
	if p.HasPort(1900) {
		return true
	}
	if len(b) > ssdpHeadScan {
		b = b[:ssdpHeadScan]
	}
	return hasSSDPHeader(b)
}

// hasSSDPHeader reports whether b has a line starting "ST:" or "USN:",
// in any case.
func hasSSDPHeader(b []byte) bool {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return false
		}
		b = b[i+1:]
		switch {
		case len(b) >= 3 && b[0]|0x20 == 's' && b[1]|0x20 == 't' && b[2] == ':':
			return true
		case len(b) >= 4 && b[0]|0x20 == 'u' && b[1]|0x20 == 's' && b[2]|0x20 == 'n' && b[3] == ':':
			return true
		}
	}
}
