package dpi

import "encoding/binary"

// Application protocol names of the NetBIOS over TCP/IP services of
// RFC 1001/1002 that run over UDP.
const (
	ProtoNetBIOSNS  = "netbios-ns"
	ProtoNetBIOSDGM = "netbios-dgm"
)

// NetBIOSNS recognises a NetBIOS name service message (RFC 1002 4.2) on
// UDP port 137: a DNS-like header with an opcode NBNS defines (query,
// registration, release, WACK, refresh, multi-homed registration), at
// most one record per section, a question or an answer, and a first
// name of 32 encoded bytes (the first-level encoding of
// a 16-byte NetBIOS name), which DNS names seldom are.
type NetBIOSNS struct{}

// Name implements Identifier.
func (NetBIOSNS) Name() string { return ProtoNetBIOSNS }

// Identify implements Identifier.
func (NetBIOSNS) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != UDP || !p.HasPort(137) || len(b) < 12 {
		return false
	}
	switch (b[2] >> 3) & 0x0f {
	case 0, 5, 6, 7, 8, 9, 15:
	default:
		return false
	}
	qd := binary.BigEndian.Uint16(b[4:6])
	an := binary.BigEndian.Uint16(b[6:8])
	ns := binary.BigEndian.Uint16(b[8:10])
	ar := binary.BigEndian.Uint16(b[10:12])
	if qd > 1 || an > 1 || ns > 1 || ar > 1 || qd+an == 0 {
		return false
	}
	return len(b) == 12 || b[12] == 0x20
}

// NetBIOSDGM recognises a NetBIOS datagram service message (RFC 1002
// 4.4) on UDP port 138: a message type from 0x10 to 0x16, and for the
// direct and broadcast datagrams (0x10-0x12) a source name of 32
// encoded bytes after the 14-byte header.
type NetBIOSDGM struct{}

// Name implements Identifier.
func (NetBIOSDGM) Name() string { return ProtoNetBIOSDGM }

// Identify implements Identifier.
func (NetBIOSDGM) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != UDP || !p.HasPort(138) || len(b) < 11 {
		return false
	}
	switch b[0] {
	case 0x10, 0x11, 0x12:
		return len(b) >= 15 && b[14] == 0x20
	case 0x13, 0x14, 0x15, 0x16:
		return true
	}
	return false
}
