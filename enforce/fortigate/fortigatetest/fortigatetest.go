// Package fortigatetest is a stand-in FortiGate for tests: the FortiOS
// REST API v2 endpoints Vigil uses, /api/v2/cmdb/firewall/address and
// /api/v2/cmdb/firewall/addrgrp/{name}, built from the documented shapes:
// bearer token (or access_token) authentication, the vdom parameter, the
// JSON envelope with http_method, status, http_status, vdom, results and
// mkey, negative FortiOS error codes (-3 entry not found, -5 duplicate,
// -23 entry in use), filters of the form name=@text.
//
// It keeps the address objects and groups, lets a test change them behind
// the client's back (drift) and can be made unreachable.
package fortigatetest

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sort"
	"strings"
	"sync"
)

// Options of a stand-in FortiGate.
type Options struct {
	// Token is the REST API token.
	Token string
	// VDOMs that exist ("root" if empty).
	VDOMs []string
}

// Address is an address object as the FortiGate stores it: Subnet for
// an IPv4 object (address), IP6 for an IPv6 one (address6).
type Address struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Subnet  string `json:"subnet,omitempty"`
	IP6     string `json:"ip6,omitempty"`
	Comment string `json:"comment"`
}

// table is one address family: address and addrgrp, or address6 and
// addrgrp6.
type table struct {
	v6        bool
	addresses map[string]Address
	groups    map[string][]string
}

type vdom struct {
	v4, v6 *table
}

func newTable(v6 bool) *table {
	return &table{v6: v6, addresses: map[string]Address{}, groups: map[string][]string{}}
}

func (v *vdom) table(ip6 bool) *table {
	if ip6 {
		return v.v6
	}
	return v.v4
}

// Server is the stand-in FortiGate, served over TLS on a free port.
type Server struct {
	*httptest.Server
	opts Options

	mu          sync.Mutex
	vdoms       map[string]*vdom
	unreachable bool
	requests    map[string]int
}

// New starts a stand-in FortiGate; Close stops it.
func New(opts Options) *Server {
	if len(opts.VDOMs) == 0 {
		opts.VDOMs = []string{"root"}
	}
	s := &Server{opts: opts, vdoms: map[string]*vdom{}, requests: map[string]int{}}
	for _, v := range opts.VDOMs {
		s.vdoms[v] = &vdom{v4: newTable(false), v6: newTable(true)}
	}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// Handshakes cut by Close or by SetUnreachable are expected here.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	return s
}

// CreateGroup creates an address group (addrgrp, or addrgrp6 when v6)
// with members, as the administrator does once when setting Vigil up.
func (s *Server) CreateGroup(vdomName, name string, v6 bool, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vdoms[vdomName].table(v6).groups[name] = append([]string(nil), members...)
}

// CreateAddress creates an address object (address6 when IP6 is set)
// behind the client's back.
func (s *Server) CreateAddress(vdomName string, a Address) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vdoms[vdomName].table(a.IP6 != "").addresses[a.Name] = a
}

// Members returns a group's member names, in order.
func (s *Server) Members(vdomName, group string, v6 bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.vdoms[vdomName].table(v6).groups[group]...)
}

// RemoveMember takes a member out of a group behind the client's back.
func (s *Server) RemoveMember(vdomName, group string, v6 bool, member string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vdoms[vdomName].table(v6)
	var keep []string
	for _, m := range v.groups[group] {
		if m != member {
			keep = append(keep, m)
		}
	}
	v.groups[group] = keep
}

// SetSubnet changes an IPv4 address object's subnet behind the client's
// back.
func (s *Server) SetSubnet(vdomName, name, subnet string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.vdoms[vdomName].v4.addresses[name]
	a.Subnet = subnet
	s.vdoms[vdomName].v4.addresses[name] = a
}

// Addresses returns the address objects of a VDOM (address6 when v6) by
// name.
func (s *Server) Addresses(vdomName string, v6 bool) map[string]Address {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Address{}
	for k, v := range s.vdoms[vdomName].table(v6).addresses {
		out[k] = v
	}
	return out
}

// SetUnreachable makes the FortiGate drop every connection (true) or
// answer again (false).
func (s *Server) SetUnreachable(down bool) {
	s.mu.Lock()
	s.unreachable = down
	s.mu.Unlock()
}

// Requests returns how many requests of each method were answered.
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

const prefix = "/api/v2/cmdb/firewall/"

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down := s.unreachable
	s.mu.Unlock()
	if down {
		hijackClose(w)
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		tok = r.URL.Query().Get("access_token")
	}
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.Token)) != 1 {
		// FortiOS answers a bad token with a bare 401.
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	vname := r.URL.Query().Get("vdom")
	if vname == "" {
		vname = "root"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[r.Method]++
	env := envelope{Method: r.Method, VDOM: vname}
	v, ok := s.vdoms[vname]
	if !ok {
		env.fail(w, http.StatusBadRequest, -3, "vdom "+vname+" not found")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		env.fail(w, http.StatusNotFound, 0, "")
		return
	}
	path, key, _ := strings.Cut(rest, "/")
	env.Path, env.Name = "firewall", path
	switch path {
	case "address":
		s.address(w, r, v.v4, key, env)
	case "address6":
		s.address(w, r, v.v6, key, env)
	case "addrgrp":
		s.addrgrp(w, r, v.v4, key, env)
	case "addrgrp6":
		s.addrgrp(w, r, v.v6, key, env)
	default:
		env.fail(w, http.StatusNotFound, 0, "")
	}
}

func (s *Server) address(w http.ResponseWriter, r *http.Request, v *table, key string, env envelope) {
	switch {
	case r.Method == http.MethodGet && key == "":
		filter := r.URL.Query().Get("filter")
		var list []any
		names := sortedKeys(v.addresses)
		for _, n := range names {
			if match(filter, n) {
				list = append(list, addressJSON(v.addresses[n]))
			}
		}
		env.ok(w, list, "")
	case r.Method == http.MethodGet:
		a, ok := v.addresses[key]
		if !ok {
			env.fail(w, http.StatusNotFound, -3, "")
			return
		}
		env.ok(w, []any{addressJSON(a)}, "")
	case r.Method == http.MethodPost && key == "", r.Method == http.MethodPut && key != "":
		var a Address
		if err := decode(r, &a); err != nil {
			env.fail(w, http.StatusBadRequest, -651, "")
			return
		}
		if key != "" {
			if _, ok := v.addresses[key]; !ok {
				env.fail(w, http.StatusNotFound, -3, "")
				return
			}
			if a.Name == "" {
				a.Name = key
			}
			if a.Name != key {
				env.fail(w, http.StatusBadRequest, -651, "renaming is not supported here")
				return
			}
		} else if _, dup := v.addresses[a.Name]; dup {
			env.fail(w, 424, -5, "")
			return
		}
		if a.Name == "" || len(a.Name) > 79 {
			env.fail(w, 500, -1, "")
			return
		}
		if len(a.Comment) > 255 {
			env.fail(w, 500, -1, "")
			return
		}
		if !v.v6 {
			if a.Type == "" {
				a.Type = "ipmask"
			}
			if a.Type != "ipmask" || a.IP6 != "" {
				env.fail(w, 500, -651, "only ipmask objects are implemented")
				return
			}
			subnet, err := normalise(a.Subnet)
			if err != nil {
				env.fail(w, 500, -9, "")
				return
			}
			a.Subnet = subnet
		} else {
			if a.Type == "" {
				a.Type = "ipprefix"
			}
			p, err := netip.ParsePrefix(a.IP6)
			if a.Type != "ipprefix" || a.Subnet != "" || err != nil || !p.Addr().Is6() {
				env.fail(w, 500, -8, "ip6 must be an IPv6 prefix")
				return
			}
			a.IP6 = p.Masked().String()
		}
		v.addresses[a.Name] = a
		env.ok(w, nil, a.Name)
	case r.Method == http.MethodDelete && key != "":
		if _, ok := v.addresses[key]; !ok {
			env.fail(w, http.StatusNotFound, -3, "")
			return
		}
		for _, members := range v.groups {
			for _, m := range members {
				if m == key {
					env.fail(w, 500, -23, "")
					return
				}
			}
		}
		delete(v.addresses, key)
		env.ok(w, nil, key)
	default:
		env.fail(w, http.StatusMethodNotAllowed, 0, "")
	}
}

func (s *Server) addrgrp(w http.ResponseWriter, r *http.Request, v *table, key string, env envelope) {
	if key == "" {
		env.fail(w, http.StatusMethodNotAllowed, 0, "")
		return
	}
	members, ok := v.groups[key]
	if !ok {
		env.fail(w, http.StatusNotFound, -3, "")
		return
	}
	switch r.Method {
	case http.MethodGet:
		ms := make([]map[string]string, 0, len(members))
		for _, m := range members {
			ms = append(ms, map[string]string{"name": m, "q_origin_key": m})
		}
		env.ok(w, []any{map[string]any{"name": key, "q_origin_key": key, "member": ms, "comment": ""}}, "")
	case http.MethodPut:
		var g struct {
			Name   string `json:"name"`
			Member []struct {
				Name string `json:"name"`
			} `json:"member"`
		}
		if err := decode(r, &g); err != nil {
			env.fail(w, http.StatusBadRequest, -651, "")
			return
		}
		var next []string
		seen := map[string]bool{}
		for _, m := range g.Member {
			if _, ok := v.addresses[m.Name]; !ok {
				if _, isGroup := v.groups[m.Name]; !isGroup {
					env.fail(w, 424, -3, "member "+m.Name+" not found")
					return
				}
			}
			if seen[m.Name] {
				env.fail(w, 500, -5, "")
				return
			}
			seen[m.Name] = true
			next = append(next, m.Name)
		}
		v.groups[key] = next
		env.ok(w, nil, key)
	default:
		env.fail(w, http.StatusMethodNotAllowed, 0, "")
	}
}

// match implements the filters Vigil uses: name=@text (contains) and
// name==text (equals).
func match(filter, name string) bool {
	if filter == "" {
		return true
	}
	if v, ok := strings.CutPrefix(filter, "name=@"); ok {
		return strings.Contains(name, v)
	}
	if v, ok := strings.CutPrefix(filter, "name=="); ok {
		return name == v
	}
	return false
}

// normalise stores a subnet as FortiOS shows it: "address mask".
func normalise(s string) (string, error) {
	if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
		var m [4]byte
		for i := range p.Bits() {
			m[i/8] |= 0x80 >> (i % 8)
		}
		return p.Addr().String() + " " + netip.AddrFrom4(m).String(), nil
	}
	a, m, ok := strings.Cut(s, " ")
	if !ok {
		return "", fmt.Errorf("bad subnet")
	}
	aa, err1 := netip.ParseAddr(a)
	mm, err2 := netip.ParseAddr(m)
	if err1 != nil || err2 != nil || !aa.Is4() || !mm.Is4() {
		return "", fmt.Errorf("bad subnet")
	}
	return aa.String() + " " + mm.String(), nil
}

func addressJSON(a Address) map[string]any {
	m := map[string]any{
		"name": a.Name, "q_origin_key": a.Name, "uuid": fmt.Sprintf("%08x-0000-5000-8000-000000000000", len(a.Name)),
		"type": a.Type, "comment": a.Comment, "color": 0,
	}
	if a.IP6 != "" {
		m["ip6"] = a.IP6
	} else {
		m["subnet"], m["associated-interface"] = a.Subnet, ""
	}
	return m
}

type envelope struct {
	Method, VDOM, Path, Name string
}

func (e envelope) base(status int) map[string]any {
	return map[string]any{
		"http_method": e.Method, "http_status": status, "vdom": e.VDOM, "path": e.Path, "name": e.Name,
		"serial": "FGVM00TEST000000", "version": "v7.2.8", "build": 1639,
	}
}

func (e envelope) ok(w http.ResponseWriter, results []any, mkey string) {
	m := e.base(http.StatusOK)
	m["status"] = "success"
	if e.Method == http.MethodGet {
		if results == nil {
			results = []any{}
		}
		m["results"] = results
		m["revision"] = "c4b5f2d1"
	} else {
		m["mkey"] = mkey
		m["revision"] = "c4b5f2d2"
		m["revision_changed"] = true
	}
	writeJSON(w, http.StatusOK, m)
}

func (e envelope) fail(w http.ResponseWriter, status, code int, cliError string) {
	m := e.base(status)
	m["status"] = "error"
	if code != 0 {
		m["error"] = code
	}
	if cliError != "" {
		m["cli_error"] = cliError
	}
	writeJSON(w, status, m)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func hijackClose(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("fortigatetest: response writer cannot hijack")
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
