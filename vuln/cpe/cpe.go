// Package cpe reads CPE names (the 2.3 formatted string and the 2.2 URI)
// and matches them as NVD does: attribute by attribute after NISTIR 7696,
// plus NVD's version ranges (versionStartIncluding and friends), which
// are not part of CPE itself.
package cpe

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/vigil-health/vigil/vuln/version"
)

// Logical values of an attribute.
const (
	Any = "*" // ANY: every value
	NA  = "-" // NOT APPLICABLE: no value
)

// Attributes in the order of the formatted string.
var Attributes = [11]string{"part", "vendor", "product", "version", "update", "edition",
	"language", "sw_edition", "target_sw", "target_hw", "other"}

// Name is a CPE name: the eleven attributes of a well-formed name, each
// held as in the 2.3 formatted string: "*" for ANY, "-" for NA, otherwise
// the value with its backslash quoting ("wp_maintenance_mode_\&_coming_soon")
// and, in a matching criterion, unquoted "*" and "?" wildcards at its
// ends.
type Name [11]string

// Indexes of the attributes.
const (
	Part = iota
	Vendor
	Product
	Version
	Update
	Edition
	Language
	SWEdition
	TargetSW
	TargetHW
	Other
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("invalid CPE name")

// Parse reads a CPE 2.3 formatted string ("cpe:2.3:a:vendor:product:...")
// or a CPE 2.2 URI ("cpe:/a:vendor:product:version").
func Parse(s string) (Name, error) {
	switch {
	case strings.HasPrefix(s, "cpe:2.3:"):
		return parseFS(s)
	case strings.HasPrefix(s, "cpe:/"):
		return parseURI(s)
	}
	return Name{}, fmt.Errorf("%w %q: neither cpe:2.3: nor cpe:/", ErrSyntax, s)
}

// MustParse is Parse for constants; it panics on error.
func MustParse(s string) Name {
	n, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return n
}

func parseFS(s string) (Name, error) {
	var n Name
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // the next character is quoted
		case ':':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	parts = append(parts, s[start:])
	if len(parts) != 13 {
		return n, fmt.Errorf("%w %q: %d components, want 13 (cpe, 2.3 and 11 attributes)", ErrSyntax, s, len(parts))
	}
	for i, v := range parts[2:] {
		if err := checkValue(v); err != nil {
			return n, fmt.Errorf("%w %q: %s %q: %v", ErrSyntax, s, Attributes[i], v, err)
		}
		n[i] = v
	}
	if err := checkPart(n[Part]); err != nil {
		return n, fmt.Errorf("%w %q: %v", ErrSyntax, s, err)
	}
	return n, nil
}

func checkPart(p string) error {
	switch p {
	case "a", "o", "h", Any:
		return nil
	}
	return fmt.Errorf("part %q is not a, o, h or *", p)
}

// checkValue checks one attribute of a formatted string: not empty, a
// trailing backslash quoting nothing, wildcards only at the ends.
func checkValue(v string) error {
	if v == "" {
		return errors.New("empty")
	}
	if v == Any || v == NA {
		return nil
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\':
			if i+1 == len(v) {
				return errors.New("ends with a lone backslash")
			}
			i++
		case c == '*':
			if i != 0 && i != len(v)-1 {
				return errors.New("unquoted * inside the value")
			}
		case c == '?':
			if !onlyQ(v[:i]) && !onlyQ(v[i+1:]) {
				return errors.New("unquoted ? inside the value")
			}
		case c <= ' ' || c >= 0x7f:
			return fmt.Errorf("character %q not allowed", c)
		}
	}
	return nil
}

// onlyQ tells whether s is a run of "?" (maybe after/before a "*").
func onlyQ(s string) bool {
	s = strings.Trim(s, "*")
	return strings.Trim(s, "?") == ""
}

// parseURI reads the CPE 2.2 URI binding: %-encoded, "~" packing the
// extended attributes into the edition.
func parseURI(s string) (Name, error) {
	var n Name
	for i := range n {
		n[i] = Any
	}
	comps := strings.Split(strings.TrimPrefix(s, "cpe:/"), ":")
	if len(comps) > 7 {
		return n, fmt.Errorf("%w %q: %d components, at most 7 in a 2.2 URI", ErrSyntax, s, len(comps))
	}
	idx := []int{Part, Vendor, Product, Version, Update, Edition, Language}
	for i, c := range comps {
		attr := idx[i]
		if attr == Edition && strings.HasPrefix(c, "~") {
			packed := strings.Split(c, "~")
			if len(packed) != 6 {
				return n, fmt.Errorf("%w %q: packed edition %q needs 5 fields", ErrSyntax, s, c)
			}
			for j, a := range []int{Edition, SWEdition, TargetSW, TargetHW, Other} {
				v, err := uriValue(packed[j+1])
				if err != nil {
					return n, fmt.Errorf("%w %q: %s: %v", ErrSyntax, s, Attributes[a], err)
				}
				n[a] = v
			}
			continue
		}
		v, err := uriValue(c)
		if err != nil {
			return n, fmt.Errorf("%w %q: %s: %v", ErrSyntax, s, Attributes[attr], err)
		}
		n[attr] = v
	}
	if err := checkPart(n[Part]); err != nil {
		return n, fmt.Errorf("%w %q: %v", ErrSyntax, s, err)
	}
	return n, nil
}

// uriValue converts one URI component to formatted-string form.
func uriValue(c string) (string, error) {
	switch c {
	case "":
		return Any, nil
	case "-":
		return NA, nil
	}
	u, err := url.PathUnescape(c)
	if err != nil {
		return "", err
	}
	v := quoteFS(u)
	if err := checkValue(v); err != nil {
		return "", err
	}
	return v, nil
}

// quoteFS quotes a logical value for the formatted string: every
// printable non-alphanumeric character but "_", "-" and "." gets a
// backslash.
func quoteFS(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if isAlnum(c) || c == '_' || c == '-' || c == '.' || c >= 0x80 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('\\')
		b.WriteByte(c)
	}
	return b.String()
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// String returns the 2.3 formatted string.
func (n Name) String() string {
	return "cpe:2.3:" + strings.Join(n[:], ":")
}

// MarshalText writes the formatted string.
func (n Name) MarshalText() ([]byte, error) { return []byte(n.String()), nil }

// UnmarshalText reads a formatted string or a 2.2 URI.
func (n *Name) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*n = p
	return nil
}

// Unquote returns the logical value of an attribute: quoting removed
// ("wp_maintenance_mode_&_coming_soon"); "*" and "-" as they are.
func Unquote(v string) string {
	if !strings.Contains(v, "\\") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// Relation is how a source attribute relates to a target attribute
// (NISTIR 7696 table 6-2).
type Relation uint8

// Relations.
const (
	Disjoint  Relation = iota
	Equal              // same value
	Superset           // the source holds the target (ANY, or a wildcard match)
	Subset             // the target holds the source
	Undefined          // the target holds a wildcard, which only a source may
)

func (r Relation) String() string {
	return [...]string{"disjoint", "equal", "superset", "subset", "undefined"}[r]
}

// Compare relates one source attribute to one target attribute.
func Compare(source, target string) Relation {
	switch {
	case source == Any && target == Any, source == NA && target == NA:
		return Equal
	case source == Any:
		return Superset
	case target == Any:
		return Subset
	case source == NA, target == NA:
		return Disjoint
	}
	if hasWildcard(target) {
		return Undefined
	}
	t := strings.ToLower(Unquote(target))
	if !hasWildcard(source) {
		if strings.ToLower(Unquote(source)) == t {
			return Equal
		}
		return Disjoint
	}
	if wildcardMatch(strings.ToLower(source), t) {
		return Superset
	}
	return Disjoint
}

// hasWildcard tells whether v has an unquoted * or ?.
func hasWildcard(v string) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '*', '?':
			return true
		}
	}
	return false
}

// wildcardMatch matches a source value with wildcards at its ends
// ("*soft", "micro*", "??crosoft") against a logical target value.
func wildcardMatch(source, target string) bool {
	i, j := 0, len(source)
	preStar, postStar := false, false
	preQ, postQ := 0, 0
	for i < j && (source[i] == '*' || source[i] == '?') {
		if source[i] == '*' {
			preStar = true
		} else {
			preQ++
		}
		i++
	}
	for j > i && (source[j-1] == '*' || source[j-1] == '?') && (j < 2 || source[j-2] != '\\') {
		if source[j-1] == '*' {
			postStar = true
		} else {
			postQ++
		}
		j--
	}
	lit := Unquote(source[i:j])
	for start := 0; start+len(lit) <= len(target); start++ {
		if !strings.HasPrefix(target[start:], lit) {
			continue
		}
		before, after := start, len(target)-start-len(lit)
		okBefore := before == preQ || preStar && before >= preQ
		okAfter := after == postQ || postStar && after >= postQ
		if okBefore && okAfter {
			return true
		}
	}
	return false
}

// Matches tells whether a criterion (the source, maybe with ANY and
// wildcards) matches a target name: every attribute equal or a superset.
func (n Name) Matches(target Name) bool {
	for i := range n {
		switch Compare(n[i], target[i]) {
		case Equal, Superset:
		default:
			return false
		}
	}
	return true
}

// Range is NVD's version range on a CPE match criterion. Empty fields are
// unset.
type Range struct {
	StartIncluding string `json:"versionStartIncluding,omitempty"`
	StartExcluding string `json:"versionStartExcluding,omitempty"`
	EndIncluding   string `json:"versionEndIncluding,omitempty"`
	EndExcluding   string `json:"versionEndExcluding,omitempty"`
}

// IsZero tells whether no bound is set.
func (r Range) IsZero() bool { return r == Range{} }

// Validate reports a range with two lower or two upper bounds.
func (r Range) Validate() error {
	if r.StartIncluding != "" && r.StartExcluding != "" {
		return errors.New("both versionStartIncluding and versionStartExcluding")
	}
	if r.EndIncluding != "" && r.EndExcluding != "" {
		return errors.New("both versionEndIncluding and versionEndExcluding")
	}
	return nil
}

// Contains tells whether a version lies within the bounds (compared with
// version.Compare).
func (r Range) Contains(v string) bool {
	if r.StartIncluding != "" && version.Compare(v, Unquote(r.StartIncluding)) < 0 {
		return false
	}
	if r.StartExcluding != "" && version.Compare(v, Unquote(r.StartExcluding)) <= 0 {
		return false
	}
	if r.EndIncluding != "" && version.Compare(v, Unquote(r.EndIncluding)) > 0 {
		return false
	}
	if r.EndExcluding != "" && version.Compare(v, Unquote(r.EndExcluding)) >= 0 {
		return false
	}
	return true
}

// Vers returns the range as a vers string ("vers:generic/>=7.3.0|<7.3.31"),
// or "" when no bound is set.
func (r Range) Vers() string {
	var cs []string
	if r.StartIncluding != "" {
		cs = append(cs, ">="+Unquote(r.StartIncluding))
	}
	if r.StartExcluding != "" {
		cs = append(cs, ">"+Unquote(r.StartExcluding))
	}
	if r.EndIncluding != "" {
		cs = append(cs, "<="+Unquote(r.EndIncluding))
	}
	if r.EndExcluding != "" {
		cs = append(cs, "<"+Unquote(r.EndExcluding))
	}
	if len(cs) == 0 {
		return ""
	}
	return "vers:generic/" + strings.Join(cs, "|")
}

// Check tells whether a criterion with an NVD range matches a target:
// In when every attribute matches and the target's version is in the
// range; Maybe when everything but the version matches and the target's
// version is unknown (ANY); Out otherwise.
func Check(criteria Name, r Range, target Name) version.Verdict {
	for i := range criteria {
		if i == Version {
			continue
		}
		switch Compare(criteria[i], target[i]) {
		case Equal, Superset:
		default:
			return version.Out
		}
	}
	tv := target[Version]
	if tv == Any {
		if criteria[Version] == Any && r.IsZero() {
			return version.In
		}
		return version.Maybe
	}
	switch Compare(criteria[Version], tv) {
	case Equal, Superset:
	default:
		return version.Out
	}
	if tv == NA {
		if r.IsZero() {
			return version.In
		}
		return version.Out
	}
	if !r.Contains(Unquote(tv)) {
		return version.Out
	}
	return version.In
}
