package dpi

import "testing"

func TestRDPIdentify(t *testing.T) {
	// Frame 6 of zeek rdp/rdp-x509.pcap: cookie and RDP_NEG_REQ (standard security).
	x509 := []byte("\x03\x00\x00\x2f\x2a\xe0\x00\x00\x00\x00\x00Cookie: mstshash=JOHN-PC  \r\n\x01\x00\x08\x00\x00\x00\x00\x00")
	// Frame 4 of nDPI rdp.pcap: no cookie, RDP_NEG_REQ asking for TLS, CredSSP and CredSSP-EX.
	noCookie := []byte("\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x0b\x00\x00\x00")
	// An S7comm COTP Connection Request (port 102).
	s7 := []byte("\x03\x00\x00\x16\x11\xe0\x00\x00\x00\x01\x00\xc1\x02\x01\x00\xc2\x02\x01\x02\xc0\x01\x0a")
	cases := []struct {
		name    string
		dport   uint16
		payload []byte
		want    bool
	}{
		{"cookie and neg req on 3389", 3389, x509, true},
		{"cookie elsewhere", 13389, x509, true},
		{"neg req elsewhere", 13389, noCookie, true},
		{"s7comm", 102, s7, false},
		{"s7comm on 3389", 3389, s7, true},
		{"connection confirm", 3389, []byte("\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x00\x08\x00\x00\x00\x00\x00"), false},
		{"length mismatch", 3389, x509[:20], false},
		{"not tpkt", 3389, []byte("\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03\x00"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &Packet{Transport: TCP, SrcPort: 54990, DstPort: c.dport, Payload: c.payload}
			if got := (RDP{}).Identify(p); got != c.want {
				t.Errorf("Identify = %v, want %v", got, c.want)
			}
		})
	}
}

func TestRDPIdentifyAllocs(t *testing.T) {
	p := &Packet{Transport: TCP, SrcPort: 40000, DstPort: 13389, Payload: []byte("\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x0b\x00\x00\x00")}
	if !(RDP{}).Identify(p) {
		t.Fatal("not identified")
	}
	if n := testing.AllocsPerRun(100, func() { (RDP{}).Identify(p) }); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
}

func FuzzRDPIdentify(f *testing.F) {
	f.Add(uint16(3389), []byte("\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x0b\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, port uint16, payload []byte) {
		(RDP{}).Identify(&Packet{Transport: TCP, SrcPort: 40000, DstPort: port, Payload: payload})
	})
}
