package vuln_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/cpe"
	"github.com/vigil-health/vigil/vuln/feed"
	"github.com/vigil-health/vigil/vuln/version"
)

// full returns a store holding one sample of every kind.
func full(t *testing.T) *vuln.Store {
	t.Helper()
	d := vulndata(t)
	return loaded(t,
		filepath.Join(d, "nvd", "api2-full-page.json"), filepath.Join(d, "nvd", "api2-single-entry.json"),
		filepath.Join(d, "kev", "known_exploited_vulnerabilities.json"), filepath.Join(d, "epss", "vunnel-example-1.csv"),
		filepath.Join(d, "sbom", "cyclonedx", "cern-lhc-vdm-editor-bom.json"), filepath.Join(d, "sbom", "cyclonedx", "vex-fixed.json"),
		filepath.Join("feed", "testdata", "acme-ct-2.0.spdx.json"), filepath.Join("feed", "testdata", "acme-ct-2.0-vex.cdx.json"))
}

func write(t *testing.T, s *vuln.Store) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := s.WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := full(t)
	first := write(t, s)
	if !bytes.Equal(first, write(t, s)) {
		t.Fatal("two snapshots of the same store differ")
	}
	r := vuln.NewStore()
	if err := r.ReadSnapshot(bytes.NewReader(first)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s.Stats(), r.Stats()); diff != "" {
		t.Errorf("stats after reload (-want +got):\n%s", diff)
	}
	if !bytes.Equal(first, write(t, r)) {
		t.Error("the reloaded store writes another snapshot")
	}
	for _, id := range []string{"CVE-2022-1576", "CVE-2022-22377"} {
		a, _ := s.CVE(id)
		b, _ := r.CVE(id)
		if diff := cmp.Diff(a, b); diff != "" {
			t.Errorf("%s after reload (-want +got):\n%s", id, diff)
		}
	}
	if diff := cmp.Diff(s.Advisories(), r.Advisories()); diff != "" {
		t.Errorf("advisories after reload (-want +got):\n%s", diff)
	}
	ct := vuln.ModelRef{Vendor: "ACME Medical", Name: "CT Scanner", Version: "2.0"}
	if diff := cmp.Diff(s.AffectsModel(ct), r.AffectsModel(ct)); diff != "" || len(r.AffectsModel(ct)) != 2 {
		t.Errorf("findings after reload (-want +got):\n%s", diff)
	}
	if e, _ := r.EPSS("CVE-1999-0005"); e.Score != 0.91963 {
		t.Errorf("EPSS after reload: %+v", e)
	}
	if k, _ := r.KEVCatalog(); k.Version != "2025.08.25" {
		t.Errorf("KEV catalog after reload: %+v", k)
	}
}

func TestReadSnapshotKeepsDataOnError(t *testing.T) {
	s := full(t)
	before := write(t, s)
	for _, c := range []struct{ name, data, want string }{
		{"garbage", "not json", "read vulnerability snapshot: invalid character"},
		{"truncated", string(before[:len(before)/2]), "read vulnerability snapshot: unexpected EOF"},
		{"other format", `{"format": "something", "version": 1}`, `format "something", want "vigil-vuln-snapshot"`},
		{"newer version", `{"format": "vigil-vuln-snapshot", "version": 2}`, "version 2, this Vigil reads version 1"},
		{"CVE without ID", `{"format": "vigil-vuln-snapshot", "version": 1, "cves": [{"id": ""}]}`, "a CVE without ID"},
	} {
		err := s.ReadSnapshot(strings.NewReader(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if !bytes.Equal(before, write(t, s)) {
			t.Errorf("%s: a failed read changed the store", c.name)
		}
	}
}

// TestConfigurationCheck evaluates a real NVD AND configuration
// (CVE-2022-22377: IBM Security Verify Privilege On-Premises before 11.5,
// running on macOS or Windows).
func TestConfigurationCheck(t *testing.T) {
	s := full(t)
	c, ok := s.CVE("CVE-2022-22377")
	if !ok {
		t.Fatal("CVE-2022-22377 not held")
	}
	app := func(v string) cpe.Name {
		return cpe.MustParse("cpe:2.3:a:ibm:security_verify_privilege_on-premises:" + v + ":*:*:*:*:*:*:*")
	}
	windows := cpe.MustParse("cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*")
	linux := cpe.MustParse("cpe:2.3:o:linux:linux_kernel:5.10:*:*:*:*:*:*:*")
	for _, tc := range []struct {
		name     string
		platform []cpe.Name
		want     version.Verdict
	}{
		{"11.4 on Windows", []cpe.Name{app("11.4"), windows}, version.In},
		{"11.5 on Windows", []cpe.Name{app("11.5"), windows}, version.Out},
		{"11.4 on Linux", []cpe.Name{app("11.4"), linux}, version.Out},
		{"11.4 alone", []cpe.Name{app("11.4")}, version.Out},
		{"Windows alone", []cpe.Name{windows}, version.Out},
		{"unknown version on Windows", []cpe.Name{app("*"), windows}, version.Maybe},
	} {
		if got := c.Check(tc.platform); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	// A CVE awaiting analysis has no configuration: it affects nothing
	// known.
	for _, c := range s.CVEs() {
		if c.Status == "Awaiting Analysis" && c.Check([]cpe.Name{windows}) != version.Out {
			t.Errorf("%s awaiting analysis matched", c.ID)
		}
	}
}

// TestModelVEXOnProduct: a VEX statement about a whole product (not a
// component) clears a bare product lookup.
func TestModelVEXOnProduct(t *testing.T) {
	s := loaded(t)
	vex := `{"bomFormat": "CycloneDX", "specVersion": "1.4", "version": 1,
  "metadata": {"component": {"type": "library", "bom-ref": "dcmtk", "name": "DCMTK", "version": "3.6.6", "supplier": {"name": "OFFIS"}}},
  "vulnerabilities": [{"id": "CVE-2022-2119", "analysis": {"state": "not_affected", "justification": "code_not_reachable"}, "affects": [{"ref": "dcmtk"}]}]}`
	im := &feed.Importer{Store: s}
	if _, err := im.Import("dcmtk-vex.json", strings.NewReader(vex), feed.Options{}); err != nil {
		t.Fatal(err)
	}
	got := summary(s.Affects(vuln.ProductRef{Vendor: "OFFIS", Name: "DCMTK"}, "3.6.6"))
	want := lines("ICSMA-22-174-01", "confirmed", "CVE-2022-2120", "CVE-2022-2121")
	if !cmp.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// Another version of DCMTK is not covered by the statement.
	if n := len(s.Affects(vuln.ProductRef{Name: "DCMTK"}, "3.6.5")); n != 3 {
		t.Errorf("DCMTK 3.6.5: %d findings, want 3", n)
	}
}

// TestConcurrentReadsAndImports reads while importing: every read sees a
// whole import or none (run with -race).
func TestConcurrentReadsAndImports(t *testing.T) {
	s := vuln.NewStore()
	im := &feed.Importer{Store: s, Now: func() time.Time { return time.Unix(0, 0) }}
	files, _ := filepath.Glob(filepath.Join(vulndata(t), "csaf", "icsma", "*.json"))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, f := range files {
			if _, err := im.ImportFile(f, feed.Options{}); err != nil {
				t.Error(err)
			}
		}
	}()
	for i := 0; i < 200; i++ {
		for _, f := range s.Affects(vuln.ProductRef{Name: "DCMTK"}, "3.6.6") {
			if f.Advisory != "ICSMA-22-174-01" {
				t.Errorf("finding %+v", f)
			}
		}
		if n := len(s.Affects(vuln.ProductRef{Name: "DCMTK"}, "3.6.6")); n != 0 && n != 3 {
			t.Errorf("%d findings: half an advisory", n)
		}
		_ = s.Stats()
	}
	wg.Wait()
}
