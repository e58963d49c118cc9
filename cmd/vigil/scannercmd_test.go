package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/internal/report"
	"github.com/vigil-health/vigil/internal/synth"
	"github.com/vigil-health/vigil/internal/testshared"
	"github.com/vigil-health/vigil/inventory"
	"github.com/vigil-health/vigil/scanner/insightvm/ivmtest"
	scannersync "github.com/vigil-health/vigil/scanner/sync"
	"github.com/vigil-health/vigil/web"
)

// medicalAddresses are the current addresses of the devices the
// inventory classifies medical (vigil devices --medical true).
func medicalAddresses(t *testing.T, path string) []string {
	t.Helper()
	out, _, err := vigil(t, "devices", "--medical", "true", "--json", path)
	if err != nil {
		t.Fatal(err)
	}
	var page inventory.Page
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatal(err)
	}
	var ips []string
	for i := range page.Devices {
		ips = append(ips, page.Devices[i].CurrentIPs()...)
	}
	slices.Sort(ips)
	return ips
}

// TestScannerExportFromCapture exports the ward's exclusions for nmap:
// exactly the addresses of the devices the inventory classifies medical,
// the pumps among them.
func TestScannerExportFromCapture(t *testing.T) {
	path, scenario := wardCapture(t, synth.DefaultOptions())
	out, _, err := vigil(t, "scanner", "export", "--format", "nmap", path)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(out)
	slices.Sort(got)
	if diff := cmp.Diff(medicalAddresses(t, path), got); diff != "" {
		t.Errorf("exported addresses (-medical devices +exported):\n%s", diff)
	}
	for _, pump := range []string{"pump-01", "pump-02", "pump-03"} {
		d, _ := scenario.Device(pump)
		if ip := d.IP.String(); !slices.Contains(got, ip) {
			t.Errorf("%s (%s) not exported: %v", pump, ip, got)
		}
	}
	if _, _, err := vigil(t, "scanner", "export", "--format", "qualys", path); err == nil || !strings.Contains(err.Error(), "nessus, tenable, openvas, nmap") {
		t.Errorf("unknown format: %v", err)
	}
}

// TestScannerSyncFromCapture syncs the InsightVM double from the ward's
// inventory: a dry run changes nothing, the real run excludes the medical
// devices; config dump never shows the console's password.
func TestScannerSyncFromCapture(t *testing.T) {
	dir := filepath.Join(testshared.Dir(t), "integrations", "scanners", "insightvm", "recorded")
	s, err := ivmtest.New(dir, "vigil", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tmp := t.TempDir()
	ca, pw, conf := filepath.Join(tmp, "ca.pem"), filepath.Join(tmp, "pw"), filepath.Join(tmp, "vigil.yaml")
	if err := s.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	os.WriteFile(conf, []byte(fmt.Sprintf(`scanner:
  insightvm:
    url: %s
    user: vigil
    password_file: %s
    ca_file: %s
  tags: false
  import_findings: false
`, s.URL(), pw, ca)), 0o600)
	path, scenario := wardCapture(t, synth.DefaultOptions())

	// An analysis with this configuration never talks to the console.
	if _, _, err := vigil(t, "--config", conf, "analyze", path); err != nil {
		t.Fatal(err)
	}
	if r := s.Requests(); len(r) != 0 {
		t.Fatalf("vigil analyze sent %d requests to the console, first %+v", len(r), r[0])
	}

	out, _, err := vigil(t, "--config", conf, "scanner", "sync", "--dry-run", path)
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "dry run: nothing changed") || !strings.Contains(out, "vulnsite (1)") {
		t.Errorf("dry-run report:\n%s", out)
	}
	if got := s.Excluded(1); len(got) != 0 {
		t.Fatalf("dry run changed the console: %v", got)
	}

	out, _, err = vigil(t, "--config", conf, "scanner", "sync", path)
	if err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	ex := s.Excluded(1)
	slices.Sort(ex)
	if diff := cmp.Diff(medicalAddresses(t, path), ex); diff != "" {
		t.Errorf("excluded targets (-medical devices +console):\n%s", diff)
	}
	pump, _ := scenario.Device("pump-02")
	if ip := pump.IP.String(); !slices.Contains(ex, ip) {
		t.Errorf("pump-02 (%s) not excluded: %v\n%s", ip, ex, out)
	}

	dump, _, err := vigil(t, "--config", conf, "config", "dump")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIGIL_SCANNER_INSIGHTVM_PASSWORD", "from-env")
	os.WriteFile(conf, []byte(fmt.Sprintf("scanner:\n  insightvm:\n    url: %s\n    user: vigil\n", s.URL())), 0o600)
	dump2, _, err := vigil(t, "--config", conf, "config", "dump")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dump+dump2, "s3cret") || strings.Contains(dump2, "from-env") || !strings.Contains(dump2, "(set; not shown)") {
		t.Errorf("config dump shows the password:\n%s", dump2)
	}
}

// TestScannerAgainstRunningVigil serves the API of engines that analysed
// the ward with the InsightVM double configured, and drives the --server
// forms of the commands through it.
func TestScannerAgainstRunningVigil(t *testing.T) {
	dir := filepath.Join(testshared.Dir(t), "integrations", "scanners")
	s, err := ivmtest.New(filepath.Join(dir, "insightvm", "recorded"), "vigil", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := s.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.Scanner.InsightVM.URL, cfg.Scanner.InsightVM.User, cfg.Scanner.InsightVM.Password = s.URL(), "vigil", "s3cret"
	cfg.Scanner.InsightVM.CAFile, cfg.Scanner.DryRun = ca, true
	cfg.HTTP.Listen = "127.0.0.1:0"
	path, scenario := wardCapture(t, synth.DefaultOptions())
	logger := slog.New(slog.DiscardHandler)
	_, err = analysis{files: []string{path}, hold: func(eng *engines, _ *report.Report) error {
		if eng.scanner == nil {
			return errors.New("scanner not started")
		}
		deps := webDependencies(cfg, logger, eng, nil, nil)
		deps.Scanner = eng.scanner
		api, err := web.New(webConfiguration(cfg), deps)
		if err != nil {
			return err
		}
		srv := httptest.NewServer(api.Handler())
		defer srv.Close()

		out, _, err := vigil(t, "scanner", "sync", "--server", srv.URL, "--json")
		if err != nil {
			return fmt.Errorf("sync --server: %w", err)
		}
		var res scannersync.Result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			return err
		}
		if !res.DryRun || len(res.Sites) != 1 || len(res.Sites[0].Added) == 0 || len(s.Excluded(1)) != 0 {
			t.Errorf("dry-run sync through the API: %+v, console %v", res, s.Excluded(1))
		}
		out, _, err = vigil(t, "scanner", "export", "--format", "openvas", "--server", srv.URL)
		if err != nil {
			return fmt.Errorf("export --server: %w", err)
		}
		if got := strings.Split(strings.TrimSpace(out), ","); !cmp.Equal(got, res.Sites[0].Desired) {
			t.Errorf("exclude_hosts %v, sync wanted %v", got, res.Sites[0].Desired)
		}
		out, _, err = vigil(t, "scanner", "import", "--server", srv.URL, filepath.Join(dir, "openvas", "one_vuln.xml"))
		if err != nil {
			return fmt.Errorf("import --server: %w", err)
		}
		if !strings.Contains(out, "1 hosts, 1 findings, 0 merged") || !strings.Contains(out, "unmatched host 10.0.101.2") {
			t.Errorf("import of a host outside the ward:\n%s", out)
		}
		// A scan of a ward workstation merges by MAC and reaches
		// vulnerability matching.
		var ws synth.Device
		for _, d := range scenario.Devices {
			if !d.Medical && d.MAC != nil {
				ws = d
				break
			}
		}
		nessusFile := filepath.Join(t.TempDir(), "ward.nessus")
		os.WriteFile(nessusFile, []byte(fmt.Sprintf(`<NessusClientData_v2><Report name="ward"><ReportHost name="%s"><HostProperties>
<tag name="host-ip">%s</tag><tag name="mac-address">%s</tag></HostProperties>
<ReportItem port="445" protocol="tcp" severity="4" pluginID="97833" pluginName="MS17-010"><cve>CVE-2017-0143</cve><cvss_base_score>10.0</cvss_base_score></ReportItem>
</ReportHost></Report></NessusClientData_v2>`, ws.IP, ws.IP, strings.ToUpper(ws.MAC.String()))), 0o600)
		out, _, err = vigil(t, "scanner", "import", "--server", srv.URL, nessusFile)
		if err != nil {
			return fmt.Errorf("import --server: %w", err)
		}
		if !strings.Contains(out, "1 hosts, 1 findings, 1 merged with inventory devices, 1 vulnerability records handed to matching") {
			t.Errorf("import of a ward workstation (%s):\n%s", ws.Name, out)
		}
		_, errOut, err := vigil(t, "scanner", "import", "--server", srv.URL, filepath.Join(dir, "insightvm", "recorded", "sites-page.json"))
		if err == nil || !strings.Contains(errOut, "JSON, not XML") || !strings.Contains(errOut, "(400 ") {
			t.Errorf("malformed upload: %v\n%s", err, errOut)
		}
		if _, _, err := vigil(t, "scanner", "export", "--format", "pdf", "--server", srv.URL); err == nil {
			t.Error("export accepted format pdf")
		}
		return nil
	}}.run(context.WithValue(t.Context(), scannerOneOff{}, true), cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
}
