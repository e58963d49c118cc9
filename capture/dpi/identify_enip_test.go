package dpi

import "testing"

func TestENIPIdentify(t *testing.T) {
	// TCP payloads from tshark -T fields -e tcp.payload of enip_test1.pcap
	// frames 4 and 6 and EIP-FirmwareChange.pcap frame 10680, and the UDP
	// payload of nDPI cip_io.pcap frame 1 (CIP I/O on port 2222).
	const listIdentity = "63000000000000000000000000000000c1debed100000000"
	const reply = "63003300000000000000000000000000c1debed10000000001000c002d0001000002af120a0101a4000000000000000001000c003a00040330008e4d52000b313735362d454e42542f4103"
	runICSIdentify(t, ENIP{}, []icsIdentifyCase{
		{"ListIdentity request", TCP, 31304, 44818, listIdentity, true},
		{"ListIdentity reply", TCP, 44818, 31304, reply, true},
		{"RegisterSession", TCP, 1072, 44818, "65000400000000000000000000000000000000000000000001000000", true},
		{"ListIdentity over UDP", UDP, 50000, 44818, listIdentity, true},
		{"ListIdentity reply over UDP", UDP, 44818, 50000, reply, true},
		{"legacy 0x0001 over TCP", TCP, 1072, 44818, "010000000000000000000000000000000000000000000000", true},
		{"RegisterSession over UDP", UDP, 1072, 44818, "65000400000000000000000000000000000000000000000001000000", false},
		{"UDP length mismatch", UDP, 50000, 44818, listIdentity + "00", false},
		{"length past payload", TCP, 31304, 44818, "63000100000000000000000000000000c1debed100000000", false},
		{"unknown command", TCP, 31304, 44818, "99000000000000000000000000000000c1debed100000000", false},
		{"unknown status", TCP, 31304, 44818, "63000000000000000700000000000000c1debed100000000", false},
		{"options set", TCP, 31304, 44818, "63000000000000000000000000000000c1debed101000000", false},
		{"other port", TCP, 31304, 44819, listIdentity, false},
		{"CIP I/O on 2222", UDP, 2222, 2222, "020002800800787b3a00e8cb5e04b1000c000300fdffffffffffffff0000", false},
		{"short", TCP, 31304, 44818, "6300", false},
	})
}

func FuzzENIPIdentify(f *testing.F) {
	f.Add(uint8(TCP), []byte{0x63, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint8(UDP), []byte{0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, transport uint8, payload []byte) {
		(ENIP{}).Identify(&Packet{Transport: transport, SrcPort: 44818, DstPort: 50000, Payload: payload})
	})
}
