// Package telnet reads Telnet (RFC 854) sessions: the server's banner
// before its login prompt, the fact that Telnet is in use, and login
// attempts with their outcome.
//
// A Telnet login is text typed at prompts, echoed character by character.
// The dissector never keeps what the client types: it counts the lines
// the client sends after a "login:" and a "Password:" prompt, and scans
// the server's output with keyword matchers that hold only how much of a
// keyword they have matched, so an echoed user name is never buffered.
package telnet

import (
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// Protocol is the Observation and Auth protocol name.
const Protocol = "telnet"

// Limits of the work done per connection.
const (
	// maxBanner bounds the raw banner bytes kept before the first prompt.
	maxBanner = 1024
	// maxPreamble is how much server text is scanned for a first prompt
	// before the connection is taken for something other than a login.
	maxPreamble = 64 << 10
	// maxAttempts stops a brute force session after this many attempts.
	maxAttempts = 64
	// maxText is how much server text is scanned in all.
	maxText = 1 << 20
)

// Dissector creates the state of Telnet connections.
type Dissector struct{}

var _ dpi.StreamDissector = (*Dissector)(nil)

// New returns a Telnet dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.StreamDissector.
func (*Dissector) Name() string { return "telnet" }

// Protocols implements dpi.StreamDissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoTelnet} }

// NewStream implements dpi.StreamDissector. The server is the end on port
// 23; when both or neither use it, the responder.
func (*Dissector) NewStream(p *dpi.Packet) dpi.Stream {
	s := &stream{}
	switch {
	case p.SrcPort == 23 && p.DstPort != 23:
		s.serverOrig = p.FromOrig
	case p.DstPort == 23 && p.SrcPort != 23:
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

// prompt is what the server is waiting for, or what a client line answers.
type prompt uint8

const (
	noPrompt prompt = iota
	userPrompt
	passPrompt
)

// login is where the client is in a login attempt.
type login uint8

const (
	idle     login = iota
	userSent       // a line answered the user prompt
	passSent       // a line answered the password prompt: awaiting the verdict
)

type stream struct {
	serverOrig     bool
	client, server events.Endpoint
	vlan           uint16
	flowID         string

	cmd [2]commandParser // 0: client, 1: server
	esc escapeState      // ANSI escape sequences in server output
	kw  [len(keywords)]uint8

	serverText int // server text bytes scanned
	banner     []byte
	bannerText int // server text bytes before the first prompt
	bannerDone bool

	prompt   prompt // the prompt the server printed last, if nothing followed it
	lastMark byte   // last printable non-space server byte since the client typed
	line     prompt // the prompt the client's current line answers
	lineLen  int    // bytes typed on the current line: a count, never the bytes
	lastCR   bool

	state      login
	attempts   int
	credential bool
	insecure   bool
	done       bool
}

// Data implements dpi.Stream. It consumes everything: nothing typed is
// ever kept.
func (s *stream) Data(p *dpi.Packet, data []byte, out *dpi.Output) (int, error) {
	if !s.insecure {
		s.insecure = true
		out.Observe(p, dpi.Sender, dpi.AttrInsecureProtocol, "telnet", Protocol, 0.9, "Telnet session")
		out.Observe(p, dpi.Receiver, dpi.AttrInsecureProtocol, "telnet", Protocol, 0.9, "Telnet session")
	}
	fromServer := p.FromOrig == s.serverOrig
	d := 0
	if fromServer {
		d = 1
	}
	for _, c := range data {
		c, ok := s.cmd[d].next(c)
		if !ok {
			continue
		}
		if fromServer {
			s.serverByte(p, c, out)
		} else {
			s.clientByte(p, c, out)
		}
		if s.done {
			return len(data), dpi.ErrStreamDone
		}
	}
	switch {
	case !s.bannerDone && s.serverText > maxPreamble, s.attempts >= maxAttempts && s.state == idle:
		return len(data), dpi.ErrStreamDone
	case s.serverText > maxText:
		// A long session whose verdict never showed: report the attempt
		// now, since End is not called after ErrStreamDone.
		s.End(out)
		return len(data), dpi.ErrStreamDone
	}
	return len(data), nil
}

// Gap implements dpi.Stream: Telnet is text, so the stream resynchronises
// by forgetting the partial command, escape sequence and keywords.
func (s *stream) Gap(fromOrig bool) {
	if fromOrig == s.serverOrig {
		s.cmd[1] = commandParser{}
		s.esc = escapeState{}
		s.kw = [len(keywords)]uint8{}
		return
	}
	s.cmd[0] = commandParser{}
}

// End implements dpi.Stream: an attempt still waiting for its verdict is
// decided by what the server printed last.
func (s *stream) End(out *dpi.Output) {
	if s.state != passSent {
		return
	}
	switch {
	case s.prompt == userPrompt:
		s.result(out, events.AuthFailure, "login prompt repeated")
	case isShellPrompt(s.lastMark):
		s.result(out, events.AuthSuccess, "")
	default:
		s.result(out, events.AuthUnknown, "")
	}
}

func (s *stream) serverByte(p *dpi.Packet, c byte, out *dpi.Output) {
	if s.esc.skip(c) {
		return
	}
	s.serverText++
	if c > ' ' && c < 0x7f {
		// Text after a prompt means it was not one ("Last login: ...").
		s.prompt = noPrompt
		s.lastMark = c
	}
	if !s.bannerDone {
		s.bannerText++
		if len(s.banner) < maxBanner {
			s.banner = append(s.banner, c)
		}
	}
	lc := lower(c)
	for i := range keywords {
		k := &keywords[i]
		var hit bool
		if s.kw[i], hit = k.step(s.kw[i], lc); hit {
			s.keyword(p, k, out)
		}
	}
}

func (s *stream) keyword(p *dpi.Packet, k *keyword, out *dpi.Output) {
	switch k.kind {
	case userPrompt, passPrompt:
		if !s.bannerDone {
			s.emitBanner(p, len(k.text), out)
		}
		s.prompt = k.kind
	case kindFailure:
		if s.state == passSent {
			s.result(out, events.AuthFailure, k.text)
		}
	case kindSuccess:
		if s.state == passSent {
			s.result(out, events.AuthSuccess, "")
		}
	}
}

// emitBanner publishes the server text before the first prompt, without
// the prompt keyword itself (kwLen bytes, all counted in bannerText).
func (s *stream) emitBanner(p *dpi.Packet, kwLen int, out *dpi.Output) {
	end := min(len(s.banner), max(s.bannerText-kwLen, 0))
	if v := dpi.Text(s.banner[:end]); v != "" {
		out.Observe(p, dpi.Sender, dpi.AttrTelnetBanner, v, Protocol, 0.9, "Telnet server text before login prompt")
	}
	s.banner, s.bannerDone = nil, true
}

func (s *stream) clientByte(p *dpi.Packet, c byte, out *dpi.Output) {
	switch {
	case c == 0 || c == '\n' && s.lastCR:
		// The NUL or LF of a CR NUL / CR LF end of line.
		s.lastCR = false
	case c == '\r' || c == '\n':
		s.lastCR = c == '\r'
		s.endLine(p, out)
	default:
		s.lastCR = false
		if s.lineLen == 0 {
			s.startLine(out)
		}
		s.lineLen++
	}
}

// startLine latches the prompt the client is answering. If an attempt is
// waiting for its verdict, the server's output so far decides it: the
// client types again at a new login prompt or at a shell prompt.
func (s *stream) startLine(out *dpi.Output) {
	if s.state == passSent {
		switch {
		case s.prompt == userPrompt:
			s.result(out, events.AuthFailure, "login prompt repeated")
		case isShellPrompt(s.lastMark):
			s.result(out, events.AuthSuccess, "")
		}
	}
	s.line, s.prompt, s.lastMark = s.prompt, noPrompt, 0
}

func (s *stream) endLine(p *dpi.Packet, out *dpi.Output) {
	if s.done {
		return
	}
	if s.lineLen == 0 {
		s.startLine(out)
	}
	switch {
	case s.line == userPrompt && s.lineLen > 0:
		s.state = userSent
	case s.line == passPrompt:
		if !s.credential {
			s.credential = true
			// p is a client packet: the client is its sender.
			out.Observe(p, dpi.Sender, dpi.AttrCleartextCredential, "telnet login", Protocol, 0.9, "Telnet password line after Password: prompt")
			out.Observe(p, dpi.Receiver, dpi.AttrCleartextCredential, "telnet login", Protocol, 0.9, "Telnet password line after Password: prompt")
		}
		s.state = passSent
		s.attempts++
		s.lastMark = 0
	}
	s.line, s.lineLen = noPrompt, 0
}

func (s *stream) result(out *dpi.Output, r events.AuthResult, reason string) {
	out.Auths = append(out.Auths, events.Auth{
		Client: s.client, Server: s.server, VLAN: s.vlan,
		Protocol: Protocol, Method: "password", Result: r, Reason: reason, FlowID: s.flowID,
	})
	s.state = idle
	if r == events.AuthSuccess {
		// The rest is a shell session: nothing more to learn.
		s.done = true
	}
}

func isShellPrompt(c byte) bool { return c == '$' || c == '#' || c == '>' || c == '%' }

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// commandParser strips Telnet commands (IAC sequences) from a direction.
type commandParser struct{ state uint8 }

const (
	cmdData uint8 = iota
	cmdIAC
	cmdOption // after WILL, WONT, DO or DONT
	cmdSub    // inside SB ... IAC SE
	cmdSubIAC
)

// Telnet command bytes (RFC 854).
const (
	iac  = 0xff
	sb   = 0xfa
	will = 0xfb
)

// next returns c and true when it is a data byte.
func (cp *commandParser) next(c byte) (byte, bool) {
	switch cp.state {
	case cmdData:
		if c == iac {
			cp.state = cmdIAC
			return 0, false
		}
		return c, true
	case cmdIAC:
		switch {
		case c == iac:
			cp.state = cmdData
			return c, true // an escaped 0xFF data byte
		case c >= will:
			cp.state = cmdOption
		case c == sb:
			cp.state = cmdSub
		default:
			cp.state = cmdData
		}
	case cmdOption:
		cp.state = cmdData
	case cmdSub:
		if c == iac {
			cp.state = cmdSubIAC
		}
	case cmdSubIAC:
		if c == iac {
			cp.state = cmdSub
		} else {
			cp.state = cmdData // SE, or a malformed end: resume data
		}
	}
	return 0, false
}

// escapeState skips ANSI escape sequences (ESC [ ... final) in server
// output, so colour codes around a prompt do not hide it.
type escapeState struct{ state uint8 }

// skip reports whether c belongs to an escape sequence.
func (e *escapeState) skip(c byte) bool {
	switch e.state {
	case 0:
		if c == 0x1b {
			e.state = 1
			return true
		}
		return false
	case 1:
		if c == '[' {
			e.state = 2
		} else {
			e.state = 0
		}
		return true
	default:
		if c >= 0x40 && c <= 0x7e {
			e.state = 0
		}
		return true
	}
}
