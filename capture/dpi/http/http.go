// Package http reads device facts from HTTP/1.x connections: the
// User-Agent and Host of requests, the Server of responses, and
// authentication attempts (Authorization header schemes, login forms)
// with the outcome the matching response gives.
//
// Requests and responses are paired in order (HTTP/1.1 pipelining), so
// each direction is parsed message by message: header blocks are read
// whole (they may span segments), bodies are skipped with the stream's
// skip counts, chunk by chunk when chunked. Only header fields named
// below are read; URLs, query strings, cookies and bodies are never
// published (a login form's body is scanned for a password field name,
// never kept). The stream stops after maxRequests requests.
package http

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// Protocol is the Observation and Auth protocol name.
const Protocol = "http"

// Limits of the work done per connection.
const (
	// maxRequests bounds the requests read per connection: the facts of a
	// keep-alive connection are in its first requests.
	maxRequests = 16
	// maxHeader bounds a header block; a longer one is skipped.
	maxHeader = 16 << 10
	// maxFormBody bounds a login form body scanned for a password field.
	maxFormBody = 8 << 10
	// maxPending bounds requests waiting for their response.
	maxPending = 32
	// maxSeen bounds the values remembered to publish each fact once.
	maxSeen = 64
	// maxChunkLine bounds a chunk-size line (with extensions).
	maxChunkLine = 1024
)

// errNotHTTP is returned when a direction's first bytes are not an HTTP
// message.
var errNotHTTP = errors.New("http: not an HTTP/1.x message")

// Dissector creates the state of HTTP connections.
type Dissector struct{}

var _ dpi.StreamDissector = (*Dissector)(nil)

// New returns an HTTP dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.StreamDissector.
func (*Dissector) Name() string { return "http" }

// Protocols implements dpi.StreamDissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoHTTP} }

// NewStream implements dpi.StreamDissector. The server is the side whose
// first bytes are a status line, else the responder.
func (*Dissector) NewStream(p *dpi.Packet) dpi.Stream {
	s := &stream{vlan: p.VLAN, flowID: p.FlowID}
	s.serverOrig = !p.FromOrig
	if bytes.HasPrefix(p.Payload, []byte("HTTP/")) {
		s.serverOrig = p.FromOrig
	}
	clientSide, serverSide := dpi.Sender, dpi.Receiver
	if p.FromOrig == s.serverOrig {
		clientSide, serverSide = dpi.Receiver, dpi.Sender
	}
	s.client, s.server = p.Endpoint(clientSide), p.Endpoint(serverSide)
	return s
}

// state is where a direction is in its message.
type state uint8

const (
	stHeaders    state = iota // expecting a request or status line
	stBody                    // skipping remain body bytes, then next
	stForm                    // a login form body of remain bytes, read whole
	stChunkSize               // expecting a chunk-size line
	stChunkEnd                // expecting the CRLF after chunk data
	stTrailers                // trailer fields after the last chunk
	stUntilClose              // the rest of the connection is a body
	stResync                  // looking for the start of a message after a gap
	stDone                    // nothing more to read
)

// half is the parsing state of one direction.
type half struct {
	state  state
	remain int64 // body or chunk bytes left
	next   state // state after the body
	// afterGap lets resynchronisation accept a message start at the very
	// first byte after a gap (elsewhere one must follow a line end, and
	// the byte that failed to parse is never retried).
	afterGap bool
	// synced is set once a message was read (or after a gap): a parse
	// failure then means resynchronising, before it that the connection
	// is not HTTP.
	synced bool
	// failed is set when the direction's first bytes were not HTTP.
	failed bool
}

// request is what a response needs to know of its request.
type request struct {
	head    bool // HEAD: the response has no body
	connect bool
	simple  bool // HTTP/0.9: the response has no status line
	auth    authAttempt
}

type stream struct {
	client, server events.Endpoint
	vlan           uint16
	flowID         string
	serverOrig     bool

	half     [2]half // 0 requests (client), 1 responses (server)
	pending  []request
	requests int
	// unpaired is set after a gap: responses can no longer be matched to
	// requests, so outcomes are unknown.
	unpaired bool
	// lost are attempts whose response can no longer be known.
	lost []authAttempt
	seen map[string]struct{}
}

// Data implements dpi.Stream.
func (s *stream) Data(p *dpi.Packet, data []byte, out *dpi.Output) (int, error) {
	s.flushLost(out)
	fromServer := p.FromOrig == s.serverOrig
	h := &s.half[0]
	if fromServer {
		h = &s.half[1]
	}
	n := 0
	for n < len(data) {
		if fromServer && h.state == stHeaders && s.clientFinished() && len(s.pending) == 0 {
			h.state = stDone // every request read has its response
		}
		if h.state == stDone {
			return len(data), s.finish(out)
		}
		rest := data[n:]
		switch h.state {
		case stHeaders:
			used, ok := s.message(p, fromServer, h, rest, out)
			if !ok {
				if !h.synced {
					// This direction never spoke HTTP: stop reading it; the
					// connection is not HTTP when neither direction does.
					h.state, h.failed = stDone, true
					if s.half[0].failed && s.half[1].failed {
						return n, errNotHTTP
					}
					return len(data), s.finish(out)
				}
				// Not a message start: resynchronise on the next one.
				h.state = stResync
				continue
			}
			if used == 0 && h.state == stHeaders {
				return n, s.finish(out) // the header block is not complete yet
			}
			h.synced = true
			n += used
		case stBody:
			if h.remain > int64(len(rest)) {
				// Skip past the end of data: the pipeline drops the rest.
				skip := h.remain
				h.state, h.remain = h.next, 0
				return n + int(skip), s.finish(out)
			}
			n += int(h.remain)
			h.state, h.remain = h.next, 0
		case stForm:
			if int64(len(rest)) < h.remain {
				return n, nil // read the form whole
			}
			s.form(p, rest[:h.remain], out)
			n += int(h.remain)
			h.state, h.remain = stHeaders, 0
		case stChunkSize:
			end := bytes.IndexByte(rest[:min(len(rest), maxChunkLine)], '\n')
			if end < 0 {
				if len(rest) >= maxChunkLine {
					h.state = stResync
					continue
				}
				return n, nil
			}
			size, ok := chunkSize(rest[:end])
			if !ok {
				h.state = stResync
				continue
			}
			n += end + 1
			if size == 0 {
				h.state = stTrailers
			} else {
				h.state, h.remain, h.next = stBody, size, stChunkEnd
			}
		case stChunkEnd:
			switch {
			case rest[0] == '\n':
				n++
			case rest[0] == '\r' && len(rest) == 1:
				return n, nil
			case rest[0] == '\r' && rest[1] == '\n':
				n += 2
			default:
				h.state = stResync
				continue
			}
			h.state = stChunkSize
		case stTrailers:
			end := bytes.IndexByte(rest[:min(len(rest), maxHeader)], '\n')
			if end < 0 {
				if len(rest) >= maxHeader {
					h.state = stResync
					continue
				}
				return n, nil
			}
			n += end + 1
			if len(bytes.TrimSuffix(rest[:end], []byte{'\r'})) == 0 {
				h.state = stHeaders
			}
		case stUntilClose:
			n = len(data)
		case stResync:
			if h.afterGap && len(rest) < len("OPTIONS ") {
				return n, nil // too short to tell whether a message starts here
			}
			i := resync(rest, fromServer, h.afterGap)
			h.afterGap = false
			if i < 0 {
				// Keep a tail that may hold the start of a marker.
				keep := min(len(rest), 32)
				return len(data) - keep, nil
			}
			n += i
			h.state = stHeaders
		}
	}
	return n, s.finish(out)
}

// maxSkip bounds a body length: a skip count returned to the pipeline
// must fit an int.
const maxSkip = 1 << 40

// clientFinished tells whether the client's requests were all read (as
// many as are read), so the server's side ends with their responses.
func (s *stream) clientFinished() bool { return s.half[0].state == stDone && !s.half[0].failed }

// finish returns ErrStreamDone once neither direction has anything left
// to read, reporting the attempts still unanswered (End is not called
// on a finished stream).
func (s *stream) finish(out *dpi.Output) error {
	if s.half[0].state != stDone || s.half[1].state != stDone {
		return nil
	}
	s.End(out)
	return dpi.ErrStreamDone
}

// Gap implements dpi.Stream: the direction resynchronises on the next
// message start; requests and responses can no longer be paired.
func (s *stream) Gap(fromOrig bool) {
	h := &s.half[0]
	if fromOrig == s.serverOrig {
		h = &s.half[1]
	}
	if h.state != stDone {
		h.state, h.remain, h.afterGap, h.synced = stResync, 0, true, true
	}
	s.unpaired = true
	for _, r := range s.pending {
		if r.auth.method != "" && len(s.lost) < maxPending {
			s.lost = append(s.lost, r.auth)
		}
	}
	s.pending = s.pending[:0]
}

// End implements dpi.Stream: attempts still waiting for their response
// are reported with an unknown outcome.
func (s *stream) End(out *dpi.Output) {
	s.flushLost(out)
	for _, r := range s.pending {
		if r.auth.method != "" && !r.auth.continuation() {
			s.auth(out, r.auth, events.AuthUnknown, "")
		}
	}
	s.pending = nil
}

func (s *stream) flushLost(out *dpi.Output) {
	for _, a := range s.lost {
		if !a.continuation() {
			s.auth(out, a, events.AuthUnknown, "")
		}
	}
	s.lost = s.lost[:0]
}

// observe publishes a fact once per connection.
func (s *stream) observe(p *dpi.Packet, side dpi.Side, attr, value string, confidence float64, evidence string, out *dpi.Output) {
	if value == "" {
		return
	}
	key := attr + "\x00" + value
	if side == dpi.Receiver {
		key = "r" + key
	}
	if _, ok := s.seen[key]; ok {
		return
	}
	if s.seen == nil {
		s.seen = map[string]struct{}{}
	}
	if len(s.seen) < maxSeen {
		s.seen[key] = struct{}{}
	}
	out.Observe(p, side, attr, value, Protocol, confidence, evidence)
}

func (s *stream) auth(out *dpi.Output, a authAttempt, result events.AuthResult, reason string) {
	out.Auths = append(out.Auths, events.Auth{
		Client: s.client, Server: s.server, VLAN: s.vlan,
		Protocol: Protocol, Method: a.method, Result: result, Reason: reason, FlowID: s.flowID,
	})
}

// message parses the header block at the start of data. It returns the
// bytes it used (0: the block is not complete yet) and false when data
// does not start with a message.
func (s *stream) message(p *dpi.Packet, fromServer bool, h *half, data []byte, out *dpi.Output) (int, bool) {
	// Tolerate the stray CRLF some clients send after a body (RFC 9112 2.2).
	skip := 0
	for skip < len(data) && (data[skip] == '\r' || data[skip] == '\n') {
		skip++
	}
	if skip == len(data) {
		return skip, true
	}
	data = data[skip:]
	lineEnd := bytes.IndexByte(data[:min(len(data), maxHeader)], '\n')
	if lineEnd < 0 {
		if len(data) >= maxHeader {
			return 0, false
		}
		// A partial first line must at least look right so far.
		if fromServer && !bytes.HasPrefix(data, []byte("HTTP/")[:min(len(data), 5)]) {
			return 0, false
		}
		if !fromServer && !plausibleMethodPrefix(data) {
			return 0, false
		}
		return 0, true
	}
	first := bytes.TrimSuffix(data[:lineEnd], []byte{'\r'})
	if !fromServer {
		method, version, ok := requestLine(first)
		if !ok {
			return 0, false
		}
		if version == nil {
			// HTTP/0.9: a lone request line, answered by a bare body.
			s.request(p, h, method, nil, true, out)
			return skip + lineEnd + 1, true
		}
	} else if !bytes.HasPrefix(first, []byte("HTTP/")) {
		if len(s.pending) > 0 && s.pending[0].simple {
			s.pending = s.pending[1:]
			h.state = stUntilClose
			return skip, true
		}
		return 0, false
	}
	end := headerEnd(data)
	if end < 0 {
		if len(data) >= maxHeader {
			return 0, false
		}
		return 0, true
	}
	block := data[:end]
	if fromServer {
		s.response(p, h, block, out)
	} else {
		method, _, _ := requestLine(first)
		s.request(p, h, method, block, false, out)
	}
	return skip + end, true
}

// headerEnd returns the length of the header block at the start of data
// including its empty line, or -1.
func headerEnd(data []byte) int {
	limit := data[:min(len(data), maxHeader)]
	for i := 0; i < len(limit); i++ {
		if limit[i] != '\n' {
			continue
		}
		switch {
		case i+1 < len(limit) && limit[i+1] == '\n':
			return i + 2
		case i+2 < len(limit) && limit[i+1] == '\r' && limit[i+2] == '\n':
			return i + 3
		}
	}
	return -1
}

// headers calls fn for each field of a header block (its first line
// excluded), with the name as sent and the value trimmed.
func headers(block []byte, fn func(name, value []byte)) {
	_, rest, _ := bytes.Cut(block, []byte{'\n'})
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue // the end, or an obsolete folded line
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		fn(bytes.TrimSpace(name), bytes.TrimSpace(value))
	}
}

func (s *stream) request(p *dpi.Packet, h *half, method, block []byte, simple bool, out *dpi.Output) {
	s.requests++
	r := request{simple: simple, head: string(method) == "HEAD", connect: string(method) == "CONNECT"}
	var length int64 = -1
	chunked, form := false, false
	headers(block, func(name, value []byte) {
		switch {
		case bytes.EqualFold(name, []byte("User-Agent")):
			s.observe(p, dpi.Sender, dpi.AttrHTTPUserAgent, dpi.Text(value), 0.9, "HTTP request User-Agent header", out)
		case bytes.EqualFold(name, []byte("Host")):
			host := dpi.Text(value)
			s.observe(p, dpi.Sender, dpi.AttrHTTPHost, host, 0.9, "HTTP request Host header", out)
			if !isAddress(host) {
				s.observe(p, dpi.Receiver, dpi.AttrHTTPHost, host, 0.6, "HTTP request Host header (a name the server answers to)", out)
			}
		case bytes.EqualFold(name, []byte("Authorization")):
			r.auth = parseAuthorization(value)
		case bytes.EqualFold(name, []byte("Content-Length")):
			length = contentLength(value, length)
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = isChunked(value)
		case bytes.EqualFold(name, []byte("Content-Type")):
			form = bytes.HasPrefix(bytes.ToLower(value), []byte("application/x-www-form-urlencoded"))
		}
	})
	if r.auth.cleartext != "" {
		s.observe(p, dpi.Sender, dpi.AttrCleartextCredential, r.auth.cleartext, 0.9, "HTTP request Authorization header", out)
		s.observe(p, dpi.Receiver, dpi.AttrCleartextCredential, r.auth.cleartext, 0.9, "HTTP request Authorization header", out)
	}
	switch {
	case chunked:
		h.state = stChunkSize
	case length > 0 && form && r.auth.method == "" && length <= maxFormBody:
		// Read whole so the form can be checked for a password field; the
		// attempt, if any, is queued once it is.
		h.state, h.remain = stForm, length
	case length > 0:
		h.state, h.remain, h.next = stBody, length, stHeaders
	default:
		h.state = stHeaders
	}
	if r.auth.method != "" && s.unpaired {
		if !r.auth.continuation() {
			s.auth(out, r.auth, events.AuthUnknown, "")
		}
		r.auth = authAttempt{}
	}
	if len(s.pending) < maxPending {
		s.pending = append(s.pending, r)
	}
	if s.requests >= maxRequests || r.connect {
		// Enough requests (or a tunnel, whose bytes are not HTTP): the
		// responses still pending are read for their outcomes.
		h.state = stDone
	}
}

// form checks a urlencoded body for a non-empty password field and, if
// there is one, records a form login on the request it belongs to.
func (s *stream) form(p *dpi.Packet, body []byte, out *dpi.Output) {
	if !hasPasswordField(body) {
		return
	}
	s.observe(p, dpi.Sender, dpi.AttrCleartextCredential, "http form", 0.8, "HTTP POST form with a password field", out)
	s.observe(p, dpi.Receiver, dpi.AttrCleartextCredential, "http form", 0.8, "HTTP POST form with a password field", out)
	a := authAttempt{method: "form"}
	switch {
	case s.unpaired || len(s.pending) == 0:
		s.auth(out, a, events.AuthUnknown, "")
	default:
		s.pending[len(s.pending)-1].auth = a
	}
}

func (s *stream) response(p *dpi.Packet, h *half, block []byte, out *dpi.Output) {
	status := statusCode(block)
	var length int64 = -1
	chunked := false
	var challenge challengeInfo
	headers(block, func(name, value []byte) {
		switch {
		case bytes.EqualFold(name, []byte("Server")):
			s.observe(p, dpi.Sender, dpi.AttrHTTPServer, dpi.Text(value), 0.9, "HTTP response Server header", out)
		case bytes.EqualFold(name, []byte("Content-Length")):
			length = contentLength(value, length)
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = isChunked(value)
		case bytes.EqualFold(name, []byte("WWW-Authenticate")):
			challenge.add(value)
		}
	})
	if status >= 100 && status < 200 && status != 101 {
		h.state = stHeaders // interim: the final response follows
		return
	}
	var r request
	if len(s.pending) > 0 {
		r = s.pending[0]
		s.pending = s.pending[1:]
	}
	if r.auth.method != "" && !s.unpaired {
		s.outcome(out, r.auth, status, &challenge)
	}
	switch {
	case status == 101 || r.connect && status >= 200 && status < 300:
		// Upgraded (WebSocket, h2c) or tunnelled: no longer HTTP/1.
		s.half[0].state, h.state = stDone, stDone
		return
	case r.head || status == 204 || status == 304:
		h.state = stHeaders
	case chunked:
		h.state = stChunkSize
	case length >= 0:
		h.state, h.remain, h.next = stBody, length, stHeaders
		if length == 0 {
			h.state = stHeaders
		}
	default:
		h.state = stUntilClose // delimited by the end of the connection
	}
	if s.clientFinished() && len(s.pending) == 0 {
		// The last response we care about: its body need not be skipped.
		h.state = stDone
	}
}

// outcome reports the attempt a response answers.
func (s *stream) outcome(out *dpi.Output, a authAttempt, status int, c *challengeInfo) {
	if a.continuation() {
		return // NTLM negotiate leg: the 401 carries the challenge
	}
	switch {
	case status == 401 && (a.method == "ntlm" || a.method == "negotiate") && c.token[a.method]:
		return // a multi-leg handshake goes on
	case status == 401 || status == 403:
		s.auth(out, a, events.AuthFailure, strconv.Itoa(status))
	case status >= 200 && status < 400 && a.method != "form":
		s.auth(out, a, events.AuthSuccess, "")
	default:
		// A form login is answered 200 or 302 either way; other codes
		// (404, 5xx) do not say whether the credential was accepted.
		s.auth(out, a, events.AuthUnknown, "")
	}
}

// isAddress tells whether a Host value is an IP address (with or
// without a port): it names no name the server serves.
func isAddress(host string) bool {
	if ap, err := netip.ParseAddrPort(host); err == nil && ap.Addr().IsValid() {
		return true
	}
	_, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil
}

// requestLine splits "METHOD SP target SP HTTP/x.y", tolerating a
// missing target ("OPTIONS HTTP/1.1"). version is nil for an HTTP/0.9
// request ("GET /path"), as Zeek reads a line without a version.
func requestLine(line []byte) (method, version []byte, ok bool) {
	method, rest, found := bytes.Cut(line, []byte{' '})
	if !found || !isToken(method) || len(method) > 32 || len(rest) == 0 {
		return nil, nil, false
	}
	version = rest
	if i := bytes.LastIndexByte(rest, ' '); i >= 0 {
		version = rest[i+1:]
	}
	if !bytes.HasPrefix(version, []byte("HTTP/")) {
		if bytes.IndexByte(rest, ' ') >= 0 {
			return nil, nil, false
		}
		return method, nil, true
	}
	return method, version, true
}

// isToken tells whether b is an RFC 9110 token.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0) {
			return false
		}
	}
	return true
}

// plausibleMethodPrefix tells whether data may be the start of a request
// line whose end is not there yet.
func plausibleMethodPrefix(data []byte) bool {
	sp := bytes.IndexByte(data, ' ')
	if sp < 0 {
		return isToken(data) && len(data) <= 32
	}
	return isToken(data[:sp]) && sp <= 32
}

// statusCode reads the code of a status line, or 0.
func statusCode(block []byte) int {
	line, _, _ := bytes.Cut(block, []byte{'\n'})
	_, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok || len(rest) < 3 {
		return 0
	}
	code, err := strconv.Atoi(string(rest[:3]))
	if err != nil || code < 100 || code > 999 {
		return 0
	}
	return code
}

// contentLength parses a Content-Length value; the first valid one wins.
func contentLength(value []byte, prev int64) int64 {
	if prev >= 0 {
		return prev
	}
	n, err := strconv.ParseInt(string(value), 10, 64)
	if err != nil || n < 0 || n > maxSkip {
		return -1
	}
	return n
}

// isChunked tells whether chunked is the last transfer coding.
func isChunked(value []byte) bool {
	v := bytes.ToLower(bytes.TrimSpace(value))
	return bytes.HasSuffix(v, []byte("chunked"))
}

// chunkSize parses a chunk-size line (hex, optional extensions).
func chunkSize(line []byte) (int64, bool) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 || len(line) > 10 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(line), 16, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// knownMethods start the request lines searched for after a gap.
var knownMethods = [][]byte{
	[]byte("GET "), []byte("POST "), []byte("HEAD "), []byte("PUT "), []byte("DELETE "),
	[]byte("OPTIONS "), []byte("PATCH "), []byte("CONNECT "), []byte("TRACE "),
}

// resync returns the offset of the first message start in data that
// follows a line end (or is at offset 0, when atStart), or -1.
func resync(data []byte, fromServer, atStart bool) int {
	if atStart && messageStart(data, fromServer) {
		return 0
	}
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			return -1
		}
		start := i + j + 1
		if messageStart(data[start:], fromServer) {
			return start
		}
		i = start
	}
	return -1
}

func messageStart(line []byte, fromServer bool) bool {
	if fromServer {
		return bytes.HasPrefix(line, []byte("HTTP/1."))
	}
	for _, m := range knownMethods {
		if bytes.HasPrefix(line, m) {
			return true
		}
	}
	return false
}

// authAttempt is what a request's credentials say.
type authAttempt struct {
	// method is the events.Auth method: "basic", "digest", "ntlm",
	// "negotiate", "bearer", "form" or another scheme name; "" for none.
	method string
	// cleartext is the AttrCleartextCredential value when the credential
	// travels in clear (basic, bearer).
	cleartext string
	// ntlmType is the NTLM message type carried (1 negotiate, 3 auth).
	ntlmType uint32
}

// continuation tells whether the attempt is only the first leg of a
// handshake (NTLM negotiate), which is never an attempt of its own.
func (a authAttempt) continuation() bool { return a.ntlmType == 1 }

// parseAuthorization reads the scheme of an Authorization value. The
// credentials themselves are never kept: only an NTLM token's message
// type is looked at.
func parseAuthorization(value []byte) authAttempt {
	scheme, token, _ := bytes.Cut(bytes.TrimSpace(value), []byte{' '})
	token = bytes.TrimSpace(token)
	lower := string(bytes.ToLower(scheme))
	switch lower {
	case "basic":
		return authAttempt{method: "basic", cleartext: "http basic"}
	case "bearer":
		return authAttempt{method: "bearer", cleartext: "http bearer"}
	case "digest":
		return authAttempt{method: "digest"}
	case "ntlm", "negotiate":
		return authAttempt{method: lower, ntlmType: ntlmType(token)}
	}
	if v := dpi.Text(bytes.ToLower(scheme)); v != "" && len(v) <= 32 && isToken(scheme) {
		return authAttempt{method: v}
	}
	return authAttempt{method: "unknown"}
}

// ntlmType returns the NTLM message type of a base64 token (raw NTLMSSP
// or wrapped in SPNEGO), or 0.
func ntlmType(token []byte) uint32 {
	// The signature is near the start: decode a bounded prefix.
	n := min(len(token), 512) &^ 3
	buf := make([]byte, base64.StdEncoding.DecodedLen(n))
	m, err := base64.StdEncoding.Decode(buf, token[:n])
	if err != nil {
		return 0
	}
	buf = buf[:m]
	i := bytes.Index(buf, []byte("NTLMSSP\x00"))
	if i < 0 || len(buf) < i+12 {
		return 0
	}
	return binary.LittleEndian.Uint32(buf[i+8:])
}

// challengeInfo records which schemes a 401 challenged with a token (the
// next leg of a multi-leg handshake) rather than bare.
type challengeInfo struct {
	token map[string]bool
}

func (c *challengeInfo) add(value []byte) {
	scheme, token, _ := bytes.Cut(bytes.TrimSpace(value), []byte{' '})
	if len(bytes.TrimSpace(token)) == 0 {
		return
	}
	if c.token == nil {
		c.token = map[string]bool{}
	}
	c.token[string(bytes.ToLower(scheme))] = true
}

// hasPasswordField tells whether a urlencoded form has a non-empty field
// whose name says password ("password", "passwd", "j_password", "pwd").
// Values are never decoded or kept.
func hasPasswordField(body []byte) bool {
	for len(body) > 0 {
		var pair []byte
		pair, body, _ = bytes.Cut(body, []byte{'&'})
		name, value, _ := bytes.Cut(pair, []byte{'='})
		if len(value) == 0 {
			continue
		}
		lower := bytes.ToLower(name)
		if bytes.Contains(lower, []byte("pass")) || bytes.HasSuffix(lower, []byte("pwd")) {
			return true
		}
	}
	return false
}
