package dhcp

import (
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

func message(t testing.TB, typ layers.DHCPMsgType, opts ...layers.DHCPOption) []byte {
	t.Helper()
	m := &layers.DHCPv4{
		Operation: layers.DHCPOpRequest, HardwareType: layers.LinkTypeEthernet, HardwareLen: 6,
		ClientHWAddr: net.HardwareAddr{0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc},
		ClientIP:     net.IPv4zero, YourClientIP: net.IPv4(10, 1, 2, 3), NextServerIP: net.IPv4zero, RelayAgentIP: net.IPv4zero,
		Options: append([]layers.DHCPOption{layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(typ)})}, opts...),
	}
	buf := gopacket.NewSerializeBuffer()
	if err := m.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDissect(t *testing.T) {
	dev := events.DeviceKey("00:1b:21:aa:bb:cc", "", 7)
	base := events.Observation{Device: dev, MAC: "00:1b:21:aa:bb:cc", VLAN: 7, Protocol: "dhcp", FlowID: "f1"}
	with := func(attr, value string, conf float64, ev string) events.Observation {
		o := base
		o.Attribute, o.Value, o.Confidence, o.Evidence = attr, value, conf, ev
		return o
	}
	cases := []struct {
		name    string
		payload []byte
		want    []events.Observation
	}{
		{"request", message(t, layers.DHCPMsgTypeRequest,
			layers.NewDHCPOption(layers.DHCPOptHostname, []byte("infusion-07\x00")),
			layers.NewDHCPOption(layers.DHCPOptClassID, []byte("BD Alaris")),
			layers.NewDHCPOption(layers.DHCPOptClientID, []byte{1, 0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc}),
			layers.NewDHCPOption(layers.DHCPOptParamsRequest, []byte{1, 3, 6, 15}),
			layers.NewDHCPOption(layers.DHCPOptRequestIP, []byte{10, 1, 2, 3})),
			[]events.Observation{
				with("hostname", "infusion-07", 0.9, "DHCPREQUEST option 12"),
				with("dhcp.vendor_class", "BD Alaris", 0.9, "DHCPREQUEST option 60"),
				with("dhcp.client_id", "01:00:1b:21:aa:bb:cc", 0.9, "DHCPREQUEST option 61"),
				with("dhcp.fingerprint", "1,3,6,15", 0.8, "DHCPREQUEST option 55"),
				with("dhcp.requested_ip", "10.1.2.3", 0.6, "DHCPREQUEST option 50"),
			}},
		{"ack", message(t, layers.DHCPMsgTypeAck), []events.Observation{with("ip", "10.1.2.3", 0.95, "DHCPACK yiaddr")}},
		{"offer says nothing about the client", message(t, layers.DHCPMsgTypeOffer), nil},
	}
	d := New()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out dpi.Output
			err := d.Dissect(&dpi.Packet{VLAN: 7, FlowID: "f1", Payload: c.payload}, &out)
			got := out.Observations
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
		})
	}
	if err := d.Dissect(&dpi.Packet{Payload: []byte{1, 2, 3}}, &dpi.Output{}); err == nil {
		t.Error("no error for a 3-byte message")
	}
}

func FuzzDissect(f *testing.F) {
	f.Add(message(f, layers.DHCPMsgTypeRequest, layers.NewDHCPOption(layers.DHCPOptHostname, []byte("x"))))
	f.Add(message(f, layers.DHCPMsgTypeAck))
	d := New()
	f.Fuzz(func(t *testing.T, b []byte) {
		var out dpi.Output
		_ = d.Dissect(&dpi.Packet{Payload: b}, &out)
		for _, o := range out.Observations {
			if len(o.Value) > dpi.MaxValue {
				t.Fatalf("value of %d bytes", len(o.Value))
			}
		}
	})
}
