package fortigate

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// Response is the FortiOS REST API envelope: every answer carries
// http_method, status ("success" or "error"), http_status, vdom and, for
// GET, results; errors add error (a negative FortiOS code).
type Response struct {
	HTTPMethod string          `json:"http_method"`
	Status     string          `json:"status"`
	HTTPStatus int             `json:"http_status"`
	Error      *int            `json:"error"`
	VDOM       string          `json:"vdom"`
	Mkey       json.RawMessage `json:"mkey"`
	Results    json.RawMessage `json:"results"`
	CLIError   string          `json:"cli_error"`
}

// Address is a firewall address object as Vigil writes and reads it.
type Address struct {
	Name    string `json:"name"`
	Type    string `json:"type,omitempty"`
	Subnet  string `json:"subnet,omitempty"`
	IP6     string `json:"ip6,omitempty"`
	Comment string `json:"comment,omitempty"`
}

// Group is a firewall address group.
type Group struct {
	Name   string   `json:"name"`
	Member []Member `json:"member"`
}

// Member is one member of a group, by name.
type Member struct {
	Name string `json:"name"`
}

// ParseResponse decodes a FortiOS REST answer. Unknown fields are ignored
// (every version adds some: serial, version, build, revision...).
func ParseResponse(b []byte) (*Response, error) {
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("not a FortiOS REST response: %w (%s)", err, snippet(b))
	}
	if r.Status != "success" && r.Status != "error" {
		return nil, fmt.Errorf("FortiOS response status %q is neither success nor error (%s)", r.Status, snippet(b))
	}
	return &r, nil
}

// Addresses decodes the results of a firewall/address GET.
func (r *Response) Addresses() ([]Address, error) {
	var out []Address
	if err := json.Unmarshal(r.Results, &out); err != nil {
		return nil, fmt.Errorf("results are not address objects: %w", err)
	}
	return out, nil
}

// Group decodes the results of a firewall/addrgrp/{name} GET: a list of
// one group.
func (r *Response) Group() (Group, error) {
	var out []Group
	if err := json.Unmarshal(r.Results, &out); err != nil {
		return Group{}, fmt.Errorf("results are not address groups: %w", err)
	}
	if len(out) != 1 {
		return Group{}, fmt.Errorf("%d groups in the results, want 1", len(out))
	}
	return out[0], nil
}

// errorTexts are the FortiOS error codes Vigil may meet, as the FortiOS
// REST API reference names them.
var errorTexts = map[int]string{
	-1:   "invalid length of value",
	-2:   "index out of range",
	-3:   "entry not found",
	-4:   "maximum number of entries has been reached",
	-5:   "a duplicate entry already exists",
	-8:   "invalid IP address",
	-9:   "invalid IP netmask",
	-15:  "invalid value",
	-23:  "entry is in use",
	-37:  "permission denied",
	-651: "input value is invalid",
}

// ParseSubnet reads the "address mask" form of an ipmask object into
// Vigil's scope address: the bare address for a /32, CIDR otherwise.
func ParseSubnet(s string) (string, error) {
	addr, mask, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			return "", fmt.Errorf("subnet %q is not \"address mask\"", s)
		}
		return scopeOf(p), nil
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() {
		return "", fmt.Errorf("subnet %q: %q is not an IPv4 address", s, addr)
	}
	m, err := netip.ParseAddr(strings.TrimSpace(mask))
	if err != nil || !m.Is4() {
		return "", fmt.Errorf("subnet %q: %q is not a netmask", s, mask)
	}
	bits := 0
	mb := m.As4()
	v := uint32(mb[0])<<24 | uint32(mb[1])<<16 | uint32(mb[2])<<8 | uint32(mb[3])
	for v&(1<<31) != 0 {
		bits++
		v <<= 1
	}
	if v != 0 {
		return "", fmt.Errorf("subnet %q: netmask %s is not contiguous", s, mask)
	}
	return scopeOf(netip.PrefixFrom(a, bits).Masked()), nil
}

// ParseIP6 reads the ip6 of an ipprefix address6 object ("2001:db8::/64",
// "2001:db8::7/128") into Vigil's scope address.
func ParseIP6(s string) (string, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return "", fmt.Errorf("ip6 %q is not an IPv6 prefix", s)
	}
	return scopeOf(p), nil
}

func scopeOf(p netip.Prefix) string {
	p = p.Masked()
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

// subnetOf writes a scope address as FortiOS's "address mask".
func subnetOf(p netip.Prefix) string {
	var m [4]byte
	for i := range p.Bits() {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return p.Addr().String() + " " + netip.AddrFrom4(m).String()
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return fmt.Sprintf("%q", s)
}
