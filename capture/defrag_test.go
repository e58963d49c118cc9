package capture

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

// fragmentCapture rewrites every Ethernet IPv4/IPv6 packet whose IP
// payload exceeds mtu into fragments of at most mtu payload bytes, emitted
// in a shuffled order with one fragment duplicated, as a hostile or
// unlucky network would deliver them. It returns the path of the new file.
func fragmentCapture(t *testing.T, in string, mtu int, seed uint64) string {
	t.Helper()
	src, err := NewFileSource([]string{in})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	var id uint32 = 1000
	var pkt Packet
	for src.Next(&pkt) == nil {
		if pkt.LinkType != layers.LinkTypeEthernet {
			t.Fatalf("%s: link type %v, the test fragments Ethernet only", in, pkt.LinkType)
		}
		frames := fragmentFrame(t, pkt.Data, mtu, &id)
		if len(frames) > 1 {
			rng.Shuffle(len(frames), func(i, j int) { frames[i], frames[j] = frames[j], frames[i] })
			frames = append(frames, frames[rng.IntN(len(frames))]) // a duplicate
		}
		for _, f := range frames {
			ci := pkt.Info
			ci.CaptureLength, ci.Length = len(f), len(f)
			if err := w.WritePacket(ci, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	out := filepath.Join(t.TempDir(), "fragmented.pcap")
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func fragmentFrame(t *testing.T, frame []byte, mtu int, id *uint32) [][]byte {
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if eth == nil || p.ErrorLayer() != nil {
		return [][]byte{frame}
	}
	var links []gopacket.SerializableLayer
	for _, l := range p.Layers() {
		switch l := l.(type) {
		case *layers.Ethernet:
			links = append(links, l)
		case *layers.Dot1Q:
			links = append(links, l)
		}
	}
	opts := gopacket.SerializeOptions{}
	serialize := func(ls ...gopacket.SerializableLayer) []byte {
		b := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(b, opts, ls...); err != nil {
			t.Fatal(err)
		}
		return bytes.Clone(b.Bytes())
	}
	var out [][]byte
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		payload := ip.Payload
		if len(payload) <= mtu || ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 || int(ip.Length) != len(ip.Contents)+len(payload) {
			return [][]byte{frame}
		}
		*id++
		for off := 0; off < len(payload); off += mtu &^ 7 {
			end := min(off+mtu&^7, len(payload))
			h := *ip
			h.Id = uint16(*id)
			h.FragOffset = uint16(off / 8)
			h.Flags = ip.Flags &^ layers.IPv4DontFragment
			if end < len(payload) {
				h.Flags |= layers.IPv4MoreFragments
			}
			h.Length = uint16(len(ip.Contents) + end - off)
			hdr := serialize(&h)
			copy(hdr, ip.Contents) // keep the original options byte for byte
			hdr[2], hdr[3] = byte(h.Length>>8), byte(h.Length)
			hdr[4], hdr[5] = byte(h.Id>>8), byte(h.Id)
			ff := uint16(h.Flags)<<13 | h.FragOffset
			hdr[6], hdr[7] = byte(ff>>8), byte(ff)
			ls := append(append([]gopacket.SerializableLayer(nil), links...), gopacket.Payload(append(hdr[:len(ip.Contents)], payload[off:end]...)))
			out = append(out, serialize(ls...))
		}
	case *layers.IPv6:
		payload := ip.Payload
		if len(payload) <= mtu || ip.NextHeader != layers.IPProtocolTCP && ip.NextHeader != layers.IPProtocolUDP {
			return [][]byte{frame}
		}
		*id++
		for off := 0; off < len(payload); off += mtu &^ 7 {
			end := min(off+mtu&^7, len(payload))
			h := *ip
			h.NextHeader = layers.IPProtocolIPv6Fragment
			h.Length = uint16(8 + end - off)
			fh := []byte{byte(ip.NextHeader), 0, byte((off / 8) >> 5), byte((off/8)<<3) & 0xf8, byte(*id >> 24), byte(*id >> 16), byte(*id >> 8), byte(*id)}
			if end < len(payload) {
				fh[3] |= 1
			}
			h6 := serialize(&h)[:40]
			h6[4], h6[5] = byte(h.Length>>8), byte(h.Length)
			h6[6] = byte(layers.IPProtocolIPv6Fragment)
			ls := append(append([]gopacket.SerializableLayer(nil), links...), gopacket.Payload(append(append(h6, fh...), payload[off:end]...)))
			out = append(out, serialize(ls...))
		}
	default:
		return [][]byte{frame}
	}
	return out
}

// TestDefragmentationIsTransparent fragments real captures and checks the
// sensor publishes exactly the same flows and observations as from the
// originals: a reassembled datagram counts as one packet of its full
// length, as Zeek counts it.
func TestDefragmentationIsTransparent(t *testing.T) {
	for _, c := range []struct {
		rel string
		mtu int
	}{
		{"zeek_zeek/testing/btest/Traces/dhcp/dhcp.pcap", 200},
		{"arkime_arkime/tests/pcap/tls-split-client-hello.pcap", 200},
		{"ntop_nDPI/tests/cfgs/default/pcap/443-curl.pcap", 512},
		{"arkime_arkime/tests/pcap/wireshark-dhcpv6.pcap", 48},
	} {
		t.Run(c.rel, func(t *testing.T) {
			orig := testshared.Pcap(t, c.rel)
			frag := fragmentCapture(t, orig, c.mtu, 7)
			want, _ := bodies(t, orig)
			got, st := bodies(t, frag)
			if st.Fragments == 0 || st.Reassembled == 0 || st.FragmentsDropped != 0 {
				t.Fatalf("stats %+v: the test fragmented nothing or reassembly failed", st)
			}
			if len(want) != len(got) {
				t.Fatalf("%d events from the fragmented capture, %d from the original", len(got), len(want))
			}
			for i := range want {
				if want[i] != got[i] {
					t.Errorf("event %d differs:\n got %s\nwant %s", i, got[i], want[i])
				}
			}
		})
	}
}

// bodies runs a capture and returns the flow and observation bodies as
// JSON, in publication order.
func bodies(t *testing.T, file string) ([]string, Stats) {
	rec := &recorder{}
	c, err := runComponent(t, rec, file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range rec.msgs {
		var b any
		switch e := m.(type) {
		case events.Event[events.Flow]:
			b = e.Body
		case events.Event[events.Observation]:
			b = e.Body
		default:
			continue
		}
		j, _ := json.Marshal(b)
		out = append(out, string(j))
	}
	return out, c.Stats()
}

func TestDefragmenterBounds(t *testing.T) {
	f := newDefragmenter(DefragConfig{MaxDatagrams: 2, Timeout: 30e9})
	frag := func(id uint32, off int, more bool, data string) *Decoded {
		return &Decoded{IPVersion: 6, Fragment: true, FragID: id, FragOffset: off, FragMore: more,
			FragData: []byte(data), FragDataLength: len(data), Protocol: protoUDP}
	}
	// Three datagrams in progress with room for two: the oldest goes.
	f.add(frag(1, 0, true, "aaaaaaaa"))
	f.add(frag(2, 0, true, "bbbbbbbb"))
	f.add(frag(3, 0, true, "cccccccc"))
	if f.stats.Dropped != 1 || len(f.pending) != 2 {
		t.Fatalf("stats %+v, pending %d", f.stats, len(f.pending))
	}
	// Overlap: the first bytes received are kept.
	f.add(frag(2, 4, true, "XXXXXXXX"))
	if pkt := f.add(frag(2, 12, false, "dddd")); pkt == nil || string(pkt[40:]) != "bbbbbbbbXXXXdddd" {
		t.Fatalf("reassembled %q", pkt)
	}
	// A fragment beyond 64 KiB is refused.
	if f.add(frag(9, 65528, false, "0123456789")) != nil || f.stats.Dropped != 2 {
		t.Errorf("oversized datagram: stats %+v", f.stats)
	}
}
