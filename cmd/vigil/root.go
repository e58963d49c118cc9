package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// globalOptions are the flags every command takes.
type globalOptions struct {
	configFile string
	logLevel   string
	logFormat  string
}

func newRootCommand() *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "vigil",
		Short: "Passive security engine for hospital networks",
		Long: `Vigil watches mirrored switch traffic of a hospital network. It builds an
inventory of every device (medical, IoT and IT) by deep packet inspection,
learns how each device normally communicates, evaluates deviations with Rego
policies and raises alerts for the SOC, without ever sending a packet to a
monitored device.

Start here:
  vigil demo                      generate a synthetic ward capture and analyse it
  vigil analyze CAPTURE.pcap      analyse captures offline and print a report
  vigil devices CAPTURE.pcap      the device inventory (or --server URL of a running vigil)
  vigil run --pcap FILE           run the whole system (embedded NATS) on a capture
  vigil run --iface eth1          the same, live on a mirror port
  vigil sensor --nats URL --iface eth1   the sensor alone, publishing to NATS
  vigil config dump               print the effective configuration`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.configFile, "config", "c", os.Getenv("VIGIL_CONFIG"),
		"configuration file (YAML); also $VIGIL_CONFIG")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(
		newVersionCommand(),
		newRunCommand(g),
		newSensorCommand(g),
		newAnalyzeCommand(g),
		newDevicesCommand(g),
		newDemoCommand(g),
		newConfigCommand(g),
		newPolicyCommand(g),
		newWebCommand(),
		newEngineCommand(g),
		newReplayCommand(g),
		newDetectCommand(g),
		newVulnCommand(g),
		newRiskCommand(g),
		newScannerCommand(g),
		newAlertsCommand(g),
		newEnforceCommand(g),
	)
	return root
}

// logger builds the process logger on stderr; stdout is kept for reports.
func (g *globalOptions) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(g.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", g.logFormat)
}
