package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/capture"
	"github.com/vigil-health/vigil/capture/protocols"
	"github.com/vigil-health/vigil/events"
)

func newSensorCommand(g *globalOptions) *cobra.Command {
	var natsURL, iface, filter string
	var pcaps []string
	var workers int
	cmd := &cobra.Command{
		Use:   "sensor",
		Short: "Capture and publish events to a NATS server (the sensor alone)",
		Long: `Sensor runs only the capture: it reads a mirror port live (AF_PACKET) or
capture files, decodes, tracks flows, runs the dissectors and publishes
flow, observation, authentication and health events to the event log of
an external NATS server or cluster. Engines (vigil run, or vigil engine in a
distributed deployment) consume them. It is the same code as the sensor of
vigil run.

Live capture needs root or CAP_NET_RAW. A capture filter in tcpdump syntax
is compiled with tcpdump once, at start.`,
		Example: `  vigil sensor --nats nats://nats:4222 --iface eth1
  vigil sensor --nats nats://nats:4222 --iface eth1 --workers 4 --filter 'not port 22'
  vigil sensor --nats nats://nats:4222 --pcap ward-1.pcap --pcap ward-2.pcap`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if natsURL != "" {
				cfg.Events.URL = natsURL
			}
			if cfg.Events.URL == "" {
				return errors.New("--nats: the sensor publishes to an external NATS server (or use vigil run, which embeds one)")
			}
			if iface != "" {
				cfg.Sensor.Interface = iface
			}
			if len(pcaps) > 0 {
				for _, p := range pcaps {
					if err := checkCapture(p); err != nil {
						return err
					}
				}
				cfg.Sensor.Files = pcaps
			}
			if filter != "" {
				cfg.Sensor.Filter = filter
			}
			if workers > 0 {
				cfg.Sensor.Workers = workers
			}
			if cfg.Sensor.Interface == "" && len(cfg.Sensor.Files) == 0 {
				return errors.New("give --iface or --pcap (or sensor.interface / sensor.files in the configuration)")
			}
			logger, err := g.logger(os.Stderr)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			lc := &lifecycle{logger: logger}
			defer func() {
				if err := lc.stop(); err != nil {
					logger.Error("shutdown", "err", err)
				}
			}()
			bus, err := events.NewBus(cfg.Events, events.Dependencies{Logger: logger, DataDir: cfg.DataDir})
			if err != nil {
				return err
			}
			if err := lc.start(ctx, "events", bus); err != nil {
				return err
			}
			pub := sensorPublisher(bus, cfg.Sensor)
			if err := lc.start(ctx, "sensor publisher", pub); err != nil {
				return err
			}
			sensor, err := capture.New(cfg.Sensor, capture.Dependencies{Logger: logger, Publisher: pub, Dissectors: protocols.Dissectors})
			if err != nil {
				return err
			}
			if err := lc.start(ctx, "sensor", sensor); err != nil {
				return err
			}
			select {
			case <-sensor.Done():
			case <-ctx.Done():
			}
			if err := lc.stop(); err != nil {
				return err
			}
			st := sensor.Stats()
			fmt.Fprintf(cmd.ErrOrStderr(), "vigil sensor: %d packets, %d flows, %d observations, %d kernel drops, %d publish errors\n",
				st.Packets, st.Flows, st.Observations, st.KernelDrops, st.PublishErrors)
			return sensor.Err()
		},
	}
	cmd.Flags().StringVar(&natsURL, "nats", "", "NATS URL(s) to publish to (comma separated)")
	cmd.Flags().StringVar(&iface, "iface", "", "capture live on this interface (AF_PACKET)")
	cmd.Flags().StringArrayVar(&pcaps, "pcap", nil, "read this capture file (repeatable, read in order)")
	cmd.Flags().StringVar(&filter, "filter", "", "capture filter, tcpdump syntax")
	cmd.Flags().IntVar(&workers, "workers", 0, "capture workers sharing the interface (fanout)")
	return cmd
}

// sensorPublisher batches the sensor's events (events.Batcher): on a live
// interface a partial batch leaves after the linger; from files only when
// full or when the capture ends, so re-reading a capture gives the same
// batches and JetStream drops them as duplicates.
func sensorPublisher(bus *events.Bus, cfg capture.Configuration) *events.Batcher {
	return bus.NewBatcher(events.BatchOptions{Linger: cfg.Interface != ""})
}
