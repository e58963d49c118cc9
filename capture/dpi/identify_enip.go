package dpi

import "encoding/binary"

// ProtoENIP is the application protocol name of EtherNet/IP explicit
// messaging (the encapsulation protocol of the CIP Networks Library
// Volume 2, chapter 2) on port 44818. CIP I/O on UDP 2222 is not it.
const ProtoENIP = "enip"

// ENIP recognises an EtherNet/IP encapsulation header on TCP or UDP port
// 44818: a command the specification defines (only the list commands
// over UDP; over TCP also 0x0001, reserved for legacy use, which RSLinx
// sends first), a data length that fits the payload (exactly, over UDP),
// a status code the specification defines, and options zero.
type ENIP struct{}

// Name implements Identifier.
func (ENIP) Name() string { return ProtoENIP }

// Identify implements Identifier.
func (ENIP) Identify(p *Packet) bool {
	b := p.Payload
	if !p.HasPort(44818) || len(b) < 24 {
		return false
	}
	n := 24 + int(binary.LittleEndian.Uint16(b[2:4]))
	switch p.Transport {
	case TCP:
		if n > len(b) {
			return false
		}
		switch binary.LittleEndian.Uint16(b[0:2]) {
		case 0x0000, 0x0001, 0x0004, 0x0063, 0x0064, 0x0065, 0x0066, 0x006f, 0x0070, 0x0072, 0x0073:
		default:
			return false
		}
	case UDP:
		if n != len(b) {
			return false
		}
		switch binary.LittleEndian.Uint16(b[0:2]) {
		case 0x0004, 0x0063, 0x0064:
		default:
			return false
		}
	default:
		return false
	}
	switch binary.LittleEndian.Uint32(b[8:12]) {
	case 0x0000, 0x0001, 0x0002, 0x0003, 0x0064, 0x0065, 0x0069:
	default:
		return false
	}
	return binary.LittleEndian.Uint32(b[20:24]) == 0
}
