// Package dhcp reads device facts from DHCPv4 messages: the client's host
// name, vendor class, client identifier, parameter request list (a
// fingerprint of its DHCP stack), requested address and the address the
// server assigned. Facts are keyed by the client hardware address.
package dhcp

import (
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
	obs := func(attr, value string, confidence float64, evidence string) {
		out.Observations = append(out.Observations, events.Observation{
			Device: events.DeviceKey(mac, "", p.VLAN), MAC: mac, VLAN: p.VLAN,
			Attribute: attr, Value: value, Protocol: Protocol, Confidence: confidence,
			Evidence: evidence, FlowID: p.FlowID,
		})
	}

	switch msgType {
	case layers.DHCPMsgTypeDiscover, layers.DHCPMsgTypeRequest, layers.DHCPMsgTypeInform:
		// Sent by the client: its options describe it.
		for _, o := range m.Options {
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
			}
		}
		if msgType == layers.DHCPMsgTypeInform && !m.ClientIP.IsUnspecified() && m.ClientIP.To4() != nil {
			obs("ip", m.ClientIP.String(), 0.8, name+" ciaddr")
		}
	case layers.DHCPMsgTypeAck:
		if ip := m.YourClientIP.To4(); ip != nil && !ip.IsUnspecified() {
			obs("ip", ip.String(), 0.95, name+" yiaddr")
		}
	}
	return nil
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
