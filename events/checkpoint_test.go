package events

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCheckpointRoundTripAndProjectionStart(t *testing.T) {
	dir := t.TempDir()
	b := newTestBus(t, dir)
	ctx := context.Background()
	if _, _, ok, err := b.LoadCheckpoint(ctx, "inv"); ok || err != nil {
		t.Fatalf("empty store: ok=%v err=%v", ok, err)
	}
	var ids []string
	for i := range 6 {
		ev := testFlow(i)
		ids = append(ids, ev.ID)
		if err := b.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	state := bytes.Repeat([]byte("device state "), 200_000) // larger than a KV value may be
	if err := b.SaveCheckpoint(ctx, "inv", Position{5, 0}, state); err != nil {
		t.Fatal(err)
	}
	next, got, ok, err := b.LoadCheckpoint(ctx, "inv")
	if err != nil || !ok || next != (Position{5, 0}) || !bytes.Equal(got, state) {
		t.Fatalf("load: next=%v ok=%v err=%v len=%d", next, ok, err, len(got))
	}

	// A projection consumer that already acknowledged everything restarts
	// from the checkpoint, not from where it acknowledged.
	spec := ConsumerSpec{Stream: StreamSensor, Durable: "inv", Kinds: []Kind{KindFlow}, Projection: true}
	var all collector
	stop := consumeInBackground(t, b, spec, all.handle)
	waitFor(t, func() bool { return len(all.got()) == 6 })
	stop()
	spec.From = next
	var rest collector
	stop = consumeInBackground(t, b, spec, rest.handle)
	waitFor(t, func() bool { return len(rest.got()) == 2 })
	stop()
	if diff := cmp.Diff(ids[4:], rest.got()); diff != "" {
		t.Errorf("after the checkpoint (-want +got):\n%s", diff)
	}

	// The checkpoint survives a restart of the server.
	stopBus(t, b)
	b2 := newTestBus(t, dir)
	if next, got, ok, err := b2.LoadCheckpoint(ctx, "inv"); err != nil || !ok || next != (Position{5, 0}) || !bytes.Equal(got, state) {
		t.Fatalf("after restart: next=%v ok=%v err=%v", next, ok, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
