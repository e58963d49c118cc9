package alias_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-health/vigil/internal/testshared"
	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/alias"
	"github.com/vigil-health/vigil/vuln/feed"
)

// TestShippedParses: every entry of the shipped table is well formed
// (Parse checks each and reports every problem).
func TestShippedParses(t *testing.T) {
	data, err := os.ReadFile("aliases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tab, err := alias.Parse(data, "aliases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Vendors) < 15 {
		t.Errorf("%d vendors", len(tab.Vendors))
	}
	for _, v := range tab.Vendors {
		if len(v.CSAF) == 0 {
			t.Errorf("vendor %s has no CSAF name", v.ID)
		}
	}
}

// TestParseReportsEveryProblem: a broken entry is refused with every
// problem named by its position and ID.
func TestParseReportsEveryProblem(t *testing.T) {
	_, err := alias.Parse([]byte(`vendors:
  - id: x
    name: X
    match: ['(']
    csaf: [X]
    products:
      - id: p
        name: P
        type: medical
        match: [{attribute: model}]
        cpe: ['x:y']
  - id: x
    name: ""
    match: [x]
    csaf: [X]
`), "site.yaml")
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`vendors[0] (x).match[0]: regex "("`,
		`vendors[0] (x).products[0] (p): type "medical"`,
		`vendors[0] (x).products[0] (p).match[0]: needs attribute and regex`,
		`vendors[0] (x).products[0] (p).cpe[0]: "x:y"`,
		`vendors[1] (x): id "x" used twice`,
		`vendors[1] (x): no name`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := alias.Parse([]byte("vendors:\n  - id: x\n    nmae: X\n"), "typo.yaml"); err == nil || !strings.Contains(err.Error(), "nmae") {
		t.Errorf("unknown field: %v", err)
	}
}

// TestSamplesResolve: every vendor and every product of the shared ICSMA
// advisories has an entry (or its vendor looks models up by name).
func TestSamplesResolve(t *testing.T) {
	tab := alias.Shipped()
	s := vuln.NewStore()
	im := &feed.Importer{Store: s}
	files, _ := filepath.Glob(filepath.Join(testshared.Dir(t), "integrations", "vulndata", "csaf", "icsma", "*.json"))
	if len(files) < 12 {
		t.Fatalf("%d ICSMA samples", len(files))
	}
	for _, f := range files {
		if _, err := im.ImportFile(f, feed.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	products := 0
	for _, a := range s.Advisories() {
		for _, p := range a.Products {
			v, ok := tab.VendorByCSAF(p.Vendor)
			if !ok {
				t.Errorf("%s: vendor %q has no alias entry", a.ID, p.Vendor)
				continue
			}
			name := p.Family
			if name == "" {
				name, _, _ = strings.Cut(p.Name, ":")
			}
			if _, ok := v.CSAFProduct(name); !ok && !v.Passthrough {
				t.Errorf("%s: product %q of %s has no alias entry", a.ID, name, v.ID)
			}
			products++
		}
	}
	t.Logf("%d advisories, %d products resolved", len(s.Advisories()), products)
}

// TestInventoryVendors: the vendor names the inventory produces (the OUI
// alias table's canonical names, DICOM manufacturers, device statements)
// resolve to the right entry, and look-alikes do not.
func TestInventoryVendors(t *testing.T) {
	tab := alias.Shipped()
	for name, want := range map[string]string{
		"BD (Alaris)": "bd", "BD (CareFusion)": "bd", "BD": "bd", "CareFusion": "bd", "ALARIS MEDICAL SYSTEMS, INC.": "bd",
		"B. Braun": "bbraun", "B.Braun": "bbraun", "B.Braun Melsungen AG": "bbraun",
		"Baxter": "baxter", "Baxter (Welch Allyn)": "baxter", "Baxter (Hillrom)": "baxter", "Welch Allyn": "baxter",
		"Philips Healthcare": "philips", "Philips Medical Systems": "philips", "Philips Respironics": "philips",
		"GE HealthCare": "ge", "GE MEDICAL SYSTEMS": "ge", "GE HealthCare (Datex-Ohmeda)": "ge", "GE Healthcare": "ge",
		"Siemens Healthineers": "siemens-healthineers", "SIEMENS": "siemens-healthineers",
		"Draeger": "draeger", "Dräger": "draeger", "Drägerwerk AG & Co. KGaA": "draeger",
		"Medtronic": "medtronic", "Medtronic (Covidien)": "medtronic",
		"ICU Medical (Hospira)": "icumedical", "ICU Medical (Smiths Medical)": "icumedical", "Hospira": "icumedical",
		"Mindray": "mindray", "Nihon Kohden": "nihonkohden", "Spacelabs Healthcare": "spacelabs",
		"Fresenius Kabi": "fresenius", "Fresenius Medical Care": "fresenius", "Fresenius Kabi (Ivenix)": "fresenius",
		"Carestream": "carestream", "Agfa HealthCare": "agfa", "Contec Medical Systems": "contec", "OFFIS": "offis",
		"Roche": "roche",
		// Look-alikes that must not resolve.
		"Contec Americas": "", "CONTEC (Japan)": "", "Dell": "", "Signify (Philips Lighting)": "", "Philips": "philips",
		"Gebr. Schmidt": "", "Bdx Systems": "",
	} {
		v, ok := tab.Vendor(name)
		got := ""
		if ok {
			got = v.ID
		}
		if got != want {
			t.Errorf("Vendor(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestIdentify: devices as the inventory describes them are identified
// with the product, its version and the evidence.
func TestIdentify(t *testing.T) {
	tab := alias.Shipped()
	for _, c := range []struct {
		name    string
		attrs   map[string]string
		product string
		version string
	}{
		{"DCMTK by implementation version", map[string]string{"vendor": "Dell", "dicom.implementation_version": "OFFIS_DCMTK_366"}, "dcmtk", "3.6.6"},
		{"DCMTK by class UID", map[string]string{"dicom.implementation_class_uid": "1.2.276.0.7230010.3.0.3.6.4"}, "dcmtk", "3.6.4"},
		{"Alaris by DHCP vendor class", map[string]string{"vendor": "BD (Alaris)", "dhcp.vendor_class": "Alaris-PC-8015", "firmware_version": "12.1.3"}, "alaris-pcu-8015", "12.1.3"},
		{"Infusomat Space", map[string]string{"vendor": "B. Braun", "dhcp.vendor_class": "BBraun-Infusomat-Space", "software_version": "L80"}, "infusomat-space", "L80"},
		{"IntelliVue MX450", map[string]string{"vendor": "Philips Healthcare", "dhcp.vendor_class": "Philips-IntelliVue-MX450"}, "intellivue-mx400-850", ""},
		{"GE CT by model", map[string]string{"vendor": "GE MEDICAL SYSTEMS", "model": "Revolution EVO"}, "imaging-ultrasound", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ids := tab.Identify(c.attrs)
			if len(ids) == 0 {
				t.Fatalf("nothing identified in %v", c.attrs)
			}
			if ids[0].Product.ID != c.product || ids[0].Version != c.version {
				t.Errorf("got %s %q, want %s %q (evidence %q)", ids[0].Product.ID, ids[0].Version, c.product, c.version, ids[0].Evidence)
			}
			if len(ids[0].Evidence) == 0 {
				t.Error("no evidence")
			}
		})
	}
	// A pump model of another vendor is not identified as B. Braun's.
	if ids := tab.Identify(map[string]string{"vendor": "Dell", "model": "Infusomat Space"}); len(ids) != 0 {
		t.Errorf("identified without the vendor: %+v", ids[0].Product)
	}
}
