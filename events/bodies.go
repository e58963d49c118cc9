package events

import "time"

// Endpoint is one side of a communication.
type Endpoint struct {
	// MAC is the Ethernet address seen in the frames of this side, lower
	// case, colon separated; empty when the link layer has none (raw IP).
	MAC string `json:"mac,omitempty"`
	// IP is the IPv4 or IPv6 address in its canonical text form.
	IP string `json:"ip"`
	// Port is the TCP/UDP port; 0 for protocols without ports. For ICMP,
	// as in Zeek, the originator's port holds the ICMP type and the
	// responder's the matching reply type (echo 8 and 0), or the code of a
	// one-way message.
	Port uint16 `json:"port,omitempty"`
}

// FlowPhase says where in a flow's life an event was taken.
type FlowPhase string

// Flow phases.
const (
	FlowStart  FlowPhase = "start"
	FlowUpdate FlowPhase = "update"
	FlowEnd    FlowPhase = "end"
)

// Flow is a bidirectional connection as the sensor saw it. Originator is
// the side that sent the first packet (for TCP, the SYN).
type Flow struct {
	// FlowID identifies the connection across its start, update and end
	// events: a hash of the 5-tuple, VLAN and first-packet time.
	FlowID string `json:"flow_id"`
	// Phase is start, update (active timeout) or end.
	Phase FlowPhase `json:"phase"`
	// Start and Last are the capture times of the first and latest packet.
	Start time.Time `json:"start"`
	Last  time.Time `json:"last"`
	// DurationMS is Last-Start in milliseconds.
	DurationMS int64 `json:"duration_ms"`
	// Transport is "tcp", "udp", "icmp", "icmp6" or "ip-<number>".
	Transport string   `json:"transport"`
	Orig      Endpoint `json:"orig"`
	Resp      Endpoint `json:"resp"`
	// VLAN is the outermost 802.1Q VLAN ID, 0 when untagged; InnerVLAN the
	// second tag of a QinQ frame.
	VLAN      uint16 `json:"vlan,omitempty"`
	InnerVLAN uint16 `json:"inner_vlan,omitempty"`
	// OrigPackets and RespPackets count packets per direction.
	OrigPackets uint64 `json:"orig_packets"`
	RespPackets uint64 `json:"resp_packets"`
	// OrigBytes and RespBytes count IP bytes per direction (IP header and
	// payload, as Zeek's orig_ip_bytes).
	OrigBytes uint64 `json:"orig_bytes"`
	RespBytes uint64 `json:"resp_bytes"`
	// OrigPayload and RespPayload count transport payload bytes.
	OrigPayload uint64 `json:"orig_payload"`
	RespPayload uint64 `json:"resp_payload"`
	// State is the connection state in Zeek's conn.log vocabulary (S0, S1,
	// SF, REJ, RSTO, RSTR, SH, OTH, ...); empty for non-TCP.
	State string `json:"state,omitempty"`
	// History is Zeek's history string: upper case for the originator,
	// lower case for the responder (S syn, H syn-ack, A ack, D data, F fin,
	// R rst).
	History string `json:"history,omitempty"`
	// AppProto is the application protocol identified from the payload
	// (dicom, hl7, dhcp, dns, tls, http, ...), or "" when unknown.
	AppProto string `json:"app_proto,omitempty"`
	// App holds the application counters the dissectors kept for the
	// flow, totals since its start: "dicom.associations",
	// "dicom.c_store_rq", "hl7.messages", ... (see docs/sensor.md).
	App map[string]uint64 `json:"app,omitempty"`
}

// Kind implements Body.
func (Flow) Kind() Kind { return KindFlow }

// PartitionKey implements Body: the originator owns the flow.
func (f Flow) PartitionKey() string { return DeviceKey(f.Orig.MAC, f.Orig.IP, f.VLAN) }

// Observation is one fact about a device read from traffic.
type Observation struct {
	// Device is the key of the observed device (see DeviceKey).
	Device string `json:"device"`
	// MAC and IP of the observed device as seen with the fact.
	MAC  string `json:"mac,omitempty"`
	IP   string `json:"ip,omitempty"`
	VLAN uint16 `json:"vlan,omitempty"`
	// Attribute is a dotted name such as "hostname", "dhcp.vendor_class",
	// "dicom.ae_title", "hl7.sending_application".
	Attribute string `json:"attribute"`
	// Value is the attribute's value as text.
	Value string `json:"value"`
	// Protocol is the protocol the fact was read from ("dhcp", "dicom", ...).
	Protocol string `json:"protocol"`
	// Confidence is between 0 and 1: how sure the dissector is that Value
	// describes this device.
	Confidence float64 `json:"confidence"`
	// Evidence says where in the traffic the fact was found, for example
	// "DHCPREQUEST option 12"; FlowID points at the flow that carried it.
	Evidence string `json:"evidence"`
	FlowID   string `json:"flow_id,omitempty"`
}

// Kind implements Body.
func (Observation) Kind() Kind { return KindObservation }

// PartitionKey implements Body.
func (o Observation) PartitionKey() string { return o.Device }

// AuthResult is the outcome of an authentication attempt.
type AuthResult string

// Authentication outcomes.
const (
	AuthSuccess AuthResult = "success"
	AuthFailure AuthResult = "failure"
	AuthUnknown AuthResult = "unknown"
)

// Auth is an authentication attempt seen in traffic.
type Auth struct {
	Client Endpoint `json:"client"`
	Server Endpoint `json:"server"`
	VLAN   uint16   `json:"vlan,omitempty"`
	// Protocol is the protocol that carried the attempt ("dicom", "snmp",
	// "http", "telnet", ...).
	Protocol string `json:"protocol"`
	// Method is the mechanism (for example "community", "basic",
	// "ae-title").
	Method string `json:"method,omitempty"`
	// Principal is the identity presented, when it is a device or service
	// identity (AE title, SNMP community name is never stored: only its
	// hash prefix).
	Principal string     `json:"principal,omitempty"`
	Result    AuthResult `json:"result"`
	// Reason is the protocol's own rejection reason, if any.
	Reason string `json:"reason,omitempty"`
	FlowID string `json:"flow_id,omitempty"`
}

// Kind implements Body.
func (Auth) Kind() Kind { return KindAuth }

// PartitionKey implements Body: the client owns the attempt.
func (a Auth) PartitionKey() string { return DeviceKey(a.Client.MAC, a.Client.IP, a.VLAN) }

// Health is a periodic report of one sensor interface. Counters are totals
// since the sensor started; the consumer computes rates.
type Health struct {
	// Sensor is the sensor name, Interface the capture interface or file.
	Sensor    string `json:"sensor"`
	Interface string `json:"interface"`
	// IntervalMS is the reporting interval in milliseconds.
	IntervalMS int64 `json:"interval_ms"`
	// Packets and Bytes seen (bytes as captured on the wire).
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	// KernelDrops are packets the kernel dropped before the sensor read
	// them; DecodeErrors packets the sensor could not decode.
	KernelDrops  uint64 `json:"kernel_drops"`
	DecodeErrors uint64 `json:"decode_errors"`
	// Truncated counts packets shorter on capture than on the wire.
	Truncated uint64 `json:"truncated"`
	// ActiveFlows is the flow table size now; FlowEvictions flows removed
	// early because the table was full.
	ActiveFlows   uint64 `json:"active_flows"`
	FlowEvictions uint64 `json:"flow_evictions"`
	// PublishErrors counts events the sensor failed to publish.
	PublishErrors uint64 `json:"publish_errors"`
	// Silent is true when the interface delivered no packet during the
	// last SilentAfterMS milliseconds.
	Silent        bool  `json:"silent"`
	SilentAfterMS int64 `json:"silent_after_ms,omitempty"`
	// Final is true on the last report of a finished source (end of file).
	Final bool `json:"final,omitempty"`
	// Pipeline, when present, makes this the report of a pipeline process
	// (an engine: consumer lag, redeliveries, failed inserts) instead of
	// a sensor's: the sensor fields above are then zero, except
	// IntervalMS, the process's reporting interval. See PipelineHealth.
	Pipeline *PipelineHealth `json:"pipeline,omitempty"`
}

// Kind implements Body.
func (Health) Kind() Kind { return KindHealth }

// PartitionKey implements Body: the sensor, or the pipeline process.
func (h Health) PartitionKey() string {
	if h.Pipeline != nil {
		return "process:" + h.Pipeline.Process
	}
	return "sensor:" + h.Sensor
}

// DeviceSnapshot is what was known about a device when an event was made.
// It travels inside deviations and alerts so that a decision can be
// replayed from the stream alone.
type DeviceSnapshot struct {
	Key string `json:"key"`
	// ID is the inventory's stable device ID (empty before the inventory
	// has seen the device).
	ID   string   `json:"id,omitempty"`
	MAC  string   `json:"mac,omitempty"`
	IPs  []string `json:"ips,omitempty"`
	VLAN uint16   `json:"vlan,omitempty"`
	// Attributes holds the best current value of each known attribute.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Category, Medical and Criticality are the inventory's
	// classification (see docs/inventory.md): criticality is one of
	// life_sustaining, patient_connected, clinical_support, non_clinical
	// or unknown.
	Category    string `json:"category,omitempty"`
	Medical     bool   `json:"medical,omitempty"`
	Criticality string `json:"criticality,omitempty"`
	// Site, Segment, Department and Location come from the organisation
	// map of the configuration (and the asset register).
	Site       string `json:"site,omitempty"`
	Segment    string `json:"segment,omitempty"`
	Department string `json:"department,omitempty"`
	Location   string `json:"location,omitempty"`
}

// DeviationType names a kind of departure from a baseline.
type DeviationType string

// Deviation types emitted in v1.
const (
	DeviationNewDevice   DeviationType = "new_device"
	DeviationNewPeer     DeviationType = "new_peer"
	DeviationNewPort     DeviationType = "new_port"
	DeviationNewProtocol DeviationType = "new_protocol"
	DeviationInternet    DeviationType = "internet"
	DeviationScan        DeviationType = "scan"
	// DeviationVolumeSpike: the bytes a device moved in one clock hour
	// exceed its learned hourly profile (Baseline.Metric
	// "bytes_per_hour").
	DeviationVolumeSpike DeviationType = "volume_spike"
	// DeviationOffHours: the device originated traffic in an hour of the
	// day in which it was never active while learning.
	DeviationOffHours DeviationType = "off_hours"
	// DeviationAuthFailures: a burst of failed authentication attempts
	// from one client (Baseline.Metric "auth_failures").
	DeviationAuthFailures DeviationType = "auth_failures"
	// DeviationInsecureProtocol: the device was first seen using an
	// insecure protocol or a cleartext credential (Attribute and Value).
	DeviationInsecureProtocol DeviationType = "insecure_protocol"
	// DeviationIdentityChange: an identity attribute of the device
	// (firmware, software or hardware version, model, serial, vendor)
	// changed, or it presented another device's serial number.
	DeviationIdentityChange DeviationType = "identity_change"
)

// Kinds of identity_change (Deviation.Change).
const (
	IdentityUpgrade   = "upgrade"
	IdentityDowngrade = "downgrade"
	// IdentityChanged is a change of an attribute that is not a version,
	// or between versions that do not compare.
	IdentityChanged = "changed"
	// IdentityConflict is a serial number already presented by another
	// device (a clone, a spoof, or one device with two interfaces).
	IdentityConflict = "conflict"
)

// BaselineContext says how much the baseline knew when it judged.
type BaselineContext struct {
	// Ready is true when the device's learning is complete.
	Ready bool `json:"ready"`
	// LearningStart and LearningEnd bound the learning window (event time).
	LearningStart time.Time `json:"learning_start"`
	LearningEnd   time.Time `json:"learning_end"`
	// Observations is the number of flows learned for this device.
	Observations uint64 `json:"observations"`
	// KnownPeers and KnownPorts are the sizes of the learned sets.
	KnownPeers int `json:"known_peers"`
	KnownPorts int `json:"known_ports"`
	// Metric names what a statistical deviation measured
	// ("bytes_per_hour", "auth_failures"); Observed is its value, Learned
	// the learned reference (for bytes_per_hour the 95th percentile of the
	// learned hours), Threshold the value Observed had to exceed, Ratio
	// Observed/Learned (absent when nothing was learned) and Samples how
	// many values the learned figure rests on (hours).
	Metric    string  `json:"metric,omitempty"`
	Observed  float64 `json:"observed,omitempty"`
	Learned   float64 `json:"learned,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
	Ratio     float64 `json:"ratio,omitempty"`
	Samples   int     `json:"samples,omitempty"`
	// ActiveHours lists the hours of the day (0-23, in the baseline's time
	// zone) in which the device originated traffic while learning
	// (off_hours).
	ActiveHours []int `json:"active_hours,omitempty"`
	// LearningMode is how the device learns: "global" (the window from
	// the first flow), "device" (a window from its own first sighting)
	// or "confirmed" (until a person confirms it); Confirmed is true
	// once a person did.
	LearningMode string `json:"learning_mode,omitempty"`
	Confirmed    bool   `json:"confirmed,omitempty"`
	// PeerGroup names the device's peer group ("model:<vendor>/<model>"
	// or "category:<category>"), GroupMembers the other ready devices in
	// it and GroupSupport how many of them learned the same edge or
	// service (for edge deviations).
	PeerGroup    string `json:"peer_group,omitempty"`
	GroupMembers int    `json:"group_members,omitempty"`
	GroupSupport int    `json:"group_support,omitempty"`
}

// Deviation is a departure from what a device normally does.
type Deviation struct {
	Type   DeviationType  `json:"type"`
	Device DeviceSnapshot `json:"device"`
	// Direction is "outbound" when the device originated the traffic,
	// "inbound" when it answered.
	Direction string `json:"direction,omitempty"`
	// Peer is the other side of the traffic, when there is one.
	Peer      *Endpoint `json:"peer,omitempty"`
	Transport string    `json:"transport,omitempty"`
	// Port is the server port of the edge.
	Port     uint16 `json:"port,omitempty"`
	AppProto string `json:"app_proto,omitempty"`
	// PeerCategory is the classification of the peer when it is a device
	// of the monitored network the baseline classified (DICOM and HL7
	// policies compare both ends).
	PeerCategory string `json:"peer_category,omitempty"`
	// Attribute and Value are the fact behind an insecure_protocol or
	// identity_change deviation (for off_hours: "hour_of_day" and the
	// hour, 0-23); Previous is the value before an identity change, and
	// Change says what kind it was: upgrade, downgrade, changed or
	// conflict.
	Attribute string `json:"attribute,omitempty"`
	Value     string `json:"value,omitempty"`
	Previous  string `json:"previous,omitempty"`
	Change    string `json:"change,omitempty"`
	// Count is how many distinct peers or ports a scan touched, how many
	// failed attempts an auth_failures burst holds, or how many flows a
	// deviation summarises.
	Count int `json:"count,omitempty"`
	// Summary is one human sentence.
	Summary  string          `json:"summary"`
	Baseline BaselineContext `json:"baseline"`
	// Evidence lists the flow IDs behind the deviation (for a fact
	// observed outside any flow, the observation's event ID).
	Evidence []string `json:"evidence,omitempty"`
}

// Kind implements Body.
func (Deviation) Kind() Kind { return KindDeviation }

// PartitionKey implements Body.
func (d Deviation) PartitionKey() string { return d.Device.Key }

// Severity of an alert, in increasing order.
type Severity string

// Alert severities.
const (
	SeverityInfo     Severity = "info"
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Alert is raised by a policy for the SOC.
type Alert struct {
	// Rule is the policy rule that raised it, Title a short human line.
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	// Description may be longer and explains why.
	Description string         `json:"description,omitempty"`
	Device      DeviceSnapshot `json:"device"`
	Peer        *Endpoint      `json:"peer,omitempty"`
	// Tags are free labels from the policy (MITRE technique IDs, ...).
	Tags []string `json:"tags,omitempty"`
	// DeviationID and DecisionID link the alert to its cause.
	DeviationID string `json:"deviation_id"`
	DecisionID  string `json:"decision_id"`
	// PolicyRevision identifies the policy set that decided.
	PolicyRevision string `json:"policy_revision"`
}

// Kind implements Body.
func (Alert) Kind() Kind { return KindAlert }

// PartitionKey implements Body.
func (a Alert) PartitionKey() string { return a.Device.Key }

// EnforceRequest is a block a policy asks for; the enforce engine's
// patient-safety gate decides whether it is applied.
type EnforceRequest struct {
	Scope BlockScope `json:"scope"`
	// DurationS is how long the block should last, in seconds.
	DurationS int64  `json:"duration_s"`
	Reason    string `json:"reason"`
}

// BlockScope is what a block applies to. The narrowest non-empty scope
// wins: an address pair with port is preferred to a whole address.
type BlockScope struct {
	IP        string `json:"ip,omitempty"`
	PeerIP    string `json:"peer_ip,omitempty"`
	Port      uint16 `json:"port,omitempty"`
	Transport string `json:"transport,omitempty"`
	MAC       string `json:"mac,omitempty"`
}

// Decision records one evaluation of the policy set, whatever it decided.
type Decision struct {
	// Query is the Rego query evaluated, Revision the hash of the policy
	// files that answered it.
	Query    string `json:"query"`
	Revision string `json:"revision"`
	// InputKind and InputID name the event evaluated; InputHash is the
	// SHA-256 of the exact input document.
	InputKind Kind   `json:"input_kind"`
	InputID   string `json:"input_id"`
	InputHash string `json:"input_hash"`
	Device    string `json:"device"`
	// Alerts and Enforce are what the policies asked for.
	Alerts  int              `json:"alerts"`
	Enforce []EnforceRequest `json:"enforce,omitempty"`
	// Error is set when evaluation failed; the input is then not lost: it is
	// recorded here and counted.
	Error string `json:"error,omitempty"`
}

// Kind implements Body.
func (Decision) Kind() Kind { return KindDecision }

// PartitionKey implements Body.
func (d Decision) PartitionKey() string { return d.Device }

// EnforcementStep names a step in the life of a block.
type EnforcementStep string

// Enforcement steps, in the order a block usually goes through them.
const (
	StepRequested EnforcementStep = "requested"
	StepGated     EnforcementStep = "gated"
	StepApproved  EnforcementStep = "approved"
	StepApplied   EnforcementStep = "applied"
	StepFailed    EnforcementStep = "failed"
	StepExpired   EnforcementStep = "expired"
	StepDrifted   EnforcementStep = "drifted"
	StepRevoked   EnforcementStep = "revoked"
)

// Enforcement is one audited step of a block's life.
type Enforcement struct {
	Step EnforcementStep `json:"step"`
	// RequestID is stable across the steps of one block.
	RequestID string     `json:"request_id"`
	Device    string     `json:"device"`
	Scope     BlockScope `json:"scope"`
	DurationS int64      `json:"duration_s"`
	// Backend is the enforcement point ("nftables", "edl", "dry-run", ...).
	Backend string `json:"backend,omitempty"`
	DryRun  bool   `json:"dry_run"`
	// Reason explains the step, for a gate the rule that held the block.
	Reason     string `json:"reason"`
	AlertID    string `json:"alert_id,omitempty"`
	DecisionID string `json:"decision_id,omitempty"`
	// Actor is the person who approved or revoked the block, absent for
	// the engine's own steps.
	Actor string `json:"actor,omitempty"`
	// The fields below let the desired set be rebuilt from these events
	// alone (enforce.Replay). State is the block's state after the step,
	// on the steps that change it: awaiting (requested), pending, active
	// or rejected (the gate's gated or approved step), active (approved
	// by a person), revoked, expired. Empty on an enforcement point's
	// steps (Backend set) and on the kill switch's.
	State string `json:"state,omitempty"`
	// Requested is the scope the policy asked for when the gate narrowed
	// it (gate step; Scope is then the narrowed one).
	Requested *BlockScope `json:"requested,omitempty"`
	// Gate lists the gate's rules that held, narrowed, rejected or passed
	// the block, one sentence each (gate step; Reason joins them with
	// "; ").
	Gate []string `json:"gate,omitempty"`
	// Snapshot is the device as the gate judged it, from the alert (gate
	// step; absent when the gate judged without one).
	Snapshot *DeviceSnapshot `json:"snapshot,omitempty"`
	// Note is what the person wrote when approving or revoking.
	Note string `json:"note,omitempty"`
}

// Kind implements Body.
func (Enforcement) Kind() Kind { return KindEnforcement }

// PartitionKey implements Body.
func (e Enforcement) PartitionKey() string { return e.Device }

// ChangeType names a change to a device's identity.
type ChangeType string

// Device change types.
const (
	ChangeNew       ChangeType = "new"
	ChangeAttribute ChangeType = "attribute"
	ChangeAddress   ChangeType = "address"
	// ChangeAddressReleased: another device took over the address, or
	// the device's DHCP lease moved it to a new one.
	ChangeAddressReleased ChangeType = "address_released"
	// ChangeClassification: the device's category, medical flag or
	// criticality changed.
	ChangeClassification ChangeType = "classification"
	// ChangeOnline and ChangeOffline follow the device's activity in event
	// time (offline after the configured silence).
	ChangeOnline  ChangeType = "online"
	ChangeOffline ChangeType = "offline"
)

// DeviceChange records a change in the inventory: a new device, a new IP,
// or an attribute whose value changed (for example a firmware update).
type DeviceChange struct {
	Device DeviceSnapshot `json:"device"`
	Change ChangeType     `json:"change"`
	// Attribute, Old and New describe the change; for ChangeAddress the
	// attribute is "ip".
	Attribute string `json:"attribute,omitempty"`
	Old       string `json:"old,omitempty"`
	New       string `json:"new,omitempty"`
	// Evidence lists the event IDs that caused the change.
	Evidence []string `json:"evidence,omitempty"`
	// Summary is one human sentence, for example "firmware_version
	// downgraded from 3.2 to 2.9 (snmp)".
	Summary string `json:"summary,omitempty"`
}

// Kind implements Body.
func (DeviceChange) Kind() Kind { return KindDeviceChange }

// PartitionKey implements Body.
func (c DeviceChange) PartitionKey() string { return c.Device.Key }
