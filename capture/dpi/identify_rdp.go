package dpi

import "encoding/binary"

// ProtoRDP is the application protocol name of the Remote Desktop
// Protocol (MS-RDPBCGR) over TCP.
const ProtoRDP = "rdp"

// RDP recognises the X.224 Connection Request that opens an RDP
// connection: a TPKT header (version 3, RFC 1006) whose length matches the
// X.224 length indicator, with the CR TPDU code 0xE0. Other ISO-on-TCP
// protocols (S7comm on port 102) open the same way, so the request must
// also be on port 3389, carry an "mstshash" cookie, or end with an
// RDP_NEG_REQ structure.
type RDP struct{}

// Name implements Identifier.
func (RDP) Name() string { return ProtoRDP }

var rdpCookie = []byte("Cookie: mstshash=")

// Identify implements Identifier.
func (RDP) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != TCP || len(b) < 11 || b[0] != 0x03 || b[1] != 0x00 {
		return false
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < 11 || n > len(b) || int(b[4]) != n-5 || b[5]&0xf0 != 0xe0 {
		return false
	}
	if p.HasPort(3389) {
		return true
	}
	user := b[11:n]
	if len(user) >= len(rdpCookie) && string(user[:len(rdpCookie)]) == string(rdpCookie) {
		return true
	}
	// RDP_NEG_REQ: type 1, flags, length 8, requestedProtocols.
	for _, at := range [...]int{len(user) - 8, len(user) - 8 - 36} { // without or with RDP_CORRELATION_INFO
		if at >= 0 && user[at] == 0x01 && user[at+2] == 0x08 && user[at+3] == 0x00 && user[at+5]|user[at+6]|user[at+7] == 0 {
			return true
		}
	}
	return false
}
