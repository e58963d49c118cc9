package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/bench/detection"
)

func newDetectCommand(g *globalOptions) *cobra.Command {
	var (
		pcaps, rigDir       string
		synthLearn, synthOn time.Duration
		asJSON              bool
	)
	cmd := &cobra.Command{
		Use:   "detect",
		Short: "Measure detection quality: recall on known attacks, false alerts on normal traffic",
		Long: `Detect runs the whole pipeline (as 'vigil analyze' does) over captures whose
anomalies are known and scores the alerts: each anomaly must raise an alert
of the expected rule on the device that misbehaved (recall), and alerts after
learning that belong to no anomaly are false alerts, counted per device-day
of judged traffic.

The cases: the shared corpus's captures with known attacks (--pcaps: Zeek's
FTP and SSH brute-force traces with their notice.log oracles, nmap SYN
scans), the synthetic ward (internal/synth, its own truth), and a detection
recording of the rig (--rig: real daemons in network namespaces, a normal
phase then injected anomalies; make one with 'sudo rig/detect.sh DIR').
docs/detection.md reports the figures.

Exit status: 0 when every anomaly was detected and no false alert was
raised, 1 otherwise (the table is printed either way).`,
		Example: `  vigil detect --pcaps ../shared/pcaps
  vigil detect --pcaps ../shared/pcaps --rig /tmp/rig-detect --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			logger, err := g.logger(os.Stderr)
			if err != nil {
				return err
			}
			tmp, err := os.MkdirTemp("", "vigil-detect-")
			if err != nil {
				return fmt.Errorf("temporary directory: %w", err)
			}
			defer os.RemoveAll(tmp)
			var cases []detection.Case
			if pcaps != "" {
				cases = append(cases, detection.PublicCases(pcaps)...)
			}
			if synthOn > 0 {
				c, err := detection.SynthCase(tmp, synthLearn, synthOn)
				if err != nil {
					return err
				}
				cases = append(cases, c)
			}
			if rigDir != "" {
				c, err := detection.RigCase(rigDir)
				if err != nil {
					return err
				}
				cases = append(cases, c)
			}
			if len(cases) == 0 {
				return fmt.Errorf("no case: give --pcaps, --rig or a positive --synth-detection")
			}
			results, err := runDetection(cmd.Context(), cfg, logger, cases)
			if err != nil {
				return err
			}
			sum := detection.Summarize(results)
			if asJSON {
				b, err := json.MarshalIndent(struct {
					Summary detection.Summary  `json:"summary"`
					Cases   []detection.Result `json:"cases"`
				}{sum, results}, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
			} else if err := writeDetection(cmd.OutOrStdout(), results, sum); err != nil {
				return err
			}
			if sum.Detected < sum.Anomalies || sum.FalseAlerts > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&pcaps, "pcaps", "", "the shared corpus's pcaps directory (../shared/pcaps)")
	cmd.Flags().StringVar(&rigDir, "rig", "", "a detection recording of the rig (rig/detect.sh OUTDIR)")
	cmd.Flags().DurationVar(&synthLearn, "synth-learning", 2*time.Hour, "learning phase of the synthetic ward")
	cmd.Flags().DurationVar(&synthOn, "synth-detection", 6*time.Hour, "detection phase of the synthetic ward (0: no synthetic case)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}

// runDetection analyses each case with its overrides and scores it.
func runDetection(ctx context.Context, cfg Config, logger *slog.Logger, cases []detection.Case) ([]detection.Result, error) {
	var out []detection.Result
	for _, c := range cases {
		ccfg := cfg
		if c.AuthThreshold > 0 {
			ccfg.Baseline.AuthThreshold = c.AuthThreshold
		}
		if len(c.Local) > 0 {
			ccfg.Networks.Local = c.Local
		}
		rep, err := analysis{files: c.Captures, learn: c.Learn}.run(ctx, ccfg, logger)
		if err != nil {
			return nil, fmt.Errorf("case %s: %w", c.Name, err)
		}
		out = append(out, detection.Score(c, rep))
	}
	return out, nil
}

// writeDetection prints the results as a table, then the details of each
// miss and false alert.
func writeDetection(w io.Writer, results []detection.Result, sum detection.Summary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tsource\tanomalies\tdetected\trecall\tdevices\tdevice-days judged\tfalse alerts\tper device-day")
	for _, r := range results {
		det := 0
		for _, f := range r.Found {
			if f.Detected {
				det++
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.2f\t%d\t%.4f\t%d\t%s\n", r.Case, r.Source, len(r.Found), det, r.Recall,
			r.Devices, r.DeviceDays, len(r.FalseAlerts), perDay(r.FalseAlertsPerDevDay, r.DeviceDays))
	}
	fmt.Fprintf(tw, "total\t\t%d\t%d\t%.2f\t\t%.4f\t%d\t%s\n", sum.Anomalies, sum.Detected, sum.Recall,
		sum.DeviceDays, sum.FalseAlerts, perDay(sum.FalseAlertsPerDevDay, sum.DeviceDays))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		fmt.Fprintf(w, "\n%s:\n", r.Case)
		for _, f := range r.Found {
			mark := "MISSED"
			if f.Detected {
				mark = "detected"
			}
			fmt.Fprintf(w, "  %-8s %s on %s\n", mark, f.Anomaly, f.Device)
			for _, a := range f.Alerts {
				fmt.Fprintf(w, "           %s\n", a)
			}
		}
		for _, a := range r.FalseAlerts {
			fmt.Fprintf(w, "  FALSE    %s\n", a)
		}
		if n := len(r.Consequences); n > 0 {
			fmt.Fprintf(w, "  %d other alert(s) on devices of an anomaly during it: %s\n", n, rules(r.Consequences))
		}
		if n := len(r.Learning); n > 0 {
			fmt.Fprintf(w, "  %d alert(s) while learning: %s\n", n, rules(r.Learning))
		}
	}
	return nil
}

func perDay(v, days float64) string {
	if days == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

// rules counts alerts by rule, in order of first appearance.
func rules(refs []detection.AlertRef) string {
	var order []string
	n := map[string]int{}
	for _, r := range refs {
		if n[r.Rule] == 0 {
			order = append(order, r.Rule)
		}
		n[r.Rule]++
	}
	parts := make([]string, len(order))
	for i, r := range order {
		parts[i] = fmt.Sprintf("%s ×%d", r, n[r])
	}
	return strings.Join(parts, ", ")
}
