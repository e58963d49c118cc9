package oui

import (
	"bufio"
	"regexp"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"B.Braun Melsungen AG":               "b braun melsungen ag",
		"B. Braun Medical":                   "b braun medical",
		"BBraun":                             "bbraun",
		"Drägerwerk AG & Co. KG aA":          "dragerwerk ag and co kg aa",
		"Draegerwerk AG & Co. KGaA":          "draegerwerk ag and co kgaa",
		"GE Medical System(China) Co., Ltd.": "ge medical system china co ltd",
		"Becton, Dickinson  and Company":     "becton dickinson and company",
		"MICRO-STAR INT'L CO.,LTD":           "micro star intl co ltd",
		"Yuneec International（China）Co.，Ltd": "yuneec international china co ltd",
		"  --Ünïcödé  ßtraße-- ":             "unicode sstrasse",
		"":                                   "",
	} {
		if got := normalize(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTrimVendor(t *testing.T) {
	for in, want := range map[string]string{
		"Huawei Technologies Co.,Ltd":                             "Huawei Technologies",
		"Shenzhen Chengfenghao Electronics Co.;LTD.":              "Shenzhen Chengfenghao Electronics",
		"Fiberhome Telecommunication Technologies Co.,LTD":        "Fiberhome Telecommunication Technologies",
		"Invent Vision - iVision Sistemas de Imagem e Visão S.A.": "Invent Vision - iVision Sistemas de Imagem e Visão",
		"Ascom Danmark A/S":                                       "Ascom Danmark",
		"SIRONA DENTAL SYSTEMS GmbH & Co. KG":                     "SIRONA DENTAL SYSTEMS",
		"Pony.AI, INC.":                                           "Pony.AI",
		"Apple, Inc.":                                             "Apple",
		"Private":                                                 "Private",
		"AB":                                                      "AB",
		"Co. Ltd.":                                                "Co",
		"Philips Medical Systems - Cardiac and Monitoring Systems (CM": "Philips Medical Systems - Cardiac and Monitoring Systems (CM",
	} {
		if got := in[:trimVendor(in)]; got != want {
			t.Errorf("trimVendor(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCanonicalNoisyNames maps the spellings the registry and asset
// registers use to one vendor each.
func TestCanonicalNoisyNames(t *testing.T) {
	r := Default()
	for _, tc := range []struct {
		name    string
		vendor  string // "" for no alias
		medical bool
	}{
		{"B.Braun Melsungen AG", "B. Braun", true},
		{"B. Braun Medical", "B. Braun", true},
		{"BBraun", "B. Braun", true},
		{"B. BRAUN MELSUNGEN", "B. Braun", true},
		{"Centro de Pesquisas Av Wernher Von Braun", "", false},
		{"GE Healthcare", "GE HealthCare", true},
		{"GE Medical Systems", "GE HealthCare", true},
		{"GE Medical System(China) Co., Ltd.", "GE HealthCare", true},
		{"General Electric Company", "GE", false},
		{"GE Appliances", "GE", false},
		{"Ge Ruili Intelligent Technology ( Beijing ) Co., Ltd.", "", false},
		{"Philips Medical Systems", "Philips Healthcare", true},
		{"Philips Healthcare", "Philips Healthcare", true},
		{"Philips Patient Monitoring", "Philips Healthcare", true},
		{"Philips Electronics Nederland BV", "Philips", false},
		{"N.V. PHILIPS INDUSTRIAL ACTIVITIES", "Philips", false},
		{"Philips Oral Healthcare, Inc.", "Philips", false},
		{"Philips Personal Health Solutions", "Philips", false},
		{"Phillips Machine & Welding Co., Inc.", "", false},
		{"Draegerwerk AG & Co. KGaA", "Draeger", true},
		{"Drägerwerk AG & Co. KG aA", "Draeger", true},
		{"Draeger Medical Systems, Inc.", "Draeger", true},
		{"ALARIS MEDICAL SYSTEMS, INC.", "BD (Alaris)", true},
		{"Alaris, Inc.", "BD (Alaris)", true},
		{"Carefusion", "BD (CareFusion)", true},
		{"Becton, Dickinson  and Company", "BD", true},
		{"Becton Dickinson", "BD", true},
		{"Hill-Rom", "Baxter (Hillrom)", true},
		{"Welch Allyn, Inc.", "Baxter (Welch Allyn)", true},
		{"Smiths Medical", "ICU Medical (Smiths Medical)", true},
		{"Smiths Detection", "Smiths Detection", false},
		{"Maquet Critical Care AB", "Getinge (Maquet)", true},
		{"DATEX DIVISION OF", "GE HealthCare (Datex-Ohmeda)", true},
		{"Shenzhen Mindray Animal Medical Technology Co.,LTD", "Mindray", true},
		{"Mindray DS USA, Inc.", "Mindray", true},
		{"Edan Instruments, Inc.", "Edan", true},
		{"Bytedance", "ByteDance", false},
		{"Beijing Bytedance Network Technology Co., Ltd", "ByteDance", false},
		{"Beckman Coulter K.K.", "Beckman Coulter", true},
		{"Beckmann GmbH", "Beckmann", false},
		{"Contec Americas Inc.", "Contec Americas", false},
		{"CONTEC CO., LTD.", "CONTEC (Japan)", false},
		{"Siemens AG", "Siemens", false},
		{"SIEMENS AG, Digital Factory, Motion Control System", "Siemens", false},
		{"Siemens Healthcare Diagnostics, Inc", "Siemens Healthineers", true},
		{"Siemens AG, Healthcare Sector", "Siemens Healthineers", true},
		{"Siemens Healthineers AG", "Siemens Healthineers", true},
		{"Siemens Energy Global GmbH & Co. KG", "Siemens Energy", false},
		{"Nokia Siemens Networks GmbH & Co. KG.", "Nokia", false},
		{"Valeo Siemens eAutomotive Norway", "", false},
		{"FUJIFILM Corporation", "Fujifilm", false},
		{"FUJIFILM Healthcare Corporation", "Fujifilm Healthcare", true},
		{"OLYMPUS CORPORATION", "Olympus", false},
		{"Omron Healthcare Co., Ltd", "Omron Healthcare", true},
		{"OMRON Corporation", "Omron", false},
		{"Epic Systems Inc", "Epic Systems", false},
		{"Cisco Systems, Inc", "Cisco", false},
		{"Cisco Meraki", "Cisco", false},
		{"Cisco-Linksys, LLC", "Linksys", false},
		{"Hewlett Packard", "HP", false},
		{"Hewlett-Packard Company", "HP", false},
		{"HP Inc.", "HP", false},
		{"Hewlett Packard Enterprise", "HPE", false},
		{"Aruba, a Hewlett Packard Enterprise Company", "Aruba", false},
		{"Dell Inc.", "Dell", false},
		{"Dell'Orto S.P.A.", "", false},
		{"Apple, Inc.", "Apple", false},
		{"Microsoft Corporation", "Microsoft", false},
		{"Intel Corporate", "Intel", false},
		{"Intelbras", "", false},
		{"Honeywell International Inc", "Honeywell", false},
		{"Johnson Controls, Inc.", "Johnson Controls", false},
		{"AXIS COMMUNICATIONS AB", "Axis", false},
		{"Zebra Technologies Inc.", "Zebra", false},
		{"LEXMARK INTERNATIONAL, INC.", "Lexmark", false},
		{"XEROX CORPORATION", "Xerox", false},
		{"CANON INC.", "Canon", false},
		{"RICOH COMPANY, LTD.", "Ricoh", false},
		{"SINDORICOH", "", false},
		{"Brother Industries, LTD.", "Brother", false},
		{"Juniper Networks", "Juniper", false},
		{"Juniper Systems", "Juniper Systems", false},
		{"Ubiquiti Networks Inc.", "Ubiquiti", false},
		{"VMware, Inc.", "VMware", false},
		{"Raspberry Pi (Trading) Ltd", "Raspberry Pi", false},
		{"Raspberry Pi Foundation", "Raspberry Pi", false},
		{"Sonos, Inc.", "Sonos", false},
		{"SonoSite, Inc.", "Fujifilm Sonosite", true},
		{"Checkpoint Systems, Inc.", "Checkpoint Systems", false},
		{"Check Point Software Technologies", "Check Point", false},
	} {
		vendor, medical, ok := r.Canonical(tc.name)
		if ok != (tc.vendor != "") || vendor != tc.vendor || medical != tc.medical {
			t.Errorf("Canonical(%q) = %q %v %v, want %q %v", tc.name, vendor, medical, ok, tc.vendor, tc.medical)
		}
	}
}

// TestAliasRulesMatchRegistry keeps the table free of dead rules: every
// rule matches an organisation of the registry, unless its note says no
// block is registered under that name.
func TestAliasRulesMatchRegistry(t *testing.T) {
	r := Default()
	keys := make([]string, len(r.orgs))
	for i, o := range r.orgs {
		keys[i] = normalize(r.names[o.off : o.off+uint32(o.n)])
	}
	sc := bufio.NewScanner(strings.NewReader(aliasesTSV))
	rules := 0
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 5 || f[0] == "kind" || strings.HasPrefix(f[0], "#") {
			continue
		}
		rules++
		if strings.Contains(f[4], "no block under this name") {
			continue
		}
		kind, pattern := f[0], normalize(f[1])
		var hit func(string) bool
		switch kind {
		case kindExact:
			hit = func(k string) bool { return k == pattern }
		case kindPrefix:
			hit = func(k string) bool { return k == pattern || strings.HasPrefix(k, pattern+" ") }
		case kindWord:
			hit = func(k string) bool { return strings.Contains(" "+k+" ", " "+pattern+" ") }
		case kindRegex:
			re := regexp.MustCompile(f[1])
			hit = re.MatchString
		}
		found := false
		for _, k := range keys {
			if hit(k) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("aliases.tsv: %s %q matches no organisation of the registry", kind, f[1])
		}
	}
	if rules < 150 {
		t.Errorf("%d alias rules, want the whole table", rules)
	}
}

func TestAliasPrecedence(t *testing.T) {
	table := minimalAliases +
		"prefix\tacme\tAcme\tno\t\n" +
		"prefix\tacme medical\tAcme Medical\tyes\t\n" +
		"word\tmedical\tSome Medical\tyes\t\n" +
		"word\tacme\tAcme Anywhere\tno\t\n" +
		"regex\t^acme medical x\\b\tAcme X\tyes\t\n" +
		"exact\tAcme Medical X Y\tAcme XY\tno\t\n"
	al, err := parseAliases(table)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"Acme":               "Acme",
		"ACME Corp":          "Acme",
		"Acme Medical Ltd":   "Acme Medical", // the longer prefix
		"Acme Medical X":     "Acme X",       // a regex before phrases
		"Acme Medical X Y":   "Acme XY",      // an exact rule first
		"Big Acme":           "Acme Anywhere",
		"Big Acme Medical":   "Some Medical", // words "acme" and "medical": the longer wins
		"Acmeco":             "",
		"Medical Acme Group": "Some Medical",
	} {
		got := al.vendors[al.match(normalize(name))].name
		if got != want {
			t.Errorf("match(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestParseAliasesErrors(t *testing.T) {
	for name, table := range map[string]string{
		"no header":        "prefix\tacme\tAcme\tno\t\n",
		"bad header":       "kind\tpattern\tvendor\tnote\n",
		"four fields":      minimalAliases + "prefix\tacme\tAcme\tno\n",
		"bad kind":         minimalAliases + "suffix\tacme\tAcme\tno\t\n",
		"bad medical":      minimalAliases + "prefix\tacme\tAcme\tmaybe\t\n",
		"empty vendor":     minimalAliases + "prefix\tacme\t \tno\t\n",
		"empty pattern":    minimalAliases + "prefix\t--\tAcme\tno\t\n",
		"bad regex":        minimalAliases + "regex\t(acme\tAcme\tno\t\n",
		"duplicate prefix": minimalAliases + "prefix\tAcme\tAcme\tno\t\nprefix\tACME\tAcme\tno\t\n",
		"duplicate exact":  minimalAliases + "exact\tAcme\tAcme\tno\t\nexact\tacme\tAcme\tno\t\n",
		"two flags":        minimalAliases + "prefix\tacme\tAcme\tno\t\nprefix\tacme med\tAcme\tyes\t\n",
	} {
		if _, err := parseAliases(table); err == nil {
			t.Errorf("%s: parseAliases succeeded", name)
		}
	}
}
