// Command sensorbench times Vigil's whole sensor path on one capture file
// in one goroutine: file reading, decoding, the flow table, protocol
// identification, every dissector of capture/protocols, and event
// building (events.MustEvent with its content ID) followed by what the
// NATS bus does before the network (subject, JSON encoding). It is the
// Vigil side of bench-capture.sh; run it under GOMAXPROCS=1 and taskset to
// measure one core.
//
// It prints one line of key=value pairs: packets, seconds, packets per
// second, allocations and bytes allocated per packet over the whole run
// (runtime.MemStats before and after), events published and their bytes.
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

// discard is a publisher that does what events.Bus.Publish does before
// the network: encode the event, read its header, compute its subject.
type discard struct {
	events, bytes uint64
	kinds         map[events.Kind]uint64
	sink          int
	// dump, when set, receives every payload, one per line (-events).
	dump *bufio.Writer
}

var _ capture.Publisher = (*discard)(nil)

func (d *discard) Publish(_ context.Context, m events.Message) error {
	data, err := m.Encode()
	if err != nil {
		return err
	}
	subject := m.Subject(events.DefaultPartitions)
	h := m.Meta()
	d.sink += len(h.ID) + len(subject)
	d.kinds[h.Kind]++
	d.events++
	d.bytes += uint64(len(data))
	if d.dump != nil {
		d.dump.Write(data)
		d.dump.WriteByte('\n')
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
	flag.Parse()
	if *file == "" || flag.NArg() > 0 {
		log.Fatal("usage: sensorbench -file FILE [-cpuprofile FILE] [-memprofile FILE] [-events FILE] [-gc-headroom-mb N]")
	}

	cfg := capture.DefaultConfiguration()
	cfg.Name, cfg.Site, cfg.Files = "bench", "bench", []string{*file}
	cfg.GCHeadroomMB = *headroom
	pub := &discard{kinds: map[events.Kind]uint64{}}
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
		if n := pub.kinds[k]; n > 0 {
			kinds = append(kinds, fmt.Sprintf("%s:%d", k, n))
		}
	}
	fmt.Printf("packets=%d seconds=%.3f pps=%.0f allocs_per_packet=%.2f bytes_per_packet=%.1f events=%d event_bytes=%d kinds=%s flows=%d time_jumps=%d gc=%d gomaxprocs=%d gc_headroom_mb=%d\n",
		st.Packets, elapsed.Seconds(), float64(st.Packets)/elapsed.Seconds(),
		float64(after.Mallocs-before.Mallocs)/n, float64(allocated)/n,
		pub.events, pub.bytes, strings.Join(kinds, ","), st.Flows, st.TimeJumps, after.NumGC-before.NumGC, runtime.GOMAXPROCS(0), cfg.GCHeadroomMB)
}
