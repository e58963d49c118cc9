// Package inventory is the projection of the event log that knows every
// device: its identity (keyed by MAC within a VLAN, never by IP alone), its
// addresses, its attributes with their provenance, and its traffic.
//
// The Model is deterministic and fed in stream order; the Component wires
// it to the bus and publishes device changes.
package inventory

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/netclass"
)

// Configuration of the inventory.
type Configuration struct {
	// MaxDevices bounds the projection; devices past it are counted.
	MaxDevices int `yaml:"max_devices"`
	// GatewayAddresses is the number of distinct local addresses one MAC
	// may carry before it is taken for a router: the addresses behind it
	// are then not attributed to it.
	GatewayAddresses int `yaml:"gateway_addresses"`
}

// DefaultConfiguration suits a hospital of up to 100 000 devices.
func DefaultConfiguration() Configuration {
	return Configuration{MaxDevices: 100_000, GatewayAddresses: 16}
}

// Validate reports every problem, naming fields within the section.
func (c Configuration) Validate() []error {
	var errs []error
	if c.MaxDevices < 1 {
		errs = append(errs, fmt.Errorf("max_devices: must be positive, got %d", c.MaxDevices))
	}
	if c.GatewayAddresses < 2 {
		errs = append(errs, fmt.Errorf("gateway_addresses: must be at least 2, got %d", c.GatewayAddresses))
	}
	return errs
}

// Address is an IP a device used, with how Vigil learned it.
type Address struct {
	IP        string    `json:"ip"`
	Source    string    `json:"source"` // "dhcp" or "traffic"
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Attribute is one known fact about a device, with its provenance.
type Attribute struct {
	Name       string    `json:"name"`
	Value      string    `json:"value"`
	Protocol   string    `json:"protocol"`
	Confidence float64   `json:"confidence"`
	Evidence   string    `json:"evidence"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	// EventIDs are the observation events behind the value (at most 8, the
	// first ones).
	EventIDs []string `json:"event_ids"`
}

// Traffic sums a device's flows.
type Traffic struct {
	Flows           uint64 `json:"flows"`
	PacketsSent     uint64 `json:"packets_sent"`
	PacketsReceived uint64 `json:"packets_received"`
	BytesSent       uint64 `json:"bytes_sent"`
	BytesReceived   uint64 `json:"bytes_received"`
}

// Device is one device of the inventory.
type Device struct {
	// ID is stable for a key: derived from it, so a rebuild from the log
	// gives the same IDs.
	ID  string `json:"id"`
	Key string `json:"key"`
	MAC string `json:"mac,omitempty"`
	// LocallyAdministered MACs are randomised or software-assigned: their
	// OUI names no vendor, and they may change.
	LocallyAdministered bool   `json:"locally_administered,omitempty"`
	VLAN                uint16 `json:"vlan"`
	// Gateway is set when the MAC carried many local addresses: a router.
	Gateway    bool        `json:"gateway,omitempty"`
	Addresses  []Address   `json:"addresses"`
	Attributes []Attribute `json:"attributes,omitempty"`
	Protocols  []string    `json:"protocols,omitempty"`
	Traffic    Traffic     `json:"traffic"`
	FirstSeen  time.Time   `json:"first_seen"`
	LastSeen   time.Time   `json:"last_seen"`
}

// Stats of the projection.
type Stats struct {
	Devices        int    `json:"devices"`
	Flows          uint64 `json:"flows"`
	Observations   uint64 `json:"observations"`
	DevicesDropped uint64 `json:"devices_dropped"`
}

type counted struct{ pktO, pktR, byteO, byteR uint64 }

// Model is the inventory projection. One owner feeds it in stream order.
type Model struct {
	cfg     Configuration
	src     events.Source
	nets    *netclass.Networks
	devices map[string]*Device
	// open remembers what was already counted of flows that reported an
	// update, so their end adds only the rest.
	open map[string]counted

	flows, observations, dropped uint64
}

// NewModel returns an empty inventory. nets says which addresses
// are the monitored network; nil means netclass.DefaultLocal.
func NewModel(cfg Configuration, src events.Source, nets *netclass.Networks) *Model {
	if nets == nil {
		nets = netclass.MustNetworks()
	}
	return &Model{cfg: cfg, src: src, nets: nets, devices: map[string]*Device{}, open: map[string]counted{}}
}

// DeviceID derives the stable ID of a device key.
func DeviceID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "dev-" + hex.EncodeToString(sum[:6])
}

// ObserveFlow updates the devices on both sides of a flow and returns the
// changes it caused.
func (m *Model) ObserveFlow(ev events.Event[events.Flow]) []events.Event[events.DeviceChange] {
	f := ev.Body
	m.flows++
	delta := counted{f.OrigPackets, f.RespPackets, f.OrigBytes, f.RespBytes}
	if prev, ok := m.open[f.FlowID]; ok {
		delta = counted{sub(delta.pktO, prev.pktO), sub(delta.pktR, prev.pktR), sub(delta.byteO, prev.byteO), sub(delta.byteR, prev.byteR)}
	}
	switch f.Phase {
	case events.FlowUpdate:
		m.open[f.FlowID] = counted{f.OrigPackets, f.RespPackets, f.OrigBytes, f.RespBytes}
	case events.FlowEnd:
		delete(m.open, f.FlowID)
	case events.FlowStart:
		return nil // counted from its update and end events
	}
	var out []events.Event[events.DeviceChange]
	for i, ep := range []events.Endpoint{f.Orig, f.Resp} {
		d, changes := m.endpoint(ev, ep, f.VLAN)
		out = append(out, changes...)
		if d == nil {
			continue
		}
		if f.Phase == events.FlowEnd {
			d.Traffic.Flows++
		}
		if i == 0 {
			d.Traffic.PacketsSent += delta.pktO
			d.Traffic.BytesSent += delta.byteO
			d.Traffic.PacketsReceived += delta.pktR
			d.Traffic.BytesReceived += delta.byteR
		} else {
			d.Traffic.PacketsSent += delta.pktR
			d.Traffic.BytesSent += delta.byteR
			d.Traffic.PacketsReceived += delta.pktO
			d.Traffic.BytesReceived += delta.byteO
		}
		if f.AppProto != "" {
			if j, found := slices.BinarySearch(d.Protocols, f.AppProto); !found {
				d.Protocols = slices.Insert(d.Protocols, j, f.AppProto)
			}
		}
	}
	return out
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// endpoint returns the device behind a flow endpoint, or nil when the
// endpoint is not a device of the monitored network (an internet address,
// a group address, a frame without link layer and a routed address).
func (m *Model) endpoint(ev events.Event[events.Flow], ep events.Endpoint, vlan uint16) (*Device, []events.Event[events.DeviceChange]) {
	addr, err := netip.ParseAddr(ep.IP)
	if err != nil || !m.nets.IsLocal(addr) || netclass.IsGroupMAC(ep.MAC) {
		return nil, nil
	}
	key := events.DeviceKey(ep.MAC, ep.IP, vlan)
	at := ev.Body.Start
	if ev.Body.Last.After(at) {
		at = ev.Body.Last
	}
	d, out := m.device(key, ep.MAC, vlan, at, ev)
	if d == nil {
		return nil, out
	}
	out = append(out, m.address(d, ep.IP, "traffic", at, ev.ID)...)
	return d, out
}

func (m *Model) device(key, mac string, vlan uint16, at time.Time, cause events.Message) (*Device, []events.Event[events.DeviceChange]) {
	if d, ok := m.devices[key]; ok {
		if at.After(d.LastSeen) {
			d.LastSeen = at
		}
		if at.Before(d.FirstSeen) {
			d.FirstSeen = at
		}
		return d, nil
	}
	if len(m.devices) >= m.cfg.MaxDevices {
		m.dropped++
		return nil, nil
	}
	d := &Device{ID: DeviceID(key), Key: key, MAC: mac, VLAN: vlan, FirstSeen: at, LastSeen: at,
		LocallyAdministered: mac != "" && netclass.IsLocallyAdministered(mac)}
	m.devices[key] = d
	return d, []events.Event[events.DeviceChange]{m.change(cause, d, events.DeviceChange{Change: events.ChangeNew})}
}

func (m *Model) address(d *Device, ip, source string, at time.Time, evidence string) []events.Event[events.DeviceChange] {
	for i := range d.Addresses {
		a := &d.Addresses[i]
		if a.IP == ip {
			if at.After(a.LastSeen) {
				a.LastSeen = at
			}
			if source == "dhcp" {
				a.Source = source
			}
			return nil
		}
	}
	if d.Gateway && source != "dhcp" {
		return nil
	}
	if source != "dhcp" && len(d.Addresses) >= m.cfg.GatewayAddresses {
		d.Gateway = true
		return nil
	}
	old := ""
	if n := len(d.Addresses); n > 0 {
		old = d.Addresses[n-1].IP
	}
	d.Addresses = append(d.Addresses, Address{IP: ip, Source: source, FirstSeen: at, LastSeen: at})
	return []events.Event[events.DeviceChange]{m.changeAt(at, d, events.DeviceChange{
		Change: events.ChangeAddress, Attribute: "ip", Old: old, New: ip, Evidence: []string{evidence}})}
}

// ObserveAttribute fuses one observation into its device and returns the
// changes it caused. A higher confidence wins; at equal confidence the
// newer value wins, and a changed value is itself a change event (a
// firmware update, a renamed host).
func (m *Model) ObserveAttribute(ev events.Event[events.Observation]) []events.Event[events.DeviceChange] {
	o := ev.Body
	m.observations++
	d, out := m.device(o.Device, o.MAC, o.VLAN, ev.Time, ev)
	if d == nil {
		return out
	}
	if o.Attribute == "ip" {
		return append(out, m.address(d, o.Value, o.Protocol, ev.Time, ev.ID)...)
	}
	if o.IP != "" && m.nets.IsLocalString(o.IP) {
		out = append(out, m.address(d, o.IP, "traffic", ev.Time, ev.ID)...)
	}
	i := slices.IndexFunc(d.Attributes, func(a Attribute) bool { return a.Name == o.Attribute })
	if i < 0 {
		d.Attributes = append(d.Attributes, Attribute{Name: o.Attribute, Value: o.Value, Protocol: o.Protocol,
			Confidence: o.Confidence, Evidence: o.Evidence, FirstSeen: ev.Time, LastSeen: ev.Time, EventIDs: []string{ev.ID}})
		slices.SortFunc(d.Attributes, func(a, b Attribute) int { return cmp.Compare(a.Name, b.Name) })
		return append(out, m.changeAt(ev.Time, d, events.DeviceChange{Change: events.ChangeAttribute,
			Attribute: o.Attribute, New: o.Value, Evidence: []string{ev.ID}}))
	}
	a := &d.Attributes[i]
	if a.Value == o.Value {
		if ev.Time.After(a.LastSeen) {
			a.LastSeen = ev.Time
		}
		if len(a.EventIDs) < 8 {
			a.EventIDs = append(a.EventIDs, ev.ID)
		}
		a.Confidence = max(a.Confidence, o.Confidence)
		return out
	}
	if o.Confidence < a.Confidence {
		return out // a weaker source does not override a stronger one
	}
	old := a.Value
	*a = Attribute{Name: o.Attribute, Value: o.Value, Protocol: o.Protocol, Confidence: o.Confidence,
		Evidence: o.Evidence, FirstSeen: ev.Time, LastSeen: ev.Time, EventIDs: []string{ev.ID}}
	return append(out, m.changeAt(ev.Time, d, events.DeviceChange{Change: events.ChangeAttribute,
		Attribute: o.Attribute, Old: old, New: o.Value, Evidence: []string{ev.ID}}))
}

func (m *Model) change(cause events.Message, d *Device, c events.DeviceChange) events.Event[events.DeviceChange] {
	if c.Evidence == nil {
		c.Evidence = []string{cause.Meta().ID}
	}
	return m.changeAt(cause.Meta().Time, d, c)
}

func (m *Model) changeAt(at time.Time, d *Device, c events.DeviceChange) events.Event[events.DeviceChange] {
	c.Device = snapshot(d)
	return events.MustEvent(at, m.src, c)
}

func snapshot(d *Device) events.DeviceSnapshot {
	s := events.DeviceSnapshot{Key: d.Key, MAC: d.MAC, VLAN: d.VLAN}
	for _, a := range d.Addresses {
		s.IPs = append(s.IPs, a.IP)
	}
	slices.Sort(s.IPs)
	if len(d.Attributes) > 0 {
		s.Attributes = map[string]string{}
		for _, a := range d.Attributes {
			s.Attributes[a.Name] = a.Value
		}
	}
	return s
}

// Devices returns copies of all devices sorted by key.
func (m *Model) Devices() []Device {
	out := make([]Device, 0, len(m.devices))
	for _, d := range m.devices {
		c := *d
		c.Addresses = slices.Clone(d.Addresses)
		c.Attributes = slices.Clone(d.Attributes)
		c.Protocols = slices.Clone(d.Protocols)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Device) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// Stats returns the projection's counters.
func (m *Model) Stats() Stats {
	return Stats{Devices: len(m.devices), Flows: m.flows, Observations: m.observations, DevicesDropped: m.dropped}
}
