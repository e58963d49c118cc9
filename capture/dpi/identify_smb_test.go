package dpi

import "testing"

func TestSMBIdentify(t *testing.T) {
	cases := []struct {
		name      string
		transport uint8
		payload   []byte
		want      bool
	}{
		// Starts of frame 4 of zeek smb/smb2.pcap (SMB1 NEGOTIATE, 0xa8 bytes)
		// and frame 1 of smb/smb3.pcap (SMB2 NEGOTIATE).
		{"smb1 negotiate", TCP, []byte{0x00, 0x00, 0x00, 0xa8, 0xff, 'S', 'M', 'B', 0x72}, true},
		{"smb2 negotiate", TCP, []byte{0x00, 0x00, 0x00, 0x68, 0xfe, 'S', 'M', 'B', 0x40, 0x00}, true},
		{"transform header", TCP, []byte{0x00, 0x00, 0x00, 0x68, 0xfd, 'S', 'M', 'B'}, false},
		{"netbios session request", TCP, []byte{0x81, 0x00, 0x00, 0x44, 0x20, 0x45, 0x45, 0x45}, false},
		{"too short for a header", TCP, []byte{0x00, 0x00, 0x00, 0x10, 0xff, 'S', 'M', 'B'}, false},
		{"udp", UDP, []byte{0x00, 0x00, 0x00, 0xa8, 0xff, 'S', 'M', 'B'}, false},
		{"truncated", TCP, []byte{0x00, 0x00, 0x00, 0xa8, 0xff, 'S'}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &Packet{Transport: c.transport, SrcPort: 49208, DstPort: 445, Payload: c.payload}
			if got := (SMB{}).Identify(p); got != c.want {
				t.Errorf("Identify = %v, want %v", got, c.want)
			}
		})
	}
}

func TestSMBIdentifyAllocs(t *testing.T) {
	p := &Packet{Transport: TCP, SrcPort: 445, DstPort: 40000, Payload: []byte{0, 0, 0, 0x68, 0xfe, 'S', 'M', 'B'}}
	if !(SMB{}).Identify(p) {
		t.Fatal("not identified")
	}
	if n := testing.AllocsPerRun(100, func() { (SMB{}).Identify(p) }); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
}

func FuzzSMBIdentify(f *testing.F) {
	f.Add([]byte{0x00, 0x00, 0x00, 0xa8, 0xff, 'S', 'M', 'B', 0x72})
	f.Fuzz(func(t *testing.T, payload []byte) {
		(SMB{}).Identify(&Packet{Transport: TCP, SrcPort: 445, DstPort: 40000, Payload: payload})
	})
}
