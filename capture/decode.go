package capture

import (
	"net/netip"
	"slices"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// IP protocol numbers the flow table treats specially.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// TCP flag bits as they appear in the header.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
	tcpURG = 0x20
)

// Decoded is what the decoder extracts from one frame: fixed-size fields
// and slices into the frame, so that decoding allocates nothing. It is
// reused for every packet; slices are valid only as long as the frame.
type Decoded struct {
	Time time.Time

	HasMAC         bool
	SrcMAC, DstMAC [6]byte
	// VLAN is the outer 802.1Q tag, InnerVLAN the second tag (QinQ).
	VLAN, InnerVLAN uint16
	// EtherType is the type of what follows the link header and its VLAN
	// tags (layers.EthernetTypeLLC for 802.3 length frames); LinkPayload
	// is that part of the frame. Frame dissectors (LLDP, CDP) read them.
	EtherType   uint16
	LinkPayload []byte

	// IPVersion is 4 or 6, 0 when the frame carries no IP packet.
	IPVersion uint8
	Src, Dst  netip.Addr
	// IPLength is the IP packet length from its header (header plus
	// payload, as Zeek's ip bytes), whatever was captured of it.
	IPLength int
	// Protocol is the IP protocol number of the transport.
	Protocol uint8

	// Transport is true when the transport header (TCP, UDP, ICMP) was
	// decoded; it stays false for IP fragments that carry no transport
	// header.
	Transport        bool
	SrcPort, DstPort uint16
	TCPFlags         uint8
	Seq, Ack         uint32
	Window           uint16
	ICMPType         uint8
	ICMPCode         uint8
	// PayloadLength is the transport payload length according to the
	// headers; Payload is the part of it that was captured.
	PayloadLength int
	Payload       []byte

	// Fragment is set for an IP fragment (IPv4 with MF or an offset, or
	// IPv6 with a fragment header). FragID, FragOffset (bytes) and
	// FragMore locate it; FragData is its captured part of the original
	// datagram's payload.
	Fragment   bool
	FragMore   bool
	FragID     uint32
	FragOffset int
	FragData   []byte
	// FragDataLength is the fragment's payload length from the headers.
	FragDataLength int
	// IPHeader is the captured IPv4 header of a fragment (options
	// included), for reassembly.
	IPHeader []byte
}

// DecodeResult classifies a frame.
type DecodeResult uint8

// Decode results.
const (
	// DecodeOK: the frame was read as far as the decoder goes.
	DecodeOK DecodeResult = iota
	// DecodeNonIP: a valid frame without IP (ARP, LLDP, ...).
	DecodeNonIP
	// DecodeError: a header was malformed or the link type is unsupported.
	DecodeError
)

type vlanTags struct {
	layers.Dot1Q
	ids [2]uint16
	n   int
}

func (v *vlanTags) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := v.Dot1Q.DecodeFromBytes(data, df); err != nil {
		return err
	}
	if v.n < len(v.ids) {
		v.ids[v.n] = v.VLANIdentifier
	}
	v.n++
	return nil
}

type ip6Extensions struct {
	layers.IPv6ExtensionSkipper
	length int
}

func (e *ip6Extensions) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := e.IPv6ExtensionSkipper.DecodeFromBytes(data, df); err != nil {
		return err
	}
	e.length += len(e.Contents)
	return nil
}

// Decoder turns frames into Decoded values with reused gopacket
// DecodingLayerParsers (one per first layer, all sharing the same layer
// structs). A Decoder belongs to one goroutine.
type Decoder struct {
	eth    layers.Ethernet
	sll    layers.LinuxSLL
	sll2   layers.LinuxSLL2
	loop   layers.Loopback
	vlan   vlanTags
	ip4    layers.IPv4
	ip6    layers.IPv6
	ip6ext ip6Extensions
	ip6frg layers.IPv6Fragment
	tcp    layers.TCP
	udp    layers.UDP
	icmp4  layers.ICMPv4
	icmp6  layers.ICMPv6

	parsers map[gopacket.LayerType]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

// NewDecoder returns a decoder ready for any supported link type.
func NewDecoder() *Decoder {
	d := &Decoder{decoded: make([]gopacket.LayerType, 0, 16)}
	all := []gopacket.DecodingLayer{
		&d.eth, &d.sll, &d.sll2, &d.loop, &d.vlan, &d.ip4, &d.ip6,
		// The skipper first: the fragment decoder below overrides it for
		// the fragment header, whose payload is not a transport header.
		&d.ip6ext, &d.ip6frg,
		&d.tcp, &d.udp, &d.icmp4, &d.icmp6,
	}
	d.parsers = map[gopacket.LayerType]*gopacket.DecodingLayerParser{}
	for _, first := range []gopacket.LayerType{
		layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL, layers.LayerTypeLinuxSLL2,
		layers.LayerTypeLoopback, layers.LayerTypeIPv4, layers.LayerTypeIPv6,
	} {
		p := gopacket.NewDecodingLayerParser(first, all...)
		p.IgnoreUnsupported = true
		d.parsers[first] = p
	}
	return d
}

func (d *Decoder) firstLayer(lt layers.LinkType, data []byte) (gopacket.LayerType, bool) {
	switch lt {
	case layers.LinkTypeEthernet:
		return layers.LayerTypeEthernet, true
	case layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL, true
	case layers.LinkTypeLinuxSLL2:
		return layers.LayerTypeLinuxSLL2, true
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return layers.LayerTypeLoopback, true
	case layers.LinkTypeIPv4:
		return layers.LayerTypeIPv4, true
	case layers.LinkTypeIPv6:
		return layers.LayerTypeIPv6, true
	case layers.LinkTypeRaw, 12, 14: // 12 and 14 are raw IP on some BSDs.
		if len(data) == 0 {
			return 0, false
		}
		switch data[0] >> 4 {
		case 4:
			return layers.LayerTypeIPv4, true
		case 6:
			return layers.LayerTypeIPv6, true
		}
	}
	return 0, false
}

// Decode reads one frame into out (which it resets first). It never
// panics: gopacket's parser turns layer panics into errors.
func (d *Decoder) Decode(lt layers.LinkType, data []byte, ci gopacket.CaptureInfo, out *Decoded) DecodeResult {
	// Only the timestamp is passed on: a CaptureInfo passed by value is
	// copied in overlapping 16-byte blocks, which stalls (store-to-load
	// forwarding fails) on every packet.
	if lt == layers.LinkTypeEthernet && decodeFast(data, ci.Timestamp, out) {
		return DecodeOK
	}
	return d.decodeLayers(lt, data, ci.Timestamp, out)
}

// decodeLayers is Decode with gopacket's parsers, for every frame the
// fast path (fastdecode.go) leaves to it.
func (d *Decoder) decodeLayers(lt layers.LinkType, data []byte, ts time.Time, out *Decoded) DecodeResult {
	*out = Decoded{Time: ts}
	first, ok := d.firstLayer(lt, data)
	if !ok {
		return DecodeError
	}
	d.vlan.n = 0
	d.ip6ext.length = 0
	parser := d.parsers[first]
	err := parser.DecodeLayers(data, &d.decoded)

	for _, typ := range d.decoded {
		switch typ {
		case layers.LayerTypeEthernet:
			if len(d.eth.SrcMAC) == 6 && len(d.eth.DstMAC) == 6 {
				out.HasMAC = true
				copy(out.SrcMAC[:], d.eth.SrcMAC)
				copy(out.DstMAC[:], d.eth.DstMAC)
			}
			out.EtherType, out.LinkPayload = uint16(d.eth.EthernetType), d.eth.Payload
		case layers.LayerTypeLinuxSLL:
			if d.sll.AddrLen == 6 && len(d.sll.Addr) >= 6 {
				// SLL carries only the sender's address.
				out.HasMAC = true
				copy(out.SrcMAC[:], d.sll.Addr)
			}
		case layers.LayerTypeLinuxSLL2:
			if d.sll2.AddrLength == 6 && len(d.sll2.Addr) >= 6 {
				out.HasMAC = true
				copy(out.SrcMAC[:], d.sll2.Addr)
			}
		case layers.LayerTypeIPv4:
			out.IPVersion = 4
			out.Src = addrFrom(d.ip4.SrcIP)
			out.Dst = addrFrom(d.ip4.DstIP)
			out.IPLength = int(d.ip4.Length)
			out.Protocol = uint8(d.ip4.Protocol)
			if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
				out.Fragment, out.FragMore = true, d.ip4.Flags&layers.IPv4MoreFragments != 0
				out.FragID, out.FragOffset = uint32(d.ip4.Id), int(d.ip4.FragOffset)*8
				out.FragData, out.IPHeader = d.ip4.Payload, d.ip4.Contents
				out.FragDataLength = int(d.ip4.Length) - int(d.ip4.IHL)*4
			}
		case layers.LayerTypeIPv6:
			out.IPVersion = 6
			out.Src = addrFrom(d.ip6.SrcIP)
			out.Dst = addrFrom(d.ip6.DstIP)
			out.IPLength = 40 + int(d.ip6.Length)
			if d.ip6.Length == 0 { // jumbogram: the hop-by-hop option has the length
				out.IPLength = 40 + len(d.ip6.Payload)
			}
			out.Protocol = uint8(d.ip6.NextHeader)
			if d.ip6.HopByHop != nil {
				// gopacket reads a hop-by-hop header (MLD reports carry
				// one) into the IPv6 layer: the transport follows it.
				out.Protocol = uint8(d.ip6.HopByHop.NextHeader)
			}
		case layers.LayerTypeIPv6Fragment:
			out.Protocol = uint8(d.ip6frg.NextHeader)
			out.Fragment, out.FragMore = true, d.ip6frg.MoreFragments
			out.FragID, out.FragOffset = d.ip6frg.Identification, int(d.ip6frg.FragmentOffset)*8
			out.FragData = d.ip6frg.Payload
			out.FragDataLength = d.transportLength()
		case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination:
			out.Protocol = uint8(d.ip6ext.NextHeader)
		case layers.LayerTypeTCP:
			out.Transport = true
			out.SrcPort, out.DstPort = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
			out.Seq, out.Ack, out.Window = d.tcp.Seq, d.tcp.Ack, d.tcp.Window
			out.TCPFlags = tcpFlags(&d.tcp)
			out.Payload = d.tcp.Payload
			out.PayloadLength = d.transportLength() - len(d.tcp.Contents)
		case layers.LayerTypeUDP:
			out.Transport = true
			out.SrcPort, out.DstPort = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
			out.Payload = d.udp.Payload
			out.PayloadLength = d.transportLength() - 8
		case layers.LayerTypeICMPv4:
			out.Transport = true
			out.ICMPType, out.ICMPCode = d.icmp4.TypeCode.Type(), d.icmp4.TypeCode.Code()
			out.Payload = d.icmp4.Payload
			out.PayloadLength = d.transportLength() - 8
		case layers.LayerTypeICMPv6:
			out.Transport = true
			out.ICMPType, out.ICMPCode = d.icmp6.TypeCode.Type(), d.icmp6.TypeCode.Code()
			out.Payload = d.icmp6.Payload
			out.PayloadLength = d.transportLength() - 4
		}
	}
	if d.vlan.n > 0 {
		out.EtherType, out.LinkPayload = uint16(d.vlan.Type), d.vlan.Payload
		out.VLAN = d.vlan.ids[0] & 0x0fff
		if d.vlan.n > 1 {
			out.InnerVLAN = d.vlan.ids[1] & 0x0fff
		}
	}
	if out.PayloadLength < 0 {
		out.PayloadLength = 0
	}
	if len(out.Payload) > out.PayloadLength {
		out.Payload = out.Payload[:out.PayloadLength]
	}
	if err != nil {
		// Zeek drops a packet whose headers do not decode; so do we, and
		// count it.
		return DecodeError
	}
	if out.IPVersion == 0 {
		return DecodeNonIP
	}
	return DecodeOK
}

// transportLength is the length of the transport segment according to the
// IP header(s), independent of how much was captured.
func (d *Decoder) transportLength() int {
	if d.ip6.Length != 0 && slices.Contains(d.decoded, layers.LayerTypeIPv6) {
		n := int(d.ip6.Length) - d.ip6ext.length
		if d.ip6.HopByHop != nil {
			n -= d.ip6.HopByHop.ActualLength
		}
		if slices.Contains(d.decoded, layers.LayerTypeIPv6Fragment) {
			n -= 8
		}
		return n
	}
	if slices.Contains(d.decoded, layers.LayerTypeIPv4) {
		return int(d.ip4.Length) - int(d.ip4.IHL)*4
	}
	return len(d.ip6.Payload)
}

func addrFrom(ip []byte) netip.Addr {
	switch len(ip) {
	case 4:
		return netip.AddrFrom4([4]byte(ip))
	case 16:
		return netip.AddrFrom16([16]byte(ip))
	}
	return netip.Addr{}
}

func tcpFlags(t *layers.TCP) uint8 {
	var f uint8
	if t.FIN {
		f |= tcpFIN
	}
	if t.SYN {
		f |= tcpSYN
	}
	if t.RST {
		f |= tcpRST
	}
	if t.PSH {
		f |= tcpPSH
	}
	if t.ACK {
		f |= tcpACK
	}
	if t.URG {
		f |= tcpURG
	}
	return f
}
