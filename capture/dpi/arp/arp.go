// Package arp reads address bindings from ARP: the sender of a request or
// reply states its own IPv4 address and MAC. On a mirror port that is the
// most direct evidence of which device holds an address on the local
// segment, and it works for devices with static addresses that never use
// DHCP.
package arp

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// Protocol is the Observation protocol name.
const Protocol = "arp"

// EtherType of ARP.
const EtherType = 0x0806

// Dissector reads ARP frames. It keeps no state.
type Dissector struct{}

var _ dpi.FrameDissector = Dissector{}

// New returns an ARP dissector.
func New() Dissector { return Dissector{} }

// Name implements dpi.FrameDissector.
func (Dissector) Name() string { return "arp" }

// Match implements dpi.FrameDissector.
func (Dissector) Match(f *dpi.Frame) bool { return f.EtherType == EtherType }

// ErrMalformed is returned for frames that are not Ethernet/IPv4 ARP.
var ErrMalformed = errors.New("arp: not an Ethernet/IPv4 request or reply")

// DissectFrame implements dpi.FrameDissector.
func (Dissector) DissectFrame(f *dpi.Frame, out *dpi.Output) error {
	b := f.Payload
	// htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4, op 1 or 2.
	if len(b) < 28 || binary.BigEndian.Uint16(b[0:2]) != 1 || binary.BigEndian.Uint16(b[2:4]) != 0x0800 ||
		b[4] != 6 || b[5] != 4 {
		return ErrMalformed
	}
	op := binary.BigEndian.Uint16(b[6:8])
	if op != 1 && op != 2 {
		return ErrMalformed
	}
	sha := net.HardwareAddr(b[8:14])
	spa := netip.AddrFrom4([4]byte(b[14:18]))
	if spa.IsUnspecified() || sha[0]&1 != 0 || isZero(sha) {
		return nil // an address probe (RFC 5227) or a bogus sender: it claims nothing
	}
	evidence := "ARP request sender"
	if op == 2 {
		evidence = "ARP reply sender"
	}
	if tpa := netip.AddrFrom4([4]byte(b[24:28])); tpa == spa {
		evidence = "gratuitous ARP"
	}
	mac := sha.String()
	out.Observations = append(out.Observations, events.Observation{
		Device: events.DeviceKey(mac, "", f.VLAN), MAC: mac, VLAN: f.VLAN,
		Attribute: dpi.AttrIP, Value: spa.String(), Protocol: Protocol, Confidence: 0.9, Evidence: evidence,
	})
	return nil
}

func isZero(m net.HardwareAddr) bool {
	for _, b := range m {
		if b != 0 {
			return false
		}
	}
	return true
}
