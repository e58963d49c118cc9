package version

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	for _, c := range []struct {
		in, canonical string
	}{
		{"vers:generic/>=1.0|<2.3", "vers:generic/>=1.0|<2.3"},
		{"vers:npm/1.2.3|>=2.0.0|<5.0.0", "vers:npm/1.2.3|>=2.0.0|<5.0.0"},
		{"vers:pypi/0.0.0|0.0.1|0.0.2|0.0.3|1.0|2.0pre1", "vers:pypi/0.0.0|0.0.1|0.0.2|0.0.3|1.0|2.0pre1"},
		{"vers:maven/>=1.0.0-beta1|<=1.7.5|>=7.0.0-M1|<=7.0.7|>=7.1.0|<=7.1.2|>=8.0.0-M1|<=8.0.1",
			"vers:maven/>=1.0.0-beta1|<=1.7.5|>=7.0.0-M1|<=7.0.7|>=7.1.0|<=7.1.2|>=8.0.0-M1|<=8.0.1"},
		{"vers:gem/>=2.2.0|!= 2.2.1|<2.3.0", "vers:gem/>=2.2.0|!=2.2.1|<2.3.0"},
		// spaces do not count, constraints are sorted, pipes collapse
		{" vers:generic / <  2.3 | > = 1.0 ", "vers:generic/>=1.0|<2.3"},
		{"vers:generic/||<2.3||>=1.0|", "vers:generic/>=1.0|<2.3"},
		{"vers:all/*", "vers:all/*"},
		{"vers:none/*", "vers:none/*"},
		{"vers:generic/*", "vers:generic/*"},
		{"vers:generic/1.0%7C2", "vers:generic/1.0|2"}, // a quoted pipe is part of the version
	} {
		r, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		got := r.String()
		if c.in == "vers:generic/1.0%7C2" {
			if len(r.Constraints) != 1 || r.Constraints[0].Version != "1.0|2" {
				t.Errorf("Parse(%q) = %+v, want one version 1.0|2", c.in, r.Constraints)
			}
			continue
		}
		if got != c.canonical {
			t.Errorf("Parse(%q).String() = %q, want %q", c.in, got, c.canonical)
		}
		again, err := Parse(got)
		if err != nil || again.String() != got {
			t.Errorf("canonical %q does not parse back to itself: %v %q", got, err, again.String())
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for _, c := range []struct{ in, why string }{
		{"generic/>=1.0", `does not start with "vers:"`},
		{"VERS:generic/1.0", `does not start with "vers:"`},
		{"vers:Generic/1.0", "lower-case"},
		{"vers:generic", `no "/"`},
		{"vers:generic/", "no constraints"},
		{"vers:generic/|", "no constraints"},
		{"vers:generic/>=", "has no version"},
		{"vers:generic/*|1.0", `"*" must be alone`},
		{"vers:generic/1.0|1.0.0", "appears twice"},
		{"vers:generic/<1.0|<2.0", "do not alternate"},
		{"vers:generic/>1.0|>=2.0", "do not alternate"},
		{"vers:generic/1.0|<2.0", "cannot be followed"},
		{"vers:generic/1.0%zz", "bad %-quoting"},
		{"vers:generic/\r", "not printable ASCII"}, // found by FuzzParse
		{"vers:generic/1.0\u00e9", "not printable ASCII"},
	} {
		_, err := Parse(c.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want an error (%s)", c.in, c.why)
			continue
		}
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("Parse(%q) = %v, want ErrSyntax saying %q", c.in, err, c.why)
		}
	}
}

func TestContains(t *testing.T) {
	for _, c := range []struct {
		vers string
		in   []string
		out  []string
	}{
		{"vers:generic/>=1.0|<2.3", []string{"1.0", "1.5", "2.2.9", "2.3-rc1"}, []string{"0.9", "2.3", "2.3.0", "3"}},
		{"vers:generic/<2.3", []string{"0", "2.2", "1.0-rc1"}, []string{"2.3", "2.4"}},
		{"vers:generic/>2.3", []string{"2.3.1", "10"}, []string{"2.3", "2.3.0", "1"}},
		{"vers:generic/<=2.3", []string{"2.3", "2.3.0"}, []string{"2.3.1"}},
		{"vers:npm/1.2.3|>=2.0.0|<5.0.0", []string{"1.2.3", "2.0.0", "4.9"}, []string{"1.2.4", "5.0.0", "1.9"}},
		{"vers:gem/>=2.2.0|!= 2.2.1|<2.3.0", []string{"2.2.0", "2.2.2"}, []string{"2.2.1", "2.3.0", "2.1"}},
		{"vers:maven/>=1.0.0-beta1|<=1.7.5|>=7.0.0-M1|<=7.0.7|>=8.0.0-M1|<=8.0.1",
			[]string{"1.0.0-beta1", "1.7.5", "7.0.0", "8.0.0-M1", "8.0.0-M3", "8.0.1"},
			[]string{"1.0.0-alpha", "1.7.6", "6.0", "7.0.8", "7.1.0", "8.0.2"}},
		{"vers:generic/<1.0|>2.0", []string{"0.5", "2.1"}, []string{"1.0", "1.5", "2.0"}},
		{"vers:generic/!=1.0", []string{"0.9", "1.1"}, []string{"1.0", "1.0.0"}},
		{"vers:generic/1.0|2.0", []string{"1.0", "2"}, []string{"1.5", "3"}},
		{"vers:all/*", []string{"1", "anything"}, nil},
		{"vers:none/*", nil, []string{"1", "anything", ""}},
	} {
		r := MustParse(c.vers)
		for _, v := range c.in {
			if got := r.Check(v); got != In {
				t.Errorf("%s: Check(%q) = %s, want in", c.vers, v, got)
			}
		}
		for _, v := range c.out {
			if got := r.Check(v); got != Out {
				t.Errorf("%s: Check(%q) = %s, want out", c.vers, v, got)
			}
		}
	}
}

// TestContainsMatchesBounds checks, on random bounds and versions, that a
// two-sided vers range holds exactly the versions between its bounds.
func TestContainsMatchesBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 5000; i++ {
		a, b, v := randomNumeric(r), randomNumeric(r), randomNumeric(r)
		if Compare(a, b) >= 0 {
			continue
		}
		rng, err := Parse("vers:generic/>=" + a + "|<" + b)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		want := Compare(v, a) >= 0 && Compare(v, b) < 0
		if got := rng.Contains(v); got != want {
			t.Fatalf("%s contains %q = %v, want %v", rng, v, got, want)
		}
	}
}

func randomNumeric(r *rand.Rand) string {
	parts := make([]string, 1+r.IntN(3))
	for i := range parts {
		parts[i] = string(rune('0' + r.IntN(4)))
	}
	s := strings.Join(parts, ".")
	switch r.IntN(5) {
	case 0:
		s += "-rc1"
	case 1:
		s += "b2"
	}
	return s
}

func TestCheckEmptyVersion(t *testing.T) {
	if got := MustParse("vers:generic/<2").Check(""); got != Maybe {
		t.Errorf("an unknown version is %s, want maybe", got)
	}
	if got := MustParse("vers:all/*").Check(""); got != In {
		t.Errorf("an unknown version in vers:all is %s, want in", got)
	}
}
