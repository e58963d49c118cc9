package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/cluster"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/store"
)

// EngineConfiguration is the engine section: how one `vigil engine`
// process names itself and reports its health.
type EngineConfiguration struct {
	// Name identifies the process in health events and metrics; empty
	// means the host name.
	Name string `yaml:"name"`
	// Health configures the health events and /metrics.
	Health cluster.HealthConfiguration `yaml:"health"`
	// MetricsListen serves /metrics (Prometheus) and /healthz on its own
	// address, for example 0.0.0.0:9464; empty serves none.
	MetricsListen string `yaml:"metrics_listen"`
	// Slots is how many engines share the device partitions; each engine
	// takes one slot (a lease in NATS) and its projections consume the
	// partitions p with p % slots == slot. 1 means this engine does all.
	Slots int `yaml:"slots"`
	// Slot is the slot to take, or -1 for the first free one; an engine
	// that finds every slot held waits as a standby.
	Slot int `yaml:"slot"`
	// LeaseTTL is how long a dead engine's slot stays held before a
	// standby takes it over.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
}

// DefaultEngineConfiguration reports health every 30 seconds.
func DefaultEngineConfiguration() EngineConfiguration {
	return EngineConfiguration{Health: cluster.DefaultHealthConfiguration(), Slots: 1, Slot: -1, LeaseTTL: 15 * time.Second}
}

// Validate reports every problem, naming fields within the section.
func (c EngineConfiguration) Validate() []error {
	var errs []error
	for _, e := range c.Health.Validate() {
		errs = append(errs, fmt.Errorf("health.%w", e))
	}
	if c.Slots < 1 || c.Slots > 1024 {
		errs = append(errs, fmt.Errorf("slots: %d is outside 1..1024", c.Slots))
	} else if c.Slot < -1 || c.Slot >= c.Slots {
		errs = append(errs, fmt.Errorf("slot: %d is neither -1 (any free) nor a slot of 0..%d", c.Slot, c.Slots-1))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("lease_ttl: must be at least 1s, got %s", c.LeaseTTL))
	}
	return errs
}

func (c EngineConfiguration) name() string {
	if c.Name != "" {
		return c.Name
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "vigil-engine"
}

func newEngineCommand(g *globalOptions) *cobra.Command {
	var natsURL, metricsAddr, name string
	cmd := &cobra.Command{
		Use:   "engine",
		Short: "Run everything except capture against an external NATS (distributed mode)",
		Long: `Engine runs the consumers of the event log without a sensor: the
inventory, the baselines, the policy engine and the other engines, the
ClickHouse writer (when store.addresses is set), health events (consumer
lag, redeliveries, failed inserts) in the event log every
engine.health.interval and, with --metrics, Prometheus metrics. Sensors
(vigil sensor) publish to the same NATS cluster.

Several engines may run. Their store writers share one JetStream consumer
(each batch goes to one of them). With engine.slots: N, each engine takes
one of N slots (a lease in NATS) and its projections consume only that
slot's partitions; an engine that finds every slot held waits as a
standby and takes over the slot of one that died. See docs/deployment.md.`,
		Example: `  vigil engine --nats nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222 --config /etc/vigil/vigil.yaml
  vigil engine --nats tls://nats:4222 --metrics 0.0.0.0:9464 --name engine-a`,
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
				return errors.New("--nats: the engine consumes from an external NATS server or cluster (or use vigil run, which embeds one)")
			}
			if metricsAddr != "" {
				cfg.Engine.MetricsListen = metricsAddr
			}
			if name != "" {
				cfg.Engine.Name = name
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
			lost, err := claimSlot(ctx, &cfg, logger, lc)
			if err != nil {
				return err
			}
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
			logger.Info("engine running", "name", cfg.Engine.name(), "nats", events.RedactURL(cfg.Events.URL), "share", cfg.Events.Share.String())
			fmt.Fprintf(cmd.ErrOrStderr(), "vigil engine %s: running, %s\n", cfg.Engine.name(), cfg.Events.Share)
			select {
			case <-ctx.Done():
				return nil
			case err := <-lost:
				// Another engine holds the slot now: stop consuming at
				// once (the deferred stop) and exit with the reason, for
				// the supervisor to start this one again as a standby.
				return err
			}
		},
	}
	cmd.Flags().StringVar(&natsURL, "nats", "", "NATS URL(s) of the cluster (comma separated)")
	cmd.Flags().StringVar(&metricsAddr, "metrics", "", "serve /metrics (Prometheus) and /healthz on this address")
	cmd.Flags().StringVar(&name, "name", "", "name of this engine in health reports (default: host name)")
	return cmd
}

// startHealth starts the health events and, with
// engine.metrics_listen, the /metrics server; `vigil engine` and `vigil
// run` share it.
func startHealth(ctx context.Context, out io.Writer, cfg Config, logger *slog.Logger, lc *lifecycle, bus *events.Bus, writer *store.Writer) error {
	deps := cluster.HealthDependencies{Logger: logger, Bus: bus, Name: cfg.Engine.name()}
	if writer != nil {
		deps.Writer = writer.Stats
	}
	health, err := cluster.NewHealth(cfg.Engine.Health, deps)
	if err != nil {
		return err
	}
	if err := lc.start(ctx, "health", health); err != nil {
		return err
	}
	if cfg.Engine.MetricsListen == "" {
		return nil
	}
	ms := &metricsServer{listen: cfg.Engine.MetricsListen, handler: health}
	if err := lc.start(ctx, "metrics", ms); err != nil {
		return err
	}
	fmt.Fprintf(out, "vigil: metrics on http://%s/metrics\n", ms.addr())
	return nil
}

// claimSlot takes an engine slot when several engines share the
// partitions, through its own connection (the lease outlives the engines'
// stop: it is freed last), and restricts cfg's consumers to the slot's
// share. With one slot it does nothing and the returned channel never
// delivers.
func claimSlot(ctx context.Context, cfg *Config, logger *slog.Logger, lc *lifecycle) (<-chan error, error) {
	if cfg.Engine.Slots <= 1 {
		return nil, nil
	}
	bus, err := events.NewBus(cfg.Events, events.Dependencies{Logger: logger, DataDir: cfg.DataDir})
	if err != nil {
		return nil, err
	}
	if err := lc.start(ctx, "lease connection", bus); err != nil {
		return nil, err
	}
	lease, err := cluster.Claim(ctx, bus.JetStream(), cluster.LeaseConfiguration{
		Slots: cfg.Engine.Slots, Slot: cfg.Engine.Slot, TTL: cfg.Engine.LeaseTTL, Replicas: cfg.Events.Replicas,
	}, cfg.Engine.name(), logger)
	if err != nil {
		return nil, err
	}
	if err := lc.start(ctx, "lease", lease); err != nil {
		return nil, err
	}
	share, err := events.SlotShare(lease.Slot, cfg.Engine.Slots, cfg.Events.Partitions)
	if err != nil {
		return nil, fmt.Errorf("engine.slots: %w", err)
	}
	cfg.Events.Share = share
	return lease.Lost(), nil
}

// metricsServer serves /metrics and /healthz on their own address, so
// that Prometheus scrapes without the dashboard's authentication and a
// firewall can tell the two apart.
type metricsServer struct {
	listen  string
	handler http.Handler
	ln      net.Listener
	srv     *http.Server
	done    chan error
}

func (m *metricsServer) Start(context.Context) error {
	ln, err := net.Listen("tcp", m.listen)
	if err != nil {
		return fmt.Errorf("metrics_listen %s: %w", m.listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.handler)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	m.ln, m.srv, m.done = ln, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, make(chan error, 1)
	go func() { m.done <- m.srv.Serve(ln) }()
	return nil
}

func (m *metricsServer) Stop(ctx context.Context) error {
	err := m.srv.Shutdown(ctx)
	if serr := <-m.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

func (m *metricsServer) addr() string { return m.ln.Addr().String() }

// stopContext is a fresh bounded context for shutdown work after the
// command's context ended.
func stopContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}
