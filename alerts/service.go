package alerts

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-health/vigil/events"
)

// State is where an incident is in its lifecycle.
type State string

// Incident states.
const (
	// StateOpen: raised (or raised again after it was resolved) and not
	// yet taken in hand.
	StateOpen State = "open"
	// StateAcknowledged: a person took it in hand; new alerts count into
	// it without changing its state.
	StateAcknowledged State = "acknowledged"
	// StateResolved: closed; the next alert of the incident reopens it.
	StateResolved State = "resolved"
)

// Transition is one change of an incident's state, in its history.
type Transition struct {
	Action events.AlertAction `json:"action"`
	From   State              `json:"from"`
	To     State              `json:"to"`
	// Actor made the change ("vigil" for an automatic reopen); Note says
	// why.
	Actor string `json:"actor"`
	Note  string `json:"note,omitempty"`
	// Time is the event time of the change; EventID the alert_state
	// event that made it, AlertID the alert that caused an automatic
	// reopen.
	Time    time.Time `json:"time"`
	EventID string    `json:"event_id"`
	AlertID string    `json:"alert_id,omitempty"`
}

// Incident is every alert of one rule about one device and one peer,
// folded into one counted record. Its ID is stable: the same rule, device
// key and peer always give the same incident (see IncidentID).
type Incident struct {
	ID string `json:"id"`
	// Rule is the policy rule that raised the alerts.
	Rule string `json:"rule"`
	// Severity is the highest severity of its alerts; LatestSeverity the
	// severity of the latest one.
	Severity       events.Severity `json:"severity"`
	LatestSeverity events.Severity `json:"latest_severity"`
	// Title and Summary are the latest alert's title and description.
	Title   string `json:"title"`
	Summary string `json:"summary,omitempty"`
	// Evidence lists the deviation IDs behind the latest alerts (newest
	// last, at most MaxLatest).
	Evidence []string `json:"evidence,omitempty"`
	// Tags is the union of the alerts' tags (sorted); MITRE the ATT&CK
	// technique IDs among them ("mitre:T0886" gives "T0886").
	Tags  []string `json:"tags,omitempty"`
	MITRE []string `json:"mitre,omitempty"`
	// Device is the device as the latest alert described it.
	Device events.DeviceSnapshot `json:"device"`
	// Peer is the latest alert's peer; PeerKey the peer address the
	// incident is folded by ("" when its alerts have no peer).
	Peer    *events.Endpoint `json:"peer,omitempty"`
	PeerKey string           `json:"peer_key,omitempty"`
	State   State            `json:"state"`
	// Count is how many alerts the incident holds; FirstSeen and LastSeen
	// their first and latest event times.
	Count     uint64    `json:"count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// LatestAlerts are the IDs of the latest alerts (newest last, at most
	// MaxLatest); every alert stays in the stream and in ClickHouse.
	LatestAlerts []string `json:"latest_alerts"`
	// Suppressed is true when a suppression matches the incident when it
	// is read; Suppression is the first match (by suppression ID).
	Suppressed  bool         `json:"suppressed"`
	Suppression *Suppression `json:"suppression,omitempty"`
	// History holds the state changes (oldest first, at most MaxHistory;
	// HistoryDropped counts older ones, still in the stream).
	History        []Transition `json:"history"`
	HistoryDropped uint64       `json:"history_dropped,omitempty"`
	// Seq is the alerts-stream sequence of the last event that changed
	// the incident.
	Seq uint64 `json:"seq"`
}

// Suppression hides the incidents it matches when alerts are read, past
// ones included. Suppressed alerts are still stored, counted, and listed
// on request (Query.Suppressed).
type Suppression struct {
	// ID is the ID of the alert_state event that added it.
	ID string `json:"id"`
	events.AlertSuppression
	// CreatedBy and Created say who added it and when (event time).
	CreatedBy string    `json:"created_by"`
	Created   time.Time `json:"created"`
}

// Matches reports whether the suppression applies to inc: every scope
// field it sets matches, and the incident's latest alert is before the
// expiry (event time), so an expired suppression stops hiding incidents
// that fire again.
func (s Suppression) Matches(inc *Incident) bool { return s.matches(inc) }

func (s *Suppression) matches(inc *Incident) bool {
	if s.Rule != "" && s.Rule != inc.Rule {
		return false
	}
	if s.Device != "" && s.Device != inc.Device.Key && s.Device != inc.Device.ID {
		return false
	}
	if s.Peer != "" && s.Peer != inc.PeerKey {
		return false
	}
	if s.Category != "" && !strings.EqualFold(s.Category, inc.Device.Category) {
		return false
	}
	r := Rank(inc.Severity)
	if s.MinSeverity != "" && r < Rank(s.MinSeverity) {
		return false
	}
	if s.MaxSeverity != "" && r > Rank(s.MaxSeverity) {
		return false
	}
	return s.Expires.IsZero() || inc.LastSeen.Before(s.Expires)
}

// Expired reports whether the suppression no longer applies to alerts at
// event time at.
func (s Suppression) Expired(at time.Time) bool {
	return !s.Expires.IsZero() && !at.Before(s.Expires)
}

// Severities lists the severities in increasing order.
var Severities = []events.Severity{
	events.SeverityInfo, events.SeverityLow, events.SeverityMedium, events.SeverityHigh, events.SeverityCritical,
}

// Rank orders severities: info 1 ... critical 5; 0 for an unknown one.
func Rank(s events.Severity) int {
	return slices.Index(Severities, s) + 1
}

// ParseSeverity reads a severity name (case-insensitive).
func ParseSeverity(s string) (events.Severity, error) {
	sev := events.Severity(strings.ToLower(strings.TrimSpace(s)))
	if Rank(sev) == 0 {
		return "", fmt.Errorf("severity %q: want info, low, medium, high or critical", s)
	}
	return sev, nil
}

// Action is who makes a lifecycle change and why.
type Action struct {
	Actor string `json:"actor"`
	Note  string `json:"note"`
}

// SuppressionSpec is a suppression to add: its scope, reason, owner and
// expiry, and the person adding it.
type SuppressionSpec struct {
	events.AlertSuppression
	Actor string `json:"actor"`
}

// Errors callers branch on (the API maps them to status codes).
var (
	// ErrNotFound: no incident or suppression has the ID.
	ErrNotFound = errors.New("not found")
	// ErrTransition: the incident's state does not allow the action.
	ErrTransition = errors.New("invalid state transition")
	// ErrInvalid: the request itself is wrong (a missing actor, an empty
	// scope, an unknown severity).
	ErrInvalid = errors.New("invalid request")
)

// Query selects incidents.
type Query struct {
	// States keeps incidents in one of these states; empty means all.
	States []State
	// MinSeverity keeps incidents at least this severe.
	MinSeverity events.Severity
	// Device keeps incidents of this device (key or inventory ID); Rule
	// those of this rule.
	Device string
	Rule   string
	// Suppressed chooses what to do with suppressed incidents: "exclude"
	// (the default), "include" or "only".
	Suppressed string
	// From and To keep incidents whose LastSeen is in [From, To); zero
	// means unbounded.
	From, To time.Time
	// Limit and Offset page the result (Limit 0 means 100, at most 1000).
	Limit, Offset int
}

// Page is one page of incidents, most recent LastSeen first (then ID).
type Page struct {
	// Total is the number of incidents that match (before paging).
	Total int `json:"total"`
	// SuppressedIncidents and SuppressedAlerts count what the query's
	// other filters matched but suppressions hid (0 when suppressed
	// incidents are included): nothing is hidden without being counted.
	SuppressedIncidents int        `json:"suppressed_incidents"`
	SuppressedAlerts    uint64     `json:"suppressed_alerts"`
	Incidents           []Incident `json:"incidents"`
}

// ParseQuery reads a query from URL parameters: state (repeatable or
// comma separated), min_severity, device, rule, suppressed
// (exclude|include|only), from and to (RFC 3339), limit, offset. Unknown
// parameters are errors, so a typo does not silently widen the result.
func ParseQuery(v url.Values) (Query, error) {
	var q Query
	var errs []error
	for k, vals := range v {
		val := ""
		if len(vals) > 0 {
			val = vals[len(vals)-1]
		}
		switch k {
		case "state":
			for _, x := range vals {
				for _, s := range strings.Split(x, ",") {
					st := State(strings.TrimSpace(s))
					switch st {
					case StateOpen, StateAcknowledged, StateResolved:
						q.States = append(q.States, st)
					default:
						errs = append(errs, fmt.Errorf("state %q: want open, acknowledged or resolved", s))
					}
				}
			}
		case "min_severity":
			sev, err := ParseSeverity(val)
			if err != nil {
				errs = append(errs, fmt.Errorf("min_severity: %w", err))
			}
			q.MinSeverity = sev
		case "device":
			q.Device = val
		case "rule":
			q.Rule = val
		case "suppressed":
			switch val {
			case "exclude", "include", "only":
				q.Suppressed = val
			default:
				errs = append(errs, fmt.Errorf("suppressed %q: want exclude, include or only", val))
			}
		case "from", "to":
			t, err := time.Parse(time.RFC3339Nano, val)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %q: want an RFC 3339 time", k, val))
			}
			if k == "from" {
				q.From = t
			} else {
				q.To = t
			}
		case "limit", "offset":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				errs = append(errs, fmt.Errorf("%s %q: want a non-negative integer", k, val))
			}
			if k == "limit" {
				q.Limit = n
			} else {
				q.Offset = n
			}
		default:
			errs = append(errs, fmt.Errorf("unknown parameter %q", k))
		}
	}
	slices.Sort(q.States)
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return Query{}, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return q, nil
}

// UpdateType names what changed in an Update.
type UpdateType string

// Update types.
const (
	// UpdateAlert: an alert was folded into Incident.
	UpdateAlert UpdateType = "alert"
	// UpdateTransition: Incident changed state.
	UpdateTransition UpdateType = "transition"
	// UpdateSuppress and UpdateUnsuppress: Suppression was added or
	// removed.
	UpdateSuppress   UpdateType = "suppress"
	UpdateUnsuppress UpdateType = "unsuppress"
)

// Update is one change of the alert state, as the live feed (Watch, the
// API's server-sent events, `vigil alerts tail`) delivers it.
type Update struct {
	Type UpdateType `json:"type"`
	// Seq is the alerts-stream sequence of the event; Time its event
	// time.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Incident is the incident after the change (alert and transition),
	// with suppressions applied.
	Incident *Incident `json:"incident,omitempty"`
	// Alert is the alert event folded (alert updates).
	Alert *events.Event[events.Alert] `json:"alert,omitempty"`
	// Reopened is true when the alert reopened a resolved incident.
	Reopened bool `json:"reopened,omitempty"`
	// Suppression is the suppression added or removed.
	Suppression *Suppression `json:"suppression,omitempty"`
}

// Severity is the severity an update is filtered by: its alert's, else
// its incident's; suppression changes count as info (Watch sends them to
// every watcher).
func (u Update) Severity() events.Severity {
	switch {
	case u.Alert != nil:
		return u.Alert.Body.Severity
	case u.Incident != nil:
		return u.Incident.Severity
	}
	return events.SeverityInfo
}

// Service is the Go API the web API, the dashboard and the CLI use; the
// Component implements it. Reads apply suppressions at the time of the
// read; changes are published as alert_state events and return once the
// projection applied them.
type Service interface {
	// Incidents returns the incidents the query selects.
	Incidents(q Query) Page
	// Incident returns one incident by ID, with suppressions applied.
	Incident(id string) (Incident, bool)
	// Acknowledge, Resolve and Reopen change an incident's state and
	// return it changed. The actor is required.
	Acknowledge(ctx context.Context, id string, a Action) (Incident, error)
	Resolve(ctx context.Context, id string, a Action) (Incident, error)
	Reopen(ctx context.Context, id string, a Action) (Incident, error)
	// Suppress adds a suppression; reason, owner, actor and at least one
	// of rule, device, peer and category are required.
	Suppress(ctx context.Context, s SuppressionSpec) (Suppression, error)
	// Unsuppress removes a suppression: the incidents it hid show again.
	Unsuppress(ctx context.Context, id string, a Action) error
	// Suppressions lists the suppressions in force (expired ones too,
	// since they still hide the alerts before their expiry), by ID.
	Suppressions() []Suppression
	// Watch delivers every update at least minSeverity severe (and every
	// suppression added or removed) applied after the call, until ctx
	// ends; the channel is then closed. A
	// watcher that does not keep up is closed early (and counted), so
	// the projection never waits for a slow reader: the caller reconnects
	// and reads the current state with Incidents.
	Watch(ctx context.Context, minSeverity events.Severity) <-chan Update
}
