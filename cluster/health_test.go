package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/store"
	"github.com/vigil-health/vigil/store/chtest"
)

func testFlow(i int) events.Event[events.Flow] {
	at := time.Date(2026, 1, 5, 8, 0, i, 0, time.UTC)
	return events.MustEvent(at, events.Source{Component: "sensor", Name: "test"}, events.Flow{
		FlowID: "f", Phase: events.FlowEnd, Start: at, Last: at, Transport: "tcp",
		Orig: events.Endpoint{MAC: "00:11:22:33:44:55", IP: "10.0.0.1", Port: 40000 + uint16(i)},
		Resp: events.Endpoint{MAC: "00:11:22:33:44:66", IP: "10.0.0.2", Port: 104},
	})
}

// TestMetricsAndHealthEvents puts a real bus and a real store writer
// (real ClickHouse) in a known state (12 flows published, all stored by
// the writer; a probe consumer that acknowledged 4, holds 1 and lags 7
// behind) and checks the exposition's values, then the health events:
// the first carries the same figures, in the event log, and every one
// lands in ClickHouse's health table once.
func TestMetricsAndHealthEvents(t *testing.T) {
	ch := chtest.Shared(t)
	ctx := context.Background()
	bus, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		bus.Stop(sctx)
	})
	scfg := store.DefaultConfiguration()
	scfg.Addresses, scfg.Database = []string{ch.Addr}, ch.Database(t)
	scfg.FlushInterval, scfg.AckWait = 50*time.Millisecond, 10*time.Second
	w, err := store.New(scfg, store.Dependencies{Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		w.Stop(sctx)
	})

	const published = 12
	for i := range published {
		if err := bus.Publish(ctx, testFlow(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := bus.Publish(ctx, testFlow(0)); err != nil { // a copy, dropped
		t.Fatal(err)
	}
	cons, err := bus.JetStream().CreateOrUpdateConsumer(ctx, events.StreamSensor, jetstream.ConsumerConfig{
		Durable: "probe", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := cons.Fetch(5, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range res.Messages() {
		if n++; n <= 4 {
			m.DoubleAck(ctx)
		}
	}
	if err := bus.WaitCaughtUp(ctx, events.StreamSensor, store.Durable); err != nil {
		t.Fatal(err)
	}
	st, err := bus.JetStream().Stream(ctx, events.StreamSensor)
	if err != nil {
		t.Fatal(err)
	}
	fifth, err := st.GetMsg(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	now := fifth.Time.Add(90 * time.Second)

	h, err := NewHealth(HealthConfiguration{Interval: time.Second}, HealthDependencies{
		Bus: bus, Name: "engine.a", Writer: w.Stats, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	probe := `{stream="VIGIL_V1_SENSOR",consumer="probe"}`
	writer := `{stream="VIGIL_V1_SENSOR",consumer="store"}`
	for _, want := range []string{
		"vigil_nats_up 1",
		"vigil_consumer_pending_messages" + probe + " 7",
		"vigil_consumer_ack_pending_messages" + probe + " 1",
		"vigil_consumer_redelivered_messages" + probe + " 0",
		"vigil_consumer_oldest_unacked_seconds" + probe + " 90",
		"vigil_consumer_ack_floor_sequence" + probe + " 4",
		"vigil_consumer_pending_messages" + writer + " 0",
		"vigil_consumer_oldest_unacked_seconds" + writer + " 0",
		"vigil_consumer_ack_floor_sequence" + writer + " 12",
		"vigil_bus_published_total 12",
		"vigil_bus_duplicates_total 1",
		"vigil_store_inserted_total 12",
		"vigil_store_insert_errors_total 0",
		"# TYPE vigil_store_inserted_total counter",
		"# TYPE vigil_consumer_pending_messages gauge",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Every line is a comment or "name{labels} value".
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.HasPrefix(l, "# HELP ") || strings.HasPrefix(l, "# TYPE ") {
			continue
		}
		if f := strings.Fields(l); len(f) != 2 || !strings.HasPrefix(f[0], "vigil_") {
			t.Errorf("not a sample line: %q", l)
		}
	}
	if t.Failed() {
		t.Logf("exposition:\n%s", text)
	}

	// The health events: the first report carries the same figures, as
	// an event in the log, and the writer stores it in ClickHouse.
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Stop(ctx)
	ev, subject := nextPipelineHealth(t, bus)
	checkFirstReport(t, ev, subject, now, published)
	h.Stop(ctx)

	// Every health event the component published is a row, once.
	want := healthEventsIn(t, bus)
	conn := openStore(t, scfg)
	waitFor(t, 15*time.Second, func() bool {
		var n uint64
		err := conn.QueryRow(ctx, "SELECT count() FROM health WHERE process = 'engine.a'").Scan(&n)
		return err == nil && n == want
	}, "%d health events of engine.a in ClickHouse", want)
	var rows, ids uint64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(id) FROM health").Scan(&rows, &ids); err != nil || rows != want || ids != want {
		t.Errorf("health table: %d rows, %d distinct (%v), want %d", rows, ids, err, want)
	}
	checkFirstRow(t, conn, ev, published)
}

// nextPipelineHealth returns the first health event of the sensor stream
// and its subject; the test publishes no sensor health, so it is the
// first pipeline report.
func nextPipelineHealth(t *testing.T, bus *events.Bus) (events.Event[events.Health], string) {
	t.Helper()
	ctx := context.Background()
	cons, err := bus.JetStream().OrderedConsumer(ctx, events.StreamSensor, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.KindSubjects(events.KindHealth)},
	})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("no health event: %v", err)
	}
	ev, err := events.Decode[events.Health](msg.Data())
	if err != nil {
		t.Fatal(err)
	}
	if ev.Body.Pipeline == nil {
		t.Fatalf("health event without pipeline: %s", msg.Data())
	}
	return ev, msg.Subject()
}

// checkFirstReport compares the first health event with the state
// TestMetricsAndHealthEvents made.
func checkFirstReport(t *testing.T, ev events.Event[events.Health], subject string, now time.Time, published uint64) {
	t.Helper()
	if !ev.Time.Equal(now) || ev.Source != (events.Source{Component: HealthComponent, Name: "engine.a"}) {
		t.Errorf("event at %s from %+v, want %s from the pipeline component of engine.a", ev.Time, ev.Source, now)
	}
	if want := events.Subject(events.KindHealth, events.Partition("process:engine.a", events.DefaultPartitions)); subject != want {
		t.Errorf("published on %s, want %s (partitioned by the process name)", subject, want)
	}
	again, err := events.NewEvent(ev.Time, ev.Source, ev.Body)
	if err != nil || again.ID != ev.ID {
		t.Errorf("content derives ID %s (%v), the event has %s", again.ID, err, ev.ID)
	}
	p := ev.Body.Pipeline
	sensorPart := ev.Body
	sensorPart.Pipeline = nil
	if sensorPart != (events.Health{IntervalMS: 1000}) {
		t.Errorf("sensor fields of a pipeline report: %+v", sensorPart)
	}
	if p.Process != "engine.a" || p.ConsumersError != "" {
		t.Errorf("process %q, consumers error %q", p.Process, p.ConsumersError)
	}
	want := map[string]events.ConsumerHealth{
		"probe": {Stream: events.StreamSensor, Durable: "probe", Pending: 7, AckPending: 1, AckFloor: 4, OldestUnacked: 90 * time.Second},
		"store": {Stream: events.StreamSensor, Durable: "store", AckFloor: published},
	}
	n := 0
	for _, c := range p.Consumers {
		if c.Stream != events.StreamSensor {
			continue
		}
		n++
		if diff := cmp.Diff(want[c.Durable], c); diff != "" {
			t.Errorf("consumer %s (-want +got):\n%s", c.Durable, diff)
		}
	}
	if n != 2 || len(p.Consumers) != 5 {
		t.Errorf("%d consumers, %d on the sensor stream; want 5 (the store writer's on the four streams, the probe)", len(p.Consumers), n)
	}
	if p.Bus != (events.BusHealth{Published: published, Duplicates: 1}) {
		t.Errorf("bus %+v, want %d published and 1 duplicate", p.Bus, published)
	}
	if p.Store == nil || p.Store.Inserted != published || p.Store.InsertErrors != 0 || p.Store.Rejected != 0 || p.Store.Received != published {
		t.Errorf("store %+v, want %d received and inserted", p.Store, published)
	}
}

// healthEventsIn counts the health events in the sensor stream.
func healthEventsIn(t *testing.T, bus *events.Bus) uint64 {
	t.Helper()
	cons, err := bus.JetStream().OrderedConsumer(context.Background(), events.StreamSensor, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.KindSubjects(events.KindHealth)},
	})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.NumPending
}

func openStore(t *testing.T, cfg store.Configuration) driver.Conn {
	t.Helper()
	conn, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s, still not: "+format, append([]any{d}, args...)...)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkFirstRow reads the first report's row back, every pipeline column,
// and runs the query of migrations/005_pipeline_health.sql.
func checkFirstRow(t *testing.T, conn driver.Conn, ev events.Event[events.Health], published uint64) {
	t.Helper()
	ctx := context.Background()
	var (
		component, name, sensor, process, consErr, body string
		interval                                        uint64
		streams, durables                               []string
		pending, ackPending, redelivered, floor, oldest []uint64
		bus                                             [7]uint64
		writer                                          uint8
		st                                              [7]uint64
	)
	err := conn.QueryRow(ctx, `SELECT source_component, source_name, sensor, process, interval_ms, consumers_error,
		consumer_stream, consumer_durable, consumer_pending, consumer_ack_pending, consumer_redelivered,
		consumer_ack_floor, consumer_oldest_unacked_ns,
		bus_published, bus_duplicates, bus_publish_errors, bus_delivered, bus_redelivered, bus_retries, bus_poison,
		store_writer, store_received, store_inserted, store_duplicates, store_rejected, store_insert_errors,
		store_batches, store_ack_errors, body
		FROM health FINAL WHERE id = unhex(?)`, ev.ID).Scan(&component, &name, &sensor, &process, &interval, &consErr,
		&streams, &durables, &pending, &ackPending, &redelivered, &floor, &oldest,
		&bus[0], &bus[1], &bus[2], &bus[3], &bus[4], &bus[5], &bus[6],
		&writer, &st[0], &st[1], &st[2], &st[3], &st[4], &st[5], &st[6], &body)
	if err != nil {
		t.Fatalf("row of %s: %v", ev.ID, err)
	}
	p := ev.Body.Pipeline
	if component != HealthComponent || name != "engine.a" || sensor != "" || process != "engine.a" || interval != 1000 || consErr != "" {
		t.Errorf("row: %s %s sensor %q process %q interval %d error %q", component, name, sensor, process, interval, consErr)
	}
	var want struct {
		streams, durables                               []string
		pending, ackPending, redelivered, floor, oldest []uint64
	}
	for _, c := range p.Consumers {
		want.streams, want.durables = append(want.streams, c.Stream), append(want.durables, c.Durable)
		want.pending, want.ackPending = append(want.pending, c.Pending), append(want.ackPending, c.AckPending)
		want.redelivered, want.floor = append(want.redelivered, c.Redelivered), append(want.floor, c.AckFloor)
		want.oldest = append(want.oldest, uint64(c.OldestUnacked))
	}
	for _, c := range []struct {
		col       string
		got, want any
	}{
		{"consumer_stream", streams, want.streams}, {"consumer_durable", durables, want.durables},
		{"consumer_pending", pending, want.pending}, {"consumer_ack_pending", ackPending, want.ackPending},
		{"consumer_redelivered", redelivered, want.redelivered}, {"consumer_ack_floor", floor, want.floor},
		{"consumer_oldest_unacked_ns", oldest, want.oldest},
		{"bus_*", bus, [7]uint64{published, 1, 0, 0, 0, 0, 0}},
		{"store_writer", writer, uint8(1)},
		{"store_*", st, [7]uint64{p.Store.Received, published, p.Store.Duplicates, 0, 0, p.Store.Batches, 0}},
	} {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("column %s (-want +got):\n%s", c.col, diff)
		}
	}
	if data, _ := ev.Encode(); !strings.Contains(string(data), body) {
		t.Errorf("body column %s is not the event's body", body)
	}

	// The query the migration documents: the lag per consumer over time.
	rows, err := conn.Query(ctx, `SELECT time, source_name, stream, durable, pending, oldest_ns / 1e9
		FROM health FINAL
		ARRAY JOIN consumer_stream AS stream, consumer_durable AS durable,
		           consumer_pending AS pending, consumer_oldest_unacked_ns AS oldest_ns
		WHERE time >= now() - 3600 AND id = unhex(?)`, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var at time.Time
		var src, stream, durable string
		var pend uint64
		var age float64
		if err := rows.Scan(&at, &src, &stream, &durable, &pend, &age); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("%s %s %s %d %g", src, stream, durable, pend, age))
	}
	if !slices.Contains(lines, "engine.a VIGIL_V1_SENSOR probe 7 90") || len(lines) != len(p.Consumers) {
		t.Errorf("lag query answered:\n%s", strings.Join(lines, "\n"))
	}
}

// TestHealthWhenNATSIsDown: a process that cannot reach JetStream says
// so: the report carries the error, the exposition vigil_nats_up 0, and
// the health event's publish fails (it is counted by the bus and logged;
// the next report retries).
func TestHealthWhenNATSIsDown(t *testing.T) {
	ctx := context.Background()
	cfg := events.DefaultConfiguration()
	cfg.PublishTimeout = time.Second
	bus, err := events.NewBus(cfg, events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := NewHealth(HealthConfiguration{Interval: time.Second}, HealthDependencies{Bus: bus, Name: "engine-b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, p := h.Report(ctx); p.ConsumersError != "" || len(p.Consumers) != 0 {
		t.Fatalf("before the stop: %+v", p)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := bus.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	at, p := h.Report(ctx)
	if p.ConsumersError == "" || len(p.Consumers) != 0 || p.Process != "engine-b" {
		t.Errorf("report with NATS down: %+v", p)
	}
	var text strings.Builder
	if err := WriteMetrics(&text, p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "\nvigil_nats_up 0\n") {
		t.Errorf("exposition with NATS down:\n%s", text.String())
	}
	if _, err := h.Event(at, p); err != nil {
		t.Errorf("event of the report: %v", err)
	}
	if err := h.publish(ctx); err == nil {
		t.Error("publishing with NATS down succeeded")
	}
	if n := bus.Stats().PublishErrors; n != 1 {
		t.Errorf("%d publish errors counted, want 1", n)
	}
}
