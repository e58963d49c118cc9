package synth

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// mss is the TCP maximum segment size every host announces and uses: an
// Ethernet MTU of 1500 minus 40 bytes of IPv4 and TCP headers.
const mss = 1460

// host is one IP endpoint as it appears on the mirrored segment: the MAC
// that frames to and from it carry (its own, or the router's for a host
// beyond the router), its address and its IP stack habits.
type host struct {
	mac  net.HardwareAddr
	ip   netip.Addr
	ttl  uint8
	ipID uint16
	port uint16 // next ephemeral source port
}

// ephemeral returns the next client source port of h, wrapping inside the
// IANA dynamic range.
func (h *host) ephemeral() uint16 {
	p := h.port
	h.port++
	if h.port < 49152 {
		h.port = 49152
	}
	return p
}

// nextID returns the IPv4 identification of h's next datagram.
func (h *host) nextID() uint16 {
	h.ipID++
	return h.ipID
}

// gen accumulates the packets of one scenario. It is single-threaded and
// draws every random choice from one seeded generator in program order, so
// the same options give the same packets.
type gen struct {
	rng      *rand.Rand
	untagged bool
	vlan     uint16
	pkts     []Packet
	buf      gopacket.SerializeBuffer
}

// between returns a random duration in [lo, hi].
func (g *gen) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(g.rng.Int64N(int64(hi-lo)+1))
}

// random returns n pseudo-random bytes.
func (g *gen) random(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], g.rng.Uint64())
		copy(b[i:], w[:])
	}
	return b
}

// frame serialises one Ethernet frame (802.1Q tagged unless the scenario is
// untagged) around ip and the layers above it, with lengths fixed and
// checksums computed, and records it at ts truncated to the microsecond
// that a classic pcap can hold.
func (g *gen) frame(ts time.Time, src, dst net.HardwareAddr, ip *layers.IPv4, upper ...gopacket.SerializableLayer) {
	ls := make([]gopacket.SerializableLayer, 0, 4+len(upper))
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ls = append(ls, eth)
	if !g.untagged {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: g.vlan, Type: layers.EthernetTypeIPv4})
	}
	ls = append(ls, ip)
	for _, l := range upper {
		switch l := l.(type) {
		case *layers.TCP:
			_ = l.SetNetworkLayerForChecksum(ip)
		case *layers.UDP:
			_ = l.SetNetworkLayerForChecksum(ip)
		}
	}
	ls = append(ls, upper...)
	if err := g.buf.Clear(); err != nil {
		panic(fmt.Sprintf("synth: clear buffer: %v", err))
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(g.buf, opts, ls...); err != nil {
		// Every layer here is built by this package; failing to
		// serialise one is a programming error, not bad input.
		panic(fmt.Sprintf("synth: serialize: %v", err))
	}
	data := append([]byte(nil), g.buf.Bytes()...)
	g.pkts = append(g.pkts, Packet{Time: ts.Truncate(time.Microsecond), Data: data})
}

// ipv4 returns the IPv4 header of a datagram from src to dst.
func ipv4(src, dst *host, proto layers.IPProtocol, df bool) *layers.IPv4 {
	ip := &layers.IPv4{
		Version:  4,
		IHL:      5,
		TTL:      src.ttl,
		Id:       src.nextID(),
		Protocol: proto,
		SrcIP:    src.ip.AsSlice(),
		DstIP:    dst.ip.AsSlice(),
	}
	if df {
		ip.Flags = layers.IPv4DontFragment
	}
	return ip
}

// udp emits one UDP datagram from src to dst.
func (g *gen) udp(ts time.Time, src, dst *host, sport, dport uint16, payload []byte) {
	ip := ipv4(src, dst, layers.IPProtocolUDP, true)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	g.frame(ts, src.mac, dst.mac, ip, u, gopacket.Payload(payload))
}

// tcpConn is one TCP connection between a client and a server. It keeps
// both sides' next sequence numbers, so every segment it emits carries the
// sequence and acknowledgement numbers a real stack would, and a clock
// that only moves forward.
type tcpConn struct {
	g            *gen
	cli, srv     *host
	cport, sport uint16
	cseq, sseq   uint32 // next sequence number each side sends
	t            time.Time
	rtt          time.Duration // round-trip time between the two
}

// tcpFlags selects the control bits of a segment.
type tcpFlags struct{ syn, ack, psh, fin, rst bool }

// seg emits one segment in the given direction with the current sequence
// and acknowledgement numbers, then advances the sender's sequence number
// by what the segment occupies.
func (c *tcpConn) seg(fromCli bool, f tcpFlags, payload []byte, opts []layers.TCPOption) {
	src, dst, sp, dp := c.cli, c.srv, c.cport, c.sport
	seq, ack := &c.cseq, c.sseq
	if !fromCli {
		src, dst, sp, dp = c.srv, c.cli, c.sport, c.cport
		seq, ack = &c.sseq, c.cseq
	}
	t := &layers.TCP{
		SrcPort: layers.TCPPort(sp),
		DstPort: layers.TCPPort(dp),
		Seq:     *seq,
		SYN:     f.syn,
		ACK:     f.ack,
		PSH:     f.psh,
		FIN:     f.fin,
		RST:     f.rst,
		Window:  502, // 64240 bytes at the window scale 7 of synOptions
		Options: opts,
	}
	if f.ack {
		t.Ack = ack
	}
	if f.syn {
		t.Window = 64240 // never scaled in a SYN
	}
	ip := ipv4(src, dst, layers.IPProtocolTCP, true)
	c.g.frame(c.t, src.mac, dst.mac, ip, t, gopacket.Payload(payload))
	*seq += uint32(len(payload))
	if f.syn || f.fin {
		*seq++
	}
}

// synOptions are the options of a SYN or SYN-ACK: MSS, SACK permitted and
// window scale 7, each padded to a 32-bit boundary as Linux sends them.
func synOptions() []layers.TCPOption {
	var m [2]byte
	binary.BigEndian.PutUint16(m[:], mss)
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: m[:]},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
	}
}

// dial opens a connection from cli to srv:sport at t with a full three-way
// handshake and returns it with its clock just after the final ACK.
func (g *gen) dial(t time.Time, cli, srv *host, sport uint16, rtt time.Duration) *tcpConn {
	c := &tcpConn{
		g: g, cli: cli, srv: srv,
		cport: cli.ephemeral(), sport: sport,
		cseq: g.rng.Uint32(), sseq: g.rng.Uint32(),
		t: t, rtt: rtt,
	}
	c.seg(true, tcpFlags{syn: true}, nil, synOptions())
	c.half()
	c.seg(false, tcpFlags{syn: true, ack: true}, nil, synOptions())
	c.half()
	c.seg(true, tcpFlags{ack: true}, nil, nil)
	c.gap()
	return c
}

// half advances the clock by half a round trip plus a little jitter: the
// time a segment takes to reach the other side and be answered.
func (c *tcpConn) half() {
	c.t = c.t.Add(c.rtt/2 + c.g.between(20*time.Microsecond, 120*time.Microsecond))
}

// gap advances the clock by the small time between two segments a host
// sends back to back.
func (c *tcpConn) gap() {
	c.t = c.t.Add(c.g.between(15*time.Microsecond, 60*time.Microsecond))
}

// wait advances the clock by d: think time of an application.
func (c *tcpConn) wait(d time.Duration) { c.t = c.t.Add(d) }

// send emits payload from one side as PSH+ACK segments of at most one MSS,
// as the peer's turn follows after half a round trip.
func (c *tcpConn) send(fromCli bool, payload []byte) {
	for len(payload) > 0 {
		n := min(len(payload), mss)
		c.seg(fromCli, tcpFlags{ack: true, psh: n == len(payload)}, payload[:n], nil)
		payload = payload[n:]
		if len(payload) > 0 {
			c.gap()
		}
	}
	c.half()
}

// ack emits a pure acknowledgement from one side.
func (c *tcpConn) ack(fromCli bool) {
	c.seg(fromCli, tcpFlags{ack: true}, nil, nil)
	c.half()
}

// close tears the connection down: FIN+ACK from the closing side, FIN+ACK
// from the other, and the final ACK.
func (c *tcpConn) close(fromCli bool) {
	c.seg(fromCli, tcpFlags{fin: true, ack: true}, nil, nil)
	c.half()
	c.seg(!fromCli, tcpFlags{fin: true, ack: true}, nil, nil)
	c.half()
	c.seg(fromCli, tcpFlags{ack: true}, nil, nil)
}

// wbuf builds big-endian protocol messages.
type wbuf []byte

func (b *wbuf) u8(v uint8)   { *b = append(*b, v) }
func (b *wbuf) u16(v uint16) { *b = binary.BigEndian.AppendUint16(*b, v) }
func (b *wbuf) u24(v uint32) { *b = append(*b, byte(v>>16), byte(v>>8), byte(v)) }
func (b *wbuf) u32(v uint32) { *b = binary.BigEndian.AppendUint32(*b, v) }
func (b *wbuf) raw(p []byte) { *b = append(*b, p...) }
func (b *wbuf) str(s string) { *b = append(*b, s...) }

// len16 appends a 16-bit length followed by what body writes, and fills in
// the length afterwards.
func (b *wbuf) len16(body func()) {
	at := len(*b)
	b.u16(0)
	body()
	binary.BigEndian.PutUint16((*b)[at:], uint16(len(*b)-at-2))
}

// len24 is len16 with a 24-bit length, as TLS handshake messages use.
func (b *wbuf) len24(body func()) {
	at := len(*b)
	b.u24(0)
	body()
	n := len(*b) - at - 3
	(*b)[at], (*b)[at+1], (*b)[at+2] = byte(n>>16), byte(n>>8), byte(n)
}

// len32 is len16 with a 32-bit length, as DICOM PDUs use.
func (b *wbuf) len32(body func()) {
	at := len(*b)
	b.u32(0)
	body()
	binary.BigEndian.PutUint32((*b)[at:], uint32(len(*b)-at-4))
}
