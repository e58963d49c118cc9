// Package dhcp6 reads device facts from DHCPv6 messages (RFC 8415): from
// what a client sends, its DUID, its FQDN (option 39, RFC 4704), its
// vendor class (option 16), its option request list (option 6, a
// fingerprint of its DHCPv6 stack), the addresses it asks for and its MUD
// URL (option 112, RFC 8520); from a server's Reply, the addresses
// assigned to the client.
//
// Facts are keyed by the client's MAC: the frame's source MAC for a
// message the client sends, the destination MAC of a Reply. A relayed
// message (inside Relay-forward or Relay-reply) travelled from a relay,
// whose MAC is not the client's: the client is then keyed by the Client
// Link-Layer Address the first relay added (option 79, RFC 6939), else by
// the Ethernet address in a DUID-LLT or DUID-LL, and skipped when it has
// neither.
package dhcp6

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// Protocol is the Observation protocol name.
const Protocol = "dhcpv6"

// Attribute names this package adds to the dpi vocabulary.
const (
	// AttrFingerprint is the client's option request list, in order
	// ("23,24,39,31"): the DHCPv6 counterpart of dhcp.fingerprint.
	AttrFingerprint = "dhcp6.fingerprint"
	// AttrMUDURL is a Manufacturer Usage Description URL (RFC 8520).
	AttrMUDURL = "mud_url"
)

// Option codes not named by gopacket.
const (
	optMUDURL              = 112
	optClientLinkLayerAddr = 79
)

// maxRelayDepth bounds the Relay-forward nesting followed (RFC 8415
// allows 32 hops; real networks have one or two).
const maxRelayDepth = 8

// Errors returned for messages that cannot be read.
var (
	ErrRelay = errors.New("dhcpv6: relay message without a relayed message")
)

// Dissector reads DHCPv6 messages. It keeps no state between packets but
// its reused decoding layer; each capture worker needs its own.
type Dissector struct {
	layer layers.DHCPv6
}

var _ dpi.Dissector = (*Dissector)(nil)

// New returns a DHCPv6 dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.Dissector.
func (*Dissector) Name() string { return "dhcpv6" }

// Protocols implements dpi.Dissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoDHCPv6} }

// Dissect implements dpi.Dissector.
func (d *Dissector) Dissect(p *dpi.Packet, out *dpi.Output) error {
	m := &d.layer
	if err := decode(m, p.Payload); err != nil {
		return fmt.Errorf("dhcpv6: %w", err)
	}
	// Unwrap relays down to the client or server message. The innermost
	// relay is the one on the client's link.
	relayed := false
	var peer netip.Addr
	var linkLayer []byte
	for depth := 0; m.MsgType == layers.DHCPv6MsgTypeRelayForward || m.MsgType == layers.DHCPv6MsgTypeRelayReply; depth++ {
		if depth == maxRelayDepth {
			return ErrRelay
		}
		relayed = true
		peer, _ = netip.AddrFromSlice(m.PeerAddr)
		var inner []byte
		for _, o := range m.Options {
			switch o.Code {
			case layers.DHCPv6OptRelayMessage:
				inner = o.Data
			case optClientLinkLayerAddr:
				// hardware type 1 (Ethernet), then the address
				if len(o.Data) == 8 && binary.BigEndian.Uint16(o.Data) == 1 {
					linkLayer = o.Data[2:]
				}
			}
		}
		if inner == nil {
			return ErrRelay
		}
		if err := decode(m, inner); err != nil {
			return fmt.Errorf("dhcpv6 relayed message: %w", err)
		}
	}

	var duid []byte
	for _, o := range m.Options {
		if o.Code == layers.DHCPv6OptClientID && len(o.Data) > 0 {
			duid = o.Data
			break
		}
	}
	fromClient := false
	switch m.MsgType {
	case layers.DHCPv6MsgTypeSolicit, layers.DHCPv6MsgTypeRequest, layers.DHCPv6MsgTypeConfirm,
		layers.DHCPv6MsgTypeRenew, layers.DHCPv6MsgTypeRebind, layers.DHCPv6MsgTypeRelease,
		layers.DHCPv6MsgTypeDecline, layers.DHCPv6MsgTypeInformationRequest:
		fromClient = true
	case layers.DHCPv6MsgTypeReply:
	default:
		return nil // Advertise offers, Reconfigure: nothing the client stated or got
	}

	// Who the client is.
	var mac string
	var ip netip.Addr
	switch {
	case relayed:
		ip = peer
		if len(linkLayer) == 6 {
			mac = net.HardwareAddr(linkLayer).String()
		} else {
			mac = duidMAC(duid)
		}
		if mac == "" {
			return nil // nothing names the client
		}
	case fromClient:
		ip = p.Src
		if p.HasMAC {
			mac = net.HardwareAddr(p.SrcMAC[:]).String()
		}
	default:
		ip = p.Dst
		if p.HasMAC && p.DstMAC[0]&1 == 0 && p.DstMAC != ([6]byte{}) {
			mac = net.HardwareAddr(p.DstMAC[:]).String()
		}
	}
	if mac == "" {
		mac = duidMAC(duid)
	}
	var ipText string
	if ip.IsValid() && !ip.IsUnspecified() {
		ipText = ip.String()
	}
	if mac == "" && ipText == "" {
		return nil
	}
	name := messageName(m.MsgType)
	obs := func(attr, value string, confidence float64, evidence string) {
		if value == "" {
			return
		}
		out.Observations = append(out.Observations, events.Observation{
			Device: events.DeviceKey(mac, ipText, p.VLAN), MAC: mac, IP: ipText, VLAN: p.VLAN,
			Attribute: attr, Value: value, Protocol: Protocol, Confidence: confidence,
			Evidence: evidence, FlowID: p.FlowID,
		})
	}

	if !fromClient {
		// A Reply assigns the addresses of its IA_NA and IA_TA options.
		forEachAddress(m.Options, func(addr netip.Addr) {
			obs(dpi.AttrIP, addr.String(), 0.95, name+" IA address")
		})
		return nil
	}
	var oro []byte
	for _, o := range m.Options {
		evidence := name + " option " + strconv.Itoa(int(o.Code))
		switch o.Code {
		case layers.DHCPv6OptClientID:
			if len(o.Data) > 0 {
				obs(dpi.AttrDHCPClientID, dpi.HexColon(o.Data), 0.9, evidence)
			}
		case layers.DHCPv6OptClientFQDN:
			if len(o.Data) > 1 {
				fqdn := domainName(o.Data[1:])
				obs(dpi.AttrDHCPFQDN, fqdn, 0.9, evidence)
				host, _, _ := strings.Cut(fqdn, ".")
				obs(dpi.AttrHostname, host, 0.9, evidence)
			}
		case layers.DHCPv6OptVendorClass:
			obs(dpi.AttrDHCPVendorClass, vendorClass(o.Data), 0.9, evidence)
		case layers.DHCPv6OptOro:
			oro = append(oro, o.Data...)
		case optMUDURL:
			obs(AttrMUDURL, dpi.Text(o.Data), 0.95, evidence)
		}
	}
	if len(oro) >= 2 {
		obs(AttrFingerprint, optionList(oro), 0.8, name+" option 6")
	}
	if m.MsgType != layers.DHCPv6MsgTypeRelease && m.MsgType != layers.DHCPv6MsgTypeDecline {
		forEachAddress(m.Options, func(addr netip.Addr) {
			obs(dpi.AttrDHCPRequestedIP, addr.String(), 0.6, name+" IA address")
		})
	}
	return nil
}

func decode(l *layers.DHCPv6, b []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode panic: %v", r)
		}
	}()
	return l.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
}

// forEachAddress calls fn with each address of the IA_NA and IA_TA
// options that has a non-zero valid lifetime, skipping identity
// associations whose status code is not Success.
func forEachAddress(opts layers.DHCPv6Options, fn func(netip.Addr)) {
	for _, o := range opts {
		var sub []byte
		switch {
		case o.Code == layers.DHCPv6OptIANA && len(o.Data) >= 12: // IAID, T1, T2
			sub = o.Data[12:]
		case o.Code == layers.DHCPv6OptIATA && len(o.Data) >= 4: // IAID
			sub = o.Data[4:]
		default:
			continue
		}
		if status(sub) != 0 {
			continue
		}
		for code, v := range options(sub) {
			// address, preferred lifetime, valid lifetime, options
			if code != uint16(layers.DHCPv6OptIAAddr) || len(v) < 24 || binary.BigEndian.Uint32(v[20:]) == 0 || status(v[24:]) != 0 {
				continue
			}
			addr := netip.AddrFrom16([16]byte(v))
			if !addr.IsUnspecified() {
				fn(addr)
			}
		}
	}
}

// status returns the status code in an option list, 0 (Success) when it
// has none.
func status(b []byte) uint16 {
	for code, v := range options(b) {
		if code == uint16(layers.DHCPv6OptStatusCode) && len(v) >= 2 {
			return binary.BigEndian.Uint16(v)
		}
	}
	return 0
}

// options iterates over the well-formed options of an encapsulated
// option list, stopping at the first that runs past the end.
func options(b []byte) func(yield func(uint16, []byte) bool) {
	return func(yield func(uint16, []byte) bool) {
		for len(b) >= 4 {
			code, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
			if len(b) < 4+n || !yield(code, b[4:4+n]) {
				return
			}
			b = b[4+n:]
		}
	}
}

// duidMAC returns the Ethernet address of a DUID-LLT (type 1) or DUID-LL
// (type 3) with hardware type 1, or "".
func duidMAC(duid []byte) string {
	if len(duid) < 4 || binary.BigEndian.Uint16(duid[2:]) != 1 {
		return ""
	}
	var a []byte
	switch binary.BigEndian.Uint16(duid) {
	case 1: // type, hardware type, time, address
		if len(duid) == 14 {
			a = duid[8:]
		}
	case 3: // type, hardware type, address
		if len(duid) == 10 {
			a = duid[4:]
		}
	}
	if len(a) != 6 || a[0]&1 != 0 || [6]byte(a) == [6]byte{} {
		return ""
	}
	return net.HardwareAddr(a).String()
}

// domainName decodes a name in DNS wire format without compression (RFC
// 8415 10), possibly partial (no final root label), as dotted text.
func domainName(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 && sb.Len() < dpi.MaxValue {
		n := int(b[0])
		if n == 0 || n > 63 || len(b) < 1+n {
			break
		}
		label := dpi.Text(b[1 : 1+n])
		if label == "" {
			break
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(label)
		b = b[1+n:]
	}
	return dpi.Text([]byte(sb.String()))
}

// vendorClass formats a vendor class option: the enterprise number, a
// colon, and the class data items joined by commas ("311:MSFT 5.0").
func vendorClass(b []byte) string {
	if len(b) < 4 {
		return ""
	}
	var sb strings.Builder
	sb.WriteString(strconv.FormatUint(uint64(binary.BigEndian.Uint32(b)), 10))
	sb.WriteByte(':')
	first := true
	for b = b[4:]; len(b) >= 2 && sb.Len() < dpi.MaxValue; {
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			break
		}
		if !first {
			sb.WriteByte(',')
		}
		first = false
		sb.WriteString(dpi.Text(b[2 : 2+n]))
		b = b[2+n:]
	}
	if first {
		return ""
	}
	return dpi.Text([]byte(sb.String()))
}

// optionList formats the 16-bit option codes of an option request list.
func optionList(b []byte) string {
	var sb strings.Builder
	for ; len(b) >= 2 && sb.Len() < dpi.MaxValue-6; b = b[2:] {
		if sb.Len() > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Itoa(int(binary.BigEndian.Uint16(b))))
	}
	return sb.String()
}

func messageName(t layers.DHCPv6MsgType) string {
	switch t {
	case layers.DHCPv6MsgTypeSolicit:
		return "DHCPv6 Solicit"
	case layers.DHCPv6MsgTypeRequest:
		return "DHCPv6 Request"
	case layers.DHCPv6MsgTypeConfirm:
		return "DHCPv6 Confirm"
	case layers.DHCPv6MsgTypeRenew:
		return "DHCPv6 Renew"
	case layers.DHCPv6MsgTypeRebind:
		return "DHCPv6 Rebind"
	case layers.DHCPv6MsgTypeReply:
		return "DHCPv6 Reply"
	case layers.DHCPv6MsgTypeRelease:
		return "DHCPv6 Release"
	case layers.DHCPv6MsgTypeDecline:
		return "DHCPv6 Decline"
	case layers.DHCPv6MsgTypeInformationRequest:
		return "DHCPv6 Information-request"
	}
	return "DHCPv6"
}
