package dpi

import "encoding/binary"

// ProtoModbus is the application protocol name of Modbus/TCP.
const ProtoModbus = "modbus"

// Modbus recognises a Modbus/TCP ADU on TCP port 502: an MBAP header with
// protocol identifier 0 and a length of 2 to 254 bytes (unit identifier
// and PDU) that fits the payload, and a function code the Modbus
// Application Protocol v1.1b3 defines (public or user-defined, or its
// exception form). The port gate keeps other binary protocols out: the
// header alone is too weak a signature.
type Modbus struct{}

// Name implements Identifier.
func (Modbus) Name() string { return ProtoModbus }

// Identify implements Identifier.
func (Modbus) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != TCP || !p.HasPort(502) || len(b) < 8 {
		return false
	}
	if binary.BigEndian.Uint16(b[2:4]) != 0 {
		return false
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if n < 2 || n > 254 || 6+n > len(b) {
		return false
	}
	return modbusFunction(b[7] & 0x7f)
}

// modbusFunction reports whether fc (without the exception bit) is
// a public function code of the Modbus Application Protocol v1.1b3
// (section 5.1 and 6), one of its user-defined ranges (65-72, 100-110),
// or 90, which Schneider Electric's UMAS uses.
func modbusFunction(fc byte) bool {
	switch {
	case fc >= 1 && fc <= 8, fc == 11, fc == 12, fc >= 15 && fc <= 17, fc >= 20 && fc <= 24, fc == 43:
		return true
	case fc >= 65 && fc <= 72, fc >= 100 && fc <= 110, fc == 90:
		return true
	}
	return false
}
