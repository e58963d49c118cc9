package smb

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/vigil-health/vigil/capture/dpi"
)

// SMB1 header (MS-CIFS 2.2.3.1): Protocol 0, Command 4, Status 5,
// Flags 9, Flags2 10, ..., 32 bytes; then WordCount and the words.
const (
	smb1HeaderLen = 32

	smb1Negotiate    = 0x72
	smb1SessionSetup = 0x73

	smb1FlagReply        = 0x80
	smb1Flags2NTStatus   = 0x4000
	smb1Flags2Unicode    = 0x8000
	smb1SecurityEncrypt  = 0x02 // NEGOTIATE response SecurityMode: challenge/response
	smb1ActionGuest      = 0x0001
	smb1NoDialect        = 0xffff
	smb1DialectBufferTag = 0x02
)

// smb1Message is the parsed fixed part of an SMB1 message.
type smb1Message struct {
	raw     []byte
	command byte
	status  uint32
	reply   bool
	unicode bool
	words   []byte // the parameter words
	bytes   []byte // the data bytes
	bytesAt int    // offset of bytes in raw, for Unicode alignment
}

func parseSMB1(m []byte) (smb1Message, error) {
	if len(m) < smb1HeaderLen+1 {
		return smb1Message{}, fmt.Errorf("smb1: short message (%d bytes)", len(m))
	}
	flags2 := binary.LittleEndian.Uint16(m[10:12])
	msg := smb1Message{
		raw: m, command: m[4], status: binary.LittleEndian.Uint32(m[5:9]),
		reply: m[9]&smb1FlagReply != 0, unicode: flags2&smb1Flags2Unicode != 0,
	}
	if flags2&smb1Flags2NTStatus == 0 && msg.status != 0 {
		// A DOS error: class and code. Any is a failure; keep it apart
		// from NTSTATUS values.
		msg.status |= 0x80000000
	}
	wc := int(m[smb1HeaderLen])
	at := smb1HeaderLen + 1 + 2*wc
	if at+2 > len(m) {
		return msg, fmt.Errorf("smb1: word count %d beyond the message", wc)
	}
	msg.words = m[smb1HeaderLen+1 : at]
	bc := int(binary.LittleEndian.Uint16(m[at : at+2]))
	msg.bytesAt = at + 2
	msg.bytes = m[msg.bytesAt:min(len(m), msg.bytesAt+bc)]
	return msg, nil
}

func (s *stream) smb1(f frame, out *dpi.Output) error {
	msg, err := parseSMB1(f.msg)
	if err != nil {
		return err
	}
	if msg.command != smb1Negotiate {
		s.useSMB1(f, "SMB1 message", out)
	}
	switch msg.command {
	case smb1Negotiate:
		if msg.reply {
			s.smb1NegotiateResponse(f, msg, out)
		} else {
			s.smb1NegotiateRequest(msg)
		}
	case smb1SessionSetup:
		if msg.reply {
			s.smb1SessionSetupResponse(f, msg, out)
		} else {
			s.smb1SessionSetupRequest(f, msg, out)
		}
	}
	return nil
}

// smb1NegotiateRequest keeps the dialect names the client offers: the
// response names its choice by index.
func (s *stream) smb1NegotiateRequest(msg smb1Message) {
	s.dialects = s.dialects[:0]
	b := msg.bytes
	for len(b) > 1 && b[0] == smb1DialectBufferTag && len(s.dialects) < maxDialects {
		end := bytes.IndexByte(b[1:], 0)
		if end < 0 {
			end = len(b) - 1
		}
		s.dialects = append(s.dialects, dpi.Text(b[1:1+end]))
		b = b[min(len(b), 2+end):]
	}
}

func (s *stream) smb1NegotiateResponse(f frame, msg smb1Message, out *dpi.Output) {
	if len(msg.words) < 2 {
		return
	}
	index := int(binary.LittleEndian.Uint16(msg.words[0:2]))
	if index == smb1NoDialect {
		return
	}
	s.useSMB1(f, "SMB1 NEGOTIATE response chose an SMB1 dialect", out)
	if len(msg.words) >= 3 {
		// NT LM 0.12 and LANMAN responses have SecurityMode next.
		s.plainPasswords = msg.words[2]&smb1SecurityEncrypt == 0
	}
	if index < len(s.dialects) && !s.dialect {
		s.dialect = true
		s.observe(f, true, dpi.AttrSMBDialect, s.dialects[index], 0.9, "SMB1 NEGOTIATE response DialectIndex", out)
	}
}

// smb1SessionSetupRequest reads SESSION_SETUP_ANDX (MS-CIFS 2.2.4.53,
// MS-SMB 2.2.4.6): with extended security (12 words) an NTLMSSP token,
// without it (13 words) the account name, domain and the passwords'
// lengths.
func (s *stream) smb1SessionSetupRequest(f frame, msg smb1Message, out *dpi.Output) {
	w := msg.words
	switch len(w) {
	case 24: // 12 words: extended security
		blobLen := int(binary.LittleEndian.Uint16(w[14:16]))
		blob := msg.bytes[:min(blobLen, len(msg.bytes))]
		s.ntlm(f, blob, "SMB1 SESSION_SETUP_ANDX", out)
		s.nativeOS(f, false, msg, blobLen, out)
	case 26: // 13 words: LM/NTLM responses or a plaintext password
		oemLen := int(binary.LittleEndian.Uint16(w[14:16]))
		uniLen := int(binary.LittleEndian.Uint16(w[16:18]))
		at := oemLen + uniLen
		account, at := smb1String(msg, at)
		domain, at := smb1String(msg, at)
		s.nativeOS(f, false, msg, at, out)
		method := "ntlm"
		if s.plainPasswords && oemLen+uniLen > 1 {
			// The server asked for passwords in clear and got one.
			method = "plaintext"
			out.Observe(f.p, dpi.Sender, dpi.AttrCleartextCredential, "smb plaintext password", Protocol, 0.9, "SMB1 SESSION_SETUP_ANDX plaintext password")
			out.Observe(f.p, dpi.Receiver, dpi.AttrCleartextCredential, "smb plaintext password", Protocol, 0.9, "SMB1 SESSION_SETUP_ANDX plaintext password")
		}
		if account == "" && oemLen+uniLen <= 1 {
			domain = "" // a null session: no password, no account
		}
		s.login(principal(domain, account), method)
	}
}

func (s *stream) smb1SessionSetupResponse(f frame, msg smb1Message, out *dpi.Output) {
	w := msg.words
	guest := len(w) >= 6 && binary.LittleEndian.Uint16(w[4:6])&smb1ActionGuest != 0
	switch len(w) {
	case 8: // 4 words: extended security, with a token
		blobLen := int(binary.LittleEndian.Uint16(w[6:8]))
		s.ntlm(f, msg.bytes[:min(blobLen, len(msg.bytes))], "SMB1 SESSION_SETUP_ANDX", out)
		s.nativeOS(f, true, msg, blobLen, out)
	case 6: // 3 words
		s.nativeOS(f, true, msg, 0, out)
	}
	if msg.status != statusMoreProcessingRequired {
		s.verdict(msg.status, guest, out)
	}
}

// nativeOS publishes, once per side, the NativeOS string found at
// offset at of the data bytes: the OS name the sender states
// ("Windows 7 Ultimate 7601 Service Pack 1", "Unix").
func (s *stream) nativeOS(f frame, server bool, msg smb1Message, at int, out *dpi.Output) {
	i := 0
	if server {
		i = 1
	}
	if s.nativeOSSeen[i] {
		return
	}
	os, _ := smb1String(msg, at)
	if os == "" {
		return
	}
	s.nativeOSSeen[i] = true
	what := "request"
	if server {
		what = "response"
	}
	s.observe(f, server, dpi.AttrOS, os, 0.8, "SMB1 SESSION_SETUP_ANDX "+what+" NativeOS", out)
}

// smb1String reads a NUL-terminated string at offset at of the data bytes,
// UTF-16LE aligned on an even offset from the header when the message is
// Unicode, and returns it with the offset after it.
func smb1String(msg smb1Message, at int) (string, int) {
	b := msg.bytes
	if at < 0 || at >= len(b) {
		return "", len(b)
	}
	if !msg.unicode {
		end := bytes.IndexByte(b[at:], 0)
		if end < 0 {
			return dpi.Text(b[at:]), len(b)
		}
		return dpi.Text(b[at : at+end]), at + end + 1
	}
	if (msg.bytesAt+at)%2 == 1 {
		at++
	}
	for i := at; i+1 < len(b); i += 2 {
		if b[i] == 0 && b[i+1] == 0 {
			return utf16Text(b[at:i]), i + 2
		}
	}
	if at > len(b) {
		return "", len(b)
	}
	return utf16Text(b[at:]), len(b)
}
