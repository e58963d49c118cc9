package dpi

import "testing"

func TestTelnetIdentify(t *testing.T) {
	cases := []struct {
		name      string
		transport uint8
		sport     uint16
		dport     uint16
		payload   []byte
		want      bool
	}{
		// First payload of packethunting Telnet-login.pcap (client DO SUPPRESS-GO-AHEAD, WILL TTYPE ...).
		{"client negotiation", TCP, 56760, 23, []byte{0xff, 0xfd, 0x03, 0xff, 0xfb, 0x18}, true},
		{"server negotiation", TCP, 23, 56760, []byte{0xff, 0xfd, 0x18, 0xff, 0xfd, 0x20}, true},
		{"server banner text", TCP, 23, 40000, []byte("\r\nUbuntu 22.04 LTS\r\nhost login: "), true},
		{"not port 23", TCP, 40000, 2323, []byte{0xff, 0xfd, 0x03}, false},
		{"udp", UDP, 40000, 23, []byte{0xff, 0xfd, 0x03}, false},
		{"binary on port 23", TCP, 40000, 23, []byte{0x16, 0x03, 0x01, 0x02, 0x00}, false},
		{"lone IAC", TCP, 40000, 23, []byte{0xff}, false},
		{"IAC then data byte", TCP, 40000, 23, []byte{0xff, 0x41}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &Packet{Transport: c.transport, SrcPort: c.sport, DstPort: c.dport, Payload: c.payload}
			if got := (Telnet{}).Identify(p); got != c.want {
				t.Errorf("Identify = %v, want %v", got, c.want)
			}
		})
	}
}

func TestTelnetIdentifyAllocs(t *testing.T) {
	p := &Packet{Transport: TCP, SrcPort: 23, DstPort: 40000, Payload: []byte("\r\nhost login: ")}
	if !(Telnet{}).Identify(p) {
		t.Fatal("not identified")
	}
	if n := testing.AllocsPerRun(100, func() { (Telnet{}).Identify(p) }); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
}

func FuzzTelnetIdentify(f *testing.F) {
	f.Add(uint16(23), []byte{0xff, 0xfd, 0x03})
	f.Add(uint16(23), []byte("login: "))
	f.Fuzz(func(t *testing.T, port uint16, payload []byte) {
		(Telnet{}).Identify(&Packet{Transport: TCP, SrcPort: port, DstPort: 40000, Payload: payload})
	})
}
