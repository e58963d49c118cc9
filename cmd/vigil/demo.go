package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/internal/report"
	"github.com/vigil-health/vigil/internal/synth"
)

func newDemoCommand(g *globalOptions) *cobra.Command {
	var (
		write  string
		asJSON bool
		seed   int64
		listen string
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
would, and prints the devices found and the alerts raised. With --http it
keeps the engines running and serves the HTTP API over the result until
interrupted. Nothing is sent on any network.`,
		Example: `  vigil demo
  vigil demo --write ward.pcap            # keep the capture, e.g. for 'vigil analyze'
  vigil demo --http 127.0.0.1:8080        # then browse /api/v1/devices`,
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
			out := cmd.OutOrStdout()
			show := func(rep *report.Report) error {
				if asJSON {
					b, err := rep.JSON()
					if err != nil {
						return err
					}
					_, err = out.Write(b)
					return err
				}
				return printDemo(out, scenario, rep, write)
			}
			a := analysis{files: []string{path}, learn: opts.Learning}
			if listen != "" {
				a.hold = func(eng *engines, rep *report.Report) error {
					if err := show(rep); err != nil {
						return err
					}
					return serveUntilDone(cmd.Context(), cfg, listen, eng, cmd.ErrOrStderr())
				}
			}
			rep, err := a.run(cmd.Context(), cfg, logger)
			if err != nil || listen != "" {
				return err
			}
			return show(rep)
		},
	}
	cmd.Flags().StringVar(&write, "write", "", "keep the generated capture in this pcap file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON instead of the summary")
	cmd.Flags().Int64Var(&seed, "seed", 0, "seed of the generator (same seed, same capture)")
	cmd.Flags().StringVar(&listen, "http", "", "after the summary, serve the HTTP API on this address until interrupted")
	return cmd
}

// printDemo writes the human summary of the demo.
func printDemo(out io.Writer, scenario *synth.Scenario, rep *report.Report, kept string) error {
	opts := scenario.Options
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
	if kept != "" {
		fmt.Fprintf(out, "\nThe capture is in %s: try 'vigil analyze --learn %s %s'.\n", kept, opts.Learning, kept)
	}
	return nil
}

// serveUntilDone serves the API over the engines until ctx ends.
func serveUntilDone(ctx context.Context, cfg Config, listen string, eng *engines, status io.Writer) error {
	cfg.HTTP.Listen = listen
	// Warnings (a server without users) go to the terminal.
	api, err := newAPI(cfg, slog.New(slog.NewTextHandler(status, &slog.HandlerOptions{Level: slog.LevelWarn})), eng, nil, nil)
	if err != nil {
		return err
	}
	if err := api.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(status, "vigil: dashboard on http://%s/ (API under /api/v1/); interrupt to stop\n", api.Addr())
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return api.Stop(stopCtx)
}
