package nexpose

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-health/vigil/internal/testshared"
	"github.com/vigil-health/vigil/scanner"
)

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testshared.Dir(t), "integrations", "scanners", "nexpose", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDNS(t *testing.T) {
	rep, err := Parse(bytes.NewReader(sample(t, "dns.xml")), "dns.xml")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Hosts) != 1 || rep.Hosts[0].MAC != "00:11:22:33:44:55" || rep.Hosts[0].Address != "192.168.1.1" {
		t.Fatalf("hosts = %+v", rep.Hosts)
	}
	// tcp/53: 2 tests, udp/53: 3 tests.
	if len(rep.Findings) != 5 {
		t.Fatalf("%d findings, want 5: %+v", len(rep.Findings), rep.Findings)
	}
	f := rep.Findings[0]
	if f.Check != "dns-allows-cache-snooping" || f.Title != "DNS server allows cache snooping" || f.CVSS != 5 ||
		f.CVSSVector != "AV:N/AC:L/Au:N/C:P/I:N/A:N" || f.Severity != "medium" || f.Port != 53 || f.Protocol != "tcp" || f.Seen.IsZero() {
		t.Errorf("finding = %+v", f)
	}
}

func TestNoVuln(t *testing.T) {
	// The sample's one test has no definition in the report: it is kept,
	// without severity, rather than dropped.
	rep, err := Parse(bytes.NewReader(sample(t, "no_vuln.xml")), "no_vuln.xml")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Hosts) != 1 || len(rep.Findings) != 1 || rep.Findings[0].Check != "tcp-seq-num-approximation" || rep.Findings[0].Severity != "" {
		t.Errorf("report = %+v", rep)
	}
}

func TestMalformed(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"other root", `<report/>`, "root element is <report>"},
		{"no address", `<NexposeReport><nodes><node/></nodes></NexposeReport>`, "node without address"},
		{"bad severity", `<NexposeReport><nodes><node address="10.0.0.1"><tests><test id="x" status="vulnerable-version"/></tests></node></nodes><VulnerabilityDefinitions><vulnerability id="x" severity="high"/></VulnerabilityDefinitions></NexposeReport>`, `severity "high"`},
		{"truncated", `<NexposeReport><nodes><node address="10.0.0.1">`, "node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.doc), "bad.xml")
			var fe *scanner.FormatError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a FormatError with %q", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`<NexposeReport><nodes><node address="10.0.0.1" hardware-address="001122334455"><tests><test id="cve-2020-0001" status="vulnerable-exploited"/></tests></node></nodes></NexposeReport>`))
	for _, n := range []string{"dns.xml", "no_vuln.xml"} {
		if b, err := os.ReadFile("../../../shared/integrations/scanners/nexpose/" + n); err == nil {
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
			if f.Host == "" || !(f.CVSS >= 0 && f.CVSS <= 10) {
				t.Fatalf("invalid finding accepted: %+v", f)
			}
		}
	})
}
