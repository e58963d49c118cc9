package events

import (
	"context"
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
