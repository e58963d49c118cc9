package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/netclass"
	"github.com/vigil-health/vigil/internal/report"
	"github.com/vigil-health/vigil/risk"
	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/alias"
	"github.com/vigil-health/vigil/vuln/feed"
	"github.com/vigil-health/vigil/vuln/match"
)

// vulnRisk is vulnerability matching and the risk engine, started by
// startEngines after the inventory.
type vulnRisk struct {
	store *vuln.Store
	vuln  *match.Component
	risk  *risk.Component
}

// startVulnRisk loads the vulnerability store and the alias table and
// starts the matcher and the risk engine.
func startVulnRisk(ctx context.Context, cfg Config, logger *slog.Logger, lc *lifecycle, bus *events.Bus, src events.Source, nets *netclass.Networks) (*vulnRisk, error) {
	storeFile := cfg.Vuln.StorePath(cfg.DataDir)
	store, err := match.LoadStore(storeFile)
	if err != nil {
		return nil, err
	}
	aliases, err := alias.Load(cfg.Vuln.Aliases...)
	if err != nil {
		return nil, err
	}
	vc, err := match.NewComponent(cfg.Vuln, match.Dependencies{Logger: logger, Bus: bus, Source: src, Store: store,
		StoreFile: storeFile, Aliases: aliases, Checkpoints: bus})
	if err != nil {
		return nil, err
	}
	rc, err := risk.New(cfg.Risk, risk.Dependencies{Logger: logger, Bus: bus, Source: src, Networks: nets, Checkpoints: bus})
	if err != nil {
		return nil, err
	}
	for _, c := range []named{{"vuln", vc}, {"risk", rc}} {
		if err := lc.start(ctx, c.name, c.c); err != nil {
			return nil, err
		}
	}
	return &vulnRisk{store: store, vuln: vc, risk: rc}, nil
}

// drain waits until matching and then the risk engine handled everything
// published so far (after engines.drain).
func (v *vulnRisk) drain(ctx context.Context, bus *events.Bus) error {
	if err := bus.WaitCaughtUp(ctx, events.StreamAnalytics, match.Durable); err != nil {
		return err
	}
	for _, sd := range risk.Consumers {
		if err := bus.WaitCaughtUp(ctx, sd[0], sd[1]); err != nil {
			return err
		}
	}
	return nil
}

// offlineVulnRisk analyses captures with the vulnerability store of the
// configuration (not the analysis's temporary directory) and calls fn
// with the result while the engines run.
func offlineVulnRisk(cmd *cobra.Command, g *globalOptions, storeFlag string, files []string, learn time.Duration, fn func(*engines) error) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	logger, err := g.logger(os.Stderr)
	if err != nil {
		return err
	}
	cfg.Vuln.Store = cfg.Vuln.StorePath(cfg.DataDir)
	if storeFlag != "" {
		cfg.Vuln.Store = storeFlag
	}
	_, err = analysis{files: files, learn: learn, hold: func(eng *engines, _ *report.Report) error {
		if err := eng.vulnRisk.drain(cmd.Context(), eng.bus); err != nil {
			return err
		}
		return fn(eng)
	}}.run(cmd.Context(), cfg, logger)
	return err
}

func newVulnCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vuln",
		Short: "Import vulnerability data, list it, and match devices to it",
		Long: `Vulnerability data lives in one store file (vuln.store, by default
<data_dir>/vuln/store.json). 'vigil vuln import' adds feeds to it: NVD CVE
API 2.0 JSON, CSAF 2.0 advisories (CISA ICSMA, vendor feeds), the CISA KEV
catalog, FIRST EPSS CSV, CycloneDX and SPDX SBOMs and VEX. Devices are
matched against it passively (docs/vulnerabilities.md).`,
	}
	cmd.AddCommand(newVulnImportCommand(g), newVulnListCommand(g), newVulnMatchCommand(g))
	return cmd
}

func storePath(g *globalOptions, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return "", err
	}
	return cfg.Vuln.StorePath(cfg.DataDir), nil
}

func newVulnImportCommand(g *globalOptions) *cobra.Command {
	var store, model string
	var asJSON, sbomWithVEX bool
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import vulnerability feeds into the store (format detected)",
		Long: `Import reads each file whole (gzip or not), detects its format, validates it
and adds it to the store, all or nothing: a file with problems is reported
with every problem (JSON path or line, what is wrong) and changes nothing;
the other files are still imported. A KEV catalog or EPSS day older than
the one held is refused. The store is written once at the end.

Exit status: 0 when every file was imported, 1 when any was refused.`,
		Example: `  vigil vuln import icsma-*.json known_exploited_vulnerabilities.json epss_scores-2025-09-01.csv.gz
  vigil vuln import --model "ACME Medical/CT Scanner@2.0" ct-2.0.spdx.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			path, err := storePath(g, store)
			if err != nil {
				return err
			}
			s, err := match.LoadStore(path)
			if err != nil {
				return err
			}
			opt := feed.Options{SBOMWithVEX: sbomWithVEX}
			if model != "" {
				m, err := parseModel(model)
				if err != nil {
					return err
				}
				opt.Model = &m
			}
			im := &feed.Importer{Store: s}
			type outcome struct {
				File     string        `json:"file"`
				Summary  *vuln.Summary `json:"summary,omitempty"`
				Warnings []string      `json:"warnings,omitempty"`
				Error    string        `json:"error,omitempty"`
			}
			var results []outcome
			failed := 0
			for _, f := range files {
				res, err := im.ImportFile(f, opt)
				if fe := (*feed.Error)(nil); errors.As(err, &fe) && fe.Format == feed.FormatCSAFProvider {
					// A provider's metadata: import the advisories of its
					// local mirror, each on its own.
					pr, perr := im.ImportProvider(f, opt)
					if perr == nil {
						for _, r := range pr.Imported {
							results = append(results, outcome{File: r.Summary.Source.Path, Summary: &r.Summary})
						}
						for _, e := range pr.Failed {
							results = append(results, outcome{File: f, Error: e.Error()})
							failed++
						}
						continue
					}
					err = perr
				}
				o := outcome{File: f}
				for _, w := range res.Warnings {
					o.Warnings = append(o.Warnings, w.String())
				}
				if err != nil {
					o.Error = err.Error()
					failed++
				} else {
					o.Summary = &res.Summary
				}
				results = append(results, o)
			}
			if failed < len(results) {
				if err := match.SaveStore(s, path); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(map[string]any{"store": path, "results": results, "stats": s.Stats()}); err != nil {
					return err
				}
			} else {
				for _, o := range results {
					if o.Error != "" {
						fmt.Fprintf(out, "REFUSED  %s\n%s\n", o.File, indentText(o.Error, "         "))
						continue
					}
					fmt.Fprintf(out, "ok       %s: %s\n", o.File, describeSummary(*o.Summary))
					for _, w := range o.Warnings {
						fmt.Fprintf(out, "         warning: %s\n", w)
					}
				}
				st := s.Stats()
				fmt.Fprintf(out, "\nStore %s: %d CVEs, %d advisories, %d KEV entries, %d EPSS scores, %d SBOMs (%d components), %d VEX statements.\n",
					path, st.CVEs, st.Advisories, st.KEVEntries, st.EPSSRows, st.SBOMs, st.Components, st.VEXStatements)
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d files refused; the store keeps everything else", failed, len(results))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&store, "store", "", "store file (default: vuln.store, or <data_dir>/vuln/store.json)")
	cmd.Flags().StringVar(&model, "model", "", `device model an SBOM or VEX file is about, "VENDOR/NAME@VERSION" (default: what the document names)`)
	cmd.Flags().BoolVar(&sbomWithVEX, "sbom-with-vex", false, "take a CycloneDX document with vulnerabilities as the model's SBOM too")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the outcome as JSON")
	return cmd
}

// parseModel reads "VENDOR/NAME@VERSION" (vendor and version optional).
func parseModel(s string) (vuln.ModelRef, error) {
	var m vuln.ModelRef
	rest := s
	if v, n, ok := strings.Cut(rest, "/"); ok {
		m.Vendor, rest = strings.TrimSpace(v), n
	}
	if n, ver, ok := strings.Cut(rest, "@"); ok {
		rest, m.Version = n, strings.TrimSpace(ver)
	}
	m.Name = strings.TrimSpace(rest)
	if m.Name == "" {
		return m, fmt.Errorf("--model %q: want VENDOR/NAME@VERSION, for example \"ACME Medical/CT Scanner@2.0\"", s)
	}
	return m, nil
}

func describeSummary(s vuln.Summary) string {
	var parts []string
	add := func(n int, one, many string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+one)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	add(s.CVEsAdded, "CVE added", "CVEs added")
	add(s.CVEsUpdated, "CVE updated", "CVEs updated")
	add(s.CVEsKept, "CVE kept (the store's was as new)", "CVEs kept (the store's were as new)")
	add(s.Advisories, "advisory", "advisories")
	add(s.AdvisoriesKept, "advisory kept (the store's was as new)", "advisories kept (the store's were as new)")
	add(s.KEVEntries, "KEV entry", "KEV entries")
	add(s.EPSSRows, "EPSS score", "EPSS scores")
	add(s.Components, "SBOM component", "SBOM components")
	add(s.VEXStatements, "VEX statement", "VEX statements")
	if len(parts) == 0 {
		parts = append(parts, "nothing new")
	}
	return s.Source.Format + ", " + strings.Join(parts, ", ")
}

func indentText(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

func newVulnListCommand(g *globalOptions) *cobra.Command {
	var store, device, server, status string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the vulnerability data held, or a device's vulnerabilities",
		Long: `Without --device, list prints what the store holds: every advisory with its
products and vulnerabilities, and the CVE, KEV, EPSS, SBOM and VEX counts.
With --device ID (and --server URL of a running vigil) it prints that
device's vulnerabilities with their confidence, type, lifecycle and
evidence.`,
		Example: `  vigil vuln list
  vigil vuln list --server http://127.0.0.1:8080 --device dev-d0311f413fcd`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if device != "" || server != "" {
				if device == "" || server == "" {
					return errors.New("--device and --server go together: a device's vulnerabilities come from a running vigil")
				}
				var recs []vuln.Record
				if err := getJSON(cmd.Context(), server, "/api/v1/devices/"+url.PathEscape(device)+"/vulnerabilities", nil, &recs); err != nil {
					return err
				}
				if status != "all" {
					recs = filterStatus(recs, status)
				}
				if asJSON {
					return writeJSON(out, recs)
				}
				return writeRecords(out, recs, true)
			}
			path, err := storePath(g, store)
			if err != nil {
				return err
			}
			s, err := match.LoadStore(path)
			if err != nil {
				return err
			}
			if asJSON {
				return s.WriteSnapshot(out)
			}
			st := s.Stats()
			fmt.Fprintf(out, "Store %s: %d CVEs, %d advisories, %d KEV entries, %d EPSS scores, %d SBOMs (%d components), %d VEX statements, %d imports.\n\n",
				path, st.CVEs, st.Advisories, st.KEVEntries, st.EPSSRows, st.SBOMs, st.Components, st.VEXStatements, st.Imports)
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ADVISORY\tPUBLISHER\tRELEASED\tPRODUCTS\tVULNERABILITIES\tTITLE")
			for _, a := range s.Advisories() {
				var ids []string
				for _, v := range a.Vulnerabilities {
					ids = append(ids, orElse(v.CVE, strings.Join(v.IDs, ",")))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", a.ID, a.Publisher.Name, a.CurrentRelease.Format(time.DateOnly), len(a.Products), strings.Join(ids, " "), a.Title)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&store, "store", "", "store file (default: vuln.store, or <data_dir>/vuln/store.json)")
	cmd.Flags().StringVar(&device, "device", "", "a device ID or key: list its vulnerabilities (with --server)")
	cmd.Flags().StringVar(&server, "server", "", "URL of a running vigil's HTTP API")
	cmd.Flags().StringVar(&status, "status", "all", "with --device: open, resolved or all")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (without --device: the whole store snapshot)")
	return cmd
}

func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func filterStatus(recs []vuln.Record, status string) []vuln.Record {
	var out []vuln.Record
	for _, r := range recs {
		if r.Status == status {
			out = append(out, r)
		}
	}
	return out
}

func newVulnMatchCommand(g *globalOptions) *cobra.Command {
	var store, server string
	var asJSON, all bool
	var learn time.Duration
	cmd := &cobra.Command{
		Use:   "match CAPTURE... | --server URL",
		Short: "Match the devices of captures (or of a running vigil) to the vulnerability data",
		Long: `Match analyses capture files (as 'vigil analyze' does) and matches every
device the inventory finds against the vulnerability store, passively: the
alias table identifies products and versions from what devices say about
themselves (DICOM, DHCP, SNMP, LLDP, HL7 ...), and advisories, NVD CPE
configurations and SBOMs with VEX say what affects them. Each match has a
confidence (confirmed or potential), a type (clinical, platform,
application) and its evidence. With --server it asks a running vigil.`,
		Example: `  vigil vuln match ward.pcap
  vigil vuln match --json --server http://127.0.0.1:8080`,
		RunE: func(cmd *cobra.Command, files []string) error {
			var recs []vuln.Record
			switch {
			case server != "" && len(files) > 0:
				return errors.New("--server or captures: give one source, not both")
			case server != "":
				var resp struct {
					Vulnerabilities []vuln.Record `json:"vulnerabilities"`
				}
				q := url.Values{"status": {"open"}}
				if all {
					q.Set("status", "all")
				}
				if err := getJSON(cmd.Context(), server, "/api/v1/vulnerabilities", q, &resp); err != nil {
					return err
				}
				recs = resp.Vulnerabilities
			case len(files) > 0:
				err := offlineVulnRisk(cmd, g, store, files, learn, func(eng *engines) error {
					st := vuln.Open
					if all {
						st = "all"
					}
					recs = eng.vulnRisk.vuln.Vulnerabilities(vuln.Query{Status: st})
					return nil
				})
				if err != nil {
					return err
				}
			default:
				return errors.New("give capture files to analyse or --server URL (a running vigil)")
			}
			if asJSON {
				if recs == nil {
					recs = []vuln.Record{}
				}
				return writeJSON(cmd.OutOrStdout(), recs)
			}
			return writeRecords(cmd.OutOrStdout(), recs, false)
		},
	}
	cmd.Flags().StringVar(&store, "store", "", "store file (default: vuln.store, or <data_dir>/vuln/store.json)")
	cmd.Flags().StringVar(&server, "server", "", "URL of a running vigil's HTTP API")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print every match with its evidence as JSON")
	cmd.Flags().BoolVar(&all, "all", false, "include resolved vulnerabilities")
	cmd.Flags().DurationVar(&learn, "learn", 0, "learning window when analysing captures")
	return cmd
}

// writeRecords prints device vulnerabilities, grouped by device.
func writeRecords(out io.Writer, recs []vuln.Record, evidence bool) error {
	if len(recs) == 0 {
		_, err := fmt.Fprintln(out, "No vulnerability matches (is the store empty? see 'vigil vuln list').")
		return err
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tVULNERABILITY\tCONFIDENCE\tTYPE\tCVSS\tKEV\tSTATUS\tDAYS\tADVISORIES\tPRODUCT\tVERSION\tSOURCES")
	for _, r := range recs {
		kev := ""
		if r.KEV {
			kev = "KEV"
		}
		prod, _, _ := strings.Cut(r.Product, ":")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", orElse(r.DeviceID, r.Match.Device), r.ID, r.Confidence, r.Type, r.CVSS, kev,
			r.Status, r.DaysOpen, strings.Join(r.Advisories, ","), prod, orElse(r.Version, "?"), strings.Join(r.Sources, ","))
		if evidence {
			for _, e := range r.Evidence {
				fmt.Fprintf(tw, "\t  %s\n", e)
			}
		}
	}
	return tw.Flush()
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// getJSON asks a running vigil's API.
func getJSON(ctx context.Context, server, path string, q url.Values, v any) error {
	return newAPIClient(server).json(ctx, http.MethodGet, path, q, nil, "", v)
}
