package capture

import (
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
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
