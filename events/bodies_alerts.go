package events

import "time"

// KindAlertState is the kind of AlertState events: the SOC's lifecycle
// actions on incidents and its suppressions, in the alerts stream beside
// the alerts they act on, so the alert state is a projection of that one
// stream.
const KindAlertState Kind = "alert_state"

// AlertAction names what an AlertState event does.
type AlertAction string

// Alert state actions.
const (
	// AlertAcknowledge: a person took the incident in hand.
	AlertAcknowledge AlertAction = "acknowledge"
	// AlertResolve: the incident is closed; a new alert of it reopens it.
	AlertResolve AlertAction = "resolve"
	// AlertReopen: a person reopened the incident, or (Actor "vigil",
	// AlertID set) a new alert of a resolved incident did.
	AlertReopen AlertAction = "reopen"
	// AlertSuppress adds Suppression; AlertUnsuppress removes the
	// suppression named by SuppressionID.
	AlertSuppress   AlertAction = "suppress"
	AlertUnsuppress AlertAction = "unsuppress"
)

// AlertSuppression is the scope of a suppression: an incident matches when
// every non-empty field matches. Suppressions hide incidents when alerts
// are read; they never stop alerts from being stored.
type AlertSuppression struct {
	// Rule is a policy rule ID; Device a device key or inventory ID; Peer
	// the peer's IP address; Category the device category.
	Rule     string `json:"rule,omitempty"`
	Device   string `json:"device,omitempty"`
	Peer     string `json:"peer,omitempty"`
	Category string `json:"category,omitempty"`
	// MinSeverity and MaxSeverity bound the incident's severity
	// (inclusive); empty means unbounded.
	MinSeverity Severity `json:"min_severity,omitempty"`
	MaxSeverity Severity `json:"max_severity,omitempty"`
	// Reason says why the alerts are expected; Owner who answers for it.
	Reason string `json:"reason"`
	Owner  string `json:"owner"`
	// Expires ends the suppression in event time: alerts at or after it
	// are no longer suppressed. Zero means it never expires.
	Expires time.Time `json:"expires,omitzero"`
}

// AlertState is one action of the SOC on the alert state: a lifecycle
// transition of an incident, or a suppression added or removed.
type AlertState struct {
	Action AlertAction `json:"action"`
	// Incident is the ID of the incident acted on (lifecycle actions);
	// Device its device key, which partitions the event.
	Incident string `json:"incident,omitempty"`
	Device   string `json:"device,omitempty"`
	// Actor is who acted (a user name, or "vigil" for an automatic
	// reopen); Note says why.
	Actor string `json:"actor"`
	Note  string `json:"note,omitempty"`
	// AlertID is the alert that caused an automatic reopen.
	AlertID string `json:"alert_id,omitempty"`
	// Suppression is the suppression added (suppress); SuppressionID the
	// one removed (unsuppress). A suppression's ID is the ID of the event
	// that added it.
	Suppression   *AlertSuppression `json:"suppression,omitempty"`
	SuppressionID string            `json:"suppression_id,omitempty"`
}

// Kind implements Body.
func (AlertState) Kind() Kind { return KindAlertState }

// PartitionKey implements Body: lifecycle actions follow their incident's
// device; suppressions, which span devices, use one fixed key.
func (s AlertState) PartitionKey() string {
	if s.Device != "" {
		return s.Device
	}
	return "alerts:suppressions"
}
