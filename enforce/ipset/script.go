package ipset

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
)

// kind is the shape of a scope, and so the set type that holds it.
type kind int

const (
	kindNet  kind = iota // an address or CIDR: hash:net
	kindPair             // address and peer: hash:net,net
	kindPort             // address, transport and port: hash:net,port
	kindFlow             // address, transport, port and peer: hash:ip,port,net
)

var kinds = []struct {
	suffix, setType string
	// match are the iptables --match-set directions that block the
	// scope's traffic both ways.
	match []string
}{
	kindNet:  {"net", "hash:net", []string{"src", "dst"}},
	kindPair: {"pair", "hash:net,net", []string{"src,dst", "dst,src"}},
	// The port is the address's traffic on that port, whichever side
	// holds it: to a service (src,dst), its replies (dst,src), the
	// address's own service (dst,dst) and its replies (src,src).
	kindPort: {"port", "hash:net,port", []string{"src,dst", "dst,src", "dst,dst", "src,src"}},
	// hash:ip,port,net rather than hash:net,port,net: the first is in
	// every kernel with ipset, the second is missing from some, and the
	// device side of a flow block is one address.
	kindFlow: {"flow", "hash:ip,port,net", []string{"src,dst,dst", "dst,src,src", "dst,dst,src", "src,src,dst"}},
}

// transports are the protocols an ipset port element can name.
var transports = map[string]bool{"tcp": true, "udp": true, "sctp": true, "udplite": true}

// element is one scope as an ipset element.
type element struct {
	kind kind
	v6   bool
	text string // the element as ipset writes it
}

// canonicalNet reads an address or CIDR in canonical form; hash:net types
// take prefixes of 1 to 32 (128) bits, so /0 is refused.
func canonicalNet(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Masked() != p || p.String() != s || p.Bits() == 0 {
			return netip.Prefix{}, fmt.Errorf("%q is not a canonical CIDR of 1 bit or more", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.String() != s || a.Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q is not a canonical IP address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// elementOf turns a scope into its element, or says why it cannot.
func elementOf(s events.BlockScope) (element, error) {
	if s.MAC != "" {
		return element{}, fmt.Errorf("iptables on a forwarding host does not block by MAC (scope %+v)", s)
	}
	ip, err := canonicalNet(s.IP)
	if err != nil {
		return element{}, err
	}
	e := element{v6: ip.Addr().Is6(), text: s.IP}
	var peer netip.Prefix
	if s.PeerIP != "" {
		if peer, err = canonicalNet(s.PeerIP); err != nil {
			return element{}, err
		}
		if peer.Addr().Is6() != e.v6 {
			return element{}, fmt.Errorf("address %s and peer %s are of different families", s.IP, s.PeerIP)
		}
	}
	if (s.Port == 0) != (s.Transport == "") {
		return element{}, fmt.Errorf("port %d and transport %q: set both or neither", s.Port, s.Transport)
	}
	if s.Transport != "" && !transports[s.Transport] {
		return element{}, fmt.Errorf("transport %q: want tcp, udp, sctp or udplite", s.Transport)
	}
	switch {
	case s.PeerIP == "" && s.Port == 0:
		e.kind = kindNet
	case s.Port == 0:
		e.kind, e.text = kindPair, s.IP+","+s.PeerIP
	case s.PeerIP == "":
		e.kind, e.text = kindPort, fmt.Sprintf("%s,%s:%d", s.IP, s.Transport, s.Port)
	default:
		if ip.Bits() != ip.Addr().BitLen() {
			return element{}, fmt.Errorf("a block of a port between two ends takes one address, not CIDR %s, on the first end", s.IP)
		}
		e.kind, e.text = kindFlow, fmt.Sprintf("%s,%s:%d,%s", s.IP, s.Transport, s.Port, s.PeerIP)
	}
	return e, nil
}

// scopeOf reads an element of a set kind back into a scope.
func scopeOf(k kind, v6 bool, text string) (events.BlockScope, error) {
	parts := strings.Split(text, ",")
	want := []int{kindNet: 1, kindPair: 2, kindPort: 2, kindFlow: 3}[k]
	if len(parts) != want {
		return events.BlockScope{}, fmt.Errorf("element %q: want %d comma-separated parts for a %s set", text, want, kinds[k].setType)
	}
	s := events.BlockScope{IP: parts[0]}
	switch k {
	case kindPair:
		s.PeerIP = parts[1]
	case kindPort, kindFlow:
		proto, port, ok := strings.Cut(parts[1], ":")
		n, err := strconv.ParseUint(port, 10, 16)
		if !ok || err != nil || n == 0 || strconv.FormatUint(n, 10) != port {
			return events.BlockScope{}, fmt.Errorf("element %q: %q is not transport:port", text, parts[1])
		}
		s.Transport, s.Port = proto, uint16(n)
		if k == kindFlow {
			s.PeerIP = parts[2]
		}
	}
	e, err := elementOf(s)
	if err != nil {
		return events.BlockScope{}, fmt.Errorf("element %q: %w", text, err)
	}
	if e.kind != k || e.v6 != v6 || e.text != text {
		return events.BlockScope{}, fmt.Errorf("element %q does not belong in a %s set of this family", text, kinds[k].setType)
	}
	return s, nil
}

// maxTimeout is the longest element timeout ipset accepts, in seconds.
const maxTimeout = 2_147_483

// comment is Vigil's note on an element: the block's ID, expiry and
// reason. ipset comments hold 255 bytes and are written in double quotes,
// so quotes and backslashes are replaced.
func comment(e enforce.Entry) string {
	var b strings.Builder
	b.WriteString("vigil id=" + e.ID)
	if !e.Expires.IsZero() {
		b.WriteString(" expires=" + e.Expires.UTC().Format(time.RFC3339Nano))
	}
	if r := cleanReason(e.Reason); r != "" {
		b.WriteString(" reason=" + r)
	}
	s := b.String()
	for len(s) > 255 || !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return strings.TrimRight(s, " ")
}

func cleanReason(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			return ' '
		}
		return r
	}, s))
}

// parseComment reads an entry's ID, expiry and reason from its comment.
func parseComment(c string) (enforce.Entry, error) {
	rest, ok := strings.CutPrefix(c, "vigil ")
	if !ok {
		return enforce.Entry{}, fmt.Errorf("comment %q is not Vigil's", c)
	}
	var e enforce.Entry
	for rest != "" {
		if r, ok := strings.CutPrefix(rest, "reason="); ok {
			e.Reason = r
			break
		}
		var field string
		field, rest, _ = strings.Cut(rest, " ")
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			return enforce.Entry{}, fmt.Errorf("comment field %q is not key=value", field)
		}
		switch k {
		case "id":
			e.ID = v
		case "expires":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return enforce.Entry{}, fmt.Errorf("expires %q is not an RFC 3339 time", v)
			}
			e.Expires = t.UTC()
		default:
			return enforce.Entry{}, fmt.Errorf("unknown comment field %q", k)
		}
	}
	if !validID.MatchString(e.ID) {
		return enforce.Entry{}, fmt.Errorf("comment %q: entry ID %q is not valid", c, e.ID)
	}
	return e, nil
}

// names are the set and chain names of one configuration.
type names struct {
	prefix string
}

func (n names) set(k kind, v6 bool) string {
	fam := "4"
	if v6 {
		fam = "6"
	}
	return n.prefix + "-" + kinds[k].suffix + fam
}

func (n names) tmp(k kind, v6 bool) string { return n.set(k, v6) + "-t" }

func (n names) chain() string { return n.prefix + "-block" }

func setKey(k kind, v6 bool) [2]int {
	if v6 {
		return [2]int{int(k), 1}
	}
	return [2]int{int(k), 0}
}

// Heredoc delimiters of the script; ParseScript finds the elements
// between the first pair.
const (
	ipsetBegin = "ipset -exist restore <<'VIGIL_IPSET'"
	ipsetEnd   = "VIGIL_IPSET"
)

// line is one element to write.
type line struct {
	el      element
	timeout int // seconds, 0 for none
	comment string
}

// render writes the whole script.
func render(cfg Configuration, lines []line) []byte {
	n := names{cfg.SetPrefix}
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	b.WriteString("# Generated by Vigil (enforce/ipset). Do not edit: Vigil rewrites this file\n")
	b.WriteString("# and reads it back to know what it enforces. Run it as root (sh FILE) after\n")
	b.WriteString("# every change; it replaces the sets' contents atomically (ipset swap) and\n")
	b.WriteString("# adds the rules and jumps only if they are missing.\n")
	b.WriteString("set -eu\n")
	b.WriteString(ipsetBegin + "\n")
	families := []bool{false}
	if cfg.IPv6 {
		families = append(families, true)
	}
	opts := fmt.Sprintf("hashsize 1024 maxelem %d timeout 0 comment", cfg.MaxElements)
	// Only the sets in use are written, and only their rules: a kernel
	// without one set type (hash:net,net is missing from some) still
	// enforces every other kind, and the error names the type when a
	// block needs it.
	used := map[[2]int]bool{}
	for _, l := range lines {
		used[setKey(l.el.kind, l.el.v6)] = true
	}
	for _, v6 := range families {
		fam := "inet"
		if v6 {
			fam = "inet6"
		}
		for k := range kinds {
			if !used[setKey(kind(k), v6)] {
				continue
			}
			set, tmp := n.set(kind(k), v6), n.tmp(kind(k), v6)
			fmt.Fprintf(&b, "create %s %s family %s %s\n", set, kinds[k].setType, fam, opts)
			fmt.Fprintf(&b, "create %s %s family %s %s\n", tmp, kinds[k].setType, fam, opts)
			fmt.Fprintf(&b, "flush %s\n", tmp)
			for _, l := range lines {
				if l.el.kind != kind(k) || l.el.v6 != v6 {
					continue
				}
				fmt.Fprintf(&b, "add %s %s", tmp, l.el.text)
				if l.timeout > 0 {
					fmt.Fprintf(&b, " timeout %d", l.timeout)
				}
				fmt.Fprintf(&b, " comment \"%s\"\n", l.comment)
			}
			fmt.Fprintf(&b, "swap %s %s\n", tmp, set)
			fmt.Fprintf(&b, "destroy %s\n", tmp)
		}
	}
	b.WriteString(ipsetEnd + "\n")
	for _, v6 := range families {
		cmd := "iptables"
		if v6 {
			cmd = "ip6tables"
		}
		// Declaring the chain in a --noflush restore creates it or
		// empties it: the rules are written afresh every time, so a set
		// no longer used is no longer matched.
		fmt.Fprintf(&b, "%s-restore --noflush <<'VIGIL_RULES'\n*filter\n:%s - [0:0]\n", cmd, n.chain())
		for k := range kinds {
			if !used[setKey(kind(k), v6)] {
				continue
			}
			for _, dir := range kinds[k].match {
				fmt.Fprintf(&b, "-A %s -m set --match-set %s %s -j DROP\n", n.chain(), n.set(kind(k), v6), dir)
			}
		}
		b.WriteString("COMMIT\nVIGIL_RULES\n")
		for _, chain := range cfg.Chains {
			fmt.Fprintf(&b, "%s -w -C %s -j %s 2>/dev/null || %s -w -I %s 1 -j %s\n", cmd, chain, n.chain(), cmd, chain, n.chain())
		}
	}
	return []byte(b.String())
}

// ParseScript reads Vigil's entries back from a script it wrote: the add
// lines of its ipset section. The error names the first line it cannot
// read.
func ParseScript(r io.Reader, setPrefix string) ([]enforce.Entry, error) {
	n := names{setPrefix}
	sets := map[string]struct {
		k  kind
		v6 bool
	}{}
	for k := range kinds {
		for _, v6 := range []bool{false, true} {
			sets[n.tmp(kind(k), v6)] = struct {
				k  kind
				v6 bool
			}{kind(k), v6}
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), 64<<10)
	var out []enforce.Entry
	in, done := false, false
	num := 0
	for sc.Scan() {
		num++
		text := sc.Text()
		switch {
		case done:
			continue
		case !in:
			in = text == ipsetBegin
			continue
		case text == ipsetEnd:
			done = true
			continue
		}
		verb, rest, _ := strings.Cut(text, " ")
		if verb != "add" {
			continue
		}
		set, rest, _ := strings.Cut(rest, " ")
		where, ok := sets[set]
		if !ok {
			return nil, fmt.Errorf("line %d: set %q is not one of Vigil's (prefix %q)", num, set, setPrefix)
		}
		el, rest, _ := strings.Cut(rest, " ")
		scope, err := scopeOf(where.k, where.v6, el)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", num, err)
		}
		if t, ok := strings.CutPrefix(rest, "timeout "); ok {
			var secs string
			secs, rest, _ = strings.Cut(t, " ")
			if v, err := strconv.Atoi(secs); err != nil || v < 0 || v > maxTimeout {
				return nil, fmt.Errorf("line %d: timeout %q is not 0-%d seconds", num, secs, maxTimeout)
			}
		}
		c, ok := strings.CutPrefix(rest, `comment "`)
		if !ok || !strings.HasSuffix(c, `"`) || strings.Count(c, `"`) != 1 {
			return nil, fmt.Errorf("line %d: no comment \"...\" with Vigil's entry ID", num)
		}
		e, err := parseComment(strings.TrimSuffix(c, `"`))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", num, err)
		}
		e.Scope = scope
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", num+1, err)
	}
	if num > 0 && !in {
		return nil, fmt.Errorf("no %q section: not a script Vigil wrote", ipsetBegin)
	}
	if in && !done {
		return nil, fmt.Errorf("line %d: the ipset section does not end (%s missing)", num, ipsetEnd)
	}
	return out, nil
}
