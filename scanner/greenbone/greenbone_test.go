package greenbone

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
	b, err := os.ReadFile(filepath.Join(testshared.Dir(t), "integrations", "scanners", "openvas", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOneVuln(t *testing.T) {
	rep, err := Parse(bytes.NewReader(sample(t, "one_vuln.xml")), "one_vuln.xml")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Hosts) != 1 || rep.Hosts[0].Address != "10.0.101.2" || len(rep.Findings) != 1 {
		t.Fatalf("hosts %+v, %d findings", rep.Hosts, len(rep.Findings))
	}
	f := rep.Findings[0]
	want := scanner.Finding{Scanner: "openvas", Source: "one_vuln.xml", Host: "10.0.101.2",
		Check: "1.3.6.1.4.1.25623.1.0.832260", Title: "Mozilla Firefox Security Update (mfsa_2023-32_2023-36) - Windows",
		CVEs: []string{"CVE-2023-4573", "CVE-2023-4574", "CVE-2023-4575", "CVE-2023-4576", "CVE-2023-4577", "CVE-2023-4578",
			"CVE-2023-4579", "CVE-2023-4580", "CVE-2023-4581", "CVE-2023-4583", "CVE-2023-4584", "CVE-2023-4585"},
		Severity: "critical", CVSS: 10, Seen: time.Date(2023, 9, 28, 16, 12, 15, 0, time.UTC)}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("finding (-want +got):\n%s", diff)
	}
}

func TestDetailV2(t *testing.T) {
	rep, err := Parse(bytes.NewReader(sample(t, "report_detail_v2.xml")), "report_detail_v2.xml")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 {
		t.Fatalf("%d findings", len(rep.Findings))
	}
	f := rep.Findings[0]
	if f.Host != "10.99.99.99" || f.Hostname != "server99" || f.Port != 42 || f.Protocol != "tcp" ||
		f.CVSS != 9.8 || f.CVSSVector != "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" || f.Severity != "critical" ||
		f.AssetID != "96329f0e-5bb4-4164-958f-a78f76f634da" || len(f.CVEs) < 80 || f.Check != "1.3.6.1.4.1.25623.1.0.836484" {
		t.Errorf("finding = %+v (%d CVEs)", f, len(f.CVEs))
	}
}

func TestNoVuln(t *testing.T) {
	rep, err := Parse(bytes.NewReader(sample(t, "no_vuln.xml")), "no_vuln.xml")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 0 {
		t.Errorf("findings in the empty report: %+v", rep.Findings)
	}
}

func TestHostDetailsAndOldCVEField(t *testing.T) {
	doc := `<get_reports_response status="200"><report id="r"><report id="i"><results>
<result><name>Telnet Unencrypted</name><host>10.20.0.102<hostname></hostname></host><port>23/tcp</port>
<nvt oid="1.3.6.1.4.1.25623.1.0.108522"><name>Telnet Unencrypted Cleartext Login</name><cvss_base>4.8</cvss_base>
<cve>CVE-1999-0619, NOCVE</cve><tags>cvss_base_vector=AV:A/AC:L/Au:N/C:P/I:P/A:N|summary=x</tags></nvt>
<threat>Medium</threat><severity>4.8</severity></result></results>
<host><ip>10.20.0.102</ip><start>2026-01-05T08:00:00Z</start><end>2026-01-05T08:10:00Z</end>
<detail><name>hostname</name><value>INF-PUMP-02</value></detail><detail><name>MAC</name><value>00-12-21-4E-0A-12</value></detail></host>
</report></report></get_reports_response>`
	rep, err := Parse(strings.NewReader(doc), "gmp7.xml")
	if err != nil {
		t.Fatal(err)
	}
	want := []scanner.Finding{{Scanner: "openvas", Source: "gmp7.xml", Host: "10.20.0.102", MAC: "00:12:21:4e:0a:12",
		Hostname: "INF-PUMP-02", Check: "1.3.6.1.4.1.25623.1.0.108522", Title: "Telnet Unencrypted Cleartext Login",
		CVEs: []string{"CVE-1999-0619"}, Severity: "medium", CVSS: 4.8, CVSSVector: "AV:A/AC:L/Au:N/C:P/I:P/A:N",
		Port: 23, Protocol: "tcp", Seen: time.Date(2026, 1, 5, 8, 10, 0, 0, time.UTC)}}
	if diff := cmp.Diff(want, rep.Findings); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestMalformed(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"nessus file", `<NessusClientData_v2/>`, "root element is <NessusClientData_v2>"},
		{"truncated", `<report><report><results><result><name>x</name>`, "result"},
		{"unclosed", `<report><report>`, "unexpected EOF"},
		{"no oid", `<report><report><results><result><host>10.0.0.1</host><nvt/><threat>High</threat></result></results></report></report>`, "no NVT oid"},
		{"bad severity", `<report><report><results><result><host>10.0.0.1</host><nvt oid="1"/><severity>eleven</severity></result></results></report></report>`, `"eleven" is not a number`},
		{"bad threat", `<report><report><results><result><host>10.0.0.1</host><nvt oid="1"/><threat>Severe</threat></result></results></report></report>`, `threat "Severe"`},
		{"empty", ``, "empty document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.doc), "bad.xml")
			var fe *scanner.FormatError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bad.xml") {
				t.Errorf("err = %v, want a FormatError naming the file and %q", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`<report><report><results><result><host>10.0.0.1</host><port>80/tcp</port><nvt oid="1"><refs><ref type="cve" id="CVE-2020-1234"/></refs></nvt><severity>5.0</severity></result></results><host><ip>10.0.0.1</ip></host></report></report>`))
	for _, n := range []string{"one_vuln.xml", "report_detail_v2.xml", "no_vuln.xml"} {
		if b, err := os.ReadFile("../../../shared/integrations/scanners/openvas/" + n); err == nil {
			f.Add(b)
		}
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
			if f.Host == "" || f.Check == "" || f.Severity == "" || !(f.CVSS >= 0 && f.CVSS <= 10) || f.Port < 0 || f.Port > 65535 {
				t.Fatalf("invalid finding accepted: %+v", f)
			}
		}
	})
}
