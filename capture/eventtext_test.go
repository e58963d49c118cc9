package capture

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
)

// TestEventTextIsTheStandardText: remembered strings are always those of
// net.HardwareAddr.String, netip.Addr.String and string(history), also
// when many values share a slot.
func TestEventTextIsTheStandardText(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var c eventText
	for i := range 200000 {
		var m [6]byte
		for j := range m {
			m[j] = byte(r.IntN(4) * 85) // few values: repeats and collisions
		}
		if got, want := c.mac(m), net.HardwareAddr(m[:]).String(); got != want {
			t.Fatalf("mac %x: %q, want %q", m, got, want)
		}
		var a netip.Addr
		switch i % 4 {
		case 0:
			a = netip.AddrFrom4([4]byte{10, byte(r.IntN(3)), byte(r.IntN(4)), byte(r.IntN(300))})
		case 1:
			a = netip.AddrFrom16(netip.AddrFrom4([4]byte{10, 0, 0, byte(r.IntN(300))}).As16()) // v4-mapped
		case 2:
			var b [16]byte
			b[0], b[15] = 0xfe, byte(r.IntN(256))
			a = netip.AddrFrom16(b)
		case 3:
			var b [16]byte
			b[0], b[1], b[15] = 0xfe, 0x80, byte(r.IntN(4))
			a = netip.AddrFrom16(b).WithZone([]string{"", "eth0", "eth1"}[r.IntN(3)])
		}
		if got, want := c.ip(a), a.String(); got != want {
			t.Fatalf("ip %v: %q, want %q", a, got, want)
		}
		h := []byte("ShADadFf^RrTtWw")[:r.IntN(16)]
		r.Shuffle(len(h), func(x, y int) { h[x], h[y] = h[y], h[x] })
		if got := c.history(h); got != string(h) {
			t.Fatalf("history %q: %q", h, got)
		}
	}
	if len(c.histories) > maxHistories {
		t.Errorf("%d histories remembered, the bound is %d", len(c.histories), maxHistories)
	}
}
