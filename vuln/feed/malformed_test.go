package feed_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/feed"
)

// readSample reads a shared sample.
func readSample(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(vulndata(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// replace replaces old by new in data exactly n times (n < 0: all),
// failing when old is not there, so the mutations stay true to the
// samples.
func replace(t *testing.T, data []byte, old, new string, n int) []byte {
	t.Helper()
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%q is not in the sample", old)
	}
	return bytes.Replace(data, []byte(old), []byte(new), n)
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func snapshot(t *testing.T, s *vuln.Store) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := s.WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestMalformedKeepsData imports broken versions of the samples into a
// store holding all of them: each is refused with its problems located
// (file, JSON path or line, what is wrong) and the store is unchanged,
// byte for byte.
func TestMalformedKeepsData(t *testing.T) {
	im, s := newImporter()
	importAll(t, im)
	before := snapshot(t, s)
	dcmtk := readSample(t, "csaf/icsma/icsma-22-174-01.json")
	nvd := readSample(t, "nvd/api2-full-page.json")
	kev := readSample(t, "kev/known_exploited_vulnerabilities.json")
	epss := readSample(t, "epss/vunnel-example-1.csv")
	vexNA := readSample(t, "csaf/oasis-examples/2022-evd-uc-01-na-001.json")
	cdxVEX := readSample(t, "sbom/cyclonedx/vex-not_affected.json")

	for _, c := range []struct {
		name string
		data []byte
		// want are parts of the error message, in order.
		want  []string
		errIs error
	}{
		{"empty.json", nil, []string{"empty.json: empty input"}, feed.ErrUnknownFormat},
		{"truncated-nvd.json", nvd[:len(nvd)/2], []string{"truncated-nvd.json: line ", "invalid JSON: unexpected end of JSON input"}, feed.ErrUnknownFormat},
		{"nvd-bad-id.json", replace(t, nvd, `"id": "CVE-2023-27314"`, `"id": "CVE-22-1"`, 1),
			[]string{"(NVD CVE API 2.0): ", `$.vulnerabilities[0].cve.id: "CVE-22-1" is not a CVE ID`}, nil},
		{"nvd-bad-cpe.json", replace(t, nvd, `"cpe:2.3:a:ibm:security_verify_privilege_on-premises:*:*:*:*:*:*:*:*"`, `"cpe:2.3:a:ibm"`, 1),
			[]string{`$.vulnerabilities[6].cve.configurations[0].nodes[0].cpeMatch[0].criteria: invalid CPE name "cpe:2.3:a:ibm": 4 components, want 13`}, nil},
		{"nvd-score-as-text.json", replace(t, nvd, `"baseScore": 7.5`, `"baseScore": "7.5"`, 1),
			[]string{"line 42 column ", "$.vulnerabilities.cve.metrics.cvssMetricV31.cvssData.baseScore: JSON string where a number was expected"}, nil},
		{"nvd-bad-vector.json", replace(t, nvd, `"CVSS:3.1\/AV:N\/AC:L`, `"CVSS:3.1\/AV:X\/AC:L`, 1),
			[]string{`$.vulnerabilities[0].cve.metrics.cvssMetricV31[0].cvssData.vectorString: "CVSS:3.1/AV:X/`, "metric 1 is \"AV:X\", want AV:[NALP]"}, nil},
		{"nvd-two-problems.json", replace(t, replace(t, nvd, `"format": "NVD_CVE"`, `"format": "NVD_CPE"`, 1), `"published": "2023-10-12T19:15:11.747"`, `"published": "June 2nd"`, 1),
			[]string{"2 problems: ", `$.format: is "NVD_CPE"`, `$.vulnerabilities[0].cve.published: "June 2nd" is not an RFC 3339 date`}, nil},
		{"icsma-undefined-product.json", replace(t, dcmtk, `"known_affected": [
          "CSAFPID-0001"
        ]`, `"known_affected": [
          "CSAFPID-0009"
        ]`, 1),
			[]string{"(CSAF 2.0): ", `$.vulnerabilities[0].product_status.known_affected[0]: product ID "CSAFPID-0009" is not defined in the product tree (6.1.1)`}, nil},
		{"icsma-bad-document.json", replace(t, replace(t, dcmtk, `"csaf_version": "2.0"`, `"csaf_version": "1.2"`, 1), `"id": "ICSMA-22-174-01"`, `"id": ""`, 1),
			[]string{"2 problems: ", `$.document.csaf_version: is "1.2", want "2.0"`, "$.document.tracking.id: missing"}, nil},
		{"icsma-bad-remediation.json", replace(t, dcmtk, `"category": "vendor_fix"`, `"category": "upgrade"`, 1),
			[]string{`$.vulnerabilities[0].remediations[0].category: is "upgrade", want one of mitigation, no_fix_planned, none_available, vendor_fix, workaround`}, nil},
		{"vex-without-impact.json", replace(t, vexNA, `"category": "impact"`, `"category": "exploit_status"`, 1),
			[]string{`$.vulnerabilities[0].product_status.known_not_affected[0]: "CSAFPID-0001" has no impact statement: a flag or a threat of category impact (6.1.27.9)`}, nil},
		{"kev-bad-date.json", replace(t, kev, `"dateAdded": "2025-08-25"`, `"dateAdded": "2025/08/25"`, 1),
			[]string{"(CISA KEV): ", `$.vulnerabilities[0].dateAdded: "2025/08/25" is not a date (YYYY-MM-DD)`}, nil},
		{"kev-ransomware.json", replace(t, kev, `"knownRansomwareCampaignUse": "Unknown"`, `"knownRansomwareCampaignUse": "Maybe"`, 1),
			[]string{`$.vulnerabilities[0].knownRansomwareCampaignUse: is "Maybe", want Known or Unknown`}, nil},
		{"epss-bad-row.csv", replace(t, epss, "CVE-1999-0003,0.04409", "CVE-1999-0003,1.5", 1),
			[]string{"(FIRST EPSS CSV): line 5, epss: \"1.5\" is not a number from 0 to 1"}, nil},
		{"epss-short-row.csv.gz", gz(t, replace(t, epss, "CVE-1999-0002,0.01328,0.85996", "CVE-1999-0002,0.01328", 1)),
			[]string{"line 4 column 1: CSV: wrong number of fields"}, nil},
		{"epss-bad-gzip.csv.gz", gz(t, epss)[:30], []string{"epss-bad-gzip.csv.gz: gzip: unexpected EOF"}, nil},
		{"cdx-unknown-ref.json", replace(t, cdxVEX, `"ref": "product-ABC"`, `"ref": "product-XYZ"`, 1),
			[]string{"(CycloneDX): ", `$.vulnerabilities[0].affects[0].ref: "product-XYZ" is no bom-ref of this document`}, nil},
		{"cdx-bad-state.json", replace(t, cdxVEX, `"state": "not_affected"`, `"state": "fine"`, 1),
			[]string{`$.vulnerabilities[0].analysis.state: is "fine"`}, nil},
		{"array.json", []byte(`[{"cve": "CVE-2020-0001"}]`), []string{"a JSON array"}, feed.ErrUnknownFormat},
		{"osv.json", []byte(`{"id": "GHSA-xxxx", "affected": []}`), []string{"neither NVD CVE API 2.0, CSAF 2.0"}, feed.ErrUnknownFormat},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := im.Import(c.name, bytes.NewReader(c.data), feed.Options{})
			if err == nil {
				t.Fatal("imported; want an error")
			}
			msg := err.Error()
			t.Log(msg)
			rest := msg
			for _, w := range c.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error %q does not say %q (in order)", msg, w)
				}
				rest = rest[i+len(w):]
			}
			var fe *feed.Error
			if !errors.As(err, &fe) || fe.File != c.name || len(fe.Problems) == 0 {
				t.Errorf("error %#v: want a *feed.Error naming %s with its problems", err, c.name)
			}
			if c.errIs != nil && !errors.Is(err, c.errIs) {
				t.Errorf("error %v is not %v", err, c.errIs)
			}
			if after := snapshot(t, s); !bytes.Equal(before, after) {
				t.Errorf("the store changed:\n%s", cmp.Diff(string(before), string(after)))
			}
		})
	}
}

// TestStaleRefused: a KEV catalog or EPSS day older than the one held is
// refused whole, and the newer data stays.
func TestStaleRefused(t *testing.T) {
	im, s := newImporter()
	if _, err := im.ImportFile(filepath.Join(vulndata(t), "kev/known_exploited_vulnerabilities.json"), feed.Options{}); err != nil {
		t.Fatal(err)
	}
	_, err := im.ImportFile(filepath.Join(vulndata(t), "kev/vunnel-valid-catalog-1.json"), feed.Options{})
	if !errors.Is(err, vuln.ErrStale) || !strings.Contains(err.Error(), "KEV catalog 2025.02.19 (released 2025-02-19): older than the data held: catalog 2025.08.25") {
		t.Errorf("older catalog: %v", err)
	}
	if st := s.Stats(); st.KEVEntries != 1404 {
		t.Errorf("%d KEV entries after a refused older catalog, want 1404", st.KEVEntries)
	}

	epss := readSample(t, "epss/vunnel-example-1.csv")
	if _, err := im.Import("today.csv", bytes.NewReader(epss), feed.Options{}); err != nil {
		t.Fatal(err)
	}
	older := replace(t, epss, "score_date:2025-02-20", "score_date:2025-02-19", 1)
	older = replace(t, older, "CVE-1999-0001,0.00383", "CVE-1999-0001,0.5", 1)
	if _, err := im.Import("yesterday.csv", bytes.NewReader(older), feed.Options{}); !errors.Is(err, vuln.ErrStale) {
		t.Errorf("older EPSS day: %v", err)
	}
	if e, _ := s.EPSS("CVE-1999-0001"); e.Score != 0.00383 {
		t.Errorf("EPSS of CVE-1999-0001 is %v after a refused older day", e.Score)
	}
	// The same day again, corrected, replaces it.
	same := replace(t, epss, "CVE-1999-0001,0.00383", "CVE-1999-0001,0.004", 1)
	if _, err := im.Import("today-again.csv.gz", bytes.NewReader(gz(t, same)), feed.Options{}); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.EPSS("CVE-1999-0001"); e.Score != 0.004 {
		t.Errorf("EPSS of CVE-1999-0001 is %v after the gzipped re-import", e.Score)
	}
}

// TestNewerWins: CVE records and advisories replace older ones only.
func TestNewerWins(t *testing.T) {
	im, s := newImporter()
	single := readSample(t, "nvd/api2-single-entry.json")
	if _, err := im.Import("single.json", bytes.NewReader(single), feed.Options{}); err != nil {
		t.Fatal(err)
	}
	older := replace(t, single, `"lastModified": "2024-11-21T06:41:00.133"`, `"lastModified": "2023-01-01T00:00:00.000"`, 1)
	older = replace(t, older, `"baseScore": 6.5`, `"baseScore": 9.9`, 1)
	res, err := im.Import("older.json", bytes.NewReader(older), feed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.CVEsKept != 1 || res.Summary.CVEsUpdated != 0 {
		t.Errorf("older record: %+v", res.Summary)
	}
	if c, _ := s.CVE("CVE-2022-1576"); c.CVSS[0].BaseScore != 6.5 {
		t.Errorf("an older record replaced the newer one")
	}
	newer := replace(t, single, `"lastModified": "2024-11-21T06:41:00.133"`, `"lastModified": "2025-01-01T00:00:00.000"`, 1)
	newer = replace(t, newer, `"baseScore": 6.5`, `"baseScore": 7.1`, 1)
	if res, err = im.Import("newer.json", bytes.NewReader(newer), feed.Options{}); err != nil || res.Summary.CVEsUpdated != 1 {
		t.Fatalf("newer record: %+v, %v", res.Summary, err)
	}
	if c, _ := s.CVE("CVE-2022-1576"); c.CVSS[0].BaseScore != 7.1 {
		t.Errorf("the newer record was not taken")
	}

	dcmtk := readSample(t, "csaf/icsma/icsma-22-174-01.json")
	if _, err := im.Import("dcmtk.json", bytes.NewReader(dcmtk), feed.Options{}); err != nil {
		t.Fatal(err)
	}
	old := replace(t, dcmtk, `"current_release_date": "2022-06-23T00:00:00.000000Z"`, `"current_release_date": "2022-06-22T00:00:00.000000Z"`, 1)
	old = replace(t, old, `"initial_release_date": "2022-06-23T00:00:00.000000Z"`, `"initial_release_date": "2022-06-22T00:00:00.000000Z"`, 1)
	old = replace(t, old, `"title": "OFFIS DCMTK"`, `"title": "Old title"`, 1)
	if res, err = im.Import("dcmtk-old.json", bytes.NewReader(old), feed.Options{}); err != nil || res.Summary.AdvisoriesKept != 1 {
		t.Fatalf("older advisory: %+v, %v", res.Summary, err)
	}
	if a, _ := s.Advisory("ICSMA-22-174-01"); a.Title != "OFFIS DCMTK" {
		t.Errorf("an older revision replaced the advisory: %q", a.Title)
	}
}
