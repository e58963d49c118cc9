package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/baseline"
	"github.com/vigil-health/vigil/capture"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/config"
	"github.com/vigil-health/vigil/internal/netclass"
	"github.com/vigil-health/vigil/inventory"
	"github.com/vigil-health/vigil/policy"
	"github.com/vigil-health/vigil/store"
)

// Config is the whole configuration file. Each section belongs to one
// component and holds that component's defaults.
type Config struct {
	// DataDir holds the embedded JetStream store and projection snapshots.
	DataDir string `yaml:"data_dir"`
	// Site names the hospital campus this instance watches.
	Site      string                  `yaml:"site"`
	HTTP      HTTPConfiguration       `yaml:"http"`
	Networks  netclass.Configuration  `yaml:"networks"`
	Events    events.Configuration    `yaml:"events"`
	Sensor    capture.Configuration   `yaml:"sensor"`
	Inventory inventory.Configuration `yaml:"inventory"`
	Baseline  baseline.Configuration  `yaml:"baseline"`
	Policy    policy.Configuration    `yaml:"policy"`
	// Store is the ClickHouse history; without addresses, none is kept.
	Store store.Configuration `yaml:"store"`
}

// HTTPConfiguration configures the HTTP API.
type HTTPConfiguration struct {
	// Listen is the API address; empty disables the server.
	Listen string `yaml:"listen"`
}

// defaultConfig returns the built-in defaults: everything embedded, state
// under /var/lib/vigil (or ./vigil-data when that is not writable).
func defaultConfig() Config {
	return Config{
		DataDir:   defaultDataDir(),
		Site:      "default",
		Events:    events.DefaultConfiguration(),
		Sensor:    capture.DefaultConfiguration(),
		Inventory: inventory.DefaultConfiguration(),
		Baseline:  baseline.DefaultConfiguration(),
		Policy:    policy.DefaultConfiguration(),
		Store:     store.DefaultConfiguration(),
	}
}

func defaultDataDir() string {
	const system = "/var/lib/vigil"
	if os.Geteuid() == 0 {
		return system
	}
	return "vigil-data"
}

// Validate checks what no single section can.
func (c Config) Validate() []error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: must not be empty"))
	}
	if c.Site == "" {
		errs = append(errs, errors.New("site: must not be empty"))
	}
	if c.Policy.Dir != "" {
		if st, err := os.Stat(c.Policy.Dir); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("policy.dir: %q is not a readable directory", c.Policy.Dir))
		}
	}
	return errs
}

// loadConfig reads defaults, the file named by --config and the
// environment.
func (g *globalOptions) loadConfig() (Config, error) {
	cfg := defaultConfig()
	if err := config.Load(g.configFile, &cfg, os.Environ()); err != nil {
		name := g.configFile
		if name == "" {
			name = "defaults and environment"
		}
		return cfg, fmt.Errorf("invalid configuration (%s):\n%w", name, indent(err))
	}
	if !filepath.IsAbs(cfg.DataDir) {
		if abs, err := filepath.Abs(cfg.DataDir); err == nil {
			cfg.DataDir = abs
		}
	}
	return cfg, nil
}

// indent puts every joined error on its own indented line.
func indent(err error) error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	var out []error
	for _, e := range list {
		out = append(out, fmt.Errorf("  %w", e))
	}
	return errors.Join(out...)
}

func newConfigCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check or print the configuration",
		Long: `Vigil reads one YAML file (--config or $VIGIL_CONFIG). Unknown keys are
errors. Every setting can be overridden from the environment as
VIGIL_<SECTION>_<KEY>, for example VIGIL_EVENTS_URL=nats://nats:4222 or
VIGIL_BASELINE_LEARNING=48h.`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and report every error at once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.loadConfig(); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "configuration is valid")
			return nil
		},
	}, &cobra.Command{
		Use:   "dump",
		Short: "Print the effective configuration (defaults, file and environment merged)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if cfg.Store.Password != "" {
				cfg.Store.Password = "(set; not shown)" // a dump is shared in tickets
			}
			return config.Dump(cmd.OutOrStdout(), cfg)
		},
	})
	return cmd
}
