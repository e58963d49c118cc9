// Package dpi identifies application protocols from payload bytes and
// holds the interface and registry of the dissectors that read device
// facts out of them (see the subpackages, one per protocol).
package dpi

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync/atomic"
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

// Get returns the identifier registered under name, or nil.
func (r *Identifiers) Get(name string) Identifier {
	for _, id := range r.list {
		if id.Name() == name {
			return id
		}
	}
	return nil
}

// Names lists the registered protocol names in order.
func (r *Identifiers) Names() []string {
	names := make([]string, len(r.list))
	for i, id := range r.list {
		names[i] = id.Name()
	}
	return names
}

// Output collects what dissectors find in one packet or stream segment.
// The capture pipeline resets it, hands it to each dissector and publishes
// its contents; dissectors only append.
type Output struct {
	Observations []events.Observation
	Auths        []events.Auth
	// Counters are per-flow utilisation counters ("dicom.c_store_rq",
	// "hl7.messages"); the pipeline adds them to the flow's events.
	Counters []Counter
}

// Counter is an increment of a named per-flow counter.
type Counter struct {
	Name string
	N    uint64
}

// Reset empties out, keeping its storage.
func (o *Output) Reset() {
	o.Observations = o.Observations[:0]
	o.Auths = o.Auths[:0]
	o.Counters = o.Counters[:0]
}

// Count adds n to the flow counter name.
func (o *Output) Count(name string, n uint64) {
	o.Counters = append(o.Counters, Counter{Name: name, N: n})
}

// Side says which end of a packet a fact belongs to.
type Side uint8

// Sides of a packet.
const (
	Sender Side = iota
	Receiver
)

// Observe appends a fact about the sender or the receiver of p. The
// device is keyed by its MAC when the packet has one, else by its IP; the
// observation always carries both. On a mirror port the MAC of a routed
// peer is its router's: the inventory, which knows which MACs are
// routers, re-keys such facts to the device's IP.
func (o *Output) Observe(p *Packet, side Side, attr, value, protocol string, confidence float64, evidence string) {
	addr, m, hasMAC := p.Src, p.SrcMAC, p.HasMAC && p.SrcMAC != ([6]byte{})
	if side != Sender {
		addr, m, hasMAC = p.Dst, p.DstMAC, p.HasMAC && p.DstMAC != ([6]byte{}) && p.DstMAC[0]&1 == 0
	}
	device, mac, ip := deviceText(m, hasMAC, addr, p.VLAN)
	// Filled in place, field by field: appending a composite literal
	// builds it on the stack and copies its 144 bytes in 16-byte blocks,
	// which stall on the fields just written.
	o.Observations = append(o.Observations, events.Observation{})
	ob := &o.Observations[len(o.Observations)-1]
	ob.Device, ob.MAC, ob.IP, ob.VLAN = device, mac, ip, p.VLAN
	ob.Attribute, ob.Value, ob.Protocol, ob.Confidence = attr, value, protocol, confidence
	ob.Evidence, ob.FlowID = evidence, p.FlowID
}

// Endpoint returns the event endpoint of the sender or receiver of p.
func (p *Packet) Endpoint(side Side) events.Endpoint {
	if side == Sender {
		e := events.Endpoint{Port: p.SrcPort}
		if p.Src.IsValid() {
			e.IP = p.Src.String()
		}
		if p.HasMAC && p.SrcMAC != ([6]byte{}) {
			e.MAC = formatMAC(p.SrcMAC)
		}
		return e
	}
	e := events.Endpoint{Port: p.DstPort}
	if p.Dst.IsValid() {
		e.IP = p.Dst.String()
	}
	if p.HasMAC && p.DstMAC != ([6]byte{}) && p.DstMAC[0]&1 == 0 {
		e.MAC = formatMAC(p.DstMAC)
	}
	return e
}

// deviceText returns events.DeviceKey(mac, ip, vlan) with the MAC's text
// (when hasMAC) and the address's text (when valid), in one allocation:
// the MAC or the address is a part of the key. Observations are the
// sensor's most frequent event after flows; building the three strings
// apart (and the key with fmt) was a fifth of its allocations.
// TestDeviceTextIsDeviceKey holds it to events.DeviceKey.
func deviceText(m [6]byte, hasMAC bool, addr netip.Addr, vlan uint16) (device, mac, ip string) {
	var buf [96]byte
	b := buf[:0]
	if hasMAC {
		b = append(b, "mac:"...)
		b = appendMAC(b, m)
	} else {
		b = append(b, "ip:"...)
		if addr.IsValid() {
			b = addr.AppendTo(b)
		}
	}
	n := len(b)
	b = append(b, '/')
	b = strconv.AppendUint(b, uint64(vlan), 10)
	if !hasMAC {
		device = string(b)
		return device, "", device[3:n]
	}
	// The address's text follows the key in the same allocation.
	k := len(b)
	if addr.IsValid() {
		b = addr.AppendTo(b)
	}
	all := string(b)
	return all[:k], all[4:n], all[k:]
}

func appendMAC(b []byte, m [6]byte) []byte {
	const hexdigits = "0123456789abcdef"
	for i, v := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexdigits[v>>4], hexdigits[v&0xf])
	}
	return b
}

func formatMAC(m [6]byte) string {
	const hexdigits = "0123456789abcdef"
	var b [17]byte
	for i, v := range m {
		if i > 0 {
			b[i*3-1] = ':'
		}
		b[i*3] = hexdigits[v>>4]
		b[i*3+1] = hexdigits[v&0xf]
	}
	return string(b[:])
}

// Dissector reads device facts from single packets (datagram protocols,
// or TCP protocols whose facts fit in one segment) of the application
// protocols it declares. An error means the payload was malformed: it is
// counted, never fatal. Dissectors must not keep p's bytes and must not
// log per packet.
type Dissector interface {
	Name() string
	// Protocols lists the AppProto names (from the identifiers) whose
	// packets this dissector reads.
	Protocols() []string
	Dissect(p *Packet, out *Output) error
}

// StreamDissector reads the reassembled byte streams of TCP connections
// (PDUs that span segments: DICOM, HL7 over MLLP, POCT1-A). The pipeline
// creates one Stream per connection of a declared protocol.
type StreamDissector interface {
	Name() string
	Protocols() []string
	// NewStream returns the state for one connection; p is the packet
	// that identified it.
	NewStream(p *Packet) Stream
}

// Stream is a stream dissector's state for one TCP connection.
type Stream interface {
	// Data offers the bytes of direction p.FromOrig that Data has not
	// consumed yet, in stream order, ending with p's payload. It returns
	// how many it consumed: bytes not consumed are offered again, with the
	// next segment's appended (the pipeline bounds how much it keeps; see
	// capture.Configuration.StreamBuffer). A count larger than len(data)
	// skips that many bytes of the stream, for example the body of a PDU
	// the dissector does not need. ErrStreamDone stops the dissection of
	// the connection; any other error is counted and also stops it.
	Data(p *Packet, data []byte, out *Output) (int, error)
	// Gap reports that bytes of a direction were not captured (loss, a
	// connection picked up mid-stream, a buffer overflow). The stream must
	// resynchronise or return ErrStreamDone from its next Data.
	Gap(fromOrig bool)
	// End is called once when the connection's flow ends, so the stream can
	// report what only the end tells (an unanswered login, a summary).
	End(out *Output)
}

// ErrStreamDone tells the pipeline a stream dissector has nothing more to
// read in a connection.
var ErrStreamDone = errors.New("dpi: stream done")

// Frame is a link-layer frame without IP (LLDP, CDP): what frame
// dissectors get.
type Frame struct {
	Time           time.Time
	SrcMAC, DstMAC [6]byte
	VLAN           uint16
	// EtherType of the frame; 0 for 802.3 frames with an LLC header.
	EtherType uint16
	// For 802.3 LLC/SNAP frames: the SNAP OUI and protocol ID.
	SNAPOrg [3]byte
	SNAPPID uint16
	// Payload follows the Ethernet (and LLC/SNAP) header.
	Payload []byte
}

// FrameDissector reads device facts from non-IP frames.
type FrameDissector interface {
	Name() string
	// Match tells whether the frame is one this dissector reads.
	Match(f *Frame) bool
	DissectFrame(f *Frame, out *Output) error
}

// Dissectors is the registry of dissectors by application protocol.
type Dissectors struct {
	byProto map[string]*protoDissectors
	frames  []FrameDissector
	// last is the entry of the protocol looked up last: the pipeline asks
	// For and then StreamsFor of the same protocol for every packet, and
	// consecutive packets are often of one flow, so most lookups skip the
	// map's string hash (they were 2.5% of the sensor's time). Atomic, so
	// that a registry shared by goroutines stays race-free.
	last atomic.Pointer[protoDissectors]
}

// protoDissectors are the dissectors of one application protocol.
type protoDissectors struct {
	proto   string
	packet  []Dissector
	streams []StreamDissector
}

// NewDissectors builds a registry from Dissector, StreamDissector and
// FrameDissector values, refusing duplicate names and other types.
func NewDissectors(ds ...any) (*Dissectors, error) {
	r := &Dissectors{byProto: map[string]*protoDissectors{}}
	entry := func(proto string) *protoDissectors {
		e := r.byProto[proto]
		if e == nil {
			e = &protoDissectors{proto: proto}
			r.byProto[proto] = e
		}
		return e
	}
	seen := map[string]bool{}
	for _, d := range ds {
		named, ok := d.(interface{ Name() string })
		if !ok || d == nil || named.Name() == "" {
			return nil, fmt.Errorf("dissectors: %T is not a named dissector", d)
		}
		if seen[named.Name()] {
			return nil, fmt.Errorf("dissectors: %q registered twice", named.Name())
		}
		seen[named.Name()] = true
		matched := false
		if pd, ok := d.(Dissector); ok {
			matched = true
			for _, proto := range pd.Protocols() {
				e := entry(proto)
				e.packet = append(e.packet, pd)
			}
		}
		if sd, ok := d.(StreamDissector); ok {
			matched = true
			for _, proto := range sd.Protocols() {
				e := entry(proto)
				e.streams = append(e.streams, sd)
			}
		}
		if fd, ok := d.(FrameDissector); ok {
			matched = true
			r.frames = append(r.frames, fd)
		}
		if !matched {
			return nil, fmt.Errorf("dissectors: %q (%T) implements no dissector interface", named.Name(), d)
		}
	}
	return r, nil
}

// lookup returns the dissectors of proto, nil when it has none.
func (r *Dissectors) lookup(proto string) *protoDissectors {
	if e := r.last.Load(); e != nil && e.proto == proto {
		return e
	}
	e := r.byProto[proto]
	if e != nil {
		r.last.Store(e)
	}
	return e
}

// For returns the packet dissectors of an application protocol.
func (r *Dissectors) For(proto string) []Dissector {
	if r == nil || proto == "" {
		return nil
	}
	if e := r.lookup(proto); e != nil {
		return e.packet
	}
	return nil
}

// StreamsFor returns the stream dissectors of an application protocol.
func (r *Dissectors) StreamsFor(proto string) []StreamDissector {
	if r == nil || proto == "" {
		return nil
	}
	if e := r.lookup(proto); e != nil {
		return e.streams
	}
	return nil
}

// Frames returns the frame dissectors.
func (r *Dissectors) Frames() []FrameDissector {
	if r == nil {
		return nil
	}
	return r.frames
}
