package dpi

import (
	"encoding/hex"
	"testing"
)

// icsIdentifyCase is one payload for an identifier test.
type icsIdentifyCase struct {
	name      string
	transport uint8
	sport     uint16
	dport     uint16
	payload   string // hex
	want      bool
}

func runICSIdentify(t *testing.T, id Identifier, cases []icsIdentifyCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := hex.DecodeString(c.payload)
			if err != nil {
				t.Fatal(err)
			}
			p := &Packet{Transport: c.transport, SrcPort: c.sport, DstPort: c.dport, Payload: b}
			if got := id.Identify(p); got != c.want {
				t.Errorf("Identify = %v, want %v", got, c.want)
			}
		})
	}
}

func TestBACnetIdentify(t *testing.T) {
	// UDP payloads from tshark -T fields -e udp.payload of
	// BACnet-BBMD-on-same-subnet.cap and bacnet_test.pcap.
	runICSIdentify(t, BACnet{}, []icsIdentifyCase{
		{"Original-Broadcast-NPDU I-Am", UDP, 47808, 47808, "810b001401001000c4020009612201e091032118", true},
		{"Forwarded-NPDU", UDP, 47808, 47808, "8104001ec0a80012bac00120ffff00ff1000c4020000122205c491032112", true},
		{"Distribute-Broadcast-To-Network", UDP, 47808, 47808, "8109000c0120ffff000e1008", true},
		{"BVLC-Result", UDP, 47808, 47808, "810000060000", true},
		{"Register-Foreign-Device", UDP, 47809, 47808, "81050006ea60", true},
		{"ReadProperty-ACK", UDP, 47808, 47808, "810a0017010030010c0c023fffff194b3ec4020001f43f", true},
		{"other port of the family", UDP, 40000, 47823, "810b001401001000c4020009612201e091032118", true},
		{"port outside the family", UDP, 40000, 47824, "810b001401001000c4020009612201e091032118", false},
		{"tcp", TCP, 47808, 47808, "810b001401001000c4020009612201e091032118", false},
		{"length mismatch", UDP, 47808, 47808, "810b001501001000c4020009612201e091032118", false},
		{"BACnet/IPv6", UDP, 47808, 47808, "820b001401001000c4020009612201e091032118", false},
		{"unknown function", UDP, 47808, 47808, "810d0006ea60", false},
		{"NPDU version 2", UDP, 47808, 47808, "810b001402001000c4020009612201e091032118", false},
		{"reserved control bit", UDP, 47808, 47808, "810b001401401000c4020009612201e091032118", false},
		{"forwarded without NPDU", UDP, 47808, 47808, "81040008c0a80012", false},
		{"short", UDP, 47808, 47808, "810b", false},
	})
}

func FuzzBACnetIdentify(f *testing.F) {
	f.Add([]byte{0x81, 0x0b, 0x00, 0x08, 0x01, 0x00, 0x10, 0x08})
	f.Add([]byte{0x81, 0x04, 0x00, 0x0c, 0xc0, 0xa8, 0x00, 0x12, 0xba, 0xc0, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, payload []byte) {
		(BACnet{}).Identify(&Packet{Transport: UDP, SrcPort: 47808, DstPort: 47808, Payload: payload})
	})
}
