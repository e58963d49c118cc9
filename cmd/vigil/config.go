package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/baseline"
	"github.com/vigil-health/vigil/capture"
	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/enforce/backends"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/config"
	"github.com/vigil-health/vigil/internal/netclass"
	"github.com/vigil-health/vigil/inventory"
	"github.com/vigil-health/vigil/policy"
	"github.com/vigil-health/vigil/risk"
	"github.com/vigil-health/vigil/scanner"
	"github.com/vigil-health/vigil/store"
	"github.com/vigil-health/vigil/vuln/match"
	"github.com/vigil-health/vigil/web"
)

// Config is the whole configuration file. Each section belongs to one
// component and holds that component's defaults.
type Config struct {
	// DataDir holds the embedded JetStream store and projection snapshots.
	DataDir string `yaml:"data_dir"`
	// Offline is set by the offline analyses (analyze, demo, detect, the
	// risk and vulnerability reports): a recording replayed in a temporary
	// directory must never reach the SOC's outputs or a firewall. It is
	// not a setting.
	Offline bool `yaml:"-"`
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
	// Engine names the process, configures its health and /metrics, and
	// (vigil engine) its share of the partitions.
	Engine EngineConfiguration `yaml:"engine"`
	// Vuln configures vulnerability matching, Risk the risk score.
	Vuln match.Configuration `yaml:"vuln"`
	Risk risk.Configuration  `yaml:"risk"`
	// Scanner is the active-scanner integration (docs/scanners.md).
	Scanner scanner.Configuration `yaml:"scanner"`
	// Alerts is the SOC alert service and its outputs (docs/alerts.md).
	Alerts alerts.Configuration `yaml:"alerts"`
	// Enforce is the enforcement engine: the patient-safety gate and the
	// enforcement points (docs/enforcement.md).
	Enforce EnforceConfiguration `yaml:"enforce"`
}

// EnforceConfiguration is the enforcement engine's settings plus its vendor
// enforcement points. The points live in enforce/backends, which imports
// enforce, so the section is assembled here rather than in the engine's
// own Configuration.
type EnforceConfiguration struct {
	enforce.Configuration `yaml:",inline"`
	// Backends are the vendor enforcement points (docs/enforcement-backends.md);
	// nftables is configured beside them, under enforce.nftables.
	Backends backends.Configuration `yaml:"backends"`
}

// Validate checks both parts; each error names its field.
func (c EnforceConfiguration) Validate() []error {
	errs := c.Configuration.Validate()
	for _, err := range c.Backends.Validate() {
		errs = append(errs, fmt.Errorf("backends.%w", err))
	}
	return errs
}

// HTTPConfiguration configures the HTTP API.
type HTTPConfiguration struct {
	// Listen is the API address; empty disables the server.
	Listen string `yaml:"listen"`
	// TLSCert and TLSKey (PEM files) make the dashboard speak HTTPS.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// Auth lists the dashboard's users and API tokens (docs/web.md);
	// without any, it serves only on a loopback address.
	Auth web.AuthConfiguration `yaml:"auth"`
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
		Engine:    DefaultEngineConfiguration(),
		Vuln:      match.DefaultConfiguration(),
		Risk:      risk.DefaultConfiguration(),
		Scanner:   scanner.DefaultConfiguration(),
		Alerts:    alerts.DefaultConfiguration(),
		Enforce:   EnforceConfiguration{Configuration: enforce.DefaultConfiguration(), Backends: backends.DefaultConfiguration()},
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
			// A dump is shared in tickets: no secret in it.
			cfg.Store = cfg.Store.Redacted()
			cfg.Events.Security = cfg.Events.Security.Redacted()
			cfg.Events.URL = events.RedactURL(cfg.Events.URL)
			cfg.Scanner = cfg.Scanner.Redacted()
			cfg.Alerts = cfg.Alerts.Redacted()
			cfg.Enforce.Backends = cfg.Enforce.Backends.Redacted()
			return config.Dump(cmd.OutOrStdout(), cfg)
		},
	})
	return cmd
}
