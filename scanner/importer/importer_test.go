package importer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-health/vigil/internal/testshared"
	"github.com/vigil-health/vigil/scanner"
)

// TestEverySample imports every file of the shared scanners/ folder: the
// reports import with the expected counts, everything else fails with a
// message naming the file and what it is.
func TestEverySample(t *testing.T) {
	dir := filepath.Join(testshared.Dir(t), "integrations", "scanners")
	want := map[string][2]int{ // hosts, findings
		"nessus/nessus_with_cvssv3.nessus":         {1, 49},
		"nessus/nessus_with_cvssv3.trimmed.nessus": {1, 4},
		"openvas/one_vuln.xml":                     {1, 1},
		"openvas/report_detail_v2.xml":             {1, 1},
		"openvas/no_vuln.xml":                      {-1, 0},
		"nexpose/dns.xml":                          {1, 5},
		"nexpose/no_vuln.xml":                      {1, 1},
	}
	seen := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		seen++
		t.Run(rel, func(t *testing.T) {
			rep, err := File(path)
			w, isReport := want[rel]
			if !isReport {
				var fe *scanner.FormatError
				if err == nil || !errors.As(err, &fe) || !strings.Contains(err.Error(), rel) {
					t.Errorf("%s is no scan report but imported (%v) or failed unclearly: %v", rel, rep != nil, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (w[0] >= 0 && len(rep.Hosts) != w[0]) || len(rep.Findings) != w[1] {
				t.Errorf("%d hosts, %d findings; want %v", len(rep.Hosts), len(rep.Findings), w)
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < len(want)+8 {
		t.Errorf("walked %d files; the samples moved?", seen)
	}
}

func TestClearErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"", "empty file"},
		{`{"resources": []}`, "JSON, not XML"},
		{"host,cve\n", "not XML"},
		{`<?xml version="1.0"?><html/>`, "root element <html> is none of"},
	} {
		_, err := Read(strings.NewReader(tc.doc), "upload")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "upload") {
			t.Errorf("%q: err = %v, want %q", tc.doc, err, tc.want)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(`<NessusClientData_v2/>`))
	f.Add([]byte(`<report><report/></report>`))
	f.Add([]byte(`<NexposeReport/>`))
	f.Add([]byte(`{"a":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Read(strings.NewReader(string(data)), "fuzz")
		var fe *scanner.FormatError
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("error is not a FormatError: %v", err)
		}
	})
}
