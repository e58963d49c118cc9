package enforce

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigil-health/vigil/events"
)

// RequestID derives a block's ID from its decision and its request: a
// redelivered decision gives the same IDs, so the desired set never holds
// a request twice.
func RequestID(decisionID string, req events.EnforceRequest) string {
	b, _ := json.Marshal(req) // EnforceRequest always encodes
	sum := sha256.Sum256(append(append([]byte(decisionID), 0), b...))
	return "req-" + hex.EncodeToString(sum[:8])
}

// CanonicalScope checks a scope and writes its addresses in canonical
// form: the error names what cannot be enforced as written.
func CanonicalScope(s events.BlockScope) (events.BlockScope, error) {
	if s.IP == "" && s.PeerIP != "" {
		s.IP, s.PeerIP = s.PeerIP, ""
	}
	var fam [2]int
	for i, p := range []*string{&s.IP, &s.PeerIP} {
		if *p == "" {
			continue
		}
		a, err := netip.ParseAddr(*p)
		if err != nil || a.Zone() != "" {
			return s, fmt.Errorf("address %q does not parse", *p)
		}
		a = a.Unmap()
		if a.IsUnspecified() || a.IsMulticast() {
			return s, fmt.Errorf("address %s is not a host address", a)
		}
		*p, fam[i] = a.String(), a.BitLen()
	}
	if fam[1] != 0 && fam[0] != fam[1] {
		return s, fmt.Errorf("scope pairs an IPv4 and an IPv6 address (%s, %s)", s.IP, s.PeerIP)
	}
	if s.MAC != "" {
		hw, err := net.ParseMAC(s.MAC)
		if err != nil || len(hw) != 6 {
			return s, fmt.Errorf("mac %q is not an Ethernet address", s.MAC)
		}
		if s.IP != "" {
			return s, errors.New("scope combines a mac with addresses: block one or the other")
		}
		s.MAC = hw.String()
	}
	s.Transport = strings.ToLower(s.Transport)
	switch {
	case s.Port == 0 && s.Transport != "":
		return s, fmt.Errorf("transport %s without a port: name the port", s.Transport)
	case s.Port != 0 && s.IP == "":
		return s, errors.New("port without an address")
	case s.Port != 0 && !slices.Contains([]string{"", "tcp", "udp", "sctp"}, s.Transport):
		return s, fmt.Errorf("port %d with transport %q: want tcp, udp or sctp (or none for both tcp and udp)", s.Port, s.Transport)
	case s.IP == "" && s.MAC == "":
		return s, errors.New("scope names no address")
	}
	return s, nil
}

// rateBucket is a token bucket refilled in event time, so that a replay of
// the same decisions passes and holds the same blocks.
type rateBucket struct {
	Tokens float64   `json:"tokens"`
	At     time.Time `json:"at"`
}

// take refills the bucket up to at and takes a token if there is one.
func (b *rateBucket) take(cfg RateLimitConfiguration, at time.Time) bool {
	if cfg.Blocks == 0 {
		return true
	}
	b.refill(cfg, at)
	if b.Tokens < 1 {
		return false
	}
	b.Tokens--
	return true
}

func (b *rateBucket) refill(cfg RateLimitConfiguration, at time.Time) {
	if b.At.IsZero() {
		b.Tokens, b.At = float64(cfg.Burst), at
		return
	}
	if at.After(b.At) {
		rate := float64(cfg.Blocks) / cfg.Per.Seconds()
		b.Tokens = math.Min(float64(cfg.Burst), b.Tokens+at.Sub(b.At).Seconds()*rate)
		b.At = at
	}
}

// gate applies the patient-safety rules to one block.
type gate struct {
	cfg      Configuration
	critical []criticalSystem
}

type criticalSystem struct {
	name     string
	prefixes []netip.Prefix
	devices  map[string]bool
}

func newGate(cfg Configuration) *gate {
	g := &gate{cfg: cfg}
	for _, s := range cfg.CriticalSystems {
		cs := criticalSystem{name: s.Name, devices: map[string]bool{}}
		for _, a := range s.Addresses {
			if p, err := parsePrefix(a); err == nil { // validated before
				cs.prefixes = append(cs.prefixes, p)
			}
		}
		for _, d := range s.Devices {
			cs.devices[strings.ToLower(d)] = true
		}
		g.critical = append(g.critical, cs)
	}
	return g
}

// judgement is what the gate made of a block.
type judgement struct {
	state State
	scope events.BlockScope
	// narrowed is set when the gate replaced the requested scope.
	narrowed bool
	// reasons name each rule that held, narrowed, rejected or passed it.
	reasons []string
	// rateLimited is true when only the rate limit held the block.
	rateLimited bool
}

// judge decides one block: rejected when its scope cannot be enforced,
// pending when a rule holds it for a person, active otherwise. The rate
// limit is consulted last, only for a block nothing else held, so that
// held blocks do not use tokens; take is called then.
func (g *gate) judge(b *Block, peer *events.Endpoint, killSwitch string, take func() (bool, float64)) judgement {
	scope, err := CanonicalScope(b.Scope)
	if err != nil {
		return judgement{state: StateRejected, scope: b.Scope, reasons: []string{"invalid scope: " + err.Error()}}
	}
	j := judgement{scope: scope}
	hold := func(format string, args ...any) { j.reasons = append(j.reasons, fmt.Sprintf(format, args...)) }
	held := 0
	snap := b.Snapshot
	label := b.Device
	if snap != nil {
		label = deviceLabel(*snap)
	}

	// Narrowest scope: isolating a medical (or held) device cuts every
	// one of its connections; blocking the peer it misbehaved with does
	// the job without that risk.
	if isolates(scope, snap, b.Device) && (snap == nil || snap.Medical || g.needsApproval(snap.Criticality)) {
		if n, ok := narrowTo(scope, snap, peer); ok {
			j.scope, j.narrowed = n, true
			hold("narrowest scope: isolating %s would cut all its traffic; narrowed to its traffic with %s", label, n.PeerIP)
		} else {
			held++
			hold("narrowest scope: isolating %s (medical or unclassified) needs approval; no peer to narrow to", label)
		}
	}

	// Patient safety: the device's classification.
	switch {
	case snap == nil:
		held++
		hold("patient safety: %s is unknown to the gate (the decision raised no alert with a device snapshot): approval required", label)
	case g.needsApproval(snap.Criticality):
		held++
		hold("patient safety: %s is %s (%s): approval required", label, strings.ReplaceAll(snap.Criticality, "_", "-"), orUnknown(snap.Category))
	case snap.Medical && (snap.Criticality == "" || snap.Criticality == "unknown"):
		held++
		hold("patient safety: %s is a medical device of unknown criticality (%s): approval required", label, orUnknown(snap.Category))
	case g.cfg.HoldUnclassified && (snap.Criticality == "" || snap.Criticality == "unknown"):
		held++
		hold("patient safety: %s is unclassified and enforce.hold_unclassified is on: approval required", label)
	}

	// Critical systems, on either end of the block.
	for _, cs := range g.critical {
		if what, ok := cs.matches(j.scope, b.Device, snap); ok {
			held++
			hold("critical system %s (%s): never blocked without approval of this block", cs.name, what)
		}
	}

	if killSwitch != "" {
		held++
		hold("kill switch is on (%s): nothing new is enforced without approval", killSwitch)
	}

	if held > 0 {
		j.state = StatePending
		return j
	}
	ok, left := take()
	if !ok {
		j.state, j.rateLimited = StatePending, true
		r := g.cfg.RateLimit
		hold("rate limit: more than %d new blocks per %s (burst %d) in event time: approval required", r.Blocks, r.Per, r.Burst)
		return j
	}
	j.state = StateActive
	crit := "unclassified"
	if snap != nil && snap.Criticality != "" {
		crit = snap.Criticality
	}
	hold("passed: %s is %s, no critical system in scope (%s), rate limit ok (%.0f left)", label, crit, ScopeKind(j.scope), left)
	return j
}

func (g *gate) needsApproval(criticality string) bool {
	return criticality != "" && slices.Contains(g.cfg.ApprovalCriticalities, criticality)
}

// matches reports whether the scope or the device touch the system.
func (cs criticalSystem) matches(s events.BlockScope, device string, snap *events.DeviceSnapshot) (string, bool) {
	for _, ip := range []string{s.IP, s.PeerIP} {
		if ip == "" {
			continue
		}
		a, err := netip.ParseAddr(ip)
		if err != nil {
			continue
		}
		for _, p := range cs.prefixes {
			if p.Contains(a) {
				return ip + " in " + p.String(), true
			}
		}
	}
	for _, k := range []string{device, s.MAC} {
		if k != "" && cs.devices[strings.ToLower(k)] {
			return k, true
		}
	}
	if snap != nil && snap.MAC != "" && cs.devices[strings.ToLower(snap.MAC)] && scopeHasDevice(s, snap) {
		return snap.MAC, true
	}
	return "", false
}

// isolates reports whether the scope cuts a whole device off: one address
// (or MAC) of the device with no peer and no port.
func isolates(s events.BlockScope, snap *events.DeviceSnapshot, device string) bool {
	if s.PeerIP != "" || s.Port != 0 {
		return false
	}
	if snap == nil {
		return true // it may be the device: treated as if it were
	}
	return scopeHasDevice(s, snap)
}

func scopeHasDevice(s events.BlockScope, snap *events.DeviceSnapshot) bool {
	if s.MAC != "" && strings.EqualFold(s.MAC, snap.MAC) {
		return true
	}
	for _, ip := range snap.IPs {
		if a, err := netip.ParseAddr(ip); err == nil && a.Unmap().String() == s.IP {
			return true
		}
	}
	return false
}

// narrowTo replaces a device isolation by the pair (device, peer) when the
// alert names a peer of the same family.
func narrowTo(s events.BlockScope, snap *events.DeviceSnapshot, peer *events.Endpoint) (events.BlockScope, bool) {
	if peer == nil || peer.IP == "" {
		return s, false
	}
	pa, err := netip.ParseAddr(peer.IP)
	if err != nil {
		return s, false
	}
	pa = pa.Unmap()
	ip := s.IP
	if ip == "" && snap != nil { // a MAC isolation: use the device's address
		for _, cand := range snap.IPs {
			if a, err := netip.ParseAddr(cand); err == nil && a.Unmap().BitLen() == pa.BitLen() {
				ip = a.Unmap().String()
				break
			}
		}
	}
	a, err := netip.ParseAddr(ip)
	if err != nil || a.BitLen() != pa.BitLen() || a == pa {
		return s, false
	}
	return events.BlockScope{IP: ip, PeerIP: pa.String()}, true
}

func deviceLabel(s events.DeviceSnapshot) string {
	if h := s.Attributes["hostname"]; h != "" {
		return h
	}
	if len(s.IPs) > 0 {
		return s.IPs[0]
	}
	return s.Key
}

func orUnknown(s string) string {
	if s == "" {
		return "category unknown"
	}
	return s
}
