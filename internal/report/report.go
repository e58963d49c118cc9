// Package report builds the offline analysis report of `vigil analyze` and
// `vigil demo` from the event log and the inventory projection, and renders
// it as JSON (documented in docs/report.md) or as a human summary.
//
// Everything in a report derives from event time and stream content, so
// the same captures give the same report, byte for byte.
package report

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/inventory"
)

// Format names the JSON layout; it changes when a field changes meaning.
const Format = "vigil.report.v1"

// Report is the result of an offline analysis.
type Report struct {
	Format     string      `json:"format"`
	Captures   []Capture   `json:"captures"`
	Window     Window      `json:"window"`
	Flows      FlowTotals  `json:"flows"`
	Devices    []Device    `json:"devices"`
	Deviations []Deviation `json:"deviations"`
	Alerts     []Alert     `json:"alerts"`
	Policy     Policy      `json:"policy"`
}

// Capture sums what the sensor read from one source.
type Capture struct {
	Source       string `json:"source"`
	Packets      uint64 `json:"packets"`
	Bytes        uint64 `json:"bytes"`
	DecodeErrors uint64 `json:"decode_errors"`
	Truncated    uint64 `json:"truncated"`
	Evictions    uint64 `json:"flow_evictions"`
}

// Window is the span of event time the report covers.
type Window struct {
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	LearningEnd time.Time `json:"learning_end"`
}

// FlowTotals sums the flows that ended or were flushed.
type FlowTotals struct {
	Count       uint64            `json:"count"`
	Packets     uint64            `json:"packets"`
	Bytes       uint64            `json:"bytes"`
	ByTransport map[string]uint64 `json:"by_transport"`
	ByAppProto  map[string]uint64 `json:"by_app_proto"`
}

// Device is one inventory entry.
type Device struct {
	ID   string `json:"id"`
	MAC  string `json:"mac,omitempty"`
	VLAN uint16 `json:"vlan"`
	// IPs are the addresses the device holds now, PastIPs those it held
	// before (released to another device or replaced by a new lease).
	IPs     []string `json:"ips"`
	PastIPs []string `json:"past_ips,omitempty"`
	Gateway bool     `json:"gateway,omitempty"`
	// Routed devices are known by IP only; Limitation says what that
	// costs.
	Routed     bool   `json:"routed,omitempty"`
	Limitation string `json:"limitation,omitempty"`
	// Category, Medical and Criticality are the classification, Because
	// the evidence the deciding rule matched.
	Category    string   `json:"category"`
	Medical     bool     `json:"medical"`
	Criticality string   `json:"criticality"`
	Rule        string   `json:"rule,omitempty"`
	Because     []string `json:"because,omitempty"`
	Vendor      string   `json:"vendor,omitempty"`
	OUIVendor   string   `json:"oui_vendor,omitempty"`
	Model       string   `json:"model,omitempty"`
	// Org is where the device belongs (network map or asset register).
	Org        inventory.Org     `json:"org"`
	Attributes map[string]string `json:"attributes,omitempty"`
	// Evidence says, for each attribute, where its value came from.
	Evidence  map[string]Evidence `json:"evidence,omitempty"`
	Protocols []string            `json:"protocols,omitempty"`
	Services  []string            `json:"services,omitempty"`
	Traffic   inventory.Traffic   `json:"traffic"`
	// Work sums the clinical work of the usage days (DICOM objects, HL7
	// messages, ...).
	Work      map[string]uint64 `json:"work,omitempty"`
	FirstSeen time.Time         `json:"first_seen"`
	LastSeen  time.Time         `json:"last_seen"`
}

// Evidence is the provenance of an attribute's value.
type Evidence struct {
	Protocol   string  `json:"protocol"`
	Confidence float64 `json:"confidence"`
	Evidence   string  `json:"evidence"`
	// Events are the IDs of observation events behind the value.
	Events []string `json:"events,omitempty"`
	// Sources counts the protocols (and values) reported.
	Sources int `json:"sources"`
}

// Deviation is one deviation raised by the baseline.
type Deviation struct {
	ID      string               `json:"id"`
	Time    time.Time            `json:"time"`
	Type    events.DeviationType `json:"type"`
	Device  string               `json:"device"`
	Peer    string               `json:"peer,omitempty"`
	Ready   bool                 `json:"ready"`
	Summary string               `json:"summary"`
}

// Alert is one alert raised by the policies.
type Alert struct {
	ID          string          `json:"id"`
	Time        time.Time       `json:"time"`
	Severity    events.Severity `json:"severity"`
	Rule        string          `json:"rule"`
	Title       string          `json:"title"`
	Device      string          `json:"device"`
	DeviationID string          `json:"deviation_id"`
}

// Policy says which policies decided and how often.
type Policy struct {
	Revisions []string `json:"revisions"`
	Decisions int      `json:"decisions"`
	Errors    int      `json:"errors"`
}

// Reader reads a stream of the event log (events.Bus.Read).
type Reader interface {
	Read(ctx context.Context, stream string, kinds []events.Kind, fn func(events.Delivery) error) error
}

// Build reads the log and combines it with the inventory.
func Build(ctx context.Context, r Reader, devices []inventory.Device, learningEnd time.Time) (*Report, error) {
	rep := &Report{
		Format:     Format,
		Captures:   []Capture{},
		Devices:    []Device{},
		Deviations: []Deviation{},
		Alerts:     []Alert{},
		Flows:      FlowTotals{ByTransport: map[string]uint64{}, ByAppProto: map[string]uint64{}},
		Policy:     Policy{Revisions: []string{}},
	}
	rep.Window.LearningEnd = learningEnd.UTC()
	labels := map[string]string{}
	for _, d := range devices {
		rep.Devices = append(rep.Devices, device(d))
		labels[d.Key] = d.ID
	}
	seen := func(t time.Time) {
		if rep.Window.Start.IsZero() || t.Before(rep.Window.Start) {
			rep.Window.Start = t
		}
		if t.After(rep.Window.End) {
			rep.Window.End = t
		}
	}
	captures := map[string]Capture{}
	err := r.Read(ctx, events.StreamSensor, []events.Kind{events.KindFlow, events.KindHealth}, func(d events.Delivery) error {
		switch d.Header.Kind {
		case events.KindFlow:
			ev, err := events.Decode[events.Flow](d.Data)
			if err != nil {
				return err
			}
			f := ev.Body
			seen(f.Start)
			seen(f.Last)
			if f.Phase != events.FlowEnd {
				return nil
			}
			rep.Flows.Count++
			rep.Flows.Packets += f.OrigPackets + f.RespPackets
			rep.Flows.Bytes += f.OrigBytes + f.RespBytes
			rep.Flows.ByTransport[f.Transport]++
			proto := f.AppProto
			if proto == "" {
				proto = "unknown"
			}
			rep.Flows.ByAppProto[proto]++
		case events.KindHealth:
			ev, err := events.Decode[events.Health](d.Data)
			if err != nil {
				return err
			}
			h := ev.Body
			if h.Pipeline != nil {
				return nil // an engine's report, not a capture's
			}
			// Counters are totals: the latest report of a source wins.
			captures[h.Interface] = Capture{Source: h.Interface, Packets: h.Packets, Bytes: h.Bytes,
				DecodeErrors: h.DecodeErrors, Truncated: h.Truncated, Evictions: h.FlowEvictions}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read sensor events: %w", err)
	}
	for _, k := range slices.Sorted(maps.Keys(captures)) {
		rep.Captures = append(rep.Captures, captures[k])
	}
	label := func(s events.DeviceSnapshot) string {
		if id, ok := labels[s.Key]; ok {
			return id
		}
		return inventory.DeviceID(s.Key)
	}
	err = r.Read(ctx, events.StreamAnalytics, []events.Kind{events.KindDeviation}, func(d events.Delivery) error {
		ev, err := events.Decode[events.Deviation](d.Data)
		if err != nil {
			return err
		}
		dv := Deviation{ID: ev.ID, Time: ev.Time, Type: ev.Body.Type, Device: label(ev.Body.Device),
			Ready: ev.Body.Baseline.Ready, Summary: ev.Body.Summary}
		if ev.Body.Peer != nil {
			dv.Peer = ev.Body.Peer.IP
		}
		rep.Deviations = append(rep.Deviations, dv)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read deviations: %w", err)
	}
	revisions := map[string]bool{}
	err = r.Read(ctx, events.StreamAlerts, []events.Kind{events.KindDecision, events.KindAlert}, func(d events.Delivery) error {
		switch d.Header.Kind {
		case events.KindDecision:
			ev, err := events.Decode[events.Decision](d.Data)
			if err != nil {
				return err
			}
			rep.Policy.Decisions++
			revisions[ev.Body.Revision] = true
			if ev.Body.Error != "" {
				rep.Policy.Errors++
			}
		case events.KindAlert:
			ev, err := events.Decode[events.Alert](d.Data)
			if err != nil {
				return err
			}
			rep.Alerts = append(rep.Alerts, Alert{ID: ev.ID, Time: ev.Time, Severity: ev.Body.Severity, Rule: ev.Body.Rule,
				Title: ev.Body.Title, Device: label(ev.Body.Device), DeviationID: ev.Body.DeviationID})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	rep.Policy.Revisions = slices.Sorted(maps.Keys(revisions))
	if rep.Policy.Revisions == nil {
		rep.Policy.Revisions = []string{}
	}
	// Stream order depends only on the input, but sorting makes the report
	// independent of how engines interleaved their output.
	slices.SortStableFunc(rep.Deviations, func(a, b Deviation) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.ID, b.ID))
	})
	slices.SortStableFunc(rep.Alerts, func(a, b Alert) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.ID, b.ID))
	})
	return rep, nil
}

func device(d inventory.Device) Device {
	c := d.Classification
	out := Device{ID: d.ID, MAC: d.MAC, VLAN: d.VLAN, Gateway: d.Gateway, Routed: d.Routed, Limitation: d.Limitation,
		Category: c.Category, Medical: c.Medical, Criticality: string(c.Criticality), Rule: c.Rule, Because: c.Because,
		Vendor: d.Attr("vendor"), OUIVendor: d.OUIVendor, Model: d.Attr("model"), Org: d.Org,
		Protocols: d.Protocols, Services: d.Services,
		Traffic: d.Traffic, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen, IPs: []string{}}
	if out.Category == "" {
		out.Category, out.Criticality = "unknown", "unknown"
	}
	for _, a := range d.Addresses {
		if a.Current {
			out.IPs = append(out.IPs, a.IP)
		} else {
			out.PastIPs = append(out.PastIPs, a.IP)
		}
	}
	if len(d.Attributes) > 0 {
		out.Attributes = map[string]string{}
		out.Evidence = map[string]Evidence{}
		for _, a := range d.Attributes {
			out.Attributes[a.Name] = a.Value
			out.Evidence[a.Name] = Evidence{Protocol: a.Protocol, Confidence: a.Confidence, Evidence: a.Evidence,
				Events: a.EventIDs, Sources: len(a.Sources)}
		}
	}
	for _, u := range d.Usage {
		for k, n := range u.Work {
			if out.Work == nil {
				out.Work = map[string]uint64{}
			}
			out.Work[k] += n
		}
	}
	return out
}

// JSON renders the report with stable indentation and a final newline.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	return append(b, '\n'), nil
}
