package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/report"
	"github.com/vigil-health/vigil/inventory"
	"github.com/vigil-health/vigil/scanner"
	"github.com/vigil-health/vigil/scanner/exclusions"
	"github.com/vigil-health/vigil/scanner/importer"
	"github.com/vigil-health/vigil/scanner/insightvm"
	scannersync "github.com/vigil-health/vigil/scanner/sync"
	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/web"
)

// scannerSync is the scanner integration as startEngines starts it: the
// InsightVM sync (when a console is configured) and the passive watch for
// scans of excluded devices (when scan engines are configured).
type scannerSync struct {
	// comp is nil when neither a console nor scan engines are configured:
	// exports and file imports still work.
	comp    *scannersync.Component
	cfg     scanner.Configuration
	devices func() []scanner.Device
	// handOver gives findings to vulnerability matching (nil without it);
	// it returns those of devices matching does not know.
	handOver func(ctx context.Context, source string, fs []vuln.ScannerFinding) ([]vuln.ScannerFinding, error)
}

// startScanner starts the scanner integration after the inventory and
// vulnerability matching. The component runs only when a console or scan
// engines are configured.
func startScanner(ctx context.Context, cfg Config, logger *slog.Logger, lc *lifecycle, bus *events.Bus, src events.Source,
	inv *inventory.Component, vr *vulnRisk) (*scannerSync, error) {
	sc := cfg.Scanner
	devices := scannerDevices(inv)
	s := &scannerSync{cfg: sc, devices: devices}
	if vr != nil && vr.vuln != nil {
		s.handOver = func(ctx context.Context, source string, fs []vuln.ScannerFinding) ([]vuln.ScannerFinding, error) {
			return vr.vuln.ScannerFindings(ctx, time.Time{}, source, fs)
		}
	}
	if len(cfg.Sensor.Files) > 0 && sc.InsightVM.Enabled() && ctx.Value(scannerOneOff{}) == nil {
		// An analysis of capture files (vigil analyze, demo, run --pcap)
		// must not rewrite a production console from a recording; only
		// vigil scanner sync CAPTURE... asks for that.
		logger.Info("scanner: InsightVM sync off while reading capture files (vigil scanner sync CAPTURE... does it once)")
		sc.InsightVM.URL = ""
	}
	if !sc.InsightVM.Enabled() && len(sc.ScanEngines) == 0 {
		return s, nil
	}
	deps := scannersync.Dependencies{Logger: logger, Bus: bus, Source: src, Devices: devices,
		// Until the inventory has replayed the log, syncs only add.
		Ready: func(ctx context.Context) error { return bus.WaitCaughtUp(ctx, events.StreamSensor, inventory.Durable) }}
	if sc.InsightVM.Enabled() {
		client, err := insightvm.New(sc.InsightVM, logger)
		if err != nil {
			return nil, err
		}
		ledger, err := scannersync.NewKVLedger(ctx, bus.JetStream(), cfg.Events.Replicas)
		if err != nil {
			return nil, err
		}
		deps.Console, deps.Ledger = client, ledger
	}
	if s.handOver != nil {
		deps.Findings = func(ctx context.Context, fs []scanner.Finding) error {
			unknown, err := s.handOver(ctx, "insightvm", vulnFindings(fs))
			if len(unknown) > 0 {
				logger.Info("scanner findings of devices vulnerability matching does not know yet", "findings", len(unknown))
			}
			return err
		}
	}
	comp, err := scannersync.New(sc, deps)
	if err != nil {
		return nil, err
	}
	if err := lc.start(ctx, "scanner", comp); err != nil {
		return nil, err
	}
	s.comp = comp
	return s, nil
}

// errNoScannerSync answers sync requests when nothing is configured.
var errNoScannerSync = fmt.Errorf("%w: set scanner.insightvm.url (docs/scanners.md)", web.ErrScannerOff)

// scannerOneOff marks the context of vigil scanner sync CAPTURE...: the
// one analysis of capture files allowed to sync the console.
type scannerOneOff struct{}

// scannerDevices adapts the inventory to what the scanner integration
// reads.
func scannerDevices(inv *inventory.Component) func() []scanner.Device {
	return func() []scanner.Device {
		list := inv.Devices()
		out := make([]scanner.Device, 0, len(list))
		for i := range list {
			d := &list[i]
			out = append(out, scanner.Device{ID: d.ID, Key: d.Key, MAC: d.MAC, VLAN: d.VLAN, IPs: d.CurrentIPs(),
				Hostname: d.Attr("hostname"), Category: d.Classification.Category, Medical: d.Classification.Medical,
				Criticality: string(d.Classification.Criticality)})
		}
		return out
	}
}

// vulnFindings turns merged scanner findings into vulnerability matching's
// records: one per CVE, "<scanner>:<check>" for a check without CVE;
// findings of no inventory device are left out (reported by the sync).
func vulnFindings(fs []scanner.Finding) []vuln.ScannerFinding {
	var out []vuln.ScannerFinding
	for _, f := range fs {
		if f.DeviceID == "" {
			continue
		}
		port := ""
		if f.Port > 0 {
			port = f.Protocol + "/" + strconv.Itoa(f.Port)
		}
		base := vuln.ScannerFinding{Device: f.DeviceID, Source: f.Scanner, Check: f.Check, Title: f.Title,
			Verified: true, CVSS: f.CVSS, Port: port, Seen: f.Seen}
		if len(f.CVEs) == 0 {
			base.ID = f.Scanner + ":" + f.Check
			out = append(out, base)
			continue
		}
		for _, cve := range f.CVEs {
			v := base
			v.ID = cve
			out = append(out, v)
		}
	}
	return out
}

// ScannerStatus implements web.Scanner.
func (s *scannerSync) ScannerStatus() any {
	if s.comp == nil {
		return map[string]any{"running": false, "reason": errNoScannerSync.Error()}
	}
	return s.comp.Status()
}

// ScannerSync implements web.Scanner.
func (s *scannerSync) ScannerSync(ctx context.Context, dryRun bool) (any, error) {
	if s.comp == nil {
		return nil, errNoScannerSync
	}
	return s.comp.SyncNow(ctx, true, dryRun)
}

// ScannerFindings implements web.Scanner.
func (s *scannerSync) ScannerFindings() any {
	var fs []scanner.Finding
	if s.comp != nil {
		fs = s.comp.Findings()
	}
	if fs == nil {
		fs = []scanner.Finding{}
	}
	return fs
}

// importResult is what an import into a running vigil did.
type importResult struct {
	File     string `json:"file"`
	Scanner  string `json:"scanner"`
	Hosts    int    `json:"hosts"`
	Findings int    `json:"findings"`
	// Merged are the findings matched to an inventory device; HandedOver
	// the vulnerability records vulnerability matching accepted.
	Merged     int                 `json:"merged"`
	HandedOver int                 `json:"handed_over"`
	Unmatched  []scanner.Unmatched `json:"unmatched,omitempty"`
}

// ScannerImport implements web.Scanner: the file's findings are merged
// with the inventory and replace the previous findings of the same
// scanner in vulnerability matching.
func (s *scannerSync) ScannerImport(ctx context.Context, name string, r io.Reader) (any, error) {
	rep, err := importer.Read(r, name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", web.ErrBadScannerFile, err)
	}
	merged, unmatched := scanner.Merge(rep.Findings, s.devices())
	res := importResult{File: name, Scanner: rep.Scanner, Hosts: len(rep.Hosts), Findings: len(merged), Unmatched: unmatched}
	for _, f := range merged {
		if f.DeviceID != "" {
			res.Merged++
		}
	}
	if s.handOver != nil {
		recs := vulnFindings(merged)
		unknown, err := s.handOver(ctx, rep.Scanner, recs)
		res.HandedOver = len(recs) - len(unknown)
		if err != nil {
			return res, fmt.Errorf("hand over to vulnerability matching: %w", err)
		}
	}
	return res, nil
}

// ScannerExclusions implements web.Scanner. The export is built in
// memory first, so that a failure is an error, not half a file.
func (s *scannerSync) ScannerExclusions(format string, w io.Writer) (any, error) {
	targets, err := exclusions.FromDevices(s.devices(), s.cfg.ExtraExclusions)
	if err != nil {
		return nil, err
	}
	if format == "json" {
		if targets == nil {
			targets = []exclusions.Target{}
		}
		return targets, nil
	}
	var b bytes.Buffer
	if err := exclusions.Write(&b, format, targets); err != nil {
		return nil, err
	}
	_, err = w.Write(b.Bytes())
	return nil, err
}

func newScannerCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scanner",
		Short: "Keep active scanners away from medical devices; import their findings",
		Long: `Scanner is Vigil's two-way integration with active vulnerability scanners
(docs/scanners.md). InsightVM is kept in sync by device identity while vigil
runs (scanner.insightvm in the configuration); these commands run one sync
now, export the exclusion list for Nessus/Tenable, Greenbone/OpenVAS and
nmap, and import .nessus, Greenbone and Nexpose report files.`,
	}
	cmd.AddCommand(newScannerSyncCommand(g), newScannerExportCommand(g), newScannerImportCommand(g))
	return cmd
}

func newScannerSyncCommand(g *globalOptions) *cobra.Command {
	var server string
	var dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "sync [--dry-run] (--server URL | CAPTURE...)",
		Short: "Sync InsightVM's excluded targets, tags and findings now",
		Long: `Sync runs one full InsightVM sync: every managed site's excluded targets are
made equal to the current addresses of the medical devices (plus the extra
exclusions), read back and checked; drift is reported and repaired; the
medical devices are tagged; the other devices' findings are imported.

With --server it asks a running vigil (admin role; token in $VIGIL_TOKEN).
With capture files it analyses them first and syncs from that inventory
with the configuration's console: a one-off run remembers nothing, so it
only adds exclusions (it removes only what it added itself, or everything
foreign with scanner.own_list). --dry-run prints the changes and makes none.`,
		Example: `  vigil scanner sync --server https://vigil.example.org:8443 --dry-run
  vigil scanner sync --config /etc/vigil/vigil.yaml ward.pcap`,
		RunE: func(cmd *cobra.Command, files []string) error {
			var res scannersync.Result
			switch {
			case server != "" && len(files) > 0:
				return errors.New("--server or captures: give one source, not both")
			case server != "":
				q := url.Values{}
				if dryRun {
					q.Set("dry_run", "true")
				}
				body, status, err := apiCall(cmd.Context(), http.MethodPost, server, "/api/v1/scanner/sync", q, nil, "")
				if err != nil {
					return err
				}
				if status == http.StatusBadGateway {
					var e struct {
						Error  string
						Report scannersync.Result
					}
					if json.Unmarshal(body, &e) == nil {
						printSync(cmd.OutOrStdout(), e.Report, asJSON)
						return fmt.Errorf("sync failed: %s", e.Error)
					}
				}
				if status != http.StatusOK {
					return apiError(server, status, body)
				}
				if err := json.Unmarshal(body, &res); err != nil {
					return fmt.Errorf("vigil at %s: unexpected answer: %w", server, err)
				}
			case len(files) > 0:
				cfg, err := g.loadConfig()
				if err != nil {
					return err
				}
				if !cfg.Scanner.InsightVM.Enabled() {
					return errors.New("scanner.insightvm.url: no InsightVM console configured (see docs/scanners.md)")
				}
				logger, err := g.logger(os.Stderr)
				if err != nil {
					return err
				}
				// Every sync of this run is a dry run with --dry-run, also
				// those device changes trigger while the captures are read.
				cfg.Scanner.DryRun = cfg.Scanner.DryRun || dryRun
				var syncErr error
				_, err = analysis{files: files, hold: func(eng *engines, _ *report.Report) error {
					if eng.scanner == nil || eng.scanner.comp == nil {
						return errors.New("scanner integration did not start")
					}
					res, syncErr = eng.scanner.comp.SyncNow(cmd.Context(), true, dryRun)
					return nil
				}}.run(context.WithValue(cmd.Context(), scannerOneOff{}, true), cfg, logger)
				if err != nil {
					return err
				}
				printSync(cmd.OutOrStdout(), res, asJSON)
				return syncErr
			default:
				return errors.New("give --server URL of a running vigil, or capture files to sync from")
			}
			printSync(cmd.OutOrStdout(), res, asJSON)
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "URL of a running vigil")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "compute and print the changes without making them")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the sync report as JSON")
	return cmd
}

func printSync(out io.Writer, res scannersync.Result, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.Encode(res)
		return
	}
	mode := ""
	if res.DryRun {
		mode = " (dry run: nothing changed)"
	}
	fmt.Fprintf(out, "InsightVM sync%s\n", mode)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tEXCLUDED\tADD\tREMOVE\tDRIFT\tVERIFIED\tERROR")
	for _, s := range res.Sites {
		fmt.Fprintf(tw, "%s (%d)\t%d\t%s\t%s\t%d\t%v\t%s\n", s.Name, s.ID, len(s.Desired), list(s.Added), list(s.Removed),
			len(s.Drift), s.Verified, s.Error)
	}
	tw.Flush()
	for _, d := range res.Drift() {
		fmt.Fprintf(out, "drift: site %q address %s %s (device %s) repaired=%v\n", d.Site, d.Address, d.Kind, d.DeviceID, d.Repaired)
	}
	if t := res.Tags; t != nil {
		fmt.Fprintf(out, "tags: %d medical assets tagged (%d medical devices not in the console), %d tags created, %d assigned, %d removed%s\n",
			t.MedicalAssets, t.MedicalNotInConsole, len(t.Created), t.Assigned, t.Unassigned, errSuffix(t.Error))
	}
	if f := res.Findings; f != nil {
		fmt.Fprintf(out, "findings: %d imported from %d assets (%d medical skipped, %d without catalogue entry), %d unmatched hosts%s\n",
			f.Imported, f.Assets, f.SkippedMedical, f.DetailsMissing, len(f.Unmatched), errSuffix(f.Error))
		for _, u := range f.Unmatched {
			fmt.Fprintf(out, "  unmatched: %s %s %s (%d findings): %s\n", u.Address, u.MAC, u.Hostname, u.Findings, u.Reason)
		}
	}
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return "; error: " + e
}

func newScannerExportCommand(g *globalOptions) *cobra.Command {
	var server, format, output string
	cmd := &cobra.Command{
		Use:   "export --format nessus|tenable|openvas|nmap (--server URL | CAPTURE...)",
		Short: "Export the devices scanners must not touch",
		Long: `Export writes the current addresses of the medical devices (plus
scanner.extra_exclusions) for a scanner: nessus (nessusd.rules reject
lines), tenable (the body of POST /exclusions of the Tenable API),
openvas (a Greenbone target's exclude_hosts), nmap (--excludefile).
Addresses follow DHCP, so re-export when devices move (or let vigil keep
InsightVM in sync).`,
		Example: `  vigil scanner export --format nessus --server http://127.0.0.1:8080 > nessusd.rules
  vigil scanner export --format nmap -o exclude.txt ward.pcap`,
		RunE: func(cmd *cobra.Command, files []string) error {
			if !slices.Contains(exclusions.Formats, format) {
				return fmt.Errorf("--format %q: want one of %s", format, strings.Join(exclusions.Formats, ", "))
			}
			var data []byte
			switch {
			case server != "" && len(files) > 0:
				return errors.New("--server or captures: give one source, not both")
			case server != "":
				body, status, err := apiCall(cmd.Context(), http.MethodGet, server, "/api/v1/scanner/exclusions",
					url.Values{"format": {format}}, nil, "")
				if err != nil {
					return err
				}
				if status != http.StatusOK {
					return apiError(server, status, body)
				}
				data = body
			case len(files) > 0:
				cfg, err := g.loadConfig()
				if err != nil {
					return err
				}
				logger, err := g.logger(os.Stderr)
				if err != nil {
					return err
				}
				var devices []scanner.Device
				_, err = analysis{files: files, hold: func(eng *engines, _ *report.Report) error {
					devices = scannerDevices(eng.inventory)()
					return nil
				}}.run(cmd.Context(), cfg, logger)
				if err != nil {
					return err
				}
				targets, err := exclusions.FromDevices(devices, cfg.Scanner.ExtraExclusions)
				if err != nil {
					return err
				}
				var b bytes.Buffer
				if err := exclusions.Write(&b, format, targets); err != nil {
					return err
				}
				data = b.Bytes()
			default:
				return errors.New("give --server URL of a running vigil, or capture files to export from")
			}
			if output == "" || output == "-" {
				_, err := cmd.OutOrStdout().Write(data)
				return err
			}
			return os.WriteFile(output, data, 0o644)
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "URL of a running vigil")
	cmd.Flags().StringVar(&format, "format", "", "nessus, tenable, openvas or nmap (required)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	return cmd
}

func newScannerImportCommand(g *globalOptions) *cobra.Command {
	var server string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import .nessus, Greenbone/OpenVAS and Nexpose report files",
		Long: `Import reads scanner result files (` + importer.Formats + `),
chosen by their content, and prints the hosts and findings. With --server it
sends them to a running vigil (admin role; token in $VIGIL_TOKEN), which
merges the hosts with its inventory (by MAC, host name, then current
address), reports the hosts no device matches, and hands the findings to
vulnerability matching (they replace that scanner's previous findings). A
file that cannot be read is reported with what is wrong with it; the others
are still imported, and the command fails at the end.`,
		Example: `  vigil scanner import scan.nessus greenbone-report.xml
  vigil scanner import --server http://127.0.0.1:8080 --json scan.nessus`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			type result struct {
				File     string          `json:"file"`
				Report   *scanner.Report `json:"report,omitempty"`
				Imported *importResult   `json:"imported,omitempty"`
				Error    string          `json:"error,omitempty"`
			}
			var results []result
			var failed []string
			for _, f := range files {
				r := result{File: f}
				var err error
				if server != "" {
					r.Imported, err = uploadReport(cmd.Context(), server, f)
				} else {
					r.Report, err = importer.File(f)
				}
				if err != nil {
					r.Error = err.Error()
					failed = append(failed, f)
				}
				results = append(results, r)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(results); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					switch {
					case r.Error != "":
						fmt.Fprintf(cmd.ErrOrStderr(), "vigil: %s\n", r.Error)
					case r.Imported != nil:
						i := r.Imported
						fmt.Fprintf(out, "%s: %s, %d hosts, %d findings, %d merged with inventory devices, %d vulnerability records handed to matching\n",
							r.File, i.Scanner, i.Hosts, i.Findings, i.Merged, i.HandedOver)
						for _, u := range i.Unmatched {
							fmt.Fprintf(out, "unmatched host %s %s %s (%d findings): %s\n", u.Address, u.MAC, u.Hostname, u.Findings, u.Reason)
						}
					default:
						printImport(out, r.File, r.Report)
					}
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("%d of %d files could not be imported: %s", len(failed), len(files), strings.Join(failed, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "import into a running vigil (merged with its inventory)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print hosts and findings as JSON")
	return cmd
}

func printImport(out io.Writer, file string, rep *scanner.Report) {
	bySev := map[string]int{}
	for _, f := range rep.Findings {
		sev := f.Severity
		if sev == "" {
			sev = "unknown"
		}
		bySev[sev]++
	}
	fmt.Fprintf(out, "%s: %s, %d hosts, %d findings (critical %d, high %d, medium %d, low %d, info %d, unknown %d)\n",
		file, rep.Scanner, len(rep.Hosts), len(rep.Findings), bySev["critical"], bySev["high"], bySev["medium"],
		bySev["low"], bySev["info"], bySev["unknown"])
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tMAC\tHOSTNAME\tSEVERITY\tCVSS\tCHECK\tCVES\tTITLE")
	for _, f := range rep.Findings {
		if f.Severity == "info" {
			continue
		}
		cves := strings.Join(f.CVEs, ",")
		if len(f.CVEs) > 3 {
			cves = strings.Join(f.CVEs[:3], ",") + fmt.Sprintf(",+%d", len(f.CVEs)-3)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\n", f.Host, f.MAC, f.Hostname, f.Severity, f.CVSS, f.Check, cves, f.Title)
	}
	tw.Flush()
}

// uploadReport imports one file into a running vigil.
func uploadReport(ctx context.Context, server, path string) (*importResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	body, status, err := apiCall(ctx, http.MethodPost, server, "/api/v1/scanner/import", url.Values{"name": {path}}, f, "application/xml")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, apiError(server, status, body)
	}
	var res importResult
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("vigil at %s: unexpected answer: %w", server, err)
	}
	return &res, nil
}

// apiCall sends one request to a running vigil (token from $VIGIL_TOKEN).
func apiCall(ctx context.Context, method, server, path string, q url.Values, body io.Reader, contentType string) ([]byte, int, error) {
	return newAPIClient(server).do(ctx, method, path, q, body, contentType)
}

func apiError(server string, status int, body []byte) error {
	return apiClient{server: server}.fail(status, body)
}
