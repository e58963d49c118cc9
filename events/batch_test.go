package events

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNextEventSplitsABatch(t *testing.T) {
	for _, tc := range []struct {
		payload string
		want    []string
	}{
		{`{"a":1}`, []string{`{"a":1}`}},
		{`{"a":1}` + "\n" + `{"b":"x\ny"}`, []string{`{"a":1}`, `{"b":"x\ny"}`}}, // an escaped newline is two bytes
		{"", []string{""}},
	} {
		var got []string
		rest := []byte(tc.payload)
		for i := 0; rest != nil || i == 0; i++ {
			var ev []byte
			ev, rest = NextEvent(rest)
			got = append(got, string(ev))
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.payload, diff)
		}
		if n := CountEvents([]byte(tc.payload)); tc.payload != "" && n != len(tc.want) {
			t.Errorf("CountEvents(%q) = %d, want %d", tc.payload, n, len(tc.want))
		}
	}
}

// TestBatchesKeepOrderIDsAndPositions publishes through a Batcher and
// reads back: every event once, in order, in fewer messages than events;
// the same events published again are dropped as duplicates; a projection
// restarted from a position inside a batch gets exactly the rest.
func TestBatchesKeepOrderIDsAndPositions(t *testing.T) {
	b := newTestBus(t, t.TempDir())
	b.cfg.Batch.MaxEvents = 4
	b.cfg.Batch.Span = time.Hour // the test's events are seconds apart
	ctx := context.Background()
	publish := func() []string {
		bt := b.NewBatcher(BatchOptions{})
		var ids []string
		for i := range 10 {
			ev := testFlow(i) // one device: one subject
			ids = append(ids, ev.ID)
			if err := bt.Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := bt.Close(ctx); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	ids := publish()
	if st := b.Stats(); st.Published != 10 || st.PublishErrors != 0 {
		t.Fatalf("stats after the first run: %+v", st)
	}
	publish() // a sensor re-reading the same capture
	if st := b.Stats(); st.Published != 10 || st.Duplicates != 10 {
		t.Fatalf("the same batches again: %+v, want 10 duplicates", st)
	}
	if n := streamMsgs(t, b); n != 3 {
		t.Fatalf("%d messages for 10 events in batches of 4, want 3", n)
	}

	var positions []Position
	var read []string
	if err := b.Read(ctx, StreamSensor, []Kind{KindFlow}, func(d Delivery) error {
		read = append(read, d.Header.ID)
		positions = append(positions, d.Position())
		if _, err := DecodeDelivery[Flow](d); err != nil {
			t.Errorf("event %v: %v", d.Position(), err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ids, read); diff != "" {
		t.Fatalf("read back (-want +got):\n%s", diff)
	}
	if positions[5] != (Position{2, 1}) || positions[9] != (Position{3, 1}) {
		t.Fatalf("positions %v", positions)
	}

	// A projection checkpointed after the 6th event (Next of {2,1} is
	// {2,2}) resumes inside the second batch.
	spec := ConsumerSpec{Stream: StreamSensor, Durable: "p", Kinds: []Kind{KindFlow}, Projection: true}
	var nexts []Position
	var all collector
	stop := consumeInBackground(t, b, spec, func(ctx context.Context, d Delivery) error {
		nexts = append(nexts, d.Next())
		return all.handle(ctx, d)
	})
	waitFor(t, func() bool { return len(all.got()) == 10 })
	stop()
	if nexts[5] != (Position{2, 2}) || nexts[7] != (Position{3, 0}) {
		t.Fatalf("next positions %v", nexts)
	}
	spec.From = nexts[5]
	var rest collector
	stop = consumeInBackground(t, b, spec, rest.handle)
	waitFor(t, func() bool { return len(rest.got()) == 4 })
	time.Sleep(50 * time.Millisecond)
	stop()
	if diff := cmp.Diff(ids[6:], rest.got()); diff != "" {
		t.Errorf("after the checkpoint (-want +got):\n%s", diff)
	}
}

// TestBatcherLingerSendsAQuietBatch: on a live network a partial batch
// goes out after the linger without a Flush.
func TestBatcherLingerSendsAQuietBatch(t *testing.T) {
	b := newTestBus(t, t.TempDir())
	b.cfg.Batch.Linger = 20 * time.Millisecond
	bt := b.NewBatcher(BatchOptions{Linger: true})
	if err := bt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer bt.Close(context.Background())
	if err := bt.Publish(context.Background(), testFlow(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return b.Stats().Published == 1 })
}

func TestBatchConfigurationIsValidated(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Batch = BatchConfiguration{MaxEvents: 0, MaxBytes: 16 << 20, Span: -1, Linger: -time.Second}
	errs := fmt.Sprint(cfg.Validate())
	for _, want := range []string{"batch.max_events", "batch.max_bytes", "batch.span", "batch.linger"} {
		if !bytes.Contains([]byte(errs), []byte(want)) {
			t.Errorf("no error naming %s in %s", want, errs)
		}
	}
}

// TestFirstCheckpointFormatLoads: a checkpoint saved before batches (the
// sequence of the last message applied) resumes at the next message.
func TestFirstCheckpointFormatLoads(t *testing.T) {
	data := append([]byte(checkpointMagicV1), make([]byte, 8)...)
	binary.BigEndian.PutUint64(data[len(checkpointMagicV1):], 41)
	data = append(data, "state"...)
	next, state, err := parseCheckpoint(data)
	if err != nil || next != (Position{42, 0}) || string(state) != "state" {
		t.Fatalf("next=%v state=%q err=%v", next, state, err)
	}
	if _, _, err := parseCheckpoint([]byte("VGCP9xxxxxxxxxxxx")); err == nil {
		t.Fatal("an unknown format loaded")
	}
}

func streamMsgs(t *testing.T, b *Bus) uint64 {
	t.Helper()
	st, err := b.js.Stream(context.Background(), StreamSensor)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// TestBatchLostIsCountedPerEvent: a batch JetStream cannot take (the
// connection is gone) is an error naming its events, counted in the
// bus's publish errors, one per event.
func TestBatchLostIsCountedPerEvent(t *testing.T) {
	b := newTestBus(t, t.TempDir())
	b.cfg.PublishTimeout = time.Second
	b.cfg.Batch.Span = time.Hour
	bt := b.NewBatcher(BatchOptions{})
	ctx := context.Background()
	for i := range 3 {
		if err := bt.Publish(ctx, testFlow(i)); err != nil {
			t.Fatal(err)
		}
	}
	b.conn.Close()
	err := bt.Flush(ctx)
	if err == nil {
		t.Fatal("a batch sent on a closed connection was reported stored")
	}
	if n := FailedEvents(err); n != 3 {
		t.Errorf("FailedEvents = %d, want 3 (%v)", n, err)
	}
	if st := b.Stats(); st.PublishErrors != 3 || st.Published != 0 {
		t.Errorf("stats %+v, want 3 publish errors", st)
	}
	if got := err.Error(); !bytes.Contains([]byte(got), []byte("batch of 3 events on vigil.v1.flow.p")) {
		t.Errorf("error %q does not name the batch", got)
	}
	if FailedEvents(errors.Join(err, errors.New("other"))) != 4 || FailedEvents(nil) != 0 {
		t.Error("FailedEvents of a joined error")
	}
}

// FuzzNextEvent: splitting a payload gives parts that join back to it,
// as many as CountEvents says, none holding a separator.
func FuzzNextEvent(f *testing.F) {
	f.Add([]byte(`{"a":1}` + "\n" + `{"b":2}`))
	f.Add([]byte("\n\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, payload []byte) {
		var parts [][]byte
		rest := payload
		for i := 0; rest != nil || i == 0; i++ {
			var ev []byte
			ev, rest = NextEvent(rest)
			if bytes.IndexByte(ev, eventSeparator) >= 0 {
				t.Fatalf("part %q holds a separator", ev)
			}
			parts = append(parts, ev)
		}
		if joined := bytes.Join(parts, []byte{eventSeparator}); !bytes.Equal(joined, payload) {
			t.Fatalf("parts %q do not join to %q", parts, payload)
		}
		if len(payload) > 0 && CountEvents(payload) != len(parts) {
			t.Fatalf("CountEvents %d, %d parts", CountEvents(payload), len(parts))
		}
	})
}

// TestBatchesKeepADevicesOrderAcrossKinds: a device's flow, then its
// observation, then its next flow reach a consumer of both kinds in that
// order, while another device's flows still share a batch.
func TestBatchesKeepADevicesOrderAcrossKinds(t *testing.T) {
	b := newTestBus(t, t.TempDir())
	b.cfg.Partitions = 1 // every device on one partition: the hard case
	b.cfg.Batch.Span = time.Hour
	ctx := context.Background()
	at := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	src := Source{Component: "sensor", Name: "test"}
	flow := func(i int, mac string) Message {
		return MustEvent(at.Add(time.Duration(i)*time.Second), src, Flow{FlowID: "f", Phase: FlowEnd, Transport: "tcp",
			Orig: Endpoint{MAC: mac, IP: "10.0.0.1", Port: 40000 + uint16(i)}, Resp: Endpoint{IP: "10.0.0.2", Port: 104}})
	}
	obs := func(i int, mac string) Message {
		return MustEvent(at.Add(time.Duration(i)*time.Second), src, Observation{Device: DeviceKey(mac, "", 0), MAC: mac,
			Attribute: "hostname", Value: fmt.Sprint("host-", i), Protocol: "dhcp"})
	}
	const pump, monitor = "00:11:22:33:44:55", "00:11:22:33:44:66"
	sent := []Message{flow(1, pump), flow(2, monitor), obs(3, pump), flow(4, monitor), flow(5, pump), flow(6, monitor), obs(7, monitor)}
	bt := b.NewBatcher(BatchOptions{})
	for _, m := range sent {
		if err := bt.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := bt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	deviceOf := map[string]string{} // event ID -> MAC
	want := map[string][]string{}
	for _, m := range sent {
		mac := pump
		if bytes.Contains(must(m.Encode()), []byte(monitor)) {
			mac = monitor
		}
		deviceOf[m.Meta().ID] = mac
		want[mac] = append(want[mac], m.Meta().ID)
	}
	got := map[string][]string{}
	if err := b.Read(ctx, StreamSensor, []Kind{KindFlow, KindObservation}, func(d Delivery) error {
		got[deviceOf[d.Header.ID]] = append(got[deviceOf[d.Header.ID]], d.Header.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("each device's events in the stream (-published +stored):\n%s", diff)
	}
	if n := streamMsgs(t, b); n >= uint64(len(sent)) {
		t.Errorf("%d messages for %d events: nothing was batched", n, len(sent))
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestBatchSpanBoundsTheSkewBetweenPartitions: a batch whose first event
// is older than the newest event minus the span is sent without a Flush,
// so a quiet partition's events do not trail the others' by more.
func TestBatchSpanBoundsTheSkewBetweenPartitions(t *testing.T) {
	b := newTestBus(t, t.TempDir())
	b.cfg.Batch.Span = time.Second
	ctx := context.Background()
	bt := b.NewBatcher(BatchOptions{})
	at := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	src := Source{Component: "sensor", Name: "test"}
	obs := func(d time.Duration, mac string) Message {
		return MustEvent(at.Add(d), src, Observation{Device: DeviceKey(mac, "", 0), MAC: mac, Attribute: "hostname", Value: mac, Protocol: "dhcp"})
	}
	quiet := obs(0, "00:00:00:00:00:01")
	for _, m := range []Message{quiet, obs(500*time.Millisecond, "00:00:00:00:00:02"), obs(900*time.Millisecond, "00:00:00:00:00:03")} {
		if err := bt.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.Stats().Published; n != 0 {
		t.Fatalf("%d events sent within the span", n)
	}
	if err := bt.Publish(ctx, obs(1500*time.Millisecond, "00:00:00:00:00:04")); err != nil {
		t.Fatal(err)
	}
	stored := func() map[string]bool {
		ids := map[string]bool{}
		_ = b.Read(ctx, StreamSensor, []Kind{KindObservation}, func(d Delivery) error { ids[d.Header.ID] = true; return nil })
		return ids
	}
	waitFor(t, func() bool { return stored()[quiet.Meta().ID] })
	if got := stored(); len(got) != 1 {
		t.Errorf("%d events stored, want only the one older than the span", len(got))
	}
	if err := bt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stored(); len(got) != 4 {
		t.Errorf("%d events stored after Close, want 4", len(got))
	}
}

// TestBatchesStayBelowTheServersMaxPayload: a server with a small
// max_payload caps the batches instead of refusing them.
func TestBatchesStayBelowTheServersMaxPayload(t *testing.T) {
	b := newTestBus(t, t.TempDir())
	b.cfg.Batch.MaxBytes = 8 << 20 // more than the embedded server's 1 MiB
	bt := b.NewBatcher(BatchOptions{})
	if limit := int(b.conn.MaxPayload()); bt.cfg.MaxBytes >= limit {
		t.Fatalf("batches of up to %d bytes on a server taking %d", bt.cfg.MaxBytes, limit)
	}
}
