package dpi

import "encoding/binary"

// ProtoMDNS is the application protocol name of multicast DNS (RFC 6762)
// and DNS-SD over it (RFC 6763).
const ProtoMDNS = "mdns"

// MDNS recognises a multicast DNS message: UDP with port 5353 on either
// side (multicast on both, and the legacy unicast queries and answers of
// RFC 6762 section 6.7 on one) and a DNS header that mDNS allows: opcode
// 0 and response code 0 (RFC 6762 section 18), plausible record counts,
// at least one record. It must come before the DNS identifier, which
// also accepts port 5353.
type MDNS struct{}

// Name implements Identifier.
func (MDNS) Name() string { return ProtoMDNS }

// Identify implements Identifier.
func (MDNS) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != UDP || !p.HasPort(5353) || len(b) < 12 {
		return false
	}
	if b[2]&0x78 != 0 || b[3]&0x0f != 0 {
		return false // opcode, rcode
	}
	qd := binary.BigEndian.Uint16(b[4:6])
	an := binary.BigEndian.Uint16(b[6:8])
	ns := binary.BigEndian.Uint16(b[8:10])
	ar := binary.BigEndian.Uint16(b[10:12])
	if qd > 512 || an > 512 || ns > 512 || ar > 512 || qd+an+ns+ar == 0 {
		return false
	}
	// The first name cannot be a compression pointer: nothing precedes it.
	return len(b) == 12 || b[12] < 64
}
