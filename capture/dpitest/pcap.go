package dpitest

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/internal/testshared"
)

// MustHex decodes a hex constant (a payload as tshark prints it), white
// space ignored. A malformed constant fails the test; t may be nil for
// package-level values, which then panic.
func MustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		if t == nil {
			panic(err)
		}
		t.Helper()
		t.Fatalf("hex constant: %v", err)
	}
	return b
}

// Pcap returns the path of a capture named in a test table: a name under
// testdata/ is the package's own file, any other is one of the shared
// corpus (testshared.Pcap, which skips the test when there is none).
func Pcap(t testing.TB, name string) string {
	t.Helper()
	if strings.HasPrefix(name, "testdata/") {
		return name
	}
	return testshared.Pcap(t, name)
}

// SharedPcap returns the path of a capture of the shared corpus, found as
// testshared finds it, or "" when there is no corpus beside the checkout.
// It is for fuzz seeds, a bonus: unlike testshared.Pcap it never skips,
// so a fuzz target without the corpus still runs from its other seeds.
func SharedPcap(rel string) string {
	dir, err := os.Getwd()
	for err == nil {
		pcaps := filepath.Join(dir, "shared", "pcaps")
		if _, err := os.Stat(filepath.Join(pcaps, "MANIFEST.tsv")); err == nil {
			return filepath.Join(pcaps, rel)
		}
		if dir == filepath.Dir(dir) {
			break
		}
		dir = filepath.Dir(dir)
	}
	return ""
}

// readPackets calls fn with every packet of a pcap or pcapng file, in
// order, and the file's link type. A file that cannot be read fails the
// test.
func readPackets(t testing.TB, path string, fn func(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType)) {
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
	for {
		data, ci, err := src.ReadPacketData()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		fn(data, ci, src.LinkType())
	}
}

// Filter selects packets for Payloads: by transport (dpi.UDP or dpi.TCP,
// 0 for both) and by port, on either side (0 for any).
type Filter struct {
	Transport uint8
	Port      uint16
}

// Payloads returns the non-empty UDP and TCP payloads of the packets of a
// pcap or pcapng file that filter selects, in file order, decoded with
// gopacket: real messages to seed fuzz targets with. A file that cannot be
// read fails the test.
func Payloads(t testing.TB, path string, filter Filter) [][]byte {
	t.Helper()
	var out [][]byte
	readPackets(t, path, func(data []byte, _ gopacket.CaptureInfo, lt layers.LinkType) {
		var transport uint8
		var sport, dport uint16
		var payload []byte
		switch l := gopacket.NewPacket(data, lt, gopacket.Default).TransportLayer().(type) {
		case *layers.UDP:
			transport, sport, dport, payload = dpi.UDP, uint16(l.SrcPort), uint16(l.DstPort), l.Payload
		case *layers.TCP:
			transport, sport, dport, payload = dpi.TCP, uint16(l.SrcPort), uint16(l.DstPort), l.Payload
		default:
			return
		}
		if len(payload) == 0 ||
			filter.Transport != 0 && transport != filter.Transport ||
			filter.Port != 0 && sport != filter.Port && dport != filter.Port {
			return
		}
		out = append(out, payload)
	})
	return out
}

// Segments returns the TCP payloads of a pcap or pcapng file holding one
// connection, in file order, as the writes of its two sides: FromOrig for
// those of the port that sent the SYN. A file that cannot be read or
// holds no payload fails the test.
func Segments(t testing.TB, path string) []Write {
	t.Helper()
	var out []Write
	var origPort uint16
	readPackets(t, path, func(data []byte, _ gopacket.CaptureInfo, lt layers.LinkType) {
		tcp, ok := gopacket.NewPacket(data, lt, gopacket.Default).Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok {
			return
		}
		if tcp.SYN && !tcp.ACK {
			origPort = uint16(tcp.SrcPort)
		}
		if len(tcp.Payload) > 0 {
			out = append(out, Write{FromOrig: uint16(tcp.SrcPort) == origPort, Data: tcp.Payload})
		}
	})
	if len(out) == 0 {
		t.Fatalf("%s: no TCP payload", path)
	}
	return out
}

// Frames returns the frames without IP of an Ethernet pcap or pcapng file
// as the pipeline hands them to frame dissectors: the link header decoded
// by the rules of capture.Decoder and the pipeline's nonIP (a frame whose
// headers do not decode is dropped; the first 802.1Q or QinQ tag gives the
// VLAN, the last one the EtherType and payload; an 802.3 frame has
// EtherType 0 and its payload follows the 3-byte LLC header, or the SNAP
// header when the SAPs are 0xAA and the control is 0x03). It decodes with
// gopacket's layers, independently of the sensor's decoder, so a frame
// test also checks that decoder's view. Other link types fail the test.
func Frames(t testing.TB, path string) []dpi.Frame {
	t.Helper()
	var frames []dpi.Frame
	readPackets(t, path, func(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
		if lt != layers.LinkTypeEthernet {
			t.Fatalf("%s: link type %v, want Ethernet", path, lt)
		}
		var eth layers.Ethernet
		if eth.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
			return
		}
		f := dpi.Frame{Time: ci.Timestamp, EtherType: uint16(eth.EthernetType), Payload: eth.Payload}
		copy(f.SrcMAC[:], eth.SrcMAC)
		copy(f.DstMAC[:], eth.DstMAC)
		next := eth.NextLayerType()
		for tags := 0; next == layers.LayerTypeDot1Q; tags++ {
			var q layers.Dot1Q
			if q.DecodeFromBytes(f.Payload, gopacket.NilDecodeFeedback) != nil {
				return
			}
			if tags == 0 {
				f.VLAN = q.VLANIdentifier & 0x0fff
			}
			f.EtherType, f.Payload, next = uint16(q.Type), q.Payload, q.NextLayerType()
		}
		if next == layers.LayerTypeIPv4 || next == layers.LayerTypeIPv6 {
			return // an IP packet (or a malformed one, dropped)
		}
		if f.EtherType == 0 {
			b := f.Payload
			if len(b) >= 8 && b[0] == 0xaa && b[1] == 0xaa && b[2] == 0x03 {
				copy(f.SNAPOrg[:], b[3:6])
				f.SNAPPID = uint16(b[6])<<8 | uint16(b[7])
				f.Payload = b[8:]
			} else if len(b) >= 3 {
				f.Payload = b[3:]
			}
		}
		frames = append(frames, f)
	})
	return frames
}

// DissectFrames runs d over the frames it matches, in order, and returns
// its output and the error of each frame it matched (nil where there was
// none). No matching frame fails the test.
func DissectFrames(t testing.TB, d dpi.FrameDissector, frames []dpi.Frame) (dpi.Output, []error) {
	t.Helper()
	var out dpi.Output
	var errs []error
	for _, f := range frames {
		if d.Match(&f) {
			errs = append(errs, d.DissectFrame(&f, &out))
		}
	}
	if len(errs) == 0 {
		t.Fatalf("no %s frame matched", d.Name())
	}
	return out, errs
}

// ZeekLog reads a Zeek TSV log (the "#fields" header names the columns)
// into one map per record. A file that cannot be read fails the test.
func ZeekLog(t testing.TB, path string) []map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	var out []map[string]string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\r\n")
		if rest, ok := strings.CutPrefix(line, "#fields\t"); ok {
			fields = strings.Split(rest, "\t")
			continue
		}
		if strings.HasPrefix(line, "#") || fields == nil {
			continue
		}
		m := map[string]string{}
		for i, v := range strings.Split(line, "\t") {
			if i < len(fields) {
				m[fields[i]] = v
			}
		}
		out = append(out, m)
	}
	return out
}
