package capture

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

// seedFrames adds the first frames of a few real captures to the corpus.
func seedFrames(f *testing.F, add func(lt layers.LinkType, data []byte)) {
	dir := testshared.Pcaps(f)
	for _, name := range []string{
		"zeek_zeek/testing/btest/Traces/dhcp/dhcp.pcap",
		"zeek_zeek/testing/btest/Traces/wikipedia.pcap",
		"zeek_zeek/testing/btest/Traces/ssh/ssh.pcap",
	} {
		src, err := NewFileSource([]string{filepath.Join(dir, name)})
		if err != nil {
			f.Fatal(err)
		}
		var p Packet
		for i := 0; i < 20; i++ {
			if err := src.Next(&p); err != nil {
				break
			}
			add(p.LinkType, append([]byte(nil), p.Data...))
		}
		src.Close()
	}
}

func FuzzDecodeFlow(f *testing.F) {
	seedFrames(f, func(lt layers.LinkType, data []byte) { f.Add(uint16(lt), data) })
	dec := NewDecoder()
	table := NewFlowTable(defaultTableConfig(), dpi.DefaultIdentifiers(), func(events.Flow) {})
	var d Decoded
	var n int64
	f.Fuzz(func(t *testing.T, lt uint16, data []byte) {
		n++
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, n), CaptureLength: len(data), Length: len(data) + 4}
		if dec.Decode(layers.LinkType(lt), data, ci, &d) == DecodeOK {
			table.Packet(&d)
		}
		if len(d.Payload) > d.PayloadLength {
			t.Fatalf("payload %d longer than its length %d", len(d.Payload), d.PayloadLength)
		}
	})
}

func FuzzFileSource(f *testing.F) {
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0})
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a})
	dir := testshared.Pcaps(f)
	if b, err := os.ReadFile(filepath.Join(dir, "zeek_zeek/testing/btest/Traces/dhcp/dhcp.pcap")); err == nil {
		f.Add(b)
	}
	tmp := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(tmp, "f.pcap")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		src, _ := NewFileSource([]string{path})
		defer src.Close()
		var p Packet
		for i := 0; i < 1000; i++ {
			if err := src.Next(&p); err != nil {
				return
			}
		}
	})
}
