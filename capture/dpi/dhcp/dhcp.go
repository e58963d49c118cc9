// Package dhcp reads device facts from DHCPv4 messages: the client's host
// name, vendor class, client identifier, parameter request list (a
// fingerprint of its DHCP stack), requested address and the address the
// server assigned. Facts are keyed by the client hardware address.
package dhcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// Protocol is the Observation protocol name.
const Protocol = "dhcp"

// Dissector reads DHCPv4 messages. It keeps no state between packets.
type Dissector struct {
	layer layers.DHCPv4
}

var _ dpi.Dissector = (*Dissector)(nil)

// New returns a DHCP dissector. Each capture worker needs its own.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.Dissector.
func (*Dissector) Name() string { return "dhcp" }

// Protocols implements dpi.Dissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoDHCP} }

// ErrNotEthernet is returned for clients whose hardware address is not a
// 6-byte Ethernet address: the device cannot be keyed.
var ErrNotEthernet = errors.New("dhcp: client hardware address is not ethernet")

// Dissect implements dpi.Dissector.
func (d *Dissector) Dissect(p *dpi.Packet, out *dpi.Output) error {
	if err := decode(&d.layer, p.Payload); err != nil {
		return fmt.Errorf("dhcp: %w", err)
	}
	m := &d.layer
	if m.HardwareType != layers.LinkTypeEthernet || m.HardwareLen != 6 || len(m.ClientHWAddr) != 6 {
		return ErrNotEthernet
	}
	mac := m.ClientHWAddr.String()
	msgType := layers.DHCPMsgTypeUnspecified
	for _, o := range m.Options {
		if o.Type == layers.DHCPOptMessageType && len(o.Data) == 1 {
			msgType = layers.DHCPMsgType(o.Data[0])
		}
	}
	name := messageName(msgType)
	var device string // built once, for the first observation
	obs := func(attr, value string, confidence float64, evidence string) {
		if device == "" {
			device = events.DeviceKey(mac, "", p.VLAN)
		}
		out.Observations = append(out.Observations, events.Observation{
			Device: device, MAC: mac, VLAN: p.VLAN,
			Attribute: attr, Value: value, Protocol: Protocol, Confidence: confidence,
			Evidence: evidence, FlowID: p.FlowID,
		})
	}

	switch msgType {
	case layers.DHCPMsgTypeDiscover, layers.DHCPMsgTypeRequest, layers.DHCPMsgTypeInform:
		// Sent by the client: its options describe it.
		for _, o := range m.Options {
			switch o.Type {
			case layers.DHCPOptHostname, layers.DHCPOptClassID, layers.DHCPOptClientID, layers.DHCPOptParamsRequest,
				layers.DHCPOptRequestIP, optClientFQDN:
			default:
				continue // not read: no evidence text to build
			}
			evidence := name + " option " + strconv.Itoa(int(o.Type))
			switch o.Type {
			case layers.DHCPOptHostname:
				if v := dpi.Text(o.Data); v != "" {
					obs("hostname", v, 0.9, evidence)
				}
			case layers.DHCPOptClassID:
				if v := dpi.Text(o.Data); v != "" {
					obs("dhcp.vendor_class", v, 0.9, evidence)
				}
			case layers.DHCPOptClientID:
				if len(o.Data) > 0 {
					obs("dhcp.client_id", dpi.HexColon(o.Data), 0.9, evidence)
				}
			case layers.DHCPOptParamsRequest:
				if len(o.Data) > 0 {
					obs("dhcp.fingerprint", paramList(o.Data), 0.8, evidence)
				}
			case layers.DHCPOptRequestIP:
				if len(o.Data) == 4 {
					obs("dhcp.requested_ip", net.IP(o.Data).String(), 0.6, evidence)
				}
			case optClientFQDN:
				if v := clientFQDN(o.Data); v != "" {
					obs(dpi.AttrDHCPFQDN, v, 0.9, evidence)
				}
			}
		}
		if msgType == layers.DHCPMsgTypeInform && !m.ClientIP.IsUnspecified() && m.ClientIP.To4() != nil {
			obs("ip", m.ClientIP.String(), 0.8, name+" ciaddr")
		}
	case layers.DHCPMsgTypeAck:
		if ip := m.YourClientIP.To4(); ip != nil && !ip.IsUnspecified() {
			evidence := name + " yiaddr"
			for _, o := range m.Options {
				if o.Type == layers.DHCPOptLeaseTime && len(o.Data) == 4 {
					evidence += " (lease " + strconv.FormatUint(uint64(binary.BigEndian.Uint32(o.Data)), 10) + "s)"
				}
			}
			obs("ip", ip.String(), 0.95, evidence)
		}
	case layers.DHCPMsgTypeRelease:
		// The client gives its address back: the inventory ends it.
		if ip := m.ClientIP.To4(); ip != nil && !ip.IsUnspecified() {
			obs(AttrReleased, ip.String(), 0.95, name+" ciaddr")
		}
	}
	return nil
}

// optClientFQDN is option 81 (RFC 4702).
const optClientFQDN layers.DHCPOpt = 81

// AttrReleased is an address the client released (DHCPRELEASE).
const AttrReleased = "dhcp.released_ip"

// clientFQDN reads option 81: flags, two obsolete RCODE bytes, then the
// name, in DNS wire format when the E flag (0x04) is set, else ASCII.
func clientFQDN(b []byte) string {
	if len(b) < 4 {
		return ""
	}
	flags, name := b[0], b[3:]
	if flags&0x04 == 0 {
		return strings.TrimSuffix(dpi.Text(name), ".")
	}
	var labels []string
	for len(name) > 0 && len(labels) < 32 {
		n := int(name[0])
		if n == 0 || n > 63 || n+1 > len(name) {
			break
		}
		labels = append(labels, dpi.Text(name[1:1+n]))
		name = name[1+n:]
	}
	return strings.Join(labels, ".")
}

func decode(l *layers.DHCPv4, b []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode panic: %v", r)
		}
	}()
	return l.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
}

func messageName(t layers.DHCPMsgType) string {
	switch t {
	case layers.DHCPMsgTypeDiscover:
		return "DHCPDISCOVER"
	case layers.DHCPMsgTypeOffer:
		return "DHCPOFFER"
	case layers.DHCPMsgTypeRequest:
		return "DHCPREQUEST"
	case layers.DHCPMsgTypeDecline:
		return "DHCPDECLINE"
	case layers.DHCPMsgTypeAck:
		return "DHCPACK"
	case layers.DHCPMsgTypeNak:
		return "DHCPNAK"
	case layers.DHCPMsgTypeRelease:
		return "DHCPRELEASE"
	case layers.DHCPMsgTypeInform:
		return "DHCPINFORM"
	}
	return "DHCP"
}

func paramList(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Itoa(int(c)))
	}
	return sb.String()
}
