package dpi

import (
	"encoding/hex"
	"testing"
)

// mdnsResponse is the start of frame 4 of zeek mdns.pcap (an mDNS
// response of 6 answers: flags 0x8400), mdnsQuery its frame 2 (PTR
// questions for _ipp._tcp.local and _ipps._tcp.local).
const (
	mdnsResponse = "0000840000000006000000001c6a6f68616e6e612d51454d55"
	mdnsQuery    = "000000000002000000000000045f697070045f746370056c6f63616c00000c0001055f69707073c011000c0001"
)

func mustDecode(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIdentifyMDNS(t *testing.T) {
	resp, query := mustDecode(t, mdnsResponse), mustDecode(t, mdnsQuery)
	cases := []struct {
		name         string
		transport    uint8
		sport, dport uint16
		payload      []byte
		want         bool
	}{
		{"response", UDP, 5353, 5353, resp, true},
		{"query", UDP, 5353, 5353, query, true},
		{"legacy unicast query", UDP, 40000, 5353, query, true},
		{"legacy unicast answer", UDP, 5353, 40000, resp, true},
		{"header only", UDP, 5353, 5353, resp[:12], true},
		{"port 53", UDP, 40000, 53, query, false},
		{"tcp", TCP, 40000, 5353, query, false},
		{"opcode 2", UDP, 5353, 5353, append([]byte{0, 0, 0x10}, query[3:]...), false},
		{"rcode 3", UDP, 5353, 5353, append([]byte{0, 0, 0x84, 0x03}, resp[4:]...), false},
		{"no records", UDP, 5353, 5353, make([]byte, 12), false},
		{"too many questions", UDP, 5353, 5353, append([]byte{0, 0, 0, 0, 0x04, 0x01}, query[6:]...), false},
		{"first name a pointer", UDP, 5353, 5353, append(append([]byte{}, query[:12]...), 0xc0, 0x0c), false},
		{"short", UDP, 5353, 5353, resp[:11], false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &Packet{Transport: c.transport, SrcPort: c.sport, DstPort: c.dport, Payload: c.payload}
			if got := (MDNS{}).Identify(p); got != c.want {
				t.Errorf("Identify = %v, want %v", got, c.want)
			}
		})
	}
	// Before DNS, the mDNS identifier names port 5353 traffic.
	ids, err := NewIdentifiers(MDNS{}, DNS{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids.Identify(&Packet{Transport: UDP, SrcPort: 5353, DstPort: 5353, Payload: resp}); got != ProtoMDNS {
		t.Errorf("MDNS, DNS: identified %q", got)
	}
	p := &Packet{Transport: UDP, SrcPort: 5353, DstPort: 5353, Payload: resp}
	if n := testing.AllocsPerRun(100, func() { (MDNS{}).Identify(p) }); n != 0 {
		t.Errorf("Identify allocates %v times", n)
	}
}

func FuzzIdentifyMDNS(f *testing.F) {
	f.Add(mustDecode(f, mdnsResponse))
	f.Add(mustDecode(f, mdnsQuery))
	f.Fuzz(func(t *testing.T, b []byte) {
		(MDNS{}).Identify(&Packet{Transport: UDP, SrcPort: 5353, DstPort: 5353, Payload: b})
	})
}
