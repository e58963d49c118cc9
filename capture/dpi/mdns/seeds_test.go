package mdns

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// mustHex decodes a payload constant.
func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readPayloads returns the UDP and TCP payloads of a pcap or pcapng file
// that use port, to seed the fuzzer with real messages. A file that
// cannot be read gives nothing: seeds are a bonus.
func readPayloads(path string, port uint16) [][]byte {
	fh, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer fh.Close()
	br := bufio.NewReader(fh)
	magic, err := br.Peek(4)
	if err != nil {
		return nil
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
		return nil
	}
	var out [][]byte
	for {
		data, _, err := src.ReadPacketData()
		if err == io.EOF || err != nil {
			return out
		}
		pkt := gopacket.NewPacket(data, src.LinkType(), gopacket.Default)
		switch l := pkt.TransportLayer().(type) {
		case *layers.UDP:
			if uint16(l.SrcPort) == port || uint16(l.DstPort) == port {
				out = append(out, l.Payload)
			}
		case *layers.TCP:
			if uint16(l.SrcPort) == port || uint16(l.DstPort) == port {
				if len(l.Payload) > 0 {
					out = append(out, l.Payload)
				}
			}
		}
	}
}

// sharedPcaps returns the shared capture directory (../shared/pcaps
// beside the checkout, as internal/testshared finds it), or "" when
// there is none: the fuzzer then starts from the payload constants only.
func sharedPcaps() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, "shared", "pcaps")
		if _, err := os.Stat(filepath.Join(p, "MANIFEST.tsv")); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
