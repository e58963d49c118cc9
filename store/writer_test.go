package store

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/ClickHouse/clickhouse-go/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/store/chtest"
)

// TestWriterStoresEveryKind publishes one event of each kind and checks
// that each lands in its table with its columns and body.
func TestWriterStoresEveryKind(t *testing.T) {
	s := chtest.Shared(t)
	b := startBus(t)
	cfg := testConfig(t, s)
	msgs := oneOfEachKind()
	publish(t, b, msgs...)
	w := startWriter(t, b, cfg)
	waitCaughtUp(t, b, 30*time.Second)
	conn := w.Conn()

	for _, k := range events.Kinds {
		if n := queryUint(t, conn, "SELECT count() FROM "+tableOf[k]); n != 1 {
			t.Errorf("%s: %d rows, want 1", tableOf[k], n)
		}
	}
	if st := w.Stats(); st.Inserted != uint64(len(msgs)) || st.Rejected != 0 || st.Duplicates != 0 {
		t.Errorf("stats %+v, want %d inserted and nothing else", st, len(msgs))
	}

	// The flow's columns and body, read back.
	f := msgs[0].(events.Event[events.Flow])
	var got struct {
		Time                  time.Time
		NS                    uint32
		ID, Body, Orig, Resp  string
		Seq                   uint64
		Port                  uint16
		OrigBytes, RespBytes  uint64
		Phase, Comp, AppProto string
	}
	err := conn.QueryRow(context.Background(), `SELECT time, time_ns, lower(hex(id)), body, orig_device, resp_device,
		seq, resp_port, orig_bytes, resp_bytes, phase, source_component, app_proto FROM flows`).Scan(
		&got.Time, &got.NS, &got.ID, &got.Body, &got.Orig, &got.Resp, &got.Seq, &got.Port,
		&got.OrigBytes, &got.RespBytes, &got.Phase, &got.Comp, &got.AppProto)
	if err != nil {
		t.Fatal(err)
	}
	if at := got.Time.Add(time.Duration(got.NS)); !at.Equal(f.Time) {
		t.Errorf("time %s + %dns, want %s", got.Time, got.NS, f.Time)
	}
	if got.ID != f.ID || got.Seq != 1 || got.Port != 104 || got.OrigBytes != f.Body.OrigBytes ||
		got.RespBytes != f.Body.RespBytes || got.Phase != "end" || got.Comp != "sensor" || got.AppProto != "dicom" ||
		got.Orig != pumpKey() || got.Resp != events.DeviceKey(pacs.MAC, pacs.IP, 20) {
		t.Errorf("flow row %+v does not match the event %+v", got, f)
	}
	var body events.Flow
	if err := json.Unmarshal([]byte(got.Body), &body); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f.Body, body); diff != "" {
		t.Errorf("stored body differs from the event's (-event +stored):\n%s", diff)
	}
	// Replay from ClickHouse needs the exact event back: same ID.
	rebuilt := events.MustEvent(got.Time.Add(time.Duration(got.NS)), f.Source, body)
	if rebuilt.ID != f.ID {
		t.Errorf("event rebuilt from its row has ID %s, want %s", rebuilt.ID, f.ID)
	}

	var tags []string
	if err := conn.QueryRow(context.Background(), "SELECT tags FROM alerts").Scan(&tags); err != nil || !cmp.Equal(tags, []string{"internet"}) {
		t.Errorf("alert tags %v (%v), want [internet]", tags, err)
	}
	// The flow ended, so both of its ends have a row in each rollup.
	for _, table := range []string{"traffic_1m", "traffic_1h"} {
		if n := queryUint(t, conn, "SELECT sum(bytes_out) FROM "+table+" WHERE device = ?", pumpKey()); n != f.Body.OrigBytes {
			t.Errorf("%s: pump sent %d bytes, want %d", table, n, f.Body.OrigBytes)
		}
		if n := queryUint(t, conn, "SELECT sum(bytes_in) FROM "+table+" WHERE peer_ip = ?", pump.IP); n != f.Body.OrigBytes {
			t.Errorf("%s: pump's peer received %d bytes, want %d", table, n, f.Body.OrigBytes)
		}
	}
}

// republish stores payloads again under new message IDs, as a sensor
// re-reading a capture after the duplicate window would: JetStream keeps
// both copies, and only the store can tell they are the same events.
func republish(t *testing.T, b *events.Bus, msgs []events.Message) {
	t.Helper()
	for i, m := range msgs {
		data, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		msg := &nats.Msg{Subject: m.Subject(b.Partitions()), Data: data, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("copy-%d-%s", i, m.Meta().ID))
		if _, err := b.JetStream().PublishMsg(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWriterNeverStoresAnEventTwice publishes every event twice (JetStream
// drops the second), republishes them under new message IDs (JetStream
// keeps both), and makes JetStream redeliver everything to a new writer:
// the tables hold each event once and the rollups count it once. Rows
// copied behind the writer's back are then hidden by the queries.
func TestWriterNeverStoresAnEventTwice(t *testing.T) {
	s := chtest.Shared(t)
	b := startBus(t)
	cfg := testConfig(t, s)
	var msgs []events.Message
	var wantBytes uint64
	for i := range 200 {
		f := testFlow(i, time.Duration(i)*time.Second, pump, pacs, 104)
		wantBytes += f.Body.OrigBytes
		msgs = append(msgs, f)
	}
	for i := range 20 {
		msgs = append(msgs, testAlert(i, time.Duration(i)*time.Minute, events.SeverityHigh))
	}
	publish(t, b, msgs...)
	publish(t, b, msgs...)
	if st := b.Stats(); st.Duplicates != uint64(len(msgs)) {
		t.Fatalf("JetStream dropped %d duplicates, want %d", st.Duplicates, len(msgs))
	}
	republish(t, b, msgs)

	w := startWriter(t, b, cfg)
	waitCaughtUp(t, b, 30*time.Second)
	stopWriter(t, w)
	st := w.Stats()
	if st.Received != uint64(2*len(msgs)) || st.Inserted != uint64(len(msgs)) || st.Duplicates != uint64(len(msgs)) {
		t.Errorf("first writer %+v: want %d received, %d inserted, %d duplicates", st, 2*len(msgs), len(msgs), len(msgs))
	}

	// A lost acknowledgement, a crash between insert and ack, a new
	// engine: all amount to JetStream delivering the stream again.
	for _, sp := range events.Streams(events.DefaultRetention()) {
		if err := b.JetStream().DeleteConsumer(context.Background(), sp.Name, Durable); err != nil {
			t.Fatal(err)
		}
	}
	w2 := startWriter(t, b, cfg)
	waitCaughtUp(t, b, 30*time.Second)
	if st := w2.Stats(); st.Inserted != 0 || st.Duplicates != uint64(2*len(msgs)) {
		t.Errorf("second writer %+v: want nothing inserted, %d duplicates", st, 2*len(msgs))
	}

	conn := w2.Conn()
	check := func(when string, wantRaw uint64) {
		t.Helper()
		if n := queryUint(t, conn, "SELECT count() FROM flows"); n != wantRaw {
			t.Errorf("%s: %d flow rows, want %d", when, n, wantRaw)
		}
		if n := queryUint(t, conn, "SELECT count() FROM flows FINAL"); n != 200 {
			t.Errorf("%s: %d flows with FINAL, want 200", when, n)
		}
		q := NewQueries(conn)
		if n, err := q.CountEvents(context.Background(), events.KindFlow, t0, t0.Add(time.Hour)); err != nil || n != 200 {
			t.Errorf("%s: CountEvents = %d, %v, want 200", when, n, err)
		}
		peers, err := q.TopPeers(context.Background(), pumpKey(), t0, t0.Add(time.Hour), 10)
		if err != nil || len(peers) != 1 || peers[0].Flows != 200 || peers[0].BytesOut != wantBytes {
			t.Errorf("%s: TopPeers = %+v, %v, want one peer, 200 flows, %d bytes out", when, peers, err, wantBytes)
		}
		alerts, err := q.AlertsOverTime(context.Background(), "", t0, t0.Add(time.Hour), time.Hour)
		if err != nil || len(alerts) != 1 || alerts[0].Total != 20 {
			t.Errorf("%s: AlertsOverTime = %+v, %v, want 20", when, alerts, err)
		}
	}
	check("after redelivery", 200)

	// A copy inserted behind the writer's back (two writers racing on a
	// redelivered batch) is still counted once by the queries on event
	// tables. The rollups would count its flows twice: see doc.go.
	r := newKindRows()
	for _, m := range msgs {
		data, _ := m.Encode()
		env, mt, err := decodeMeta(data, 1)
		if err != nil {
			t.Fatal(err)
		}
		if env.Kind == events.KindAlert {
			if err := r[env.Kind].add(mt, env.Body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r[events.KindAlert].insert(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	if n := queryUint(t, conn, "SELECT count() FROM alerts"); n != 40 {
		t.Errorf("%d alert rows after the raw copy, want 40", n)
	}
	check("after a raw copy of the alerts", 200)
}

// TestWriterWaitsOutClickHouse stops ClickHouse while a sensor publishes,
// restarts it, and checks that every event was stored exactly once: the
// events waited in JetStream, the failed inserts were counted.
func TestWriterWaitsOutClickHouse(t *testing.T) {
	s := chtest.Start(t) // its own server: this test stops it
	b := startBus(t)
	cfg := testConfig(t, s)
	w := startWriter(t, b, cfg)

	const total = 3000
	var wantBytes uint64
	flows := make([]events.Message, total)
	for i := range flows {
		f := testFlow(i, time.Duration(i)*100*time.Millisecond, pump, pacs, 104)
		wantBytes += f.Body.OrigBytes
		flows[i] = f
	}
	var published sync.WaitGroup
	published.Add(1)
	progress := make(chan int, total)
	go func() {
		defer published.Done()
		for i, m := range flows {
			if err := b.Publish(context.Background(), m); err != nil {
				t.Errorf("publish %d: %v", i, err)
				return
			}
			progress <- i
			time.Sleep(time.Millisecond) // a sensor, not a burst
		}
	}()
	waitProgress := func(n int) {
		for i := range progress {
			if i >= n {
				return
			}
		}
	}

	waitProgress(total / 4)
	eventually(t, 30*time.Second, func() string {
		if st := w.Stats(); st.Inserted == 0 {
			return "nothing inserted before ClickHouse stopped"
		}
		return ""
	})
	s.Stop(t)
	stoppedAt := w.Stats()
	waitProgress(total / 2)
	eventually(t, 30*time.Second, func() string {
		if st := w.Stats(); st.InsertErrors == 0 {
			return fmt.Sprintf("no insert failure counted while ClickHouse is down: %+v", st)
		}
		return ""
	})
	cons, err := b.JetStream().Consumer(context.Background(), events.StreamSensor, Durable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending+int(info.NumPending) == 0 {
		t.Errorf("nothing waits in JetStream while ClickHouse is down: %+v", info)
	}
	s.Restart(t)
	published.Wait()
	waitCaughtUp(t, b, 60*time.Second)

	st := w.Stats()
	t.Logf("stopped after %d rows; at the end %+v", stoppedAt.Inserted, st)
	if st.Inserted+st.Duplicates != total {
		t.Errorf("inserted %d + duplicates %d, want %d events", st.Inserted, st.Duplicates, total)
	}
	conn := w.Conn()
	if n := queryUint(t, conn, "SELECT count() FROM flows"); n != total {
		t.Errorf("%d flow rows, want exactly %d", n, total)
	}
	if n := queryUint(t, conn, "SELECT uniqExact(id) FROM flows"); n != total {
		t.Errorf("%d distinct flows, want %d", n, total)
	}
	if n := queryUint(t, conn, "SELECT sum(bytes_out) FROM traffic_1m WHERE device = ?", pumpKey()); n != wantBytes {
		t.Errorf("rollup: pump sent %d bytes, want %d", n, wantBytes)
	}
}

// TestWriterRejectsBadMessages publishes messages that cannot be stored
// as events between good ones: they are counted and kept in
// rejected_events, and the stream goes on.
func TestWriterRejectsBadMessages(t *testing.T) {
	s := chtest.Shared(t)
	b := startBus(t)
	cfg := testConfig(t, s)
	good := testFlow(1, 0, pump, pacs, 104)
	goodData, _ := good.Encode()
	subject := good.Subject(b.Partitions())
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(goodData, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	bad := map[string][]byte{
		"not json":       []byte("not json"),
		"version":        edit(func(m map[string]any) { m["version"] = "v2" }),
		"id":             edit(func(m map[string]any) { m["id"] = "xyz" }),
		"time":           edit(func(m map[string]any) { m["time"] = "1960-01-01T00:00:00Z" }),
		"body type":      edit(func(m map[string]any) { m["body"].(map[string]any)["orig_bytes"] = "many" }),
		"unknown kind":   edit(func(m map[string]any) { m["kind"] = "telepathy" }),
		"body no object": edit(func(m map[string]any) { m["body"] = []int{1} }),
	}
	publish(t, b, good)
	for name, data := range bad {
		if _, err := b.JetStream().Publish(context.Background(), subject, data, jetstream.WithMsgID("bad-"+name)); err != nil {
			t.Fatal(err)
		}
	}
	later := testFlow(2, time.Second, pump, pacs, 104)
	publish(t, b, later)

	w := startWriter(t, b, cfg)
	waitCaughtUp(t, b, 30*time.Second)
	conn := w.Conn()
	if st := w.Stats(); st.Rejected != uint64(len(bad)) || st.Inserted != 2 {
		t.Errorf("stats %+v, want %d rejected, 2 inserted", st, len(bad))
	}
	if n := queryUint(t, conn, "SELECT count() FROM flows"); n != 2 {
		t.Errorf("%d flows stored, want the 2 good ones", n)
	}
	rows, err := conn.Query(context.Background(), "SELECT error, data FROM rejected_events FINAL ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var reasons []string
	for rows.Next() {
		var reason, data string
		if err := rows.Scan(&reason, &data); err != nil {
			t.Fatal(err)
		}
		if data == "" {
			t.Errorf("rejected %q kept no data", reason)
		}
		reasons = append(reasons, reason)
	}
	if len(reasons) != len(bad) {
		t.Fatalf("rejected_events holds %d rows, want %d: %q", len(reasons), len(bad), reasons)
	}
	for _, want := range []string{"decode event", `version "v2"`, `id "xyz"`, "time 1960", "decode flow body", `kind "telepathy"`, "not a JSON object"} {
		found := false
		for _, r := range reasons {
			found = found || strings.Contains(r, want)
		}
		if !found {
			t.Errorf("no rejection says %q: %q", want, reasons)
		}
	}
}

// TestWriterFlushesOnStop starts a writer whose batches wait 30s, and
// stops it: what it holds is inserted and acknowledged by Stop.
func TestWriterFlushesOnStop(t *testing.T) {
	s := chtest.Shared(t)
	b := startBus(t)
	cfg := testConfig(t, s)
	cfg.FlushInterval = 30 * time.Second
	cfg.AckWait = 2 * time.Minute
	msgs := make([]events.Message, 10)
	for i := range msgs {
		msgs[i] = testFlow(i, time.Duration(i)*time.Second, pump, pacs, 104)
	}
	publish(t, b, msgs...)
	w := startWriter(t, b, cfg)
	cons, err := b.JetStream().Consumer(context.Background(), events.StreamSensor, Durable)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() string {
		info, err := cons.Info(context.Background())
		if err != nil {
			return err.Error()
		}
		if info.NumAckPending != len(msgs) {
			return fmt.Sprintf("%d delivered and unacknowledged, want %d", info.NumAckPending, len(msgs))
		}
		return ""
	})
	if n := queryUint(t, w.Conn(), "SELECT count() FROM flows"); n != 0 {
		t.Fatalf("%d flows stored before the 30s batch is due", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	started := time.Now()
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(started); d > 5*time.Second {
		t.Errorf("Stop took %s: it waited for the batch instead of flushing it", d)
	}
	conn := openDB(t, cfg)
	if n := queryUint(t, conn, "SELECT count() FROM flows"); n != uint64(len(msgs)) {
		t.Errorf("%d flows stored after Stop, want %d", n, len(msgs))
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumPending != 0 {
		t.Errorf("after Stop: %d unacknowledged, %d pending, want none", info.NumAckPending, info.NumPending)
	}
}

// TestWriterStopGivesUpWhenClickHouseIsDown checks that Stop returns when
// its context ends with the batch in hand unstored, leaving it in
// JetStream for the next writer.
func TestWriterStopGivesUpWhenClickHouseIsDown(t *testing.T) {
	s := chtest.Start(t)
	b := startBus(t)
	cfg := testConfig(t, s)
	cfg.AckWait = 2 * time.Second
	w, err := New(cfg, Dependencies{Bus: b})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Stop(t)
	publish(t, b, testFlow(1, 0, pump, pacs, 104))
	eventually(t, 30*time.Second, func() string {
		if w.Stats().InsertErrors == 0 {
			return "no failed insert"
		}
		return ""
	})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := w.Stop(ctx); err == nil {
		t.Error("Stop with ClickHouse down returned no error")
	}
	s.Restart(t)
	w2 := startWriter(t, b, cfg) // the abandoned batch comes back after AckWait
	eventually(t, 30*time.Second, func() string {
		if n := w2.Stats().Inserted; n != 1 {
			return fmt.Sprintf("%d inserted by the next writer, want the abandoned event", n)
		}
		return ""
	})
}

func TestConfigurationValidate(t *testing.T) {
	ok := DefaultConfiguration()
	ok.Addresses = []string{"127.0.0.1:9000", "ch2.example:9000"}
	if errs := ok.Validate(); len(errs) != 0 {
		t.Fatalf("default with addresses: %v", errs)
	}
	for _, tc := range []struct {
		name string
		edit func(c *Configuration)
		want string
	}{
		{"address without port", func(c *Configuration) { c.Addresses = []string{"ch1"} }, "addresses[0]"},
		{"address without host", func(c *Configuration) { c.Addresses = []string{":9000"} }, "addresses[0]"},
		{"bad port", func(c *Configuration) { c.Addresses = []string{"a:1", "b:99999"} }, "addresses[1]"},
		{"database", func(c *Configuration) { c.Database = "vigil; DROP" }, "database:"},
		{"max_rows", func(c *Configuration) { c.MaxRows = 0 }, "max_rows:"},
		{"flush_interval", func(c *Configuration) { c.FlushInterval = time.Hour }, "flush_interval:"},
		{"max_backoff", func(c *Configuration) { c.MaxBackoff = 0 }, "max_backoff:"},
		{"ack_wait", func(c *Configuration) { c.AckWait = 2 * time.Second }, "ack_wait:"},
		{"dial_timeout", func(c *Configuration) { c.DialTimeout = 0 }, "dial_timeout:"},
		{"read_timeout", func(c *Configuration) { c.ReadTimeout = -1 }, "read_timeout:"},
		{"compression", func(c *Configuration) { c.Compression = "zstd" }, "compression:"},
		{"insert_workers", func(c *Configuration) { c.InsertWorkers = 0 }, "insert_workers:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			errs := c.Validate()
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tc.want) {
				t.Errorf("Validate() = %v, want one error starting %q", errs, tc.want)
			}
		})
	}
	bad := DefaultConfiguration()
	bad.MaxRows, bad.Database = -1, ""
	if errs := bad.Validate(); len(errs) != 2 {
		t.Errorf("two problems reported as %v", errs)
	}
	if _, err := New(DefaultConfiguration(), Dependencies{}); err == nil || !strings.Contains(err.Error(), "addresses") {
		t.Errorf("New without addresses: %v", err)
	}
}

func TestCompressionAutoIsOffOnThisMachineOnly(t *testing.T) {
	for _, tc := range []struct {
		compression string
		addresses   []string
		want        clickhouse.CompressionMethod
	}{
		{"auto", []string{"127.0.0.1:9000"}, clickhouse.CompressionNone},
		{"auto", []string{"localhost:9000", "[::1]:9000"}, clickhouse.CompressionNone},
		{"auto", []string{"127.0.0.1:9000", "ch2.example:9000"}, clickhouse.CompressionLZ4},
		{"auto", []string{"10.0.0.5:9000"}, clickhouse.CompressionLZ4},
		{"lz4", []string{"127.0.0.1:9000"}, clickhouse.CompressionLZ4},
		{"none", []string{"10.0.0.5:9000"}, clickhouse.CompressionNone},
	} {
		cfg := DefaultConfiguration()
		cfg.Compression, cfg.Addresses = tc.compression, tc.addresses
		if got := compressionMethod(cfg); got != tc.want {
			t.Errorf("%s %v: %v, want %v", tc.compression, tc.addresses, got, tc.want)
		}
	}
}

// TestClaimKeepsTwoInsertsFromTheSameEvent: with several inserters, an
// event in two batches at once (a copy) is inserted by the first batch
// only; once that insert ended, the look-up in ClickHouse takes over.
func TestClaimKeepsTwoInsertsFromTheSameEvent(t *testing.T) {
	flows := benchFlows(3)
	batchOf := func(msgs ...events.Message) *batch {
		b := &batch{kinds: newKindRows()}
		for i, m := range msgs {
			data, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decodeAt(data, events.Position{Seq: uint64(i + 1)}, b.kinds); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	w := &Writer{}
	first, second := batchOf(flows[0], flows[1]), batchOf(flows[1], flows[2])
	if n := w.claim(first); n != 0 {
		t.Fatalf("first batch: %d dropped", n)
	}
	if n := w.claim(second); n != 1 || second.kinds[events.KindFlow].len() != 1 {
		t.Fatalf("second batch: %d dropped, %d left; want the shared event dropped", n, second.kinds[events.KindFlow].len())
	}
	w.release(first)
	w.release(second)
	if len(w.inflight) != 0 {
		t.Fatalf("%d IDs still held after both inserts", len(w.inflight))
	}
	if n := w.claim(batchOf(flows[1])); n != 0 {
		t.Fatalf("after the first insert ended: %d dropped", n)
	}
}
