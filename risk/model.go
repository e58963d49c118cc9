package risk

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/netclass"
)

// Configuration of the risk engine.
type Configuration struct {
	// Weights of the formula (docs/risk.md).
	Weights Weights `yaml:"weights"`
	// AnomalyWindow is how far back (event time) anomalies count.
	AnomalyWindow time.Duration `yaml:"anomaly_window"`
	// MinFlows is how many flows a device needs before an absence (of
	// internet contact, of peers outside its segment) counts as a control.
	MinFlows uint64 `yaml:"min_flows"`
}

// DefaultConfiguration is the published formula's defaults.
func DefaultConfiguration() Configuration {
	return Configuration{Weights: DefaultWeights(), AnomalyWindow: 7 * 24 * time.Hour, MinFlows: 10}
}

// Validate reports every problem, naming fields within the section.
func (c Configuration) Validate() []error {
	errs := c.Weights.Validate()
	if c.AnomalyWindow <= 0 {
		errs = append(errs, fmt.Errorf("anomaly_window: must be positive, got %s", c.AnomalyWindow))
	}
	if c.MinFlows < 1 {
		errs = append(errs, fmt.Errorf("min_flows: must be at least 1, got %d", c.MinFlows))
	}
	return errs
}

// anomaly is one deviation or alert of a device.
type anomaly struct {
	Time     time.Time `json:"time"`
	Type     string    `json:"type,omitempty"`
	Severity string    `json:"severity,omitempty"`
}

// facts are what the model knows of one device.
type facts struct {
	Snapshot  events.DeviceSnapshot `json:"snapshot"`
	Vulns     map[string]Vuln       `json:"vulns,omitempty"`
	Insecure  []string              `json:"insecure,omitempty"`
	Cleartext []string              `json:"cleartext,omitempty"`
	Inbound   bool                  `json:"inbound,omitempty"`
	Outbound  bool                  `json:"outbound,omitempty"`
	// Anomalies by deviation event ID (an alert names its deviation).
	Anomalies map[string]anomaly `json:"anomalies,omitempty"`
	// PatientData lists what showed patient data (sorted, so the
	// explanation does not depend on the order events arrived in).
	PatientData []string `json:"patient_data,omitempty"`
	Flows       uint64   `json:"flows"`
	Outside     uint64   `json:"outside"`
	// Result is the latest score; Published whether it was published.
	Result    Result `json:"result"`
	Published bool   `json:"published"`
}

// DeviceRisk is one device's score with what it was computed from.
type DeviceRisk struct {
	DeviceID    string `json:"device_id"`
	Key         string `json:"key"`
	Name        string `json:"name,omitempty"`
	Category    string `json:"category,omitempty"`
	Criticality string `json:"criticality,omitempty"`
	Site        string `json:"site,omitempty"`
	Department  string `json:"department,omitempty"`
	Result
	Inputs Inputs `json:"inputs"`
}

// Model computes every device's score from events. One owner feeds it;
// time is event time.
type Model struct {
	cfg     Configuration
	src     events.Source
	nets    *netclass.Networks
	devices map[string]*facts
	// segments maps addresses to the organisation's segment, from the
	// inventory's snapshots.
	segments map[string]string
	byID     map[string]string
	now      time.Time
}

// NewModel returns an empty model; nets nil means the private ranges.
func NewModel(cfg Configuration, src events.Source, nets *netclass.Networks) *Model {
	if nets == nil {
		nets = netclass.MustNetworks()
	}
	return &Model{cfg: cfg, src: src, nets: nets, devices: map[string]*facts{}, segments: map[string]string{}, byID: map[string]string{}}
}

func (m *Model) device(key string) *facts {
	f, ok := m.devices[key]
	if !ok {
		f = &facts{Snapshot: events.DeviceSnapshot{Key: key}, Vulns: map[string]Vuln{}, Anomalies: map[string]anomaly{}}
		m.devices[key] = f
	}
	return f
}

func (m *Model) advance(at time.Time) {
	if at.After(m.now) {
		m.now = at
	}
}

// snapshot reads a device's description. The inventory's (device_change,
// authoritative) replaces the one held; the copies inside deviations,
// alerts and vulnerabilities (made by other engines, maybe without the
// inventory's ID or classification) are used only until it arrives, so
// the result does not depend on how the streams interleave.
func (m *Model) snapshot(s events.DeviceSnapshot, authoritative bool) *facts {
	f := m.device(s.Key)
	if authoritative || f.Snapshot.ID == "" && s.ID != "" {
		f.Snapshot = s
	}
	if s.ID != "" && f.Snapshot.ID == s.ID {
		m.byID[s.ID] = s.Key
	}
	for _, ip := range s.IPs {
		if s.Segment != "" {
			m.segments[ip] = s.Segment
		}
	}
	for name, v := range s.Attributes {
		switch {
		case name == "insecure_protocol":
			f.Insecure = addSorted(f.Insecure, v)
		case name == "cleartext_credential":
			f.Cleartext = addSorted(f.Cleartext, v)
		case strings.HasPrefix(name, "dicom.") || strings.HasPrefix(name, "hl7."):
			f.PatientData = addSorted(f.PatientData, strings.ToUpper(strings.SplitN(name, ".", 2)[0])+" attributes")
		}
	}
	return f
}

func addSorted(s []string, v string) []string {
	if v == "" || slices.Contains(s, v) {
		return s
	}
	s = append(s, v)
	slices.Sort(s)
	return s
}

// ObserveChange takes a device change of the inventory.
func (m *Model) ObserveChange(ev events.Event[events.DeviceChange]) []events.Event[events.Risk] {
	m.advance(ev.Time)
	m.snapshot(ev.Body.Device, true)
	return m.rescore(ev.Time, ev.Body.Device.Key, ev.ID)
}

// ObserveDeviation takes a deviation: an anomaly, and for
// insecure_protocol and internet deviations a fact.
func (m *Model) ObserveDeviation(ev events.Event[events.Deviation]) []events.Event[events.Risk] {
	m.advance(ev.Time)
	d := ev.Body
	f := m.snapshot(d.Device, false)
	switch d.Type {
	case events.DeviationInsecureProtocol:
		// A fact for the insecure-protocol factor, not an anomaly: marked
		// so that its alert, before or after, is not counted either.
		if d.Attribute == "cleartext_credential" {
			f.Cleartext = addSorted(f.Cleartext, d.Value)
		} else {
			f.Insecure = addSorted(f.Insecure, d.Value)
		}
		f.Anomalies[ev.ID] = anomaly{Time: ev.Time, Type: string(d.Type)}
		return m.rescore(ev.Time, d.Device.Key, ev.ID)
	case events.DeviationInternet:
		if d.Direction == "inbound" {
			f.Inbound = true
		} else {
			f.Outbound = true
		}
	}
	a := f.Anomalies[ev.ID] // an alert may have come first
	if a.Time.IsZero() {
		a.Time = ev.Time
	}
	a.Type = string(d.Type)
	f.Anomalies[ev.ID] = a
	return m.rescore(ev.Time, d.Device.Key, ev.ID)
}

// ObserveAlert takes an alert: it weighs its deviation by severity.
func (m *Model) ObserveAlert(ev events.Event[events.Alert]) []events.Event[events.Risk] {
	m.advance(ev.Time)
	a := ev.Body
	f := m.device(a.Device.Key)
	m.snapshot(a.Device, false)
	id := a.DeviationID
	if id == "" {
		id = ev.ID
	}
	prev, ok := f.Anomalies[id]
	if ok && prev.Type == string(events.DeviationInsecureProtocol) {
		return nil // counted as an insecure protocol
	}
	if !ok || anomalyWeights[string(a.Severity)] > anomalyWeights[prev.Severity] {
		f.Anomalies[id] = anomaly{Time: ev.Time, Type: prev.Type, Severity: string(a.Severity)}
	}
	return m.rescore(ev.Time, a.Device.Key, ev.ID)
}

// ObserveVulnerability takes a step of a device vulnerability's life.
func (m *Model) ObserveVulnerability(ev events.Event[events.Vulnerability]) []events.Event[events.Risk] {
	m.advance(ev.Time)
	v := ev.Body
	f := m.snapshot(v.Device, false)
	if v.Status == events.VulnResolved {
		delete(f.Vulns, v.ID)
	} else {
		f.Vulns[v.ID] = Vuln{ID: v.ID, Confirmed: v.Confidence == "confirmed", CVSS: v.CVSS, EPSS: v.EPSS, KEV: v.KEV}
	}
	return m.rescore(ev.Time, v.Device.Key, ev.ID)
}

// ObserveFlow counts a flow for its local endpoints: internet contact,
// peers outside the segment, patient data. Only a change of a fact
// rescores.
func (m *Model) ObserveFlow(ev events.Event[events.Flow]) []events.Event[events.Risk] {
	m.advance(ev.Time)
	fl := ev.Body
	if fl.Phase == events.FlowUpdate {
		return nil // counted at its end
	}
	var out []events.Event[events.Risk]
	for i, ep := range []events.Endpoint{fl.Orig, fl.Resp} {
		peer := fl.Resp
		if i == 1 {
			peer = fl.Orig
		}
		if !m.nets.IsLocalString(ep.IP) {
			continue
		}
		key := events.DeviceKey(ep.MAC, ep.IP, fl.VLAN)
		f := m.device(key)
		before := *f
		f.Flows++
		switch {
		case !m.nets.IsLocalString(peer.IP):
			if i == 0 {
				f.Outbound = true
			} else {
				f.Inbound = true
			}
		case m.segment(ep.IP, fl.VLAN) != m.segment(peer.IP, fl.VLAN):
			f.Outside++
		}
		pd := len(f.PatientData)
		if fl.AppProto == "dicom" || fl.AppProto == "hl7" {
			f.PatientData = addSorted(f.PatientData, strings.ToUpper(fl.AppProto)+" flows")
		}
		if before.Inbound != f.Inbound || before.Outbound != f.Outbound || (before.Outside == 0) != (f.Outside == 0) ||
			pd != len(f.PatientData) || (before.Flows < m.cfg.MinFlows) != (f.Flows < m.cfg.MinFlows) {
			out = append(out, m.rescore(ev.Time, key, ev.ID)...)
		}
	}
	return out
}

// segment names the segment of an address: the organisation's when the
// inventory reported one, else its VLAN and /24 (/64 for IPv6).
func (m *Model) segment(ip string, vlan uint16) string {
	if s, ok := m.segments[ip]; ok {
		return s
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return fmt.Sprintf("vlan %d", vlan)
	}
	bits := 24
	if a.Is6() && !a.Is4In6() {
		bits = 64
	}
	p, _ := a.Unmap().Prefix(bits)
	return fmt.Sprintf("vlan %d %s", vlan, p)
}

// inputs gathers a device's inputs at the model's clock.
func (m *Model) inputs(f *facts) Inputs {
	in := Inputs{InsecureProtocols: f.Insecure, CleartextCreds: f.Cleartext, InternetInbound: f.Inbound, InternetOutbound: f.Outbound,
		Criticality: f.Snapshot.Criticality, PatientData: len(f.PatientData) > 0,
		Flows: f.Flows, PeersOutsideSegment: f.Outside, MinFlows: m.cfg.MinFlows}
	if in.Criticality == "" {
		in.Criticality = "unknown"
	}
	if in.PatientData {
		in.PatientDataWhy = "patient data: " + strings.Join(f.PatientData, ", ") + " seen"
	}
	for _, id := range slices.Sorted(maps.Keys(f.Vulns)) {
		in.Vulns = append(in.Vulns, f.Vulns[id])
	}
	since := m.now.Add(-m.cfg.AnomalyWindow)
	for _, id := range slices.Sorted(maps.Keys(f.Anomalies)) {
		a := f.Anomalies[id]
		if a.Time.Before(since) {
			delete(f.Anomalies, id)
			continue
		}
		if a.Type == string(events.DeviationInsecureProtocol) {
			continue // counted as an insecure protocol
		}
		in.Anomalies = append(in.Anomalies, Anomaly{ID: id, Severity: a.Severity, Type: a.Type})
	}
	return in
}

// rescore computes a device's score and returns a risk event when the
// score of a device the inventory knows changed.
func (m *Model) rescore(at time.Time, key, cause string) []events.Event[events.Risk] {
	f := m.device(key)
	r := Compute(m.inputs(f), m.cfg.Weights)
	prev, was := f.Result, f.Published
	f.Result = r
	if f.Snapshot.ID == "" || (was && prev.Score == r.Score) {
		return nil
	}
	f.Published = true
	body := events.Risk{Device: f.Snapshot, Formula: r.Formula, Score: r.Score, Previous: prev.Score, Level: r.Level,
		Likelihood: r.Likelihood, Impact: r.Impact, Cause: []string{cause}}
	for _, x := range r.Factors {
		body.Factors = append(body.Factors, events.RiskFactor(x))
	}
	name := displayName(f.Snapshot)
	if name == "" {
		name = key
	}
	body.Summary = fmt.Sprintf("%s risk %.1f (%s), was %.1f: %s", name, r.Score, r.Level, prev.Score, strongest(r))
	return []events.Event[events.Risk]{events.MustEvent(at, m.src, body)}
}

// strongest names the factors that weigh most, for the summary.
func strongest(r Result) string {
	var parts []string
	for _, f := range r.Factors {
		if f.Part == "likelihood" && f.Effect > 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f", f.Name, f.Effect))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing raises the likelihood")
	}
	for _, f := range r.Factors {
		if f.Part == "impact" && f.Name == "criticality" {
			parts = append(parts, f.Explanation)
		}
	}
	return strings.Join(parts, ", ")
}

// Results returns every device the inventory reported, highest score
// first (then by key).
func (m *Model) Results() []DeviceRisk {
	var out []DeviceRisk
	for _, k := range slices.Sorted(maps.Keys(m.devices)) {
		f := m.devices[k]
		if f.Snapshot.ID == "" {
			continue
		}
		out = append(out, m.result(f))
	}
	slices.SortStableFunc(out, func(a, b DeviceRisk) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	return out
}

func (m *Model) result(f *facts) DeviceRisk {
	s := f.Snapshot
	in := m.inputs(f)
	return DeviceRisk{DeviceID: s.ID, Key: s.Key, Name: displayName(s), Category: s.Category, Criticality: s.Criticality,
		Site: s.Site, Department: s.Department, Result: Compute(in, m.cfg.Weights), Inputs: in}
}

// Device returns one device's score by ID or key.
func (m *Model) Device(id string) (DeviceRisk, bool) {
	k := id
	if key, ok := m.byID[id]; ok {
		k = key
	}
	f, ok := m.devices[k]
	if !ok || f.Snapshot.ID == "" {
		return DeviceRisk{}, false
	}
	return m.result(f), true
}

// modelState is the checkpointed form.
type modelState struct {
	Version  int               `json:"version"`
	Now      time.Time         `json:"now"`
	Devices  map[string]*facts `json:"devices"`
	Segments map[string]string `json:"segments"`
	// Next is the position each stream resumes from. Seqs, the last
	// sequence handled by stream, is what checkpoints held before the
	// sensor's messages were batches; it is read, never written.
	Next map[string]events.Position `json:"next,omitempty"`
	Seqs map[string]uint64          `json:"seqs,omitempty"`
}

// MarshalState encodes the model and the stream positions it reflects.
func (m *Model) MarshalState(next map[string]events.Position) ([]byte, error) {
	return json.Marshal(modelState{Version: 1, Now: m.now, Devices: m.devices, Segments: m.segments, Next: next})
}

// RestoreState replaces the model's content with a checkpoint and returns
// the stream positions it reflects.
func (m *Model) RestoreState(b []byte) (map[string]events.Position, error) {
	var st modelState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("risk checkpoint: %w", err)
	}
	if st.Version != 1 {
		return nil, fmt.Errorf("risk checkpoint: version %d, this Vigil reads version 1", st.Version)
	}
	m.now, m.devices, m.segments, m.byID = st.Now, map[string]*facts{}, st.Segments, map[string]string{}
	if m.segments == nil {
		m.segments = map[string]string{}
	}
	for k, f := range st.Devices {
		if f == nil {
			continue
		}
		if f.Vulns == nil {
			f.Vulns = map[string]Vuln{}
		}
		if f.Anomalies == nil {
			f.Anomalies = map[string]anomaly{}
		}
		m.devices[k] = f
		if f.Snapshot.ID != "" {
			m.byID[f.Snapshot.ID] = k
		}
	}
	if st.Next == nil && st.Seqs != nil {
		st.Next = map[string]events.Position{}
		for stream, seq := range st.Seqs {
			st.Next[stream] = events.Position{Seq: seq + 1}
		}
	}
	return st.Next, nil
}

// displayName names a device for people: its host name, else its vendor
// and model.
func displayName(s events.DeviceSnapshot) string {
	if h := s.Attributes["hostname"]; h != "" {
		return h
	}
	return strings.TrimSpace(s.Attributes["vendor"] + " " + s.Attributes["model"])
}
