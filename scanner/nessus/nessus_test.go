package nessus

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/internal/testshared"
	"github.com/vigil-health/vigil/scanner"
)

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testshared.Dir(t), "integrations", "scanners", "nessus", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSamples(t *testing.T) {
	for _, tc := range []struct {
		file     string
		findings int
	}{
		{"nessus_with_cvssv3.nessus", 49},
		{"nessus_with_cvssv3.trimmed.nessus", 4},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rep, err := Parse(bytes.NewReader(sample(t, tc.file)), tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Hosts) != 1 || len(rep.Findings) != tc.findings {
				t.Fatalf("%d hosts, %d findings; want 1, %d", len(rep.Hosts), len(rep.Findings), tc.findings)
			}
			h := rep.Hosts[0]
			if h.Address == "" || h.Start.IsZero() || h.End.IsZero() || h.End.Before(h.Start) {
				t.Errorf("host = %+v", h)
			}
			var php *scanner.Finding
			for i := range rep.Findings {
				if rep.Findings[i].Check == "17797" {
					php = &rep.Findings[i]
				}
			}
			if php == nil {
				t.Fatal("plugin 17797 missing")
			}
			if php.Severity != "high" || php.CVSS != 7.5 || php.CVSSVector != "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N" ||
				php.Port != 80 || php.Protocol != "tcp" || php.CPE != "cpe:/a:php:php" || len(php.CVEs) == 0 ||
				php.CVEs[0] != "CVE-2007-1001" || php.Title != "PHP 5.x < 5.2.2 Multiple vulnerabilities" {
				t.Errorf("plugin 17797 = %+v", *php)
			}
		})
	}
}

func TestHostProperties(t *testing.T) {
	doc := `<?xml version="1.0" ?><NessusClientData_v2><Report name="ward"><ReportHost name="10.20.0.150">
<HostProperties><tag name="host-ip">10.20.0.150</tag><tag name="mac-address">00:14:22:B7:3E:5A
00:14:22:B7:3E:5B</tag><tag name="netbios-name">WS-NURSE-01</tag><tag name="HOST_END_TIMESTAMP">1767600000</tag></HostProperties>
<ReportItem port="0" svc_name="general" protocol="tcp" severity="0" pluginID="19506" pluginName="Nessus Scan Information" pluginFamily="Settings"/>
<ReportItem port="445" svc_name="cifs" protocol="tcp" severity="4" pluginID="97833" pluginName="MS17-010" pluginFamily="Windows">
<cve>cve-2017-0143</cve><cve>CVE-2017-0143</cve><cvss_base_score>10.0</cvss_base_score><cvss_vector>CVSS2#AV:N/AC:L/Au:N/C:C/I:C/A:C</cvss_vector></ReportItem>
</ReportHost></Report></NessusClientData_v2>`
	rep, err := Parse(strings.NewReader(doc), "ward.nessus")
	if err != nil {
		t.Fatal(err)
	}
	want := []scanner.Finding{
		{Scanner: "nessus", Source: "ward.nessus", Host: "10.20.0.150", MAC: "00:14:22:b7:3e:5a", Hostname: "WS-NURSE-01",
			Check: "19506", Title: "Nessus Scan Information", Severity: "info", Protocol: "tcp", Seen: time.Unix(1767600000, 0).UTC()},
		{Scanner: "nessus", Source: "ward.nessus", Host: "10.20.0.150", MAC: "00:14:22:b7:3e:5a", Hostname: "WS-NURSE-01",
			Check: "97833", Title: "MS17-010", CVEs: []string{"CVE-2017-0143"}, Severity: "critical", CVSS: 10,
			CVSSVector: "CVSS2#AV:N/AC:L/Au:N/C:C/I:C/A:C", Port: 445, Protocol: "tcp", Seen: time.Unix(1767600000, 0).UTC()},
	}
	if diff := cmp.Diff(want, rep.Findings); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestMalformed(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"not nessus", `<NessusClientData><Report/></NessusClientData>`, "root element is <NessusClientData>"},
		{"truncated", `<NessusClientData_v2><Report name="x"><ReportHost name="h"><HostProperties>`, "ReportHost"},
		{"bad severity", `<NessusClientData_v2><Report><ReportHost name="h"><ReportItem severity="9" pluginID="1"/></ReportHost></Report></NessusClientData_v2>`, `severity "9"`},
		{"empty", ``, "empty document"},
		{"html", `<html><body>login</body></html>`, "root element is <html>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.doc), "bad.nessus")
			var fe *scanner.FormatError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bad.nessus") {
				t.Errorf("err = %v, want a FormatError naming the file and %q", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`<NessusClientData_v2><Report><ReportHost name="h"><ReportItem severity="2" pluginID="1" port="80"><cve>CVE-2020-0001</cve></ReportItem></ReportHost></Report></NessusClientData_v2>`))
	f.Add([]byte(`<NessusClientData_v2>`))
	// The real sample seeds the corpus when the shared corpus is there.
	if b, err := os.ReadFile("../../../shared/integrations/scanners/nessus/nessus_with_cvssv3.trimmed.nessus"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Parse(bytes.NewReader(data), "fuzz")
		if err != nil {
			var fe *scanner.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FormatError: %v", err)
			}
			return
		}
		for _, f := range rep.Findings {
			if f.Host == "" || f.Check == "" || f.Severity == "" || !(f.CVSS >= 0 && f.CVSS <= 10) {
				t.Fatalf("invalid finding accepted: %+v", f)
			}
		}
	})
}

// BenchmarkParse reads the real 1.5 MB export (49 items with large plugin
// outputs).
func BenchmarkParse(b *testing.B) {
	data := sample(b, "nessus_with_cvssv3.nessus")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(data), "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
