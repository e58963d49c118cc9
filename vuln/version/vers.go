package version

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Op is the comparator of a constraint.
type Op uint8

// Comparators of vers constraints.
const (
	Eq Op = iota // the version itself (no comparator in vers)
	Ne           // !=
	Lt           // <
	Le           // <=
	Gt           // >
	Ge           // >=
)

func (o Op) String() string {
	return [...]string{"", "!=", "<", "<=", ">", ">="}[o]
}

func (o Op) upper() bool { return o == Lt || o == Le }
func (o Op) lower() bool { return o == Gt || o == Ge }

// Constraint is one comparator and version of a range.
type Constraint struct {
	Op      Op
	Version string
	// Branch marks a version written with a trailing wildcard ("4.x",
	// "5.x.x", "2.*"): Version holds the prefix ("4") and the constraint
	// covers the whole branch: "= 4.x" holds 4.2.1, "<= 4.x" holds
	// everything up to the end of 4, "> 4.x" starts after it.
	Branch bool
}

func (c Constraint) String() string {
	v := quote(c.Version)
	if c.Branch {
		v += ".*"
	}
	return c.Op.String() + v
}

// Verdict is the answer to "is this version in the range".
type Verdict int8

// Verdicts, ordered so that the greater is the more affected.
const (
	Out   Verdict = iota // certainly not in the range
	Maybe                // possibly: the range or the version could not be read exactly
	In                   // certainly in the range
)

func (v Verdict) String() string { return [...]string{"out", "maybe", "in"}[v] }

// Range is a set of versions.
type Range struct {
	// Scheme is the vers versioning scheme ("generic", "npm", "all"...),
	// empty for a range read from vers-like or free text. Every scheme is
	// compared with Compare.
	Scheme string
	// Constraints are sorted by version.
	Constraints []Constraint
	All, None   bool
	// Lenient ranges were read from vers-like or free text on a best
	// effort basis: an inclusive upper bound "<= 4.2" then also covers
	// the versions of its branch (4.2.1, "N.00.14" for "<=N") as Maybe.
	Lenient bool
	// Qualifier is text of the source that could not be read as versions
	// ("with Wireless Battery Modules >= 22D19 | <= v22D28", "model
	// 35700BAX3"): it narrows the range in a way Vigil cannot check, so
	// a version in the range is only Maybe in it.
	Qualifier string
	// Text is the source text.
	Text string
}

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("invalid version range")

func syntaxf(s, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrSyntax, s, fmt.Sprintf(format, args...))
}

// Parse reads a vers string ("vers:generic/>=1.0|<2.3") strictly, as the
// specification says: a lower-case scheme, constraints with unique
// versions that alternate between lower and upper bounds once "=" and
// "!=" are set aside, "*" alone.
func Parse(s string) (Range, error) {
	r := Range{Text: s}
	compact := strings.Map(func(c rune) rune {
		if c == ' ' || c == '\t' {
			return -1
		}
		return c
	}, s)
	for i := 0; i < len(compact); i++ {
		if c := compact[i]; c < 0x21 || c > 0x7e {
			return r, syntaxf(s, "character %q is not printable ASCII (quote it with %%XX)", c)
		}
	}
	rest, ok := strings.CutPrefix(compact, "vers:")
	if !ok {
		return r, syntaxf(s, `does not start with "vers:"`)
	}
	scheme, cons, ok := strings.Cut(rest, "/")
	if !ok {
		return r, syntaxf(s, `no "/" after the versioning scheme`)
	}
	if scheme == "" || strings.ToLower(scheme) != scheme || strings.ContainsAny(scheme, "|<>=!*") {
		return r, syntaxf(s, "versioning scheme %q must be a non-empty lower-case name", scheme)
	}
	r.Scheme = scheme
	cons = strings.Trim(cons, "|")
	if cons == "" {
		return r, syntaxf(s, "no constraints")
	}
	if cons == "*" {
		switch scheme {
		case "none":
			r.None = true
		default:
			r.All = true
		}
		return r, nil
	}
	for _, part := range strings.Split(cons, "|") {
		if part == "" {
			continue // consecutive pipes count as one
		}
		c, err := parseConstraint(s, part)
		if err != nil {
			return r, err
		}
		r.Constraints = append(r.Constraints, c)
	}
	if err := r.validate(); err != nil {
		return r, err
	}
	return r, nil
}

// MustParse is Parse for constants in tests and tables; it panics on
// error.
func MustParse(s string) Range {
	r, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return r
}

func parseConstraint(s, part string) (Constraint, error) {
	var c Constraint
	switch {
	case strings.HasPrefix(part, ">="):
		c.Op, part = Ge, part[2:]
	case strings.HasPrefix(part, "<="):
		c.Op, part = Le, part[2:]
	case strings.HasPrefix(part, "!="):
		c.Op, part = Ne, part[2:]
	case strings.HasPrefix(part, "<"):
		c.Op, part = Lt, part[1:]
	case strings.HasPrefix(part, ">"):
		c.Op, part = Gt, part[1:]
	case strings.HasPrefix(part, "="):
		c.Op, part = Eq, part[1:] // not in the specification; harmless
	}
	if part == "" {
		return c, syntaxf(s, "constraint %q has no version", c.Op.String())
	}
	if part == "*" {
		return c, syntaxf(s, `"*" must be alone`)
	}
	if strings.ContainsAny(part, "<>=!*") {
		return c, syntaxf(s, "version %q holds a comparator character (quote it with %%XX)", part)
	}
	if strings.Contains(part, "%") {
		u, err := url.PathUnescape(part)
		if err != nil {
			return c, syntaxf(s, "version %q: bad %%-quoting", part)
		}
		part = u
	}
	c.Version = part
	return c, nil
}

// validate sorts the constraints and checks the vers rules.
func (r *Range) validate() error {
	r.sort()
	for i := 1; i < len(r.Constraints); i++ {
		if Compare(r.Constraints[i-1].Version, r.Constraints[i].Version) == 0 {
			return syntaxf(r.Text, "version %q appears twice", r.Constraints[i].Version)
		}
	}
	// Setting "!=" aside, "=" is followed by "=", ">" or ">=" only.
	var eqs, bounds []Constraint
	for _, c := range r.Constraints {
		if c.Op != Ne {
			eqs = append(eqs, c)
		}
		if c.Op != Ne && c.Op != Eq {
			bounds = append(bounds, c)
		}
	}
	for i := 0; i+1 < len(eqs); i++ {
		if eqs[i].Op == Eq && eqs[i+1].Op.upper() {
			return syntaxf(r.Text, "%q cannot be followed by %q", eqs[i].String(), eqs[i+1].String())
		}
	}
	// Setting "=" aside too, bounds alternate between lower and upper.
	for i := 0; i+1 < len(bounds); i++ {
		if bounds[i].Op.upper() == bounds[i+1].Op.upper() {
			return syntaxf(r.Text, "%q and %q do not alternate between lower and upper bounds", bounds[i].String(), bounds[i+1].String())
		}
	}
	return nil
}

func (r *Range) sort() {
	slices.SortStableFunc(r.Constraints, func(a, b Constraint) int { return Compare(a.Version, b.Version) })
}

// String returns the range in canonical form: vers for a range read from
// vers; the vers-like constraints for a lenient one, followed by its
// qualifier in parentheses.
func (r Range) String() string {
	var b strings.Builder
	if r.Scheme != "" {
		b.WriteString("vers:" + r.Scheme + "/")
	}
	switch {
	case r.All:
		if r.Scheme == "" {
			b.WriteString("vers:all/")
		}
		b.WriteString("*")
	case r.None:
		if r.Scheme == "" {
			b.WriteString("vers:none/")
		}
		b.WriteString("*")
	default:
		for i, c := range r.Constraints {
			if i > 0 {
				b.WriteByte('|')
			}
			b.WriteString(c.String())
		}
	}
	if r.Qualifier != "" {
		b.WriteString(" (" + r.Qualifier + ")")
	}
	return b.String()
}

// quote %-quotes what a vers version cannot hold as is: comparator and
// separator characters, "%", and anything but printable ASCII.
func quote(v string) string {
	needs := func(c byte) bool { return c < 0x21 || c > 0x7e || strings.IndexByte("<>=!*|%", c) >= 0 }
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if c := v[i]; needs(c) {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Contains tells whether v is certainly in the range.
func (r Range) Contains(v string) bool { return r.Check(v) == In }

// Check tells whether v is in the range, following the vers containment
// algorithm. Lenient ranges answer Maybe where their reading is
// uncertain, and leave out the bounds of another version line than v's
// (see Comparable): Maybe when none is left. An empty version is Maybe
// in any range but "all" and "none".
func (r Range) Check(v string) Verdict {
	switch {
	case r.None:
		return Out
	case r.All:
		if r.Qualifier != "" {
			return Maybe
		}
		return In
	case strings.TrimSpace(v) == "":
		return Maybe
	}
	if len(r.Constraints) == 0 {
		return Maybe // nothing readable: only the qualifier
	}
	cs := r.Constraints
	if r.Lenient {
		// Bounds of another version line say nothing about v.
		cs = slices.DeleteFunc(slices.Clone(cs), func(c Constraint) bool { return !Comparable(v, c.Version) })
		if len(cs) == 0 {
			return Maybe
		}
	}
	verdict := Out
	if contains(cs, v) {
		verdict = In
	} else if r.Lenient && contains(widen(cs), v) {
		verdict = Maybe
	}
	if verdict == In && r.Qualifier != "" {
		verdict = Maybe
	}
	return verdict
}

// Comparable tells whether the range speaks about v's version line: it
// holds every or no version, or one of its constraints is Comparable
// with v. A strict vers range always does.
func (r Range) Comparable(v string) bool {
	if r.All || r.None || !r.Lenient {
		return true
	}
	for _, c := range r.Constraints {
		if Comparable(v, c.Version) {
			return true
		}
	}
	return false
}

// widen turns inclusive upper bounds into branch bounds: "<= 4.2" also
// holds 4.2.1.
func widen(cs []Constraint) []Constraint {
	out := slices.Clone(cs)
	for i := range out {
		if out[i].Op == Le {
			out[i].Branch = true
		}
	}
	return out
}

// satisfies tells whether v meets one constraint on its own.
func satisfies(v string, c Constraint) bool {
	in := c.Branch && HasPrefix(v, c.Version)
	cmp := Compare(v, c.Version)
	switch c.Op {
	case Eq:
		return in || cmp == 0
	case Ne:
		return !in && cmp != 0
	case Lt:
		return !in && cmp < 0
	case Le:
		return in || cmp <= 0
	case Gt:
		return !in && cmp > 0
	case Ge:
		return in || cmp >= 0
	}
	return false
}

// contains is the vers containment check over constraints sorted by
// version.
func contains(cs []Constraint, v string) bool {
	var bounds []Constraint
	eq, ne := false, false
	for _, c := range cs {
		switch c.Op {
		case Eq:
			eq = true
			if satisfies(v, c) {
				return true
			}
		case Ne:
			ne = true
			if !satisfies(v, c) {
				return false
			}
		default:
			if (c.Op == Le || c.Op == Ge) && !c.Branch && Compare(v, c.Version) == 0 {
				return true
			}
			bounds = append(bounds, c)
		}
	}
	if len(bounds) == 0 {
		// Only exclusions: every other version. Only equalities: none
		// matched.
		return ne && !eq
	}
	first, last := bounds[0], bounds[len(bounds)-1]
	if first.Op.upper() && satisfies(v, first) {
		return true
	}
	if last.Op.lower() && satisfies(v, last) {
		return true
	}
	for i := 0; i+1 < len(bounds); i++ {
		lo, hi := bounds[i], bounds[i+1]
		if lo.Op.lower() && hi.Op.upper() && satisfies(v, lo) && satisfies(v, hi) {
			return true
		}
	}
	return false
}

// simplify removes redundant constraints of a sorted list (the procedure
// of the vers specification), so that lenient text such as "<= 4.2 |
// <= 5.1" means what its author meant.
func simplify(cs []Constraint) []Constraint {
	var ne, out []Constraint
	for _, c := range cs {
		if c.Op == Ne {
			ne = append(ne, c)
			continue
		}
		if len(out) > 0 {
			top := out[len(out)-1]
			if top.Op.lower() && (c.Op == Eq || c.Op.lower()) {
				continue // the open lower bound already holds c
			}
			for len(out) > 0 && c.Op.upper() && !out[len(out)-1].Op.lower() {
				out = out[:len(out)-1] // c's upper bound holds them
			}
		}
		out = append(out, c)
	}
	out = append(out, ne...)
	slices.SortStableFunc(out, func(a, b Constraint) int { return Compare(a.Version, b.Version) })
	return out
}
