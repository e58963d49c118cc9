package dpi

import (
	"bytes"
	"encoding/binary"
)

// Application protocol names produced by the default identifiers.
const (
	ProtoDICOM = "dicom"
	ProtoHL7   = "hl7"
	ProtoTLS   = "tls"
	ProtoHTTP  = "http"
	ProtoSSH   = "ssh"
	ProtoDNS   = "dns"
	ProtoDHCP  = "dhcp"
	ProtoNTP   = "ntp"
	ProtoSNMP  = "snmp"
)

// DefaultIdentifiers returns the identifiers of this build, in the order
// they are tried: payload signatures first, then port-gated checks.
func DefaultIdentifiers() *Identifiers {
	r, err := NewIdentifiers(
		DICOM{}, HL7{}, POCT1A{}, TLS{}, SSH{}, HTTP{}, SMB{}, RDP{}, FTP{},
		// mDNS before DNS: the DNS identifier also accepts port 5353.
		DHCP{}, DHCPv6{}, MDNS{}, DNS{}, NTP{}, SNMP{}, Syslog{}, SSDP{}, NetBIOSNS{}, NetBIOSDGM{},
		BACnet{}, ENIP{}, Modbus{},
		// Port-gated only: last.
		Telnet{},
	)
	if err != nil {
		panic(err) // the list above is fixed; a duplicate is a programming error
	}
	return r
}

// DICOM recognises an A-ASSOCIATE-RQ or -AC PDU (PS3.8 9.3.2/9.3.3): PDU
// type 1 or 2, a length of at least the fixed 68-byte part, and protocol
// version 1 at offset 6.
type DICOM struct{}

// Name implements Identifier.
func (DICOM) Name() string { return ProtoDICOM }

// Identify implements Identifier.
func (DICOM) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != TCP || len(b) < 10 || (b[0] != 0x01 && b[0] != 0x02) || b[1] != 0 {
		return false
	}
	return binary.BigEndian.Uint32(b[2:6]) >= 68 && binary.BigEndian.Uint16(b[6:8]) == 0x0001
}

// HL7 recognises an MLLP frame start (0x0B) followed by an MSH segment.
type HL7 struct{}

// Name implements Identifier.
func (HL7) Name() string { return ProtoHL7 }

// Identify implements Identifier.
func (HL7) Identify(p *Packet) bool {
	b := p.Payload
	return p.Transport == TCP && len(b) >= 5 && b[0] == 0x0b && b[1] == 'M' && b[2] == 'S' && b[3] == 'H'
}

// TLS recognises a handshake record (type 22, version 3.x) whose first
// message is a ClientHello or ServerHello.
type TLS struct{}

// Name implements Identifier.
func (TLS) Name() string { return ProtoTLS }

// Identify implements Identifier.
func (TLS) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != TCP || len(b) < 6 || b[0] != 0x16 || b[1] != 0x03 || b[2] > 0x04 {
		return false
	}
	n := binary.BigEndian.Uint16(b[3:5])
	return n >= 4 && n <= 16384+2048 && (b[5] == 1 || b[5] == 2)
}

// SSH recognises the identification string "SSH-".
type SSH struct{}

// Name implements Identifier.
func (SSH) Name() string { return ProtoSSH }

var sshPrefix = []byte("SSH-")

// Identify implements Identifier.
func (SSH) Identify(p *Packet) bool {
	return p.Transport == TCP && bytes.HasPrefix(p.Payload, sshPrefix)
}

// HTTP recognises an HTTP/1.x request line or status line.
type HTTP struct{}

// Name implements Identifier.
func (HTTP) Name() string { return ProtoHTTP }

var httpPrefixes = [][]byte{
	[]byte("GET /"), []byte("POST /"), []byte("HEAD /"), []byte("PUT /"), []byte("DELETE /"),
	[]byte("OPTIONS "), []byte("PATCH /"), []byte("CONNECT "), []byte("TRACE /"),
	[]byte("GET http"), []byte("POST http"), []byte("HTTP/1."),
}

// Identify implements Identifier.
func (HTTP) Identify(p *Packet) bool {
	if p.Transport != TCP {
		return false
	}
	for _, prefix := range httpPrefixes {
		if bytes.HasPrefix(p.Payload, prefix) {
			return true
		}
	}
	return false
}

// DHCP recognises a BOOTP message with the DHCP magic cookie on UDP
// ports 67/68.
type DHCP struct{}

// Name implements Identifier.
func (DHCP) Name() string { return ProtoDHCP }

// Identify implements Identifier.
func (DHCP) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != UDP || !(p.HasPort(67) || p.HasPort(68)) || len(b) < 240 {
		return false
	}
	return (b[0] == 1 || b[0] == 2) && binary.BigEndian.Uint32(b[236:240]) == 0x63825363
}

// DNS recognises a DNS message on port 53 (and mDNS 5353, LLMNR 5355)
// whose header is plausible.
type DNS struct{}

// Name implements Identifier.
func (DNS) Name() string { return ProtoDNS }

// Identify implements Identifier.
func (DNS) Identify(p *Packet) bool {
	if !(p.HasPort(53) || p.HasPort(5353) || p.HasPort(5355)) {
		return false
	}
	b := p.Payload
	switch p.Transport {
	case TCP:
		if len(b) < 14 {
			return false
		}
		if int(binary.BigEndian.Uint16(b[0:2])) < 12 {
			return false
		}
		b = b[2:]
	case UDP:
	default:
		return false
	}
	if len(b) < 12 {
		return false
	}
	opcode := (b[2] >> 3) & 0x0f
	if opcode > 6 || opcode == 3 {
		return false
	}
	qd := binary.BigEndian.Uint16(b[4:6])
	an := binary.BigEndian.Uint16(b[6:8])
	ns := binary.BigEndian.Uint16(b[8:10])
	ar := binary.BigEndian.Uint16(b[10:12])
	if qd > 32 || an > 512 || ns > 512 || ar > 512 {
		return false
	}
	return qd+an+ns+ar > 0
}

// NTP recognises an NTP v1-4 packet on UDP port 123.
type NTP struct{}

// Name implements Identifier.
func (NTP) Name() string { return ProtoNTP }

// Identify implements Identifier.
func (NTP) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != UDP || !p.HasPort(123) || len(b) < 1 {
		return false
	}
	version, mode := (b[0]>>3)&0x07, b[0]&0x07
	if version < 1 || version > 4 {
		return false
	}
	switch mode {
	case 1, 2, 3, 4, 5:
		return len(b) >= 48
	case 6: // 12-byte control header with an opcode
		return len(b) >= 12 && b[1]&0x1f != 0
	case 7: // 8-byte private header
		return len(b) >= 8
	}
	return false
}

// SNMP recognises a BER SEQUENCE starting with an INTEGER version 0, 1
// or 3 (v1, v2c, v3) on UDP ports 161/162.
type SNMP struct{}

// Name implements Identifier.
func (SNMP) Name() string { return ProtoSNMP }

// Identify implements Identifier.
func (SNMP) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != UDP || !(p.HasPort(161) || p.HasPort(162)) || len(b) < 5 || b[0] != 0x30 {
		return false
	}
	i := 2
	switch {
	case b[1] < 0x80:
	case b[1] == 0x81:
		i = 3
	case b[1] == 0x82:
		i = 4
	default:
		return false
	}
	if len(b) < i+3 {
		return false
	}
	return b[i] == 0x02 && b[i+1] == 0x01 && (b[i+2] == 0 || b[i+2] == 1 || b[i+2] == 3)
}
