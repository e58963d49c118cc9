package dpi

import "testing"

// Real messages: arkime nbns.pcap frame 3 (registration of MDJR98<00>),
// nDPI netbios.pcap frame 55 (start of a node status response) and frame
// 20 (start of a browser host announcement datagram).
const (
	nbnsRegistration = "00082900000100000000000120454e4545454b4643444a444943414341434143414341434143414341434141410000200001c00c00200001000493e000060000c0a8ef81"
	nbnsNodeStatus   = "20a88400000000010000000020434b41414141414141414141414141414141414141414141414141"
	nbdgmAnnounce    = "110ec2f40a000509008a00bb000020454f46474643444a434143414341434143414341434143414341434143414341002046"
)

func TestIdentifyNetBIOS(t *testing.T) {
	reg, status, dgm := mustDecode(t, nbnsRegistration), mustDecode(t, nbnsNodeStatus), mustDecode(t, nbdgmAnnounce)
	dns := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 0, 0, 1, 0, 1}
	cases := []struct {
		name         string
		id           Identifier
		sport, dport uint16
		payload      []byte
		want         bool
	}{
		{"registration", NetBIOSNS{}, 137, 137, reg, true},
		{"node status response to a high port", NetBIOSNS{}, 137, 57836, status, true},
		{"registration on another port", NetBIOSNS{}, 40000, 53, reg, false},
		{"dns on 137", NetBIOSNS{}, 40000, 137, dns, false},
		{"opcode 3", NetBIOSNS{}, 137, 137, append([]byte{0, 8, 0x18}, reg[3:]...), false},
		{"two questions", NetBIOSNS{}, 137, 137, append(append([]byte{}, reg[:4]...), append([]byte{0, 2}, reg[6:]...)...), false},
		{"no question nor answer", NetBIOSNS{}, 137, 137, make([]byte, 12), false},
		{"datagram", NetBIOSDGM{}, 138, 138, dgm, true},
		{"datagram error", NetBIOSDGM{}, 138, 138, []byte{0x13, 2, 0, 1, 10, 0, 5, 9, 0, 138, 0x82}, true},
		{"datagram, bad source name", NetBIOSDGM{}, 138, 138, append(append([]byte{}, dgm[:14]...), 0x21), false},
		{"datagram type 0x20", NetBIOSDGM{}, 138, 138, append([]byte{0x20}, dgm[1:]...), false},
		{"datagram on 137", NetBIOSDGM{}, 137, 137, dgm, false},
		{"short datagram", NetBIOSDGM{}, 138, 138, dgm[:10], false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &Packet{Transport: UDP, SrcPort: c.sport, DstPort: c.dport, Payload: c.payload}
			if got := c.id.Identify(p); got != c.want {
				t.Errorf("Identify = %v, want %v", got, c.want)
			}
			p.Transport = TCP
			if c.id.Identify(p) {
				t.Error("identified over TCP")
			}
		})
	}
	p := &Packet{Transport: UDP, SrcPort: 137, DstPort: 137, Payload: reg}
	q := &Packet{Transport: UDP, SrcPort: 138, DstPort: 138, Payload: dgm}
	if n := testing.AllocsPerRun(100, func() { (NetBIOSNS{}).Identify(p); (NetBIOSDGM{}).Identify(q) }); n != 0 {
		t.Errorf("Identify allocates %v times", n)
	}
}

func FuzzIdentifyNetBIOS(f *testing.F) {
	f.Add(uint16(137), mustDecode(f, nbnsRegistration))
	f.Add(uint16(137), mustDecode(f, nbnsNodeStatus))
	f.Add(uint16(138), mustDecode(f, nbdgmAnnounce))
	f.Fuzz(func(t *testing.T, port uint16, b []byte) {
		p := &Packet{Transport: UDP, SrcPort: port, DstPort: port, Payload: b}
		(NetBIOSNS{}).Identify(p)
		(NetBIOSDGM{}).Identify(p)
	})
}
