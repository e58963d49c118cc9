// Package ftp reads FTP control connections (RFC 959): the server's
// greeting, the fact that FTP is used in clear, and logins (USER, PASS)
// with the verdict of the server's reply. It stops at a successful login
// or when AUTH TLS is accepted, since nothing after either tells more
// about the devices.
//
// User names and passwords are never kept: a USER line only tells
// whether the login is anonymous, and reply texts are not published
// beyond the greeting (servers echo user names in them: "331 Password
// required for bob").
package ftp

import (
	"bytes"
	"errors"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// Protocol is the Observation and Auth protocol name.
const Protocol = "ftp"

// Limits.
const (
	// maxLine bounds an FTP line; a longer one is skipped up to its end.
	maxLine = 4096
	// maxLines stops a session that never logs in after this many lines.
	maxLines = 1000
)

// ErrNotFTP is returned when the server sends a line that is not a reply.
var ErrNotFTP = errors.New("ftp: server line is not a reply")

// Dissector creates the state of FTP control connections.
type Dissector struct{}

var _ dpi.StreamDissector = (*Dissector)(nil)

// New returns an FTP dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.StreamDissector.
func (*Dissector) Name() string { return "ftp" }

// Protocols implements dpi.StreamDissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoFTP} }

// NewStream implements dpi.StreamDissector. The server is told by the
// identifying payload (a reply comes from it, a command goes to it), then
// by port 21, else it is the responder.
func (*Dissector) NewStream(p *dpi.Packet) dpi.Stream {
	s := &stream{}
	b := p.Payload
	switch {
	case len(b) >= 3 && isDigit(b[0]) && isDigit(b[1]) && isDigit(b[2]):
		s.serverOrig = p.FromOrig
	case len(b) > 0 && isLetter(b[0]):
		s.serverOrig = !p.FromOrig
	case p.SrcPort == 21 && p.DstPort != 21:
		s.serverOrig = p.FromOrig
	case p.DstPort == 21 && p.SrcPort != 21:
		s.serverOrig = !p.FromOrig
	}
	clientSide, serverSide := dpi.Sender, dpi.Receiver
	if p.FromOrig == s.serverOrig {
		clientSide, serverSide = dpi.Receiver, dpi.Sender
	}
	s.client, s.server = p.Endpoint(clientSide), p.Endpoint(serverSide)
	s.vlan, s.flowID = p.VLAN, p.FlowID
	return s
}

// command is the client command whose reply the stream waits for.
type command uint8

const (
	cmdNone command = iota
	cmdUser
	cmdPass // PASS, or ACCT after a 332
	cmdAuth
	cmdOther
)

type stream struct {
	serverOrig     bool
	client, server events.Endpoint
	vlan           uint16
	flowID         string

	skip  [2]bool // dropping the rest of an overlong or broken line; 0 client, 1 server
	lines int

	replies   int     // server replies seen
	multi     [3]byte // code of the multi-line reply in progress, or 0
	bannerDue bool    // the greeting's first line was empty: take the next

	pending    command
	anonymous  bool // the current login's USER is anonymous
	attempting bool // USER or PASS sent, verdict not yet seen
	credential bool
	insecure   bool
}

// Data implements dpi.Stream: it consumes whole lines and leaves a partial
// one for the next segment.
func (s *stream) Data(p *dpi.Packet, data []byte, out *dpi.Output) (int, error) {
	fromServer := p.FromOrig == s.serverOrig
	d := 0
	if fromServer {
		d = 1
	}
	used := 0
	for used < len(data) {
		i := bytes.IndexByte(data[used:], '\n')
		if i < 0 {
			if len(data)-used > maxLine {
				s.skip[d] = true
				return len(data), nil
			}
			break
		}
		line := data[used : used+i]
		used += i + 1
		if s.skip[d] {
			s.skip[d] = false
			continue
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		var err error
		if fromServer {
			err = s.reply(p, line, out)
		} else {
			s.command(p, line, out)
		}
		if err != nil {
			return used, err
		}
		if s.lines++; s.lines > maxLines {
			s.End(out) // End is not called after ErrStreamDone
			return used, dpi.ErrStreamDone
		}
	}
	return used, nil
}

// Gap implements dpi.Stream: the line in progress is lost, so the
// direction resynchronises at the next line end.
func (s *stream) Gap(fromOrig bool) {
	if fromOrig == s.serverOrig {
		s.skip[1] = true
		s.multi = [3]byte{}
		return
	}
	s.skip[0] = true
}

// End implements dpi.Stream: a login whose reply never came is reported
// with an unknown result.
func (s *stream) End(out *dpi.Output) {
	if s.attempting && (s.pending == cmdUser || s.pending == cmdPass) {
		s.result(out, events.AuthUnknown, "")
	}
}

func (s *stream) command(p *dpi.Packet, line []byte, out *dpi.Output) {
	line = stripTelnet(line)
	verb, arg, _ := bytes.Cut(line, []byte{' '})
	if len(verb) < 3 || len(verb) > 4 {
		return
	}
	var upper [4]byte // the data is the capture's: upper-case a copy
	for i, c := range verb {
		if !isLetter(c) {
			return
		}
		upper[i] = c &^ 0x20
	}
	v := string(upper[:len(verb)])
	switch v {
	case "AUTH":
		s.pending = cmdAuth
		return
	case "FEAT", "HOST":
		s.pending = cmdOther
		return
	}
	if !s.insecure {
		s.insecure = true
		out.Observe(p, dpi.Sender, dpi.AttrInsecureProtocol, "ftp", Protocol, 0.9, "FTP command in clear")
		out.Observe(p, dpi.Receiver, dpi.AttrInsecureProtocol, "ftp", Protocol, 0.9, "FTP command in clear")
	}
	switch v {
	case "USER":
		arg = bytes.TrimSpace(arg)
		s.anonymous = bytes.EqualFold(arg, []byte("anonymous")) || bytes.EqualFold(arg, []byte("ftp"))
		s.pending, s.attempting = cmdUser, true
	case "PASS", "ACCT":
		if v == "PASS" && !s.anonymous && !s.credential {
			s.credential = true
			out.Observe(p, dpi.Sender, dpi.AttrCleartextCredential, "ftp login", Protocol, 0.9, "FTP PASS command in clear")
			out.Observe(p, dpi.Receiver, dpi.AttrCleartextCredential, "ftp login", Protocol, 0.9, "FTP PASS command in clear")
		}
		s.pending, s.attempting = cmdPass, true
	default:
		s.pending = cmdOther
	}
}

func (s *stream) reply(p *dpi.Packet, line []byte, out *dpi.Output) error {
	if s.multi != [3]byte{} {
		// Inside a multi-line reply: only "code SP" ends it.
		if len(line) >= 4 && [3]byte(line[:3]) == s.multi && line[3] == ' ' {
			s.multi = [3]byte{}
		}
		if s.bannerDue {
			s.banner(p, line, out)
		}
		return nil
	}
	if len(line) == 0 {
		return nil // a stray empty line
	}
	if len(line) < 3 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2]) || len(line) > 3 && line[3] != ' ' && line[3] != '-' {
		return ErrNotFTP
	}
	code := [3]byte(line[:3])
	var text []byte
	if len(line) > 3 {
		if line[3] == '-' {
			s.multi = code
		}
		text = line[4:]
	}
	s.replies++
	if s.replies == 1 && code == [3]byte{'2', '2', '0'} {
		s.banner(p, text, out)
		s.bannerDue = s.bannerDue && s.multi != [3]byte{}
	}
	if code[0] == '1' {
		return nil // preliminary: the command's verdict is still to come
	}
	cmd := s.pending
	s.pending = cmdNone
	switch cmd {
	case cmdAuth:
		if code[0] == '2' || code[0] == '3' {
			// 234 (RFC 4217), or 334 from pre-RFC servers: TLS follows.
			return dpi.ErrStreamDone
		}
	case cmdUser, cmdPass:
		switch {
		case code[0] == '2':
			s.result(out, events.AuthSuccess, "")
			// Logged in: the rest is file transfer commands.
			return dpi.ErrStreamDone
		case code[0] == '3':
			s.pending = cmd // 331 or 332: the login goes on
		case code[0] == '4' || code[0] == '5':
			s.result(out, events.AuthFailure, string(line[:3]))
		}
	}
	return nil
}

// banner publishes the greeting text, or asks for the next line when a
// multi-line greeting opens with an empty one.
func (s *stream) banner(p *dpi.Packet, text []byte, out *dpi.Output) {
	if len(text) >= 4 && isDigit(text[0]) && isDigit(text[1]) && isDigit(text[2]) && (text[3] == ' ' || text[3] == '-') {
		text = text[4:] // a continuation line repeating the code
	}
	v := dpi.Text(text)
	if v == "" {
		s.bannerDue = true
		return
	}
	s.bannerDue = false
	out.Observe(p, dpi.Sender, dpi.AttrFTPBanner, v, Protocol, 0.9, "FTP 220 greeting")
}

func (s *stream) result(out *dpi.Output, r events.AuthResult, reason string) {
	a := events.Auth{
		Client: s.client, Server: s.server, VLAN: s.vlan,
		Protocol: Protocol, Method: "password", Result: r, Reason: reason, FlowID: s.flowID,
	}
	if s.anonymous {
		a.Principal = "anonymous"
	}
	out.Auths = append(out.Auths, a)
	s.attempting = false
}

// stripTelnet drops the Telnet commands (IAC IP, IAC DM) that clients put
// before ABOR and the like (RFC 959 section 4.1.3).
func stripTelnet(b []byte) []byte {
	for len(b) >= 2 && b[0] == 0xff {
		b = b[2:]
	}
	for len(b) > 0 && (b[0] == 0xf2 || b[0] == 0xff) {
		b = b[1:] // a Data Mark sent as urgent data after the IAC
	}
	return b
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
