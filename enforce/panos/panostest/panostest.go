// Package panostest is a stand-in PAN-OS firewall for tests: the parts of
// the XML API Vigil uses (/api/ with type=keygen, type=user-id and the op
// command show object registered-ip), built from the documented request
// and response shapes: <response status="success|error" code="...">
// envelopes, X-PAN-KEY or key= authentication, uid-message version 2.0
// documents with register/unregister of IP tags and per-tag timeouts,
// "already exists, ignore" and "does not exist, ignore unreg" entry
// messages, paging with limit and start-point.
//
// It keeps the registered IP-tag table, lets a test change it behind the
// client's back (drift) and can be made unreachable.
package panostest

import (
	"crypto/subtle"
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options of a stand-in firewall.
type Options struct {
	// Username and Password are accepted by keygen, which answers Key.
	Username, Password string
	// Key is the API key; requests with another key are refused.
	Key string
	// Vsys is the only virtual system that exists ("vsys1" if empty).
	Vsys string
	// Now is the firewall's clock for tag timeouts (time.Now if nil).
	Now func() time.Time
	// IgnorePaging answers every page from the start, as PAN-OS before
	// 8.0 (which has no limit/start-point) does.
	IgnorePaging bool
}

// Server is the stand-in firewall, served over TLS on a free port.
type Server struct {
	*httptest.Server
	opts Options

	mu          sync.Mutex
	table       map[string]map[string]time.Time // ip → tag → expiry (zero: none)
	unreachable bool
	requests    map[string]int
	keygens     int
}

// New starts a stand-in firewall; Close stops it.
func New(opts Options) *Server {
	if opts.Vsys == "" {
		opts.Vsys = "vsys1"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, table: map[string]map[string]time.Time{}, requests: map[string]int{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// Handshakes cut by Close or by SetUnreachable are expected here.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	return s
}

// SetUnreachable makes the firewall drop every connection without an
// answer (true) or answer again (false).
func (s *Server) SetUnreachable(down bool) {
	s.mu.Lock()
	s.unreachable = down
	s.mu.Unlock()
}

// SetKey changes the API key, as regenerating it on the firewall does.
func (s *Server) SetKey(key string) {
	s.mu.Lock()
	s.opts.Key = key
	s.mu.Unlock()
}

// Register adds a tag to an address behind the client's back.
func (s *Server) Register(ip, tag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.table[ip] == nil {
		s.table[ip] = map[string]time.Time{}
	}
	s.table[ip][tag] = time.Time{}
}

// Unregister removes a tag from an address behind the client's back, as an
// administrator (or a reboot losing non-persistent tags) would.
func (s *Server) Unregister(ip, tag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.table[ip], tag)
	if len(s.table[ip]) == 0 {
		delete(s.table, ip)
	}
}

// Tags returns the registered table: every address with its sorted tags,
// expired tags left out.
func (s *Server) Tags() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	out := map[string][]string{}
	for ip, tags := range s.table {
		for t := range tags {
			out[ip] = append(out[ip], t)
		}
		sort.Strings(out[ip])
	}
	return out
}

// Timeout returns when a tag of an address expires (zero: never) and
// whether it is registered.
func (s *Server) Timeout(ip, tag string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	t, ok := s.table[ip][tag]
	return t, ok
}

// Requests returns how many requests of each type (keygen, user-id, op)
// the firewall answered.
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

func (s *Server) expire() {
	now := s.opts.Now()
	for ip, tags := range s.table {
		for t, exp := range tags {
			if !exp.IsZero() && !now.Before(exp) {
				delete(tags, t)
			}
		}
		if len(tags) == 0 {
			delete(s.table, ip)
		}
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down := s.unreachable
	s.mu.Unlock()
	if down {
		hijackClose(w)
		return
	}
	if r.URL.Path != "/api/" && r.URL.Path != "/api" {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		reply(w, http.StatusBadRequest, errorResponse("400", "Bad request"))
		return
	}
	typ := r.Form.Get("type")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[typ]++
	if typ == "keygen" {
		s.keygens++
		if !eq(r.Form.Get("user"), s.opts.Username) || !eq(r.Form.Get("password"), s.opts.Password) || s.opts.Username == "" {
			reply(w, http.StatusForbidden, errorResponse("403", "Invalid Credential"))
			return
		}
		reply(w, http.StatusOK, `<response status="success"><result><key>`+escape(s.opts.Key)+`</key></result></response>`)
		return
	}
	key := r.Header.Get("X-PAN-KEY")
	if key == "" {
		key = r.Form.Get("key")
	}
	if key == "" || !eq(key, s.opts.Key) {
		reply(w, http.StatusForbidden, errorResponse("403", "Invalid Credential"))
		return
	}
	if v := r.Form.Get("vsys"); v != "" && v != s.opts.Vsys {
		reply(w, http.StatusOK, errorResponse("12", "vsys "+v+" does not exist"))
		return
	}
	s.expire()
	switch typ {
	case "user-id":
		s.userID(w, r.Form.Get("cmd"))
	case "op":
		s.op(w, r.Form.Get("cmd"))
	default:
		reply(w, http.StatusBadRequest, errorResponse("400", "Invalid type "+typ))
	}
}

// uidMessage is the User-ID API document.
type uidMessage struct {
	XMLName xml.Name `xml:"uid-message"`
	Version string   `xml:"version"`
	Type    string   `xml:"type"`
	Payload struct {
		Register   *uidSection `xml:"register"`
		Unregister *uidSection `xml:"unregister"`
		Login      *struct{}   `xml:"login"`
		Logout     *struct{}   `xml:"logout"`
	} `xml:"payload"`
}

type uidSection struct {
	Entries []struct {
		IP      string `xml:"ip,attr"`
		Members []struct {
			Timeout *string `xml:"timeout,attr"`
			Name    string  `xml:",chardata"`
		} `xml:"tag>member"`
	} `xml:"entry"`
}

func (s *Server) userID(w http.ResponseWriter, cmd string) {
	var m uidMessage
	dec := xml.NewDecoder(strings.NewReader(cmd))
	dec.Strict = true
	if err := dec.Decode(&m); err != nil {
		reply(w, http.StatusOK, errorLine("18", "Malformed uid-message: "+err.Error()))
		return
	}
	// One document only: a second one is how injected XML shows itself.
	if _, err := dec.Token(); err != io.EOF {
		reply(w, http.StatusOK, errorLine("18", "Malformed uid-message: content after </uid-message>"))
		return
	}
	if m.Version != "1.0" && m.Version != "2.0" {
		reply(w, http.StatusOK, errorLine("18", "uid-message version "+m.Version+" not supported"))
		return
	}
	if m.Type != "update" {
		reply(w, http.StatusOK, errorLine("18", "uid-message type "+m.Type+" not supported"))
		return
	}
	// Validate everything before changing anything.
	for _, sec := range []*uidSection{m.Payload.Register, m.Payload.Unregister} {
		if sec == nil {
			continue
		}
		for _, e := range sec.Entries {
			if _, err := netip.ParseAddr(e.IP); err != nil {
				reply(w, http.StatusOK, errorLine("18", fmt.Sprintf("Invalid ip address %q", e.IP)))
				return
			}
			if len(e.Members) == 0 {
				reply(w, http.StatusOK, errorLine("18", "entry "+e.IP+" has no tag"))
				return
			}
			for _, mb := range e.Members {
				name := strings.TrimSpace(mb.Name)
				if name == "" || len(name) > 127 {
					reply(w, http.StatusOK, errorLine("18", fmt.Sprintf("Invalid tag %q", mb.Name)))
					return
				}
				if mb.Timeout != nil {
					n, err := strconv.Atoi(*mb.Timeout)
					if err != nil || n < 0 || n > 2_592_000 {
						reply(w, http.StatusOK, errorLine("18", fmt.Sprintf("Invalid timeout %q (0-2592000)", *mb.Timeout)))
						return
					}
				}
			}
		}
	}
	now := s.opts.Now()
	var regMsgs, unregMsgs []string
	if sec := m.Payload.Register; sec != nil {
		for _, e := range sec.Entries {
			for _, mb := range e.Members {
				name := strings.TrimSpace(mb.Name)
				if _, ok := s.table[e.IP][name]; ok {
					regMsgs = append(regMsgs, entryMsg(e.IP, fmt.Sprintf("tag %s already exists, ignore", name)))
					continue
				}
				var exp time.Time
				if mb.Timeout != nil {
					if n, _ := strconv.Atoi(*mb.Timeout); n > 0 {
						exp = now.Add(time.Duration(n) * time.Second)
					}
				}
				if s.table[e.IP] == nil {
					s.table[e.IP] = map[string]time.Time{}
				}
				s.table[e.IP][name] = exp
			}
		}
	}
	if sec := m.Payload.Unregister; sec != nil {
		for _, e := range sec.Entries {
			for _, mb := range e.Members {
				name := strings.TrimSpace(mb.Name)
				if _, ok := s.table[e.IP][name]; !ok {
					unregMsgs = append(unregMsgs, entryMsg(e.IP, fmt.Sprintf("tag %s does not exist, ignore unreg", name)))
					continue
				}
				delete(s.table[e.IP], name)
				if len(s.table[e.IP]) == 0 {
					delete(s.table, e.IP)
				}
			}
		}
	}
	if len(regMsgs)+len(unregMsgs) == 0 {
		reply(w, http.StatusOK, `<response status="success"><result><uid-response><version>2.0</version><payload/></uid-response></result></response>`)
		return
	}
	var b strings.Builder
	b.WriteString(`<response status="error"><msg><line><uid-response><version>2.0</version><payload>`)
	if len(regMsgs) > 0 {
		b.WriteString("<register>" + strings.Join(regMsgs, "") + "</register>")
	}
	if len(unregMsgs) > 0 {
		b.WriteString("<unregister>" + strings.Join(unregMsgs, "") + "</unregister>")
	}
	b.WriteString(`</payload></uid-response></line></msg></response>`)
	reply(w, http.StatusOK, b.String())
}

func entryMsg(ip, msg string) string {
	return `<entry ip="` + escape(ip) + `" message="` + escape(msg) + `"/>`
}

// showCmd is the op command <show><object><registered-ip>...
type showCmd struct {
	XMLName xml.Name `xml:"show"`
	Object  *struct {
		Registered *struct {
			All  *struct{} `xml:"all"`
			IP   string    `xml:"ip"`
			TagE []struct {
				Name string `xml:"name,attr"`
			} `xml:"tag>entry"`
			Limit string `xml:"limit"`
			Start string `xml:"start-point"`
		} `xml:"registered-ip"`
	} `xml:"object"`
}

func (s *Server) op(w http.ResponseWriter, cmd string) {
	var c showCmd
	if err := xml.Unmarshal([]byte(cmd), &c); err != nil || c.Object == nil || c.Object.Registered == nil {
		reply(w, http.StatusOK, errorLine("17", "Invalid command: only show object registered-ip is implemented"))
		return
	}
	q := c.Object.Registered
	limit, start := 0, 1
	if q.Limit != "" {
		n, err := strconv.Atoi(q.Limit)
		if err != nil || n < 1 || n > 500 {
			reply(w, http.StatusOK, errorLine("17", "limit must be 1-500"))
			return
		}
		limit = n
	}
	if s.opts.IgnorePaging {
		q.Limit, q.Start = "", ""
	}
	if q.Start != "" {
		n, err := strconv.Atoi(q.Start)
		if err != nil || n < 1 {
			reply(w, http.StatusOK, errorLine("17", "start-point must be at least 1"))
			return
		}
		start = n
	}
	var tag string
	if len(q.TagE) > 0 {
		tag = q.TagE[0].Name
	}
	var ips []string
	for ip, tags := range s.table {
		if q.IP != "" && ip != q.IP {
			continue
		}
		if _, ok := tags[tag]; tag != "" && !ok {
			continue
		}
		ips = append(ips, ip)
	}
	sort.Strings(ips)
	total := len(ips)
	if start-1 < len(ips) {
		ips = ips[start-1:]
	} else {
		ips = nil
	}
	if limit > 0 && len(ips) > limit {
		ips = ips[:limit]
	}
	var b strings.Builder
	b.WriteString(`<response status="success"><result>`)
	for _, ip := range ips {
		fmt.Fprintf(&b, `<entry ip="%s" from_agent="0" persistent="1"><tag>`, escape(ip))
		var tags []string
		for t := range s.table[ip] {
			tags = append(tags, t)
		}
		sort.Strings(tags)
		for _, t := range tags {
			b.WriteString("<member>" + escape(t) + "</member>")
		}
		b.WriteString("</tag></entry>")
	}
	fmt.Fprintf(&b, "<count>%d</count></result></response>", total)
	reply(w, http.StatusOK, b.String())
}

func errorResponse(code, msg string) string {
	return `<response status="error" code="` + code + `"><result><msg>` + escape(msg) + `</msg></result></response>`
}

func errorLine(code, msg string) string {
	return `<response status="error" code="` + code + `"><msg><line>` + escape(msg) + `</line></msg></response>`
}

func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/xml; charset=UTF-8")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func eq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// hijackClose drops the connection without a response, as a firewall
// whose management plane is down does.
func hijackClose(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("panostest: response writer cannot hijack")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		conn = tc.NetConn()
	}
	conn.Close()
}
