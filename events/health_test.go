package events

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
)

// TestConsumersHealth drives a durable consumer into a known state (three
// acknowledged, two delivered and unacknowledged of which one delivered
// twice, five never delivered) and checks every figure.
func TestConsumersHealth(t *testing.T) {
	b := newTestBus(t, t.TempDir())
	ctx := context.Background()
	for i := range 10 {
		if err := b.Publish(ctx, testFlow(i)); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := b.JetStream().CreateOrUpdateConsumer(ctx, StreamSensor, jetstream.ConsumerConfig{
		Durable: "probe", AckPolicy: jetstream.AckExplicitPolicy, FilterSubjects: []string{KindSubjects(KindFlow)},
		MaxDeliver: -1, AckWait: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(n int) []jetstream.Msg {
		res, err := cons.Fetch(n, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var out []jetstream.Msg
		for m := range res.Messages() {
			out = append(out, m)
		}
		if len(out) != n {
			t.Fatalf("fetched %d, want %d", len(out), n)
		}
		return out
	}
	for _, m := range fetch(3) {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	two := fetch(2)
	if err := two[0].Nak(); err != nil { // delivered again at once
		t.Fatal(err)
	}
	if err := b.conn.Flush(); err != nil { // the server has the nak
		t.Fatal(err)
	}
	again := fetch(1)
	if md, _ := again[0].Metadata(); md == nil || md.Sequence.Stream != 4 || md.NumDelivered != 2 {
		t.Fatalf("fetched %+v, want the redelivery of sequence 4", md)
	}
	stored := func(seq uint64) time.Time {
		st, err := b.JetStream().Stream(ctx, StreamSensor)
		if err != nil {
			t.Fatal(err)
		}
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		return m.Time
	}
	now := stored(4).Add(time.Hour)
	got, err := b.ConsumersHealth(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []ConsumerHealth{{
		Stream: StreamSensor, Durable: "probe", Pending: 5, AckPending: 2, Redelivered: 1, AckFloor: 3,
		OldestUnacked: time.Hour,
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("health (-want +got):\n%s", diff)
	}

	// Caught up: nothing pending, no age.
	for _, m := range append(again, two[1]) {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range fetch(5) {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got, err = b.ConsumersHealth(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	want[0] = ConsumerHealth{Stream: StreamSensor, Durable: "probe", AckFloor: 10}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("health when caught up (-want +got):\n%s", diff)
	}
}

// TestPipelineHealthEvent: a pipeline process's report is a health event
// whose body carries the pipeline object, encodes as encoding/json does,
// decodes back whole, gets the same ID from the same content and another
// from other content, and is partitioned by the process; a sensor's
// report is untouched (no "pipeline" key, the hand-written encoder).
func TestPipelineHealthEvent(t *testing.T) {
	at := time.Date(2026, 11, 29, 11, 0, 0, 123456789, time.UTC)
	src := Source{Component: "pipeline", Name: "engine-a"}
	p := PipelineHealth{
		Process: "engine-a",
		Consumers: []ConsumerHealth{
			{Stream: StreamSensor, Durable: "store", Pending: 7, AckPending: 1, Redelivered: 1, AckFloor: 4, OldestUnacked: 90 * time.Second},
			{Stream: StreamAlerts, Durable: "alerts", AckFloor: 12},
		},
		Bus:   BusHealth{Published: 12, Duplicates: 1, Delivered: 30, Retries: 2},
		Store: &StoreHealth{Received: 13, Inserted: 12, Duplicates: 1, InsertErrors: 3, Batches: 2},
	}
	e := MustEvent(at, src, Health{IntervalMS: 30000, Pipeline: &p})
	got, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(e)
	if string(got) != string(want) {
		t.Errorf("Encode:\n%s\njson.Marshal:\n%s", got, want)
	}
	// The schema, pinned: field names and units are a contract.
	const body = `"pipeline":{"process":"engine-a","consumers":[` +
		`{"stream":"VIGIL_V1_SENSOR","durable":"store","pending":7,"ack_pending":1,"redelivered":1,"ack_floor":4,"oldest_unacked_ns":90000000000},` +
		`{"stream":"VIGIL_V1_ALERTS","durable":"alerts","pending":0,"ack_pending":0,"redelivered":0,"ack_floor":12,"oldest_unacked_ns":0}],` +
		`"bus":{"published":12,"duplicates":1,"publish_errors":0,"delivered":30,"redelivered":0,"retries":2,"poison":0},` +
		`"store":{"received":13,"inserted":12,"duplicates":1,"rejected":0,"insert_errors":3,"batches":2,"ack_errors":0}}}`
	if !strings.HasSuffix(string(got), body+"}") {
		t.Errorf("payload %s\ndoes not end with %s", got, body)
	}
	back, err := Decode[Health](got)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e.Body, back.Body); diff != "" || back.ID != e.ID || !back.Time.Equal(at) {
		t.Errorf("decoded %s at %s (-sent +decoded):\n%s", back.ID, back.Time, diff)
	}
	if again := MustEvent(back.Time, back.Source, back.Body); again.ID != e.ID {
		t.Errorf("the same content derives %s, then %s", e.ID, again.ID)
	}
	p2 := p
	p2.Consumers = append([]ConsumerHealth(nil), p.Consumers...)
	p2.Consumers[0].Pending++
	if other := MustEvent(at, src, Health{IntervalMS: 30000, Pipeline: &p2}); other.ID == e.ID {
		t.Error("a report with another lag has the same ID")
	}
	if k := e.Body.PartitionKey(); k != "process:engine-a" {
		t.Errorf("partition key %q", k)
	}
	if s := e.Subject(DefaultPartitions); s != Subject(KindHealth, Partition("process:engine-a", DefaultPartitions)) {
		t.Errorf("subject %s", s)
	}

	// A sensor's report: the fast encoder, no pipeline key, its own key.
	sensor := MustEvent(at, Source{Component: "sensor", Name: "ward-20"}, Health{Sensor: "ward-20", Interface: "eth1", IntervalMS: 60000, Packets: 5})
	data, _ := sensor.Encode()
	if sensor.payload == nil || strings.Contains(string(data), "pipeline") || sensor.Body.PartitionKey() != "sensor:ward-20" {
		t.Errorf("sensor report: fast path %v, payload %s, key %s", sensor.payload != nil, data, sensor.Body.PartitionKey())
	}
}

// BenchmarkNewEventHealth is a sensor's report (the hand-written encoder)
// and BenchmarkNewEventPipelineHealth a pipeline process's (encoding/json).
func BenchmarkNewEventHealth(b *testing.B) {
	at := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	h := Health{Sensor: "ward-20", Interface: "eth1", IntervalMS: 60000, Packets: 123456, Bytes: 98765432, ActiveFlows: 321, SilentAfterMS: 300000}
	b.ReportAllocs()
	for b.Loop() {
		e := MustEvent(at, Source{Component: "sensor", Name: "ward-20"}, h)
		if _, err := e.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewEventPipelineHealth(b *testing.B) {
	at := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	var cons []ConsumerHealth
	for _, s := range []string{StreamSensor, StreamAnalytics, StreamAlerts, StreamEnforce} {
		cons = append(cons, ConsumerHealth{Stream: s, Durable: "store", Pending: 7, AckFloor: 1234})
	}
	p := PipelineHealth{Process: "engine-a", Consumers: cons, Store: &StoreHealth{Inserted: 1234}}
	b.ReportAllocs()
	for b.Loop() {
		e := MustEvent(at, Source{Component: "pipeline", Name: "engine-a"}, Health{IntervalMS: 30000, Pipeline: &p})
		if _, err := e.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}
