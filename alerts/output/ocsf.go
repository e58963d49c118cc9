package output

import (
	"regexp"
	"strconv"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/events"
)

// OCSFVersion is the OCSF schema version the Detection Finding follows.
const OCSFVersion = "1.3.0"

// The OCSF classification of Vigil's findings.
const (
	ocsfClassUID    = 2004 // Detection Finding
	ocsfCategoryUID = 2    // Findings
)

// DetectionFinding is an OCSF Detection Finding (class 2004, category
// Findings), with the OCSF attribute names. Only the attributes Vigil
// fills are declared.
type DetectionFinding struct {
	ActivityID   int    `json:"activity_id"`
	ActivityName string `json:"activity_name"`
	CategoryUID  int    `json:"category_uid"`
	CategoryName string `json:"category_name"`
	ClassUID     int    `json:"class_uid"`
	ClassName    string `json:"class_name"`
	TypeUID      int    `json:"type_uid"`
	TypeName     string `json:"type_name"`
	SeverityID   int    `json:"severity_id"`
	Severity     string `json:"severity"`
	// Time is the finding's time in milliseconds since the epoch: the
	// event time of the alert.
	Time      int64  `json:"time"`
	StartTime int64  `json:"start_time,omitempty"`
	EndTime   int64  `json:"end_time,omitempty"`
	Count     uint64 `json:"count,omitempty"`
	Message   string `json:"message,omitempty"`
	StatusID  int    `json:"status_id"`
	Status    string `json:"status"`
	IsAlert   bool   `json:"is_alert"`

	Metadata    OCSFMetadata    `json:"metadata"`
	FindingInfo OCSFFindingInfo `json:"finding_info"`
	Device      *OCSFDevice     `json:"device,omitempty"`
	Evidences   []OCSFEvidence  `json:"evidences,omitempty"`
	Unmapped    map[string]any  `json:"unmapped,omitempty"`
}

// OCSFMetadata is the metadata object.
type OCSFMetadata struct {
	Version        string      `json:"version"`
	Product        OCSFProduct `json:"product"`
	UID            string      `json:"uid"`
	CorrelationUID string      `json:"correlation_uid,omitempty"`
	LoggedTime     int64       `json:"logged_time,omitempty"`
}

// OCSFProduct is the product object.
type OCSFProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version,omitempty"`
}

// OCSFFindingInfo is the finding_info object.
type OCSFFindingInfo struct {
	UID           string        `json:"uid"`
	Title         string        `json:"title"`
	Desc          string        `json:"desc,omitempty"`
	Types         []string      `json:"types,omitempty"`
	FirstSeenTime int64         `json:"first_seen_time,omitempty"`
	LastSeenTime  int64         `json:"last_seen_time,omitempty"`
	Analytic      OCSFAnalytic  `json:"analytic"`
	Attacks       []OCSFAttack  `json:"attacks,omitempty"`
	RelatedEvents []OCSFRelated `json:"related_events,omitempty"`
}

// OCSFAnalytic is the analytic object: the policy rule.
type OCSFAnalytic struct {
	UID    string `json:"uid"`
	Name   string `json:"name"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
}

// OCSFAttack is the attack object (MITRE ATT&CK).
type OCSFAttack struct {
	Technique OCSFTechnique `json:"technique"`
	Version   string        `json:"version,omitempty"`
}

// OCSFTechnique is the technique object.
type OCSFTechnique struct {
	UID string `json:"uid"`
}

// OCSFRelated is a related_event object: the deviation behind the alert.
type OCSFRelated struct {
	UID     string       `json:"uid"`
	Type    string       `json:"type,omitempty"`
	Product *OCSFProduct `json:"product,omitempty"`
}

// OCSFDevice is the device object.
type OCSFDevice struct {
	TypeID   int           `json:"type_id"`
	Type     string        `json:"type,omitempty"`
	UID      string        `json:"uid,omitempty"`
	Name     string        `json:"name,omitempty"`
	Hostname string        `json:"hostname,omitempty"`
	IP       string        `json:"ip,omitempty"`
	MAC      string        `json:"mac,omitempty"`
	VlanUID  string        `json:"vlan_uid,omitempty"`
	Location *OCSFLocation `json:"location,omitempty"`
}

// OCSFLocation is the geo_location object (only its desc is used: the
// ward or room).
type OCSFLocation struct {
	Desc string `json:"desc"`
}

// OCSFEvidence is an evidences (evidence_artifacts) object.
type OCSFEvidence struct {
	SrcEndpoint *OCSFEndpoint `json:"src_endpoint,omitempty"`
	DstEndpoint *OCSFEndpoint `json:"dst_endpoint,omitempty"`
}

// OCSFEndpoint is the network_endpoint object.
type OCSFEndpoint struct {
	IP   string `json:"ip,omitempty"`
	MAC  string `json:"mac,omitempty"`
	Port int    `json:"port,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// OCSFSeverity maps severities to severity_id and its caption.
func OCSFSeverity(s events.Severity) (int, string) {
	switch s {
	case events.SeverityInfo:
		return 1, "Informational"
	case events.SeverityLow:
		return 2, "Low"
	case events.SeverityMedium:
		return 3, "Medium"
	case events.SeverityHigh:
		return 4, "High"
	case events.SeverityCritical:
		return 5, "Critical"
	}
	return 0, "Unknown"
}

// ocsfStatus maps an incident state to the finding's status_id.
func ocsfStatus(st alerts.State, suppressed bool) (int, string) {
	switch {
	case suppressed:
		return 3, "Suppressed"
	case st == alerts.StateAcknowledged:
		return 2, "In Progress"
	case st == alerts.StateResolved:
		return 4, "Resolved"
	}
	return 1, "New"
}

var mitreTechnique = regexp.MustCompile(`^T\d{4}(\.\d{3})?$`)

// RecordOCSF maps a SOC record to a Detection Finding: the incident is the
// finding (finding_info.uid), its first alert creates it (activity 1) and
// every later one updates it (activity 2); a person resolving it closes it
// (3), acknowledging or reopening it updates it. docs/alerts.md has the
// table.
func RecordOCSF(rec alerts.Record, p Product) DetectionFinding {
	a := rec.Alert.Body
	activity, activityName := 1, "Create"
	if rec.Incident.Count > 1 {
		activity, activityName = 2, "Update"
	}
	sevID, sev := OCSFSeverity(a.Severity)
	at, uid, isAlert := rec.Alert.Time, rec.Alert.ID, true
	t := rec.Transition
	if t != nil {
		activity, activityName = 2, "Update"
		if t.To == alerts.StateResolved {
			activity, activityName = 3, "Close"
		}
		sevID, sev = OCSFSeverity(rec.Incident.Severity)
		at, uid, isAlert = t.Time, t.EventID, false
	}
	statusID, status := ocsfStatus(rec.Incident.State, rec.Incident.Suppressed)
	product := OCSFProduct{Name: p.Name, VendorName: p.Vendor, Version: p.Version}
	f := DetectionFinding{
		ActivityID: activity, ActivityName: activityName,
		CategoryUID: ocsfCategoryUID, CategoryName: "Findings",
		ClassUID: ocsfClassUID, ClassName: "Detection Finding",
		TypeUID: ocsfClassUID*100 + activity, TypeName: "Detection Finding: " + activityName,
		SeverityID: sevID, Severity: sev,
		Time:      at.UnixMilli(),
		StartTime: rec.Incident.FirstSeen.UnixMilli(), EndTime: rec.Incident.LastSeen.UnixMilli(),
		Count: rec.Incident.Count, Message: a.Title,
		StatusID: statusID, Status: status, IsAlert: isAlert,
		Metadata: OCSFMetadata{Version: OCSFVersion, Product: product, UID: uid, CorrelationUID: rec.Incident.ID},
		FindingInfo: OCSFFindingInfo{
			UID: rec.Incident.ID, Title: a.Title, Desc: a.Description, Types: []string{a.Rule},
			FirstSeenTime: rec.Incident.FirstSeen.UnixMilli(), LastSeenTime: rec.Incident.LastSeen.UnixMilli(),
			Analytic: OCSFAnalytic{UID: a.Rule, Name: a.Rule, TypeID: 1, Type: "Rule"},
		},
		Unmapped: map[string]any{"vigil": map[string]any{
			"device_key": a.Device.Key, "criticality": a.Device.Criticality, "medical": a.Device.Medical,
			"category": a.Device.Category, "tags": a.Tags, "policy_revision": a.PolicyRevision,
			"decision_id": a.DecisionID, "alert_seq": rec.AlertSeq,
		}},
	}
	if t != nil {
		f.Unmapped["vigil"].(map[string]any)["transition"] = map[string]any{
			"action": t.Action, "from": t.From, "to": t.To, "actor": t.Actor, "note": t.Note,
		}
	}
	for _, t := range rec.Incident.MITRE {
		if mitreTechnique.MatchString(t) {
			f.FindingInfo.Attacks = append(f.FindingInfo.Attacks, OCSFAttack{Technique: OCSFTechnique{UID: t}})
		}
	}
	if a.DeviationID != "" {
		f.FindingInfo.RelatedEvents = []OCSFRelated{{UID: a.DeviationID, Type: "deviation", Product: &product}}
	}
	d := &OCSFDevice{
		// OCSF has no medical device type: 99 (Other) with the type named,
		// as the schema asks for Other; 7 (IOT) otherwise is no better.
		TypeID: 0, Type: "Unknown",
		UID: a.Device.ID, Name: a.Device.Attributes["hostname"], Hostname: a.Device.Attributes["hostname"],
		MAC: a.Device.MAC,
	}
	if a.Device.Medical {
		d.TypeID, d.Type = 99, "Medical Device"
	}
	if len(a.Device.IPs) > 0 {
		d.IP = a.Device.IPs[0]
	}
	if a.Device.VLAN != 0 {
		d.VlanUID = strconv.Itoa(int(a.Device.VLAN))
	}
	if a.Device.Location != "" {
		d.Location = &OCSFLocation{Desc: a.Device.Location}
	}
	f.Device = d
	ev := OCSFEvidence{SrcEndpoint: &OCSFEndpoint{IP: d.IP, MAC: a.Device.MAC, UID: a.Device.Key}}
	if a.Peer != nil {
		ev.DstEndpoint = &OCSFEndpoint{IP: a.Peer.IP, MAC: a.Peer.MAC, Port: int(a.Peer.Port)}
	}
	f.Evidences = []OCSFEvidence{ev}
	return f
}
