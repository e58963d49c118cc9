package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/internal/synth"
	"github.com/vigil-health/vigil/risk"
	"github.com/vigil-health/vigil/vuln"
)

func newRiskCommand(g *globalOptions) *cobra.Command {
	var (
		server, store, by string
		asJSON, markdown  bool
		demo              bool
		learn             time.Duration
	)
	cmd := &cobra.Command{
		Use:   "risk [CAPTURE... | --server URL | --demo]",
		Short: "Print every device's risk score with the explanation of each factor",
		Long: `Risk scores every device with the published formula of docs/risk.md
(version ` + risk.FormulaVersion + `): likelihood from vulnerabilities (CVSS, EPSS, KEV),
insecure protocols, internet exposure and recent anomalies, reduced by the
compensating controls actually observed (segmentation, no internet
contact); impact from clinical criticality and patient data. Each device
is printed with every factor's value, weight and effect.

The devices come from capture files (analysed as 'vigil analyze' does,
matched against the vulnerability store), from a running vigil
(--server), or from the synthetic demo ward (--demo). --by aggregates by
department, site or category. --markdown prints the report as Markdown
(the demo report of docs/risk.md is 'vigil risk --demo --markdown').`,
		Example: `  vigil risk ward.pcap
  vigil risk --server http://127.0.0.1:8080 --by department
  vigil vuln import --store /tmp/v.json ../shared/integrations/vulndata/csaf/icsma/*.json
  vigil risk --demo --store /tmp/v.json --markdown`,
		RunE: func(cmd *cobra.Command, files []string) error {
			if by != "" && !oneOf(risk.Dimensions, by) {
				return fmt.Errorf("--by %q: want department, site or category", by)
			}
			sources := 0
			for _, set := range []bool{server != "", len(files) > 0, demo} {
				if set {
					sources++
				}
			}
			if sources != 1 {
				return errors.New("give one source: capture files, --server URL (a running vigil) or --demo")
			}
			var scores []risk.DeviceRisk
			vulns := map[string][]vuln.Record{}
			switch {
			case server != "":
				var resp struct {
					Devices []risk.DeviceRisk `json:"devices"`
				}
				if err := getJSON(cmd.Context(), server, "/api/v1/risk", url.Values{}, &resp); err != nil {
					return err
				}
				scores = resp.Devices
			default:
				if demo {
					dir, err := os.MkdirTemp("", "vigil-risk-demo-")
					if err != nil {
						return fmt.Errorf("temporary directory: %w", err)
					}
					defer os.RemoveAll(dir)
					opts := synth.DefaultOptions()
					path := filepath.Join(dir, "ward.pcap")
					if err := synth.Ward(opts).WritePCAPFile(path); err != nil {
						return fmt.Errorf("write demo capture: %w", err)
					}
					files, learn = []string{path}, opts.Learning
				}
				err := offlineVulnRisk(cmd, g, store, files, learn, func(eng *engines) error {
					scores = eng.vulnRisk.risk.Scores()
					for _, r := range eng.vulnRisk.vuln.Vulnerabilities(vuln.Query{Status: vuln.Open}) {
						vulns[r.DeviceID] = append(vulns[r.DeviceID], r)
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if by != "" {
				sum, err := risk.Summarise(scores, by)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(out, sum)
				}
				return writeSummary(out, sum)
			}
			switch {
			case asJSON:
				if scores == nil {
					scores = []risk.DeviceRisk{}
				}
				return writeJSON(out, map[string]any{"formula": risk.FormulaVersion, "devices": scores})
			case markdown:
				return writeRiskMarkdown(out, scores, vulns)
			}
			return writeRiskText(out, scores)
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "URL of a running vigil's HTTP API")
	cmd.Flags().StringVar(&store, "store", "", "vulnerability store file (default: vuln.store, or <data_dir>/vuln/store.json)")
	cmd.Flags().StringVar(&by, "by", "", "aggregate by department, site or category")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: every device with its score, factors and inputs")
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print the report as Markdown")
	cmd.Flags().BoolVar(&demo, "demo", false, "score the synthetic demo ward ('vigil demo')")
	cmd.Flags().DurationVar(&learn, "learn", 0, "learning window when analysing captures")
	return cmd
}

func oneOf(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func deviceLabel(d risk.DeviceRisk) string {
	if d.Name != "" {
		return d.Name + " (" + d.DeviceID + ")"
	}
	return d.DeviceID
}

func writeRiskText(out io.Writer, scores []risk.DeviceRisk) error {
	fmt.Fprintf(out, "Risk (formula %s, docs/risk.md): %d devices\n", risk.FormulaVersion, len(scores))
	for _, d := range scores {
		fmt.Fprintf(out, "\n%5.1f %-8s %s  %s, %s", d.Score, d.Level, deviceLabel(d), orElse(d.Category, "unknown"), orElse(d.Criticality, "unknown"))
		if d.Department != "" {
			fmt.Fprintf(out, ", %s", d.Department)
		}
		fmt.Fprintf(out, "\n      likelihood %.4f × impact %.4f\n", d.Likelihood, d.Impact)
		tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		for _, f := range d.Factors {
			fmt.Fprintf(tw, "      %s\t%s\tvalue %.4f\tweight %.4f\teffect %.4f\t%s\n", f.Part, f.Name, f.Value, f.Weight, f.Effect, f.Explanation)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func writeSummary(out io.Writer, s risk.Summary) error {
	fmt.Fprintf(out, "Risk by %s (formula %s)\n", s.By, s.Formula)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(s.By)+"\tDEVICES\tMEAN\tMAX\tTOP\tCRITICAL\tHIGH\tMEDIUM\tLOW\tOPEN VULNS")
	for _, g := range s.Groups {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%s\t%d\t%d\t%d\t%d\t%d\n", g.Name, g.Devices, g.Mean, g.Max, orElse(g.TopName, g.Top),
			g.Levels["critical"], g.Levels["high"], g.Levels["medium"], g.Levels["low"], g.OpenVulnerabilities)
	}
	return tw.Flush()
}

// writeRiskMarkdown prints the report as Markdown: a table of scores, then
// each device's factors and vulnerabilities.
func writeRiskMarkdown(out io.Writer, scores []risk.DeviceRisk, vulns map[string][]vuln.Record) error {
	fmt.Fprintf(out, "| device | category | criticality | score | level | likelihood | impact | open vulnerabilities |\n|---|---|---|---|---|---|---|---|\n")
	for _, d := range scores {
		fmt.Fprintf(out, "| %s | %s | %s | %.1f | %s | %.4f | %.4f | %d |\n", deviceLabel(d), orElse(d.Category, "unknown"),
			orElse(d.Criticality, "unknown"), d.Score, d.Level, d.Likelihood, d.Impact, len(d.Inputs.Vulns))
	}
	for _, d := range scores {
		fmt.Fprintf(out, "\n#### %s: %.1f (%s)\n\n", deviceLabel(d), d.Score, d.Level)
		fmt.Fprintf(out, "| part | factor | value | weight | effect | explanation |\n|---|---|---|---|---|---|\n")
		for _, f := range d.Factors {
			fmt.Fprintf(out, "| %s | %s | %.4f | %.4f | %.4f | %s |\n", f.Part, f.Name, f.Value, f.Weight, f.Effect, strings.ReplaceAll(f.Explanation, "|", `\|`))
		}
		if rs := vulns[d.DeviceID]; len(rs) > 0 {
			fmt.Fprintln(out)
			for _, r := range rs {
				prod, _, _ := strings.Cut(r.Product, ":")
				fmt.Fprintf(out, "- %s (%s, %s, CVSS %.1f, %s): %s %s\n", r.ID, r.Confidence, r.Type, r.CVSS, strings.Join(r.Advisories, ", "),
					prod, orElse(r.Version, "version unknown"))
			}
		}
	}
	return nil
}
