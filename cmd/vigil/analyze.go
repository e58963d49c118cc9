package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
)

func newAnalyzeCommand(g *globalOptions) *cobra.Command {
	var (
		asJSON bool
		learn  time.Duration
		pol    string
		local  []string
	)
	cmd := &cobra.Command{
		Use:   "analyze CAPTURE...",
		Short: "Run the whole pipeline offline over pcap/pcapng files and print a report",
		Long: `Analyze reads one or more pcap or pcapng files in order, as one stream, and
runs the whole pipeline over them through an embedded NATS server in a
temporary directory: decoding, flows, deep packet inspection, inventory,
baselines and the Rego policies. It prints a report and exits.

Time is the captures' time: --learn is the learning window measured from
the first packet; traffic after it is judged against what was learned.
The same captures always give the same report, byte for byte.

Exit status: 0 on success; 1 when a file is not a capture, or a capture
ends in the middle of a packet (the report then covers every packet
before the problem and is still printed).`,
		Example: `  vigil analyze ward.pcap
  vigil analyze --learn 30m --json monday.pcapng tuesday.pcapng
  vigil analyze --policy ./site-policies capture.pcap`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			logger, err := g.logger(os.Stderr)
			if err != nil {
				return err
			}
			if learn < 0 {
				return fmt.Errorf("--learn %s: must not be negative", learn)
			}
			if len(local) > 0 {
				cfg.Networks.Local = local
			}
			rep, err := analysis{files: files, learn: learn, policy: pol}.run(cmd.Context(), cfg, logger)
			var partial captureError
			if err != nil && !errors.As(err, &partial) {
				return err
			}
			if asJSON {
				b, jerr := rep.JSON()
				if jerr != nil {
					return jerr
				}
				if _, werr := cmd.OutOrStdout().Write(b); werr != nil {
					return werr
				}
			} else if werr := rep.WriteText(cmd.OutOrStdout()); werr != nil {
				return werr
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON (see docs/report.md)")
	cmd.Flags().DurationVar(&learn, "learn", 0, "learning window in capture time from the first packet (default: baseline.learning, 24h)")
	cmd.Flags().StringSliceVar(&local, "local", nil, "CIDR prefixes of the monitored network (default: networks.local, private ranges)")
	cmd.Flags().StringVar(&pol, "policy", "", "directory of site Rego policies, loaded with the shipped library")
	return cmd
}
