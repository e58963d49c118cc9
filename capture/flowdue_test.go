package capture

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/events"
)

// TestAdvanceDueShortcut: a table that skips Advance until nextDue emits
// the same flows, in the same order, as one that walks its lists on every
// packet, on random traffic with expiries, linger, attempts, updates,
// evictions, time going back and a clock reset. A push that did not lower
// nextDue would delay an expiry and show here.
func TestAdvanceDueShortcut(t *testing.T) {
	cfg := defaultTableConfig()
	cfg.TCPTimeout, cfg.UDPTimeout, cfg.ICMPTimeout = 40*time.Second, 10*time.Second, 7*time.Second
	cfg.TCPLinger, cfg.TCPAttemptTimeout, cfg.ActiveTimeout = 3*time.Second, 5*time.Second, 15*time.Second
	for seed := range uint64(20) {
		cfg.MaxFlows = 8 + int(seed)*4
		r := rand.New(rand.NewPCG(seed, 7))
		var fast, walk []events.Flow
		a := NewFlowTable(cfg, nil, func(f events.Flow) { fast = append(fast, f) })
		b := NewFlowTable(cfg, nil, func(f events.Flow) { walk = append(walk, f) })
		at := time.Unix(1700000000, 0).UTC()
		hosts := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
			netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("fe80::1")}
		for i := range 4000 {
			switch x := r.IntN(100); {
			case x < 60:
				at = at.Add(time.Duration(r.IntN(300)) * time.Millisecond)
			case x < 90:
				at = at.Add(time.Duration(r.IntN(20)) * time.Second)
			case x < 97:
				at = at.Add(time.Duration(r.IntN(120)) * time.Second)
			default:
				at = at.Add(-time.Duration(r.IntN(30)) * time.Second) // capture time going back
			}
			src, dst := hosts[r.IntN(3)], hosts[r.IntN(3)]
			if r.IntN(10) == 0 {
				src, dst = hosts[3], hosts[3]
			}
			d := Decoded{Time: at, IPVersion: 4, Src: src, Dst: dst, Transport: true, IPLength: 60 + r.IntN(100),
				SrcPort: uint16(40000 + r.IntN(3)), DstPort: []uint16{80, 53, 104}[r.IntN(3)]}
			if src.Is6() {
				d.IPVersion = 6
			}
			switch r.IntN(3) {
			case 0:
				d.Protocol = protoUDP
			case 1:
				d.Protocol, d.ICMPType = protoICMP, 8
			default:
				d.Protocol = protoTCP
				d.TCPFlags = []uint8{tcpSYN, tcpSYN | tcpACK, tcpACK, tcpACK | tcpPSH, tcpFIN | tcpACK, tcpRST}[r.IntN(6)]
				d.Seq, d.Ack = r.Uint32N(4), r.Uint32N(4)
			}
			if r.IntN(2) == 0 {
				d.SrcPort, d.DstPort, d.Src, d.Dst = d.DstPort, d.SrcPort, d.Dst, d.Src
			}
			a.Packet(&d)
			b.nextDue = time.Time{} // walk the lists every time, as before the shortcut
			b.Packet(&d)
			if i == 2000 { // what the pipeline does when capture time jumps back
				a.Flush()
				b.Flush()
				a.resetClock()
				b.resetClock()
			}
		}
		a.Flush()
		b.Flush()
		if len(walk) < 100 {
			t.Fatalf("seed %d: only %d flows: the traffic does not exercise the table", seed, len(walk))
		}
		if diff := cmp.Diff(walk, fast); diff != "" {
			t.Fatalf("seed %d: flows differ with the shortcut (-walk +shortcut):\n%s", seed, diff)
		}
	}
}
