package version

import (
	"fmt"
	"slices"
	"strings"
)

// ParseLenient reads a version range the way advisories write them, on a
// best effort basis, and never fails:
//
//   - vers ("vers:generic/>=1.0|<2.3", "vers:all/*") is read strictly
//     when it is valid, leniently otherwise;
//   - the CSAF vers-like form, vers constraints without the scheme
//     (">=BT02 | <= BT06", "<=1.52", "< 3.6.7");
//   - enumerations and branches ("HD 16 | HD23", "4.X | 5.X", "5.x.x");
//   - English ("prior to 3.6.7", "4.2 and prior", "2.0 or later",
//     "1.0 to 1.4", "all versions") and "A10 < A11", read as A10 up to
//     and including A11 (ICSMA-21-294-01 says "Versions A10 and A11");
//   - text that is not a version constraint ("model 35700BAX3", anything
//     in parentheses) becomes the Qualifier, which makes every In a
//     Maybe.
//
// The warning says what was not read exactly, or is empty.
func ParseLenient(s string) (r Range, warning string) {
	text := strings.TrimSpace(s)
	// Spaces do not count in vers: "vers :generic/..." is vers too.
	compact := strings.Map(func(c rune) rune {
		if c == ' ' || c == '\t' {
			return -1
		}
		return c
	}, text)
	if strings.HasPrefix(asciiLower(compact), "vers:") {
		strict, err := Parse(text)
		if err == nil {
			return strict, ""
		}
		cons := compact[len("vers:"):]
		scheme, rest, ok := strings.Cut(cons, "/")
		if ok && strings.TrimSpace(rest) == "*" && asciiLower(strings.TrimSpace(scheme)) == "none" {
			return Range{None: true, Text: s, Lenient: true}, err.Error()
		}
		if ok {
			cons = rest
		}
		r = lenient(cons)
		r.Text = s
		return r, err.Error() + "; read leniently"
	}
	r = lenient(text)
	r.Text = s
	switch {
	case text == "":
		warning = "empty version"
	case len(r.Constraints) == 0 && !r.All:
		warning = fmt.Sprintf("%q holds no version constraint that Vigil can read", text)
	case r.Qualifier != "":
		warning = fmt.Sprintf("only partly read: %q is not a version constraint", r.Qualifier)
	}
	return r, warning
}

// qualifierWords start text that narrows a version but is not one.
var qualifierWords = map[string]bool{
	"model": true, "models": true, "with": true, "without": true, "for": true, "on": true, "in": true,
	"installed": true, "when": true, "if": true, "using": true, "including": true, "except": true,
	"only": true, "running": true, "series": true, "hardware": true, "hw": true, "which": true,
	"that": true, "used": true, "(": true,
}

func lenient(text string) Range {
	r := Range{Lenient: true}
	var qual []string
	if i := strings.IndexByte(text, '('); i >= 0 {
		q := strings.TrimSpace(text[i:])
		q = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(q, "("), ")"))
		if q != "" {
			qual = append(qual, q)
		}
		text = text[:i]
	}
	for _, alt := range strings.FieldsFunc(text, func(c rune) bool { return c == '|' || c == ',' || c == ';' }) {
		cs, all, q := alternative(strings.TrimSpace(alt))
		if all {
			r.All = true
		}
		r.Constraints = append(r.Constraints, cs...)
		if q != "" {
			qual = append(qual, q)
		}
	}
	r.Qualifier = strings.Join(qual, "; ")
	if r.All {
		r.Constraints = nil
		return r
	}
	r.sort()
	r.Constraints = slices.CompactFunc(r.Constraints, func(a, b Constraint) bool {
		return a.Op == b.Op && a.Branch == b.Branch && Compare(a.Version, b.Version) == 0
	})
	r.Constraints = simplify(r.Constraints)
	return r
}

var (
	allPhrases   = []string{"all versions", "all software versions", "all", "any", "any version", "*", "x", "all/*"}
	belowPhrases = []string{"all versions prior to ", "all versions before ", "versions prior to ", "versions before ",
		"prior to ", "before ", "earlier than ", "below ", "lower than ", "older than ", "less than "}
	uptoPhrases  = []string{"up to and including ", "up to ", "through ", "until "}
	andBelow     = []string{" and prior", " and earlier", " and older", " and below", " and lower", " and before", " or earlier", " or older", " or lower", " or prior", " and previous", " or below"}
	andAbove     = []string{" and later", " and newer", " and above", " and higher", " or later", " or newer", " or higher", " or above", " and up", "+"}
	rangeInfixes = []string{" through ", " thru ", " to ", " - ", " – "}
)

// alternative reads one "|"-separated part: its constraints, whether it
// means all versions, and what was left over.
func alternative(a string) (cs []Constraint, all bool, qualifier string) {
	if a == "" {
		return nil, false, ""
	}
	la := asciiLower(a)
	for _, w := range []string{"versions ", "version ", "versions: ", "version: ", "software versions ", "all software versions "} {
		if strings.HasPrefix(la, w) && !slices.Contains(allPhrases, strings.TrimSpace(la)) {
			a, la = strings.TrimSpace(a[len(w):]), strings.TrimSpace(la[len(w):])
		}
	}
	if slices.Contains(allPhrases, la) {
		return nil, true, ""
	}
	for _, p := range belowPhrases {
		if strings.HasPrefix(la, p) {
			return bound(Lt, a[len(p):])
		}
	}
	for _, p := range uptoPhrases {
		if strings.HasPrefix(la, p) {
			return bound(Le, a[len(p):])
		}
	}
	for _, p := range andBelow {
		if i := strings.Index(la, p); i > 0 {
			cs, all, q := bound(Le, a[:i])
			return cs, all, joinQ(q, strings.TrimSpace(a[i+len(p):]))
		}
	}
	for _, p := range andAbove {
		if i := strings.Index(la, p); i > 0 && (p != "+" || i == len(la)-1) {
			cs, all, q := bound(Ge, a[:i])
			return cs, all, joinQ(q, strings.TrimSpace(a[i+len(p):]))
		}
	}
	if lo, hi, ok := strings.Cut(la, "between "); ok && lo == "" {
		if x, _, ok := strings.Cut(hi, " and "); ok {
			off := len("between ")
			return pair(a[off:off+len(x)], a[off+len(x)+len(" and "):])
		}
	}
	if rest, ok := strings.CutPrefix(la, "from "); ok {
		a, la = a[len(a)-len(rest):], rest
	}
	for _, p := range rangeInfixes {
		if i := strings.Index(la, p); i > 0 {
			return pair(a[:i], a[i+len(p):])
		}
	}
	op, rest := comparator(a)
	if op < 0 {
		// "A10 < A11": a range written between two versions.
		if i := strings.IndexAny(a, "<>"); i > 0 {
			if a[i] == '>' {
				return nil, false, a
			}
			j := i + 1
			if j < len(a) && a[j] == '=' {
				j++
			}
			return pair(a[:i], a[j:])
		}
		return bound(Eq, a)
	}
	return bound(Op(op), rest)
}

func joinQ(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
}

// pair reads "from x up to and including y".
func pair(x, y string) ([]Constraint, bool, string) {
	lo, allLo, q1 := bound(Ge, x)
	hi, allHi, q2 := bound(Le, y)
	if allLo || allHi || len(lo) == 0 || len(hi) == 0 {
		return nil, false, strings.TrimSpace(x + " - " + y)
	}
	return append(lo, hi...), false, joinQ(q1, q2)
}

// comparator reads a leading comparator, returning -1 when there is none.
func comparator(a string) (int, string) {
	for _, c := range []struct {
		p  string
		op Op
	}{
		{">=", Ge}, {"=>", Ge}, {"≥", Ge}, {"<=", Le}, {"=<", Le}, {"≤", Le}, {"!=", Ne}, {"<>", Ne},
		{"<<", Lt}, {">>", Gt}, {"==", Eq}, {"<", Lt}, {">", Gt}, {"=", Eq},
	} {
		if rest, ok := strings.CutPrefix(a, c.p); ok {
			return int(c.op), rest
		}
	}
	return -1, a
}

// bound reads "<version> [qualifier]" under a comparator.
func bound(op Op, s string) ([]Constraint, bool, string) {
	fields := strings.Fields(s)
	var v []string
	qualifier := ""
	for i, f := range fields {
		if i > 0 && qualifierWords[asciiLower(f)] {
			qualifier = strings.Join(fields[i:], " ")
			break
		}
		v = append(v, f)
	}
	version := strings.Join(v, " ")
	if version == "" || strings.ContainsAny(version, "<>=!|") || !hasAlnum(version) || notAVersion(version) {
		return nil, false, strings.TrimSpace(s)
	}
	prefix, branch := branchOf(version)
	if branch && prefix == "" {
		if op == Eq || op == Le || op == Ge {
			return nil, true, qualifier
		}
		return nil, false, strings.TrimSpace(s)
	}
	if strings.Contains(prefix, "*") {
		return nil, false, strings.TrimSpace(s)
	}
	return []Constraint{{Op: op, Version: prefix, Branch: branch}}, false, qualifier
}

// branchOf strips trailing wildcard parts: "5.x.x" is the branch "5",
// "2.X" the branch "2", "4.*" the branch "4".
func branchOf(v string) (string, bool) {
	branch := false
	for {
		lv := asciiLower(v)
		cut := false
		for _, suffix := range []string{".x", ".*", "-x", "_x"} {
			if strings.HasSuffix(lv, suffix) {
				v, cut = v[:len(v)-len(suffix)], true
				break
			}
		}
		if !cut {
			break
		}
		branch = true
	}
	if lv := asciiLower(v); lv == "x" || lv == "*" {
		return "", true
	}
	return v, branch
}

// notAVersion tells text from a version: words without a digit ("see
// vendor", "unknown"), or the usual "not applicable".
func notAVersion(v string) bool {
	switch asciiLower(v) {
	case "n/a", "na", "none", "unknown", "tbd", "-", "?":
		return true
	}
	for i := 0; i < len(v); i++ {
		if isDigit(v[i]) {
			return false
		}
	}
	return strings.ContainsAny(v, " \t") || len(v) > 4
}

func hasAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) || isLetterAt(s, i) {
			return true
		}
	}
	return false
}

// asciiLower lower-cases ASCII letters only, so byte offsets stay those
// of the original.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
