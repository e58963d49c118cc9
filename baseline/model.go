// Package baseline learns how each device normally communicates and turns
// departures from it into deviation events.
//
// The Model is the deterministic core: it is fed flow and observation
// events in stream order and returns deviations, with event time (never the
// wall clock) driving learning windows, so replaying a capture gives the
// same deviations. The Component wires a Model to the event bus.
package baseline

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/netclass"
	"github.com/vigil-health/vigil/inventory/classify"
)

// Configuration of the baseline engine.
type Configuration struct {
	// Learning is the learning window in event time, measured from the first
	// flow seen. A device first seen after the window learns for the same
	// duration from its own first sighting.
	Learning time.Duration `yaml:"learning"`
	// ScanWindow and ScanThreshold detect scanning: ScanThreshold distinct
	// (peer, port) targets attempted by one device within ScanWindow.
	ScanWindow    time.Duration `yaml:"scan_window"`
	ScanThreshold int           `yaml:"scan_threshold"`
	// MaxEdgesPerDevice bounds the memory of one device's model; edges past
	// it are not learned, and counted.
	MaxEdgesPerDevice int `yaml:"max_edges_per_device"`
	// MaxDevices bounds the number of devices modelled.
	MaxDevices int `yaml:"max_devices"`
}

// DefaultConfiguration learns for a day and reports 25 targets in a minute
// as a scan.
func DefaultConfiguration() Configuration {
	return Configuration{
		Learning:          24 * time.Hour,
		ScanWindow:        time.Minute,
		ScanThreshold:     25,
		MaxEdgesPerDevice: 4096,
		MaxDevices:        100_000,
	}
}

// Validate reports every problem, naming fields within the section.
func (c Configuration) Validate() []error {
	var errs []error
	if c.Learning <= 0 {
		errs = append(errs, fmt.Errorf("learning: must be positive, got %s", c.Learning))
	}
	if c.ScanWindow <= 0 {
		errs = append(errs, fmt.Errorf("scan_window: must be positive, got %s", c.ScanWindow))
	}
	if c.ScanThreshold < 2 {
		errs = append(errs, fmt.Errorf("scan_threshold: must be at least 2, got %d", c.ScanThreshold))
	}
	if c.MaxEdgesPerDevice < 1 {
		errs = append(errs, fmt.Errorf("max_edges_per_device: must be positive, got %d", c.MaxEdgesPerDevice))
	}
	if c.MaxDevices < 1 {
		errs = append(errs, fmt.Errorf("max_devices: must be positive, got %d", c.MaxDevices))
	}
	return errs
}

type edgeKey struct {
	peer      string
	transport string
	port      uint16
}

type serviceKey struct {
	transport string
	port      uint16
}

type target struct {
	peer string
	port uint16
}

// device is the model of one device.
type device struct {
	key        string
	mac        string
	vlan       uint16
	ips        []string
	attrs      map[string]string
	firstSeen  time.Time
	learnUntil time.Time // zero until the global window is known
	flows      uint64

	peers    map[string]struct{}
	edges    map[edgeKey]string // learned outbound edges → application protocol
	services map[serviceKey]string
	reported map[string]struct{} // deviations already raised, so each is raised once
	full     bool                // MaxEdgesPerDevice reached

	scanStart   time.Time
	scanTargets map[target]struct{}
	scanRaised  bool

	// class is the device's classification, recomputed when its facts
	// changed (classDirty), so deviations carry category, medical flag
	// and criticality for the policies.
	class      classify.Result
	classDirty bool
}

// Classifier classifies a device from its facts (classify.Rules, the
// inventory's rules: both engines see the same facts in the same order).
type Classifier interface {
	Classify(classify.Facts) classify.Result
}

// SetClassifier makes deviations carry the device's classification.
// vendors names the MAC's registered organisation (may be nil).
func (m *Model) SetClassifier(c Classifier, vendors func(mac string) (string, bool)) {
	m.classifier, m.vendors = c, vendors
}

// classification returns d's classification, recomputing it if its facts
// changed since.
func (m *Model) classification(d *device) classify.Result {
	if m.classifier == nil {
		return classify.Result{}
	}
	if !d.classDirty && d.class.Category != "" {
		return d.class
	}
	f := classify.Facts{MAC: d.mac, Attributes: make(map[string][]string, len(d.attrs))}
	for k, v := range d.attrs {
		f.Attributes[k] = []string{v}
	}
	if m.vendors != nil && d.mac != "" {
		f.OUIVendor, _ = m.vendors(d.mac)
	}
	seen := map[string]bool{}
	for _, p := range d.edges {
		if p != "" && !seen[p] {
			seen[p] = true
			f.Protocols = append(f.Protocols, p)
		}
	}
	for sk, p := range d.services {
		f.Services = append(f.Services, sk.transport+"/"+strconv.Itoa(int(sk.port)))
		if p != "" && !seen[p] {
			seen[p] = true
			f.Protocols = append(f.Protocols, p)
		}
	}
	slices.Sort(f.Protocols)
	slices.Sort(f.Services)
	d.class, d.classDirty = m.classifier.Classify(f), false
	return d.class
}

// Stats describe the model's size and work.
type Stats struct {
	Devices       int    `json:"devices"`
	Ready         int    `json:"ready"`
	Edges         int    `json:"edges"`
	Flows         uint64 `json:"flows"`
	Deviations    uint64 `json:"deviations"`
	EdgesDropped  uint64 `json:"edges_dropped"`
	DevicesDenied uint64 `json:"devices_dropped"`
}

// Model is the per-device baseline. It is not safe for concurrent use: one
// owner feeds it in stream order.
type Model struct {
	classifier Classifier
	vendors    func(mac string) (string, bool)

	cfg     Configuration
	src     events.Source
	nets    *netclass.Networks
	devices map[string]*device
	t0      time.Time // earliest flow start seen: the start of learning
	now     time.Time // newest event time seen

	flows, deviations, edgesDropped, devicesDenied uint64
}

// NewModel returns an empty model. nets says which addresses
// are the monitored network; nil means netclass.DefaultLocal.
func NewModel(cfg Configuration, src events.Source, nets *netclass.Networks) *Model {
	if nets == nil {
		nets = netclass.MustNetworks()
	}
	return &Model{cfg: cfg, src: src, nets: nets, devices: map[string]*device{}}
}

// LearningEnd is the end of the global learning window, zero before the
// first flow.
func (m *Model) LearningEnd() time.Time {
	if m.t0.IsZero() {
		return time.Time{}
	}
	return m.t0.Add(m.cfg.Learning)
}

// Stats returns the model's counters.
func (m *Model) Stats() Stats {
	s := Stats{Devices: len(m.devices), Flows: m.flows, Deviations: m.deviations,
		EdgesDropped: m.edgesDropped, DevicesDenied: m.devicesDenied}
	for _, d := range m.devices {
		s.Edges += len(d.edges) + len(d.services)
		if m.ready(d, m.latest()) {
			s.Ready++
		}
	}
	return s
}

// latest is the newest event time the model has seen.
func (m *Model) latest() time.Time { return m.now }

// ObserveAttribute records a device attribute so that deviations carry an
// up-to-date snapshot of the device.
func (m *Model) ObserveAttribute(ev events.Event[events.Observation]) {
	o := ev.Body
	d := m.device(o.Device, o.MAC, o.VLAN, ev.Time)
	if d == nil {
		return
	}
	if o.Attribute == "ip" {
		d.addIP(o.Value)
		return
	}
	if d.attrs[o.Attribute] != o.Value {
		d.attrs[o.Attribute] = o.Value
		d.classDirty = true
	}
}

// ObserveFlow learns from or judges one flow event and returns the
// deviations it caused, in a deterministic order.
func (m *Model) ObserveFlow(ev events.Event[events.Flow]) []events.Event[events.Deviation] {
	f := ev.Body
	m.flows++
	if ev.Time.After(m.now) {
		m.now = ev.Time
	}
	if m.t0.IsZero() || f.Start.Before(m.t0) {
		m.t0 = f.Start
	}
	var out []events.Event[events.Deviation]
	emit := func(dv events.Deviation) {
		m.deviations++
		out = append(out, events.MustEvent(ev.Time, m.src, dv))
	}

	orig := m.local(f.Orig, f.VLAN, f.Start, emit, ev.Body.FlowID)
	resp := m.local(f.Resp, f.VLAN, f.Start, emit, ev.Body.FlowID)

	if orig != nil {
		orig.flows++
	}
	if !established(f) {
		if orig != nil {
			m.scanCheck(orig, f, emit)
		}
		return out
	}
	if orig != nil {
		m.outbound(orig, f, emit)
	}
	if resp != nil {
		resp.flows++
		m.inbound(resp, f, emit)
	}
	return out
}

// local returns the model of an endpoint that is a device on the monitored
// network, creating it, or nil for remote and group addresses.
func (m *Model) local(ep events.Endpoint, vlan uint16, at time.Time, emit func(events.Deviation), flowID string) *device {
	addr, err := netip.ParseAddr(ep.IP)
	if err != nil || !m.nets.IsLocal(addr) || netclass.IsGroupMAC(ep.MAC) {
		return nil
	}
	key := events.DeviceKey(ep.MAC, ep.IP, vlan)
	_, known := m.devices[key]
	d := m.device(key, ep.MAC, vlan, at)
	if d == nil {
		return nil
	}
	d.addIP(ep.IP)
	if !known && !m.LearningEnd().IsZero() && !at.Before(m.LearningEnd()) {
		emit(events.Deviation{
			Type:     events.DeviationNewDevice,
			Device:   m.snapshot(d),
			Summary:  fmt.Sprintf("new device %s (%s) appeared after the learning window.", d.label(), ep.IP),
			Baseline: m.context(d, at),
			Evidence: []string{flowID},
		})
		d.reported["new_device"] = struct{}{}
	}
	return d
}

func (m *Model) device(key, mac string, vlan uint16, at time.Time) *device {
	if d, ok := m.devices[key]; ok {
		return d
	}
	if len(m.devices) >= m.cfg.MaxDevices {
		m.devicesDenied++
		return nil
	}
	d := &device{
		key: key, mac: strings.ToLower(mac), vlan: vlan, firstSeen: at,
		attrs: map[string]string{}, peers: map[string]struct{}{}, edges: map[edgeKey]string{},
		services: map[serviceKey]string{}, reported: map[string]struct{}{},
	}
	m.devices[key] = d
	return d
}

// learnEnd is when the device's learning ends: the global window, or its
// own window when it appeared after the global one.
func (m *Model) learnEnd(d *device) time.Time {
	global := m.LearningEnd()
	if d.firstSeen.Before(global) {
		return global
	}
	return d.firstSeen.Add(m.cfg.Learning)
}

func (m *Model) ready(d *device, at time.Time) bool { return !at.Before(m.learnEnd(d)) }

func (m *Model) context(d *device, at time.Time) events.BaselineContext {
	start := m.t0
	if !d.firstSeen.Before(m.LearningEnd()) {
		start = d.firstSeen
	}
	return events.BaselineContext{
		Ready:         m.ready(d, at),
		LearningStart: start,
		LearningEnd:   m.learnEnd(d),
		Observations:  d.flows,
		KnownPeers:    len(d.peers),
		KnownPorts:    len(d.services),
	}
}

func (m *Model) outbound(d *device, f events.Flow, emit func(events.Deviation)) {
	peer := f.Resp.IP
	ek := edgeKey{peer: peer, transport: f.Transport, port: f.Resp.Port}
	if !m.ready(d, f.Start) {
		m.learnEdge(d, ek, f.AppProto)
		return
	}
	known, edgeKnown := d.edges[ek]
	_, peerKnown := d.peers[peer]
	dv := events.Deviation{
		Device: m.snapshot(d), Direction: "outbound", Peer: &events.Endpoint{MAC: f.Resp.MAC, IP: peer, Port: f.Resp.Port},
		Transport: f.Transport, Port: f.Resp.Port, AppProto: f.AppProto,
		Baseline: m.context(d, f.Start), Evidence: []string{f.FlowID},
	}
	addr, _ := netip.ParseAddr(peer)
	switch {
	case !peerKnown && m.nets.IsInternet(addr):
		dv.Type = events.DeviationInternet
		dv.Summary = fmt.Sprintf("%s talked to internet address %s on %s/%d, never seen while learning.", d.label(), peer, f.Transport, f.Resp.Port)
		m.raise(d, "internet|"+peer, dv, emit)
	case !peerKnown:
		dv.Type = events.DeviationNewPeer
		dv.Summary = fmt.Sprintf("%s talked to new peer %s on %s/%d.", d.label(), peer, f.Transport, f.Resp.Port)
		m.raise(d, "peer|"+peer, dv, emit)
	case !edgeKnown:
		dv.Type = events.DeviationNewPort
		dv.Summary = fmt.Sprintf("%s used new port %s/%d towards known peer %s.", d.label(), f.Transport, f.Resp.Port, peer)
		m.raise(d, fmt.Sprintf("edge|%s|%s|%d", peer, f.Transport, f.Resp.Port), dv, emit)
	case known != "" && f.AppProto != "" && known != f.AppProto:
		dv.Type = events.DeviationNewProtocol
		dv.Summary = fmt.Sprintf("%s spoke %s instead of %s to %s on %s/%d.", d.label(), f.AppProto, known, peer, f.Transport, f.Resp.Port)
		m.raise(d, fmt.Sprintf("proto|%s|%s|%d|%s", peer, f.Transport, f.Resp.Port, f.AppProto), dv, emit)
	}
}

func (m *Model) inbound(d *device, f events.Flow, emit func(events.Deviation)) {
	sk := serviceKey{transport: f.Transport, port: f.Resp.Port}
	if f.Transport != "tcp" && f.Transport != "udp" {
		return
	}
	if f.Transport == "udp" && f.RespPackets == 0 {
		return // a datagram received is not a service offered
	}
	if !m.ready(d, f.Start) {
		if _, ok := d.services[sk]; !ok {
			if d.size() >= m.cfg.MaxEdgesPerDevice {
				m.edgesDropped++
				d.full = true
				return
			}
			d.services[sk] = f.AppProto
			d.classDirty = true
		}
		return
	}
	if _, ok := d.services[sk]; ok {
		return
	}
	m.raise(d, fmt.Sprintf("service|%s|%d", f.Transport, f.Resp.Port), events.Deviation{
		Type: events.DeviationNewPort, Device: m.snapshot(d), Direction: "inbound",
		Peer:      &events.Endpoint{MAC: f.Orig.MAC, IP: f.Orig.IP},
		Transport: f.Transport, Port: f.Resp.Port, AppProto: f.AppProto,
		Summary:  fmt.Sprintf("%s answered on new service port %s/%d (client %s).", d.label(), f.Transport, f.Resp.Port, f.Orig.IP),
		Baseline: m.context(d, f.Start), Evidence: []string{f.FlowID},
	}, emit)
}

func (m *Model) learnEdge(d *device, ek edgeKey, proto string) {
	if _, ok := d.edges[ek]; ok {
		if d.edges[ek] == "" && proto != "" {
			d.edges[ek] = proto
			d.classDirty = true
		}
		return
	}
	if d.size() >= m.cfg.MaxEdgesPerDevice {
		m.edgesDropped++
		d.full = true
		return
	}
	d.edges[ek] = proto
	d.classDirty = true
	d.peers[ek.peer] = struct{}{}
}

// raise emits a deviation once per device and key.
func (m *Model) raise(d *device, key string, dv events.Deviation, emit func(events.Deviation)) {
	if _, done := d.reported[key]; done {
		return
	}
	d.reported[key] = struct{}{}
	emit(dv)
}

// scanCheck counts the distinct targets of a device's failed connection
// attempts (refused, unanswered or reset before the handshake completed),
// as Zeek's scan detection does, and raises one scan deviation per window
// past the threshold. A scan is never learned as normal: it is raised
// during learning too, with Baseline.Ready false, and the policy decides.
func (m *Model) scanCheck(d *device, f events.Flow, emit func(events.Deviation)) {
	if f.Transport != "tcp" && f.Transport != "udp" {
		return
	}
	// Flow events arrive in end order, so a start may precede the
	// window's: only a distance beyond the window opens a new one.
	if d.scanTargets == nil || (f.Start.Sub(d.scanStart)).Abs() > m.cfg.ScanWindow {
		d.scanStart = f.Start
		d.scanTargets = map[target]struct{}{}
		d.scanRaised = false
	}
	t := target{peer: f.Resp.IP, port: f.Resp.Port}
	if _, ok := d.scanTargets[t]; ok {
		return
	}
	d.scanTargets[t] = struct{}{}
	if d.scanRaised || len(d.scanTargets) < m.cfg.ScanThreshold {
		return
	}
	d.scanRaised = true
	m.deviationsScan(d, f, emit)
}

func (m *Model) deviationsScan(d *device, f events.Flow, emit func(events.Deviation)) {
	hosts := map[string]bool{}
	ports := map[uint16]bool{}
	for t := range d.scanTargets {
		hosts[t.peer] = true
		ports[t.port] = true
	}
	peers := slices.Sorted(maps.Keys(hosts))
	dv := events.Deviation{
		Type: events.DeviationScan, Device: m.snapshot(d), Direction: "outbound",
		Transport: f.Transport, Count: len(d.scanTargets),
		Baseline: m.context(d, f.Start), Evidence: []string{f.FlowID},
	}
	if len(peers) == 1 {
		dv.Peer = &events.Endpoint{MAC: f.Resp.MAC, IP: peers[0]}
		dv.Summary = fmt.Sprintf("%s scanned %d ports of %s within %s.", d.label(), len(ports), peers[0], m.cfg.ScanWindow)
	} else {
		dv.Summary = fmt.Sprintf("%s scanned %d targets (%d hosts, %d ports) within %s.", d.label(), len(d.scanTargets), len(peers), len(ports), m.cfg.ScanWindow)
	}
	emit(dv)
}

func (d *device) size() int { return len(d.edges) + len(d.services) }

func (d *device) addIP(ip string) {
	if ip == "" {
		return
	}
	i, found := slices.BinarySearch(d.ips, ip)
	if !found {
		d.ips = slices.Insert(d.ips, i, ip)
	}
}

func (d *device) label() string {
	if h := d.attrs["hostname"]; h != "" {
		return h
	}
	if d.mac != "" {
		return d.mac
	}
	if len(d.ips) > 0 {
		return d.ips[0]
	}
	return d.key
}

func (m *Model) snapshot(d *device) events.DeviceSnapshot {
	s := events.DeviceSnapshot{Key: d.key, MAC: d.mac, IPs: slices.Clone(d.ips), VLAN: d.vlan}
	if c := m.classification(d); c.Category != "" {
		s.Category, s.Medical, s.Criticality = c.Category, c.Medical, string(c.Criticality)
	}
	if len(d.attrs) > 0 {
		s.Attributes = make(map[string]string, len(d.attrs))
		for k, v := range d.attrs {
			s.Attributes[k] = v
		}
	}
	return s
}

// established says whether a flow is real communication that can be
// learned, as opposed to an attempt (a refused or unanswered connection,
// a SYN scan): for TCP the originator acknowledged or sent data after the
// responder answered; other transports always count.
func established(f events.Flow) bool {
	if f.Transport != "tcp" {
		return true
	}
	if f.State == "REJ" || f.RespPackets == 0 {
		return false
	}
	return strings.ContainsAny(f.History, "AD") && strings.ContainsAny(f.History, "had")
}

// Devices returns each device's readiness, sorted by key.
func (m *Model) Devices() []Readiness {
	out := make([]Readiness, 0, len(m.devices))
	for _, d := range m.devices {
		out = append(out, Readiness{Key: d.key, FirstSeen: d.firstSeen, LearningEnd: m.learnEnd(d),
			Flows: d.flows, Peers: len(d.peers), Edges: len(d.edges), Services: len(d.services), Saturated: d.full})
	}
	slices.SortFunc(out, func(a, b Readiness) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// Readiness says how far a device's learning went.
type Readiness struct {
	Key         string    `json:"key"`
	FirstSeen   time.Time `json:"first_seen"`
	LearningEnd time.Time `json:"learning_end"`
	Flows       uint64    `json:"flows"`
	Peers       int       `json:"peers"`
	Edges       int       `json:"edges"`
	Services    int       `json:"services"`
	Saturated   bool      `json:"saturated,omitempty"`
}
