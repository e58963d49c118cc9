package ntp

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// readPayloads returns the UDP payloads of a pcap or pcapng file, to
// seed the fuzzer with real messages.
func readPayloads(t testing.TB, path string) [][]byte {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	br := bufio.NewReader(fh)
	magic, err := br.Peek(4)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var src interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
		LinkType() layers.LinkType
	}
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		src, err = pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
	} else {
		src, err = pcapgo.NewReader(br)
	}
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out [][]byte
	for {
		data, _, err := src.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		pkt := gopacket.NewPacket(data, src.LinkType(), gopacket.Default)
		if udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); udp != nil && len(udp.Payload) > 0 {
			out = append(out, udp.Payload)
		}
	}
}
