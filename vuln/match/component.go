package match

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/alias"
)

// Configuration of vulnerability matching.
type Configuration struct {
	// Store is the vulnerability store snapshot that `vigil vuln import`
	// writes; empty means <data_dir>/vuln/store.json.
	Store string `yaml:"store"`
	// Aliases are site alias files (the shape of vuln/alias/aliases.yaml)
	// that extend or override the shipped table.
	Aliases []string `yaml:"aliases"`
	// ReloadEvery is how often (wall clock) the store file is checked for
	// a new import ('vigil vuln import' into a running system); every
	// device is then matched again. 0 disables the check.
	ReloadEvery time.Duration `yaml:"reload_every"`
}

// DefaultConfiguration uses the store in the data directory and the
// shipped alias table, and looks for new imports every minute.
func DefaultConfiguration() Configuration { return Configuration{ReloadEvery: time.Minute} }

// Validate reports every problem, naming fields within the section.
func (c Configuration) Validate() []error {
	var errs []error
	if c.ReloadEvery < 0 {
		errs = append(errs, fmt.Errorf("reload_every: must not be negative, got %s", c.ReloadEvery))
	}
	for i, f := range c.Aliases {
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("aliases[%d]: %v", i, err))
		}
	}
	return errs
}

// StorePath returns the store file for a data directory.
func (c Configuration) StorePath(dataDir string) string {
	if c.Store != "" {
		return c.Store
	}
	return filepath.Join(dataDir, "vuln", "store.json")
}

// LoadStore reads the store snapshot at path; a missing file is an empty
// store (nothing imported yet).
func LoadStore(path string) (*vuln.Store, error) {
	s := vuln.NewStore()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vulnerability store: %w", err)
	}
	defer f.Close()
	if err := s.ReadSnapshot(f); err != nil {
		return nil, fmt.Errorf("vulnerability store %s: %w", path, err)
	}
	return s, nil
}

// SaveStore writes the store snapshot to path atomically (a temporary
// file renamed over it), so a crash never leaves half a store.
func SaveStore(s *vuln.Store, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("vulnerability store: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".store-*.json")
	if err != nil {
		return fmt.Errorf("vulnerability store: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := s.WriteSnapshot(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("vulnerability store: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("vulnerability store: %w", err)
	}
	return nil
}

// Bus is what matching needs of the event log.
type Bus interface {
	Publish(ctx context.Context, m events.Message) error
	Consume(ctx context.Context, spec events.ConsumerSpec, h events.Handler) error
}

// Dependencies of the component.
type Dependencies struct {
	Logger *slog.Logger
	Bus    Bus
	Source events.Source
	// Store holds the vulnerability data; Aliases the alias table
	// (alias.Shipped when nil). StoreFile, when set, is the snapshot the
	// store was read from: it is read again when it changes.
	Store     *vuln.Store
	StoreFile string
	Aliases   *alias.Table
	// Checkpoints stores the lifecycle state; nil rebuilds from the
	// stream's start.
	Checkpoints     events.Checkpointer
	CheckpointEvery time.Duration
}

// Durable is the name of the matcher's JetStream consumer.
const Durable = "vuln"

// Component matches the inventory's devices as they change and publishes
// vulnerability events. It implements vuln.Service.
type Component struct {
	cfg     Configuration
	deps    Dependencies
	logger  *slog.Logger
	matcher *Matcher

	// pub is held while a step's events are computed and published, so
	// the handler, a reload and a scanner hand-over publish a device's
	// steps in the order they were decided.
	pub sync.Mutex
	// reload polls the store file; stamp is its last modification seen.
	reloadStop chan struct{}
	reloadDone chan struct{}
	stamp      time.Time

	mu      sync.RWMutex
	tracker *Tracker
	outbox  events.Outbox
	worker  events.Worker
	next    events.Position
	saved   time.Time
}

var _ vuln.Service = (*Component)(nil)

// NewComponent returns an inert component.
func NewComponent(cfg Configuration, deps Dependencies) (*Component, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("vuln configuration: %w", errors.Join(errs...))
	}
	if deps.Bus == nil {
		return nil, errors.New("vuln: no bus")
	}
	if deps.Store == nil {
		return nil, errors.New("vuln: no vulnerability store")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Aliases == nil {
		deps.Aliases = alias.Shipped()
	}
	if deps.CheckpointEvery <= 0 {
		deps.CheckpointEvery = 5 * time.Minute
	}
	deps.Source.Component = "vuln"
	return &Component{cfg: cfg, deps: deps, logger: deps.Logger.With("component", "vuln"),
		matcher: New(deps.Store, deps.Aliases), tracker: NewTracker(deps.Source)}, nil
}

// Start restores the checkpoint, if any, and consumes device changes.
func (c *Component) Start(ctx context.Context) error {
	spec := events.ConsumerSpec{Stream: events.StreamAnalytics, Durable: Durable,
		Kinds: []events.Kind{events.KindDeviceChange}, Projection: true}
	if cp := c.deps.Checkpoints; cp != nil {
		next, st, ok, err := cp.LoadCheckpoint(ctx, Durable)
		if err != nil {
			return err
		}
		if ok {
			if err := c.tracker.RestoreState(st); err != nil {
				return err
			}
			spec.From, c.next = next, next
		}
	}
	c.saved = time.Now()
	c.worker.Start(ctx, c.deps.Bus, spec, c.handle)
	if c.deps.StoreFile != "" && c.cfg.ReloadEvery > 0 {
		if st, err := os.Stat(c.deps.StoreFile); err == nil {
			c.stamp = st.ModTime()
		}
		c.reloadStop, c.reloadDone = make(chan struct{}), make(chan struct{})
		go c.reloadLoop(context.WithoutCancel(ctx))
	}
	return nil
}

// Stop stops consuming and writes a final checkpoint.
func (c *Component) Stop(ctx context.Context) error {
	if c.reloadStop != nil {
		close(c.reloadStop)
		<-c.reloadDone
	}
	err := c.worker.Stop(ctx)
	return errors.Join(err, c.Checkpoint(ctx))
}

// reloadLoop reads the store file again when it changed and matches every
// device again. A file that does not read is logged; the store keeps what
// it had.
func (c *Component) reloadLoop(ctx context.Context) {
	defer close(c.reloadDone)
	t := time.NewTicker(c.cfg.ReloadEvery)
	defer t.Stop()
	for {
		select {
		case <-c.reloadStop:
			return
		case <-t.C:
		}
		if err := c.Reload(ctx); err != nil {
			c.logger.Warn("vulnerability store not reloaded; keeping the data held", "file", c.deps.StoreFile, "err", err)
		}
	}
}

// Reload reads the store file again if it changed since it was last read,
// and matches every device again.
func (c *Component) Reload(ctx context.Context) error {
	st, err := os.Stat(c.deps.StoreFile)
	if err != nil {
		return err
	}
	if st.ModTime().Equal(c.stamp) {
		return nil
	}
	f, err := os.Open(c.deps.StoreFile)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := c.deps.Store.ReadSnapshot(f); err != nil {
		return err
	}
	c.stamp = st.ModTime()
	c.logger.Info("vulnerability store reloaded; matching every device again", "stats", c.deps.Store.Stats())
	return c.Rematch(ctx, time.Time{})
}

// Checkpoint saves the lifecycle state.
func (c *Component) Checkpoint(ctx context.Context) error {
	if c.deps.Checkpoints == nil {
		return nil
	}
	c.mu.RLock()
	next := c.next
	st, err := c.tracker.MarshalState()
	c.mu.RUnlock()
	if err != nil || next.Seq == 0 {
		return err
	}
	return c.deps.Checkpoints.SaveCheckpoint(ctx, Durable, next, st)
}

func (c *Component) handle(ctx context.Context, d events.Delivery) error {
	c.pub.Lock()
	defer c.pub.Unlock()
	if c.outbox.Pending(d.Position()) {
		return c.outbox.Flush(ctx, c.deps.Bus, d.Position())
	}
	out, err := events.Apply(d, &c.mu, c.apply)
	if err != nil {
		return err
	}
	if err := c.outbox.Publish(ctx, c.deps.Bus, d.Position(), events.Messages(out)); err != nil {
		return err
	}
	c.mu.Lock()
	c.next = d.Next()
	c.mu.Unlock()
	if time.Since(c.saved) >= c.deps.CheckpointEvery {
		c.saved = time.Now()
		if err := c.Checkpoint(ctx); err != nil {
			c.logger.Warn("checkpoint failed; the next one will retry", "err", err)
		}
	}
	return nil
}

// apply handles one device change under the lock: the snapshot is kept,
// and the device is matched again when the change can alter its matches.
func (c *Component) apply(ev events.Event[events.DeviceChange]) []events.Event[events.Vulnerability] {
	ch := ev.Body
	c.tracker.Advance(ev.Time)
	c.tracker.Snapshot(ch.Device)
	switch ch.Change {
	case events.ChangeNew, events.ChangeClassification:
	case events.ChangeAttribute:
		if !c.matcher.Reads(ch.Attribute) {
			return nil
		}
	default:
		return nil
	}
	return c.rematch(ev.Time, ch.Device.Key, []string{ev.ID})
}

func (c *Component) rematch(at time.Time, key string, cause []string) []events.Event[events.Vulnerability] {
	dev, scanner, _ := c.tracker.Device(key)
	return c.tracker.Update(at, key, c.matcher.Match(dev, scanner), cause)
}

// Rematch matches every device again, for example after an import
// changed the store, and publishes what changed. at is the event time to
// stamp (the latest event time seen when zero).
func (c *Component) Rematch(ctx context.Context, at time.Time) error {
	c.pub.Lock()
	defer c.pub.Unlock()
	c.mu.Lock()
	if at.IsZero() {
		at = c.tracker.Now()
	}
	var out []events.Event[events.Vulnerability]
	for _, k := range c.tracker.Keys() {
		out = append(out, c.rematch(at, k, nil)...)
	}
	c.mu.Unlock()
	return c.publish(ctx, out)
}

// ScannerFindings hands over one scanner's findings (the scanner
// integration calls it after each import): for every device named, they
// replace that scanner's previous findings; devices of the source no
// longer named lose theirs. Findings whose device the inventory has not
// reported are returned as not merged. at is the event time to stamp.
func (c *Component) ScannerFindings(ctx context.Context, at time.Time, source string, fs []vuln.ScannerFinding) (unknown []vuln.ScannerFinding, err error) {
	c.pub.Lock()
	defer c.pub.Unlock()
	c.mu.Lock()
	byKey := map[string][]vuln.ScannerFinding{}
	for _, f := range fs {
		k, ok := c.tracker.Resolve(f.Device)
		if !ok {
			unknown = append(unknown, f)
			continue
		}
		f.Source = source
		byKey[k] = append(byKey[k], f)
	}
	if at.IsZero() {
		at = c.tracker.Now()
	}
	var out []events.Event[events.Vulnerability]
	for _, k := range c.tracker.Keys() {
		_, old, _ := c.tracker.Device(k)
		had := slices.ContainsFunc(old, func(f vuln.ScannerFinding) bool { return f.Source == source })
		if _, now := byKey[k]; !now && !had {
			continue
		}
		c.tracker.SetScanner(k, source, byKey[k])
		out = append(out, c.rematch(at, k, nil)...)
	}
	c.mu.Unlock()
	return unknown, c.publish(ctx, out)
}

func (c *Component) publish(ctx context.Context, out []events.Event[events.Vulnerability]) error {
	for _, e := range out {
		if err := c.deps.Bus.Publish(ctx, e); err != nil {
			return fmt.Errorf("publish vulnerability: %w", err)
		}
	}
	return nil
}

// Vulnerabilities implements vuln.Service.
func (c *Component) Vulnerabilities(q vuln.Query) []vuln.Record {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []vuln.Record
	for _, k := range c.tracker.Keys() {
		if q.Device != "" {
			if key, ok := c.tracker.Resolve(q.Device); !ok || key != k {
				continue
			}
		}
		recs, _ := c.tracker.Records(k)
		for _, r := range recs {
			if (vuln.Query{ID: q.ID, Type: q.Type, Confidence: q.Confidence, Status: q.Status}).Matches(r) {
				out = append(out, r)
			}
		}
	}
	return out
}

// DeviceVulnerabilities implements vuln.Service.
func (c *Component) DeviceVulnerabilities(device string) ([]vuln.Record, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.tracker.Records(device)
}

// Summary implements vuln.Service.
func (c *Component) Summary() vuln.ServiceSummary {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := vuln.ServiceSummary{ByType: map[string]int{}, ByConfidence: map[string]int{}, Store: c.deps.Store.Stats()}
	for _, k := range c.tracker.Keys() {
		s.Devices++
		recs, _ := c.tracker.Records(k)
		affected := false
		for _, r := range recs {
			if r.Status == vuln.Open {
				s.Open++
				s.ByType[r.Type]++
				s.ByConfidence[r.Confidence]++
				affected = true
			} else {
				s.Resolved++
			}
		}
		if affected {
			s.DevicesAffected++
		}
	}
	return s
}

// Snapshot returns the latest description of a device by ID or key.
func (c *Component) Snapshot(device string) (events.DeviceSnapshot, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.tracker.Resolve(device)
	if !ok {
		return events.DeviceSnapshot{}, false
	}
	d, _, _ := c.tracker.Device(k)
	return d, true
}
