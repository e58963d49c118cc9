package alerts

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-health/vigil/events"
)

// Bounds of what an incident keeps in memory; everything older stays in
// the stream (and in ClickHouse).
const (
	// MaxLatest bounds Incident.LatestAlerts and Incident.Evidence.
	MaxLatest = 20
	// MaxHistory bounds Incident.History.
	MaxHistory = 100
)

// SystemActor is the actor of the changes Vigil makes itself (the reopen
// of a resolved incident by a new alert).
const SystemActor = "vigil"

// IncidentID is the stable ID of the incident of an alert: the first 8
// bytes (16 hex digits) of SHA-256 over "rule\0device key\0peer IP". The
// peer's port is left out on purpose: a device that reaches the same
// internet host on 443 and 8443 is one incident, not two.
func IncidentID(rule, deviceKey, peer string) string {
	sum := sha256.Sum256([]byte(rule + "\x00" + deviceKey + "\x00" + peer))
	return hex.EncodeToString(sum[:8])
}

// peerKey is the peer scope an alert is folded by.
func peerKey(p *events.Endpoint) string {
	if p == nil {
		return ""
	}
	return p.IP
}

// Model is the alert-state projection: incidents folded from alert
// events, lifecycle transitions and suppressions from alert_state events.
// It depends only on the events and their order, never on the clock, so
// replaying the stream rebuilds it exactly. It is not safe for concurrent
// use; the Component locks it.
type Model struct {
	incidents    map[string]*Incident
	suppressions map[string]*Suppression
	// supList holds the suppressions by ID, so the first match is the
	// one reported and a read scans a slice, not a map.
	supList []*Suppression
	stats   ModelStats
}

// ModelStats counts what the projection applied.
type ModelStats struct {
	// Alerts folded and Incidents they made; Reopened incidents reopened
	// by a new alert.
	Alerts    uint64 `json:"alerts"`
	Incidents uint64 `json:"incidents"`
	Reopened  uint64 `json:"reopened"`
	// Transitions applied; Ignored alert_state events that did not apply
	// (an unknown incident, a transition its state did not allow, a
	// duplicate), each logged.
	Transitions uint64 `json:"transitions"`
	Ignored     uint64 `json:"ignored"`
	// Suppressions in force.
	Suppressions int `json:"suppressions"`
	// Latest is the latest event time applied.
	Latest time.Time `json:"latest"`
}

// NewModel returns an empty projection.
func NewModel() *Model {
	return &Model{incidents: map[string]*Incident{}, suppressions: map[string]*Suppression{}}
}

// ApplyAlert folds one alert into its incident and returns the update. A
// resolved incident is reopened by it (Update.Reopened). An alert already
// among the incident's latest is a duplicate and changes nothing (ok is
// false).
func (m *Model) ApplyAlert(seq uint64, ev events.Event[events.Alert]) (u Update, ok bool) {
	a := ev.Body
	pk := peerKey(a.Peer)
	id := IncidentID(a.Rule, a.Device.Key, pk)
	inc := m.incidents[id]
	if inc == nil {
		inc = &Incident{ID: id, Rule: a.Rule, PeerKey: pk, State: StateOpen, FirstSeen: ev.Time, LastSeen: ev.Time}
		m.incidents[id] = inc
		m.stats.Incidents++
	} else if slices.Contains(inc.LatestAlerts, ev.ID) {
		return Update{}, false
	}
	m.stats.Alerts++
	inc.Count++
	if ev.Time.Before(inc.FirstSeen) {
		inc.FirstSeen = ev.Time
	}
	// The description follows the latest alert by event time, whatever
	// the order partitions were delivered in.
	if !ev.Time.Before(inc.LastSeen) {
		inc.LastSeen = ev.Time
		inc.LatestSeverity, inc.Title, inc.Summary = a.Severity, a.Title, a.Description
		inc.Device, inc.Peer = a.Device, a.Peer
	}
	if Rank(a.Severity) > Rank(inc.Severity) {
		inc.Severity = a.Severity
	}
	inc.LatestAlerts = appendBounded(inc.LatestAlerts, ev.ID, MaxLatest)
	if a.DeviationID != "" {
		inc.Evidence = appendBounded(inc.Evidence, a.DeviationID, MaxLatest)
	}
	for _, t := range a.Tags {
		if i, found := slices.BinarySearch(inc.Tags, t); !found {
			inc.Tags = slices.Insert(inc.Tags, i, t)
		}
		if tech, isMitre := strings.CutPrefix(t, "mitre:"); isMitre {
			if i, found := slices.BinarySearch(inc.MITRE, tech); !found {
				inc.MITRE = slices.Insert(inc.MITRE, i, tech)
			}
		}
	}
	u = Update{Type: UpdateAlert, Seq: seq, Time: ev.Time, Alert: &ev}
	if inc.State == StateResolved {
		m.transition(inc, Transition{
			Action: events.AlertReopen, From: StateResolved, To: StateOpen, Actor: SystemActor,
			Note: "a new alert of the resolved incident", Time: ev.Time, EventID: ev.ID, AlertID: ev.ID,
		})
		m.stats.Reopened++
		u.Reopened = true
	}
	inc.Seq = seq
	m.advance(ev.Time)
	v := m.view(inc)
	u.Incident = &v
	return u, true
}

// ApplyState applies one alert_state event. An event that cannot apply
// (an unknown incident, a transition the state does not allow, an
// automatic reopen already applied by its alert) changes nothing: ok is
// false and why says why.
func (m *Model) ApplyState(seq uint64, ev events.Event[events.AlertState]) (u Update, ok bool, why error) {
	s := ev.Body
	m.advance(ev.Time)
	u = Update{Seq: seq, Time: ev.Time}
	switch s.Action {
	case events.AlertSuppress:
		if s.Suppression == nil {
			m.stats.Ignored++
			return u, false, fmt.Errorf("%w: suppress without a suppression", ErrInvalid)
		}
		if _, dup := m.suppressions[ev.ID]; dup {
			m.stats.Ignored++
			return u, false, fmt.Errorf("%w: suppression %s already added", ErrInvalid, ev.ID)
		}
		sup := &Suppression{ID: ev.ID, AlertSuppression: *s.Suppression, CreatedBy: s.Actor, Created: ev.Time}
		m.suppressions[ev.ID] = sup
		m.indexSuppressions()
		u.Type, u.Suppression = UpdateSuppress, sup
		return u, true, nil
	case events.AlertUnsuppress:
		sup, found := m.suppressions[s.SuppressionID]
		if !found {
			m.stats.Ignored++
			return u, false, fmt.Errorf("%w: suppression %q", ErrNotFound, s.SuppressionID)
		}
		delete(m.suppressions, s.SuppressionID)
		m.indexSuppressions()
		u.Type, u.Suppression = UpdateUnsuppress, sup
		return u, true, nil
	}
	inc := m.incidents[s.Incident]
	if inc == nil {
		m.stats.Ignored++
		return u, false, fmt.Errorf("%w: incident %q", ErrNotFound, s.Incident)
	}
	if s.Action == events.AlertReopen && s.AlertID != "" {
		// The alert itself reopened the incident when it was folded; this
		// event only tells the SOC.
		return u, false, nil
	}
	to, err := next(inc.State, s.Action)
	if err != nil {
		m.stats.Ignored++
		return u, false, err
	}
	m.transition(inc, Transition{Action: s.Action, From: inc.State, To: to, Actor: s.Actor, Note: s.Note, Time: ev.Time, EventID: ev.ID})
	inc.Seq = seq
	v := m.view(inc)
	u.Type, u.Incident = UpdateTransition, &v
	return u, true, nil
}

// next is the state an action leads to from the state from.
func next(from State, a events.AlertAction) (State, error) {
	switch {
	case a == events.AlertAcknowledge && from == StateOpen:
		return StateAcknowledged, nil
	case a == events.AlertResolve && (from == StateOpen || from == StateAcknowledged):
		return StateResolved, nil
	case a == events.AlertReopen && (from == StateResolved || from == StateAcknowledged):
		return StateOpen, nil
	case a != events.AlertAcknowledge && a != events.AlertResolve && a != events.AlertReopen:
		return "", fmt.Errorf("%w: unknown action %q", ErrInvalid, a)
	}
	return "", fmt.Errorf("%w: cannot %s an incident that is %s", ErrTransition, a, from)
}

func (m *Model) transition(inc *Incident, t Transition) {
	inc.State = t.To
	m.stats.Transitions++
	if len(inc.History) >= MaxHistory {
		inc.History = slices.Delete(inc.History, 0, 1)
		inc.HistoryDropped++
	}
	inc.History = append(inc.History, t)
}

func (m *Model) advance(t time.Time) {
	if t.After(m.stats.Latest) {
		m.stats.Latest = t
	}
}

func appendBounded(s []string, v string, n int) []string {
	if len(s) >= n {
		s = slices.Delete(s, 0, len(s)-n+1)
	}
	return append(s, v)
}

// view returns a copy of inc with the suppressions applied.
func (m *Model) view(inc *Incident) Incident {
	return viewWith(inc, m.suppression(inc))
}

// viewWith returns a copy of inc suppressed by s (nil: not suppressed).
func viewWith(inc *Incident, s *Suppression) Incident {
	out := *inc
	out.Evidence = slices.Clone(inc.Evidence)
	out.Tags, out.MITRE = slices.Clone(inc.Tags), slices.Clone(inc.MITRE)
	out.LatestAlerts, out.History = slices.Clone(inc.LatestAlerts), slices.Clone(inc.History)
	if inc.Peer != nil {
		p := *inc.Peer
		out.Peer = &p
	}
	if s != nil {
		c := *s
		out.Suppressed, out.Suppression = true, &c
	}
	return out
}

// suppression returns the first suppression (by ID) that matches inc.
func (m *Model) suppression(inc *Incident) *Suppression {
	for _, s := range m.supList {
		if s.matches(inc) {
			return s
		}
	}
	return nil
}

func (m *Model) indexSuppressions() {
	m.supList = m.supList[:0]
	for _, s := range m.suppressions {
		m.supList = append(m.supList, s)
	}
	slices.SortFunc(m.supList, func(a, b *Suppression) int { return cmp.Compare(a.ID, b.ID) })
}

// Incident returns one incident, with suppressions applied.
func (m *Model) Incident(id string) (Incident, bool) {
	inc, ok := m.incidents[id]
	if !ok {
		return Incident{}, false
	}
	return m.view(inc), true
}

// Incidents returns the page of incidents q selects.
func (m *Model) Incidents(q Query) Page {
	type selected struct {
		inc *Incident
		sup *Suppression
	}
	var sel []selected
	page := Page{Incidents: []Incident{}}
	for _, inc := range m.incidents {
		if !q.matches(inc) {
			continue
		}
		sup := m.suppression(inc)
		switch {
		case q.Suppressed == "only" && sup == nil:
			continue
		case (q.Suppressed == "" || q.Suppressed == "exclude") && sup != nil:
			page.SuppressedIncidents++
			page.SuppressedAlerts += inc.Count
			continue
		}
		sel = append(sel, selected{inc, sup})
	}
	slices.SortFunc(sel, func(a, b selected) int {
		if c := b.inc.LastSeen.Compare(a.inc.LastSeen); c != 0 {
			return c
		}
		return cmp.Compare(a.inc.ID, b.inc.ID)
	})
	page.Total = len(sel)
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	if q.Offset < len(sel) {
		for _, s := range sel[q.Offset:min(len(sel), q.Offset+limit)] {
			page.Incidents = append(page.Incidents, viewWith(s.inc, s.sup))
		}
	}
	return page
}

func (q Query) matches(inc *Incident) bool {
	if len(q.States) > 0 && !slices.Contains(q.States, inc.State) {
		return false
	}
	if q.MinSeverity != "" && Rank(inc.Severity) < Rank(q.MinSeverity) {
		return false
	}
	if q.Device != "" && q.Device != inc.Device.Key && q.Device != inc.Device.ID {
		return false
	}
	if q.Rule != "" && q.Rule != inc.Rule {
		return false
	}
	if !q.From.IsZero() && inc.LastSeen.Before(q.From) {
		return false
	}
	return q.To.IsZero() || inc.LastSeen.Before(q.To)
}

// Suppressions returns the suppressions in force, by ID.
func (m *Model) Suppressions() []Suppression {
	out := make([]Suppression, 0, len(m.suppressions))
	for _, s := range m.suppressions {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Suppression) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Stats returns the projection's counters.
func (m *Model) Stats() ModelStats {
	s := m.stats
	s.Suppressions = len(m.suppressions)
	return s
}

// state is the serialised projection, sorted so that the same projection
// always serialises to the same bytes.
type state struct {
	Version      int           `json:"version"`
	Incidents    []*Incident   `json:"incidents"`
	Suppressions []Suppression `json:"suppressions"`
	Stats        ModelStats    `json:"stats"`
}

const stateVersion = 1

// MarshalState serialises the projection for a checkpoint.
func (m *Model) MarshalState() ([]byte, error) {
	s := state{Version: stateVersion, Suppressions: m.Suppressions(), Stats: m.stats}
	for _, inc := range m.incidents {
		s.Incidents = append(s.Incidents, inc)
	}
	slices.SortFunc(s.Incidents, func(a, b *Incident) int { return cmp.Compare(a.ID, b.ID) })
	return json.Marshal(s)
}

// RestoreState replaces the projection with a checkpoint's.
func (m *Model) RestoreState(b []byte) error {
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("alerts checkpoint: %w", err)
	}
	if s.Version != stateVersion {
		return fmt.Errorf("alerts checkpoint: version %d, this build reads %d", s.Version, stateVersion)
	}
	m.incidents = make(map[string]*Incident, len(s.Incidents))
	for _, inc := range s.Incidents {
		m.incidents[inc.ID] = inc
	}
	m.suppressions = make(map[string]*Suppression, len(s.Suppressions))
	for i := range s.Suppressions {
		m.suppressions[s.Suppressions[i].ID] = &s.Suppressions[i]
	}
	m.indexSuppressions()
	m.stats = s.Stats
	return nil
}
