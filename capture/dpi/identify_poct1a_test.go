package dpi

import "testing"

// helloPOCT1A is the start of frame 4 of
// standash_poct1-a_server/pcaps/dca_basic_conversation_flow.pcapng
// (tshark -r ... -qz follow,tcp,ascii,0).
const helloPOCT1A = `<?xml version="1.0" encoding="utf-8"?><HEL.R01><HDR><HDR.message_type V="HEL.R01" />`

func TestIdentifyPOCT1A(t *testing.T) {
	cases := []struct {
		name      string
		transport uint8
		port      uint16
		payload   string
		want      bool
	}{
		{"hello", TCP, 3001, helloPOCT1A, true},
		{"hello, other port", TCP, 40000, helloPOCT1A, true},
		{"ack from the server", TCP, 3001, `<?xml version="1.0" encoding="utf-8"?><ACK.R01><HDR>`, true},
		{"no declaration", TCP, 40000, `<DST.R01><HDR>`, true},
		{"bom and whitespace", TCP, 40000, "\xef\xbb\xbf<?xml version='1.0'?>\r\n<OBS.R02 xmlns=\"x\">", true},
		{"self-closing root", TCP, 40000, `<EOT.R01/>`, true},
		{"declaration alone on 3001", TCP, 3001, `<?xml version="1.0" encoding="utf-8"?>`, true},
		{"declaration alone elsewhere", TCP, 5222, `<?xml version="1.0" encoding="utf-8"?>`, false},
		{"truncated declaration", TCP, 3001, `<?xml version="1.0"`, false},
		{"udp", UDP, 3001, helloPOCT1A, false},
		{"xmpp", TCP, 5222, `<?xml version='1.0'?><stream:stream to='example.com'>`, false},
		{"soap", TCP, 80, `<?xml version="1.0"?><soap:Envelope>`, false},
		{"inner element", TCP, 3001, `<DEV.vendor_id V="SIEM" />`, false},
		{"lower case", TCP, 3001, `<hel.r01>`, false},
		{"longer name", TCP, 3001, `<HEL.R011>`, false},
		{"short", TCP, 3001, `<HEL.R0`, false},
		{"empty", TCP, 3001, ``, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &Packet{Transport: c.transport, SrcPort: 1029, DstPort: c.port, Payload: []byte(c.payload)}
			if got := (POCT1A{}).Identify(p); got != c.want {
				t.Errorf("Identify = %v, want %v", got, c.want)
			}
		})
	}
	p := &Packet{Transport: TCP, DstPort: 3001, Payload: []byte(helloPOCT1A)}
	if n := testing.AllocsPerRun(100, func() { (POCT1A{}).Identify(p) }); n != 0 {
		t.Errorf("Identify allocates %v times", n)
	}
}

func FuzzIdentifyPOCT1A(f *testing.F) {
	f.Add(uint8(TCP), uint16(3001), []byte(helloPOCT1A))
	f.Add(uint8(TCP), uint16(3001), []byte(`<?xml version="1.0"?>`))
	f.Add(uint8(TCP), uint16(1), []byte(`<ACK.R01/>`))
	f.Fuzz(func(t *testing.T, transport uint8, port uint16, payload []byte) {
		(POCT1A{}).Identify(&Packet{Transport: transport, SrcPort: port, DstPort: port, Payload: payload})
	})
}
