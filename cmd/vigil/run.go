package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/capture"
	"github.com/vigil-health/vigil/capture/protocols"
	"github.com/vigil-health/vigil/store"
	"github.com/vigil-health/vigil/web"
)

func newRunCommand(g *globalOptions) *cobra.Command {
	var pcap, iface, data, natsURL, httpAddr string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the whole system in one process until interrupted",
		Long: `Run starts everything in one process: the event log (an embedded NATS server
with JetStream storing under the data directory, or an external NATS with
--nats), the sensor, the inventory, the baselines, the policy engine and the
HTTP API. It runs until interrupted (SIGINT or SIGTERM), then drains and
stops cleanly.

State survives restarts: the streams and the engines' consumer positions
live in the data directory (or the external NATS). With store.addresses
set, every event is also written to ClickHouse (acknowledged only once
stored).`,
		Example: `  vigil run --pcap ward.pcap --http 127.0.0.1:8080
  vigil run --iface eth1 --data /var/lib/vigil
  vigil run --nats nats://nats-1:4222,nats://nats-2:4222 --config /etc/vigil/vigil.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if pcap != "" && iface != "" {
				return errors.New("--pcap and --iface: give one source, not both")
			}
			if data != "" {
				cfg.DataDir = data
			}
			if natsURL != "" {
				cfg.Events.URL = natsURL
			}
			if httpAddr != "" {
				cfg.HTTP.Listen = httpAddr
			}
			if pcap != "" {
				if err := checkCapture(pcap); err != nil {
					return err
				}
				cfg.Sensor.Files = []string{pcap}
			}
			if iface != "" {
				if !capture.LiveSupported() {
					return fmt.Errorf("--iface %s: live capture needs Linux (AF_PACKET); record with tcpdump and use --pcap", iface)
				}
				cfg.Sensor.Interface = iface
			}
			logger, err := g.logger(os.Stderr)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
				return fmt.Errorf("data directory: %w", err)
			}
			ctx := cmd.Context()
			lc := &lifecycle{logger: logger}
			defer func() {
				if err := lc.stop(); err != nil {
					logger.Error("shutdown", "err", err)
				}
			}()
			eng, err := startEngines(ctx, cfg, logger, lc)
			if err != nil {
				return err
			}
			writer, err := startStore(ctx, cfg, logger, lc, eng.bus)
			if err != nil {
				return err
			}
			if err := startHealth(ctx, cmd.ErrOrStderr(), cfg, logger, lc, eng.bus, writer); err != nil {
				return err
			}
			var sensor *capture.Component
			if len(cfg.Sensor.Files) > 0 || cfg.Sensor.Interface != "" {
				pub := sensorPublisher(eng.bus, cfg.Sensor)
				if err := lc.start(ctx, "sensor publisher", pub); err != nil {
					return err
				}
				sensor, err = capture.New(cfg.Sensor, capture.Dependencies{Logger: logger, Publisher: pub, Dissectors: protocols.Dissectors})
				if err != nil {
					return err
				}
				if err := lc.start(ctx, "sensor", sensor); err != nil {
					return err
				}
			}
			if cfg.HTTP.Listen != "" {
				api, err := newAPI(cfg, logger, eng, sensor, writer)
				if err != nil {
					return err
				}
				if err := lc.start(ctx, "web", api); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "vigil: dashboard on %s://%s/\n", map[bool]string{true: "https", false: "http"}[cfg.HTTP.TLSCert != ""], api.Addr())
			}
			logger.Info("running", "data", cfg.DataDir, "nats", cfg.Events.URL)
			if sensor != nil {
				select {
				case <-sensor.Done():
					if err := sensor.Err(); err != nil {
						logger.Error("capture ended with an error", "err", err)
					} else {
						logger.Info("capture finished; engines keep running until interrupted")
					}
				case <-ctx.Done():
				}
			}
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&pcap, "pcap", "", "read packets from this pcap/pcapng file")
	cmd.Flags().StringVar(&iface, "iface", "", "capture live on this interface (AF_PACKET)")
	cmd.Flags().StringVar(&data, "data", "", "data directory (default: data_dir of the configuration)")
	cmd.Flags().StringVar(&natsURL, "nats", "", "external NATS URL(s) instead of the embedded server")
	cmd.Flags().StringVar(&httpAddr, "http", "", "serve the HTTP API on this address, e.g. 127.0.0.1:8080")
	return cmd
}

// newAPI builds the dashboard and the API over the engines (webcmd.go).
func newAPI(cfg Config, logger *slog.Logger, eng *engines, sensor *capture.Component, writer *store.Writer) (*web.Component, error) {
	return web.New(webConfiguration(cfg), webDependencies(cfg, logger, eng, sensor, writer))
}

// status gathers every component's counters for the API.
func status(eng *engines, sensor *capture.Component) map[string]any {
	s := map[string]any{
		"events":    eng.bus.Stats(),
		"inventory": eng.inventory.Stats(),
		"baseline":  eng.baseline.Stats(),
		"policy":    eng.policy.Stats(),
	}
	if sensor != nil {
		s["sensor"] = sensor.Stats()
	}
	return s
}
