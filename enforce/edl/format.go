package edl

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
)

// Feed files the handler serves, below the configured path.
const (
	// FilePlain is one address or CIDR per line, nothing else: the format
	// every EDL consumer reads (PAN-OS, FortiGate, OPNsense URL tables).
	FilePlain = "plain.txt"
	// FilePANOS is the PAN-OS IP list: each line an address or CIDR, a
	// space, then a comment. Vigil's comment carries the block's ID,
	// expiry and reason, so a firewall administrator reading the list
	// sees why an address is there, and Actual reads the IDs back.
	FilePANOS = "panos.txt"
	// FileFortiGate is the FortiGate external threat feed (type address):
	// one address or subnet per line, no comments.
	FileFortiGate = "fortigate.txt"
	// FileCheckPoint is the Check Point Generic Data Center JSON document
	// (sk167210): one object whose ranges are the blocked addresses.
	FileCheckPoint = "checkpoint.json"
)

var files = []string{FilePlain, FilePANOS, FileFortiGate, FileCheckPoint}

// validID is what an entry ID may hold: it is written into a line comment
// and must survive being read back.
var validID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// parseAddress reads a scope address: an IP or a CIDR, in canonical form
// (the form a reader of the feed gives back), so that what Actual returns
// equals what was applied.
func parseAddress(s string) (string, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return "", fmt.Errorf("%q is not an address or CIDR", s)
		}
		if p.Masked() != p || p.String() != s {
			return "", fmt.Errorf("CIDR %q is not canonical (want %s)", s, p.Masked())
		}
		return s, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", fmt.Errorf("%q is not an address or CIDR", s)
	}
	if a.String() != s {
		return "", fmt.Errorf("address %q is not canonical (want %s)", s, a)
	}
	return s, nil
}

// checkEntry says why an entry cannot be served, or nil.
func checkEntry(e enforce.Entry) error {
	if !validID.MatchString(e.ID) {
		return fmt.Errorf("entry ID %q: want 1-128 of A-Z a-z 0-9 . _ : -", e.ID)
	}
	if !supports(e.Scope) {
		return fmt.Errorf("entry %s: a blocklist feed holds addresses only, not scope %+v", e.ID, e.Scope)
	}
	if _, err := parseAddress(e.Scope.IP); err != nil {
		return fmt.Errorf("entry %s: %w", e.ID, err)
	}
	return nil
}

func supports(s events.BlockScope) bool {
	if s.IP == "" || s.PeerIP != "" || s.Port != 0 || s.Transport != "" || s.MAC != "" {
		return false
	}
	_, err := parseAddress(s.IP)
	return err == nil
}

// cleanComment makes free text safe inside a one-line comment.
func cleanComment(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.TrimSpace(s)
}

// render writes every format for the sorted entries.
func render(entries []enforce.Entry, objectName string) map[string][]byte {
	out := make(map[string][]byte, len(files))
	var plain, annotated bytes.Buffer
	seen := make(map[string]bool, len(entries))
	var ranges []string
	for _, e := range entries {
		annotated.WriteString(annotate(e))
		annotated.WriteByte('\n')
		if seen[e.Scope.IP] {
			continue
		}
		seen[e.Scope.IP] = true
		plain.WriteString(e.Scope.IP)
		plain.WriteByte('\n')
		ranges = append(ranges, e.Scope.IP)
	}
	out[FilePlain] = plain.Bytes()
	out[FileFortiGate] = plain.Bytes()
	out[FilePANOS] = annotated.Bytes()
	out[FileCheckPoint] = checkPoint(objectName, ranges)
	return out
}

// annotate is one PAN-OS line: the address, a space, Vigil's comment.
func annotate(e enforce.Entry) string {
	var b strings.Builder
	b.WriteString(e.Scope.IP)
	b.WriteString(" vigil id=")
	b.WriteString(e.ID)
	if !e.Expires.IsZero() {
		b.WriteString(" expires=")
		b.WriteString(e.Expires.UTC().Format(time.RFC3339Nano))
	}
	if r := cleanComment(e.Reason); r != "" {
		b.WriteString(" reason=")
		b.WriteString(r)
	}
	return b.String()
}

// gdc is the Check Point Generic Data Center document.
type gdc struct {
	Version     string      `json:"version"`
	Description string      `json:"description"`
	Objects     []gdcObject `json:"objects"`
}

type gdcObject struct {
	Name        string   `json:"name"`
	ID          string   `json:"id"`
	Description string   `json:"description"`
	Ranges      []string `json:"ranges"`
}

func checkPoint(name string, ranges []string) []byte {
	if ranges == nil {
		ranges = []string{}
	}
	doc := gdc{
		Version:     "1.0",
		Description: "Vigil blocklist",
		Objects: []gdcObject{{
			Name:        name,
			ID:          objectUUID(name),
			Description: "addresses Vigil blocks",
			Ranges:      ranges,
		}},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err) // strings and slices of strings always marshal
	}
	return append(b, '\n')
}

// objectUUID is a name-based UUID (version 5 layout over SHA-1): Check
// Point keys a Generic Data Center object by its id, which must stay the
// same across restarts for the rules using it to keep working.
func objectUUID(name string) string {
	h := sha1.Sum([]byte("vigil-edl:" + name))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// Line is one entry of a PAN-OS IP list: an address, CIDR or range, and the
// comment after it.
type Line struct {
	Number  int
	Address string
	Comment string
}

// maxLine bounds one line of a list: PAN-OS lines are an address and a
// short comment.
const maxLine = 4096

// ParseList reads an IP list in the PAN-OS external dynamic list format
// (which is also FortiGate's and the plain format, without comments):
// each non-blank line is an IP address, a CIDR or a range a-b, optionally
// followed by a space and a comment. The error names the first bad line.
func ParseList(r io.Reader) ([]Line, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxLine)
	var out []Line
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		addr, comment, _ := strings.Cut(strings.TrimLeft(text, " \t"), " ")
		addr, tabComment, hasTab := strings.Cut(addr, "\t")
		if hasTab {
			comment = strings.TrimSpace(tabComment + " " + comment)
		}
		if err := checkListAddress(addr); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, Line{Number: n, Address: addr, Comment: strings.TrimSpace(comment)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	return out, nil
}

func checkListAddress(s string) error {
	bad := fmt.Errorf("%q is not an IP address, CIDR or range first-last", s)
	if from, to, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(from)
		b, err2 := netip.ParseAddr(to)
		if err1 != nil || err2 != nil || a.Is4() != b.Is4() || b.Less(a) {
			return bad
		}
		return nil
	}
	if strings.Contains(s, "/") {
		if _, err := netip.ParsePrefix(s); err != nil {
			return bad
		}
		return nil
	}
	if _, err := netip.ParseAddr(s); err != nil {
		return bad
	}
	return nil
}

// Entries reads Vigil's entries back from lines of its PAN-OS list: the
// lines whose comment starts with "vigil ". Other lines are not Vigil's
// and are left out; a Vigil line with a broken comment is an error.
func Entries(lines []Line) ([]enforce.Entry, error) {
	var out []enforce.Entry
	for _, l := range lines {
		rest, ok := strings.CutPrefix(l.Comment, "vigil ")
		if !ok {
			continue
		}
		e := enforce.Entry{Scope: events.BlockScope{IP: l.Address}}
		for rest != "" {
			var field string
			if r, ok := strings.CutPrefix(rest, "reason="); ok {
				e.Reason, rest = r, ""
				break
			}
			field, rest, _ = strings.Cut(rest, " ")
			k, v, ok := strings.Cut(field, "=")
			if !ok {
				return nil, fmt.Errorf("line %d: vigil comment field %q is not key=value", l.Number, field)
			}
			switch k {
			case "id":
				e.ID = v
			case "expires":
				t, err := time.Parse(time.RFC3339, v)
				if err != nil {
					return nil, fmt.Errorf("line %d: expires %q is not an RFC 3339 time", l.Number, v)
				}
				e.Expires = t.UTC()
			default:
				return nil, fmt.Errorf("line %d: unknown vigil comment field %q", l.Number, k)
			}
		}
		if err := checkEntry(e); err != nil {
			return nil, fmt.Errorf("line %d: %w", l.Number, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// sortEntries orders by address (IPv4 before IPv6, numerically, a network
// before its longer prefixes), then ID: the order a reader expects.
func sortEntries(es []enforce.Entry) {
	type keyed struct {
		p netip.Prefix
		e enforce.Entry
	}
	ks := make([]keyed, len(es))
	for i, e := range es {
		p, err := netip.ParsePrefix(e.Scope.IP)
		if err != nil {
			a, _ := netip.ParseAddr(e.Scope.IP)
			p = netip.PrefixFrom(a, a.BitLen())
		}
		ks[i] = keyed{p, e}
	}
	sort.Slice(ks, func(i, j int) bool {
		pi, pj := ks[i].p, ks[j].p
		if c := pi.Addr().Compare(pj.Addr()); c != 0 {
			return c < 0
		}
		if pi.Bits() != pj.Bits() {
			return pi.Bits() < pj.Bits()
		}
		return ks[i].e.ID < ks[j].e.ID
	})
	for i := range ks {
		es[i] = ks[i].e
	}
}
