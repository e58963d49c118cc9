package baseline

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/vigil-health/vigil/events"
)

// stateVersion is the version of the checkpoint format MarshalState
// writes; RestoreState refuses others (the projection is then rebuilt
// from the stream).
const stateVersion = 1

// state is the serialised model: everything it needs to continue exactly
// as if it had never stopped. Classifications and peer groups are not
// saved: they are recomputed from the facts.
type state struct {
	Version  int               `json:"version"`
	T0       time.Time         `json:"t0"`
	Now      time.Time         `json:"now"`
	Open     map[string]uint64 `json:"open,omitempty"`
	Serials  map[string]string `json:"serials,omitempty"`
	Counters map[string]uint64 `json:"counters"`
	Devices  []deviceState     `json:"devices"`
}

type deviceState struct {
	Key         string            `json:"key"`
	MAC         string            `json:"mac,omitempty"`
	VLAN        uint16            `json:"vlan,omitempty"`
	IPs         []string          `json:"ips,omitempty"`
	Attrs       map[string]string `json:"attrs,omitempty"`
	FirstSeen   time.Time         `json:"first_seen"`
	ConfirmedAt time.Time         `json:"confirmed_at,omitzero"`
	Flows       uint64            `json:"flows"`
	InFlow      bool              `json:"in_flow,omitempty"`
	Full        bool              `json:"full,omitempty"`
	// Edges are "peer|transport|port|app_proto", Services
	// "transport|port|app_proto", sorted.
	Edges    []string `json:"edges,omitempty"`
	Services []string `json:"services,omitempty"`
	Reported []string `json:"reported,omitempty"`

	ScanStart   time.Time `json:"scan_start,omitzero"`
	ScanTargets []string  `json:"scan_targets,omitempty"` // "peer|port"
	ScanRaised  bool      `json:"scan_raised,omitempty"`

	Volume      volumeState `json:"volume"`
	ActiveHours uint32      `json:"active_hours,omitempty"`
	OffRaised   uint32      `json:"off_raised,omitempty"`

	Auth       *authState    `json:"auth,omitempty"`
	Identities []identityRec `json:"identities,omitempty"`
}

type volumeState struct {
	Started bool     `json:"started,omitempty"`
	Hour    int64    `json:"hour,omitempty"`
	Bytes   uint64   `json:"bytes,omitempty"`
	Hist    []uint16 `json:"hist,omitempty"`
	Learned bool     `json:"learned,omitempty"`
	Samples int      `json:"samples,omitempty"`
	P95     uint64   `json:"p95,omitempty"`
	Raised  int64    `json:"raised,omitempty"`
}

type authState struct {
	Ring   []authRec `json:"ring"`
	Next   int       `json:"next"`
	Raised time.Time `json:"raised,omitzero"`
}

type authRec struct {
	At       time.Time       `json:"at"`
	Other    events.Endpoint `json:"other"`
	Port     uint16          `json:"port,omitempty"`
	Protocol string          `json:"protocol,omitempty"`
	FlowID   string          `json:"flow_id,omitempty"`
}

type identityRec struct {
	Attr       string  `json:"attr"`
	Protocol   string  `json:"protocol"`
	IP         string  `json:"ip,omitempty"`
	Value      string  `json:"value"`
	Confidence float64 `json:"confidence"`
}

// counters names the model's counters in a checkpoint.
func (m *Model) counters() map[string]*uint64 {
	return map[string]*uint64{
		"flows": &m.flows, "observations": &m.observations, "deviations": &m.deviations,
		"edges_dropped": &m.edgesDropped, "devices_dropped": &m.devicesDenied,
		"auth_failures": &m.authFailures, "auth_ignored": &m.authIgnored,
		"causes_forgotten": &m.causesForgotten, "identities_dropped": &m.identitiesDropped,
		"flows_untracked": &m.flowsUntracked, "ssh_guesses": &m.sshGuesses,
		"group_adopted": &m.groupAdopted, "learned": &m.learned, "confirmed": &m.confirmed,
	}
}

// MarshalState serialises the model for a checkpoint. The bytes depend
// only on the model (devices and sets sorted), so two models that saw the
// same events give the same checkpoint.
func (m *Model) MarshalState() ([]byte, error) {
	s := state{Version: stateVersion, T0: m.t0, Now: m.now, Open: m.open, Serials: m.serials, Counters: map[string]uint64{}}
	for k, p := range m.counters() {
		s.Counters[k] = *p
	}
	keys := make([]string, 0, len(m.devices))
	for k := range m.devices {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s.Devices = append(s.Devices, deviceToState(m.devices[k]))
	}
	return json.Marshal(s)
}

func deviceToState(d *device) deviceState {
	ds := deviceState{
		Key: d.key, MAC: d.mac, VLAN: d.vlan, IPs: d.ips, Attrs: d.attrs, FirstSeen: d.firstSeen,
		ConfirmedAt: d.confirmedAt, Flows: d.flows, InFlow: d.inFlow, Full: d.full,
		ScanStart: d.scanStart, ScanRaised: d.scanRaised, ActiveHours: d.activeHours, OffRaised: d.offRaised,
		Volume: volumeState{Started: d.vol.started, Hour: d.vol.hour, Bytes: d.vol.bytes, Learned: d.vol.learned,
			Samples: d.vol.samples, P95: d.vol.p95, Raised: d.vol.raised},
	}
	for ek, p := range d.edges {
		ds.Edges = append(ds.Edges, fmt.Sprintf("%s|%s|%d|%s", ek.peer, ek.transport, ek.port, p))
	}
	for sk, p := range d.services {
		ds.Services = append(ds.Services, fmt.Sprintf("%s|%d|%s", sk.transport, sk.port, p))
	}
	for k := range d.reported {
		ds.Reported = append(ds.Reported, k)
	}
	if d.scanTargets != nil {
		ds.ScanTargets = []string{}
		for t := range d.scanTargets {
			ds.ScanTargets = append(ds.ScanTargets, fmt.Sprintf("%s|%d", t.peer, t.port))
		}
	}
	slices.Sort(ds.Edges)
	slices.Sort(ds.Services)
	slices.Sort(ds.Reported)
	slices.Sort(ds.ScanTargets)
	if d.vol.hist != nil {
		ds.Volume.Hist = d.vol.hist[:]
	}
	if d.auth != nil {
		a := &authState{Next: d.auth.next, Raised: d.auth.raised}
		for _, f := range d.auth.ring {
			a.Ring = append(a.Ring, authRec{At: f.at, Other: f.other, Port: f.port, Protocol: f.protocol, FlowID: f.flowID})
		}
		ds.Auth = a
	}
	for _, id := range d.identities {
		ds.Identities = append(ds.Identities, identityRec{Attr: id.attr, Protocol: id.protocol, IP: id.ip, Value: id.value, Confidence: id.confidence})
	}
	return ds
}

// RestoreState replaces the model with a checkpoint's. On error the
// model is unchanged.
func (m *Model) RestoreState(b []byte) error {
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("baseline checkpoint: %w", err)
	}
	if s.Version != stateVersion {
		return fmt.Errorf("baseline checkpoint: version %d, this build reads %d", s.Version, stateVersion)
	}
	devices := make(map[string]*device, len(s.Devices))
	for _, ds := range s.Devices {
		d, err := deviceFromState(ds)
		if err != nil {
			return fmt.Errorf("baseline checkpoint: device %s: %w", ds.Key, err)
		}
		devices[d.key] = d
	}
	m.devices, m.t0, m.now = devices, s.T0, s.Now
	m.open, m.serials = s.Open, s.Serials
	if m.open == nil {
		m.open = map[string]uint64{}
	}
	if m.serials == nil {
		m.serials = map[string]string{}
	}
	for k, p := range m.counters() {
		*p = s.Counters[k]
	}
	m.groups = map[string]*group{}
	for _, k := range slices.Sorted(maps.Keys(m.devices)) {
		m.regroup(m.devices[k])
	}
	return nil
}

func deviceFromState(ds deviceState) (*device, error) {
	d := &device{
		key: ds.Key, mac: ds.MAC, vlan: ds.VLAN, ips: ds.IPs, attrs: ds.Attrs, firstSeen: ds.FirstSeen,
		confirmedAt: ds.ConfirmedAt, flows: ds.Flows, inFlow: ds.InFlow, full: ds.Full,
		peers: map[string]struct{}{}, edges: map[edgeKey]string{}, services: map[serviceKey]string{},
		reported: map[string]struct{}{}, scanStart: ds.ScanStart, scanRaised: ds.ScanRaised,
		activeHours: ds.ActiveHours, offRaised: ds.OffRaised, classDirty: true, groupStale: true,
		vol: volume{started: ds.Volume.Started, hour: ds.Volume.Hour, bytes: ds.Volume.Bytes, learned: ds.Volume.Learned,
			samples: ds.Volume.Samples, p95: ds.Volume.P95, raised: ds.Volume.Raised},
	}
	if d.attrs == nil {
		d.attrs = map[string]string{}
	}
	for _, e := range ds.Edges {
		parts := strings.SplitN(e, "|", 4)
		if len(parts) != 4 {
			return nil, fmt.Errorf("edge %q: want peer|transport|port|app_proto", e)
		}
		port, err := parsePort(parts[2])
		if err != nil {
			return nil, fmt.Errorf("edge %q: %w", e, err)
		}
		d.edges[edgeKey{peer: parts[0], transport: parts[1], port: port}] = parts[3]
		d.peers[parts[0]] = struct{}{}
	}
	for _, e := range ds.Services {
		parts := strings.SplitN(e, "|", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("service %q: want transport|port|app_proto", e)
		}
		port, err := parsePort(parts[1])
		if err != nil {
			return nil, fmt.Errorf("service %q: %w", e, err)
		}
		d.services[serviceKey{transport: parts[0], port: port}] = parts[2]
	}
	for _, k := range ds.Reported {
		d.reported[k] = struct{}{}
	}
	if ds.ScanTargets != nil {
		d.scanTargets = map[target]struct{}{}
		for _, t := range ds.ScanTargets {
			i := strings.LastIndexByte(t, '|')
			if i < 0 {
				return nil, fmt.Errorf("scan target %q: want peer|port", t)
			}
			port, err := parsePort(t[i+1:])
			if err != nil {
				return nil, fmt.Errorf("scan target %q: %w", t, err)
			}
			d.scanTargets[target{peer: t[:i], port: port}] = struct{}{}
		}
	}
	if ds.Volume.Hist != nil {
		if len(ds.Volume.Hist) != volumeBuckets {
			return nil, fmt.Errorf("volume histogram of %d buckets, want %d", len(ds.Volume.Hist), volumeBuckets)
		}
		d.vol.hist = new(volumeHist)
		copy(d.vol.hist[:], ds.Volume.Hist)
	}
	if ds.Auth != nil {
		a := &authBurst{next: ds.Auth.Next, raised: ds.Auth.Raised}
		for _, r := range ds.Auth.Ring {
			a.ring = append(a.ring, authFailure{at: r.At, other: r.Other, port: r.Port, protocol: r.Protocol, flowID: r.FlowID})
		}
		if a.next < 0 || (len(a.ring) > 0 && a.next >= len(a.ring)) || (len(a.ring) == 0 && a.next != 0) {
			return nil, fmt.Errorf("auth ring position %d of %d", a.next, len(a.ring))
		}
		d.auth = a
	}
	for _, id := range ds.Identities {
		d.identities = append(d.identities, identSource{attr: id.Attr, protocol: id.Protocol, ip: id.IP, value: id.Value, confidence: id.Confidence})
	}
	return d, nil
}

func parsePort(s string) (uint16, error) {
	var p uint16
	if _, err := fmt.Sscan(s, &p); err != nil {
		return 0, fmt.Errorf("port %q: %w", s, err)
	}
	return p, nil
}
