package feed_test

import (
	"bufio"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/internal/testshared"
	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/cpe"
	"github.com/vigil-health/vigil/vuln/feed"
)

// vulndata returns the shared vulnerability samples directory.
func vulndata(t testing.TB) string {
	t.Helper()
	return filepath.Join(testshared.Dir(t), "integrations", "vulndata")
}

// fixedNow stamps imports in tests.
var fixedNow = func() time.Time { return time.Date(2025, 9, 1, 12, 0, 0, 0, time.UTC) }

func newImporter() (*feed.Importer, *vuln.Store) {
	s := vuln.NewStore()
	return &feed.Importer{Store: s, Now: fixedNow}, s
}

// sample is one shared file and what importing it into an empty store
// gives.
type sample struct {
	format feed.Format
	// stats expected after the import (Imports is 1 when it succeeds).
	stats vuln.Stats
	// err, when set, is part of the message of the expected error;
	// errIs its cause.
	err   string
	errIs error
	// warnings counts the warnings expected.
	warnings int
	check    func(t *testing.T, s *vuln.Store)
}

func advisory(id string, products, vulns int, extra func(t *testing.T, a *vuln.Advisory)) func(*testing.T, *vuln.Store) {
	return func(t *testing.T, s *vuln.Store) {
		t.Helper()
		a, ok := s.Advisory(id)
		if !ok {
			t.Fatalf("advisory %s not held", id)
		}
		if len(a.Products) != products || len(a.Vulnerabilities) != vulns {
			t.Errorf("%s: %d products and %d vulnerabilities, want %d and %d", id, len(a.Products), len(a.Vulnerabilities), products, vulns)
		}
		if extra != nil {
			extra(t, a)
		}
	}
}

// samples lists every file of ../shared/integrations/vulndata (see its
// MANIFEST.tsv) by path relative to it.
var samples = map[string]sample{
	"csaf/icsma/icsma-19-022-01.json": {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1}, warnings: 1,
		check: advisory("ICSMA-19-022-01", 4, 3, nil)},
	"csaf/icsma/icsma-20-023-01.json": {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1}, warnings: 3,
		check: advisory("ICSMA-20-023-01", 11, 6, nil)},
	"csaf/icsma/icsma-20-049-01.json": {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1}, warnings: 1,
		check: advisory("ICSMA-20-049-01", 10, 1, nil)},
	"csaf/icsma/icsma-20-254-01.json": {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1},
		check: advisory("ICSMA-20-254-01", 9, 8, func(t *testing.T, a *vuln.Advisory) {
			if s, _ := a.Vulnerabilities[0].ScoreFor("CSAFPID-0005"); s.Version != "3.1" {
				t.Errorf("ICSMA-20-254-01 scores CVSS %s, want 3.1", s.Version)
			}
		})},
	"csaf/icsma/icsma-20-343-01.json": {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1}, warnings: 6,
		check: advisory("ICSMA-20-343-01", 107, 2, nil)},
	"csaf/icsma/icsma-21-294-01.json": {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1},
		check: advisory("ICSMA-21-294-01", 5, 5, nil)},
	"csaf/icsma/icsma-21-313-01.json": {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1}, warnings: 1,
		check: advisory("ICSMA-21-313-01", 2, 3, nil)},
	"csaf/icsma/icsma-22-174-01.json": {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1},
		check: advisory("ICSMA-22-174-01", 1, 3, func(t *testing.T, a *vuln.Advisory) {
			p := a.Products[0]
			want := vuln.Product{ID: "CSAFPID-0001", Name: "DCMTK: All versions prior to 3.6.7", Vendor: "OFFIS", Family: "DCMTK",
				Version: "< 3.6.7", VersionIsRange: true}
			if diff := cmp.Diff(want, p); diff != "" {
				t.Errorf("DCMTK product (-want +got):\n%s", diff)
			}
			v := a.Vulnerabilities[0]
			if v.CVE != "CVE-2022-2119" || v.CWE != "CWE-22" || len(v.Remediations) != 1 || v.Remediations[0].FixedIn != "3.6.7" {
				t.Errorf("first vulnerability: %+v", v)
			}
			if s, _ := v.ScoreFor("CSAFPID-0001"); s.BaseScore != 7.5 || s.Vector != "CVSS:3.0/AV:A/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H" {
				t.Errorf("CVE-2022-2119 score: %+v", s)
			}
		})},
	"csaf/icsma/icsma-22-244-01.json": {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1}, warnings: 1,
		check: advisory("ICSMA-22-244-01", 1, 5, nil)},
	"csaf/icsma/icsma-22-251-01.json": {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1}, warnings: 9,
		check: advisory("ICSMA-22-251-01", 6, 4, nil)},
	"csaf/icsma/icsma-23-194-01.json": {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1},
		check: advisory("ICSMA-23-194-01", 6, 8, nil)},
	"csaf/icsma/icsma-24-151-02.json": {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1},
		check: advisory("ICSMA-24-151-02", 1, 1, func(t *testing.T, a *vuln.Advisory) {
			want := vuln.CVSS{Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:N", BaseScore: 7.4, Severity: "HIGH", Source: "CISA"}
			if got, _ := a.Vulnerabilities[0].ScoreFor("CSAFPID-0001"); got != want {
				t.Errorf("CVE-2024-1275 score %+v, want %+v", got, want)
			}
		})},
	"csaf/oasis-examples/bsi-2022-0001.json": {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1},
		check: advisory("BSI-2022-0001", 6, 1, func(t *testing.T, a *vuln.Advisory) {
			p, _ := a.Product("CSAFPID-0006")
			if p.CPE != "cpe:/a:csaf-tools:cvrf-csaf-converter:1.0.0-rc2" || p.Version != "1.0.0-rc2" {
				t.Errorf("product with a CPE helper: %+v", p)
			}
			if st := a.Vulnerabilities[0].Status.Status("CSAFPID-0006"); st != vuln.Fixed {
				t.Errorf("CSAFPID-0006 is %q, want fixed", st)
			}
		})},
	"csaf/oasis-examples/2022-evd-uc-01-a-001.json":  {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1, VEXStatements: 1}, check: vexStatus("CVE-2021-44228", vuln.Affected)},
	"csaf/oasis-examples/2022-evd-uc-01-f-001.json":  {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1, VEXStatements: 1}, check: vexStatus("CVE-2021-44228", vuln.Fixed)},
	"csaf/oasis-examples/2022-evd-uc-01-na-001.json": {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1, VEXStatements: 1}, check: vexStatus("CVE-2021-44228", vuln.NotAffected)},
	"csaf/oasis-examples/2022-evd-uc-01-ui-001.json": {format: feed.FormatCSAF, stats: vuln.Stats{Advisories: 1, VEXStatements: 1}, check: vexStatus("CVE-2021-44228", vuln.UnderInvestigation)},
	// Discovery documents and schemas are not data: refused, saying why.
	"csaf/oasis-examples/provider-metadata-example-01.json": {format: feed.FormatCSAFProvider, errIs: feed.ErrNotData, err: "import it with ImportProvider"},
	"csaf/schema/csaf_json_schema_2.0.json":                 {errIs: feed.ErrNotData, err: `a JSON schema ("Common Security Advisory Framework"), not data`},
	"kev/known_exploited_vulnerabilities_schema.json":       {errIs: feed.ErrNotData, err: "a JSON schema"},
	"osv/osv-schema.json":                                   {errIs: feed.ErrNotData, err: `a JSON schema ("Open Source Vulnerability"), not data`},
	// The two deliberately malformed EPSS files (MANIFEST: "negative test").
	"epss/vunnel-invalid-header.csv": {format: feed.FormatEPSS,
		err: `(FIRST EPSS CSV): line 2: the header must name the columns cve, epss and percentile; it is "invalid,header,format"`},
	"epss/vunnel-missing-date.csv": {format: feed.FormatEPSS, err: "line 1, score_date: missing from the #model_version line"},
	"epss/vunnel-example-1.csv": {format: feed.FormatEPSS, stats: vuln.Stats{EPSSRows: 5}, check: func(t *testing.T, s *vuln.Store) {
		set, _ := s.EPSSSet()
		e, _ := s.EPSS("CVE-1999-0005")
		want := vuln.EPSS{Score: 0.91963, Percentile: 0.99214, Date: time.Date(2025, 2, 20, 0, 0, 0, 0, time.UTC)}
		if set.ModelVersion != "v2023.03.01" || !set.Date.Equal(want.Date) || e != want {
			t.Errorf("EPSS set %+v, CVE-1999-0005 %+v", set, e)
		}
	}},
	"kev/known_exploited_vulnerabilities.json": {format: feed.FormatKEV, stats: vuln.Stats{KEVEntries: 1404}, check: func(t *testing.T, s *vuln.Store) {
		cat, _ := s.KEVCatalog()
		if cat.Version != "2025.08.25" || cat.Count != 1404 {
			t.Errorf("catalog %+v", cat)
		}
		e, _ := s.KEV("CVE-2023-43208") // the one healthcare entry: Mirth Connect
		if e.Vendor != "NextGen Healthcare" || e.Ransomware != "Known" || e.DateAdded.Format(time.DateOnly) != "2024-05-20" ||
			e.DueDate.Format(time.DateOnly) != "2024-06-10" || !slices.Equal(e.CWEs, []string{"CWE-502"}) {
			t.Errorf("CVE-2023-43208: %+v", e)
		}
	}},
	"kev/vunnel-valid-catalog-1.json": {format: feed.FormatKEV, stats: vuln.Stats{KEVEntries: 3}, warnings: 1},
	"nvd/api2-single-entry.json": {format: feed.FormatNVD, stats: vuln.Stats{CVEs: 1}, check: func(t *testing.T, s *vuln.Store) {
		c, _ := s.CVE("CVE-2022-1576")
		score, _ := c.Score()
		if score.BaseScore != 6.5 || score.Vector != "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:H/A:N" || !slices.Equal(c.CWEs, []string{"CWE-352"}) {
			t.Errorf("CVE-2022-1576: score %+v, CWEs %v", score, c.CWEs)
		}
		m := c.Configurations[0].Nodes[0].Matches[0]
		if m.Criteria != cpe.MustParse(`cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:*:*:*:*:*:wordpress:*:*`) || m.EndExcluding != "2.4.5" {
			t.Errorf("CVE-2022-1576 criterion: %+v", m)
		}
		if !strings.HasPrefix(c.Description("en"), "The WP Maintenance Mode & Coming Soon") || !strings.HasPrefix(c.Description("es"), "El plugin") {
			t.Errorf("descriptions: %q", c.Descriptions)
		}
	}},
	"nvd/api2-full-page.json": {format: feed.FormatNVD, stats: vuln.Stats{CVEs: 38}, check: func(t *testing.T, s *vuln.Store) {
		analysed, awaiting := 0, 0
		for _, c := range s.CVEs() {
			switch {
			case c.Status == "Awaiting Analysis" && len(c.Configurations) == 0:
				awaiting++
			case len(c.Configurations) > 0:
				analysed++
			}
		}
		if analysed != 25 || awaiting != 13 {
			t.Errorf("%d CVEs with configurations and %d awaiting analysis without, want 25 and 13", analysed, awaiting)
		}
	}},
	"sbom/cyclonedx/cern-lhc-vdm-editor-bom.json": {format: feed.FormatCycloneDX, stats: vuln.Stats{SBOMs: 1, Components: 43}, check: func(t *testing.T, s *vuln.Store) {
		sb, ok := s.SBOM(vuln.ModelRef{Name: "lhc-vdm-editor", Version: "0.0.1"})
		if !ok || sb.Format != "CycloneDX 1.2" || sb.Components[0].PURL != "pkg:npm/puppeteer@1.19.0" {
			t.Errorf("SBOM: %+v", sb)
		}
	}},
	"sbom/cyclonedx/vex-affected.json":            {format: feed.FormatCycloneDX, stats: vuln.Stats{VEXStatements: 1}, warnings: 1, check: vexStatus("CVE-2021-44228", vuln.Affected)},
	"sbom/cyclonedx/vex-fixed.json":               {format: feed.FormatCycloneDX, stats: vuln.Stats{VEXStatements: 1}, warnings: 1, check: vexStatus("CVE-2021-44228", vuln.Fixed)},
	"sbom/cyclonedx/vex-not_affected.json":        {format: feed.FormatCycloneDX, stats: vuln.Stats{VEXStatements: 1}, warnings: 1, check: vexStatus("CVE-2021-44228", vuln.NotAffected)},
	"sbom/cyclonedx/vex-under_investigation.json": {format: feed.FormatCycloneDX, stats: vuln.Stats{VEXStatements: 1}, warnings: 1, check: vexStatus("CVE-2021-44228", vuln.UnderInvestigation)},
}

func vexStatus(id string, want vuln.Status) func(*testing.T, *vuln.Store) {
	return func(t *testing.T, s *vuln.Store) {
		t.Helper()
		st := s.VEX(id)
		if len(st) != 1 || st[0].Status != want {
			t.Errorf("VEX statements on %s: %+v, want one %s", id, st, want)
		}
	}
}

// TestSamplesListed keeps the table honest: every file of the shared
// directory and of its MANIFEST.tsv has a row, and every row a file.
func TestSamplesListed(t *testing.T) {
	dir := vulndata(t)
	onDisk := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "MANIFEST.tsv" {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		onDisk[filepath.ToSlash(rel)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inManifest := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		local, _, _ := strings.Cut(sc.Text(), "\t")
		if rel, ok := strings.CutPrefix(local, "../shared/integrations/vulndata/"); ok {
			inManifest[rel] = true
		}
	}
	for rel := range onDisk {
		if _, ok := samples[rel]; !ok {
			t.Errorf("%s is a shared sample without a row in the test table", rel)
		}
		if !inManifest[rel] {
			t.Errorf("%s is not in MANIFEST.tsv", rel)
		}
	}
	for rel := range samples {
		if !onDisk[rel] {
			t.Errorf("the test table lists %s, which is not in %s", rel, dir)
		}
	}
}

// TestSamples imports every shared sample into an empty store.
func TestSamples(t *testing.T) {
	dir := vulndata(t)
	for _, rel := range slices.Sorted(maps.Keys(samples)) {
		want := samples[rel]
		t.Run(rel, func(t *testing.T) {
			path := filepath.Join(dir, filepath.FromSlash(rel))
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if f, _ := feed.Detect(data); f != want.format {
				t.Errorf("Detect = %q, want %q", f, want.format)
			}
			im, s := newImporter()
			res, err := im.ImportFile(path, feed.Options{})
			if want.err != "" || want.errIs != nil {
				var fe *feed.Error
				switch {
				case err == nil:
					t.Fatalf("imported; want an error saying %q", want.err)
				case !errors.As(err, &fe):
					t.Errorf("error %T (%v), want a *feed.Error", err, err)
				case !strings.Contains(err.Error(), want.err) || !strings.HasPrefix(err.Error(), path):
					t.Errorf("error %q, want it to name the file and say %q", err, want.err)
				}
				if want.errIs != nil && !errors.Is(err, want.errIs) {
					t.Errorf("error %v is not %v", err, want.errIs)
				}
				if diff := cmp.Diff(vuln.Stats{}, s.Stats()); diff != "" {
					t.Errorf("a refused file changed the store (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			wantStats := want.stats
			wantStats.Imports = 1
			if diff := cmp.Diff(wantStats, s.Stats()); diff != "" {
				t.Errorf("store after import (-want +got):\n%s", diff)
			}
			if len(res.Warnings) != want.warnings {
				t.Errorf("%d warnings, want %d:", len(res.Warnings), want.warnings)
				for _, w := range res.Warnings {
					t.Logf("  %s", w)
				}
			}
			if res.Summary.Source.SHA256 == "" || res.Summary.Source.Format != string(want.format) || !res.Summary.Source.ImportedAt.Equal(fixedNow()) {
				t.Errorf("source: %+v", res.Summary.Source)
			}
			if want.check != nil {
				want.check(t, s)
			}
		})
	}
}

// importAll imports the shared samples into one store: the older
// KEV catalog before the newer.
func importAll(t *testing.T, im *feed.Importer) {
	t.Helper()
	dir := vulndata(t)
	rels := slices.Sorted(maps.Keys(samples))
	slices.SortStableFunc(rels, func(a, b string) int {
		// vunnel-valid-catalog-1 (2025.02.19) before the full catalog (2025.08.25)
		return boolInt(strings.Contains(b, "vunnel-valid-catalog")) - boolInt(strings.Contains(a, "vunnel-valid-catalog"))
	})
	for _, rel := range rels {
		if samples[rel].err != "" || samples[rel].errIs != nil {
			continue
		}
		if _, err := im.ImportFile(filepath.Join(dir, filepath.FromSlash(rel)), feed.Options{}); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestAllSamplesOneStore imports every importable sample into one store
// and counts what it holds.
func TestAllSamplesOneStore(t *testing.T) {
	im, s := newImporter()
	importAll(t, im)
	want := vuln.Stats{CVEs: 39, Advisories: 17, KEVEntries: 1404, EPSSRows: 5, SBOMs: 1, Components: 43, VEXStatements: 8, Imports: 27}
	if diff := cmp.Diff(want, s.Stats()); diff != "" {
		t.Errorf("store (-want +got):\n%s", diff)
	}
}
