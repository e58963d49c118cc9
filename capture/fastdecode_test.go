package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/internal/testshared"
)

// decodeBoth decodes an Ethernet frame with Decode (fast path first) and
// with gopacket alone, and says how they differ ("" when they agree) and
// whether the fast path took the frame.
func decodeBoth(dec *Decoder, data []byte, n int64) (diff string, fast bool) {
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, n), CaptureLength: len(data), Length: len(data)}
	// Decoded values are reused packet after packet: the fast path must
	// overwrite every field, so it starts from one with all fields set.
	viaFast, viaLayers := dirtyDecoded, dirtyDecoded
	fast = decodeFast(data, ci.Timestamp, &viaFast)
	viaFast = dirtyDecoded
	r1 := dec.Decode(layers.LinkTypeEthernet, data, ci, &viaFast)
	r2 := dec.decodeLayers(layers.LinkTypeEthernet, data, ci.Timestamp, &viaLayers)
	if r1 != r2 || !reflect.DeepEqual(viaFast, viaLayers) {
		return fmt.Sprintf("frame %x:\nDecode       %d %+v\ndecodeLayers %d %+v", data, r1, viaFast, r2, viaLayers), fast
	}
	return "", fast
}

// dirtyDecoded has every field set (TestDirtyDecodedIsDirty).
var dirtyDecoded = Decoded{
	Time: time.Unix(1, 2).In(time.FixedZone("x", 60)), HasMAC: true, SrcMAC: [6]byte{1}, DstMAC: [6]byte{2},
	VLAN: 3, InnerVLAN: 4, EtherType: 5, LinkPayload: []byte{6}, IPVersion: 7,
	Src: netip.MustParseAddr("fe80::1%x"), Dst: netip.MustParseAddr("1.2.3.4"), IPLength: 8, Protocol: 9,
	Transport: true, SrcPort: 10, DstPort: 11, TCPFlags: 12, Seq: 13, Ack: 14, Window: 15, ICMPType: 16, ICMPCode: 17,
	PayloadLength: 18, Payload: []byte{19}, Fragment: true, FragMore: true, FragID: 20, FragOffset: 21,
	FragData: []byte{22}, FragDataLength: 23, IPHeader: []byte{24},
}

func TestDirtyDecodedIsDirty(t *testing.T) {
	v := reflect.ValueOf(dirtyDecoded)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("dirtyDecoded.%s is not set: set it, so that the fast path is checked to overwrite it", v.Type().Field(i).Name)
		}
	}
}

// syntheticFrames are frames of the shapes the fast path takes or must
// refuse: VLAN and QinQ tags, IPv6, options, fragments, odd lengths.
func syntheticFrames(t testing.TB) [][]byte {
	base := [][]byte{
		tcpFrame(t, "10.0.0.1", "10.0.0.2", 40000, 104, tcpSYN|tcpACK|tcpPSH, 7, 9, []byte("0123456789")),
		udpFrame(t, "10.0.0.1", "10.0.0.2", 50000, 53, []byte("abcdefgh")),
		udpFrame(t, "10.0.0.1", "224.0.0.251", 5353, 5353, nil),
	}
	var out [][]byte
	for _, f := range base {
		out = append(out, f)
		// One and two 802.1Q/802.1ad tags, and three (left to gopacket).
		for _, tags := range [][]uint16{{0x8100}, {0x88a8, 0x8100}, {0x8100, 0x8100, 0x8100}} {
			g := append([]byte(nil), f[:12]...)
			for i, tpid := range tags {
				g = binary.BigEndian.AppendUint16(g, tpid)
				g = binary.BigEndian.AppendUint16(g, uint16(0x2000|(100+i)))
			}
			out = append(out, append(g, f[12:]...))
		}
		// Ethernet padding after the IP packet.
		out = append(out, append(append([]byte(nil), f...), make([]byte, 12)...))
		// IPv4 with an option (left to gopacket), as a fragment, with a
		// zero length (TSO), with lengths too small and too large.
		for _, mut := range []func(g []byte){
			func(g []byte) { g[14] = 0x46 },
			func(g []byte) { g[20] |= 0x20 },
			func(g []byte) { g[21] = 8 },
			func(g []byte) { g[20] = 0x40 },
			func(g []byte) { g[20] = 0x80 },
			func(g []byte) { g[16], g[17] = 0, 0 },
			func(g []byte) { g[16], g[17] = 0, 19 },
			func(g []byte) { g[16], g[17] = 0, 20 },
			func(g []byte) { g[16], g[17] = 0xff, 0xff },
			func(g []byte) { g[14] = 0x65 }, // version 6 in an IPv4 EtherType
			func(g []byte) { g[23] = 1 },    // ICMP
			func(g []byte) { g[34+12] = 0x40 },
			func(g []byte) { g[34+12] = 0xf0 },
			func(g []byte) { g[34+4], g[34+5] = 0, 0 },
			func(g []byte) { g[34+4], g[34+5] = 0, 7 },
			func(g []byte) { g[34+4], g[34+5] = 0xff, 0xff },
		} {
			g := append([]byte(nil), f...)
			mut(g)
			out = append(out, g)
		}
		for n := range len(f) {
			out = append(out, f[:n])
		}
	}
	// IPv6 TCP and UDP, and a hop-by-hop header (left to gopacket).
	for _, proto := range []byte{protoTCP, protoUDP, 0, 44} {
		g := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd, 0x60, 0, 0, 0, 0, 28, proto, 64}
		g = append(g, []byte{0xfe, 0x80, 15: 1}...)
		g = append(g, []byte{0x20, 0x01, 0x0d, 0xb8, 15: 2}...)
		seg := make([]byte, 28)
		binary.BigEndian.PutUint16(seg[0:], 546)
		binary.BigEndian.PutUint16(seg[2:], 547)
		if proto == protoTCP {
			seg[12], seg[13] = 0x50, tcpACK
		} else {
			binary.BigEndian.PutUint16(seg[4:], 28)
		}
		g = append(g, seg...)
		out = append(out, g, g[:len(g)-5], append(append([]byte(nil), g...), 0, 0, 0, 0))
		z := append([]byte(nil), g...)
		z[18], z[19] = 0, 0 // payload length 0
		out = append(out, z)
	}
	return out
}

// TestDecodeFastAgreesWithGopacket: on synthetic frames of every shape,
// and on random mutations and truncations of them, Decode (fast path
// first) gives exactly what gopacket's parsers give.
func TestDecodeFastAgreesWithGopacket(t *testing.T) {
	dec := NewDecoder()
	frames := syntheticFrames(t)
	fast := 0
	r := rand.New(rand.NewPCG(9, 10))
	var n int64
	for _, f := range frames {
		n++
		diff, took := decodeBoth(dec, f, n)
		if diff != "" {
			t.Fatal(diff)
		}
		if took {
			fast++
		}
		for range 200 {
			g := append([]byte(nil), f...)
			if len(g) == 0 {
				break
			}
			for range 1 + r.IntN(3) {
				g[r.IntN(len(g))] = byte(r.Uint32())
			}
			g = g[:len(g)-r.IntN(min(len(g), 8))]
			n++
			if diff, _ := decodeBoth(dec, g, n); diff != "" {
				t.Fatal(diff)
			}
		}
	}
	if fast < 20 {
		t.Errorf("the fast path took only %d of %d synthetic frames", fast, len(frames))
	}
}

// TestDecodeFastAgreesOnCaptures: on every Ethernet frame of the shared
// captures, Decode gives exactly what gopacket's parsers give, and the
// fast path takes most frames.
func TestDecodeFastAgreesOnCaptures(t *testing.T) {
	dir := testshared.Pcaps(t)
	dec := NewDecoder()
	var frames, fast int
	var n int64
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !(strings.HasSuffix(path, ".pcap") || strings.HasSuffix(path, ".pcapng")) {
			return err
		}
		src, err := NewFileSource([]string{path})
		if err != nil {
			return nil // not a capture this reader takes: other tests cover the reader
		}
		defer src.Close()
		var p Packet
		for i := 0; i < 20000; i++ {
			err := src.Next(&p)
			if errors.Is(err, io.EOF) || err != nil {
				break
			}
			if p.LinkType != layers.LinkTypeEthernet {
				break
			}
			n++
			frames++
			diff, took := decodeBoth(dec, p.Data, n)
			if diff != "" {
				return fmt.Errorf("%s packet %d: %s", path, i+1, diff)
			}
			if took {
				fast++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d Ethernet frames, %d (%.0f%%) by the fast path", frames, fast, 100*float64(fast)/float64(max(frames, 1)))
	if frames == 0 || fast < frames/2 {
		t.Errorf("the fast path took %d of %d frames", fast, frames)
	}
}

// FuzzDecodeFast compares Decode (fast path first) with gopacket's
// parsers on any Ethernet frame.
func FuzzDecodeFast(f *testing.F) {
	seedFrames(f, func(lt layers.LinkType, data []byte) {
		if lt == layers.LinkTypeEthernet {
			f.Add(data)
		}
	})
	for _, fr := range syntheticFrames(f) {
		f.Add(fr)
	}
	dec := NewDecoder()
	var n int64
	f.Fuzz(func(t *testing.T, data []byte) {
		n++
		if diff, _ := decodeBoth(dec, data, n); diff != "" {
			t.Fatal(diff)
		}
	})
}

// TestDPIPacketSetsEveryField: dpiPacket assigns field by field, so a
// field added to dpi.Packet must be added there too.
func TestDPIPacketSetsEveryField(t *testing.T) {
	d := dirtyDecoded
	var p dpi.Packet
	d.dpiPacket(&p, "flow", true)
	v := reflect.ValueOf(p)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("dpiPacket does not set dpi.Packet.%s", v.Type().Field(i).Name)
		}
	}
}
