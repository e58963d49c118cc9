package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-health/vigil/internal/synth"
	"github.com/vigil-health/vigil/internal/testshared"
	"github.com/vigil-health/vigil/risk"
	"github.com/vigil-health/vigil/vuln"
)

// demoStore imports the feeds docs/risk.md names into a fresh store.
func demoStore(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testshared.Dir(t), "integrations", "vulndata")
	files, _ := filepath.Glob(filepath.Join(dir, "csaf", "icsma", "*.json"))
	files = append(files, filepath.Join(dir, "kev", "known_exploited_vulnerabilities.json"),
		filepath.Join(dir, "epss", "vunnel-example-1.csv"), filepath.Join(dir, "nvd", "api2-full-page.json"))
	store := filepath.Join(t.TempDir(), "vuln.json")
	out, _, err := vigil(t, append([]string{"vuln", "import", "--store", store}, files...)...)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	return store
}

// TestVulnCommands: import reports every file and refuses a bad one
// without losing the others; list shows the advisories; match finds the
// demo ward's clinical vulnerabilities and none on the patched PACS.
func TestVulnCommands(t *testing.T) {
	store := demoStore(t)
	bad := filepath.Join(testshared.Dir(t), "integrations", "vulndata", "epss", "vunnel-invalid-header.csv")
	out, _, err := vigil(t, "vuln", "import", "--store", store, bad)
	if err == nil || !strings.Contains(err.Error(), "1 of 1 files refused") || !strings.Contains(out, "REFUSED") || !strings.Contains(out, "line 2") {
		t.Errorf("bad EPSS file: err %v\n%s", err, out)
	}
	out, _, err = vigil(t, "vuln", "list", "--store", store)
	if err != nil || !strings.Contains(out, "ICSMA-22-174-01") || !strings.Contains(out, "12 advisories") || !strings.Contains(out, "1404 KEV entries") {
		t.Errorf("list: %v\n%s", err, out)
	}
	pcap, _ := wardCapture(t, synth.DefaultOptions())
	out, _, err = vigil(t, "vuln", "match", "--store", store, "--learn", "30m", "--json", pcap)
	if err != nil {
		t.Fatal(err)
	}
	var recs []vuln.Record
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range recs {
		got[r.DeviceID+" "+strings.Join(r.Advisories, ",")+" "+r.Confidence]++
	}
	for k, n := range map[string]int{
		"dev-d0311f413fcd ICSMA-21-294-01 potential": 5, // B. Braun Infusomat Space pumps
		"dev-e2b49150b515 ICSMA-21-294-01 potential": 5,
		"dev-54b25e3a19bd ICSMA-23-194-01 potential": 8, // BD Alaris 8015
		"dev-1c2824f33117 ICSMA-20-254-01 potential": 8, // Philips IntelliVue MX450
		"dev-d9ec829baa5c ICSMA-20-343-01 confirmed": 2, // GE Revolution EVO, every version
	} {
		if got[k] != n {
			t.Errorf("%s: %d matches, want %d (all: %v)", k, got[k], n, got)
		}
	}
	for _, r := range recs {
		if r.DeviceID == "dev-31634fa9e1ea" {
			t.Errorf("the PACS announces DCMTK 3.6.7 (fixed) but matched %s", r.ID)
		}
	}
}

// TestRiskCommand: the demo report of docs/risk.md is what the command
// prints (same command, same bytes), and the JSON and summaries hold.
func TestRiskCommand(t *testing.T) {
	store := demoStore(t)
	out, _, err := vigil(t, "risk", "--demo", "--store", store, "--markdown")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/risk.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), out) {
		t.Errorf("docs/risk.md does not hold the report 'vigil risk --demo --markdown' prints now:\n%s", out)
	}
	out, _, err = vigil(t, "risk", "--demo", "--store", store, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Formula string            `json:"formula"`
		Devices []risk.DeviceRisk `json:"devices"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	score := map[string]float64{}
	for _, d := range rep.Devices {
		score[d.Name] = d.Score
		if len(d.Factors) != 8 || d.Formula != risk.FormulaVersion {
			t.Errorf("%s: %d factors, formula %q", d.Name, len(d.Factors), d.Formula)
		}
	}
	if len(rep.Devices) != 14 || rep.Formula != risk.FormulaVersion {
		t.Errorf("%d devices, formula %q", len(rep.Devices), rep.Formula)
	}
	if !(score["INF-PUMP-02"] > score["INF-PUMP-01"] && score["MON-BED-02"] > score["MON-BED-01"]) {
		t.Errorf("the devices with anomalies do not rank above their twins: %v", score)
	}
	out, _, err = vigil(t, "risk", "--demo", "--store", store, "--by", "category")
	if err != nil || !strings.Contains(out, "infusion_pump       3") {
		t.Errorf("by category: %v\n%s", err, out)
	}
	if _, _, err := vigil(t, "risk", "--demo", "--by", "floor"); err == nil || !strings.Contains(err.Error(), "want department, site or category") {
		t.Errorf("--by floor: %v", err)
	}
	if _, _, err := vigil(t, "risk"); err == nil || !strings.Contains(err.Error(), "give one source") {
		t.Errorf("no source: %v", err)
	}
}
