package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/internal/synth"
)

func newDemoCommand(g *globalOptions) *cobra.Command {
	var (
		write  string
		asJSON bool
		seed   int64
		httpOn string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Generate a synthetic hospital ward capture and analyse it",
		Long: `Demo generates a small synthetic capture of a hospital ward with Vigil's own
traffic generator: a CT scanner sending images to a PACS over DICOM, a lab
analyser sending HL7 results to an interface engine, infusion pumps, patient
monitors, a workstation, DHCP and DNS. After 30 minutes of normal traffic
(the learning window) it injects anomalies: an infusion pump talking to an
internet address and a port scan of the PACS.

It then runs the whole pipeline on the capture, exactly as 'vigil analyze'
would, and prints the devices found and the alerts raised. Nothing is sent
on any network.`,
		Example: `  vigil demo
  vigil demo --write ward.pcap     # keep the capture, e.g. for 'vigil analyze'`,
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
			if httpOn != "" {
				return errors.New("--http: the dashboard does not exist yet; the demo prints its summary and exits")
			}
			opts := synth.DefaultOptions()
			opts.Seed = seed
			scenario := synth.Ward(opts)
			path := write
			if path == "" {
				dir, err := os.MkdirTemp("", "vigil-demo-")
				if err != nil {
					return fmt.Errorf("temporary directory: %w", err)
				}
				defer os.RemoveAll(dir)
				path = filepath.Join(dir, "ward.pcap")
			}
			if err := scenario.WritePCAPFile(path); err != nil {
				return fmt.Errorf("write demo capture: %w", err)
			}
			rep, err := analysis{files: []string{path}, learn: opts.Learning}.run(cmd.Context(), cfg, logger)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				b, err := rep.JSON()
				if err != nil {
					return err
				}
				_, err = out.Write(b)
				return err
			}
			fmt.Fprintf(out, "Vigil demo: a synthetic ward of %d devices, %d packets, learning %s then detecting %s.\n",
				len(scenario.Devices), len(scenario.Packets), opts.Learning, opts.Detection)
			fmt.Fprintf(out, "Injected anomalies:\n")
			for _, a := range scenario.Anomalies {
				fmt.Fprintf(out, "  %s  %s\n", a.Start.UTC().Format("15:04:05"), a.Note)
			}
			fmt.Fprintln(out)
			if err := rep.WriteText(out); err != nil {
				return err
			}
			if write != "" {
				fmt.Fprintf(out, "\nThe capture is in %s: try 'vigil analyze --learn %s %s'.\n", write, opts.Learning, write)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&write, "write", "", "keep the generated capture in this pcap file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON instead of the summary")
	cmd.Flags().Int64Var(&seed, "seed", 0, "seed of the generator (same seed, same capture)")
	cmd.Flags().StringVar(&httpOn, "http", "", "keep serving the dashboard on this address (not available yet)")
	return cmd
}
