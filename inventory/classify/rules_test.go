package classify

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// factsOf turns a rule example into facts.
func factsOf(ex Example) Facts {
	f := Facts{Attributes: map[string][]string{}}
	list := func(v any) []string {
		switch v := v.(type) {
		case string:
			return []string{v}
		case []any:
			var out []string
			for _, x := range v {
				out = append(out, fmt.Sprint(x))
			}
			return out
		}
		return []string{fmt.Sprint(v)}
	}
	for k, v := range ex {
		switch k {
		case "protocols":
			f.Protocols = list(v)
		case "services":
			f.Services = list(v)
		case "oui_vendor":
			f.OUIVendor = list(v)[0]
		default:
			f.Attributes[k] = list(v)
		}
	}
	return f
}

// TestRuleExamples is the rules' self-test: every example of every rule
// must be classified, by the whole rule set, as its rule's category, with
// a reason.
func TestRuleExamples(t *testing.T) {
	r, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rule := range r.rules {
		if len(rule.Examples) == 0 {
			t.Errorf("rule %s has no example", rule.ID)
		}
		for i, ex := range rule.Examples {
			n++
			got := r.Classify(factsOf(ex))
			if got.Category != rule.Category {
				t.Errorf("%s example %d %v: classified %s by %s (%v), want %s", rule.ID, i+1, ex, got.Category, got.Rule, got.Because, rule.Category)
			}
			if len(got.Because) == 0 {
				t.Errorf("%s example %d: no reason given", rule.ID, i+1)
			}
		}
	}
	t.Logf("%d rules, %d examples, %d categories", r.Len(), n, len(r.Categories()))
}

// TestRecogExamples checks every example of every Recog fingerprint Go
// can run: it must match its fingerprint and produce the example's values.
func TestRecogExamples(t *testing.T) {
	r, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, c := range r.recogExamples() {
		var fp *recogFingerprint
		for _, f := range c.db.fingerprints {
			if strings.HasPrefix(c.name, f.Description+" #") {
				fp = f
				break
			}
		}
		if fp == nil || !fp.re.MatchString(c.text) {
			continue // an example of a description shared by several fingerprints
		}
		one := &recogDB{fingerprints: []*recogFingerprint{fp}}
		_, got := one.params(c.text)
		for k, want := range c.want {
			if got[k] != want {
				t.Errorf("%s: %s = %q, want %q (text %q)", c.name, k, got[k], want, c.text)
			}
		}
		checked++
	}
	for name, s := range r.RecogStats() {
		t.Logf("%s: %d fingerprints loaded, %d skipped (RE2 cannot run them)", name, s[0], s[1])
		if s[0] == 0 || s[1]*10 > s[0] {
			t.Errorf("%s: %d loaded, %d skipped: too many skipped", name, s[0], s[1])
		}
	}
	if checked < 500 {
		t.Errorf("only %d Recog examples checked", checked)
	}
	t.Logf("%d Recog examples checked", checked)
}

func TestFingerprintsDeriveAttributes(t *testing.T) {
	r, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	f := Facts{Attributes: map[string][]string{
		"snmp.sys_descr": {"Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 12.2(50)SE5, RELEASE SOFTWARE (fc1)"},
	}}
	res := r.Classify(f)
	if res.Category != "network_equipment" {
		t.Errorf("category %s (%v)", res.Category, res.Because)
	}
	found := map[string]string{}
	for _, d := range res.Derived {
		found[d.Attribute] = d.Value
		if !strings.Contains(d.Because, "Recog") {
			t.Errorf("derived %+v does not name its fingerprint", d)
		}
	}
	if found["vendor"] != "" || found["os"] != "Cisco IOS 12.2(50)SE5" || found["device_type"] == "" || found["model"] != "" {
		t.Errorf("derived %v", found)
	}
	if len(f.Attributes) != 1 {
		t.Error("Classify changed the caller's attributes")
	}
}

func TestUserRulesOverrideAndErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The site's pumps are named PMP-*; the site disables the generic
	// server rule.
	write("10-site.yaml", `rules:
  - id: site-pumps
    description: our pumps
    category: infusion_pump
    confidence: 0.95
    all: [{attribute: hostname, prefix: "PMP-"}]
    examples: [{hostname: PMP-1}]
  - id: server
    enabled: false
`)
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Classify(Facts{Attributes: map[string][]string{"hostname": {"pmp-7"}}}); got.Rule != "site-pumps" || got.Criticality != LifeSustaining || !got.Medical {
		t.Errorf("site rule: %+v", got)
	}
	if got := r.Classify(Facts{Services: []string{"tcp/445"}}); got.Category == "server" {
		t.Error("the disabled rule still classifies")
	}

	write("20-bad.yaml", `rules:
  - id: broken
    category: pumpp
    confidence: 2
    all: [{attribute: model, matches: "("}]
  - category: printer
    confidence: 0.5
    all: [{service: tcp/9100}]
  - id: two-subjects
    category: printer
    confidence: 0.5
    all: [{service: tcp/9100, protocol: ipp}]
`)
	_, err = Load(dir)
	if err == nil {
		t.Fatal("bad rules loaded")
	}
	for _, want := range []string{
		`20-bad.yaml: rule "broken": category "pumpp" is not in the catalogue`,
		"20-bad.yaml: rule 2 has no id",
		`20-bad.yaml: rule "two-subjects": condition 1: set exactly one of attribute, protocol, service`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	write("20-bad.yaml", "rules: [{id: x, unknown_key: 1}]\n")
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "unknown_key") {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing rules directory was accepted")
	}
}

func TestUnknownWithoutEvidence(t *testing.T) {
	r, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	got := r.Classify(Facts{Attributes: map[string][]string{"hostname": {"thing"}}})
	if got.Category != "unknown" || got.Criticality != Unknown || got.Rule != "" {
		t.Errorf("%+v", got)
	}
}

func BenchmarkClassify(b *testing.B) {
	r, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	f := Facts{OUIVendor: "B. Braun Melsungen AG", Protocols: []string{"dhcp", "tls"}, Services: []string{"tcp/443"},
		Attributes: map[string][]string{"hostname": {"PUMP-0042"}, "dhcp.vendor_class": {"udhcp 1.30.1"}, "vendor": {"B. Braun"}}}
	b.ReportAllocs()
	for b.Loop() {
		r.Classify(f)
	}
}

func TestReads(t *testing.T) {
	r, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for fact, want := range map[string]bool{
		"vendor": true, "oui_vendor": true, "dicom.modality": true, "snmp.sys_descr": true, "dhcp.vendor_class": true,
		"protocol:dicom": true, "service:tcp/104": true,
		"dns.query": false, "tls.ja4": false, "protocol:dns": false, "service:tcp/40000": false,
	} {
		if got := r.Reads(fact); got != want {
			t.Errorf("Reads(%q) = %v, want %v", fact, got, want)
		}
	}
}
