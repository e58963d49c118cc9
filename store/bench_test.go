package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/store/chtest"
)

// benchFlows returns n distinct flow events of a busy site: 2,000 devices
// talking to 50 servers on a few ports, 100,000 flows a second of event
// time. A live sensor's event time follows the wall clock, so a sensor
// sending the goal's 100,000 events/s produces this density; the
// sensor's batches are bounded by event time (events.batch.span), and a
// sparser density would make them smaller than such a sensor's.
func benchFlows(n int) []events.Message {
	var g flowSource
	out := make([]events.Message, n)
	for i := range out {
		out[i] = g.flow(i)
	}
	return out
}

// flowSource makes the events of benchFlows one at a time.
type flowSource struct {
	orig, resp []events.Endpoint // per device and server, made once
}

var benchPorts = []uint16{104, 443, 2575, 53, 11112}

func (g *flowSource) flow(i int) events.Event[events.Flow] {
	if g.orig == nil {
		for d := range 2000 {
			g.orig = append(g.orig, events.Endpoint{MAC: fmt.Sprintf("00:12:21:00:%02x:%02x", d/256, d%256), IP: fmt.Sprintf("10.20.%d.%d", d/256, d%256)})
		}
		for p := range 50 {
			g.resp = append(g.resp, events.Endpoint{MAC: fmt.Sprintf("d4:ae:52:8a:10:%02x", p), IP: fmt.Sprintf("10.20.100.%d", p)})
		}
	}
	d, p := i%2000, (i/7)%50
	return testFlow(i, time.Duration(i)*10*time.Microsecond, g.orig[d], g.resp[p], benchPorts[p%len(benchPorts)])
}

// sensorOutput is what a sensor hands to its Batcher, event by event:
// the encoded event, its header and its device hash
// (events.Batcher.PublishEncoded, as capture.EncodedPublisher does). The
// benchmarks of the pipeline start there: making and encoding events is
// the sensor's work, part of the packet rate make bench-capture
// measures.
//
// The events are made beforehand and kept compact, the payloads in one
// buffer: half a million decoded events (each with its strings and its
// map of counters) made every garbage collection of the benchmark's
// process scan them, a cost charged to the pipeline that a sensor, which
// holds no backlog of events, does not have.
type sensorOutput struct {
	buf     []byte // the payloads, one after the other
	ends    []int  // the end of each payload in buf
	idAt    []int  // where each event's ID starts in buf
	times   []time.Time
	devices []uint32
	subject []string // per event, for publishAsync; shared strings
	source  events.Source
}

// benchSensorOutput makes n flow events and encodes them.
func benchSensorOutput(b testing.TB, partitions, n int) *sensorOutput {
	var g flowSource
	out := &sensorOutput{ends: make([]int, n), idAt: make([]int, n), times: make([]time.Time, n), devices: make([]uint32, n), subject: make([]string, n)}
	subjects := map[string]string{}
	for i := range n {
		f := g.flow(i)
		data, err := f.Encode()
		if err != nil {
			b.Fatal(err)
		}
		at := bytes.Index(data, []byte(f.ID))
		if at < 0 {
			b.Fatal("the encoded event does not hold its ID")
		}
		out.idAt[i] = len(out.buf) + at
		out.buf = append(out.buf, data...)
		out.ends[i] = len(out.buf)
		out.times[i], out.devices[i], out.source = f.Time, f.DeviceHash(), f.Source
		subj := f.Subject(partitions)
		if s, ok := subjects[subj]; ok {
			subj = s
		} else {
			subjects[subj] = subj
		}
		out.subject[i] = subj
	}
	runtime.GC()
	return out
}

// event returns the i-th event's header, device hash and payload.
func (o *sensorOutput) event(i int) (events.Header, uint32, []byte) {
	start := 0
	if i > 0 {
		start = o.ends[i-1]
	}
	h := events.Header{Version: events.Version, Kind: events.KindFlow, Time: o.times[i], Source: o.source,
		ID: unsafe.String(&o.buf[o.idAt[i]], 32)}
	return h, o.devices[i], o.buf[start:o.ends[i]:o.ends[i]]
}

func (o *sensorOutput) len() int { return len(o.ends) }

// eventSource is what publishBatched hands over, event by event.
type eventSource interface {
	len() int
	event(i int) (events.Header, uint32, []byte)
}

// madeEvents makes and encodes each event when it is handed over: the
// sensor's work of making events runs in the measurement too.
type madeEvents struct {
	b testing.TB
	n int
	g flowSource
}

func (m *madeEvents) len() int { return m.n }

func (m *madeEvents) event(i int) (events.Header, uint32, []byte) {
	f := m.g.flow(i)
	data, err := f.Encode()
	if err != nil {
		m.b.Fatal(err)
	}
	return f.Meta(), f.DeviceHash(), data
}

// publishBatched hands evs to an events.Batcher the way the sensor does
// (batches per partition, sent asynchronously, one in flight per
// partition) and checks that every event was stored.
func publishBatched(b testing.TB, bus *events.Bus, evs eventSource) {
	before := bus.Stats()
	bt := bus.NewBatcher(events.BatchOptions{})
	ctx := context.Background()
	for i := range evs.len() {
		h, device, payload := evs.event(i)
		if err := bt.PublishEncoded(ctx, h, device, payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := bt.Close(ctx); err != nil {
		b.Fatal(err)
	}
	st := bus.Stats()
	if got := st.Published - before.Published; got != uint64(evs.len()) || st.PublishErrors != before.PublishErrors {
		b.Fatalf("stored %d of %d events: %+v", got, evs.len(), st)
	}
}

// publishAsync stores msgs in JetStream one message per event, as fast
// as it takes them: async publishes with at most publishPending
// unacknowledged; when the window is full the publisher waits for it to
// drain instead of failing. Every acknowledgement is checked. It is the
// comparison for publishBatched.
func publishAsync(b testing.TB, bus *events.Bus, evs *sensorOutput) {
	var failed atomic.Int64
	js, err := jetstream.New(bus.JetStream().Conn(), jetstream.WithPublishAsyncMaxPending(publishPending),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { failed.Add(1) }))
	if err != nil {
		b.Fatal(err)
	}
	for i := range evs.len() {
		h, _, payload := evs.event(i)
		msg := &nats.Msg{Subject: evs.subject[i], Data: payload, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, h.ID)
		for {
			_, err := js.PublishMsgAsync(msg, jetstream.WithStallWait(time.Second))
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				b.Fatal(err)
			}
			<-js.PublishAsyncComplete()
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		b.Fatal("publish did not complete")
	}
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d publishes failed", n)
	}
}

// publishPending bounds the unacknowledged asynchronous publishes.
const publishPending = 8192

// BenchmarkWriter measures the writer alone: b.N flow events are published
// to the embedded JetStream first (asynchronously; published/s is that
// rate), then one writer inserts them all (JetStream fetch, decoding, the
// ID look-up, the insert and its rollups, acknowledgements; rows/s). Run
// it with a fixed count to get a sustained rate:
//
//	go test -run '^$' -bench Writer -benchtime 200000x ./store/
func BenchmarkWriter(b *testing.B) {
	for _, rows := range []int{10_000, 50_000} {
		b.Run(fmt.Sprintf("max_rows=%d", rows), func(b *testing.B) { benchmarkWriter(b, rows) })
	}
}

func benchmarkWriter(b *testing.B, maxRows int) {
	s := chtest.Shared(b)
	bus := benchBus(b)
	cfg := DefaultConfiguration()
	cfg.Addresses = []string{s.Addr}
	cfg.Database = s.Database(b)
	cfg.MaxRows = maxRows
	evs := benchSensorOutput(b, bus.Partitions(), b.N)
	pubStart := time.Now()
	publishBatched(b, bus, evs)
	published := float64(b.N) / time.Since(pubStart).Seconds()

	w, err := New(cfg, Dependencies{Bus: bus})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b.ResetTimer()
	cpu := startCPU(b, s)
	start := time.Now()
	if err := w.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if err := bus.WaitCaughtUp(ctx, events.StreamSensor, Durable); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu.report(b, b.N)
	if err := w.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	if st := w.Stats(); st.Inserted != uint64(b.N) {
		b.Fatalf("inserted %d of %d: %+v", st.Inserted, b.N, st)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(published, "published/s")
}

// BenchmarkInsert measures decoding and inserting batches of max_rows
// (default) flows without JetStream: the ClickHouse side of the writer.
func BenchmarkInsert(b *testing.B) {
	s := chtest.Shared(b)
	cfg := DefaultConfiguration()
	cfg.Addresses = []string{s.Addr}
	cfg.Database = s.Database(b)
	ctx := context.Background()
	conn, err := Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if err := Migrate(ctx, conn); err != nil {
		b.Fatal(err)
	}
	msgs := benchFlows(b.N)
	payloads := make([][]byte, len(msgs))
	for i, m := range msgs {
		payloads[i], _ = m.Encode()
	}
	r := newKindRows()[events.KindFlow]
	size := cfg.MaxRows
	b.ResetTimer()
	cpu := startCPU(b, s)
	start := time.Now()
	for lo := 0; lo < len(payloads); lo += size {
		r.reset()
		for i, p := range payloads[lo:min(lo+size, len(payloads))] {
			env, m, err := decodeMeta(p, uint64(lo+i+1))
			if err != nil {
				b.Fatal(err)
			}
			if err := r.add(m, env.Body); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := r.dedupe(ctx, conn); err != nil {
			b.Fatal(err)
		}
		if err := r.insert(ctx, conn); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
	cpu.report(b, b.N)
}

// cpuMeter reports the processor time per row of this process (the
// writer, and the embedded NATS server in BenchmarkWriter) and of the
// ClickHouse server: on a shared machine these vary less than rows/s, and
// their sum bounds the rate two idle cores could sustain.
type cpuMeter struct {
	s           *chtest.Server
	self, house time.Duration
}

func startCPU(b *testing.B, s *chtest.Server) cpuMeter {
	m := cpuMeter{s: s, self: selfCPU()}
	m.house, _ = s.CPUTime()
	return m
}

func (m cpuMeter) report(b *testing.B, rows int) {
	self := selfCPU() - m.self
	house, err := m.s.CPUTime()
	if err != nil {
		return
	}
	house -= m.house
	b.ReportMetric(float64(self.Microseconds())/float64(rows), "go-cpu-µs/row")
	b.ReportMetric(float64(house.Microseconds())/float64(rows), "clickhouse-cpu-µs/row")
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchBus(b *testing.B) *events.Bus {
	cfg := events.DefaultConfiguration()
	bus, err := events.NewBus(cfg, events.Dependencies{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bus.Stop(context.Background()) })
	return bus
}

// BenchmarkPublish measures the publishing side of the pipeline alone:
// b.N flow events, encoded by the sensor beforehand (sensorOutput),
// handed to an events.Batcher with the default batch configuration and
// stored in the embedded JetStream.
func BenchmarkPublish(b *testing.B) {
	bus := benchBus(b)
	evs := benchSensorOutput(b, bus.Partitions(), b.N)
	b.ResetTimer()
	start := time.Now()
	publishBatched(b, bus, evs)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "published/s")
}

// BenchmarkPublishPerEvent is BenchmarkPublish with one message per
// event (PublishAsync, at most 8,192 unacknowledged): what batching is
// measured against.
func BenchmarkPublishPerEvent(b *testing.B) {
	bus := benchBus(b)
	evs := benchSensorOutput(b, bus.Partitions(), b.N)
	b.ResetTimer()
	start := time.Now()
	publishAsync(b, bus, evs)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "published/s")
}

// BenchmarkPipeline measures the sustained rate of the whole path with
// both sides running at once: a publisher hands b.N flow events to an
// events.Batcher as the sensor does (sensorOutput) while the writer
// (started first) drains them into ClickHouse. published/s is the publisher's rate under that load;
// rows/s is end to end, from the first publish until the writer has
// acknowledged the last event.
func BenchmarkPipeline(b *testing.B) {
	benchmarkPipeline(b, func(bus *events.Bus) eventSource { return benchSensorOutput(b, bus.Partitions(), b.N) })
}

// BenchmarkPipelineMakingEvents is BenchmarkPipeline with each event made
// and encoded as it is published, in the same process: the sensor's work
// of making events (not of capturing packets) on the same two cores. It
// is not the goal's measure, which starts where the sensor hands events
// over; it shows what that work costs.
func BenchmarkPipelineMakingEvents(b *testing.B) {
	benchmarkPipeline(b, func(*events.Bus) eventSource { return &madeEvents{b: b, n: b.N} })
}

func benchmarkPipeline(b *testing.B, source func(*events.Bus) eventSource) {
	s := chtest.Shared(b)
	bus := benchBus(b)
	cfg := DefaultConfiguration()
	cfg.Addresses = []string{s.Addr}
	cfg.Database = s.Database(b)
	evs := source(bus)
	w, err := New(cfg, Dependencies{Bus: bus})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := w.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu := startCPU(b, s)
	start := time.Now()
	publishBatched(b, bus, evs)
	published := float64(b.N) / time.Since(start).Seconds()
	if err := bus.WaitCaughtUp(ctx, events.StreamSensor, Durable); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu.report(b, b.N)
	if err := w.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	if st := w.Stats(); st.Inserted != uint64(b.N) {
		b.Fatalf("inserted %d of %d: %+v", st.Inserted, b.N, st)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(published, "published/s")
}
