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
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/zeebo/xxh3"

	"github.com/vigil-health/vigil/capture"
	"github.com/vigil-health/vigil/capture/protocols"
	"github.com/vigil-health/vigil/events"
)

// discard is a publisher that does what the sensor's publisher
// (events.Batcher) does before the network: encode the event, compute
// its subject, read its header, and add it to its subject's batch (under
// a lock, the separator and the payload appended, the ID hashed into the
// batch's ID), a full batch given its ID and its buffer reused; the
// batch is then dropped where the Batcher would send it.
type discard struct {
	events, bytes uint64
	// kinds counts events per kind for the report, in a short list
	// rather than a map: the count is the harness's, not the sensor's
	// work, and a map's string hash per event was 0.5% of the run.
	kinds []kindCount
	sink  int
	// dump, when set, receives every payload, one per line (-events).
	dump *bufio.Writer

	// batch: events.Batcher's per-event work (-batch).
	batch    bool
	limits   events.BatchConfiguration
	mu       sync.Mutex
	subjects map[string]*subjectBatch
	batches  uint64
}

type subjectBatch struct {
	buf     []byte
	n       int
	firstID string
	ids     *xxh3.Hasher
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
	_ capture.Publisher = (*discard)(nil)
	_ capture.Flusher   = (*discard)(nil)
)

func (d *discard) Publish(_ context.Context, m events.Message) error {
	data, err := m.Encode()
	if err != nil {
		return err
	}
	subject := m.Subject(events.DefaultPartitions)
	h := m.Meta()
	d.sink += len(h.ID) + len(subject)
	d.count(h.Kind)
	d.events++
	d.bytes += uint64(len(data))
	if d.dump != nil {
		d.dump.Write(data)
		d.dump.WriteByte('\n')
	}
	if d.batch {
		d.add(subject, h.ID, data)
	}
	return nil
}

// add is events.Batcher.Publish after encoding, without the network.
func (d *discard) add(subject, id string, data []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sb := d.subjects[subject]
	if sb == nil {
		sb = &subjectBatch{ids: xxh3.New()}
		d.subjects[subject] = sb
	}
	if sb.n > 0 && len(sb.buf)+1+len(data) > d.limits.MaxBytes {
		d.send(sb)
	}
	if sb.n == 0 {
		sb.firstID = id
		sb.ids.Reset()
		if sb.buf == nil {
			sb.buf = make([]byte, 0, min(d.limits.MaxBytes, 64<<10))
		}
	} else {
		sb.buf = append(sb.buf, '\n')
	}
	sb.buf = append(sb.buf, data...)
	_, _ = sb.ids.WriteString(id)
	sb.n++
	if sb.n >= d.limits.MaxEvents || len(sb.buf) >= d.limits.MaxBytes {
		d.send(sb)
	}
}

// send gives the batch its ID (events.Batcher's batchID) and drops it.
func (d *discard) send(sb *subjectBatch) {
	id := sb.firstID
	if sb.n > 1 {
		sum := sb.ids.Sum128().Bytes()
		id = "b" + hex.EncodeToString(sum[:])
	}
	d.sink += len(id) + len(sb.buf)
	d.batches++
	sb.buf, sb.n = sb.buf[:0], 0
}

// Flush drops the partial batches where events.Batcher's Flush sends
// them; the capture calls it as it ends.
func (d *discard) Flush(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, sb := range d.subjects {
		if sb.n > 0 {
			d.send(sb)
		}
	}
	return nil
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
	pub := &discard{batch: *batch, limits: events.DefaultBatch(), subjects: map[string]*subjectBatch{}}
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
	c, err := capture.New(cfg, capture.Dependencies{
		Publisher:   pub,
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
		pub.events, pub.bytes, pub.batches, strings.Join(kinds, ","), st.Flows, st.TimeJumps, after.NumGC-before.NumGC, runtime.GOMAXPROCS(0), cfg.GCHeadroomMB)
}
