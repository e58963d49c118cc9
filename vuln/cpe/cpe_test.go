package cpe

import (
	"strings"
	"testing"

	"github.com/vigil-health/vigil/vuln/version"
)

func TestParse(t *testing.T) {
	for _, c := range []struct{ in, fs string }{
		// NVD's escaped criterion (api2-single-entry.json)
		{`cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:*:*:*:*:*:wordpress:*:*`,
			`cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:*:*:*:*:*:wordpress:*:*`},
		{`cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*`, `cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*`},
		// 2.2 URIs: the CSAF BSI-2022-0001 helper, Recog, a packed edition, %-encoding
		{`cpe:/a:csaf-tools:cvrf-csaf-converter:1.0.0-alpha`, `cpe:2.3:a:csaf-tools:cvrf-csaf-converter:1.0.0-alpha:*:*:*:*:*:*:*`},
		{`cpe:/h:philips:hue:-`, `cpe:2.3:h:philips:hue:-:*:*:*:*:*:*:*`},
		{`cpe:/a:hp:insight_diagnostics:7.4.0.1570::~~online~win2003~x64~`, `cpe:2.3:a:hp:insight_diagnostics:7.4.0.1570:*:*:*:online:win2003:x64:*`},
		{`cpe:/a:foo%21:bar%20baz`, `cpe:2.3:a:foo\!:bar\ baz:*:*:*:*:*:*:*:*`},
		{`cpe:/o:linux:linux_kernel:5.10`, `cpe:2.3:o:linux:linux_kernel:5.10:*:*:*:*:*:*:*`},
	} {
		n, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got := n.String(); got != c.fs {
			t.Errorf("Parse(%q) = %q, want %q", c.in, got, c.fs)
		}
		if again := MustParse(n.String()); again != n {
			t.Errorf("%q does not read back", n.String())
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for _, c := range []struct{ in, why string }{
		{"cpe:2.3:a:vendor:product", "components, want 13"},
		{"cpe:2.3:x:vendor:product:1:*:*:*:*:*:*:*", `part "x"`},
		{"cpe:2.3:a:ven*dor:product:1:*:*:*:*:*:*:*", "unquoted * inside"},
		{"cpe:2.3:a:ven?dor:product:1:*:*:*:*:*:*:*", "unquoted ? inside"},
		{"cpe:2.3:a:vendor::1:*:*:*:*:*:*:*", "empty"},
		{"cpe:2.3:a:vendor:product:1:*:*:*:*:*:*:x\\", "lone backslash"},
		{"cpe:/a:b:c:d:e:f:g:h", "at most 7"},
		{"cpe:/a:b:c:d::~x~y", "packed edition"},
		{"wfn:[part=a]", "neither"},
		{"cpe:/a:\xba", "not allowed"}, // found by FuzzParse: the 2.3 form holds printable ASCII only
	} {
		_, err := Parse(c.in)
		if err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", c.in, err, c.why)
		}
	}
}

// TestCompareNISTIR7696 uses the examples of NISTIR 7696 (as reproduced
// in knqyf263/go-cpe's matching tests) and the relations of its table
// 6-2.
func TestCompareNISTIR7696(t *testing.T) {
	for _, c := range []struct {
		source, target string
		want           Relation
	}{
		{Any, Any, Equal},
		{NA, NA, Equal},
		{Any, "microsoft", Superset},
		{Any, NA, Superset},
		{"microsoft", Any, Subset},
		{NA, "microsoft", Disjoint},
		{"microsoft", NA, Disjoint},
		{"microsoft", "Microsoft", Equal},
		{`8\.0\.6001`, "8.0.6001", Equal},
		{"?crosoft", "microsoft", Disjoint},
		{"??crosoft", "microsoft", Superset},
		{"*soft", "microsoft", Superset},
		{"micro*", "microsoft", Superset},
		{"*cros*", "microsoft", Superset},
		{"micro?", "microsoft", Disjoint},
		{"micro????", "microsoft", Superset},
		{"3", "33.0.1750.126", Disjoint},
		{"3*", "33.0.1750.126", Superset},
		{`wp_maintenance_mode_\&_coming_soon`, `wp_maintenance_mode_\&_coming_soon`, Equal},
		{"microsoft", "micro*", Undefined},
	} {
		if got := Compare(c.source, c.target); got != c.want {
			t.Errorf("Compare(%q, %q) = %s, want %s", c.source, c.target, got, c.want)
		}
	}
	// Name level: the IE 8 example.
	src := MustParse(`cpe:2.3:a:microsoft:internet_explorer:8.0.6001:beta:*:sp2:*:*:*:*`)
	tgt := MustParse(`cpe:2.3:a:microsoft:internet_explorer:*:beta:*:*:*:*:*:*`)
	if src.Matches(tgt) {
		t.Errorf("%s must not match %s (its version is a subset)", src, tgt)
	}
	if !tgt.Matches(src) {
		t.Errorf("%s must match %s (a superset)", tgt, src)
	}
}

func TestRange(t *testing.T) {
	r := Range{StartIncluding: "7.3.0", EndExcluding: "7.3.31"}
	for v, want := range map[string]bool{"7.3.0": true, "7.3.30": true, "7.3.31": false, "7.2.9": false, "7.3.31-rc1": true} {
		if got := r.Contains(v); got != want {
			t.Errorf("%s contains %q = %v, want %v", r.Vers(), v, got, want)
		}
	}
	if got := r.Vers(); got != "vers:generic/>=7.3.0|<7.3.31" {
		t.Errorf("Vers() = %q", got)
	}
	if err := (Range{StartIncluding: "1", StartExcluding: "1"}).Validate(); err == nil {
		t.Error("two lower bounds validate")
	}
	// NVD ranges and vers agree.
	for _, r := range []Range{{EndExcluding: "2.4.5"}, {StartExcluding: "1.0", EndIncluding: "1.9"}, {StartIncluding: "0"}} {
		vr := version.MustParse(r.Vers())
		for _, v := range []string{"0", "1.0", "1.5", "1.9", "2.4.4", "2.4.5", "3"} {
			if r.Contains(v) != vr.Contains(v) {
				t.Errorf("%+v and %s disagree on %q", r, r.Vers(), v)
			}
		}
	}
}

func TestCheck(t *testing.T) {
	crit := MustParse(`cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:*:*:*:*:*:wordpress:*:*`)
	rng := Range{EndExcluding: "2.4.5"}
	for _, c := range []struct {
		target string
		want   version.Verdict
	}{
		{`cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:2.4.4:*:*:*:*:wordpress:*:*`, version.In},
		{`cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:2.4.5:*:*:*:*:wordpress:*:*`, version.Out},
		{`cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:*:*:*:*:*:wordpress:*:*`, version.Maybe},
		{`cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:-:*:*:*:*:wordpress:*:*`, version.Out},
		{`cpe:2.3:a:themeisle:other_plugin:2.4.4:*:*:*:*:wordpress:*:*`, version.Out},
		{`cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:2.4.4:*:*:*:*:joomla:*:*`, version.Out},
	} {
		if got := Check(crit, rng, MustParse(c.target)); got != c.want {
			t.Errorf("Check(%s, <2.4.5, %s) = %s, want %s", crit, c.target, got, c.want)
		}
	}
	// Without a range, the criterion's own version decides.
	exact := MustParse(`cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*`)
	if got := Check(exact, Range{}, MustParse(`cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*`)); got != version.In {
		t.Errorf("windows:- matches itself: %s", got)
	}
	if got := Check(exact, Range{}, MustParse(`cpe:2.3:o:microsoft:windows:10:*:*:*:*:*:*:*`)); got != version.Out {
		t.Errorf("windows:- must not match windows:10: %s", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:*:*:*:*:*:wordpress:*:*`,
		`cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*`, `cpe:/a:csaf-tools:cvrf-csaf-converter:1.0.0-alpha`,
		`cpe:/a:hp:insight_diagnostics:7.4.0.1570::~~online~win2003~x64~`, `cpe:2.3:a:??crosoft:*soft*:1:*:*:*:*:*:*:*`,
	} {
		f.Add(s, `cpe:2.3:a:microsoft:windows:10:*:*:*:*:*:*:*`)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		na, err := Parse(a)
		if err != nil {
			return
		}
		again, err := Parse(na.String())
		if err != nil || again != na {
			t.Fatalf("%q -> %q does not read back: %v", a, na.String(), err)
		}
		if !na.Matches(na) && !hasWildcards(na) {
			t.Fatalf("%s does not match itself", na)
		}
		if nb, err := Parse(b); err == nil {
			_ = na.Matches(nb)
			_ = Check(na, Range{EndExcluding: "2"}, nb)
		}
	})
}

func hasWildcards(n Name) bool {
	for _, v := range n {
		if v != Any && hasWildcard(v) {
			return true
		}
	}
	return false
}
