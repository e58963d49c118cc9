package dpi

import "testing"

func TestIdentifyDHCPv6(t *testing.T) {
	// chrissanders dhcp6_outlease_acquisition.pcapng frame 1: a Solicit
	// (tshark -e udp.payload), cut after its first option (client ID).
	solicit := []byte{0x01, 0x9d, 0xe0, 0x3f, 0x00, 0x01, 0x00, 0x0e,
		0x00, 0x01, 0x00, 0x01, 0x1d, 0xef, 0x69, 0xbd, 0x00, 0x0c, 0x29, 0x5e, 0x77, 0x44}
	relay := make([]byte, 38)
	relay[0], relay[35], relay[37] = 12, 9, 0 // Relay-forward, option 9, length 0
	cases := []struct {
		name         string
		transport    uint8
		sport, dport uint16
		payload      []byte
		want         bool
	}{
		{"solicit", UDP, 546, 547, solicit, true},
		{"reply", UDP, 547, 546, append([]byte{7}, solicit[1:]...), true},
		{"relay-forward", UDP, 547, 547, relay, true},
		{"relay too short", UDP, 547, 547, relay[:36], false},
		{"option past the end", UDP, 546, 547, solicit[:21], false},
		{"no option", UDP, 546, 547, solicit[:4], false},
		{"type 0", UDP, 546, 547, append([]byte{0}, solicit[1:]...), false},
		{"type 14", UDP, 546, 547, append([]byte{14}, solicit[1:]...), false},
		{"other port", UDP, 5000, 5001, solicit, false},
		{"tcp", TCP, 546, 547, solicit, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &Packet{Transport: c.transport, SrcPort: c.sport, DstPort: c.dport, Payload: c.payload}
			if got := (DHCPv6{}).Identify(p); got != c.want {
				t.Errorf("Identify = %v, want %v", got, c.want)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() {
		(DHCPv6{}).Identify(&Packet{Transport: UDP, SrcPort: 546, DstPort: 547, Payload: solicit})
	}); n != 0 {
		t.Errorf("Identify allocates %v times", n)
	}
}

func FuzzIdentifyDHCPv6(f *testing.F) {
	f.Add([]byte{0x01, 0x9d, 0xe0, 0x3f, 0x00, 0x01, 0x00, 0x0e, 0x00, 0x01, 0x00, 0x01, 0x1d, 0xef, 0x69, 0xbd, 0x00, 0x0c, 0x29, 0x5e, 0x77, 0x44})
	f.Fuzz(func(t *testing.T, b []byte) {
		(DHCPv6{}).Identify(&Packet{Transport: UDP, SrcPort: 546, DstPort: 547, Payload: b})
	})
}
