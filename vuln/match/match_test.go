package match_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/alias"
	"github.com/vigil-health/vigil/vuln/feed"
	"github.com/vigil-health/vigil/vuln/match"
)

// loaded returns a store with the shared ICSMA advisories, the OASIS
// examples, the NVD page, KEV and EPSS samples, and the given testdata
// files of vuln/feed.
func loaded(t testing.TB, testdata ...string) *vuln.Store {
	t.Helper()
	dir := filepath.Join(testshared.Dir(t), "integrations", "vulndata")
	s := vuln.NewStore()
	im := &feed.Importer{Store: s, Now: func() time.Time { return time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC) }}
	files, _ := filepath.Glob(filepath.Join(dir, "csaf", "icsma", "*.json"))
	files = append(files, filepath.Join(dir, "nvd", "api2-full-page.json"), filepath.Join(dir, "kev", "known_exploited_vulnerabilities.json"),
		filepath.Join(dir, "epss", "vunnel-example-1.csv"))
	for _, f := range testdata {
		files = append(files, filepath.Join("..", "feed", "testdata", f))
	}
	for _, f := range files {
		if _, err := im.ImportFile(f, feed.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func device(key string, medical bool, attrs ...string) events.DeviceSnapshot {
	d := events.DeviceSnapshot{Key: key, ID: "dev-" + key, Medical: medical, Attributes: map[string]string{}}
	for i := 0; i+1 < len(attrs); i += 2 {
		d.Attributes[attrs[i]] = attrs[i+1]
	}
	return d
}

// lines renders matches as "ID confidence type sources".
func lines(ms []vuln.Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s %s %s %v", m.ID, m.Confidence, m.Type, m.Sources))
	}
	return out
}

func want(conf, typ string, sources []string, ids ...string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, fmt.Sprintf("%s %s %s %v", id, conf, typ, sources))
	}
	slices.Sort(out)
	return out
}

var (
	dcmtk   = []string{"CVE-2022-2119", "CVE-2022-2120", "CVE-2022-2121"}
	alaris  = []string{"CVE-2018-1285", "CVE-2023-30559", "CVE-2023-30560", "CVE-2023-30561", "CVE-2023-30562", "CVE-2023-30563", "CVE-2023-30564", "CVE-2023-30565"}
	bbraun  = []string{"CVE-2021-33882", "CVE-2021-33883", "CVE-2021-33884", "CVE-2021-33885", "CVE-2021-33886"}
	philips = []string{"CVE-2020-16212", "CVE-2020-16214", "CVE-2020-16216", "CVE-2020-16218", "CVE-2020-16220", "CVE-2020-16222", "CVE-2020-16224", "CVE-2020-16228"}
	csaf    = []string{"csaf"}
)

// TestMatchICSMADevices is the must-show: devices built to match
// the shared ICSMA advisories get the right advisories with the right
// confidence, and patched versions get none.
func TestMatchICSMADevices(t *testing.T) {
	m := match.New(loaded(t), alias.Shipped())
	for _, c := range []struct {
		name string
		dev  events.DeviceSnapshot
		want []string
	}{
		{"DCMTK 3.6.6 imaging device", device("pacs", true, "vendor", "Dell", "dicom.implementation_version", "OFFIS_DCMTK_366"),
			want(vuln.Confirmed, vuln.TypeApplication, csaf, dcmtk...)},
		{"DCMTK 3.6.7 (patched)", device("pacs", true, "vendor", "Dell", "dicom.implementation_version", "OFFIS_DCMTK_367"), nil},
		{"Alaris PCU 8015 firmware 12.1.3", device("pump", true, "vendor", "BD (Alaris)", "dhcp.vendor_class", "Alaris-PC-8015", "firmware_version", "12.1.3"),
			want(vuln.Confirmed, vuln.TypeClinical, csaf, alaris...)},
		{"Alaris PCU 8015 firmware 12.2 (patched)", device("pump", true, "vendor", "BD (Alaris)", "dhcp.vendor_class", "Alaris-PC-8015", "firmware_version", "12.2"), nil},
		{"Alaris PCU 8015 version unknown", device("pump", true, "vendor", "BD (Alaris)", "dhcp.vendor_class", "Alaris-PC-8015"),
			want(vuln.Potential, vuln.TypeClinical, csaf, alaris...)},
		{"Infusomat Space, Wi-Fi battery pack L80", device("pump", true, "vendor", "B. Braun", "dhcp.vendor_class", "BBraun-Infusomat-Space", "software_version", "L80"),
			want(vuln.Confirmed, vuln.TypeClinical, csaf, bbraun...)},
		{"Infusomat Space, L82 (patched)", device("pump", true, "vendor", "B. Braun", "dhcp.vendor_class", "BBraun-Infusomat-Space", "software_version", "L82"), nil},
		{"Infusomat Space, other version line 028U000050", device("pump", true, "vendor", "B. Braun", "model", "Infusomat Space", "software_version", "028U000050"),
			want(vuln.Confirmed, vuln.TypeClinical, csaf, bbraun...)},
		{"IntelliVue MX450 revision M.00.03", device("mon", true, "vendor", "Philips Healthcare", "dhcp.vendor_class", "Philips-IntelliVue-MX450", "firmware_version", "M.00.03"),
			want(vuln.Confirmed, vuln.TypeClinical, csaf, philips...)},
		{"IntelliVue MX450 revision P.01 (patched)", device("mon", true, "vendor", "Philips Healthcare", "dhcp.vendor_class", "Philips-IntelliVue-MX450", "firmware_version", "P.01"), nil},
		{"Welch Allyn CSM 1.52", device("csm", true, "vendor", "Baxter (Welch Allyn)", "model", "Connex Spot Monitor", "software_version", "1.52"),
			want(vuln.Confirmed, vuln.TypeClinical, csaf, "CVE-2024-1275")},
		{"Welch Allyn CSM 1.53 (patched)", device("csm", true, "vendor", "Baxter (Welch Allyn)", "model", "Connex Spot Monitor", "software_version", "1.53"), nil},
		{"GE Revolution EVO by model (passthrough)", device("ct", true, "vendor", "GE MEDICAL SYSTEMS", "model", "Revolution EVO", "software_version", "synth_ct_sw_1.4.2"),
			want(vuln.Confirmed, vuln.TypeClinical, csaf, "CVE-2020-25175", "CVE-2020-25179")},
		{"Infusomat model on a Dell (wrong vendor)", device("x", false, "vendor", "Dell", "model", "Infusomat Space", "software_version", "L80"), nil},
		{"NVD CPE the device states", device("nas", false, "vendor", "NetApp", "cpe", "cpe:2.3:a:netapp:clustered_data_ontap:9.7:*:*:*:*:*:*:*"),
			want(vuln.Confirmed, vuln.TypeApplication, []string{"nvd"}, "CVE-2023-27314")},
		{"NVD CPE, patched version", device("nas", false, "vendor", "NetApp", "cpe", "cpe:2.3:a:netapp:clustered_data_ontap:9.8:*:*:*:*:*:*:*"), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ms := m.Match(c.dev, nil)
			if got := lines(ms); !slices.Equal(got, c.want) {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
			for _, x := range ms {
				if len(x.Evidence) < 2 || x.Device != c.dev.Key || x.DeviceID != c.dev.ID {
					t.Errorf("%s: evidence %q, device %q/%q", x.ID, x.Evidence, x.Device, x.DeviceID)
				}
			}
		})
	}
}

// TestMatchEvidence checks what one match carries.
func TestMatchEvidence(t *testing.T) {
	m := match.New(loaded(t), alias.Shipped())
	ms := m.Match(device("pacs", true, "vendor", "Dell", "dicom.implementation_version", "OFFIS_DCMTK_366"), nil)
	x := ms[0]
	if x.ID != "CVE-2022-2119" || x.Advisories[0] != "ICSMA-22-174-01" || x.Version != "3.6.6" || x.Range != "< 3.6.7" ||
		x.CVSS != 7.5 || x.FixedIn != "3.6.7" || x.Product != "DCMTK: All versions prior to 3.6.7" {
		t.Errorf("%+v", x)
	}
	for _, w := range []string{
		`dicom.implementation_version "OFFIS_DCMTK_366" matches ^OFFIS_DCMTK_\d{3} (alias offis/dcmtk)`,
		`version "3.6.6" read from dicom.implementation_version "OFFIS_DCMTK_366"`,
		`ICSMA-22-174-01: DCMTK "3.6.6" is in "< 3.6.7" (CSAFPID-0001 affected, "DCMTK: All versions prior to 3.6.7")`,
	} {
		if !slices.Contains(x.Evidence, w) {
			t.Errorf("evidence lacks %q: %q", w, x.Evidence)
		}
	}
}

// TestMatchSBOMAndVEX: a device whose model has an SBOM is affected
// through its components; the model's VEX suppresses what it rules out;
// another version of the model is not affected.
func TestMatchSBOMAndVEX(t *testing.T) {
	s := loaded(t, "acme-ct-2.0.spdx.json", "acme-ct-2.1.cdx.json")
	m := match.New(s, alias.Shipped())
	ct20 := device("ct", true, "vendor", "ACME Medical", "model", "CT Scanner", "software_version", "2.0")
	ct21 := device("ct", true, "vendor", "ACME Medical", "model", "CT Scanner", "software_version", "2.1")
	sbom := []string{"csaf", "sbom"}
	if got, w := lines(m.Match(ct20, nil)), want(vuln.Confirmed, vuln.TypeApplication, sbom, dcmtk...); !slices.Equal(got, w) {
		t.Errorf("CT Scanner 2.0:\n got %q\nwant %q", got, w)
	}
	if got := lines(m.Match(ct21, nil)); len(got) != 0 {
		t.Errorf("CT Scanner 2.1: %q", got)
	}
	unknown := device("ct", true, "vendor", "ACME Medical", "model", "CT Scanner")
	// Version unknown: the 2.0 SBOM's findings are potential.
	if got, w := lines(m.Match(unknown, nil)), want(vuln.Potential, vuln.TypeApplication, sbom, dcmtk...); !slices.Equal(got, w) {
		t.Errorf("CT Scanner, version unknown:\n got %q\nwant %q", got, w)
	}
	if _, err := (&feed.Importer{Store: s}).ImportFile(filepath.Join("..", "feed", "testdata", "acme-ct-2.0-vex.cdx.json"), feed.Options{}); err != nil {
		t.Fatal(err)
	}
	if got, w := lines(m.Match(ct20, nil)), want(vuln.Confirmed, vuln.TypeApplication, sbom, dcmtk[:2]...); !slices.Equal(got, w) {
		t.Errorf("CT Scanner 2.0 after its VEX (not_affected suppresses):\n got %q\nwant %q", got, w)
	}
}

// TestMatchScannerFindings: scanner findings merge with passive matches
// by ID (one match, both sources), and add what matching did not find.
func TestMatchScannerFindings(t *testing.T) {
	m := match.New(loaded(t), alias.Shipped())
	dev := device("pacs", true, "vendor", "Dell", "dicom.implementation_version", "OFFIS_DCMTK_366")
	ms := m.Match(dev, []vuln.ScannerFinding{
		{Device: "pacs", Source: "insightvm", ID: "CVE-2022-2119", Check: "offis-dcmtk-cve-2022-2119", Verified: true, Port: "tcp/104"},
		{Device: "pacs", Source: "insightvm", ID: "CVE-2017-15710", Check: "apache-httpd-cve-2017-15710", Verified: true, Port: "tcp/80", CVSS: 7.5},
		{Device: "pacs", Source: "nessus", ID: "CVE-2017-15710", Check: "101787", Verified: true},
	})
	got := lines(ms)
	w := []string{
		"CVE-2017-15710 confirmed application [insightvm nessus]",
		"CVE-2022-2119 confirmed application [csaf insightvm]",
		"CVE-2022-2120 confirmed application [csaf]",
		"CVE-2022-2121 confirmed application [csaf]",
	}
	if !slices.Equal(got, w) {
		t.Errorf("got  %q\nwant %q", got, w)
	}
	if ev := ms[1].Evidence; !slices.Contains(ev, "insightvm reported CVE-2022-2119 (check offis-dcmtk-cve-2022-2119) on tcp/104") {
		t.Errorf("scanner evidence missing: %q", ev)
	}
}

// TestMatchEnrich: KEV and EPSS come from the store.
func TestMatchEnrich(t *testing.T) {
	s := loaded(t)
	m := match.New(s, alias.Shipped())
	ms := m.Match(device("x", false), []vuln.ScannerFinding{{Source: "nessus", ID: "CVE-2025-48384", Verified: true}})
	if len(ms) != 1 || !ms[0].KEV {
		t.Errorf("KEV not set: %+v", ms)
	}
}
