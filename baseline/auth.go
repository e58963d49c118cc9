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
	dv, ok := m.failedLogin(a.Client, a.Server, a.VLAN, a.Protocol, a.FlowID, ev.Time)
	if !ok {
		return nil
	}
	return []events.Event[events.Deviation]{events.MustEvent(ev.Time, m.src, dv)}
}

// failedLogin counts one failed attempt by client on server at event time
// at and returns the auth_failures deviation it completes, if any.
func (m *Model) failedLogin(client, server events.Endpoint, vlan uint16, protocol, flowID string, at time.Time) (events.Deviation, bool) {
	var d *device
	f := authFailure{at: at, port: server.Port, protocol: protocol, flowID: flowID}
	dir := "outbound"
	switch {
	case m.isLocal(client):
		d = m.authDevice(client, vlan, at)
		f.other = server
	case m.isLocal(server):
		d = m.authDevice(server, vlan, at)
		f.other = events.Endpoint{MAC: client.MAC, IP: client.IP}
		dir = "inbound"
	default:
		m.authIgnored++
		return events.Deviation{}, false
	}
	if d == nil {
		return events.Deviation{}, false
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
		return events.Deviation{}, false
	}
	// The ring holds the last AuthThreshold failures; they are a burst
	// when they all fall within AuthWindow.
	lo, hi := b.ring[0].at, b.ring[0].at
	for _, x := range b.ring[1:] {
		lo, hi = minTime(lo, x.at), maxTime(hi, x.at)
	}
	if hi.Sub(lo) > m.cfg.AuthWindow {
		return events.Deviation{}, false
	}
	if !b.raised.IsZero() && at.Sub(b.raised) <= m.cfg.AuthWindow {
		return events.Deviation{}, false
	}
	b.raised = at
	m.deviations++
	return m.authDeviation(d, b, dir, hi.Sub(lo), at), true
}

// sshGuess counts an SSH session whose server sent too little to have
// let the client in as a failed login: SSH encrypts the outcome, and a
// session that ends after the key exchange and a few authentication
// round trips is how password guessing looks on the wire (the heuristic
// of Bro's SSH analyser, authentication_data_size). Sessions without a
// key exchange (banner grabs) are not logins at all.
func (m *Model) sshGuess(f events.Flow, at time.Time, emit func(events.Deviation)) {
	if m.cfg.SSHLoginBytes == 0 || f.AppProto != "ssh" || f.Phase != events.FlowEnd {
		return
	}
	if f.OrigPayload < sshKexBytes || f.RespPayload < sshKexBytes || f.RespPayload >= m.cfg.SSHLoginBytes {
		return
	}
	m.sshGuesses++
	if dv, ok := m.failedLogin(f.Orig, f.Resp, f.VLAN, "ssh", f.FlowID, at); ok {
		m.deviations-- // emit counts it
		emit(dv)
	}
}

// sshKexBytes is the least payload each side sends in an SSH key exchange
// (version line, KEXINIT and the key exchange messages).
const sshKexBytes = 1000

func (m *Model) authDevice(ep events.Endpoint, vlan uint16, at time.Time) *device {
	d := m.device(events.DeviceKey(ep.MAC, ep.IP, vlan), ep.MAC, vlan, at)
	if d != nil {
		d.addIP(ep.IP)
		m.regroup(d)
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
