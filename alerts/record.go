package alerts

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/vigil-health/vigil/events"
)

// Record is what the SOC subjects carry for each alert, and what the
// outputs format: the alert event as the policy published it, and the
// incident it was folded into at that moment. A lifecycle record (an
// incident acknowledged, resolved or reopened by a person) carries the
// Transition, and as Alert the incident's latest alert as the incident
// describes it.
type Record struct {
	// AlertSeq is the sequence in VIGIL_V1_ALERTS of the event the record
	// is about: the alert, or the alert_state event of a transition.
	AlertSeq   uint64                     `json:"alert_seq"`
	Alert      events.Event[events.Alert] `json:"alert"`
	Incident   RecordIncident             `json:"incident"`
	Transition *Transition                `json:"transition,omitempty"`
}

// RecordIncident is the incident of a Record after the alert was folded.
type RecordIncident struct {
	ID        string          `json:"id"`
	State     State           `json:"state"`
	Severity  events.Severity `json:"severity"`
	Count     uint64          `json:"count"`
	FirstSeen time.Time       `json:"first_seen"`
	LastSeen  time.Time       `json:"last_seen"`
	// Reopened is true when this alert reopened a resolved incident.
	Reopened bool `json:"reopened,omitempty"`
	// Suppressed says a suppression (SuppressionID) matched when the
	// alert was handled; such records go to the suppressed subjects.
	Suppressed    bool     `json:"suppressed,omitempty"`
	SuppressionID string   `json:"suppression_id,omitempty"`
	MITRE         []string `json:"mitre,omitempty"`
}

// NewRecord builds the record of an alert update.
func NewRecord(seq uint64, u Update) Record {
	inc := u.Incident
	r := Record{AlertSeq: seq, Alert: *u.Alert, Incident: RecordIncident{
		ID: inc.ID, State: inc.State, Severity: inc.Severity, Count: inc.Count,
		FirstSeen: inc.FirstSeen, LastSeen: inc.LastSeen, Reopened: u.Reopened,
		Suppressed: inc.Suppressed, MITRE: inc.MITRE,
	}}
	if inc.Suppression != nil {
		r.Incident.SuppressionID = inc.Suppression.ID
	}
	return r
}

// NewTransitionRecord builds the record of a transition update.
func NewTransitionRecord(seq uint64, u Update) Record {
	inc := u.Incident
	t := inc.History[len(inc.History)-1]
	a := events.Alert{
		Rule: inc.Rule, Severity: inc.LatestSeverity, Title: inc.Title, Description: inc.Summary,
		Device: inc.Device, Peer: inc.Peer, Tags: inc.Tags,
	}
	if n := len(inc.Evidence); n > 0 {
		a.DeviationID = inc.Evidence[n-1]
	}
	ev := events.Event[events.Alert]{Header: events.Header{Version: events.Version, Kind: events.KindAlert, Time: inc.LastSeen}, Body: a}
	if n := len(inc.LatestAlerts); n > 0 {
		ev.ID = inc.LatestAlerts[n-1]
	}
	r := Record{AlertSeq: seq, Alert: ev, Transition: &t, Incident: RecordIncident{
		ID: inc.ID, State: inc.State, Severity: inc.Severity, Count: inc.Count,
		FirstSeen: inc.FirstSeen, LastSeen: inc.LastSeen, Suppressed: inc.Suppressed, MITRE: inc.MITRE,
	}}
	if inc.Suppression != nil {
		r.Incident.SuppressionID = inc.Suppression.ID
	}
	return r
}

// DecodeRecord reads a record from a SOC subject.
func DecodeRecord(data []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, fmt.Errorf("decode SOC record: %w", err)
	}
	if r.Alert.Kind != events.KindAlert || r.Alert.ID == "" || r.Incident.ID == "" {
		return Record{}, fmt.Errorf("decode SOC record: not an alert record (kind %q, alert %q, incident %q)", r.Alert.Kind, r.Alert.ID, r.Incident.ID)
	}
	return r, nil
}

// Meta implements events.Message: the record's message ID is derived from
// its alert's (or its transition's) event ID, so JetStream stores a record
// once.
func (r Record) Meta() events.Header {
	if r.Transition != nil {
		return events.Header{Version: events.Version, Kind: "soc", ID: "soc-" + r.Transition.EventID, Time: r.Transition.Time}
	}
	return events.Header{Version: events.Version, Kind: "soc", ID: "soc-" + r.Alert.ID, Time: r.Alert.Time, Source: r.Alert.Source}
}

// Subject implements events.Message: the SOC subject of the alert's
// severity, or of the incident's for a transition.
func (r Record) Subject(int) string {
	if r.Transition != nil {
		return SOCStateSubject(r.Incident.Severity, r.Incident.Suppressed)
	}
	return SOCSubject(r.Alert.Body.Severity, r.Incident.Suppressed)
}

// Encode implements events.Message.
func (r Record) Encode() ([]byte, error) { return json.Marshal(r) }

var _ events.Message = Record{}
