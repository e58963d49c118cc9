package capture

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/zeebo/xxh3"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

func tcpFrame(t testing.TB, src, dst string, sport, dport uint16, flags uint8, seq, ack uint32, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: ack, Window: 1024,
		SYN: flags&tcpSYN != 0, ACK: flags&tcpACK != 0, FIN: flags&tcpFIN != 0, RST: flags&tcpRST != 0, PSH: flags&tcpPSH != 0}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type seg struct {
	fromClient bool
	flags      uint8
	seq, ack   uint32
	payload    int
	at         time.Duration
}

func runSegments(t *testing.T, cfg FlowTableConfig, segs []seg) []events.Flow {
	t.Helper()
	var out []events.Flow
	table := NewFlowTable(cfg, nil, func(f events.Flow) { out = append(out, f) })
	dec := NewDecoder()
	var d Decoded
	base := time.Unix(1700000000, 0).UTC()
	for _, s := range segs {
		src, dst, sp, dp := "10.0.0.1", "10.0.0.2", uint16(40000), uint16(104)
		if !s.fromClient {
			src, dst, sp, dp = dst, src, dp, sp
		}
		data := tcpFrame(t, src, dst, sp, dp, s.flags, s.seq, s.ack, make([]byte, s.payload))
		ci := gopacket.CaptureInfo{Timestamp: base.Add(s.at), CaptureLength: len(data), Length: len(data)}
		if r := dec.Decode(layers.LinkTypeEthernet, data, ci, &d); r != DecodeOK {
			t.Fatalf("decode = %v", r)
		}
		table.Packet(&d)
	}
	table.Flush()
	return out
}

type flowSummary struct {
	Phase              events.FlowPhase
	Orig               string
	State, History     string
	OrigPkts, RespPkts uint64
	OrigPay, RespPay   uint64
}

func summarize(fs []events.Flow) []flowSummary {
	var out []flowSummary
	for _, f := range fs {
		out = append(out, flowSummary{f.Phase, f.Orig.IP, f.State, f.History, f.OrigPackets, f.RespPackets, f.OrigPayload, f.RespPayload})
	}
	return out
}

func TestTCPStateMachine(t *testing.T) {
	const c, s = true, false
	handshake := []seg{{c, tcpSYN, 100, 0, 0, 0}, {s, tcpSYN | tcpACK, 500, 101, 0, time.Millisecond}, {c, tcpACK, 101, 501, 0, 2 * time.Millisecond}}
	cases := []struct {
		name string
		segs []seg
		want []flowSummary
	}{
		{"S0 with retransmit", []seg{{c, tcpSYN, 100, 0, 0, 0}, {c, tcpSYN, 100, 0, 0, time.Second}},
			[]flowSummary{{events.FlowEnd, "10.0.0.1", "S0", "S", 2, 0, 0, 0}}},
		{"REJ", []seg{{c, tcpSYN, 100, 0, 0, 0}, {s, tcpRST | tcpACK, 0, 101, 0, time.Millisecond}},
			[]flowSummary{{events.FlowEnd, "10.0.0.1", "REJ", "Sr", 1, 1, 0, 0}}},
		{"SF", append(append([]seg{}, handshake...),
			seg{c, tcpACK | tcpPSH, 101, 501, 10, 3 * time.Millisecond}, seg{s, tcpACK | tcpPSH, 501, 111, 20, 4 * time.Millisecond},
			seg{c, tcpFIN | tcpACK, 111, 521, 0, 5 * time.Millisecond}, seg{s, tcpFIN | tcpACK, 521, 112, 0, 6 * time.Millisecond},
			seg{c, tcpACK, 112, 522, 0, 7 * time.Millisecond}),
			[]flowSummary{{events.FlowEnd, "10.0.0.1", "SF", "ShADdFf", 5, 3, 10, 20}}},
		{"S1", handshake, []flowSummary{{events.FlowEnd, "10.0.0.1", "S1", "ShA", 2, 1, 0, 0}}},
		{"RSTO", append(append([]seg{}, handshake...), seg{c, tcpRST, 101, 0, 0, 3 * time.Millisecond}),
			[]flowSummary{{events.FlowEnd, "10.0.0.1", "RSTO", "ShAR", 3, 1, 0, 0}}},
		{"SH", []seg{{c, tcpSYN, 100, 0, 0, 0}, {c, tcpFIN, 101, 0, 0, time.Millisecond}},
			[]flowSummary{{events.FlowEnd, "10.0.0.1", "SH", "SF", 2, 0, 0, 0}}},
		{"mid-stream from server port flips", []seg{{s, tcpACK | tcpPSH, 900, 100, 5, 0}},
			[]flowSummary{{events.FlowEnd, "10.0.0.1", "OTH", "^d", 0, 1, 0, 5}}},
		{"attempt timeout splits", []seg{{c, tcpSYN, 100, 0, 0, 0}, {c, tcpSYN, 100, 0, 0, 6 * time.Second}},
			[]flowSummary{{events.FlowEnd, "10.0.0.1", "S0", "S", 1, 0, 0, 0}, {events.FlowEnd, "10.0.0.1", "S0", "S", 1, 0, 0, 0}}},
		{"port reuse after close", append(append([]seg{}, handshake...),
			seg{c, tcpRST, 101, 0, 0, 3 * time.Millisecond}, seg{c, tcpSYN, 9000, 0, 0, 4 * time.Millisecond}),
			[]flowSummary{{events.FlowEnd, "10.0.0.1", "RSTO", "ShAR", 3, 1, 0, 0}, {events.FlowEnd, "10.0.0.1", "S0", "S", 1, 0, 0, 0}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := summarize(runSegments(t, defaultTableConfig(), tc.segs))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("flows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFlowTableLimitsAndUpdates(t *testing.T) {
	cfg := defaultTableConfig()
	cfg.MaxFlows = 2
	cfg.ActiveTimeout = time.Second
	var out []events.Flow
	table := NewFlowTable(cfg, nil, func(f events.Flow) { out = append(out, f) })
	dec := NewDecoder()
	var d Decoded
	base := time.Unix(1700000000, 0)
	for i, at := range []time.Duration{0, 10 * time.Millisecond, 20 * time.Millisecond, 1500 * time.Millisecond} {
		data := tcpFrame(t, "10.0.0.1", "10.0.0.2", uint16(40000+i%3), 80, tcpACK, 1, 1, []byte("x"))
		dec.Decode(layers.LinkTypeEthernet, data, gopacket.CaptureInfo{Timestamp: base.Add(at), CaptureLength: len(data), Length: len(data)}, &d)
		table.Packet(&d)
	}
	if table.Evictions() != 2 || table.Len() != 2 {
		t.Fatalf("evictions %d len %d, want 2 and 2", table.Evictions(), table.Len())
	}
	var phases []events.FlowPhase
	for _, f := range out {
		phases = append(phases, f.Phase)
	}
	// The third flow evicts the first; at 1.5s the two live flows are due
	// an update (active timeout 1s), then the returning port 40000 evicts
	// the oldest of them.
	if diff := cmp.Diff([]events.FlowPhase{events.FlowEnd, events.FlowUpdate, events.FlowUpdate, events.FlowEnd}, phases); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
}

func TestDecodeNoAllocs(t *testing.T) {
	data := tcpFrame(t, "10.0.0.1", "10.0.0.2", 1, 2, tcpACK, 1, 1, []byte("payload"))
	dec := NewDecoder()
	var d Decoded
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(data), Length: len(data)}
	allocs := testing.AllocsPerRun(100, func() { dec.Decode(layers.LinkTypeEthernet, data, ci, &d) })
	if allocs != 0 {
		t.Errorf("Decode allocates %.1f times per packet", allocs)
	}
	table := NewFlowTable(defaultTableConfig(), nil, func(events.Flow) {})
	table.Packet(&d)
	allocs = testing.AllocsPerRun(100, func() { table.Packet(&d) })
	if allocs != 0 {
		t.Errorf("FlowTable.Packet allocates %.1f times per packet of a known flow", allocs)
	}
}

// TestIPv6HopByHopTransport: an MLDv2 report (ICMPv6 143 behind a
// hop-by-hop header with a router alert) is ICMPv6, not "ip-0".
func TestIPv6HopByHopTransport(t *testing.T) {
	frame := []byte{
		0x33, 0x33, 0, 0, 0, 0x16, 0x00, 0x12, 0x21, 0x4e, 0x0a, 0x12, 0x86, 0xdd, // Ethernet
		0x60, 0, 0, 0, 0, 36, 0, 1, // IPv6: payload 36, next header 0 (hop-by-hop), hop limit 1
		0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x12, 0x21, 0xff, 0xfe, 0x4e, 0x0a, 0x12, // src fe80::212:21ff:fe4e:a12
		0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16, // dst ff02::16
		58, 0, 5, 2, 0, 0, 1, 0, // hop-by-hop: next ICMPv6, router alert (MLD), PadN
		143, 0, 0, 0, 0, 0, 0, 1, // ICMPv6 MLDv2 report, 1 record
		4, 0, 0, 0, 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb, // change to exclude, ff02::fb
	}
	var d Decoded
	if r := NewDecoder().Decode(layers.LinkTypeEthernet, frame, gopacket.CaptureInfo{CaptureLength: len(frame), Length: len(frame)}, &d); r != DecodeOK {
		t.Fatalf("decode result %d", r)
	}
	if d.Protocol != protoICMPv6 || !d.Transport || d.ICMPType != 143 {
		t.Errorf("protocol %d transport %v type %d, want ICMPv6 143", d.Protocol, d.Transport, d.ICMPType)
	}
}

// TestFlowIndexIsAMap runs random insertions and removals through a
// flowIndex small enough that keys share home slots and runs wrap around
// the end of the array, and checks it against a Go map after every
// operation: every key present is found, no removed key is, and the
// count and the set of flows agree. A backward shift that moved a slot
// past its home, or failed to move one, shows here.
func TestFlowIndexIsAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	keys := make([]flowKey, 300)
	for i := range keys {
		keys[i] = flowKey{a: [2]uint64{0, 0xffff<<32 | uint64(r.IntN(8))}, b: [2]uint64{0, 0xffff<<32 | 1},
			pa: uint16(r.IntN(4)), pb: 80, proto: protoTCP, v4: 3}
		keys[i].inner = uint16(i) // distinct
	}
	x := newFlowIndex()
	want := map[flowKey]*flow{}
	for op := range 20000 {
		k := keys[r.IntN(len(keys))]
		h := x.hash(&k)
		switch f := x.get(&k, h); {
		case f != want[k]:
			t.Fatalf("op %d: get = %p, want %p", op, f, want[k])
		case f == nil && r.IntN(3) > 0:
			f = &flow{key: k}
			x.add(f, h)
			want[k] = f
		case f != nil && r.IntN(2) == 0:
			x.remove(f)
			delete(want, k)
		}
		if x.n != len(want) {
			t.Fatalf("op %d: %d flows, want %d", op, x.n, len(want))
		}
		if op%97 == 0 {
			for k, f := range want {
				if got := x.get(&k, x.hash(&k)); got != f {
					t.Fatalf("op %d: key %v lost (%p, want %p)", op, k, got, f)
				}
			}
			all := x.all(nil)
			if len(all) != len(want) {
				t.Fatalf("op %d: all() gives %d flows, want %d", op, len(all), len(want))
			}
			for _, f := range all {
				if want[f.key] != f {
					t.Fatalf("op %d: all() gives a flow not in the index", op)
				}
			}
		}
	}
	// Removing a flow that is not in the index changes nothing.
	n := x.n
	x.remove(&flow{key: flowKey{proto: 99}})
	if x.n != n {
		t.Errorf("removing an absent flow changed the count: %d -> %d", n, x.n)
	}
}

// TestFlowIndexHash: the hash is keyed per table (two tables disagree on
// the same keys, so a collision found against one is none against
// another), and structured keys, the ones a scan or a flood sends
// (consecutive addresses and ports), spread over the slots: the longest
// run of occupied slots stays short, where a weak or unkeyed hash would
// pile them up.
func TestFlowIndexHash(t *testing.T) {
	x, y := newFlowIndex(), newFlowIndex()
	same := 0
	for i := range 1000 {
		k := flowKey{a: [2]uint64{0, 0xffff<<32 | 0x0a000000 | uint64(i)}, b: [2]uint64{0, 0xffff<<32 | 0x0a0000fe},
			pa: 40000, pb: 80, proto: protoTCP, v4: 3}
		if x.hash(&k) == y.hash(&k) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("two tables give %d of 1000 keys the same hash: the hash is not keyed per table", same)
	}

	const n = 200000
	for _, pattern := range []string{"addresses", "ports", "vlans"} {
		x := newFlowIndex()
		for i := range n {
			k := flowKey{a: [2]uint64{0, 0xffff<<32 | 0x0a000000}, b: [2]uint64{0, 0xffff<<32 | 0x0a0000fe},
				pa: 40000, pb: 80, proto: protoUDP, v4: 3}
			switch pattern {
			case "addresses":
				k.a[1] += uint64(i)
			case "ports":
				k.pa, k.pb = uint16(i), uint16(i>>16)
			case "vlans":
				k.vlan, k.inner = uint16(i&0xfff), uint16(i>>12)
			}
			x.add(&flow{key: k}, x.hash(&k))
		}
		longest, run := 0, 0
		for _, s := range append(x.slots, x.slots...) { // runs may wrap around
			if s.f == nil {
				run = 0
				continue
			}
			run++
			longest = max(longest, run)
		}
		// At 3/4 load at most, linear probing with a good hash gives runs
		// of a few hundred slots at worst over 2^18 slots.
		if longest > 1000 {
			t.Errorf("%s: a run of %d occupied slots among %d flows: the hash clusters", pattern, longest, n)
		}
	}
}

// TestFlowKeyOrder: a flow's key is the same whichever side sends, and
// its smaller endpoint is netip's order (IPv4 first, then by address,
// then by port), IPv4 and IPv4-mapped IPv6 told apart.
func TestFlowKeyOrder(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("192.168.1.1"),
		netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("fe80::1"), netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::"), netip.MustParseAddr("ffff::ffff")}
	table := NewFlowTable(defaultTableConfig(), nil, func(events.Flow) {})
	at := time.Unix(1700000000, 0)
	for _, src := range addrs {
		for _, dst := range addrs {
			for _, ports := range [][2]uint16{{1000, 2000}, {2000, 1000}, {53, 53}} {
				d := Decoded{Time: at, IPVersion: 4, Src: src, Dst: dst, Protocol: protoUDP, Transport: true,
					SrcPort: ports[0], DstPort: ports[1]}
				info, ok := table.Packet(&d)
				if !ok {
					t.Fatalf("%v:%d -> %v:%d: no flow", src, ports[0], dst, ports[1])
				}
				k := info.flow.key
				a, b := k.addrA(), k.addrB()
				first := src.Compare(dst) < 0 || src == dst && ports[0] <= ports[1]
				wantA, wantB, wantPA, wantPB := dst, src, ports[1], ports[0]
				if first {
					wantA, wantB, wantPA, wantPB = src, dst, ports[0], ports[1]
				}
				if a != wantA || b != wantB || k.pa != wantPA || k.pb != wantPB {
					t.Errorf("%v:%d -> %v:%d: key %v:%d %v:%d, want %v:%d %v:%d", src, ports[0], dst, ports[1],
						a, k.pa, b, k.pb, wantA, wantPA, wantB, wantPB)
				}
				d.Src, d.Dst, d.SrcPort, d.DstPort = dst, src, ports[1], ports[0]
				if back, _ := table.Packet(&d); back.flow != info.flow {
					t.Errorf("%v:%d -> %v:%d: the reply is another flow", src, ports[0], dst, ports[1])
				}
			}
		}
	}
}

// TestFlowIDStable: flow IDs, which stores and events keep, are what they
// were when computed from netip addresses (the reference below), for
// IPv4, IPv6 and IPv4-mapped endpoints, either originator, and a flow
// between an endpoint and itself.
func TestFlowIDStable(t *testing.T) {
	reference := func(k flowKey, orig netip.Addr, origPort uint16, start time.Time) string {
		b := binary.BigEndian.AppendUint16(nil, k.vlan)
		b = binary.BigEndian.AppendUint16(b, k.inner)
		b = append(b, k.proto)
		ka, kb := k.addrA(), k.addrB()
		resp, respPort := kb, k.pb
		if orig == kb && origPort == k.pb && !(ka == kb && k.pa == k.pb) {
			resp, respPort = ka, k.pa
		}
		o16, r16 := orig.As16(), resp.As16()
		b = append(b, o16[:]...)
		b = binary.BigEndian.AppendUint16(b, origPort)
		b = append(b, r16[:]...)
		b = binary.BigEndian.AppendUint16(b, respPort)
		b = binary.BigEndian.AppendUint64(b, uint64(start.UnixNano()))
		sum := xxh3.Hash128(b).Bytes()
		return hex.EncodeToString(sum[:])
	}
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
		netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("fe80::1"), netip.MustParseAddr("2001:db8::1")}
	table := NewFlowTable(defaultTableConfig(), nil, func(events.Flow) {})
	at := time.Unix(1700000000, 123456789)
	n := 0
	for _, src := range addrs {
		for _, dst := range addrs {
			for _, ports := range [][2]uint16{{1000, 2000}, {2000, 1000}, {53, 53}} {
				at = at.Add(time.Hour) // each packet a new flow
				d := Decoded{Time: at, IPVersion: 4, Src: src, Dst: dst, Protocol: protoUDP, Transport: true,
					SrcPort: ports[0], DstPort: ports[1], VLAN: 7, InnerVLAN: 9}
				info, ok := table.Packet(&d)
				if !ok {
					t.Fatal("no flow")
				}
				f := info.flow
				if want := reference(f.key, f.origAddr(), f.origPort, at); f.id != want {
					t.Errorf("%v:%d -> %v:%d: flow ID %s, want %s", src, ports[0], dst, ports[1], f.id, want)
				}
				n++
			}
		}
	}
	if n != len(addrs)*len(addrs)*3 {
		t.Fatalf("%d flows", n)
	}
}

// TestAppCountersAddUp: a flow's application counters, kept as a slice,
// sum every count by name and snapshot as the map flow events carry.
func TestAppCountersAddUp(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	names := []string{"reads", "writes", "exceptions", "queries"}
	var a appState
	if a.counterSnapshot() != nil || (*appState)(nil).counterSnapshot() != nil {
		t.Fatal("a flow without counters has a snapshot")
	}
	want := map[string]uint64{}
	for range 500 {
		var cs []dpi.Counter
		for range r.IntN(4) {
			c := dpi.Counter{Name: names[r.IntN(len(names))], N: uint64(r.IntN(3))}
			// A name built at run time, not the constant: compared by
			// content.
			c.Name = string([]byte(c.Name))
			cs = append(cs, c)
			want[c.Name] += c.N
		}
		a.count(cs)
	}
	if diff := cmp.Diff(want, a.counterSnapshot()); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}
