package baseline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/vigil-health/vigil/events"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded server and the nats client keep a few process-wide
		// goroutines after Shutdown (as in package events).
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreTopFunction("time.Sleep"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).syncBlocks"),
	)
}

// TestComponentJudgesAuthAndObservations runs the component on a real
// embedded JetStream: failed logins and insecure-protocol observations on
// the sensor stream become deviations on the analytics stream.
func TestComponentJudgesAuthAndObservations(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bus, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stop, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		if err := bus.Stop(stop); err != nil {
			t.Errorf("stop bus: %v", err)
		}
	}()

	var msgs []events.Message
	msgs = append(msgs, tcp(0, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 443))
	msgs = append(msgs, observe(t0.Add(time.Minute), pumpMAC, "10.0.0.5", "insecure_protocol", "telnet", "telnet", 0.9))
	for i := range 20 {
		msgs = append(msgs, authAt(t0.Add(2*time.Minute+time.Duration(i)*time.Second), pumpClient, events.AuthFailure))
	}
	for _, m := range msgs {
		if err := bus.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	c, err := New(DefaultConfiguration(), Dependencies{Bus: bus, Source: events.Source{Name: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	if err := bus.WaitCaughtUp(ctx, events.StreamSensor, Durable); err != nil {
		t.Fatal(err)
	}
	var got []string
	err = bus.Read(ctx, events.StreamAnalytics, []events.Kind{events.KindDeviation}, func(d events.Delivery) error {
		ev, err := events.DecodeDelivery[events.Deviation](d)
		if err != nil {
			return err
		}
		got = append(got, fmt.Sprintf("%s %s %s", ev.Body.Type, ev.Body.Device.MAC, ev.Body.AppProto))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"insecure_protocol " + pumpMAC + " telnet", "auth_failures " + pumpMAC + " ftp"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deviations (-want +got):\n%s", diff)
	}
	if s := c.Stats(); s.AuthFailures != 20 || s.Observations != 1 || s.Flows != 1 || s.Deviations != 2 {
		t.Errorf("stats %+v", s)
	}
}

// TestComponentCheckpointResume stops the component after the learning
// window, starts a new one on the same bus, and checks that it resumes
// from the checkpoint (the stream sequence after it) with the model it
// saved: the edge learned before the restart raises nothing, a new peer
// is raised once, and nothing raised before the restart is raised again.
func TestComponentCheckpointResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bus, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stop, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		if err := bus.Stop(stop); err != nil {
			t.Errorf("stop bus: %v", err)
		}
	}()
	cfg := DefaultConfiguration()
	cfg.Learning = 30 * time.Minute
	start := func() *Component {
		c, err := New(cfg, Dependencies{Bus: bus, Source: events.Source{Name: "test"}, Checkpoints: bus})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return c
	}
	publish := func(ms ...events.Message) {
		for _, m := range ms {
			if err := bus.Publish(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	deviations := func() []string {
		var got []string
		err := bus.Read(ctx, events.StreamAnalytics, []events.Kind{events.KindDeviation}, func(d events.Delivery) error {
			ev, err := events.DecodeDelivery[events.Deviation](d)
			if err != nil {
				return err
			}
			got = append(got, string(ev.Body.Type)+" "+ev.Body.Device.MAC)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	publish(tcp(0, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 443), tcp(40, pumpMAC, "10.0.0.5", gwMAC, "203.0.113.7", 443))
	c := start()
	if err := bus.WaitCaughtUp(ctx, events.StreamSensor, Durable); err != nil {
		t.Fatal(err)
	}
	key := events.DeviceKey(pumpMAC, "10.0.0.5", 0)
	if err := c.Learn(ctx, LearnRequest{Device: key, Peer: "10.0.0.8", Transport: "tcp", Port: 22, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	next, _, ok, err := bus.LoadCheckpoint(ctx, Durable)
	if err != nil || !ok || next != (events.Position{Seq: 3}) {
		t.Fatalf("checkpoint: next %v ok %v err %v; want the message after 2", next, ok, err)
	}

	// After the restart: the known edge, the learned edge, the internet
	// peer already raised, and a new peer.
	publish(tcp(41, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 443), tcp(42, pumpMAC, "10.0.0.5", "00:12:34:00:00:08", "10.0.0.8", 22),
		tcp(43, pumpMAC, "10.0.0.5", gwMAC, "203.0.113.7", 443), tcp(44, pumpMAC, "10.0.0.5", srvMAC, "10.0.0.9", 8443))
	c = start()
	defer func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	if err := bus.WaitCaughtUp(ctx, events.StreamSensor, Durable); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"internet " + pumpMAC,
		"new_device 00:12:34:00:00:08", // first seen after the window
		"new_port " + pumpMAC,          // 8443 towards the known server
		"new_port " + srvMAC,           // and the server's new service
	}
	if diff := cmp.Diff(want, deviations()); diff != "" {
		t.Errorf("deviations (-want +got):\n%s", diff)
	}
	if s := c.Stats(); s.Flows != 6 || s.Learned != 1 {
		t.Errorf("stats after resume: flows %d learned %d, want 6 and 1 (restored counters)", s.Flows, s.Learned)
	}
	if r, ok := c.Readiness(key); !ok || !r.Ready || r.Edges != 2 {
		t.Errorf("readiness %+v", r)
	}
}
