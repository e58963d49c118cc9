package version

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestCompareOrder(t *testing.T) {
	chains := [][]string{
		// dotted numerics
		{"0.9", "1", "1.2", "1.2.3", "1.2.10", "1.10", "2", "10.0.1"},
		// pre-releases before the release, post-release words after
		{"4.2.0", "4.2.1-dev", "4.2.1-alpha.2", "4.2.1a3", "4.2.1b1", "4.2.1b4", "4.2.1-pre1", "4.2.1-rc1", "4.2.1rc2", "4.2.1", "4.2.1a", "4.2.1b", "4.2.1 build 7", "4.2.1.1", "4.2.2"},
		{"1.2.3b4", "1.2.3", "1.2.4"},
		// CSAF BSI-2022-0001's product versions: dev < alpha (PEP 440)
		{"1.0.0-dev1", "1.0.0-dev2", "1.0.0-dev3", "1.0.0-alpha", "1.0.0-rc1", "1.0.0-rc2", "1.0.0"},
		// Maven-style milestones (the TomEE example of the vers spec)
		{"7.1.2", "8.0.0-M1", "8.0.0-M3", "8.0.0", "8.0.1"},
		// OpenSSL letter releases
		{"1.0.2", "1.0.2a", "1.0.2k", "1.0.2zd", "1.1.0"},
		// vendor build strings from ICSMA advisories
		{"20D29", "20D32", "22D19", "22D24", "22D28"},
		{"L80", "L81", "L100"},
		{"A10", "A11"},
		{"BT02", "BT03", "BT06"},
		{"HD 16", "HD23"},
		{"SV20.1", "SV23.0"},
		{"B.02", "C.02", "C.03"},
		{"M.00.03", "N", "N.00.14", "P.01"},
		{"12.1.2", "12.1.3", "12.3"},
		{"012U000060", "012U000061", "028U000061"},
		// a "v" or "version" prefix does not count; numbers of any length
		{"v1.9", "version 1.10", "V2", "99999999999999999999", "100000000000000000000"},
	}
	for _, chain := range chains {
		for i := range chain {
			for j := range chain {
				want := cmp(i, j)
				if got := Compare(chain[i], chain[j]); got != want {
					t.Errorf("Compare(%q, %q) = %d, want %d (chain %q)", chain[i], chain[j], got, want, chain)
				}
			}
		}
	}
}

func TestCompareEqual(t *testing.T) {
	for _, pair := range [][2]string{
		{"1.0", "1"},
		{"1.0.0", "1"},
		{"1.0-rc1", "1-rc1"},
		{"1.0.0-rc1", "1.0rc1"},
		{"v1.2", "1.2"},
		{"V1.2", "version 1.2"},
		{"HD 16", "HD16"},
		{"1_2", "1.2"},
		{"1-2", "1.2"},
		{"012U000061", "12U61"},
		{"1.0-final", "1.0"},
		{"2.0 GA", "2"},
		{"A.01", "a.1"},
		{"3.6.7", "3.6.7"},
		{"Rev. N.00.14", "N.00.14"},
		{"Firmware v2.1", "2.1"},
		{"Software Version: 12.1.3", "12.1.3"},
	} {
		if c := Compare(pair[0], pair[1]); c != 0 {
			t.Errorf("Compare(%q, %q) = %d, want 0", pair[0], pair[1], c)
		}
		if !Equal(pair[1], pair[0]) {
			t.Errorf("Equal(%q, %q) = false", pair[1], pair[0])
		}
	}
}

func TestHasPrefix(t *testing.T) {
	for _, c := range []struct {
		v, prefix string
		want      bool
	}{
		{"5.2.1", "5", true},
		{"5", "5", true},
		{"50.1", "5", false},
		{"v5.0", "5", true},
		{"4.0.3", "4.0", true},
		{"4.1", "4.0", false},
		{"N.00.14", "N", true},
		{"M.00.14", "N", false},
		{"1.52.1", "1.52", true},
		{"1.5", "1.52", false},
		{"9", "9.1", false},
	} {
		if got := HasPrefix(c.v, c.prefix); got != c.want {
			t.Errorf("HasPrefix(%q, %q) = %v, want %v", c.v, c.prefix, got, c.want)
		}
	}
}

// versionAlphabet builds random versions from the parts real versions are
// made of.
var versionAlphabet = []string{"0", "1", "2", "9", "10", "01", "a", "b", "c", "rc", "alpha", "beta", "dev", "m", "final",
	"d", "x", "bt", "hd", "sp", ".", ".", "-", "_", " ", "+", "v", "N"}

func randomVersion(r *rand.Rand) string {
	var b strings.Builder
	for n := r.IntN(7); n >= 0; n-- {
		b.WriteString(versionAlphabet[r.IntN(len(versionAlphabet))])
	}
	return b.String()
}

// TestCompareProperties checks that Compare is a total preorder on random
// versions: reflexive, antisymmetric, transitive, and consistent with
// sorting.
func TestCompareProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vs := make([]string, 400)
	for i := range vs {
		vs[i] = randomVersion(r)
	}
	for _, a := range vs {
		if Compare(a, a) != 0 {
			t.Fatalf("Compare(%q, %q) != 0", a, a)
		}
	}
	for i := 0; i < 20000; i++ {
		a, b, c := vs[r.IntN(len(vs))], vs[r.IntN(len(vs))], vs[r.IntN(len(vs))]
		ab, ba := Compare(a, b), Compare(b, a)
		if ab != -ba {
			t.Fatalf("antisymmetry: Compare(%q, %q) = %d, Compare(%q, %q) = %d", a, b, ab, b, a, ba)
		}
		if ab <= 0 && Compare(b, c) <= 0 && Compare(a, c) > 0 {
			t.Fatalf("transitivity: %q <= %q <= %q but %q > %q", a, b, c, a, c)
		}
		if ab == 0 && Compare(a, c) != Compare(b, c) {
			t.Fatalf("equal versions %q and %q compare differently with %q", a, b, c)
		}
	}
	sorted := slices.Clone(vs)
	slices.SortFunc(sorted, Compare)
	for i := 1; i < len(sorted); i++ {
		for j := 0; j < i; j++ {
			if Compare(sorted[j], sorted[i]) > 0 {
				t.Fatalf("after sorting, %q (at %d) > %q (at %d)", sorted[j], j, sorted[i], i)
			}
		}
	}
}

func TestComparable(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"1.2", "10.0.1", true},
		{"v1.2", "1.3", true},
		{"L81", "L82", true},
		{"L82", "028U000061", false},
		{"BT02", "BT06", true},
		{"BT02", "HD16", false},
		{"M.00.03", "N", true},
		{"Rev. N.00.14", "N", true},
		{"B.02", "C.03", true},
		{"SV20.1", "2.0", false},
		{"2.1", "028U000061", false},
		{"1.0", "028U000061", false},
		{"028U000050", "028U000061", true},
		{"1.0-rc1", "1.5", true},
		{"1.0.2a", "1.0.2.1", true},
		{"22D19", "22", true},
		{"rc1", "beta2", true},
		{"", "L81", true},
	} {
		if got := Comparable(c.a, c.b); got != c.want {
			t.Errorf("Comparable(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if Comparable(c.b, c.a) != Comparable(c.a, c.b) {
			t.Errorf("Comparable(%q, %q) is not symmetric", c.a, c.b)
		}
	}
}
