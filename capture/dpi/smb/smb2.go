package smb

import (
	"encoding/binary"
	"fmt"

	"github.com/vigil-health/vigil/capture/dpi"
)

// SMB2 header (MS-SMB2 2.2.1): ProtocolId 0, StructureSize 4, ...,
// Status 8, Command 12, Flags 16, NextCommand 20; 64 bytes.
const (
	smb2HeaderLen = 64

	smb2Negotiate    = 0x00
	smb2SessionSetup = 0x01

	smb2FlagResponse = 0x01
	smb2SessionGuest = 0x0001

	smb2WildcardDialect = 0x02ff
	maxCompound         = 16
)

// dialectNames are the SMB2 dialect revisions (MS-SMB2 2.2.4).
var dialectNames = map[uint16]string{
	0x0202: "SMB 2.0.2",
	0x0210: "SMB 2.1",
	0x0222: "SMB 2.2.2",
	0x0224: "SMB 2.2.4",
	0x0300: "SMB 3.0",
	0x0302: "SMB 3.0.2",
	0x0310: "SMB 3.1.0",
	0x0311: "SMB 3.1.1",
}

func dialectName(d uint16) string {
	if n, ok := dialectNames[d]; ok {
		return n
	}
	return fmt.Sprintf("SMB 0x%04x", d)
}

// smb2 reads each message of a compound chain.
func (s *stream) smb2(f frame, out *dpi.Output) error {
	m := f.msg
	for range maxCompound {
		if len(m) < smb2HeaderLen || !isSMB(m) || m[0] != 0xfe {
			return fmt.Errorf("smb2: short or foreign message (%d bytes)", len(m))
		}
		next := int(binary.LittleEndian.Uint32(m[20:24]))
		hdr := m
		if next > 0 && next < len(m) {
			hdr = m[:next]
		}
		s.smb2Message(f, hdr, out)
		if next < smb2HeaderLen || next >= len(m) {
			return nil
		}
		m = m[next:]
	}
	return nil
}

func (s *stream) smb2Message(f frame, m []byte, out *dpi.Output) {
	status := binary.LittleEndian.Uint32(m[8:12])
	command := binary.LittleEndian.Uint16(m[12:14])
	response := binary.LittleEndian.Uint32(m[16:20])&smb2FlagResponse != 0
	body := m[smb2HeaderLen:]
	switch command {
	case smb2Negotiate:
		// Response: StructureSize 0, SecurityMode 2, DialectRevision 4.
		if !response || status != statusSuccess || len(body) < 6 {
			return
		}
		d := binary.LittleEndian.Uint16(body[4:6])
		if d == smb2WildcardDialect || s.dialect {
			return // "SMB 2.???": the client negotiates again
		}
		s.dialect = true
		s.observe(f, true, dpi.AttrSMBDialect, dialectName(d), 0.9, "SMB2 NEGOTIATE response DialectRevision", out)
	case smb2SessionSetup:
		if !response {
			// Request: ..., SecurityBufferOffset 12, SecurityBufferLength 14.
			if len(body) < 16 {
				return
			}
			s.ntlm(f, buffer(m, body[12:14], body[14:16]), "SMB2 SESSION_SETUP", out)
			return
		}
		// Response: SessionFlags 2, SecurityBufferOffset 4, Length 6.
		if len(body) >= 8 {
			s.ntlm(f, buffer(m, body[4:6], body[6:8]), "SMB2 SESSION_SETUP", out)
		}
		if status != statusMoreProcessingRequired {
			guest := len(body) >= 4 && binary.LittleEndian.Uint16(body[2:4])&smb2SessionGuest != 0
			s.verdict(status, guest, out)
		}
	}
}

// buffer returns the bytes an SMB2 offset/length pair (offset from the
// header start) points to, cut to the message.
func buffer(m, off, length []byte) []byte {
	o := int(binary.LittleEndian.Uint16(off))
	l := int(binary.LittleEndian.Uint16(length))
	if o < smb2HeaderLen || o >= len(m) {
		return nil
	}
	return m[o:min(len(m), o+l)]
}
