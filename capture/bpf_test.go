package capture

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/vigil-health/vigil/internal/testshared"
)

func vm(t *testing.T, raw []bpf.RawInstruction) *bpf.VM {
	t.Helper()
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("program does not disassemble: %v", raw)
	}
	v, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatalf("vm: %v", err)
	}
	return v
}

// TestFilterCompiles compiles expressions with tcpdump and runs the
// programs on real frames: every program must be valid and select what
// the expression says (checked here on the protocol of each frame).
func TestFilterCompiles(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpdump is not installed (make test-deps installs it)")
		}
		t.Skip("tcpdump is not installed (make test-deps installs it)")
	}
	var frames [][]byte
	for _, rel := range []string{
		"zeek_zeek/testing/btest/Traces/dhcp/dhcp.pcap",
		"ntop_nDPI/tests/cfgs/default/pcap/443-curl.pcap",
		"chrissanders_packets/arppoison.pcapng",
	} {
		src, err := NewFileSource([]string{testshared.Pcap(t, rel)})
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		for src.Next(&p) == nil {
			if p.LinkType == layers.LinkTypeEthernet {
				frames = append(frames, append([]byte(nil), p.Data...))
			}
		}
		src.Close()
	}
	d := NewDecoder()
	var dec Decoded
	for _, c := range []struct {
		expr string
		want func(*Decoded) bool
	}{
		{"tcp port 443", func(d *Decoded) bool { return d.Protocol == protoTCP && (d.SrcPort == 443 || d.DstPort == 443) }},
		{"udp and (port 67 or port 68)", func(d *Decoded) bool {
			return d.Protocol == protoUDP && (d.SrcPort == 67 || d.SrcPort == 68 || d.DstPort == 67 || d.DstPort == 68)
		}},
		{"arp", func(d *Decoded) bool { return d.EtherType == 0x0806 }},
		{"not tcp", func(d *Decoded) bool { return d.Protocol != protoTCP || d.IPVersion == 0 }},
	} {
		raw, err := CompileFilter(context.Background(), c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		v := vm(t, raw)
		n := 0
		for _, f := range frames {
			d.Decode(layers.LinkTypeEthernet, f, gopacket.CaptureInfo{CaptureLength: len(f), Length: len(f)}, &dec)
			got, _ := v.Run(f)
			if (got != 0) != c.want(&dec) {
				t.Errorf("%s: frame %x… accepted=%v", c.expr, f[:min(len(f), 34)], got != 0)
			}
			if got != 0 {
				n++
			}
		}
		if n == 0 || n == len(frames) {
			t.Errorf("%s accepts %d of %d frames: the check proves nothing", c.expr, n, len(frames))
		}
	}
	if _, err := CompileFilter(context.Background(), "tcp port nonsense-port"); err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Errorf("a bad expression: %v", err)
	}
}

func TestParseFilterProgram(t *testing.T) {
	if _, err := ParseFilterProgram("1\n6 0 0 262144\n"); err != nil {
		t.Errorf("accept-all program: %v", err)
	}
	for _, bad := range []string{"", "2\n6 0 0 1\n", "1\n21 5 0 1\n", "1\nx y z w\n"} {
		if _, err := ParseFilterProgram(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
