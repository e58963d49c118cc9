package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/baseline"
	"github.com/vigil-health/vigil/capture"
	"github.com/vigil-health/vigil/capture/protocols"
	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/enforce/edl"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/netclass"
	"github.com/vigil-health/vigil/internal/report"
	"github.com/vigil-health/vigil/inventory"
	"github.com/vigil-health/vigil/inventory/classify"
	"github.com/vigil-health/vigil/inventory/oui"
	"github.com/vigil-health/vigil/policy"
	"github.com/vigil-health/vigil/store"
	"github.com/vigil-health/vigil/web"
)

// engines are the consumers of the event log: everything downstream of
// the sensor. `vigil run`, `vigil analyze` and `vigil demo` share them.
type engines struct {
	bus       *events.Bus
	inventory *inventory.Component
	baseline  *baseline.Component
	policy    *policy.Component
	vulnRisk  *vulnRisk // vulncmd.go
	// scanner is the scanner integration (scannercmd.go).
	scanner *scannerSync
	alerts  *alertsEngine // alertscmd.go
	// enforce is the enforcement engine (enforcecmd.go).
	enforce *enforce.Component
	// feeds are the enforcement points served over HTTP (blocklist feeds).
	feeds []web.Feed
	// blocklists are the feeds firewalls poll, watched by the health page.
	blocklists []*edl.Feed
}

// startStore starts the ClickHouse writer on bus when store.addresses is
// set (nil otherwise); `vigil run`, `vigil engine` and the tests share it.
func startStore(ctx context.Context, cfg Config, logger *slog.Logger, lc *lifecycle, bus *events.Bus) (*store.Writer, error) {
	if !cfg.Store.Enabled() {
		return nil, nil
	}
	w, err := store.New(cfg.Store, store.Dependencies{Logger: logger, Bus: bus})
	if err != nil {
		return nil, err
	}
	if err := lc.start(ctx, "store", w); err != nil {
		return nil, err
	}
	return w, nil
}

// startEngines starts the bus and the engines in dependency order,
// registering each with lc so that the caller stops them in reverse.
func startEngines(ctx context.Context, cfg Config, logger *slog.Logger, lc *lifecycle) (*engines, error) {
	src := events.Source{Name: cfg.Site, Site: cfg.Site}
	nets, err := netclass.NewNetworks(cfg.Networks.Local)
	if err != nil {
		return nil, fmt.Errorf("networks.local: %w", err)
	}
	bus, err := events.NewBus(cfg.Events, events.Dependencies{Logger: logger, DataDir: cfg.DataDir})
	if err != nil {
		return nil, err
	}
	if err := lc.start(ctx, "events", bus); err != nil {
		return nil, err
	}
	invDeps, err := inventoryDependencies(cfg.Inventory, logger)
	if err != nil {
		return nil, err
	}
	invDeps.Bus, invDeps.Source, invDeps.Networks, invDeps.Checkpoints = bus, src, nets, bus
	inv, err := inventory.New(cfg.Inventory, invDeps)
	if err != nil {
		return nil, err
	}
	base, err := baseline.New(cfg.Baseline, baseline.Dependencies{Logger: logger, Bus: bus, Source: src, Networks: nets,
		Classifier: invDeps.Classifier, Vendors: invDeps.Vendors, Checkpoints: bus})
	if err != nil {
		return nil, err
	}
	pol, err := policy.New(cfg.Policy, policy.Dependencies{Logger: logger, Bus: bus, Source: src})
	if err != nil {
		return nil, err
	}
	for _, c := range []named{{"inventory", inv}, {"baseline", base}, {"policy", pol}} {
		if err := lc.start(ctx, c.name, c.c); err != nil {
			return nil, err
		}
	}
	al, err := startAlerts(ctx, cfg, logger, lc, bus, src)
	if err != nil {
		return nil, err
	}
	vr, err := startVulnRisk(ctx, cfg, logger, lc, bus, src, nets)
	if err != nil {
		return nil, err
	}
	sc, err := startScanner(ctx, cfg, logger, lc, bus, src, inv, vr)
	if err != nil {
		return nil, err
	}
	enf, feeds, blocklists, err := startEnforce(ctx, cfg, logger, lc, bus, src)
	if err != nil {
		return nil, err
	}
	return &engines{bus: bus, inventory: inv, baseline: base, policy: pol, vulnRisk: vr, scanner: sc, alerts: al, enforce: enf, feeds: feeds, blocklists: blocklists}, nil
}

// drain waits until every engine has handled everything published so far,
// stage by stage along the pipeline.
func (e *engines) drain(ctx context.Context) error {
	for _, c := range []struct{ stream, durable string }{
		{events.StreamSensor, inventory.Durable},
		{events.StreamSensor, baseline.Durable},
		{events.StreamAnalytics, policy.DefaultDurable},
	} {
		if err := e.bus.WaitCaughtUp(ctx, c.stream, c.durable); err != nil {
			return err
		}
	}
	if e.policy.EdgesRunning() {
		if err := e.bus.WaitCaughtUp(ctx, events.StreamSensor, policy.EdgeDurable); err != nil {
			return err
		}
	}
	return e.bus.WaitCaughtUp(ctx, events.StreamAlerts, alerts.Durable) // last: alerts come from both policy consumers
}

// analysis is one offline run of the whole pipeline over capture files.
type analysis struct {
	files  []string
	learn  time.Duration
	policy string // extra policy directory
	// hold, when set, is called with the report while the engines still
	// run, for example to serve the API over the result; its error is
	// returned.
	hold func(*engines, *report.Report) error
}

// captureError is a capture that could not be read completely. The report
// still covers every packet read before the problem.
type captureError struct{ err error }

func (e captureError) Error() string { return e.err.Error() }
func (e captureError) Unwrap() error { return e.err }

// run analyses the captures through an embedded NATS server in a temporary
// directory and returns the report.
func (a analysis) run(ctx context.Context, cfg Config, logger *slog.Logger) (*report.Report, error) {
	for _, f := range a.files {
		if err := checkCapture(f); err != nil {
			return nil, err
		}
	}
	tmp, err := os.MkdirTemp("", "vigil-analyze-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	cfg.DataDir = tmp // the embedded store goes to tmp/jetstream
	cfg.Offline = true
	cfg.Events.URL = ""
	cfg.Events.Replicas = 1
	cfg.Events.Embedded.StoreDir, cfg.Events.Embedded.Listen = "", ""
	cfg.Sensor.Files = a.files
	if a.learn > 0 {
		cfg.Baseline.Learning = a.learn
	}
	if a.policy != "" {
		cfg.Policy.Dir = a.policy
	}

	lc := &lifecycle{logger: logger}
	defer func() {
		if err := lc.stop(); err != nil {
			logger.Error("shutdown", "err", err)
		}
	}()
	eng, err := startEngines(ctx, cfg, logger, lc)
	if err != nil {
		return nil, err
	}
	sensor, err := capture.New(cfg.Sensor, capture.Dependencies{Logger: logger, Publisher: sensorPublisher(eng.bus, cfg.Sensor), Dissectors: protocols.Dissectors})
	if err != nil {
		return nil, err
	}
	sensorErr := sensor.Run(ctx)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err := eng.drain(ctx); err != nil {
		return nil, err
	}
	rep, err := report.Build(ctx, eng.bus, eng.inventory.Devices(), eng.baseline.LearningEnd())
	if err != nil {
		return nil, err
	}
	if s := eng.bus.Stats(); s.Poison > 0 || s.PublishErrors > 0 {
		logger.Warn("events were lost", "poison", s.Poison, "publish_errors", s.PublishErrors)
	}
	if sensorErr != nil {
		return rep, captureError{sensorErr}
	}
	if a.hold != nil {
		return rep, a.hold(eng, rep)
	}
	return rep, nil
}

// checkCapture opens a capture and reads its first packet, so that a file
// that is not a capture at all is refused before anything runs.
func checkCapture(path string) error {
	src, err := capture.NewFileSource([]string{path})
	if err != nil {
		return err
	}
	defer src.Close()
	var p capture.Packet
	if err := src.Next(&p); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// inventoryDependencies loads the classification rules (shipped, plus the
// site's directory) and the asset register. A register with bad rows is
// used without them: the problems are logged, the good rows kept.
func inventoryDependencies(cfg inventory.Configuration, logger *slog.Logger) (inventory.Dependencies, error) {
	var dirs []string
	if cfg.RulesDir != "" {
		dirs = append(dirs, cfg.RulesDir)
	}
	rules, err := classify.Load(dirs...)
	if err != nil {
		return inventory.Dependencies{}, fmt.Errorf("classification rules: %w", err)
	}
	deps := inventory.Dependencies{Logger: logger, Classifier: rules, Vendors: oui.Default().Vendor}
	if cfg.AssetRegister != "" {
		reg, err := inventory.LoadRegisterFile(cfg.AssetRegister)
		if reg == nil {
			return inventory.Dependencies{}, err
		}
		if err != nil {
			logger.Warn("asset register rows skipped", "file", cfg.AssetRegister, "problems", err.Error())
		}
		deps.Register = reg
	}
	return deps, nil
}
