package cluster

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// TestMetricsAndStatus puts a real bus and a real store writer in a known
// state (12 flows published, all stored by the writer; a probe consumer
// that acknowledged 4 and holds 1) and checks the exposition's values
// and the status message on vigil.v1.status.<name>.
func TestMetricsAndStatus(t *testing.T) {
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

	// The status message.
	sub, err := bus.JetStream().Conn().SubscribeSync(StatusSubject + ".>")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Stop(ctx)
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "vigil.v1.status.engine_a" {
		t.Errorf("status on %s", msg.Subject)
	}
	var s Status
	if err := json.Unmarshal(msg.Data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Name != "engine.a" || s.Store == nil || s.Store.Inserted != published || len(s.Consumers) != 5 {
		t.Errorf("status %+v", s)
	}
}
