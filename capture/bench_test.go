package capture

import (
	"io"
	"testing"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

// BenchmarkDecodeFlow measures decode + flow table on a real capture held
// in memory (file reading excluded).
func BenchmarkDecodeFlow(b *testing.B) {
	src, err := NewFileSource([]string{testshared.Pcap(b, "zeek_zeek/testing/btest/Traces/wikipedia.pcap")})
	if err != nil {
		b.Fatal(err)
	}
	var pkts []Packet
	var p Packet
	for {
		if err := src.Next(&p); err == io.EOF {
			break
		} else if err != nil {
			b.Fatal(err)
		}
		p.Data = append([]byte(nil), p.Data...)
		pkts = append(pkts, p)
	}
	src.Close()
	dec := NewDecoder()
	var d Decoded
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		table := NewFlowTable(defaultTableConfig(), dpi.DefaultIdentifiers(), func(events.Flow) {})
		for i := range pkts {
			if dec.Decode(pkts[i].LinkType, pkts[i].Data, pkts[i].Info, &d) == DecodeOK {
				table.Packet(&d)
			}
		}
		table.Flush()
		n += len(pkts)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pkts/s")
}
