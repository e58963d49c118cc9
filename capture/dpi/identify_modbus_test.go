package dpi

import "testing"

func TestModbusIdentify(t *testing.T) {
	// TCP payloads from tshark -T fields -e tcp.payload of suricata
	// modbus.pcap frames 8-9, modbus_example.pcap frame 92, nDPI umas.pcap
	// frame 4 and the TLS ClientHello on port 502 of
	// modbus-and-non-modbus-p502.pcap.
	runICSIdentify(t, Modbus{}, []icsIdentifyCase{
		{"diagnostics request", TCP, 2578, 502, "0000000000060a0800040000", true},
		{"exception response", TCP, 502, 2578, "0000000000030a880b", true},
		{"read device identification", TCP, 47785, 502, "001700000005012b0e0100", true},
		{"UMAS", TCP, 7718, 502, "000000000004005a0002", true},
		{"two ADUs", TCP, 2578, 502, "0000000000060a08000400000000000000060a0800040000", true},
		{"function 0", TCP, 2582, 502, "000000000006010000000000", false},
		{"exception of function 0", TCP, 502, 2582, "000000000003018001", false},
		{"protocol identifier 16", TCP, 2585, 502, "0001001000060a0100010003", false},
		{"length past payload", TCP, 2578, 502, "0000000000070a0800040000", false},
		{"length 1", TCP, 2578, 502, "0000000000010a08", false},
		{"TLS on 502", TCP, 58380, 502, "1603010085010000810303736ff818542129f78f", false},
		{"other port", TCP, 2578, 503, "0000000000060a0800040000", false},
		{"udp", UDP, 2578, 502, "0000000000060a0800040000", false},
	})
}

func FuzzModbusIdentify(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 6, 0x0a, 0x08, 0, 4, 0, 0})
	f.Fuzz(func(t *testing.T, payload []byte) {
		(Modbus{}).Identify(&Packet{Transport: TCP, SrcPort: 502, DstPort: 40000, Payload: payload})
	})
}
