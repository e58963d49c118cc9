package baseline

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// LearnRequest is a person's "learn this": an edge (Peer set: the device
// talks to Peer on Transport/Port) or a service (Peer empty: the device
// answers on Transport/Port) to take as normal for one device from now
// on. Reason is kept for the audit trail of the caller.
type LearnRequest struct {
	// Device is the device key (events.DeviceKey).
	Device    string `json:"device"`
	Peer      string `json:"peer,omitempty"`
	Transport string `json:"transport"`
	Port      uint16 `json:"port"`
	AppProto  string `json:"app_proto,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// ErrUnknownDevice is returned for a device the baseline never saw.
var ErrUnknownDevice = errors.New("baseline: unknown device")

// Learn adds an edge or a service to a device's model, as if it had been
// seen while learning; a cause already raised for it is forgotten, so
// that a later departure of the same kind would be raised again only
// once the edge is unlearned (it is not: learned stays learned).
func (m *Model) Learn(r LearnRequest) error {
	d, ok := m.devices[r.Device]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownDevice, r.Device)
	}
	if r.Transport != "tcp" && r.Transport != "udp" && r.Port != 0 {
		return fmt.Errorf("learn: transport %q has no ports", r.Transport)
	}
	if r.Transport == "" {
		return errors.New("learn: transport is required")
	}
	if r.Peer == "" {
		if _, known := d.services[serviceKey{r.Transport, r.Port}]; known {
			return nil
		}
		if d.size() >= m.cfg.MaxEdgesPerDevice {
			m.edgesDropped++
			d.full = true
			return fmt.Errorf("learn: device %s holds %d edges and services already (max_edges_per_device)", r.Device, d.size())
		}
		d.services[serviceKey{r.Transport, r.Port}] = r.AppProto
		d.classDirty, d.groupStale = true, true
		m.learned++
		return nil
	}
	if _, err := netip.ParseAddr(r.Peer); err != nil {
		return fmt.Errorf("learn: peer %q is not an IP address", r.Peer)
	}
	ek := edgeKey{peer: r.Peer, transport: r.Transport, port: r.Port}
	before := d.size()
	m.learnEdge(d, ek, r.AppProto)
	if _, ok := d.edges[ek]; !ok {
		return fmt.Errorf("learn: device %s holds %d edges and services already (max_edges_per_device)", r.Device, before)
	}
	if r.AppProto != "" {
		d.edges[ek] = r.AppProto
	}
	m.learned++
	return nil
}

// Confirm ends a device's learning now (the newest event time the model
// has seen): a person says what it did so far is normal. In the
// "confirmed" learning mode this is the only way a device becomes ready.
func (m *Model) Confirm(key string) error {
	d, ok := m.devices[key]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownDevice, key)
	}
	if !d.confirmedAt.IsZero() {
		return nil
	}
	at := m.now
	if at.IsZero() {
		at = d.firstSeen
	}
	d.confirmedAt = at
	m.confirmed++
	return nil
}

// Readiness returns the readiness of one device.
func (m *Model) Readiness(key string) (Readiness, bool) {
	d, ok := m.devices[key]
	if !ok {
		return Readiness{}, false
	}
	return m.readiness(d), true
}

func (m *Model) readiness(d *device) Readiness {
	end := m.learnEnd(d)
	r := Readiness{Key: d.key, FirstSeen: d.firstSeen, Ready: m.ready(d, m.now), Mode: m.cfg.LearningMode,
		Confirmed: !d.confirmedAt.IsZero(), ConfirmedAt: d.confirmedAt,
		Flows: d.flows, Peers: len(d.peers), Edges: len(d.edges), Services: len(d.services), Saturated: d.full,
		VolumeHours: d.vol.samples, HourlyP95Bytes: d.vol.p95, MemoryBytes: d.memory(), PeerGroup: m.groupKey(d)}
	if !end.Equal(neverEnds) {
		r.LearningEnd = end
	}
	// Observed is how long the device has been watched while learning:
	// up to now, or to the end of its learning.
	until := m.now
	if !end.Equal(neverEnds) && end.Before(until) {
		until = end
	}
	if start := m.learnStart(d); until.After(start) {
		r.ObservedS = int64(until.Sub(start) / time.Second)
	}
	for h := range 24 {
		if d.activeHours&(1<<h) != 0 {
			r.ActiveHours = append(r.ActiveHours, h)
		}
	}
	return r
}
