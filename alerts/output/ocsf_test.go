package output

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/events"
)

// The attributes of Detection Finding (class 2004) Vigil may write, by
// the OCSF schema (events/base_event.json, events/findings/finding.json,
// events/findings/detection_finding.json): a misspelt name fails.
var ocsfAttributes = []string{
	"activity_id", "activity_name", "category_uid", "category_name", "class_uid", "class_name", "type_uid", "type_name",
	"severity_id", "severity", "time", "start_time", "end_time", "count", "message", "status_id", "status", "is_alert",
	"metadata", "finding_info", "device", "evidences", "unmapped",
}

// checkDetectionFinding validates a JSON document against the required
// attributes of class 2004 and the enumerations and derivations the
// schema defines.
func checkDetectionFinding(doc []byte) []error {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return []error{err}
	}
	var errs []error
	num := func(obj map[string]any, k string) (float64, bool) {
		v, ok := obj[k].(float64)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: required number missing or not a number (%v)", k, obj[k]))
		}
		return v, ok
	}
	str := func(obj map[string]any, path, k string) {
		if v, ok := obj[k].(string); !ok || v == "" {
			errs = append(errs, fmt.Errorf("%s%s: required string missing", path, k))
		}
	}
	for k := range m {
		if !slices.Contains(ocsfAttributes, k) {
			errs = append(errs, fmt.Errorf("%s: not an attribute of Detection Finding", k))
		}
	}
	class, _ := num(m, "class_uid")
	cat, _ := num(m, "category_uid")
	act, _ := num(m, "activity_id")
	typ, _ := num(m, "type_uid")
	sev, _ := num(m, "severity_id")
	tm, _ := num(m, "time")
	if class != 2004 || cat != 2 {
		errs = append(errs, fmt.Errorf("class_uid %v category_uid %v, want 2004 and 2", class, cat))
	}
	if act < 1 || act > 3 {
		errs = append(errs, fmt.Errorf("activity_id %v is not Create, Update or Close", act))
	}
	if typ != class*100+act {
		errs = append(errs, fmt.Errorf("type_uid %v is not class_uid*100+activity_id", typ))
	}
	if !slices.Contains([]float64{0, 1, 2, 3, 4, 5, 6, 99}, sev) {
		errs = append(errs, fmt.Errorf("severity_id %v is not in the enumeration", sev))
	}
	if tm < 1e12 {
		errs = append(errs, fmt.Errorf("time %v is not milliseconds since the epoch", tm))
	}
	if st, ok := m["status_id"].(float64); ok && !slices.Contains([]float64{0, 1, 2, 3, 4, 5, 6, 99}, st) {
		errs = append(errs, fmt.Errorf("status_id %v is not in the enumeration", st))
	}
	md, ok := m["metadata"].(map[string]any)
	if !ok {
		return append(errs, fmt.Errorf("metadata: required object missing"))
	}
	str(md, "metadata.", "version")
	prod, ok := md["product"].(map[string]any)
	if !ok {
		errs = append(errs, fmt.Errorf("metadata.product: required object missing"))
	} else {
		str(prod, "metadata.product.", "name")
		str(prod, "metadata.product.", "vendor_name")
	}
	fi, ok := m["finding_info"].(map[string]any)
	if !ok {
		return append(errs, fmt.Errorf("finding_info: required object missing"))
	}
	str(fi, "finding_info.", "uid")
	str(fi, "finding_info.", "title")
	if an, ok := fi["analytic"].(map[string]any); ok {
		if tid, _ := an["type_id"].(float64); tid != 1 {
			errs = append(errs, fmt.Errorf("finding_info.analytic.type_id %v, want 1 (Rule)", tid))
		}
	}
	if d, ok := m["device"].(map[string]any); ok {
		if _, ok := d["type_id"].(float64); !ok {
			errs = append(errs, fmt.Errorf("device.type_id: required number missing"))
		}
	}
	return errs
}

func TestOCSFDetectionFinding(t *testing.T) {
	p := Product{Vendor: "Vigil", Name: "Vigil", Version: "test"}
	first := record(0, events.SeverityCritical)
	later := record(4, events.SeverityHigh)
	later.Incident.State, later.Incident.Suppressed = alerts.StateAcknowledged, false
	for _, tc := range []struct {
		name          string
		rec           alerts.Record
		activity, sev int
		status        int
	}{
		{"first alert creates the finding", first, 1, 5, 1},
		{"a later alert updates it", later, 2, 4, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Body(alerts.FormatOCSF, tc.rec, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, err := range checkDetectionFinding(doc) {
				t.Error(err)
			}
			f := RecordOCSF(tc.rec, p)
			if f.ActivityID != tc.activity || f.SeverityID != tc.sev || f.StatusID != tc.status {
				t.Errorf("activity %d severity %d status %d", f.ActivityID, f.SeverityID, f.StatusID)
			}
			if f.FindingInfo.UID != tc.rec.Incident.ID || f.Metadata.UID != tc.rec.Alert.ID || f.Count != tc.rec.Incident.Count {
				t.Errorf("ids: finding %s alert %s count %d", f.FindingInfo.UID, f.Metadata.UID, f.Count)
			}
			if len(f.FindingInfo.Attacks) != 1 || f.FindingInfo.Attacks[0].Technique.UID != "T0883" {
				t.Errorf("attacks %+v", f.FindingInfo.Attacks)
			}
			if f.Device.TypeID != 99 || f.Device.Type != "Medical Device" || f.Device.IP != "10.20.0.102" {
				t.Errorf("device %+v", f.Device)
			}
			if f.Evidences[0].DstEndpoint.IP != "203.0.113.45" || f.Evidences[0].DstEndpoint.Port != 443 {
				t.Errorf("evidence %+v", f.Evidences[0].DstEndpoint)
			}
		})
	}
	// A person resolving the incident closes the finding.
	closed := record(4, events.SeverityHigh)
	closed.Incident.State = alerts.StateResolved
	closed.Transition = &alerts.Transition{Action: events.AlertResolve, From: alerts.StateAcknowledged, To: alerts.StateResolved,
		Actor: "anna", Note: "firewalled", Time: t0.Add(time.Hour), EventID: "e38d69497905918dd9f454aad38386ba"}
	doc, err := Body(alerts.FormatOCSF, closed, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range checkDetectionFinding(doc) {
		t.Error(err)
	}
	f := RecordOCSF(closed, p)
	if f.ActivityID != 3 || f.TypeUID != 200403 || f.StatusID != 4 || f.IsAlert || f.Time != t0.Add(time.Hour).UnixMilli() || f.Metadata.UID != closed.Transition.EventID {
		t.Errorf("close: activity %d type %d status %d alert %v time %d uid %s", f.ActivityID, f.TypeUID, f.StatusID, f.IsAlert, f.Time, f.Metadata.UID)
	}
	// The checker itself refuses what the schema refuses.
	for _, bad := range []string{
		`{"class_uid":2004,"category_uid":2,"activity_id":1,"type_uid":200401,"severity_id":4,"time":1767602000000,"metadata":{"version":"1.3.0","product":{"name":"V","vendor_name":"V"}}}`,
		`{"class_uid":2004,"category_uid":2,"activity_id":1,"type_uid":200402,"severity_id":4,"time":1767602000000,"metadata":{"version":"1.3.0","product":{"name":"V","vendor_name":"V"}},"finding_info":{"uid":"x","title":"t"}}`,
		`{"class_uid":2004,"category_uid":2,"activity_id":1,"type_uid":200401,"severity_id":4,"time":1767602000000,"metadata":{"version":"1.3.0","product":{"name":"V","vendor_name":"V"}},"finding_info":{"uid":"x","title":"t"},"findings_info":{}}`,
	} {
		if len(checkDetectionFinding([]byte(bad))) == 0 {
			t.Errorf("checker accepted %s", bad)
		}
	}
}
