package version

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// seeds are the version and range strings of the shared advisories and
// the vers specification.
var seeds = []string{
	"< 3.6.7", "<=1.52", "<= L81", "<= 012U000061", "A10 < A11", ">=BT02 | <= BT06", ">= 4.0 | <= 4.6",
	"HD 16 | HD23", "4.X | 5.X", "5.x.x", "<=N", "9.x model 35700BAX3",
	"9.x (with Wireless Battery Modules >= 22D19 | <= v22D28)",
	"6.x (Wireless Battery Modules (16 | 16D38 | 17 | 17D19 | >= 20D29 | <= v20D32 | >= 22D24 | <= v22D28)",
	"vers:all/*", "vers:none/*", "vers:generic/>=1.0|<2.3", "vers:gem/>=2.2.0|!= 2.2.1|<2.3.0",
	"vers:maven/>=1.0.0-beta1|<=1.7.5|>=7.0.0-M1|<=7.0.7", "vers:pypi/0.0.0|0.0.1|2.0pre1", "vers:generic/1.0%7C2",
	"1.0.0-alpha", "1.2.3b4", "4.2.1-rc1", "v22D28", "prior to 2.0", "1.0 to 1.4",
}

// FuzzParse checks that the vers parser and the lenient reader never
// panic, that a vers range's canonical form reads back to the same
// range, and that a lenient range answers like the strict one when the
// input is valid vers.
func FuzzParse(f *testing.F) {
	for _, s := range seeds {
		f.Add(s, "1.0")
	}
	f.Fuzz(func(t *testing.T, s, v string) {
		lr, _ := ParseLenient(s)
		lv := lr.Check(v)
		_ = lr.String()
		r, err := Parse(s)
		if err != nil {
			return
		}
		canon := r.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", canon, s, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical %q of %q reads back as %q", canon, s, again.String())
		}
		if got, want := again.Check(v), r.Check(v); got != want {
			t.Fatalf("%q and its canonical %q disagree on %q: %s, %s", s, canon, v, want, got)
		}
		if lv != r.Check(v) {
			t.Fatalf("lenient and strict readings of %q disagree on %q: %s, %s", s, v, lv, r.Check(v))
		}
	})
}

// FuzzCompare checks that Compare is antisymmetric, reflexive and
// transitive on any three strings, and that the equal-version relation
// passes the ordering on.
func FuzzCompare(f *testing.F) {
	versions := []string{"1.0", "1.0.0", "1.0-rc1", "1.2.3b4", "4.2.1-rc1", "22D19", "L81", "N.00.14", "HD 16", "v1.9", "1.0.2a", "", "8.0.0-M1"}
	for i, a := range versions {
		f.Add(a, versions[(i+1)%len(versions)], versions[(i+5)%len(versions)])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) || !utf8.ValidString(c) {
			// Invalid UTF-8 is compared byte by byte like anything else;
			// only make failures readable.
			a, b, c = strings.ToValidUTF8(a, "?"), strings.ToValidUTF8(b, "?"), strings.ToValidUTF8(c, "?")
		}
		if Compare(a, a) != 0 {
			t.Fatalf("Compare(%q, %q) != 0", a, a)
		}
		ab, ba := Compare(a, b), Compare(b, a)
		if ab != -ba {
			t.Fatalf("Compare(%q, %q) = %d but Compare(%q, %q) = %d", a, b, ab, b, a, ba)
		}
		bc, ac := Compare(b, c), Compare(a, c)
		if ab <= 0 && bc <= 0 && ac > 0 {
			t.Fatalf("%q <= %q <= %q but %q > %q", a, b, c, a, c)
		}
		if ab == 0 && ac != bc {
			t.Fatalf("%q = %q but they compare differently with %q: %d, %d", a, b, c, ac, bc)
		}
	})
}
