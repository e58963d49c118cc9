// Package inventory is the projection of the event log that knows every
// device: its identity (keyed by MAC within a VLAN, never by IP alone
// unless a router hides the MAC), its address history, its attributes with
// their provenance, its classification, where it belongs, and how much it
// is used.
//
// The Model is deterministic and fed in stream order, on event time only:
// replaying the log rebuilds the same inventory. The Component wires it to
// the bus, publishes device changes and checkpoints it.
package inventory

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/netclass"
	"github.com/vigil-health/vigil/inventory/classify"
)

// Address is an IP a device used, with how Vigil learned it.
type Address struct {
	IP string `json:"ip"`
	// Source is the protocol that bound the address to the device: "dhcp"
	// (a lease), "arp", "traffic", ...
	Source    string    `json:"source"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Current is false once the address was released: another device took
	// it, or a new DHCP lease replaced it.
	Current  bool      `json:"current"`
	Released time.Time `json:"released,omitzero"`
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
	// OUIVendor is the organisation registered for the MAC's prefix.
	OUIVendor string `json:"oui_vendor,omitempty"`
	// Gateway is set when the MAC carried many local addresses: a router.
	Gateway bool `json:"gateway,omitempty"`
	// Routed devices are known by IP only: a router hides their MAC (or
	// the capture had no link layer). Limitation says what that costs.
	Routed     bool   `json:"routed,omitempty"`
	Limitation string `json:"limitation,omitempty"`

	Addresses  []Address   `json:"addresses"`
	Attributes []Attribute `json:"attributes,omitempty"`
	// Protocols are the application protocols the device used; Services
	// the ones it offered ("tcp/104").
	Protocols []string `json:"protocols,omitempty"`
	Services  []string `json:"services,omitempty"`

	Classification classify.Result `json:"classification"`
	Org            Org             `json:"org"`
	Asset          *Asset          `json:"asset,omitempty"`

	Online    bool       `json:"online"`
	Traffic   Traffic    `json:"traffic"`
	Usage     []DayUsage `json:"usage,omitempty"`
	FirstSeen time.Time  `json:"first_seen"`
	LastSeen  time.Time  `json:"last_seen"`

	dirty bool // facts changed since the last classification
}

// CurrentIPs returns the addresses the device holds now.
func (d *Device) CurrentIPs() []string {
	var out []string
	for _, a := range d.Addresses {
		if a.Current {
			out = append(out, a.IP)
		}
	}
	return out
}

// Attr returns the resolved value of an attribute, or "".
func (d *Device) Attr(name string) string {
	if a := d.attribute(name); a != nil {
		return a.Value
	}
	return ""
}

// Stats of the projection.
type Stats struct {
	Devices        int    `json:"devices"`
	Online         int    `json:"online"`
	Flows          uint64 `json:"flows"`
	Observations   uint64 `json:"observations"`
	DevicesDropped uint64 `json:"devices_dropped"`
}

// Classifier classifies a device from its facts (classify.Rules).
type Classifier interface {
	Classify(classify.Facts) classify.Result
}

// factReader is a Classifier that says which facts it reads, so that a
// change of any other fact does not cost a classification.
type factReader interface {
	Reads(fact string) bool
}

// reads tells whether a change of fact can change d's classification (or
// its asset-register match, which uses the hostname and serial).
func (m *Model) reads(d *Device, fact string) bool {
	if d.Asset == nil && m.opt.Register != nil && (fact == "hostname" || fact == "serial") {
		return true
	}
	r, ok := m.opt.Classifier.(factReader)
	return !ok || r.Reads(fact)
}

// VendorLookup names the organisation registered for a MAC prefix
// (oui.Registry).
type VendorLookup func(mac string) (vendor string, ok bool)

// Options are the model's collaborators; zero values disable them.
type Options struct {
	// Networks says which addresses are the monitored network; nil means
	// the private ranges.
	Networks   *netclass.Networks
	Classifier Classifier
	Vendors    VendorLookup
	// Register is the asset register to attach to devices.
	Register *Register
}

type counted struct {
	pktO, pktR, byteO, byteR uint64
	last                     time.Time
	app                      map[string]uint64
}

// Model is the inventory projection. One owner feeds it in stream order.
type Model struct {
	cfg     Configuration
	src     events.Source
	opt     Options
	org     *orgMap
	zone    *time.Location
	devices map[string]*Device
	// byID maps device IDs to keys, for the API's device detail.
	byID map[string]string
	// holder maps "vlan/ip" to the key of the device holding the address.
	holder map[string]string
	// open remembers what was already counted of flows that reported an
	// update, so their end adds only the rest.
	open map[string]counted
	// now is the latest event time; nextSweep when offline devices are
	// next looked for.
	now, nextSweep time.Time

	flows, observations, dropped uint64
}

// NewModel returns an empty inventory. The configuration must be valid.
func NewModel(cfg Configuration, src events.Source, opt Options) *Model {
	if opt.Networks == nil {
		opt.Networks = netclass.MustNetworks()
	}
	zone, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		zone = time.UTC
	}
	return &Model{cfg: cfg, src: src, opt: opt, org: newOrgMap(cfg.Organisation), zone: zone,
		devices: map[string]*Device{}, byID: map[string]string{}, holder: map[string]string{}, open: map[string]counted{}}
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
	if f.Phase == events.FlowStart {
		return m.advance(ev.Time) // counted from its update and end events
	}
	m.flows++
	cur := counted{f.OrigPackets, f.RespPackets, f.OrigBytes, f.RespBytes, f.Last, f.App}
	delta := cur
	prev, hadPrev := m.open[f.FlowID]
	if hadPrev {
		delta = counted{sub(cur.pktO, prev.pktO), sub(cur.pktR, prev.pktR), sub(cur.byteO, prev.byteO),
			sub(cur.byteR, prev.byteR), f.Last, appDelta(f.App, prev.app)}
	}
	if f.Phase == events.FlowUpdate {
		m.open[f.FlowID] = cur
	} else {
		delete(m.open, f.FlowID)
	}
	activeFrom := f.Start
	if hadPrev && prev.last.After(activeFrom) {
		activeFrom = prev.last
	}
	out := m.advance(ev.Time)
	for i, ep := range []events.Endpoint{f.Orig, f.Resp} {
		d, changes := m.endpoint(ev, ep, f.VLAN)
		out = append(out, changes...)
		if d == nil {
			continue
		}
		if f.Phase == events.FlowEnd {
			d.Traffic.Flows++
		}
		sent, recv, psent, precv := delta.byteO, delta.byteR, delta.pktO, delta.pktR
		if i == 1 {
			sent, recv, psent, precv = recv, sent, precv, psent
		}
		d.Traffic.PacketsSent += psent
		d.Traffic.BytesSent += sent
		d.Traffic.PacketsReceived += precv
		d.Traffic.BytesReceived += recv
		m.use(d, activeFrom, f.Last, sent, recv, f.Phase == events.FlowEnd, i == 0, delta.app)
		if f.AppProto != "" && insertSorted(&d.Protocols, f.AppProto, 64) && m.reads(d, "protocol:"+f.AppProto) {
			d.dirty = true
		}
		if i == 1 && served(f) {
			svc := f.Transport + "/" + strconv.Itoa(int(f.Resp.Port))
			if insertSorted(&d.Services, svc, 64) && m.reads(d, "service:"+svc) {
				d.dirty = true
			}
		}
	}
	return append(out, m.settle(ev)...)
}

// served tells whether the responder of a flow really offered the service:
// it answered (a TCP handshake completed, or UDP came back).
func served(f events.Flow) bool {
	switch f.Transport {
	case "tcp":
		switch f.State {
		case "S0", "REJ", "OTH", "SH", "SHR", "RSTOS0", "RSTRH":
			return false
		}
		return f.RespPackets > 0
	case "udp":
		return f.RespPackets > 0 && f.Resp.Port != 0
	}
	return false
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

func appDelta(cur, prev map[string]uint64) map[string]uint64 {
	if len(prev) == 0 {
		return cur
	}
	out := map[string]uint64{}
	for k, v := range cur {
		if d := sub(v, prev[k]); d > 0 {
			out[k] = d
		}
	}
	return out
}

// endpoint returns the device behind a flow endpoint, or nil when the
// endpoint is not a device of the monitored network (an internet address,
// a group address).
func (m *Model) endpoint(ev events.Event[events.Flow], ep events.Endpoint, vlan uint16) (*Device, []events.Event[events.DeviceChange]) {
	addr, err := netip.ParseAddr(ep.IP)
	if err != nil || !m.opt.Networks.IsLocal(addr) || addr.IsMulticast() || netclass.IsGroupMAC(ep.MAC) {
		return nil, nil
	}
	at := ev.Body.Last
	mac := ep.MAC
	if gw, ok := m.devices[events.DeviceKey(mac, "", vlan)]; ok && gw.Gateway && !gw.owns(ep.IP) {
		mac = "" // an address behind the router
	}
	if mac == "" && ep.MAC == "" {
		// No link layer (a raw IP capture): the holder of the address, if
		// known, is the device.
		if k := m.holder[holderKey(vlan, ep.IP)]; k != "" && m.devices[k] != nil {
			mac = m.devices[k].MAC
		}
	}
	d, out := m.device(events.DeviceKey(mac, ep.IP, vlan), mac, ep.IP, vlan, at, ev.ID)
	if d == nil {
		return nil, out
	}
	out = append(out, m.claim(d, ep.IP, "traffic", at, ev.ID)...)
	if d.Gateway && !d.owns(ep.IP) {
		// This address made the MAC a router: it belongs behind it.
		r, more := m.device(events.DeviceKey("", ep.IP, vlan), "", ep.IP, vlan, at, ev.ID)
		out = append(out, more...)
		if r != nil {
			out = append(out, m.claim(r, ep.IP, "traffic", at, ev.ID)...)
		}
		return r, out
	}
	return d, out
}

// device returns the device of a key, creating it.
func (m *Model) device(key, mac, ip string, vlan uint16, at time.Time, cause string) (*Device, []events.Event[events.DeviceChange]) {
	if d, ok := m.devices[key]; ok {
		var out []events.Event[events.DeviceChange]
		if !d.Online {
			d.Online = true
			out = append(out, m.changeAt(at, d, events.DeviceChange{Change: events.ChangeOnline, Evidence: []string{cause},
				Summary: "back online after " + at.Sub(d.LastSeen).Round(time.Second).String() + " of silence"}))
		}
		if at.After(d.LastSeen) {
			d.LastSeen = at
		}
		if at.Before(d.FirstSeen) {
			d.FirstSeen = at
		}
		return d, out
	}
	if len(m.devices) >= m.cfg.MaxDevices {
		m.dropped++
		return nil, nil
	}
	d := &Device{ID: DeviceID(key), Key: key, MAC: mac, VLAN: vlan, FirstSeen: at, LastSeen: at, Online: true, dirty: true,
		Classification: classify.Result{Category: "unknown", Criticality: classify.Unknown}}
	switch {
	case mac == "":
		d.Routed = true
		d.Limitation = "known by IP only: its MAC is hidden by a router or the capture has no link layer; an address change looks like a new device"
	case netclass.IsLocallyAdministered(mac):
		d.LocallyAdministered = true
		d.Limitation = "locally administered (possibly randomised) MAC: it names no vendor and may change"
	case m.opt.Vendors != nil:
		if v, ok := m.opt.Vendors(mac); ok {
			d.OUIVendor = v
			m.setAttr(d, "vendor", v, "oui", 0.5, "MAC prefix registered to "+v, at, "", "")
		}
	}
	m.devices[key] = d
	m.byID[d.ID] = key
	m.locate(d)
	return d, []events.Event[events.DeviceChange]{m.changeAt(at, d, events.DeviceChange{Change: events.ChangeNew, Evidence: []string{cause}})}
}

// owns tells whether a gateway holds ip itself (learned from a lease or
// ARP, not only from traffic it forwarded).
func (d *Device) owns(ip string) bool {
	for _, a := range d.Addresses {
		if a.IP == ip && a.Source != "traffic" {
			return true
		}
	}
	return false
}

// claim binds ip to d: the address is d's now, released from any other
// device that held it; a new DHCP lease releases the device's previous
// leased address of the same family.
func (m *Model) claim(d *Device, ip, source string, at time.Time, evidence string) []events.Event[events.DeviceChange] {
	var out []events.Event[events.DeviceChange]
	i := slices.IndexFunc(d.Addresses, func(a Address) bool { return a.IP == ip })
	if i >= 0 && !d.Addresses[i].Current && !at.After(d.Addresses[i].Released) {
		// Traffic from before the release, reported late (a flow ends
		// after the lease changed): it does not take the address back.
		return out
	}
	if i < 0 && source == "traffic" {
		if d.Gateway {
			return out // forwarded traffic: the address is a device's behind it
		}
		if !d.Routed && m.trafficAddresses(d) >= m.cfg.GatewayAddresses {
			return append(out, m.becomeGateway(d, at, evidence)...)
		}
	}
	hk := holderKey(d.VLAN, ip)
	if other := m.holder[hk]; other != "" && other != d.Key {
		if o := m.devices[other]; o != nil {
			out = append(out, m.release(o, ip, at, evidence, "taken over by "+d.ID)...)
		}
	}
	m.holder[hk] = d.Key

	if i >= 0 {
		a := &d.Addresses[i]
		if at.After(a.LastSeen) {
			a.LastSeen = at
		}
		upgraded := false
		if source != "traffic" && a.Source != source && a.Source != "dhcp" {
			a.Source, upgraded = source, true
		}
		if a.Current {
			if upgraded && source == "dhcp" {
				out = append(out, m.releaseOtherLeases(d, ip, at, evidence)...)
			}
			return out
		}
		a.Current, a.Released = true, time.Time{}
	} else {
		d.Addresses = append(d.Addresses, Address{IP: ip, Source: source, FirstSeen: at, LastSeen: at, Current: true})
	}
	if source == "dhcp" {
		out = append(out, m.releaseOtherLeases(d, ip, at, evidence)...)
	}
	m.locate(d)
	// Addresses are not facts the rules read: no reclassification.
	// Old is the address the device used most recently before this one.
	old, oldAt := "", time.Time{}
	for _, a := range d.Addresses {
		if a.IP != ip && !a.LastSeen.Before(oldAt) {
			old, oldAt = a.IP, a.LastSeen
		}
	}
	return append(out, m.changeAt(at, d, events.DeviceChange{Change: events.ChangeAddress, Attribute: "ip",
		Old: old, New: ip, Evidence: []string{evidence}, Summary: "uses " + ip + " (" + source + ")"}))
}

// releaseOtherLeases ends the IPv4 addresses d used before the lease of
// ip: a DHCP client holds one IPv4 address per interface.
func (m *Model) releaseOtherLeases(d *Device, ip string, at time.Time, evidence string) []events.Event[events.DeviceChange] {
	if !isV4(ip) || d.Gateway {
		return nil
	}
	var out []events.Event[events.DeviceChange]
	for j := range d.Addresses {
		a := &d.Addresses[j]
		if a.IP != ip && a.Current && isV4(a.IP) {
			out = append(out, m.release(d, a.IP, at, evidence, "replaced by the lease of "+ip)...)
		}
	}
	return out
}

func (m *Model) release(d *Device, ip string, at time.Time, evidence, why string) []events.Event[events.DeviceChange] {
	for j := range d.Addresses {
		a := &d.Addresses[j]
		if a.IP == ip && a.Current {
			a.Current, a.Released = false, at
			if m.holder[holderKey(d.VLAN, ip)] == d.Key {
				delete(m.holder, holderKey(d.VLAN, ip))
			}
			return []events.Event[events.DeviceChange]{m.changeAt(at, d, events.DeviceChange{
				Change: events.ChangeAddressReleased, Attribute: "ip", Old: ip, Evidence: []string{evidence},
				Summary: "no longer uses " + ip + ": " + why})}
		}
	}
	return nil
}

func (m *Model) trafficAddresses(d *Device) int {
	n := 0
	for _, a := range d.Addresses {
		if a.Source == "traffic" && a.Current {
			n++
		}
	}
	return n
}

// becomeGateway marks d as a router: the addresses only seen in traffic it
// forwarded are released (the devices behind it are tracked by IP).
func (m *Model) becomeGateway(d *Device, at time.Time, evidence string) []events.Event[events.DeviceChange] {
	d.Gateway = true
	d.dirty = true
	var out []events.Event[events.DeviceChange]
	for _, a := range slices.Clone(d.Addresses) {
		if a.Source == "traffic" && a.Current {
			out = append(out, m.release(d, a.IP, at, evidence, "the device is a router; the address belongs to a device behind it")...)
		}
	}
	// Facts observed with the addresses behind the router were taken for
	// the router's: give them to the devices they describe.
	type moved struct {
		name string
		src  AttributeSource
	}
	var move []moved
	for i := 0; i < len(d.Attributes); i++ {
		a := &d.Attributes[i]
		kept := a.Sources[:0]
		for _, s := range a.Sources {
			if s.IP != "" && !d.owns(s.IP) && m.opt.Networks.IsLocalString(s.IP) {
				move = append(move, moved{a.Name, s})
			} else {
				kept = append(kept, s)
			}
		}
		a.Sources = kept
		if len(a.Sources) == 0 {
			d.Attributes = slices.Delete(d.Attributes, i, i+1)
			i--
			continue
		}
		resolve(a)
	}
	for _, mv := range move {
		r, more := m.device(events.DeviceKey("", mv.src.IP, d.VLAN), "", mv.src.IP, d.VLAN, mv.src.LastSeen, evidence)
		out = append(out, more...)
		if r == nil {
			continue
		}
		if len(r.Addresses) == 0 {
			r.Addresses = append(r.Addresses, Address{IP: mv.src.IP, Source: "traffic", FirstSeen: mv.src.FirstSeen, LastSeen: mv.src.LastSeen, Current: true})
			m.holder[holderKey(d.VLAN, mv.src.IP)] = r.Key
		}
		id := ""
		if len(mv.src.EventIDs) > 0 {
			id = mv.src.EventIDs[0]
		}
		m.setAttr(r, mv.name, mv.src.Value, mv.src.Protocol, mv.src.Confidence, mv.src.Evidence, mv.src.LastSeen, id, mv.src.IP)
		r.dirty = true
	}
	return out
}

func holderKey(vlan uint16, ip string) string { return strconv.Itoa(int(vlan)) + "/" + ip }

func isV4(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && a.Unmap().Is4()
}

// locate sets the organisation from the network map, unless the asset
// register placed the device.
func (m *Model) locate(d *Device) {
	if d.Org.Source == "register" {
		return
	}
	var ips []netip.Addr
	for _, a := range d.Addresses {
		if !a.Current {
			continue
		}
		if ip, err := netip.ParseAddr(a.IP); err == nil {
			ips = append(ips, ip)
		}
	}
	if o, ok := m.org.lookup(ips, d.VLAN); ok {
		d.Org = o
	}
}

// ObserveAttribute fuses one observation into its device and returns the
// changes it caused.
func (m *Model) ObserveAttribute(ev events.Event[events.Observation]) []events.Event[events.DeviceChange] {
	o := ev.Body
	m.observations++
	out := m.advance(ev.Time)
	key, mac := o.Device, o.MAC
	if mac != "" {
		if gw, ok := m.devices[events.DeviceKey(mac, "", o.VLAN)]; ok && gw.Gateway && o.IP != "" && !gw.owns(o.IP) && m.opt.Networks.IsLocalString(o.IP) {
			key, mac = events.DeviceKey("", o.IP, o.VLAN), "" // a fact about a device behind the router
		}
	}
	if o.IP != "" && !m.opt.Networks.IsLocalString(o.IP) {
		// A fact about an internet host (its MAC, if any, is the
		// router's) is not an inventory fact.
		return out
	}
	if mac == "" && o.IP != "" {
		// A fact keyed by IP (the dissector saw no usable MAC) belongs to
		// the device that holds the address now, if one does.
		if k := m.holder[holderKey(o.VLAN, o.IP)]; k != "" {
			key = k
			mac = m.devices[k].MAC
		}
	}
	d, changes := m.device(key, mac, o.IP, o.VLAN, ev.Time, ev.ID)
	out = append(out, changes...)
	if d == nil {
		return out
	}
	switch o.Attribute {
	case "ip":
		if m.opt.Networks.IsLocalString(o.Value) {
			out = append(out, m.claim(d, o.Value, o.Protocol, ev.Time, ev.ID)...)
		}
		return append(out, m.settle(ev)...)
	case "dhcp.released_ip":
		out = append(out, m.release(d, o.Value, ev.Time, ev.ID, "the device released its lease")...)
		return append(out, m.settle(ev)...)
	}
	if o.IP != "" && m.opt.Networks.IsLocalString(o.IP) && mac != "" {
		out = append(out, m.claim(d, o.IP, "traffic", ev.Time, ev.ID)...)
	}
	if c, ok := m.setAttr(d, o.Attribute, o.Value, o.Protocol, o.Confidence, o.Evidence, ev.Time, ev.ID, o.IP); ok {
		out = append(out, m.changeAt(ev.Time, d, c))
	}
	return append(out, m.settle(ev)...)
}

// settle reclassifies the devices whose facts changed while handling one
// event.
func (m *Model) settle(cause events.Message) []events.Event[events.DeviceChange] {
	var out []events.Event[events.DeviceChange]
	at := cause.Meta().Time
	// Only the devices of this event can be dirty; scanning them by key
	// keeps the output deterministic.
	var dirty []*Device
	for _, k := range m.touched(cause) {
		if d := m.devices[k]; d != nil && d.dirty {
			dirty = append(dirty, d)
		}
	}
	for _, d := range dirty {
		d.dirty = false
		if d.Asset == nil {
			if a := m.opt.Register.match(d); a != nil {
				m.applyAsset(d, a)
			}
		}
		if c, ok := m.classify(d); ok {
			c.Evidence = []string{cause.Meta().ID}
			out = append(out, m.changeAt(at, d, c))
		}
	}
	return out
}

// touched lists the device keys an event may have changed.
func (m *Model) touched(cause events.Message) []string {
	switch e := cause.(type) {
	case events.Event[events.Flow]:
		var keys []string
		for _, ep := range []events.Endpoint{e.Body.Orig, e.Body.Resp} {
			keys = append(keys, events.DeviceKey(ep.MAC, ep.IP, e.Body.VLAN), events.DeviceKey("", ep.IP, e.Body.VLAN))
		}
		return keys
	case events.Event[events.Observation]:
		return []string{e.Body.Device, events.DeviceKey("", e.Body.IP, e.Body.VLAN)}
	}
	return nil
}

// classify runs the classifier and reports a change of category, medical
// flag or criticality.
func (m *Model) classify(d *Device) (events.DeviceChange, bool) {
	if m.opt.Classifier == nil {
		return events.DeviceChange{}, false
	}
	r := m.opt.Classifier.Classify(m.facts(d))
	for _, dv := range r.Derived {
		m.setAttr(d, dv.Attribute, dv.Value, "fingerprint", dv.Confidence, dv.Because, d.LastSeen, "", "")
	}
	// The derived attributes came from these facts: they do not call for
	// another classification.
	d.dirty = false
	old := d.Classification
	d.Classification = r
	if old.Category == r.Category && old.Medical == r.Medical && old.Criticality == r.Criticality {
		return events.DeviceChange{}, false
	}
	return events.DeviceChange{Change: events.ChangeClassification, Attribute: "category",
		Old: old.Category, New: r.Category,
		Summary: "classified as " + r.Category + " (" + string(r.Criticality) + ") by rule " + r.Rule}, true
}

func (m *Model) facts(d *Device) classify.Facts {
	f := classify.Facts{MAC: d.MAC, OUIVendor: d.OUIVendor, Protocols: d.Protocols, Services: d.Services,
		Attributes: make(map[string][]string, len(d.Attributes))}
	for i := range d.Attributes {
		a := &d.Attributes[i]
		vals := []string{a.Value}
		for _, s := range a.Sources {
			if !slices.Contains(vals, s.Value) {
				vals = append(vals, s.Value)
			}
		}
		f.Attributes[a.Name] = vals
	}
	if d.Gateway {
		f.Attributes["network.role"] = []string{"gateway"}
	}
	return f
}

// advance moves the model's clock to at and reports the devices that went
// silent. The sweep runs once per minute of event time.
func (m *Model) advance(at time.Time) []events.Event[events.DeviceChange] {
	if !at.After(m.now) {
		return nil
	}
	m.now = at
	if at.Before(m.nextSweep) {
		return nil
	}
	m.nextSweep = at.Truncate(time.Minute).Add(time.Minute)
	var gone []*Device
	for _, d := range m.devices {
		if d.Online && at.Sub(d.LastSeen) >= m.cfg.OfflineAfter {
			gone = append(gone, d)
		}
	}
	slices.SortFunc(gone, func(a, b *Device) int { return cmp.Compare(a.Key, b.Key) })
	var out []events.Event[events.DeviceChange]
	for _, d := range gone {
		d.Online = false
		out = append(out, m.changeAt(d.LastSeen.Add(m.cfg.OfflineAfter), d, events.DeviceChange{Change: events.ChangeOffline,
			Summary: "silent since " + d.LastSeen.UTC().Format(time.RFC3339)}))
	}
	return out
}

func (m *Model) changeAt(at time.Time, d *Device, c events.DeviceChange) events.Event[events.DeviceChange] {
	c.Device = Snapshot(d)
	return events.MustEvent(at, m.src, c)
}

// Snapshot is the device as events carry it.
func Snapshot(d *Device) events.DeviceSnapshot {
	s := events.DeviceSnapshot{Key: d.Key, ID: d.ID, MAC: d.MAC, VLAN: d.VLAN, IPs: d.CurrentIPs(),
		Category: d.Classification.Category, Medical: d.Classification.Medical,
		Criticality: string(d.Classification.Criticality),
		Site:        d.Org.Site, Segment: d.Org.Segment, Department: d.Org.Department, Location: d.Org.Location}
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
		out = append(out, d.clone())
	}
	slices.SortFunc(out, func(a, b Device) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// Device returns a copy of the device with the given ID.
func (m *Model) Device(id string) (Device, bool) {
	if d := m.devices[m.byID[id]]; d != nil {
		return d.clone(), true
	}
	return Device{}, false
}

func (d *Device) clone() Device {
	c := *d
	c.Addresses = slices.Clone(d.Addresses)
	c.Attributes = make([]Attribute, len(d.Attributes))
	for i, a := range d.Attributes {
		a.Sources = slices.Clone(a.Sources)
		c.Attributes[i] = a
	}
	c.Protocols = slices.Clone(d.Protocols)
	c.Services = slices.Clone(d.Services)
	c.Usage = slices.Clone(d.Usage)
	for i := range c.Usage {
		c.Usage[i].Work = cloneMap(c.Usage[i].Work)
	}
	return c
}

func cloneMap(m map[string]uint64) map[string]uint64 {
	if m == nil {
		return nil
	}
	c := make(map[string]uint64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Stats returns the projection's counters.
func (m *Model) Stats() Stats {
	online := 0
	for _, d := range m.devices {
		if d.Online {
			online++
		}
	}
	return Stats{Devices: len(m.devices), Online: online, Flows: m.flows, Observations: m.observations, DevicesDropped: m.dropped}
}

// insertSorted inserts v into the sorted set s (bounded to max) and
// reports whether it was new.
func insertSorted(s *[]string, v string, max int) bool {
	j, found := slices.BinarySearch(*s, v)
	if found || len(*s) >= max {
		return false
	}
	*s = slices.Insert(*s, j, v)
	return true
}
