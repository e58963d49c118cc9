package dhcp

import (
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/internal/testshared"
)

func TestLeaseFQDNAndRelease(t *testing.T) {
	d := New()
	var out dpi.Output
	// An ACK with a one-day lease.
	ack := message(t, layers.DHCPMsgTypeAck, layers.NewDHCPOption(layers.DHCPOptLeaseTime, []byte{0, 1, 0x51, 0x80}))
	if err := d.Dissect(&dpi.Packet{Payload: ack}, &out); err != nil {
		t.Fatal(err)
	}
	if o := out.Observations; len(o) != 1 || o[0].Value != "10.1.2.3" || o[0].Evidence != "DHCPACK yiaddr (lease 86400s)" {
		t.Errorf("ack: %+v", o)
	}
	// A REQUEST with an FQDN in DNS wire format (E flag).
	out.Reset()
	fqdn := []byte{0x05, 0, 0, 4, 'p', 'u', 'm', 'p', 3, 'i', 'c', 'u', 0}
	if err := d.Dissect(&dpi.Packet{Payload: message(t, layers.DHCPMsgTypeRequest, layers.NewDHCPOption(optClientFQDN, fqdn))}, &out); err != nil {
		t.Fatal(err)
	}
	if o := out.Observations; len(o) != 1 || o[0].Attribute != dpi.AttrDHCPFQDN || o[0].Value != "pump.icu" {
		t.Errorf("fqdn: %+v", o)
	}
}

// TestFQDNFromCapture: a macOS client's option 81, as tshark shows it
// (tshark -r input.pcap -Y dhcp.option.type==81 -T fields -e dhcp.fqdn.name
// -e dhcp.hw.mac_addr: NicksMacBook, 28:cf:da:dc:8d:76).
func TestFQDNFromCapture(t *testing.T) {
	res := dpitest.Run(t, []string{testshared.Pcap(t, "OISF_suricata-verify/tests/dhcp-eve-extended-option-60/input.pcap")}, New())
	found := false
	for _, o := range res.Observations {
		if o.Attribute == dpi.AttrDHCPFQDN {
			found = true
			if o.Value != "NicksMacBook" || o.MAC != "28:cf:da:dc:8d:76" {
				t.Errorf("fqdn %+v", o)
			}
		}
	}
	if !found {
		t.Error("no FQDN observed")
	}
}
