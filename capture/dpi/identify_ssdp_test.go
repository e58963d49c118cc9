package dpi

import "testing"

// The payloads are the starts of real messages: suricata sip-ssdp-pm
// ssdp.pcap (NOTIFY of MiniUPnPd), nDPI ssdp-m-search-ua.pcap (M-SEARCH
// of Chrome), nDPI ssdp-m-search.pcap (Plex GDM on port 32412) and the
// MiniDLNA search response of capture/dpi/ssdp/testdata/minidlna.pcap.
const (
	ssdpNotifyMsg = "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=120\r\n"
	ssdpSearchMsg = "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\n"
	ssdpOKMsg     = "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=70\r\nDATE: Sun, 29 Nov 2026 06:23:10 GMT\r\n" +
		"ST: upnp:rootdevice\r\nUSN: uuid:4d696e69-444c-164e-9d41-3640b7df6678::upnp:rootdevice\r\n\r\n"
)

func TestIdentifySSDP(t *testing.T) {
	cases := []struct {
		name         string
		transport    uint8
		sport, dport uint16
		payload      string
		want         bool
	}{
		{"notify", UDP, 40000, 1900, ssdpNotifyMsg, true},
		{"m-search", UDP, 56446, 1900, ssdpSearchMsg, true},
		{"m-search, other port", UDP, 42253, 32412, "M-SEARCH * HTTP/1.1\r\n\r\n", true},
		{"answer from 1900", UDP, 1900, 52939, ssdpOKMsg, true},
		{"answer from another port", UDP, 40001, 52939, ssdpOKMsg, true},
		{"answer, lower-case usn", UDP, 40001, 52939, "HTTP/1.1 200 OK\r\nusn: uuid:x\r\n\r\n", true},
		{"http over udp without ssdp headers", UDP, 40001, 52939, "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", false},
		{"error on 1900", UDP, 1900, 52939, "HTTP/1.1 404 Not Found\r\n\r\n", false},
		{"tcp notify (gena)", TCP, 40000, 1900, ssdpNotifyMsg, false},
		{"gena notify path", UDP, 40000, 1900, "NOTIFY /evt HTTP/1.1\r\n", false},
		{"cut", UDP, 1900, 40000, "HTTP/1.1 200", false},
		{"empty", UDP, 1900, 1900, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &Packet{Transport: c.transport, SrcPort: c.sport, DstPort: c.dport, Payload: []byte(c.payload)}
			if got := (SSDP{}).Identify(p); got != c.want {
				t.Errorf("Identify = %v, want %v", got, c.want)
			}
		})
	}
	p := &Packet{Transport: UDP, SrcPort: 40001, DstPort: 52939, Payload: []byte(ssdpOKMsg)}
	if n := testing.AllocsPerRun(100, func() { (SSDP{}).Identify(p) }); n != 0 {
		t.Errorf("Identify allocates %v times", n)
	}
}

func FuzzIdentifySSDP(f *testing.F) {
	f.Add(uint16(1900), []byte(ssdpNotifyMsg))
	f.Add(uint16(1900), []byte(ssdpSearchMsg))
	f.Add(uint16(40000), []byte(ssdpOKMsg))
	f.Fuzz(func(t *testing.T, port uint16, b []byte) {
		(SSDP{}).Identify(&Packet{Transport: UDP, SrcPort: port, DstPort: 52939, Payload: b})
	})
}
