package dpi

import "testing"

func TestFTPIdentify(t *testing.T) {
	cases := []struct {
		name    string
		sport   uint16
		dport   uint16
		payload string
		want    bool
	}{
		// Greetings from zeek ftp/ipv4.pcap, nDPI ftp.pcap and suricata ftp-bounce.
		{"netbsd greeting", 21, 50003, "220 ftp.NetBSD.org FTP server (NetBSD-ftpd 20100320) ready.\r\n", true},
		{"vsftpd greeting, other port", 2121, 50003, "220 (vsFTPd 3.0.3)\r\n", true},
		{"plain greeting on 21", 21, 33112, "220 Operation successful\r\n", true},
		{"multi-line greeting", 21, 41972, "220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------\r\n", true},
		{"smtp greeting", 25, 40000, "220 mail.example.org ESMTP Postfix\r\n", false},
		{"smtp greeting naming ftp", 2525, 40000, "220 ftp.example.org ESMTP\r\n", false},
		{"plain greeting elsewhere", 2121, 40000, "220 Operation successful\r\n", false},
		{"user command", 40000, 21, "USER anonymous\r\n", true},
		{"user command, other port", 40000, 2121, "USER hello\r\n", true},
		{"pop3 user", 40000, 110, "USER bob\r\n", false},
		{"irc user", 40000, 6667, "USER guest 0 * :Ronnie Reagan\r\n", false},
		{"user without end of line", 40000, 21, "USER bob", false},
		{"user without name", 40000, 21, "USER \r\n", false},
		{"http", 40000, 21, "GET / HTTP/1.1\r\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &Packet{Transport: TCP, SrcPort: c.sport, DstPort: c.dport, Payload: []byte(c.payload)}
			if got := (FTP{}).Identify(p); got != c.want {
				t.Errorf("Identify = %v, want %v", got, c.want)
			}
		})
	}
	if (FTP{}).Identify(&Packet{Transport: UDP, SrcPort: 21, Payload: []byte("220 x\r\n")}) {
		t.Error("UDP identified as FTP")
	}
}

func TestFTPIdentifyAllocs(t *testing.T) {
	p := &Packet{Transport: TCP, SrcPort: 2121, DstPort: 40000, Payload: []byte("220 (vsFTPd 3.0.3)\r\n")}
	if !(FTP{}).Identify(p) {
		t.Fatal("not identified")
	}
	if n := testing.AllocsPerRun(100, func() { (FTP{}).Identify(p) }); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
}

func FuzzFTPIdentify(f *testing.F) {
	f.Add(uint16(21), []byte("220 (vsFTPd 3.0.3)\r\n"))
	f.Add(uint16(2121), []byte("USER anonymous\r\n"))
	f.Fuzz(func(t *testing.T, port uint16, payload []byte) {
		(FTP{}).Identify(&Packet{Transport: TCP, SrcPort: port, DstPort: 40000, Payload: payload})
	})
}
