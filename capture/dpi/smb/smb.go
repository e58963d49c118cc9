// Package smb reads the start of SMB connections (MS-CIFS, MS-SMB,
// MS-SMB2) up to the end of the session setup: the dialect the server
// chose, whether SMB1 is in use, the host and domain names that NTLMSSP
// (MS-NLMP) carries in clear inside SESSION_SETUP, the OS that SMB1
// session setups and NTLM VERSION fields state, and the login with the
// server's verdict.
//
// Only names leave the dissector: never the challenge, the LM/NT
// responses or the session key. The account name (DOMAIN\user) is an
// identity, not a secret, and becomes the Auth principal.
package smb

import (
	"errors"
	"fmt"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// Protocol is the Observation and Auth protocol name.
const Protocol = "smb"

// Limits.
const (
	// maxMessage is the largest NetBIOS message the dissector waits for;
	// larger ones (reads and writes) are skipped without being buffered.
	maxMessage = 32 << 10
	// maxMessages stops the dissection after this many messages: the
	// session setup comes first.
	maxMessages = 64
	// maxDialects bounds the SMB1 NEGOTIATE dialect list kept.
	maxDialects = 32
)

// Errors of malformed streams.
var (
	ErrNotNetBIOS = errors.New("smb: not a NetBIOS session message")
	ErrNotSMB     = errors.New("smb: message is not SMB")
)

// Dissector creates the state of SMB connections.
type Dissector struct{}

var _ dpi.StreamDissector = (*Dissector)(nil)

// New returns an SMB dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.StreamDissector.
func (*Dissector) Name() string { return "smb" }

// Protocols implements dpi.StreamDissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoSMB} }

// NewStream implements dpi.StreamDissector. The client is the originator
// unless the identifying message says otherwise (an SMB1 reply flag or an
// SMB2 response flag sent by the originator).
func (*Dissector) NewStream(p *dpi.Packet) dpi.Stream {
	s := &stream{}
	if b := p.Payload; len(b) >= 24 {
		switch {
		case b[4] == 0xff && b[4+9]&smb1FlagReply != 0,
			b[4] == 0xfe && b[4+16]&smb2FlagResponse != 0:
			s.serverOrig = p.FromOrig
		default:
			s.serverOrig = !p.FromOrig
		}
	}
	clientSide, serverSide := dpi.Sender, dpi.Receiver
	if p.FromOrig == s.serverOrig {
		clientSide, serverSide = dpi.Receiver, dpi.Sender
	}
	s.client, s.server = p.Endpoint(clientSide), p.Endpoint(serverSide)
	s.vlan, s.flowID = p.VLAN, p.FlowID
	return s
}

type stream struct {
	serverOrig     bool
	client, server events.Endpoint
	vlan           uint16
	flowID         string

	broken   [2]bool // 0 client, 1 server
	messages int

	dialects       []string // SMB1 NEGOTIATE request dialects
	dialect        bool     // a dialect was published
	smb1Used       bool     // SMB1 use was published
	plainPasswords bool     // the SMB1 server asked for plaintext passwords
	nativeOSSeen   [2]bool  // NativeOS published: client, server

	// The login in progress: set by the client's AUTHENTICATE (or SMB1
	// session setup), decided by the server's status.
	pending   bool
	principal string
	method    string
	done      bool
}

// frame is one SMB message and the packet it completed in.
type frame struct {
	p          *dpi.Packet
	fromServer bool
	msg        []byte
}

// Data implements dpi.Stream.
func (s *stream) Data(p *dpi.Packet, data []byte, out *dpi.Output) (int, error) {
	fromServer := p.FromOrig == s.serverOrig
	d := 0
	if fromServer {
		d = 1
	}
	if s.broken[d] {
		// After a gap, go on only if the data starts with a message.
		if len(data) < 8 || data[0] != 0 || !isSMB(data[4:8]) {
			return len(data), dpi.ErrStreamDone
		}
		s.broken[d] = false
	}
	used := 0
	for {
		rest := data[used:]
		if len(rest) < 4 {
			return used, nil
		}
		typ := rest[0]
		n := int(rest[1])<<16 | int(rest[2])<<8 | int(rest[3])
		switch typ {
		case 0x00: // session message
		case 0x81, 0x82, 0x83, 0x84, 0x85: // request, responses, keepalive
			used += 4 + n
			if used > len(data) {
				return used, nil
			}
			continue
		default:
			return used, ErrNotNetBIOS
		}
		total := 4 + n
		if len(rest) < total {
			if n > maxMessage || len(rest) >= 4+64 && !s.wanted(rest[4:]) {
				return used + total, nil // skip it without buffering
			}
			return used, nil
		}
		s.messages++
		if err := s.message(frame{p, fromServer, rest[4:total]}, out); err != nil {
			return used + total, err
		}
		used += total
		if s.done || s.messages >= maxMessages {
			s.End(out) // a login still pending: End is not called after ErrStreamDone
			return used, dpi.ErrStreamDone
		}
	}
}

// wanted tells from a message's start whether it is one the dissector
// reads, and so worth buffering until complete.
func (s *stream) wanted(m []byte) bool {
	switch {
	case len(m) >= 5 && m[0] == 0xff && isSMB(m):
		return m[4] == smb1Negotiate || m[4] == smb1SessionSetup
	case len(m) >= 14 && m[0] == 0xfe && isSMB(m):
		return m[12] == smb2Negotiate && m[13] == 0 || m[12] == smb2SessionSetup && m[13] == 0
	}
	return false
}

// Gap implements dpi.Stream: SMB is binary, so after a gap the direction
// goes on only if its next data starts with a message header.
func (s *stream) Gap(fromOrig bool) {
	if fromOrig == s.serverOrig {
		s.broken[1] = true
	} else {
		s.broken[0] = true
	}
}

// End implements dpi.Stream: a login the server never answered.
func (s *stream) End(out *dpi.Output) {
	if s.pending {
		s.result(out, events.AuthUnknown, "")
	}
}

func (s *stream) message(f frame, out *dpi.Output) error {
	m := f.msg
	if len(m) < 4 || !isSMB(m) {
		return ErrNotSMB
	}
	switch m[0] {
	case 0xff:
		return s.smb1(f, out)
	case 0xfe:
		return s.smb2(f, out)
	}
	// 0xfd (transform: encrypted) and 0xfc (compressed) say nothing.
	return nil
}

func isSMB(b []byte) bool {
	return len(b) >= 4 && (b[0] == 0xff || b[0] == 0xfe || b[0] == 0xfd || b[0] == 0xfc) && b[1] == 'S' && b[2] == 'M' && b[3] == 'B'
}

// side returns the Observe side of the client or the server for f.
func (f frame) side(server bool) dpi.Side {
	if f.fromServer == server {
		return dpi.Sender
	}
	return dpi.Receiver
}

func (s *stream) observe(f frame, server bool, attr, value string, confidence float64, evidence string, out *dpi.Output) {
	if value == "" {
		return
	}
	out.Observe(f.p, f.side(server), attr, value, Protocol, confidence, evidence)
}

// useSMB1 publishes, once, that both ends speak SMB1.
func (s *stream) useSMB1(f frame, evidence string, out *dpi.Output) {
	if s.smb1Used {
		return
	}
	s.smb1Used = true
	out.Observe(f.p, dpi.Sender, dpi.AttrInsecureProtocol, "smb1", Protocol, 0.9, evidence)
	out.Observe(f.p, dpi.Receiver, dpi.AttrInsecureProtocol, "smb1", Protocol, 0.9, evidence)
}

// ntlm publishes the names of an NTLMSSP message and starts or ends the
// login it belongs to.
func (s *stream) ntlm(f frame, blob []byte, what string, out *dpi.Output) {
	m, ok := findNTLM(blob)
	if !ok {
		return
	}
	msg, err := parseNTLM(m)
	if err != nil {
		return // a broken token in a valid message: nothing to read
	}
	switch msg.typ {
	case ntlmChallenge:
		ev := what + " NTLMSSP CHALLENGE"
		s.observe(f, true, dpi.AttrNTLMHost, msg.nbComputer, 0.9, ev+" MsvAvNbComputerName", out)
		s.observe(f, true, dpi.AttrNTLMDomain, msg.nbDomain, 0.9, ev+" MsvAvNbDomainName", out)
		s.observe(f, true, dpi.AttrHostname, msg.dnsComputer, 0.8, ev+" MsvAvDnsComputerName", out)
		s.observe(f, true, dpi.AttrOS, msg.os, 0.7, ev+" version", out)
	case ntlmAuthenticate:
		ev := what + " NTLMSSP AUTHENTICATE"
		s.observe(f, false, dpi.AttrNTLMHost, msg.workstation, 0.9, ev+" workstation", out)
		s.observe(f, false, dpi.AttrHostname, msg.workstation, 0.8, ev+" workstation", out)
		s.observe(f, false, dpi.AttrNTLMDomain, msg.domain, 0.9, ev+" domain", out)
		s.observe(f, false, dpi.AttrOS, msg.os, 0.7, ev+" version", out)
		s.login(principal(msg.domain, msg.user), "ntlm")
	}
}

func principal(domain, user string) string {
	switch {
	case user == "":
		return "anonymous"
	case domain == "":
		return user
	}
	return domain + `\` + user
}

// login starts an attempt that the next session setup response decides.
func (s *stream) login(principal, method string) {
	s.pending, s.principal, s.method = true, principal, method
}

// verdict decides the pending login from a final session setup status.
func (s *stream) verdict(status uint32, guest bool, out *dpi.Output) {
	if !s.pending {
		return
	}
	if status == 0 {
		reason := ""
		if guest {
			reason = "guest"
		}
		anonymous := s.principal == "anonymous"
		s.result(out, events.AuthSuccess, reason)
		// A real login is the end of what the connection tells; an
		// anonymous one may be followed by one.
		s.done = !anonymous
		return
	}
	s.result(out, events.AuthFailure, statusName(status))
}

func (s *stream) result(out *dpi.Output, r events.AuthResult, reason string) {
	out.Auths = append(out.Auths, events.Auth{
		Client: s.client, Server: s.server, VLAN: s.vlan,
		Protocol: Protocol, Method: s.method, Principal: s.principal,
		Result: r, Reason: reason, FlowID: s.flowID,
	})
	s.pending, s.principal = false, ""
}

// NTSTATUS values of session setup responses.
const (
	statusSuccess                  = 0x00000000
	statusMoreProcessingRequired   = 0xc0000016
	statusLogonFailure             = 0xc000006d
	statusAccountRestriction       = 0xc000006e
	statusInvalidLogonHours        = 0xc000006f
	statusInvalidWorkstation       = 0xc0000070
	statusPasswordExpired          = 0xc0000071
	statusAccountDisabled          = 0xc0000072
	statusAccessDenied             = 0xc0000022
	statusNoSuchUser               = 0xc0000064
	statusAccountExpired           = 0xc0000193
	statusPasswordMustChange       = 0xc0000224
	statusAccountLockedOut         = 0xc0000234
	statusLogonTypeNotGranted      = 0xc000015b
	statusNetworkSessionExpired    = 0xc000035c
	statusUserSessionDeleted       = 0xc0000203
	statusTrustedRelationshipFails = 0xc000018d
)

var statusNames = map[uint32]string{
	statusLogonFailure:             "STATUS_LOGON_FAILURE",
	statusAccountRestriction:       "STATUS_ACCOUNT_RESTRICTION",
	statusInvalidLogonHours:        "STATUS_INVALID_LOGON_HOURS",
	statusInvalidWorkstation:       "STATUS_INVALID_WORKSTATION",
	statusPasswordExpired:          "STATUS_PASSWORD_EXPIRED",
	statusAccountDisabled:          "STATUS_ACCOUNT_DISABLED",
	statusAccessDenied:             "STATUS_ACCESS_DENIED",
	statusNoSuchUser:               "STATUS_NO_SUCH_USER",
	statusAccountExpired:           "STATUS_ACCOUNT_EXPIRED",
	statusPasswordMustChange:       "STATUS_PASSWORD_MUST_CHANGE",
	statusAccountLockedOut:         "STATUS_ACCOUNT_LOCKED_OUT",
	statusLogonTypeNotGranted:      "STATUS_LOGON_TYPE_NOT_GRANTED",
	statusNetworkSessionExpired:    "STATUS_NETWORK_SESSION_EXPIRED",
	statusUserSessionDeleted:       "STATUS_USER_SESSION_DELETED",
	statusTrustedRelationshipFails: "STATUS_TRUSTED_RELATIONSHIP_FAILURE",
}

func statusName(status uint32) string {
	if n, ok := statusNames[status]; ok {
		return n
	}
	return fmt.Sprintf("0x%08x", status)
}
