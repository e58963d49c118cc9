package match

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/vuln"
)

// Tracker keeps every device's vulnerabilities with their lifecycle:
// detected when a match first appears (or appears again), updated when its
// confidence, sources or advisories change, resolved when it no longer
// applies, for example because the firmware changed out of the affected
// range. Time is event time only, so a replay gives the same lifecycle.
// One owner feeds it in stream order.
type Tracker struct {
	src     events.Source
	devices map[string]*deviceState // by key
	byID    map[string]string       // device ID -> key
	now     time.Time
}

type deviceState struct {
	Snapshot events.DeviceSnapshot   `json:"snapshot"`
	Records  map[string]*vuln.Record `json:"records,omitempty"`
	// Scanner holds the latest findings of each scanner for the device.
	Scanner map[string][]vuln.ScannerFinding `json:"scanner,omitempty"`
}

// maxResolved bounds the resolved records a device keeps (the newest).
const maxResolved = 256

// NewTracker returns an empty tracker whose events name src.
func NewTracker(src events.Source) *Tracker {
	return &Tracker{src: src, devices: map[string]*deviceState{}, byID: map[string]string{}}
}

// Now is the latest event time seen.
func (t *Tracker) Now() time.Time { return t.now }

// Advance moves the tracker's clock (event time) forward.
func (t *Tracker) Advance(at time.Time) {
	if at.After(t.now) {
		t.now = at
	}
}

// Snapshot records the latest description of a device and returns its
// state.
func (t *Tracker) Snapshot(dev events.DeviceSnapshot) {
	st := t.state(dev.Key)
	st.Snapshot = dev
	if dev.ID != "" {
		t.byID[dev.ID] = dev.Key
	}
}

func (t *Tracker) state(key string) *deviceState {
	st, ok := t.devices[key]
	if !ok {
		st = &deviceState{Snapshot: events.DeviceSnapshot{Key: key}, Records: map[string]*vuln.Record{}}
		t.devices[key] = st
	}
	return st
}

// Device returns the snapshot and scanner findings of a device by key.
func (t *Tracker) Device(key string) (events.DeviceSnapshot, []vuln.ScannerFinding, bool) {
	st, ok := t.devices[key]
	if !ok {
		return events.DeviceSnapshot{}, nil, false
	}
	var fs []vuln.ScannerFinding
	for _, src := range slices.Sorted(maps.Keys(st.Scanner)) {
		fs = append(fs, st.Scanner[src]...)
	}
	return st.Snapshot, fs, true
}

// Keys returns every device key, sorted.
func (t *Tracker) Keys() []string { return slices.Sorted(maps.Keys(t.devices)) }

// Resolve returns the key of a device given by ID or key.
func (t *Tracker) Resolve(device string) (string, bool) {
	if _, ok := t.devices[device]; ok {
		return device, true
	}
	k, ok := t.byID[device]
	return k, ok
}

// SetScanner replaces one scanner's findings for a device.
func (t *Tracker) SetScanner(key, source string, fs []vuln.ScannerFinding) {
	st := t.state(key)
	if st.Scanner == nil {
		st.Scanner = map[string][]vuln.ScannerFinding{}
	}
	if len(fs) == 0 {
		delete(st.Scanner, source)
		return
	}
	st.Scanner[source] = fs
}

// Update sets the matches of a device at event time at and returns the
// lifecycle events it caused, in vulnerability order.
func (t *Tracker) Update(at time.Time, key string, matches []vuln.Match, cause []string) []events.Event[events.Vulnerability] {
	t.Advance(at)
	st := t.state(key)
	var out []events.Event[events.Vulnerability]
	seen := map[string]bool{}
	for _, m := range matches {
		seen[m.ID] = true
		rec, ok := st.Records[m.ID]
		switch {
		case !ok || rec.Status == vuln.Resolved:
			rec = &vuln.Record{Match: m, Status: vuln.Open, DetectedAt: at}
			st.Records[m.ID] = rec
			out = append(out, t.event(at, st, rec, events.VulnDetected, cause))
		case changed(rec.Match, m):
			rec.Match = m
			out = append(out, t.event(at, st, rec, events.VulnUpdated, cause))
		default:
			rec.Match = m // evidence wording or scores may differ
		}
	}
	for _, id := range slices.Sorted(maps.Keys(st.Records)) {
		rec := st.Records[id]
		if seen[id] || rec.Status != vuln.Open {
			continue
		}
		rec.Status, rec.ResolvedAt = vuln.Resolved, at
		rec.DaysOpen = days(rec.DetectedAt, at)
		out = append(out, t.event(at, st, rec, events.VulnResolved, cause))
	}
	t.prune(st)
	slices.SortStableFunc(out, func(a, b events.Event[events.Vulnerability]) int { return strings.Compare(a.Body.ID, b.Body.ID) })
	return out
}

// changed tells whether a match changed in what its event reports.
func changed(a, b vuln.Match) bool {
	return a.Confidence != b.Confidence || a.Type != b.Type || !slices.Equal(a.Sources, b.Sources) ||
		!slices.Equal(a.Advisories, b.Advisories) || a.Version != b.Version
}

func days(from, to time.Time) int {
	if to.Before(from) {
		return 0
	}
	return int(to.Sub(from) / (24 * time.Hour))
}

// prune drops the oldest resolved records past maxResolved.
func (t *Tracker) prune(st *deviceState) {
	var resolved []*vuln.Record
	for _, r := range st.Records {
		if r.Status == vuln.Resolved {
			resolved = append(resolved, r)
		}
	}
	if len(resolved) <= maxResolved {
		return
	}
	slices.SortFunc(resolved, func(a, b *vuln.Record) int {
		if c := a.ResolvedAt.Compare(b.ResolvedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	for _, r := range resolved[:len(resolved)-maxResolved] {
		delete(st.Records, r.ID)
	}
}

func (t *Tracker) event(at time.Time, st *deviceState, rec *vuln.Record, status events.VulnStatus, cause []string) events.Event[events.Vulnerability] {
	m := rec.Match
	b := events.Vulnerability{Device: st.Snapshot, Status: status, ID: m.ID, Advisories: m.Advisories, Type: m.Type,
		Confidence: m.Confidence, Sources: m.Sources, Product: m.Product, Version: m.Version, Range: m.Range,
		CVSS: m.CVSS, CVSSVector: m.CVSSVector, EPSS: m.EPSS, KEV: m.KEV, FixedIn: m.FixedIn, Evidence: m.Evidence,
		DetectedAt: rec.DetectedAt, ResolvedAt: rec.ResolvedAt, DaysOpen: days(rec.DetectedAt, at), Cause: cause}
	if b.Evidence == nil {
		b.Evidence = []string{}
	}
	name := st.Snapshot.Attributes["hostname"]
	if name == "" {
		name = st.Snapshot.Key
	}
	what, _, _ := strings.Cut(m.Product, ":") // "DCMTK: All versions prior to 3.6.7"
	if m.Version != "" {
		what += " " + m.Version
	}
	switch status {
	case events.VulnResolved:
		b.Summary = fmt.Sprintf("%s resolved on %s after %d days: %s no longer matches", m.ID, name, b.DaysOpen, strings.TrimSpace(what))
		if v := st.Snapshot.Attributes["firmware_version"]; v != "" {
			b.Summary += " (firmware " + v + ")"
		}
	default:
		b.Summary = fmt.Sprintf("%s %s on %s (%s, %s", m.ID, status, name, m.Confidence, m.Type)
		if len(m.Advisories) > 0 {
			b.Summary += ", " + strings.Join(m.Advisories, ", ")
		}
		b.Summary += "): " + strings.TrimSpace(what)
		if m.Range != "" {
			b.Summary += " in " + m.Range
		}
	}
	return events.MustEvent(at, t.src, b)
}

// Records returns the records of a device by ID or key, sorted by
// vulnerability ID, with days open up to the tracker's clock.
func (t *Tracker) Records(device string) ([]vuln.Record, bool) {
	key, ok := t.Resolve(device)
	if !ok {
		return nil, false
	}
	st := t.devices[key]
	out := make([]vuln.Record, 0, len(st.Records))
	for _, id := range slices.Sorted(maps.Keys(st.Records)) {
		r := *st.Records[id]
		if r.Status == vuln.Open {
			r.DaysOpen = days(r.DetectedAt, t.now)
		}
		r.Match.Device, r.Match.DeviceID = key, st.Snapshot.ID
		out = append(out, r)
	}
	return out, true
}

// trackerState is the checkpointed form.
type trackerState struct {
	Version int                     `json:"version"`
	Now     time.Time               `json:"now"`
	Devices map[string]*deviceState `json:"devices"`
}

// MarshalState encodes the tracker for a checkpoint.
func (t *Tracker) MarshalState() ([]byte, error) {
	return json.Marshal(trackerState{Version: 1, Now: t.now, Devices: t.devices})
}

// RestoreState replaces the tracker's content with a checkpoint.
func (t *Tracker) RestoreState(b []byte) error {
	var st trackerState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("vulnerability checkpoint: %w", err)
	}
	if st.Version != 1 {
		return fmt.Errorf("vulnerability checkpoint: version %d, this Vigil reads version 1", st.Version)
	}
	t.now, t.devices, t.byID = st.Now, map[string]*deviceState{}, map[string]string{}
	for k, d := range st.Devices {
		if d == nil {
			continue
		}
		if d.Records == nil {
			d.Records = map[string]*vuln.Record{}
		}
		t.devices[k] = d
		if d.Snapshot.ID != "" {
			t.byID[d.Snapshot.ID] = k
		}
	}
	return nil
}
