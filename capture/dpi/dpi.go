// Package dpi identifies application protocols from payload bytes and
// holds the interface and registry of the dissectors that read device
// facts out of them (see the subpackages, one per protocol).
package dpi

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-health/vigil/events"
)

// Transport protocol numbers used in Packet.Transport.
const (
	TCP = 6
	UDP = 17
)

// Packet is the view of one packet that identifiers and dissectors get. It
// points into the capture buffer: a dissector that keeps bytes must copy
// them.
type Packet struct {
	Time time.Time
	// Transport is the IP protocol number (TCP or UDP for payloads).
	Transport        uint8
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	// HasMAC tells whether SrcMAC/DstMAC were seen (not on raw IP links).
	HasMAC         bool
	SrcMAC, DstMAC [6]byte
	VLAN           uint16
	// FromOrig is true when the packet was sent by the flow's originator.
	FromOrig bool
	// FlowID is the ID of the flow carrying the packet.
	FlowID string
	// Payload is the captured transport payload, possibly cut short by
	// the snap length.
	Payload []byte
}

// HasPort reports whether either side uses port p.
func (p *Packet) HasPort(port uint16) bool { return p.SrcPort == port || p.DstPort == port }

// Identifier recognises one application protocol from a payload.
// Identify must not keep p or its payload, must not allocate, and must be
// safe on any bytes.
type Identifier interface {
	Name() string
	Identify(p *Packet) bool
}

// Identifiers is an ordered registry of identifiers: the first that
// recognises a payload names the protocol.
type Identifiers struct {
	list []Identifier
}

// NewIdentifiers builds a registry, refusing duplicate names.
func NewIdentifiers(ids ...Identifier) (*Identifiers, error) {
	seen := map[string]bool{}
	for _, id := range ids {
		if id == nil || id.Name() == "" {
			return nil, errors.New("identifiers: nil or unnamed identifier")
		}
		if seen[id.Name()] {
			return nil, fmt.Errorf("identifiers: %q registered twice", id.Name())
		}
		seen[id.Name()] = true
	}
	return &Identifiers{list: append([]Identifier(nil), ids...)}, nil
}

// Identify returns the name of the first identifier that recognises p,
// or "".
func (r *Identifiers) Identify(p *Packet) string {
	if r == nil || len(p.Payload) == 0 {
		return ""
	}
	for _, id := range r.list {
		if id.Identify(p) {
			return id.Name()
		}
	}
	return ""
}

// Names lists the registered protocol names in order.
func (r *Identifiers) Names() []string {
	names := make([]string, len(r.list))
	for i, id := range r.list {
		names[i] = id.Name()
	}
	return names
}

// Dissector reads device facts from the packets of the application
// protocols it declares. Dissect appends what it found to out and returns
// it; an error means the payload was malformed (it is counted, never
// fatal). Dissectors must not keep p's bytes and must not log per packet.
type Dissector interface {
	Name() string
	// Protocols lists the AppProto names (from the identifiers) whose
	// packets this dissector reads.
	Protocols() []string
	Dissect(p *Packet, out []events.Observation) ([]events.Observation, error)
}

// Dissectors is the registry of dissectors by application protocol.
type Dissectors struct {
	byProto map[string][]Dissector
}

// NewDissectors builds a registry, refusing duplicate dissector names.
func NewDissectors(ds ...Dissector) (*Dissectors, error) {
	r := &Dissectors{byProto: map[string][]Dissector{}}
	seen := map[string]bool{}
	for _, d := range ds {
		if d == nil || d.Name() == "" {
			return nil, errors.New("dissectors: nil or unnamed dissector")
		}
		if seen[d.Name()] {
			return nil, fmt.Errorf("dissectors: %q registered twice", d.Name())
		}
		seen[d.Name()] = true
		for _, proto := range d.Protocols() {
			r.byProto[proto] = append(r.byProto[proto], d)
		}
	}
	return r, nil
}

// For returns the dissectors of an application protocol.
func (r *Dissectors) For(proto string) []Dissector {
	if r == nil || proto == "" {
		return nil
	}
	return r.byProto[proto]
}
