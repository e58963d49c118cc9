// Package baseline learns how each device normally communicates and turns
// departures from it into deviation events.
//
// The Model is the deterministic core: it is fed flow, observation and
// authentication events in stream order and returns deviations, with event
// time (never the wall clock) driving learning windows, so replaying a
// capture gives the same deviations. The Component wires a Model to the
// event bus. README.md lists each deviation kind's rule and the memory
// bounds of a device's model.
package baseline

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

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
	// VolumeFactor, VolumeFloorBytes and VolumeMinHours detect volume
	// spikes: a device moving more than max(VolumeFactor × the 95th
	// percentile of its learned hourly bytes, VolumeFloorBytes) in one
	// clock hour. Only devices whose learning covered at least
	// VolumeMinHours whole clock hours are judged.
	VolumeFactor     float64 `yaml:"volume_factor"`
	VolumeFloorBytes uint64  `yaml:"volume_floor_bytes"`
	VolumeMinHours   int     `yaml:"volume_min_hours"`
	// OffHoursMinLearning is the learning a device needs before activity
	// in an hour of the day it never used is reported (off_hours): with a
	// shorter window most hours were never observed at all. Timezone (an
	// IANA name) says whose clock the hours of the day are read on.
	OffHoursMinLearning time.Duration `yaml:"off_hours_min_learning"`
	Timezone            string        `yaml:"timezone"`
	// AuthWindow and AuthThreshold detect authentication failure bursts:
	// AuthThreshold failed attempts by one client within AuthWindow.
	AuthWindow    time.Duration `yaml:"auth_window"`
	AuthThreshold int           `yaml:"auth_threshold"`
	// SSHLoginBytes is the server payload below which an SSH session that
	// completed its key exchange counts as a failed login in those bursts
	// (SSH encrypts the outcome); 0 turns the heuristic off.
	SSHLoginBytes uint64 `yaml:"ssh_login_bytes"`
	// MaxEdgesPerDevice bounds the memory of one device's model; edges past
	// it are not learned, and counted. It also bounds the causes remembered
	// per device so that each deviation is raised once.
	MaxEdgesPerDevice int `yaml:"max_edges_per_device"`
	// MaxDevices bounds the number of devices modelled.
	MaxDevices int `yaml:"max_devices"`
	// LearningMode says when a device's learning ends: "global" (the
	// Learning window from the first flow; a device first seen later
	// learns for Learning from its own first sighting), "device" (every
	// device learns for Learning from its own first sighting) or
	// "confirmed" (a device learns until a person confirms it, Confirm).
	// In every mode a confirmation ends a device's learning at once.
	LearningMode string `yaml:"learning_mode"`
	// PeerGroupMin and PeerGroupSupport make devices of one model (or,
	// without a model, one category) a peer group: once the group has
	// PeerGroupMin ready devices, an edge that at least PeerGroupSupport
	// of them learned is normal for every member (learned, not raised),
	// and a member still learning is judged against the group. 0 turns
	// peer groups off.
	PeerGroupMin     int     `yaml:"peer_group_min"`
	PeerGroupSupport float64 `yaml:"peer_group_support"`
}

// DefaultConfiguration learns for a day, reports 25 targets in a minute
// as a scan, 20 failed logins in 15 minutes as a burst (Zeek's FTP
// brute-force thresholds), and an hour above five times the learned 95th
// percentile, and above 10 MiB, as a volume spike.
func DefaultConfiguration() Configuration {
	return Configuration{
		Learning:            24 * time.Hour,
		ScanWindow:          time.Minute,
		ScanThreshold:       25,
		VolumeFactor:        5,
		VolumeFloorBytes:    10 << 20,
		VolumeMinHours:      12,
		OffHoursMinLearning: 24 * time.Hour,
		Timezone:            "UTC",
		AuthWindow:          15 * time.Minute,
		AuthThreshold:       20,
		SSHLoginBytes:       4000,
		MaxEdgesPerDevice:   4096,
		MaxDevices:          100_000,
		LearningMode:        LearnGlobal,
		PeerGroupMin:        3,
		PeerGroupSupport:    0.5,
	}
}

// maxAuthThreshold bounds the failures remembered per device.
const maxAuthThreshold = 1000

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
	if !(c.VolumeFactor >= 1) || math.IsInf(c.VolumeFactor, 0) {
		errs = append(errs, fmt.Errorf("volume_factor: must be at least 1, got %v", c.VolumeFactor))
	}
	if c.VolumeMinHours < 1 {
		errs = append(errs, fmt.Errorf("volume_min_hours: must be positive, got %d", c.VolumeMinHours))
	}
	if c.OffHoursMinLearning <= 0 {
		errs = append(errs, fmt.Errorf("off_hours_min_learning: must be positive, got %s", c.OffHoursMinLearning))
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		errs = append(errs, fmt.Errorf("timezone: %q is not an IANA time zone", c.Timezone))
	}
	if c.AuthWindow <= 0 {
		errs = append(errs, fmt.Errorf("auth_window: must be positive, got %s", c.AuthWindow))
	}
	if c.AuthThreshold < 2 || c.AuthThreshold > maxAuthThreshold {
		errs = append(errs, fmt.Errorf("auth_threshold: must be between 2 and %d, got %d", maxAuthThreshold, c.AuthThreshold))
	}
	if c.MaxEdgesPerDevice < 1 {
		errs = append(errs, fmt.Errorf("max_edges_per_device: must be positive, got %d", c.MaxEdgesPerDevice))
	}
	if c.MaxDevices < 1 {
		errs = append(errs, fmt.Errorf("max_devices: must be positive, got %d", c.MaxDevices))
	}
	switch c.LearningMode {
	case LearnGlobal, LearnDevice, LearnConfirmed:
	default:
		errs = append(errs, fmt.Errorf("learning_mode: want %s, %s or %s, got %q", LearnGlobal, LearnDevice, LearnConfirmed, c.LearningMode))
	}
	if c.PeerGroupMin < 0 {
		errs = append(errs, fmt.Errorf("peer_group_min: must not be negative, got %d", c.PeerGroupMin))
	}
	if !(c.PeerGroupSupport > 0 && c.PeerGroupSupport <= 1) {
		errs = append(errs, fmt.Errorf("peer_group_support: must be in (0, 1], got %v", c.PeerGroupSupport))
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

	inFlow bool // the device has taken part in a flow (new_device is judged then)

	vol volume // bytes per hour (volume.go)
	// activeHours has bit h set when the device originated an
	// established flow in hour h of the day while learning; offRaised
	// when off_hours was raised for hour h.
	activeHours, offRaised uint32

	auth       *authBurst    // failed attempts, nil until the first (auth.go)
	identities []identSource // identity attributes per source (identity.go)

	// class is the device's classification, recomputed when its facts
	// changed (classDirty), so deviations carry category, medical flag
	// and criticality for the policies.
	class      classify.Result
	classDirty bool

	// confirmedAt is when a person confirmed the device's learning
	// (Confirm), in the model's event time; zero until then.
	confirmedAt time.Time
	// group is the key of the device's peer group in Model.groups;
	// groupStale is set when a fact it depends on may have changed.
	group      string
	groupStale bool
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
	Devices      int    `json:"devices"`
	Ready        int    `json:"ready"`
	Edges        int    `json:"edges"`
	Flows        uint64 `json:"flows"`
	Observations uint64 `json:"observations"`
	// AuthFailures counts failed attempts judged; AuthIgnored failures
	// between two addresses outside the monitored network.
	AuthFailures uint64 `json:"auth_failures"`
	AuthIgnored  uint64 `json:"auth_ignored"`
	Deviations   uint64 `json:"deviations"`
	// VolumeProfiles counts devices with a learned hourly volume profile
	// that is judged (enough whole hours learned).
	VolumeProfiles int    `json:"volume_profiles"`
	EdgesDropped   uint64 `json:"edges_dropped"`
	DevicesDenied  uint64 `json:"devices_dropped"`
	// CausesForgotten counts deviations raised for a device whose set of
	// raised causes was full: such a cause may be raised again.
	CausesForgotten uint64 `json:"causes_forgotten"`
	// IdentitiesDropped counts identity facts not tracked because the
	// device's identity sources or the serial registry were full.
	IdentitiesDropped uint64 `json:"identities_dropped"`
	// FlowsUntracked counts long flows whose running byte totals were
	// not remembered (table full): their bytes may be counted twice.
	FlowsUntracked uint64 `json:"flows_untracked"`
	// SSHGuesses counts SSH sessions counted as failed logins (see
	// Configuration.SSHLoginBytes).
	SSHGuesses uint64 `json:"ssh_guesses"`
	// GroupAdopted counts edges and services a ready device was not
	// alerted for because its peer group uses them (learned instead).
	GroupAdopted uint64 `json:"group_adopted"`
	// Learned counts edges and services a person added (Learn);
	// Confirmed devices whose learning a person confirmed.
	Learned   uint64 `json:"learned"`
	Confirmed uint64 `json:"confirmed"`
	// Groups counts peer groups.
	Groups int `json:"groups"`
	// MemoryBytes estimates the memory the model holds, MaxDeviceBytes
	// that of the largest device model.
	MemoryBytes    int `json:"memory_bytes"`
	MaxDeviceBytes int `json:"max_device_bytes"`
}

// Model is the per-device baseline. It is not safe for concurrent use: one
// owner feeds it in stream order.
type Model struct {
	classifier Classifier
	vendors    func(mac string) (string, bool)

	cfg     Configuration
	src     events.Source
	nets    *netclass.Networks
	zone    *time.Location
	devices map[string]*device
	t0      time.Time // earliest flow start seen: the start of learning
	now     time.Time // newest event time seen

	// open holds the byte totals of flows seen in a start or update
	// event, so that the next event of the flow adds only its difference.
	open map[string]uint64
	// serials maps a serial number to the first device that presented it.
	serials map[string]string
	// groups indexes devices by peer group (groups.go).
	groups map[string]*group

	flows, observations, deviations, edgesDropped, devicesDenied  uint64
	authFailures, authIgnored, causesForgotten, identitiesDropped uint64
	flowsUntracked, sshGuesses, groupAdopted, learned, confirmed  uint64
}

// maxOpenFlows bounds Model.open.
const maxOpenFlows = 1 << 16

// NewModel returns an empty model. nets says which addresses
// are the monitored network; nil means netclass.DefaultLocal. An invalid
// Timezone (see Validate) reads hours in UTC.
func NewModel(cfg Configuration, src events.Source, nets *netclass.Networks) *Model {
	if nets == nil {
		nets = netclass.MustNetworks()
	}
	zone, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		zone = time.UTC
	}
	return &Model{cfg: cfg, src: src, nets: nets, zone: zone, devices: map[string]*device{},
		open: map[string]uint64{}, serials: map[string]string{}, groups: map[string]*group{}}
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
	s := Stats{Devices: len(m.devices), Flows: m.flows, Observations: m.observations,
		AuthFailures: m.authFailures, AuthIgnored: m.authIgnored, Deviations: m.deviations,
		EdgesDropped: m.edgesDropped, DevicesDenied: m.devicesDenied, CausesForgotten: m.causesForgotten,
		IdentitiesDropped: m.identitiesDropped, FlowsUntracked: m.flowsUntracked, SSHGuesses: m.sshGuesses, GroupAdopted: m.groupAdopted,
		Learned: m.learned, Confirmed: m.confirmed, Groups: len(m.groups)}
	s.MemoryBytes = len(m.open)*(mapEntryBytes+32) + len(m.serials)*(mapEntryBytes+48)
	for _, d := range m.devices {
		s.Edges += len(d.edges) + len(d.services)
		if m.ready(d, m.latest()) {
			s.Ready++
		}
		if d.vol.learned && d.vol.samples >= m.cfg.VolumeMinHours {
			s.VolumeProfiles++
		}
		b := d.memory()
		s.MemoryBytes += b
		s.MaxDeviceBytes = max(s.MaxDeviceBytes, b)
	}
	return s
}

// latest is the newest event time the model has seen.
func (m *Model) latest() time.Time { return m.now }

// ObserveAttribute records a device attribute so that deviations carry an
// up-to-date snapshot of the device, and returns the deviations the fact
// caused (insecure_protocol, identity_change; see identity.go).
func (m *Model) ObserveAttribute(ev events.Event[events.Observation]) []events.Event[events.Deviation] {
	o := ev.Body
	m.observations++
	m.advance(ev.Time)
	d := m.device(o.Device, o.MAC, o.VLAN, ev.Time)
	if d == nil {
		return nil
	}
	if o.Attribute == "ip" {
		d.addIP(o.Value)
		return nil
	}
	if addr, err := netip.ParseAddr(o.IP); err == nil && m.nets.IsLocal(addr) {
		d.addIP(o.IP) // the address the fact was seen with, as a flow's
	}
	if d.attrs[o.Attribute] != o.Value {
		d.attrs[o.Attribute] = o.Value
		d.classDirty, d.groupStale = true, true
	}
	var out []events.Event[events.Deviation]
	m.judgeAttribute(d, ev, func(dv events.Deviation) {
		m.deviations++
		out = append(out, events.MustEvent(ev.Time, m.src, dv))
	})
	m.regroup(d)
	return out
}

// advance moves the model's clock to t if t is newer.
func (m *Model) advance(t time.Time) {
	if t.After(m.now) {
		m.now = t
	}
}

// ObserveFlow learns from or judges one flow event and returns the
// deviations it caused, in a deterministic order.
func (m *Model) ObserveFlow(ev events.Event[events.Flow]) []events.Event[events.Deviation] {
	f := ev.Body
	m.flows++
	m.advance(ev.Time)
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

	// Bytes count for the ends that are devices here (no flow is
	// remembered when neither is).
	if orig != nil || resp != nil {
		if bytes := m.flowBytes(f); bytes > 0 {
			if orig != nil {
				m.volume(orig, ev.Time, bytes, f, f.Resp, "outbound", emit)
			}
			if resp != nil && resp != orig {
				m.volume(resp, ev.Time, bytes, f, f.Orig, "inbound", emit)
			}
		}
	}
	if orig != nil {
		orig.flows++
	}
	if !established(f) {
		if orig != nil {
			m.scanCheck(orig, f, emit)
		}
		m.regroup(orig, resp)
		return out
	}
	if orig != nil || resp != nil {
		m.sshGuess(f, ev.Time, emit)
	}
	if orig != nil {
		m.outbound(orig, resp, f, emit)
		m.hours(orig, f, emit)
	}
	if resp != nil {
		resp.flows++
		m.inbound(resp, orig, f, emit)
	}
	m.regroup(orig, resp)
	return out
}

// local returns the model of an endpoint that is a device on the monitored
// network, creating it, or nil for remote and group addresses.
func (m *Model) local(ep events.Endpoint, vlan uint16, at time.Time, emit func(events.Deviation), flowID string) *device {
	if !m.isLocal(ep) {
		return nil
	}
	key := events.DeviceKey(ep.MAC, ep.IP, vlan)
	d := m.device(key, ep.MAC, vlan, at)
	if d == nil {
		return nil
	}
	d.addIP(ep.IP)
	// A device is new when it was first seen (in any event: an
	// observation or an authentication attempt often precedes the end of
	// its first flow) after the learning window; it is reported with its
	// first flow.
	if !d.inFlow {
		d.inFlow = true
		if end := m.LearningEnd(); !end.IsZero() && !d.firstSeen.Before(end) {
			dv := events.Deviation{
				Type:     events.DeviationNewDevice,
				Device:   m.snapshot(d),
				Summary:  fmt.Sprintf("new device %s (%s) appeared after the learning window.", d.label(), ep.IP),
				Baseline: m.context(d, at),
				Evidence: []string{flowID},
			}
			// A device of a known model or category says so: the
			// policies may treat a new member of a mature group as routine.
			if g := m.peerSupport(d, at, func(*device) bool { return true }); g.key != "" {
				g.set(&dv.Baseline)
				if g.mature(m.cfg.PeerGroupMin) {
					dv.Summary = strings.TrimSuffix(dv.Summary, ".") + fmt.Sprintf("; %d ready devices of %s are known.", g.members, g.key)
				}
			}
			m.raise(d, "new_device", dv, emit)
		}
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
		services: map[serviceKey]string{}, reported: map[string]struct{}{}, groupStale: true,
	}
	m.devices[key] = d
	return d
}

// learnEnd is when the device's learning ends: the global window, or its
// own window when it appeared after the global one or learns per device,
// or its confirmation; in confirmed mode, neverEnds until a person
// confirms it.
func (m *Model) learnEnd(d *device) time.Time {
	var end time.Time
	switch global := m.LearningEnd(); {
	case m.cfg.LearningMode == LearnConfirmed:
		end = neverEnds
	case m.cfg.LearningMode == LearnGlobal && d.firstSeen.Before(global):
		end = global
	default:
		end = d.firstSeen.Add(m.cfg.Learning)
	}
	if !d.confirmedAt.IsZero() && d.confirmedAt.Before(end) {
		end = d.confirmedAt
	}
	return end
}

// neverEnds is the end of a learning that waits for a person.
var neverEnds = time.Date(9999, time.December, 31, 0, 0, 0, 0, time.UTC)

func (m *Model) ready(d *device, at time.Time) bool { return !at.Before(m.learnEnd(d)) }

// learnStart is when the device's learning started: the global window's
// start (the sensor watched the network from then on, so a device not yet
// seen was observed idle), or its first sighting after the global window
// (or at all, when devices learn on their own).
func (m *Model) learnStart(d *device) time.Time {
	if m.cfg.LearningMode != LearnGlobal || !d.firstSeen.Before(m.LearningEnd()) {
		return d.firstSeen
	}
	return m.t0
}

func (m *Model) context(d *device, at time.Time) events.BaselineContext {
	end := m.learnEnd(d)
	if end.Equal(neverEnds) {
		end = time.Time{} // not known: a person ends it
	}
	return events.BaselineContext{
		Ready:         m.ready(d, at),
		LearningStart: m.learnStart(d),
		LearningEnd:   end,
		Observations:  d.flows,
		KnownPeers:    len(d.peers),
		KnownPorts:    len(d.services),
		LearningMode:  m.cfg.LearningMode,
		Confirmed:     !d.confirmedAt.IsZero(),
	}
}

// peerCategory is the classification of a peer device, "" when it is not
// a modelled device or not classified.
func (m *Model) peerCategory(p *device) string {
	if p == nil {
		return ""
	}
	return m.classification(p).Category
}

func (m *Model) outbound(d, peerDev *device, f events.Flow, emit func(events.Deviation)) {
	peer := f.Resp.IP
	ek := edgeKey{peer: peer, transport: f.Transport, port: f.Resp.Port}
	known, edgeKnown := d.edges[ek]
	_, peerKnown := d.peers[peer]
	ready := m.ready(d, f.Start)
	if !ready {
		m.learnEdge(d, ek, f.AppProto)
		if edgeKnown || !m.groupMayJudge(d) {
			return // learning, and nothing to compare with
		}
	}
	if ready && edgeKnown && (known == "" || f.AppProto == "" || known == f.AppProto) {
		return
	}
	dv := events.Deviation{
		Direction: "outbound", Peer: &events.Endpoint{MAC: f.Resp.MAC, IP: peer, Port: f.Resp.Port},
		Transport: f.Transport, Port: f.Resp.Port, AppProto: f.AppProto, Evidence: []string{f.FlowID},
	}
	addr, _ := netip.ParseAddr(peer)
	var key string
	switch {
	case !peerKnown && m.nets.IsInternet(addr):
		dv.Type = events.DeviationInternet
		dv.Summary = fmt.Sprintf("%s talked to internet address %s on %s/%d, never seen while learning.", d.label(), peer, f.Transport, f.Resp.Port)
		key = "internet|" + peer
	case !peerKnown:
		dv.Type = events.DeviationNewPeer
		dv.Summary = fmt.Sprintf("%s talked to new peer %s on %s/%d.", d.label(), peer, f.Transport, f.Resp.Port)
		key = "peer|" + peer
	case !edgeKnown:
		dv.Type = events.DeviationNewPort
		dv.Summary = fmt.Sprintf("%s used new port %s/%d towards known peer %s.", d.label(), f.Transport, f.Resp.Port, peer)
		key = fmt.Sprintf("edge|%s|%s|%d", peer, f.Transport, f.Resp.Port)
	case known != "" && f.AppProto != "" && known != f.AppProto:
		dv.Type = events.DeviationNewProtocol
		dv.Summary = fmt.Sprintf("%s spoke %s instead of %s to %s on %s/%d.", d.label(), f.AppProto, known, peer, f.Transport, f.Resp.Port)
		key = fmt.Sprintf("proto|%s|%s|%d|%s", peer, f.Transport, f.Resp.Port, f.AppProto)
	default:
		return
	}
	g := m.peerSupport(d, f.Start, func(o *device) bool {
		p, ok := o.edges[ek]
		return ok && (dv.Type != events.DeviationNewProtocol || p == f.AppProto)
	})
	if !m.judged(d, ready, g, dv.Type) {
		if ready {
			m.groupAdopted++
			m.learnEdge(d, ek, f.AppProto)
			if dv.Type == events.DeviationNewProtocol {
				d.edges[ek] = f.AppProto
			}
		}
		return
	}
	dv.Device, dv.PeerCategory, dv.Baseline = m.snapshot(d), m.peerCategory(peerDev), m.context(d, f.Start)
	g.set(&dv.Baseline)
	if !ready {
		dv.Summary = strings.TrimSuffix(dv.Summary, ".") + fmt.Sprintf(" while learning, unlike its peer group (%d of %d devices of %s).", g.support, g.members, g.key)
	} else if g.mature(m.cfg.PeerGroupMin) {
		dv.Summary = strings.TrimSuffix(dv.Summary, ".") + fmt.Sprintf(" (%d of %d other devices of %s did).", g.support, g.members, g.key)
	}
	m.raise(d, key, dv, emit)
}

func (m *Model) inbound(d, peerDev *device, f events.Flow, emit func(events.Deviation)) {
	sk := serviceKey{transport: f.Transport, port: f.Resp.Port}
	if f.Transport != "tcp" && f.Transport != "udp" {
		return
	}
	if f.Transport == "udp" && f.RespPackets == 0 {
		return // a datagram received is not a service offered
	}
	_, known := d.services[sk]
	ready := m.ready(d, f.Start)
	if !ready && !known {
		if d.size() >= m.cfg.MaxEdgesPerDevice {
			m.edgesDropped++
			d.full = true
		} else {
			d.services[sk] = f.AppProto
			d.classDirty, d.groupStale = true, true
		}
	}
	if known || !ready && !m.groupMayJudge(d) {
		return
	}
	g := m.peerSupport(d, f.Start, func(o *device) bool { _, ok := o.services[sk]; return ok })
	if !m.judged(d, ready, g, events.DeviationNewPort) {
		if ready && d.size() < m.cfg.MaxEdgesPerDevice {
			m.groupAdopted++
			d.services[sk] = f.AppProto
			d.classDirty, d.groupStale = true, true
		}
		return
	}
	dv := events.Deviation{
		Type: events.DeviationNewPort, Device: m.snapshot(d), Direction: "inbound",
		Peer:      &events.Endpoint{MAC: f.Orig.MAC, IP: f.Orig.IP},
		Transport: f.Transport, Port: f.Resp.Port, AppProto: f.AppProto, PeerCategory: m.peerCategory(peerDev),
		Summary:  fmt.Sprintf("%s answered on new service port %s/%d (client %s).", d.label(), f.Transport, f.Resp.Port, f.Orig.IP),
		Baseline: m.context(d, f.Start), Evidence: []string{f.FlowID},
	}
	g.set(&dv.Baseline)
	m.raise(d, fmt.Sprintf("service|%s|%d", f.Transport, f.Resp.Port), dv, emit)
}

func (m *Model) learnEdge(d *device, ek edgeKey, proto string) {
	if _, ok := d.edges[ek]; ok {
		if d.edges[ek] == "" && proto != "" {
			d.edges[ek] = proto
			d.classDirty, d.groupStale = true, true
		}
		return
	}
	if d.size() >= m.cfg.MaxEdgesPerDevice {
		m.edgesDropped++
		d.full = true
		return
	}
	d.edges[ek] = proto
	d.classDirty, d.groupStale = true, true
	d.peers[ek.peer] = struct{}{}
}

// raise emits a deviation once per device and key. Past
// MaxEdgesPerDevice remembered keys a new cause is still raised but not
// remembered (counted), so it may be raised again: a repeat is better
// than a loss.
func (m *Model) raise(d *device, key string, dv events.Deviation, emit func(events.Deviation)) {
	if _, done := d.reported[key]; done {
		return
	}
	if len(d.reported) < m.cfg.MaxEdgesPerDevice {
		d.reported[key] = struct{}{}
	} else {
		m.causesForgotten++
	}
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
	if d.scanRaised {
		return // raised for this window: no need to remember more targets
	}
	t := target{peer: f.Resp.IP, port: f.Resp.Port}
	if _, ok := d.scanTargets[t]; ok {
		return
	}
	d.scanTargets[t] = struct{}{}
	if len(d.scanTargets) < m.cfg.ScanThreshold {
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

// mapEntryBytes estimates the overhead of one map entry beyond its key
// and value.
const mapEntryBytes = 48

// memory estimates the bytes a device model holds (see README.md for the
// bounds).
func (d *device) memory() int {
	n := int(unsafe.Sizeof(*d)) + len(d.key) + len(d.mac) + len(d.ips)*32
	for k, v := range d.attrs {
		n += mapEntryBytes + 32 + len(k) + len(v)
	}
	n += len(d.peers) * (mapEntryBytes + 32)
	n += len(d.edges) * (mapEntryBytes + int(unsafe.Sizeof(edgeKey{})) + 32)
	n += len(d.services) * (mapEntryBytes + int(unsafe.Sizeof(serviceKey{})) + 16)
	for k := range d.reported {
		n += mapEntryBytes + 16 + len(k)
	}
	n += len(d.scanTargets) * (mapEntryBytes + int(unsafe.Sizeof(target{})))
	if d.vol.hist != nil {
		n += int(unsafe.Sizeof(*d.vol.hist))
	}
	if d.auth != nil {
		n += int(unsafe.Sizeof(*d.auth)) + cap(d.auth.ring)*(int(unsafe.Sizeof(authFailure{}))+48)
	}
	n += cap(d.identities) * (int(unsafe.Sizeof(identSource{})) + 32)
	return n
}

// maxIPsPerDevice bounds the addresses remembered per device (a router's
// MAC carries every address behind it).
const maxIPsPerDevice = 32

func (d *device) addIP(ip string) {
	if ip == "" {
		return
	}
	i, found := slices.BinarySearch(d.ips, ip)
	if !found && len(d.ips) < maxIPsPerDevice {
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
		out = append(out, m.readiness(d))
	}
	slices.SortFunc(out, func(a, b Readiness) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// Readiness says how far a device's learning went.
type Readiness struct {
	Key       string    `json:"key"`
	FirstSeen time.Time `json:"first_seen"`
	// LearningEnd is when learning ends or ended (zero while a device of
	// the "confirmed" mode waits for a person); Ready whether it has at
	// the newest event time; ObservedS the seconds of traffic time the
	// device was watched while learning; Mode the learning mode;
	// Confirmed and ConfirmedAt a person's confirmation.
	LearningEnd time.Time `json:"learning_end,omitzero"`
	Ready       bool      `json:"ready"`
	ObservedS   int64     `json:"observed_s"`
	Mode        string    `json:"mode"`
	Confirmed   bool      `json:"confirmed,omitempty"`
	ConfirmedAt time.Time `json:"confirmed_at,omitzero"`
	// PeerGroup is the device's peer group ("" for none).
	PeerGroup string `json:"peer_group,omitempty"`
	// Flows is the number of observations: flows the device took part in.
	Flows     uint64 `json:"flows"`
	Peers     int    `json:"peers"`
	Edges     int    `json:"edges"`
	Services  int    `json:"services"`
	Saturated bool   `json:"saturated,omitempty"`
	// VolumeHours and HourlyP95Bytes are the learned volume profile (zero
	// until learning ends); ActiveHours the hours of the day in which the
	// device originated traffic while learning.
	VolumeHours    int    `json:"volume_hours,omitempty"`
	HourlyP95Bytes uint64 `json:"hourly_p95_bytes,omitempty"`
	ActiveHours    []int  `json:"active_hours,omitempty"`
	// MemoryBytes estimates the memory of the device's model.
	MemoryBytes int `json:"memory_bytes"`
}
