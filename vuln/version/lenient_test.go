package version

import (
	"strings"
	"testing"
)

// TestParseLenientICSMA reads every version and range string of the CISA
// ICSMA and OASIS samples in ../shared/integrations/vulndata/csaf, and
// some English, and checks versions against them.
func TestParseLenientICSMA(t *testing.T) {
	for _, c := range []struct {
		text      string
		canonical string
		qualified bool // part of the text could not be read
		in, maybe []string
		out       []string
	}{
		// ICSMA-22-174-01 (DCMTK)
		{text: "< 3.6.7", canonical: "<3.6.7", in: []string{"3.6.6", "3.6.7-rc1", "3.5.4"}, out: []string{"3.6.7", "3.6.8", "3.7"}},
		// ICSMA-24-151-02 (Welch Allyn CSM): "1.52.1" is in the 1.52 branch
		{text: "<=1.52", canonical: "<=1.52", in: []string{"1.52", "1.40", "1.5"}, maybe: []string{"1.52.1"}, out: []string{"1.53", "2"}},
		// ICSMA-21-294-01 (B. Braun)
		{text: "<= L81", canonical: "<=L81", in: []string{"L81", "L80", "L9"}, out: []string{"L82", "L100"},
			maybe: []string{"028U000061", "2.1"}}, // another version line: cannot tell
		{text: "<= 012U000061", canonical: "<=012U000061", in: []string{"012U000061", "012U000050"}, out: []string{"012U000062", "013U000001"}},
		{text: "A10 < A11", canonical: ">=A10|<=A11", in: []string{"A10", "A11"}, out: []string{"A9", "A12"}},
		// ICSMA-20-343-01 (GE)
		{text: ">=BT02 | <= BT06", canonical: ">=BT02|<=BT06", in: []string{"BT02", "BT04", "BT06"}, out: []string{"BT01", "BT07"}, maybe: []string{"HD20"}},
		{text: ">= 4.0 | <= 4.6", canonical: ">=4.0|<=4.6", in: []string{"4.0", "4.6", "4.5.9"}, maybe: []string{"4.6.1"}, out: []string{"3.9", "4.7"}},
		{text: "HD 16 | HD23", canonical: "HD%2016|HD23", in: []string{"HD16", "HD 16", "hd23"}, out: []string{"HD17", "HD22"}},
		{text: "BT02 | BT03 | BT04 | BT06", canonical: "BT02|BT03|BT04|BT06", in: []string{"BT03"}, out: []string{"BT05"}},
		{text: "SV20.1 | SV23.0", canonical: "SV20.1|SV23.0", in: []string{"SV23"}, out: []string{"SV21"}},
		// ICSMA-20-023-01 (GE CARESCAPE): branches
		{text: "2.X", canonical: "2.*", in: []string{"2", "2.0", "2.1.7"}, out: []string{"1.9", "3.0", "20.1"}},
		{text: "4.X | 5.X", canonical: "4.*|5.*", in: []string{"4.1", "5.9"}, out: []string{"3", "6"}},
		{text: "<= 4.2", canonical: "<=4.2", in: []string{"4.2", "4.1"}, maybe: []string{"4.2.1"}, out: []string{"4.3"}},
		// ICSMA-21-313-01 (Philips MRI)
		{text: "5.x.x", canonical: "5.*", in: []string{"5.4.1"}, out: []string{"6.0"}},
		// ICSMA-20-254-01 (Philips IntelliVue): letters
		{text: "<=N", canonical: "<=N", in: []string{"N", "M.00.03", "L", "Rev. M.01"}, maybe: []string{"N.00.14", "Rev. N.00.14"}, out: []string{"P.01"}},
		{text: "B.02", canonical: "B.02", in: []string{"B.02", "b.2"}, out: []string{"C.02"}},
		// ICSMA-22-251-01 (Baxter): what follows the version is a qualifier
		{text: "9.x model 35700BAX3", canonical: "9.* (model 35700BAX3)", qualified: true, maybe: []string{"9.1"}, out: []string{"8.5"}},
		{text: "9.x (with Wireless Battery Modules >= 22D19 | <= v22D28)", canonical: "9.* (with Wireless Battery Modules >= 22D19 | <= v22D28)",
			qualified: true, maybe: []string{"9.0"}, out: []string{"10"}},
		{text: "6.x (Wireless Battery Modules (16 | 16D38 | 17 | 17D19 | >= 20D29 | <= v20D32 | >= 22D24 | <= v22D28)",
			canonical: "6.* (Wireless Battery Modules (16 | 16D38 | 17 | 17D19 | >= 20D29 | <= v20D32 | >= 22D24 | <= v22D28)",
			qualified: true, maybe: []string{"6.2"}, out: []string{"8"}},
		// ICSMA-19-022-01 and others: vers:all/* under product_version
		{text: "vers:all/*", canonical: "vers:all/*", in: []string{"1", "", "anything"}},
		// OASIS examples
		{text: "1.0.0-rc2", canonical: "1.0.0-rc2", in: []string{"1.0.0rc2"}, out: []string{"1.0.0-rc1", "1.0.0"}},
		// English
		{text: "All versions prior to 3.6.7", canonical: "<3.6.7", in: []string{"3.6.6"}, out: []string{"3.6.7"}},
		{text: "Version 4.2 and prior", canonical: "<=4.2", in: []string{"4.0"}, out: []string{"5"}},
		{text: "2.0 or later", canonical: ">=2.0", in: []string{"2.0", "7"}, out: []string{"1.9"}},
		{text: "1.0 to 1.4", canonical: ">=1.0|<=1.4", in: []string{"1.2"}, out: []string{"1.5"}},
		{text: "all versions", canonical: "vers:all/*", in: []string{"0.1"}},
		{text: "v22D19 - v22D28", canonical: ">=v22D19|<=v22D28", in: []string{"22D24"}, out: []string{"22D29"}},
		// redundant constraints are simplified as the vers spec says
		{text: "<= 4.2 | <= 5.1", canonical: "<=5.1", in: []string{"5.0"}, out: []string{"5.2"}},
	} {
		r, warn := ParseLenient(c.text)
		if got := r.String(); got != c.canonical {
			t.Errorf("ParseLenient(%q) = %q, want %q", c.text, got, c.canonical)
		}
		if (r.Qualifier != "") != c.qualified || (warn != "") != c.qualified {
			t.Errorf("ParseLenient(%q): qualifier %q, warning %q; want qualified=%v", c.text, r.Qualifier, warn, c.qualified)
		}
		for _, want := range []struct {
			vs []string
			v  Verdict
		}{{c.in, In}, {c.maybe, Maybe}, {c.out, Out}} {
			for _, v := range want.vs {
				if got := r.Check(v); got != want.v {
					t.Errorf("%q: Check(%q) = %s, want %s", c.text, v, got, want.v)
				}
			}
		}
	}
}

func TestParseLenientNeverFails(t *testing.T) {
	for _, text := range []string{"", "   ", "(", ")", "|||", "n/a", "see vendor", "unknown", "<", ">= | <=", "1.*.3"} {
		r, warn := ParseLenient(text)
		if warn == "" {
			t.Errorf("ParseLenient(%q): no warning for %q", text, r.String())
		}
		if r.All || r.None {
			t.Errorf("ParseLenient(%q) = %s: unreadable text must not mean all or none", text, r.String())
		}
		if got := r.Check("1.0"); got == In {
			t.Errorf("ParseLenient(%q).Check(1.0) = in: unreadable text must not be certain", text)
		}
	}
	// Spaces do not count in vers (found by FuzzParse).
	if r, warn := ParseLenient("vers :generic/ < 2"); r.Lenient || warn != "" || r.String() != "vers:generic/<2" {
		t.Errorf("vers with spaces: %q (lenient %v), warning %q", r.String(), r.Lenient, warn)
	}
	// A broken vers is read leniently, with the strict error as warning.
	r, warn := ParseLenient("vers:generic/<1.0|<2.0")
	if !strings.Contains(warn, "do not alternate") || r.Check("1.5") != In {
		t.Errorf("broken vers: %q, warning %q", r.String(), warn)
	}
}
