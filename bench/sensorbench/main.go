// Command sensorbench times Vigil's whole sensor path on one capture file
// in one goroutine: file reading, decoding, the flow table, protocol
// identification, every dissector of capture/protocols, and event
// building (events.MustEvent with its content ID) followed by what the
// sensor's publisher, events.Batcher, does before the network (JSON
// encoding, subject, batch assembly). It is the
// Vigil side of bench-capture.sh; run it under GOMAXPROCS=1 and taskset to
// measure one core.
//
// It prints one line of key=value pairs: packets, seconds, packets per
// second, allocations and bytes allocated per packet over the whole run
// (runtime.MemStats before and after), events published, their bytes
// and the batches they made.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/vigil-health/vigil/capture"
	"github.com/vigil-health/vigil/capture/protocols"
	"github.com/vigil-health/vigil/events"
)

// discard is the sensor's publisher without the network: with -batch
// (the default) every event goes through a real events.Batcher whose
// store drops the messages where it would send them, so the measure
// includes the batch assembly the sensor does (the device order, the
// span, the batch IDs); -batch=false encodes only, as before batches.
type discard struct {
	events, bytes uint64
	// kinds counts events per kind for the report, in a short list
	// rather than a map: the count is the harness's, not the sensor's
	// work, and a map's string hash per event was 0.5% of the run.
	kinds []kindCount
	sink  int
	// dump, when set, receives every payload, one per line (-events).
	dump *bufio.Writer

	batcher *events.Batcher // nil with -batch=false
}

type kindCount struct {
	kind events.Kind
	n    uint64
}

func (d *discard) count(k events.Kind) {
	for i := range d.kinds {
		if d.kinds[i].kind == k {
			d.kinds[i].n++
			return
		}
	}
	d.kinds = append(d.kinds, kindCount{k, 1})
}

func (d *discard) kindCount(k events.Kind) uint64 {
	for _, c := range d.kinds {
		if c.kind == k {
			return c.n
		}
	}
	return 0
}

var (
	_ capture.Publisher        = (*discard)(nil)
	_ capture.Flusher          = (*discard)(nil)
	_ capture.EncodedPublisher = (*discard)(nil)
)

// plain is discard without PublishEncoded: -batch=false measures the
// sensor as it was before batches, every event boxed into a Message.
type plain struct{ *discard }

func (p plain) Publish(ctx context.Context, m events.Message) error { return p.discard.Publish(ctx, m) }
func (p plain) Flush(ctx context.Context) error                     { return p.discard.Flush(ctx) }

func (d *discard) Publish(ctx context.Context, m events.Message) error {
	h := m.Meta()
	d.count(h.Kind)
	d.events++
	if d.dump != nil {
		data, err := m.Encode()
		if err != nil {
			return err
		}
		d.dump.Write(data)
		d.dump.WriteByte('\n')
	}
	if d.batcher != nil {
		if data, err := m.Encode(); err == nil {
			d.bytes += uint64(len(data))
		}
		return d.batcher.Publish(ctx, m)
	}
	data, err := m.Encode()
	if err != nil {
		return err
	}
	d.bytes += uint64(len(data))
	d.sink += len(h.ID) + len(m.Subject(events.DefaultPartitions))
	return nil
}

// PublishEncoded is the path the sensor takes when the publisher has it
// (capture.EncodedPublisher): with -batch, the batcher's.
func (d *discard) PublishEncoded(ctx context.Context, h events.Header, device uint32, payload []byte) error {
	d.count(h.Kind)
	d.events++
	d.bytes += uint64(len(payload))
	if d.dump != nil {
		d.dump.Write(payload)
		d.dump.WriteByte('\n')
	}
	return d.batcher.PublishEncoded(ctx, h, device, payload)
}

// Flush sends (drops) the partial batches; the capture calls it as it
// ends.
func (d *discard) Flush(ctx context.Context) error {
	if d.batcher == nil {
		return nil
	}
	return d.batcher.Flush(ctx)
}

func (d *discard) batches() uint64 {
	if d.batcher == nil {
		return 0
	}
	return d.batcher.Messages()
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("sensorbench: ")
	file := flag.String("file", "", "capture file to read (pcap or pcapng)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	memProfile := flag.String("memprofile", "", "write an allocation profile of the run to this file")
	eventsFile := flag.String("events", "", "write every encoded event to this file, one per line (to compare builds; slows the run)")
	headroom := flag.Int("gc-headroom-mb", capture.DefaultConfiguration().GCHeadroomMB, "the sensor's gc_headroom_mb (0: the collector as GOGC leaves it)")
	batch := flag.Bool("batch", true, "add every event to its subject's batch as events.Batcher does (false: encode only, as before batches)")
	flag.Parse()
	if *file == "" || flag.NArg() > 0 {
		log.Fatal("usage: sensorbench -file FILE [-cpuprofile FILE] [-memprofile FILE] [-events FILE] [-gc-headroom-mb N] [-batch=false]")
	}

	cfg := capture.DefaultConfiguration()
	cfg.Name, cfg.Site, cfg.Files = "bench", "bench", []string{*file}
	cfg.GCHeadroomMB = *headroom
	pub := &discard{}
	if *batch {
		pub.batcher = events.NewDiscardBatcher(events.DefaultBatch(), events.DefaultPartitions)
	}
	if *eventsFile != "" {
		f, err := os.Create(*eventsFile)
		if err != nil {
			log.Fatal(err)
		}
		pub.dump = bufio.NewWriterSize(f, 1<<20)
		defer func() {
			if err := pub.dump.Flush(); err != nil {
				log.Fatal(err)
			}
			if err := f.Close(); err != nil {
				log.Fatal(err)
			}
		}()
	}
	var publisher capture.Publisher = pub
	if pub.batcher == nil {
		publisher = plain{pub}
	}
	c, err := capture.New(cfg, capture.Dependencies{
		Publisher:   publisher,
		Identifiers: protocols.Identifiers(),
		Dissectors:  protocols.Dissectors,
	})
	if err != nil {
		log.Fatal(err)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	runErr := c.Run(context.Background())
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if runErr != nil {
		log.Fatal(runErr)
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			log.Fatal(err)
		}
		f.Close()
	}

	st := c.Stats()
	n := float64(max(st.Packets, 1))
	// The sensor's GC ballast (gc_headroom_mb) is one allocation made as
	// it starts, in this fresh process: not per packet.
	allocated := after.TotalAlloc - before.TotalAlloc
	if b := uint64(cfg.GCHeadroomMB) << 20; allocated >= b {
		allocated -= b
	}
	var kinds []string
	for _, k := range events.Kinds {
		if n := pub.kindCount(k); n > 0 {
			kinds = append(kinds, fmt.Sprintf("%s:%d", k, n))
		}
	}
	fmt.Printf("packets=%d seconds=%.3f pps=%.0f allocs_per_packet=%.2f bytes_per_packet=%.1f events=%d event_bytes=%d batches=%d kinds=%s flows=%d time_jumps=%d gc=%d gomaxprocs=%d gc_headroom_mb=%d\n",
		st.Packets, elapsed.Seconds(), float64(st.Packets)/elapsed.Seconds(),
		float64(after.Mallocs-before.Mallocs)/n, float64(allocated)/n,
		pub.events, pub.bytes, pub.batches(), strings.Join(kinds, ","), st.Flows, st.TimeJumps, after.NumGC-before.NumGC, runtime.GOMAXPROCS(0), cfg.GCHeadroomMB)
}
