package vuln_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-health/vigil/internal/testshared"
	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/feed"
	"github.com/vigil-health/vigil/vuln/version"
)

func vulndata(t testing.TB) string {
	t.Helper()
	return filepath.Join(testshared.Dir(t), "integrations", "vulndata")
}

// loaded returns a store holding the shared ICSMA and OASIS CSAF
// advisories, and the given extra files (relative to the shared
// vulndata directory, or to testdata).
func loaded(t *testing.T, extra ...string) *vuln.Store {
	t.Helper()
	s := vuln.NewStore()
	im := &feed.Importer{Store: s, Now: func() time.Time { return time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC) }}
	files, _ := filepath.Glob(filepath.Join(vulndata(t), "csaf", "icsma", "*.json"))
	more, _ := filepath.Glob(filepath.Join(vulndata(t), "csaf", "oasis-examples", "20*.json"))
	files = append(files, more...)
	files = append(files, extra...)
	for _, f := range files {
		if _, err := im.ImportFile(f, feed.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// summary renders findings as "ADVISORY CVE verdict" lines.
func summary(fs []vuln.Finding) []string {
	var out []string
	for _, f := range fs {
		via := ""
		if f.Via != nil {
			via = " via " + f.Via.Name + "@" + f.Via.Version
		}
		out = append(out, fmt.Sprintf("%s %s %s%s", f.Advisory, f.Vulnerability, f.Confidence(), via))
	}
	return out
}

func lines(advisory, confidence string, cves ...string) []string {
	var out []string
	for _, c := range cves {
		out = append(out, advisory+" "+c+" "+confidence)
	}
	return out
}

var (
	dcmtkCVEs   = []string{"CVE-2022-2119", "CVE-2022-2120", "CVE-2022-2121"}
	alarisCVEs  = []string{"CVE-2023-30559", "CVE-2023-30560", "CVE-2023-30561", "CVE-2023-30562", "CVE-2023-30563", "CVE-2023-30564", "CVE-2023-30565", "CVE-2018-1285"}
	brauneCVEs  = []string{"CVE-2021-33886", "CVE-2021-33885", "CVE-2021-33882", "CVE-2021-33883", "CVE-2021-33884"}
	geCVEs      = []string{"CVE-2020-6961", "CVE-2020-6962", "CVE-2020-6963", "CVE-2020-6964", "CVE-2020-6965", "CVE-2020-6966"}
	philipsCVEs = []string{"CVE-2020-16214", "CVE-2020-16218", "CVE-2020-16222", "CVE-2020-16228", "CVE-2020-16224", "CVE-2020-16220", "CVE-2020-16216", "CVE-2020-16212"}
	contecCVEs  = []string{"CVE-2022-36385", "CVE-2022-38100", "CVE-2022-38069", "CVE-2022-38453", "CVE-2022-3027"}
	baxterCVEs  = []string{"CVE-2022-26390", "CVE-2022-26392", "CVE-2022-26393", "CVE-2022-26394"}
)

// TestAffectsICSMA looks devices of the shared ICSMA advisories up by
// product and version: affected versions match, patched ones do not, and
// versions the advisory's text leaves in doubt match as potential.
func TestAffectsICSMA(t *testing.T) {
	s := loaded(t)
	for _, c := range []struct {
		name    string
		product vuln.ProductRef
		version string
		want    []string
	}{
		// ICSMA-22-174-01: DCMTK "< 3.6.7"
		{"DCMTK 3.6.6", vuln.ProductRef{Vendor: "OFFIS", Name: "DCMTK"}, "3.6.6", lines("ICSMA-22-174-01", "confirmed", dcmtkCVEs...)},
		{"dcmtk 3.6.7-rc1 (a pre-release of the fix)", vuln.ProductRef{Name: "dcmtk"}, "3.6.7-rc1", lines("ICSMA-22-174-01", "confirmed", dcmtkCVEs...)},
		{"DCMTK 3.6.7 (patched)", vuln.ProductRef{Vendor: "OFFIS", Name: "DCMTK"}, "3.6.7", nil},
		{"DCMTK 3.6.8", vuln.ProductRef{Name: "DCMTK"}, "3.6.8", nil},
		{"DCMTK, version unknown", vuln.ProductRef{Name: "DCMTK"}, "", lines("ICSMA-22-174-01", "potential", dcmtkCVEs...)},
		{"DCMTK of another vendor", vuln.ProductRef{Vendor: "Siemens", Name: "DCMTK"}, "3.6.6", nil},
		// ICSMA-24-151-02: Welch Allyn Connex Spot Monitor "<=1.52"
		{"CSM 1.52", vuln.ProductRef{Vendor: "Baxter", Name: "Welch Allyn Connex Spot Monitor"}, "1.52", lines("ICSMA-24-151-02", "confirmed", "CVE-2024-1275")},
		{"CSM 1.52.1 (in the 1.52 branch)", vuln.ProductRef{Name: "Welch Allyn Connex Spot Monitor (CSM)"}, "1.52.1", lines("ICSMA-24-151-02", "potential", "CVE-2024-1275")},
		{"CSM 1.53 (patched)", vuln.ProductRef{Name: "Welch Allyn Connex Spot Monitor"}, "1.53", nil},
		// ICSMA-23-194-01: BD Alaris PCU "<=12.1.3"
		{"Alaris PCU 12.1.3", vuln.ProductRef{Vendor: "BD", Name: "BD Alaris Point-of-Care Unit (PCU) Model 8015"}, "12.1.3", lines("ICSMA-23-194-01", "confirmed", alarisCVEs...)},
		{"Alaris PCU 12.2", vuln.ProductRef{Vendor: "BD", Name: "BD Alaris Point-of-Care Unit (PCU) Model 8015"}, "12.2", nil},
		// ICSMA-23-194-01: Guardrails Editor "<=12.1.2" and 12.1.3 (only CVE-2023-30562)
		{"Guardrails Editor 12.1.3", vuln.ProductRef{Name: "BD Alaris Guardrails Editor"}, "12.1.3", lines("ICSMA-23-194-01", "confirmed", "CVE-2023-30562")},
		// ICSMA-21-294-01: B. Braun "<= L81" and "A10 < A11"
		{"Battery Pack SP with Wi-Fi L80", vuln.ProductRef{Vendor: "B. Braun", Name: "Battery Pack SP with Wi-Fi"}, "L80", lines("ICSMA-21-294-01", "confirmed", brauneCVEs...)},
		{"Battery Pack SP with Wi-Fi L82", vuln.ProductRef{Name: "Battery Pack SP with Wi-Fi"}, "L82", nil},
		// The same pack (spelt "Battery pack SP with WiFi") in its other
		// version line, "<= 028U000061": each version is read against its
		// own line.
		{"Battery pack SP with WiFi 028U000050", vuln.ProductRef{Name: "Battery pack SP with WiFi"}, "028U000050", lines("ICSMA-21-294-01", "confirmed", brauneCVEs...)},
		{"Battery pack SP with WiFi 028U000070", vuln.ProductRef{Name: "Battery pack SP with WiFi"}, "028U000070", nil},
		{"Battery pack SP with WiFi 2.1 (neither line)", vuln.ProductRef{Name: "Battery pack SP with WiFi"}, "2.1", lines("ICSMA-21-294-01", "potential", brauneCVEs...)},
		{"Data module compactPlus A11", vuln.ProductRef{Name: "Data module compactPlus"}, "A11", lines("ICSMA-21-294-01", "confirmed", brauneCVEs...)},
		{"Data module compactPlus A12", vuln.ProductRef{Name: "Data module compactPlus"}, "A12", nil},
		// ICSMA-22-251-01: Baxter "8.x model 35700BAX2": the model number is not checked
		{"Sigma Spectrum 8.1", vuln.ProductRef{Vendor: "Baxter", Name: "Sigma Spectrum"}, "8.1", lines("ICSMA-22-251-01", "potential", baxterCVEs...)},
		{"Sigma Spectrum 7.0", vuln.ProductRef{Vendor: "Baxter", Name: "Sigma Spectrum"}, "7.0", nil},
		// ICSMA-20-254-01: Philips IntelliVue "<=N"
		{"IntelliVue MX400-MX850 M.00.03", vuln.ProductRef{Vendor: "Philips", Name: "IntelliVue patient monitor MX400-MX850"}, "M.00.03", lines("ICSMA-20-254-01", "confirmed", philipsCVEs...)},
		{"IntelliVue MX400-MX850 N.00.14", vuln.ProductRef{Vendor: "Philips", Name: "IntelliVue patient monitor MX400-MX850"}, "N.00.14", lines("ICSMA-20-254-01", "potential", philipsCVEs...)},
		{"IntelliVue MX400-MX850 P.01", vuln.ProductRef{Vendor: "Philips", Name: "IntelliVue patient monitor MX400-MX850"}, "P.01", nil},
		{"IntelliVue MX400-MX850 Rev. M.01", vuln.ProductRef{Vendor: "Philips", Name: "IntelliVue patient monitor MX400-MX850"}, "Rev. M.01", lines("ICSMA-20-254-01", "confirmed", philipsCVEs...)},
		// ICSMA-20-023-01: GE CARESCAPE Central Station "2.X" and "1.X"
		{"CARESCAPE Central Station 2.1", vuln.ProductRef{Vendor: "GE", Name: "CARESCAPE Central Station (CSCS)"}, "2.1", lines("ICSMA-20-023-01", "confirmed", geCVEs...)},
		{"CARESCAPE Central Station 3.0", vuln.ProductRef{Vendor: "GE", Name: "CARESCAPE Central Station"}, "3.0", nil},
		// ICSMA-22-244-01: Contec CMS8000, every version
		{"Contec CMS8000", vuln.ProductRef{Name: "CMS8000 CONTEC ICU CCU Vital Signs Patient Monitor"}, "whatever", lines("ICSMA-22-244-01", "confirmed", contecCVEs...)},
		// OASIS VEX examples: affected, fixed, not affected, under investigation
		{"Example DEF 1.0", vuln.ProductRef{Vendor: "Example Company", Name: "DEF"}, "1.0", lines("2022-EVD-UC-01-A-001", "confirmed", "CVE-2021-44228")},
		{"Example DEF 1.1", vuln.ProductRef{Vendor: "Example Company", Name: "DEF"}, "1.1", nil},
		{"Example ABC 4.2", vuln.ProductRef{Vendor: "Example Company", Name: "ABC"}, "4.2", nil},
		{"Example GHI 17.4", vuln.ProductRef{Vendor: "Example Company", Name: "GHI"}, "17.4", lines("2022-EVD-UC-01-UI-001", "potential", "CVE-2021-44228")},
		{"an unknown product", vuln.ProductRef{Name: "Infusomat 9000"}, "1.0", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := summary(s.Affects(c.product, c.version))
			if !slices.Equal(sortedCopy(got), sortedCopy(c.want)) {
				t.Errorf("Affects(%+v, %q):\n got %q\nwant %q", c.product, c.version, got, c.want)
			}
		})
	}
}

func sortedCopy(l []string) []string {
	l = slices.Clone(l)
	slices.Sort(l)
	return l
}

// TestAffectsFinding checks everything a finding carries.
func TestAffectsFinding(t *testing.T) {
	s := loaded(t)
	fs := s.Affects(vuln.ProductRef{Vendor: "OFFIS", Name: "DCMTK"}, "3.6.6")
	if len(fs) != 3 {
		t.Fatalf("%d findings", len(fs))
	}
	f := fs[0]
	if f.Advisory != "ICSMA-22-174-01" || f.Publisher != "CISA" || f.Vulnerability != "CVE-2022-2119" || f.ProductID != "CSAFPID-0001" ||
		f.Range != "< 3.6.7" || f.Verdict != version.In || f.Status != vuln.Affected || f.CVSS == nil || f.CVSS.BaseScore != 7.5 ||
		len(f.Remediations) != 1 || f.Remediations[0].FixedIn != "3.6.7" {
		t.Errorf("finding: %+v", f)
	}
	if want := `ICSMA-22-174-01: DCMTK "3.6.6" is in "< 3.6.7" (CSAFPID-0001 affected, "DCMTK: All versions prior to 3.6.7")`; f.Evidence != want {
		t.Errorf("evidence %q, want %q", f.Evidence, want)
	}
}

// dcmtkVersion reads DCMTK's DICOM implementation version name
// ("OFFIS_DCMTK_366", which the sensor records as
// dicom.implementation_version) as a version ("3.6.6"). Matching the
// inventory is not this package's job; the test shows the path.
func dcmtkVersion(impl string) (string, bool) {
	digits, ok := strings.CutPrefix(impl, "OFFIS_DCMTK_")
	if !ok || len(digits) != 3 {
		return "", false
	}
	return strings.Join(strings.Split(digits, ""), "."), true
}

// TestAffectsDCMTKDevice: a DICOM device that announces DCMTK 3.6.6 is
// affected by ICSMA-22-174-01; the demo ward's PACS (DCMTK 3.6.7) is not.
func TestAffectsDCMTKDevice(t *testing.T) {
	s := loaded(t)
	for impl, want := range map[string]int{"OFFIS_DCMTK_366": 3, "OFFIS_DCMTK_367": 0, "OFFIS_DCMTK_362": 3} {
		v, ok := dcmtkVersion(impl)
		if !ok {
			t.Fatalf("%s: not DCMTK", impl)
		}
		if got := s.Affects(vuln.ProductRef{Name: "DCMTK"}, v); len(got) != want {
			t.Errorf("%s (DCMTK %s): %d findings, want %d", impl, v, len(got), want)
		}
	}
}

// TestAffectsModel: a device model whose SBOM has DCMTK 3.6.6 is affected
// through it, minus what its VEX document clears; the patched model is
// not affected.
func TestAffectsModel(t *testing.T) {
	testdata := filepath.Join("feed", "testdata")
	s := loaded(t, filepath.Join(testdata, "acme-ct-2.0.spdx.json"), filepath.Join(testdata, "acme-ct-2.1.cdx.json"))
	ct20 := vuln.ModelRef{Vendor: "ACME Medical", Name: "CT Scanner", Version: "2.0"}
	ct21 := vuln.ModelRef{Vendor: "ACME Medical", Name: "CT Scanner", Version: "2.1"}
	var want []string
	for _, c := range dcmtkCVEs {
		want = append(want, "ICSMA-22-174-01 "+c+" confirmed via dcmtk@3.6.6")
	}
	if got := summary(s.AffectsModel(ct20)); !slices.Equal(got, want) {
		t.Errorf("CT Scanner 2.0:\n got %q\nwant %q", got, want)
	}
	if got := s.AffectsModel(ct21); len(got) != 0 {
		t.Errorf("CT Scanner 2.1 (DCMTK 3.6.7): %q", summary(got))
	}
	// The manufacturer's VEX: CVE-2022-2121 does not reach DCMTK in 2.0.
	im := &feed.Importer{Store: s}
	if _, err := im.ImportFile(filepath.Join(testdata, "acme-ct-2.0-vex.cdx.json"), feed.Options{}); err != nil {
		t.Fatal(err)
	}
	if got := summary(s.AffectsModel(ct20)); !slices.Equal(got, want[:2]) {
		t.Errorf("CT Scanner 2.0 after its VEX:\n got %q\nwant %q", got, want[:2])
	}
	// The VEX is about DCMTK in that model only: DCMTK 3.6.6 elsewhere is
	// still affected by the three.
	if got := s.Affects(vuln.ProductRef{Name: "DCMTK"}, "3.6.6"); len(got) != 3 {
		t.Errorf("DCMTK 3.6.6 outside the model: %q", summary(got))
	}
}
