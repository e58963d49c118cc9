package dpi

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/vigil-health/vigil/events"
)

// TestDeviceTextIsDeviceKey: the observation's device key, MAC and IP are
// what events.DeviceKey, net.HardwareAddr.String and netip.Addr.String
// give.
func TestDeviceTextIsDeviceKey(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	addrs := []netip.Addr{{}, netip.MustParseAddr("10.20.0.21"), netip.MustParseAddr("0.0.0.0"),
		netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("2001:db8::ff"), netip.MustParseAddr("::ffff:10.1.2.3")}
	for range 5000 {
		var m [6]byte
		for j := range m {
			m[j] = byte(r.IntN(256))
		}
		hasMAC := r.IntN(2) == 0
		addr := addrs[r.IntN(len(addrs))]
		vlan := uint16(r.IntN(3)) * uint16(r.IntN(5000))
		device, mac, ip := deviceText(m, hasMAC, addr, vlan)
		var wantMAC, wantIP string
		if hasMAC {
			wantMAC = net.HardwareAddr(m[:]).String()
		}
		if addr.IsValid() {
			wantIP = addr.String()
		}
		if want := events.DeviceKey(wantMAC, wantIP, vlan); device != want || mac != wantMAC || ip != wantIP {
			t.Fatalf("deviceText(%x, %v, %v, %d) = %q %q %q, want %q %q %q", m, hasMAC, addr, vlan, device, mac, ip, want, wantMAC, wantIP)
		}
	}
}

// TestTextFastPathIsTextSlow: Text's shortcut for plain ASCII gives what
// the rune-by-rune cleaning gives, on random mixes of printable ASCII,
// spaces, controls and non-ASCII bytes of every length around MaxValue.
func TestTextFastPathIsTextSlow(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	alphabet := []byte("abcXYZ019 -_./:;=\"'<>&\t\n\r\x00\x7f\x80\xa0\xc3\xa9\xff")
	for i := range 100000 {
		n := r.IntN(300)
		if i%2 == 0 {
			n = MaxValue - 3 + r.IntN(7)
		}
		b := make([]byte, n)
		for j := range b {
			if r.IntN(8) == 0 {
				b[j] = alphabet[r.IntN(len(alphabet))]
			} else {
				b[j] = byte(0x21 + r.IntN(0x5e)) // printable ASCII
			}
		}
		if got, want := Text(b), textSlow(b); got != want {
			t.Fatalf("Text(%q) = %q, want %q", b, got, want)
		}
	}
	for _, s := range []string{"", " ", "a", " a", "a ", "a  b", "a b", "\ta", "INF-PUMP-02"} {
		if got, want := Text([]byte(s)), textSlow([]byte(s)); got != want {
			t.Errorf("Text(%q) = %q, want %q", s, got, want)
		}
	}
}
