package smb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf16"

	"github.com/vigil-health/vigil/capture/dpi"
)

// NTLMSSP message types (MS-NLMP 2.2.1).
const (
	ntlmNegotiate    = 1
	ntlmChallenge    = 2
	ntlmAuthenticate = 3
)

// NTLMSSP negotiate flags used here.
const (
	ntlmFlagUnicode = 0x00000001
	ntlmFlagVersion = 0x02000000
)

// AV pair IDs of the CHALLENGE target information (MS-NLMP 2.2.2.1).
const (
	avEOL             = 0
	avNbComputerName  = 1
	avNbDomainName    = 2
	avDNSComputerName = 3
)

var ntlmSignature = []byte("NTLMSSP\x00")

// ntlmMessage is what the dissector keeps of an NTLMSSP message: names
// only, never the challenge, the responses or the session key.
type ntlmMessage struct {
	typ uint32
	// CHALLENGE target information.
	nbComputer, nbDomain, dnsComputer string
	// AUTHENTICATE fields.
	domain, user, workstation string
	// os is "Windows major.minor build N" from the VERSION structure, or
	// "" when absent or zero (Samba fills in 6.1 build 0).
	os string
}

// findNTLM returns the NTLMSSP message inside a security blob. The blob
// is SPNEGO (RFC 4178) wrapped; the signature is searched rather than the
// DER walked, since the NTLMSSP token is the only one carrying it. The
// message runs to the end of the blob (a trailing mechListMIC cannot be
// mistaken for one of its fields: every field is located by offset).
func findNTLM(blob []byte) ([]byte, bool) {
	i := bytes.Index(blob, ntlmSignature)
	if i < 0 {
		return nil, false
	}
	return blob[i:], true
}

// parseNTLM reads an NTLMSSP message (MS-NLMP 2.2.1).
func parseNTLM(m []byte) (ntlmMessage, error) {
	var msg ntlmMessage
	if len(m) < 12 || !bytes.Equal(m[:8], ntlmSignature) {
		return msg, fmt.Errorf("ntlmssp: short message")
	}
	msg.typ = binary.LittleEndian.Uint32(m[8:12])
	switch msg.typ {
	case ntlmChallenge:
		// TargetNameFields 12, NegotiateFlags 20, ServerChallenge 24,
		// Reserved 32, TargetInfoFields 40, Version 48, payload 56.
		if len(m) < 48 {
			return msg, fmt.Errorf("ntlmssp: short CHALLENGE")
		}
		flags := binary.LittleEndian.Uint32(m[20:24])
		info, off, ok := field(m, 40)
		if !ok {
			return msg, fmt.Errorf("ntlmssp: CHALLENGE target info out of bounds")
		}
		if flags&ntlmFlagVersion != 0 && (len(info) == 0 || off >= 56) {
			msg.os = version(m, 48)
		}
		for n := 0; len(info) >= 4 && n < 32; n++ {
			id, l := binary.LittleEndian.Uint16(info[0:2]), int(binary.LittleEndian.Uint16(info[2:4]))
			if id == avEOL || 4+l > len(info) {
				break
			}
			v := info[4 : 4+l]
			switch id {
			case avNbComputerName:
				msg.nbComputer = utf16Text(v)
			case avNbDomainName:
				msg.nbDomain = utf16Text(v)
			case avDNSComputerName:
				msg.dnsComputer = utf16Text(v)
			}
			info = info[4+l:]
		}
	case ntlmAuthenticate:
		// LmChallengeResponseFields 12, NtChallengeResponseFields 20,
		// DomainNameFields 28, UserNameFields 36, WorkstationFields 44,
		// EncryptedRandomSessionKeyFields 52, NegotiateFlags 60, Version 64.
		if len(m) < 64 {
			return msg, fmt.Errorf("ntlmssp: short AUTHENTICATE")
		}
		flags := binary.LittleEndian.Uint32(m[60:64])
		text := oemText
		if flags&ntlmFlagUnicode != 0 {
			text = utf16Text
		}
		// The payload starts after the fixed part: at 64 without the
		// VERSION, at 72 with it (88 with a MIC).
		minOff := len(m)
		for _, at := range [...]int{12, 20, 28, 36, 44, 52} {
			v, off, ok := field(m, at)
			if !ok {
				return msg, fmt.Errorf("ntlmssp: AUTHENTICATE field at %d out of bounds", at)
			}
			if len(v) > 0 {
				minOff = min(minOff, off)
			}
			switch at {
			case 28:
				msg.domain = text(v)
			case 36:
				msg.user = text(v)
			case 44:
				msg.workstation = text(v)
			}
		}
		if flags&ntlmFlagVersion != 0 && minOff >= 72 {
			msg.os = version(m, 64)
		}
	case ntlmNegotiate:
	default:
		return msg, fmt.Errorf("ntlmssp: message type %d", msg.typ)
	}
	return msg, nil
}

// field returns the payload a Len/MaxLen/Offset triple at m[at:] points
// to, and its offset.
func field(m []byte, at int) ([]byte, int, bool) {
	if at+8 > len(m) {
		return nil, 0, false
	}
	l := int(binary.LittleEndian.Uint16(m[at : at+2]))
	off := int(binary.LittleEndian.Uint32(m[at+4 : at+8]))
	if l == 0 {
		return nil, off, true
	}
	if off < 0 || off > len(m) || l > len(m)-off {
		return nil, 0, false
	}
	return m[off : off+l], off, true
}

// version formats the VERSION structure at m[at:] (MS-NLMP 2.2.2.10).
func version(m []byte, at int) string {
	if at+8 > len(m) {
		return ""
	}
	major, minor, build := m[at], m[at+1], binary.LittleEndian.Uint16(m[at+2:at+4])
	if major == 0 || build == 0 {
		return ""
	}
	return fmt.Sprintf("Windows %d.%d build %d", major, minor, build)
}

// utf16Text decodes UTF-16LE wire text into a bounded attribute value.
func utf16Text(b []byte) string {
	if len(b) > 4*dpi.MaxValue {
		b = b[:4*dpi.MaxValue]
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return dpi.Text([]byte(string(utf16.Decode(u))))
}

func oemText(b []byte) string { return dpi.Text(b) }
