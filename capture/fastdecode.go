package capture

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// decodeFast decodes the common frame, Ethernet with at most two VLAN
// tags, IPv4 without options or IPv6 without extension headers, not
// fragmented, carrying TCP or UDP, by reading the headers in place. It
// returns false, having written nothing that counts, for any other frame
// and for every header gopacket would reject or treat specially: the
// caller then decodes the frame with gopacket (decodeLayers), so results
// are the same either way (FuzzDecodeFast compares the two). gopacket's
// layer-by-layer parsing was a tenth of the sensor's time.
func decodeFast(data []byte, ts time.Time, out *Decoded) bool {
	if len(data) < 14 {
		return false
	}
	et := binary.BigEndian.Uint16(data[12:14])
	payload := data[14:]
	var tags [2]uint16
	n := 0
	for et == 0x8100 || et == 0x88a8 { // 802.1Q, 802.1ad: gopacket's Dot1Q
		if n == len(tags) || len(payload) < 4 {
			return false
		}
		tags[n] = binary.BigEndian.Uint16(payload[0:2]) & 0x0fff
		et = binary.BigEndian.Uint16(payload[2:4])
		payload = payload[4:]
		n++
	}

	var src, dst netip.Addr
	var ipLen, transportLen int
	var proto uint8
	var version uint8
	var seg []byte
	switch et {
	case 0x0800:
		if len(payload) < 20 {
			return false
		}
		length := int(binary.BigEndian.Uint16(payload[2:4]))
		ihl := int(payload[0] & 0x0f)
		// Options, fragments, a zero length (TSO) and the errors gopacket
		// reports are left to it.
		if ihl != 5 || length < 20 || binary.BigEndian.Uint16(payload[6:8])&0x3fff != 0 {
			return false
		}
		ip := payload
		if len(ip) > length {
			ip = ip[:length]
		}
		proto = payload[9]
		src, dst = netip.AddrFrom4([4]byte(payload[12:16])), netip.AddrFrom4([4]byte(payload[16:20]))
		version, ipLen, transportLen, seg = 4, length, length-20, ip[20:]
	case 0x86dd:
		if len(payload) < 40 {
			return false
		}
		length := int(binary.BigEndian.Uint16(payload[4:6]))
		if length == 0 {
			return false // jumbogram or an error: gopacket's
		}
		proto = payload[6]
		src, dst = netip.AddrFrom16([16]byte(payload[8:24])), netip.AddrFrom16([16]byte(payload[24:40]))
		seg = payload[40:]
		if len(seg) > length {
			seg = seg[:length]
		}
		version, ipLen, transportLen = 6, 40+length, length
	default:
		return false
	}

	var sport, dport uint16
	var flags uint8
	var seq, ack uint32
	var window uint16
	var body []byte
	var bodyLen int
	switch proto {
	case protoTCP:
		if len(seg) < 20 {
			return false
		}
		off := int(seg[12]>>4) * 4
		if off < 20 || off > len(seg) {
			return false
		}
		sport, dport = binary.BigEndian.Uint16(seg[0:2]), binary.BigEndian.Uint16(seg[2:4])
		seq, ack = binary.BigEndian.Uint32(seg[4:8]), binary.BigEndian.Uint32(seg[8:12])
		flags = seg[13] & (tcpFIN | tcpSYN | tcpRST | tcpPSH | tcpACK | tcpURG)
		window = binary.BigEndian.Uint16(seg[14:16])
		body, bodyLen = seg[off:], transportLen-off
	case protoUDP:
		if len(seg) < 8 {
			return false
		}
		sport, dport = binary.BigEndian.Uint16(seg[0:2]), binary.BigEndian.Uint16(seg[2:4])
		switch ulen := int(binary.BigEndian.Uint16(seg[4:6])); {
		case ulen >= 8:
			body = seg[8:min(ulen, len(seg))]
		case ulen == 0:
			body = seg[8:]
		default:
			return false
		}
		bodyLen = transportLen - 8
	default:
		return false
	}
	if bodyLen < 0 {
		bodyLen = 0
	}
	if len(body) > bodyLen {
		body = body[:bodyLen]
	}

	// Field by field rather than *out = Decoded{...}: copying the whole
	// struct runs the collector's write barrier over every pointer slot
	// of it while a collection is marking (4% of the sensor's time).
	out.Time = ts
	out.HasMAC, out.SrcMAC, out.DstMAC = true, [6]byte(data[6:12]), [6]byte(data[0:6])
	out.VLAN, out.InnerVLAN, out.EtherType, out.LinkPayload = tags[0], tags[1], et, payload
	out.IPVersion, out.Src, out.Dst, out.IPLength, out.Protocol = version, src, dst, ipLen, proto
	out.Transport, out.SrcPort, out.DstPort, out.TCPFlags = true, sport, dport, flags
	out.Seq, out.Ack, out.Window, out.ICMPType, out.ICMPCode = seq, ack, window, 0, 0
	out.PayloadLength, out.Payload = bodyLen, body
	out.Fragment, out.FragMore, out.FragID, out.FragOffset, out.FragDataLength = false, false, 0, 0, 0
	if out.FragData != nil {
		out.FragData = nil
	}
	if out.IPHeader != nil {
		out.IPHeader = nil
	}
	return true
}
