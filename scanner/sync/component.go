package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/scanner"
)

// Deviation types this package raises (documented in docs/events.md and
// docs/scanners.md).
const (
	// DeviationScannedWhileExcluded: a scan engine contacted a device that
	// is excluded from active scanning.
	DeviationScannedWhileExcluded events.DeviationType = "scanned_while_excluded"
	// DeviationExclusionDrift: an exclusion Vigil keeps for the device was
	// removed outside Vigil (and restored).
	DeviationExclusionDrift events.DeviationType = "scanner_exclusion_drift"
)

// Durable names of the component's consumers.
const (
	DurableChanges = "scanner"
	DurableFlows   = "scanner-watch"
)

// Bus is what the component needs of the event log.
type Bus interface {
	Publish(ctx context.Context, m events.Message) error
	Consume(ctx context.Context, spec events.ConsumerSpec, h events.Handler) error
}

// Dependencies of the component.
type Dependencies struct {
	Logger *slog.Logger
	Bus    Bus
	Source events.Source
	// Devices returns the inventory now.
	Devices func() []scanner.Device
	// Console is the InsightVM console; nil leaves exclusions, tags and
	// findings alone (the passive watch still runs).
	Console Console
	// Ledger remembers the exclusions Vigil added (NewKVLedger in
	// production); nil means a MemoryLedger.
	Ledger Ledger
	// Findings, when set, receives the findings of every import (the
	// vulnerability engine).
	Findings func(ctx context.Context, fs []scanner.Finding) error
	// Now is the wall clock (for sync reports and drift events, which are
	// about the live console, not about captured traffic).
	Now func() time.Time
	// Ready blocks until the inventory has caught up with the event log
	// (bus.WaitCaughtUp of its consumer). Until it returns nil, syncs only
	// add exclusions: a device the rebuilding inventory has not reached
	// yet must not lose its exclusion. nil means the inventory is complete.
	Ready func(ctx context.Context) error
}

// Status is the component's state for the API and the status page.
type Status struct {
	Console bool `json:"console"`
	// InventoryReady is false while syncs only add (see
	// Dependencies.Ready).
	InventoryReady bool `json:"inventory_ready"`
	// Syncs, Failures count sync runs; DriftDetected and DriftRepaired
	// count exclusions found missing (or foreign) and restored.
	Syncs         uint64 `json:"syncs"`
	Failures      uint64 `json:"failures"`
	DriftDetected uint64 `json:"drift_detected"`
	DriftRepaired uint64 `json:"drift_repaired"`
	// Excluded is the number of addresses excluded now; Engines the
	// configured and learned scan engines.
	Excluded int      `json:"excluded"`
	Engines  []string `json:"engines"`
	// ScannedExcluded counts scanned_while_excluded deviations raised.
	ScannedExcluded uint64  `json:"scanned_excluded"`
	LastSync        *Result `json:"last_sync,omitempty"`
	LastError       string  `json:"last_error,omitempty"`
}

// Component runs the reconciler on device changes and on a timer, and
// watches the flows for scans of excluded devices.
type Component struct {
	cfg    scanner.Configuration
	deps   Dependencies
	logger *slog.Logger
	rec    *Reconciler

	trigger chan struct{}
	readyC  chan struct{}
	ready   atomic.Bool
	cancel  context.CancelFunc
	done    chan struct{}
	waiters stdsync.WaitGroup
	changes events.Worker
	flows   events.Worker
	outbox  events.Outbox

	syncMu stdsync.Mutex // one sync at a time

	mu       stdsync.Mutex
	engines  []netip.Prefix
	learned  map[netip.Addr]bool
	excluded map[string]scanner.Device // address -> device
	clinical map[string]map[string]bool
	raised   map[string]time.Time // engine|device -> event time of the last deviation
	status   Status
}

// New returns an inert component.
func New(cfg scanner.Configuration, deps Dependencies) (*Component, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("scanner configuration: %w", errors.Join(errs...))
	}
	if deps.Bus == nil || deps.Devices == nil {
		return nil, errors.New("scanner: needs a bus and the inventory")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Ledger == nil {
		deps.Ledger = &MemoryLedger{}
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	deps.Source.Component = "scanner"
	c := &Component{cfg: cfg, deps: deps, logger: deps.Logger.With("component", "scanner"),
		trigger: make(chan struct{}, 1), readyC: make(chan struct{}, 1), learned: map[netip.Addr]bool{}, excluded: map[string]scanner.Device{},
		clinical: map[string]map[string]bool{}, raised: map[string]time.Time{}}
	for _, e := range cfg.ScanEngines {
		p, _ := scanner.ParseEngine(e) // validated
		c.engines = append(c.engines, p)
	}
	if deps.Console != nil {
		c.rec = NewReconciler(cfg, deps.Console, deps.Ledger, c.logger)
		c.rec.now = deps.Now
		c.status.Console = true
	}
	return c, nil
}

// Start consumes device changes, vulnerabilities and scan deviations
// (from the start of the analytics stream: the clinical CVEs are a
// projection) and flows (from where it left), and starts the sync loop.
func (c *Component) Start(ctx context.Context) error {
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel, c.done = cancel, make(chan struct{})
	c.refreshExcluded()
	c.changes.Start(ctx, c.deps.Bus, events.ConsumerSpec{Stream: events.StreamAnalytics, Durable: DurableChanges,
		Kinds:      []events.Kind{events.KindDeviceChange, events.KindVulnerability, events.KindDeviation},
		Projection: true}, c.handleChange)
	c.flows.Start(ctx, c.deps.Bus, events.ConsumerSpec{Stream: events.StreamSensor, Durable: DurableFlows,
		Kinds: []events.Kind{events.KindFlow}}, c.handleFlow)
	if c.deps.Ready == nil {
		c.ready.Store(true)
	} else {
		c.waiters.Add(1)
		go c.waitReady(loopCtx)
	}
	go c.loop(loopCtx)
	return nil
}

// waitReady waits for the inventory to catch up, then asks for a full
// sync (which applies the removals held back until then).
func (c *Component) waitReady(ctx context.Context) {
	defer c.waiters.Done()
	for {
		wctx, cancel := context.WithTimeout(ctx, c.cfg.Interval)
		err := c.deps.Ready(wctx)
		cancel()
		if err == nil {
			c.ready.Store(true)
			c.logger.Info("inventory caught up; scanner syncs may remove stale exclusions")
			select {
			case c.readyC <- struct{}{}:
			default:
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		c.logger.Warn("inventory not caught up with the log yet; scanner syncs only add exclusions", "err", err)
	}
}

// Stop stops the consumers and the loop (a sync in progress is
// cancelled: it leaves the console as it was or with the change applied,
// and the next start reconciles).
func (c *Component) Stop(ctx context.Context) error {
	err := errors.Join(c.changes.Stop(ctx), c.flows.Stop(ctx))
	if c.cancel != nil {
		c.cancel()
		select {
		case <-c.done:
		case <-ctx.Done():
			err = errors.Join(err, ctx.Err())
		}
		c.waiters.Wait()
	}
	return err
}

// Trigger asks for a sync of the exclusions soon (after the debounce).
func (c *Component) Trigger() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

func (c *Component) loop(ctx context.Context) {
	defer close(c.done)
	full := time.NewTimer(0) // a full sync at start
	defer full.Stop()
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.trigger:
			if debounce == nil {
				debounce = time.After(c.cfg.Debounce)
			}
		case <-debounce:
			debounce = nil
			c.run(ctx, false, false)
		case <-full.C:
			c.run(ctx, true, false)
			full.Reset(c.cfg.Interval)
		case <-c.readyC:
			c.run(ctx, true, false)
			full.Reset(c.cfg.Interval)
		}
	}
}

func (c *Component) run(ctx context.Context, full, dryRun bool) {
	if c.rec == nil {
		c.refreshExcluded() // watch only: keep the excluded set current
		return
	}
	if _, err := c.SyncNow(ctx, full, dryRun); err != nil && ctx.Err() == nil {
		c.logger.Warn("scanner sync failed; the next one retries", "err", err)
	}
}

// SyncNow runs one sync now and returns its report. Without a console it
// only refreshes the excluded set of the passive watch.
func (c *Component) SyncNow(ctx context.Context, full, dryRun bool) (Result, error) {
	devices := c.refreshExcluded()
	if c.rec == nil {
		return Result{}, errors.New("scanner: no InsightVM console configured (scanner.insightvm.url)")
	}
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	res, err := c.rec.Sync(ctx, Inputs{Devices: devices, Clinical: c.clinicalCVEs(), Full: full, DryRun: dryRun,
		AddOnly: !c.ready.Load()})
	drift := res.Drift()
	c.mu.Lock()
	c.status.Syncs++
	if err != nil {
		c.status.Failures++
		c.status.LastError = err.Error()
	} else {
		c.status.LastError = ""
	}
	for _, d := range drift {
		c.status.DriftDetected++
		if d.Repaired {
			c.status.DriftRepaired++
		}
	}
	c.status.LastSync = &res
	c.mu.Unlock()
	for _, d := range drift {
		c.logger.Warn("scanner exclusion drift", "site", d.Site, "address", d.Address, "kind", d.Kind,
			"device", d.DeviceID, "repaired", d.Repaired)
	}
	if !res.DryRun {
		if perr := c.publishDrift(ctx, devices, drift); perr != nil {
			err = errors.Join(err, perr)
		}
	}
	if full && !res.DryRun && res.Findings != nil && res.Findings.Error == "" && c.deps.Findings != nil {
		if ferr := c.deps.Findings(ctx, c.rec.Findings()); ferr != nil {
			err = errors.Join(err, fmt.Errorf("hand over findings: %w", ferr))
		}
	}
	if err == nil {
		c.logger.Info("scanner sync done", "sites", len(res.Sites), "drift", len(drift), "dry_run", res.DryRun)
	}
	return res, err
}

// Findings returns the findings of the last import.
func (c *Component) Findings() []scanner.Finding {
	if c.rec == nil {
		return nil
	}
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	return c.rec.Findings()
}

// Status returns the component's state.
func (c *Component) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.InventoryReady = c.ready.Load()
	s.Excluded = len(c.excluded)
	for _, e := range c.engines {
		s.Engines = append(s.Engines, e.String())
	}
	for a := range c.learned {
		s.Engines = append(s.Engines, a.String()+" (learned: scanned the network)")
	}
	slices.Sort(s.Engines)
	return s
}

// refreshExcluded recomputes the excluded addresses from the inventory.
func (c *Component) refreshExcluded() []scanner.Device {
	devices := c.deps.Devices()
	ex := map[string]scanner.Device{}
	for _, d := range devices {
		if d.Medical {
			for _, ip := range d.IPs {
				ex[ip] = d
			}
		}
	}
	c.mu.Lock()
	c.excluded = ex
	c.mu.Unlock()
	return devices
}

func (c *Component) clinicalCVEs() map[string][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]string{}
	for id, set := range c.clinical {
		for cve := range set {
			out[id] = append(out[id], cve)
		}
		slices.Sort(out[id])
	}
	return out
}

// handleChange follows the analytics stream: address and classification
// changes trigger a sync; clinical vulnerabilities are remembered for the
// tags; devices the baseline saw scanning become engines.
func (c *Component) handleChange(_ context.Context, d events.Delivery) error {
	switch d.Header.Kind {
	case events.KindDeviceChange:
		ev, err := events.DecodeDelivery[events.DeviceChange](d)
		if err != nil {
			return err
		}
		switch ev.Body.Change {
		case events.ChangeAddress, events.ChangeAddressReleased, events.ChangeClassification:
			c.Trigger()
		case events.ChangeNew:
			if ev.Body.Device.Medical {
				c.Trigger()
			}
		}
	case events.KindVulnerability:
		ev, err := events.DecodeDelivery[events.Vulnerability](d)
		if err != nil {
			return err
		}
		v := ev.Body
		if v.Type != "clinical" || v.Device.ID == "" || !scanner.IsCVE(v.ID) {
			return nil
		}
		c.mu.Lock()
		set := c.clinical[v.Device.ID]
		if set == nil {
			set = map[string]bool{}
			c.clinical[v.Device.ID] = set
		}
		if v.Status == events.VulnResolved {
			delete(set, v.ID)
		} else {
			set[v.ID] = true
		}
		c.mu.Unlock()
	case events.KindDeviation:
		ev, err := events.DecodeDelivery[events.Deviation](d)
		if err != nil {
			return err
		}
		if ev.Body.Type != events.DeviationScan {
			return nil
		}
		c.mu.Lock()
		for _, ip := range ev.Body.Device.IPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				c.learned[a] = true
			}
		}
		c.mu.Unlock()
	}
	return nil
}

// handleFlow raises scanned_while_excluded when an engine originates a
// flow to an excluded device, once per engine, device and alert window of
// event time.
func (c *Component) handleFlow(ctx context.Context, d events.Delivery) error {
	if c.outbox.Pending(d.Position()) {
		return c.outbox.Flush(ctx, c.deps.Bus, d.Position())
	}
	ev, err := events.DecodeDelivery[events.Flow](d)
	if err != nil {
		return err
	}
	out, ok := c.watch(ev)
	if !ok {
		return nil
	}
	return c.outbox.Publish(ctx, c.deps.Bus, d.Position(), []events.Message{out})
}

func (c *Component) watch(ev events.Event[events.Flow]) (events.Event[events.Deviation], bool) {
	f := ev.Body
	var none events.Event[events.Deviation]
	engine, err := netip.ParseAddr(f.Orig.IP)
	if err != nil {
		return none, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	dev, excluded := c.excluded[f.Resp.IP]
	if !excluded || !c.isEngine(engine) {
		return none, false
	}
	key := engine.String() + "|" + dev.ID
	if last, ok := c.raised[key]; ok && ev.Time.Sub(last) < c.cfg.AlertWindow && !ev.Time.Before(last) {
		return none, false
	}
	c.raised[key] = ev.Time
	if len(c.raised) > 100_000 {
		for k, t := range c.raised {
			if ev.Time.Sub(t) >= c.cfg.AlertWindow {
				delete(c.raised, k)
			}
		}
	}
	name := dev.Hostname
	if name == "" {
		name = dev.ID
	}
	port := fmt.Sprintf("%s/%d", f.Transport, f.Resp.Port)
	body := events.Deviation{
		Type: DeviationScannedWhileExcluded, Device: snapshot(dev), Direction: "inbound",
		Peer: &events.Endpoint{MAC: f.Orig.MAC, IP: f.Orig.IP}, Transport: f.Transport, Port: f.Resp.Port, AppProto: f.AppProto,
		Summary: fmt.Sprintf("%s (%s, excluded from active scanning as a medical device) was contacted by scan engine %s on %s",
			name, f.Resp.IP, f.Orig.IP, port),
		Evidence: []string{f.FlowID},
	}
	out, err := events.NewEvent(ev.Time, c.deps.Source, body)
	if err != nil {
		return none, false
	}
	c.status.ScannedExcluded++
	c.logger.Warn("excluded device contacted by a scan engine", "device", dev.ID, "address", f.Resp.IP, "engine", f.Orig.IP, "port", port)
	return out, true
}

func (c *Component) isEngine(a netip.Addr) bool {
	if c.learned[a] {
		return true
	}
	for _, p := range c.engines {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// publishDrift raises one scanner_exclusion_drift deviation per drifted
// device (the extra exclusions and foreign entries are logged and
// counted only: they belong to no device).
func (c *Component) publishDrift(ctx context.Context, devices []scanner.Device, drift []Drift) error {
	byID := map[string]scanner.Device{}
	for _, d := range devices {
		byID[d.ID] = d
	}
	now := c.deps.Now().UTC()
	var errs []error
	for _, dr := range drift {
		dev, ok := byID[dr.DeviceID]
		if !ok || dr.Kind != "missing" {
			continue
		}
		name := dev.Hostname
		if name == "" {
			name = dev.ID
		}
		state := "restored"
		if !dr.Repaired {
			state = "not restored yet"
		}
		body := events.Deviation{Type: DeviationExclusionDrift, Device: snapshot(dev), Attribute: "excluded_target",
			Value: dr.Address, Summary: fmt.Sprintf("the exclusion of %s (%s) from InsightVM site %q was removed outside Vigil; %s",
				dr.Address, name, dr.Site, state)}
		ev, err := events.NewEvent(now, c.deps.Source, body)
		if err == nil {
			err = c.deps.Bus.Publish(ctx, ev)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func snapshot(d scanner.Device) events.DeviceSnapshot {
	s := events.DeviceSnapshot{Key: d.Key, ID: d.ID, MAC: d.MAC, IPs: slices.Clone(d.IPs), VLAN: d.VLAN,
		Category: d.Category, Medical: d.Medical, Criticality: d.Criticality}
	if s.Key == "" {
		ip := ""
		if len(d.IPs) > 0 {
			ip = d.IPs[0]
		}
		s.Key = events.DeviceKey(d.MAC, ip, d.VLAN)
	}
	if d.Hostname != "" {
		s.Attributes = map[string]string{"hostname": d.Hostname}
	}
	return s
}
