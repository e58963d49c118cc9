package arp_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpi/arp"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/internal/testshared"
)

// TestBindings checks the bindings against tshark on an ARP poisoning
// capture:
//
//	tshark -r arppoison.pcapng -Y arp -T fields -e arp.opcode \
//	  -e arp.src.hw_mac -e arp.src.proto_ipv4 -e arp.dst.proto_ipv4
//
// The attacker (00:25:b3:bf:91:ee) claims both its own address and the
// gateway's: the inventory sees the gateway's address move.
func TestBindings(t *testing.T) {
	res := dpitest.Run(t, []string{testshared.Pcap(t, "chrissanders_packets/arppoison.pcapng")}, arp.New())
	var got []string
	for _, o := range res.Observations {
		if o.Attribute != dpi.AttrIP || o.Protocol != arp.Protocol {
			t.Errorf("unexpected observation %+v", o)
		}
		b := o.MAC + " " + o.Value
		if !slices.Contains(got, b) {
			got = append(got, b)
		}
	}
	slices.Sort(got)
	want := []string{
		"00:21:70:c0:56:f0 172.16.0.107",
		"00:25:b3:bf:91:ee 172.16.0.1",
		"00:25:b3:bf:91:ee 172.16.0.105",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bindings (-want +got):\n%s", diff)
	}
}

func TestProbeClaimsNothing(t *testing.T) {
	probe := []byte{0, 1, 8, 0, 6, 4, 0, 1, 0x00, 0x12, 0x21, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 9}
	var out dpi.Output
	if err := arp.New().DissectFrame(&dpi.Frame{EtherType: arp.EtherType, Payload: probe}, &out); err != nil || len(out.Observations) != 0 {
		t.Errorf("probe: err=%v observations=%v", err, out.Observations)
	}
	if err := arp.New().DissectFrame(&dpi.Frame{EtherType: arp.EtherType, Payload: probe[:20]}, &out); err == nil {
		t.Error("a truncated ARP frame was accepted")
	}
}

func FuzzDissectFrame(f *testing.F) {
	f.Add([]byte{0, 1, 8, 0, 6, 4, 0, 2, 0x00, 0x21, 0x70, 0xc0, 0x56, 0xf0, 172, 16, 0, 107, 0, 0x25, 0xb3, 0xbf, 0x91, 0xee, 172, 16, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var out dpi.Output
		_ = arp.New().DissectFrame(&dpi.Frame{EtherType: arp.EtherType, Payload: b}, &out)
		if len(out.Observations) > 1 {
			t.Fatalf("%d observations from one frame", len(out.Observations))
		}
	})
}
