package dpi

import (
	"testing"
)

func TestIdentify(t *testing.T) {
	dicom := make([]byte, 80)
	dicom[0], dicom[5], dicom[7] = 0x01, 74, 0x01
	dhcp := make([]byte, 300)
	dhcp[0] = 1
	copy(dhcp[236:], []byte{0x63, 0x82, 0x53, 0x63})
	cases := []struct {
		name      string
		transport uint8
		sport     uint16
		dport     uint16
		payload   []byte
		want      string
	}{
		{"dicom", TCP, 40000, 104, dicom, ProtoDICOM},
		{"hl7", TCP, 40000, 2575, []byte("\x0bMSH|^~\\&|"), ProtoHL7},
		{"tls", TCP, 40000, 443, []byte{0x16, 0x03, 0x01, 0x00, 0xc8, 0x01}, ProtoTLS},
		{"http", TCP, 40000, 8080, []byte("GET / HTTP/1.1\r\n"), ProtoHTTP},
		{"ssh", TCP, 40000, 2222, []byte("SSH-2.0-OpenSSH\r\n"), ProtoSSH},
		{"dns", UDP, 40000, 53, []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}, ProtoDNS},
		{"dhcp", UDP, 68, 67, dhcp, ProtoDHCP},
		{"ntp", UDP, 123, 123, append([]byte{0x23}, make([]byte, 47)...), ProtoNTP},
		{"snmp", UDP, 40000, 161, []byte{0x30, 0x26, 0x02, 0x01, 0x01, 0x04}, ProtoSNMP},
		{"dns port, junk", UDP, 40000, 53, []byte{1, 2, 3}, ""},
		{"dhcp ports, no cookie", UDP, 68, 67, make([]byte, 300), ""},
		{"unknown", TCP, 1, 2, []byte("hello"), ""},
	}
	ids := DefaultIdentifiers()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &Packet{Transport: c.transport, SrcPort: c.sport, DstPort: c.dport, Payload: c.payload}
			if got := ids.Identify(p); got != c.want {
				t.Errorf("Identify = %q, want %q", got, c.want)
			}
		})
	}
}

func FuzzIdentify(f *testing.F) {
	f.Add(uint8(TCP), uint16(104), []byte{1, 0, 0, 0, 0, 74, 0, 1})
	f.Add(uint8(UDP), uint16(53), []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Add(uint8(UDP), uint16(161), []byte{0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x01})
	ids := DefaultIdentifiers()
	f.Fuzz(func(t *testing.T, transport uint8, port uint16, payload []byte) {
		ids.Identify(&Packet{Transport: transport, SrcPort: port, DstPort: port, Payload: payload})
	})
}
