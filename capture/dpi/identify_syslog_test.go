package dpi

import "testing"

func TestIdentifySyslog(t *testing.T) {
	cases := []struct {
		name    string
		port    uint16
		payload string
		want    bool
	}{
		// tcpdump syslog_udp.pcap frame 1 and the zeek trace.
		{"rfc3164", 514, "<5>Sep 12 19:16:12 through logger: test", true},
		{"rfc5424", 514, "<133>1 2026-11-29T06:06:01.564886+00:00 host app - - -", true},
		{"pri 0", 514, "<0>x", true},
		{"pri 191", 514, "<191>x", true},
		{"pri 192", 514, "<192>x", false},
		{"leading zero", 514, "<05>x", false},
		{"four digits", 514, "<1000>x", false},
		{"empty pri", 514, "<>xx", false},
		{"no closing", 514, "<13 x", false},
		{"cut", 514, "<13", false},
		{"not a pri", 514, "GET / HTTP/1.1", false},
		{"other port", 5140, "<13>x", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &Packet{Transport: UDP, SrcPort: 40000, DstPort: c.port, Payload: []byte(c.payload)}
			if got := (Syslog{}).Identify(p); got != c.want {
				t.Errorf("Identify(%q) = %v, want %v", c.payload, got, c.want)
			}
		})
	}
	if (Syslog{}).Identify(&Packet{Transport: TCP, DstPort: 514, Payload: []byte("<13>x")}) {
		t.Error("TCP 514 (rsh) identified as syslog")
	}
	if n := testing.AllocsPerRun(100, func() {
		(Syslog{}).Identify(&Packet{Transport: UDP, DstPort: 514, Payload: []byte("<13>x")})
	}); n != 0 {
		t.Errorf("Identify allocates %v times", n)
	}
}

func FuzzIdentifySyslog(f *testing.F) {
	f.Add([]byte("<5>Sep 12 19:16:12 through logger: test"))
	f.Add([]byte("<191>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		(Syslog{}).Identify(&Packet{Transport: UDP, DstPort: 514, Payload: b})
	})
}
