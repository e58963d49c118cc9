package baseline

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/netclass"
)

// authBurst holds a device's latest failed authentication attempts: at
// most AuthThreshold of them, in a ring.
type authBurst struct {
	ring   []authFailure
	next   int       // index of the oldest attempt once the ring is full
	raised time.Time // event time of the last auth_failures raised
}

// authFailure is one failed attempt as the device that owns it saw it.
type authFailure struct {
	at       time.Time
	other    events.Endpoint // the server for a client, the client for a server
	port     uint16          // the server port
	protocol string
	flowID   string
}

// ObserveAuth judges one authentication attempt and returns the
// deviations it caused. Failed attempts are counted per client device:
// AuthThreshold failures within AuthWindow raise one auth_failures
// deviation, at most one per AuthWindow and device, whether the device is
// ready or not (a brute force is never learned as normal; the policy
// weighs Baseline.Ready). A client outside the monitored network is
// counted on the local server it attacks instead (direction inbound).
func (m *Model) ObserveAuth(ev events.Event[events.Auth]) []events.Event[events.Deviation] {
	a := ev.Body
	m.advance(ev.Time)
	if a.Result != events.AuthFailure {
		return nil
	}
	var d *device
	f := authFailure{at: ev.Time, port: a.Server.Port, protocol: a.Protocol, flowID: a.FlowID}
	dir := "outbound"
	switch {
	case m.isLocal(a.Client):
		d = m.authDevice(a.Client, a.VLAN, ev.Time)
		f.other = a.Server
	case m.isLocal(a.Server):
		d = m.authDevice(a.Server, a.VLAN, ev.Time)
		f.other = events.Endpoint{MAC: a.Client.MAC, IP: a.Client.IP}
		dir = "inbound"
	default:
		m.authIgnored++
		return nil
	}
	if d == nil {
		return nil
	}
	m.authFailures++
	b := d.auth
	if b == nil {
		b = &authBurst{ring: make([]authFailure, 0, m.cfg.AuthThreshold)}
		d.auth = b
	}
	if len(b.ring) < m.cfg.AuthThreshold {
		b.ring = append(b.ring, f)
	} else {
		b.ring[b.next] = f
		b.next = (b.next + 1) % len(b.ring)
	}
	if len(b.ring) < m.cfg.AuthThreshold {
		return nil
	}
	// The ring holds the last AuthThreshold failures; they are a burst
	// when they all fall within AuthWindow.
	lo, hi := b.ring[0].at, b.ring[0].at
	for _, x := range b.ring[1:] {
		lo, hi = minTime(lo, x.at), maxTime(hi, x.at)
	}
	if hi.Sub(lo) > m.cfg.AuthWindow {
		return nil
	}
	if !b.raised.IsZero() && ev.Time.Sub(b.raised) <= m.cfg.AuthWindow {
		return nil
	}
	b.raised = ev.Time
	dv := m.authDeviation(d, b, dir, hi.Sub(lo), ev.Time)
	m.deviations++
	return []events.Event[events.Deviation]{events.MustEvent(ev.Time, m.src, dv)}
}

func (m *Model) authDevice(ep events.Endpoint, vlan uint16, at time.Time) *device {
	d := m.device(events.DeviceKey(ep.MAC, ep.IP, vlan), ep.MAC, vlan, at)
	if d != nil {
		d.addIP(ep.IP)
	}
	return d
}

// isLocal says whether an endpoint is a device of the monitored network.
func (m *Model) isLocal(ep events.Endpoint) bool {
	addr, err := netip.ParseAddr(ep.IP)
	return err == nil && m.nets.IsLocal(addr) && !netclass.IsGroupMAC(ep.MAC)
}

// authDeviation describes a burst: the victim is the (address, protocol)
// with the most failures, the latest on a tie.
func (m *Model) authDeviation(d *device, b *authBurst, dir string, span time.Duration, at time.Time) events.Deviation {
	ordered := append(slices.Clone(b.ring[b.next:]), b.ring[:b.next]...)
	type victim struct {
		ip, protocol string
	}
	counts := map[victim]int{}
	others := map[string]bool{}
	var best authFailure
	bestN := 0
	var flows []string
	for _, f := range ordered {
		v := victim{f.other.IP, f.protocol}
		counts[v]++
		others[f.other.IP] = true
		if counts[v] >= bestN {
			best, bestN = f, counts[v]
		}
		if f.flowID != "" && !slices.Contains(flows, f.flowID) {
			flows = append(flows, f.flowID)
		}
	}
	ctx := m.context(d, at)
	ctx.Metric, ctx.Observed, ctx.Threshold = "auth_failures", float64(len(ordered)), float64(m.cfg.AuthThreshold)
	peer := best.other
	var summary string
	if dir == "outbound" {
		summary = fmt.Sprintf("%s had %d failed logins on %d server(s) within %s (threshold %d within %s); most against %s:%d (%s, %d attempts).",
			d.label(), len(ordered), len(others), span.Round(time.Second), m.cfg.AuthThreshold, m.cfg.AuthWindow, peer.IP, best.port, best.protocol, bestN)
	} else {
		summary = fmt.Sprintf("%s refused %d logins from %d client(s) outside the monitored network within %s (threshold %d within %s); most from %s (%s on port %d, %d attempts).",
			d.label(), len(ordered), len(others), span.Round(time.Second), m.cfg.AuthThreshold, m.cfg.AuthWindow, peer.IP, best.protocol, best.port, bestN)
	}
	return events.Deviation{
		Type: events.DeviationAuthFailures, Device: m.snapshot(d), Direction: dir, Peer: &peer,
		Port: best.port, AppProto: best.protocol, Count: len(ordered),
		Summary: summary, Baseline: ctx, Evidence: flows,
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
