package dpi

import "encoding/binary"

// ProtoDHCPv6 is the application protocol name of DHCPv6.
const ProtoDHCPv6 = "dhcpv6"

// DHCPv6 recognises a DHCPv6 message (RFC 8415) on UDP port 546 or 547:
// a client/server message type (Solicit 1 to Information-request 11) or a
// relay message (Relay-forward 12, Relay-reply 13), followed by a first
// option that fits in the payload (every message carries options).
type DHCPv6 struct{}

// Name implements Identifier.
func (DHCPv6) Name() string { return ProtoDHCPv6 }

// Identify implements Identifier.
func (DHCPv6) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != UDP || !(p.HasPort(546) || p.HasPort(547)) || len(b) < 4 {
		return false
	}
	hdr := 4 // message type, transaction ID
	switch {
	case b[0] >= 1 && b[0] <= 11:
	case b[0] == 12 || b[0] == 13:
		hdr = 34 // message type, hop count, link and peer addresses
	default:
		return false
	}
	if len(b) < hdr+4 {
		return false
	}
	return hdr+4+int(binary.BigEndian.Uint16(b[hdr+2:])) <= len(b)
}
