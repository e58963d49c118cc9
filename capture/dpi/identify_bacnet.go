package dpi

import "encoding/binary"

// ProtoBACnet is the application protocol name of BACnet/IP (ASHRAE
// 135 Annex J).
const ProtoBACnet = "bacnet"

// BACnet recognises a BACnet/IP message on the UDP ports BACnet uses
// (47808-47823, 0xBAC0-0xBACF): a BVLC header of type 0x81 with a
// function Annex J defines and a length equal to the payload's, and, for
// the functions that carry an NPDU, NPDU version 1 with the reserved
// control bits clear. BACnet/IPv6 (type 0x82) is not recognised.
type BACnet struct{}

// Name implements Identifier.
func (BACnet) Name() string { return ProtoBACnet }

// Identify implements Identifier.
func (BACnet) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != UDP || !(isBACnetPort(p.SrcPort) || isBACnetPort(p.DstPort)) || len(b) < 4 {
		return false
	}
	if b[0] != 0x81 || b[1] > 0x0c || int(binary.BigEndian.Uint16(b[2:4])) != len(b) {
		return false
	}
	var npdu []byte
	switch b[1] {
	case 0x04: // Forwarded-NPDU: the original B/IP address (6 bytes) first
		if len(b) < 10 {
			return false
		}
		npdu = b[10:]
	case 0x09, 0x0a, 0x0b: // Distribute-Broadcast-To-Network, Original-Unicast/Broadcast-NPDU
		npdu = b[4:]
	default: // BVLC management messages carry no NPDU
		return true
	}
	return len(npdu) >= 2 && npdu[0] == 0x01 && npdu[1]&0x50 == 0
}

func isBACnetPort(port uint16) bool { return port&0xfff0 == 0xbac0 }
