package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	capturepkg "github.com/vigil-health/vigil/capture"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/synth"
)

// TestSensorPublishesToExternalNATS runs `vigil sensor` against a NATS
// server of another component (an embedded bus listening on a port, as a
// separate nats-server would) and reads what it published.
func TestSensorPublishesToExternalNATS(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := events.DefaultConfiguration()
	cfg.Embedded.Listen = addr
	bus, err := events.NewBus(cfg, events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := bus.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer bus.Stop(context.Background())

	capture, _ := wardCapture(t, synth.Options{})
	want := flowsIn(t, capture)
	_, stderr, err := vigil(t, "sensor", "--nats", "nats://"+addr, "--pcap", capture)
	if err != nil {
		t.Fatalf("sensor: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "0 publish errors") {
		t.Errorf("summary: %s", stderr)
	}
	flows := 0
	err = bus.Read(ctx, events.StreamSensor, []events.Kind{events.KindFlow}, func(d events.Delivery) error {
		ev, err := events.Decode[events.Flow](d.Data)
		if err == nil && ev.Body.Phase == events.FlowEnd {
			flows++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if flows != want || want == 0 {
		t.Errorf("%d flows in the stream, the sensor read %d from the file", flows, want)
	}

	if _, _, err := vigil(t, "sensor", "--pcap", capture); err == nil || !strings.Contains(err.Error(), "--nats") {
		t.Errorf("without --nats: %v", err)
	}
	if _, _, err := vigil(t, "sensor", "--nats", "nats://"+addr); err == nil || !strings.Contains(err.Error(), "--iface or --pcap") {
		t.Errorf("without a source: %v", err)
	}
}

type flowCounter struct{ n int }

func (c *flowCounter) Publish(_ context.Context, m events.Message) error {
	if e, ok := m.(events.Event[events.Flow]); ok && e.Body.Phase == events.FlowEnd {
		c.n++
	}
	return nil
}

// flowsIn counts the flows the capture package reads from a file.
func flowsIn(t *testing.T, file string) int {
	cfg := capturepkg.DefaultConfiguration()
	cfg.Files = []string{file}
	c := &flowCounter{}
	s, err := capturepkg.New(cfg, capturepkg.Dependencies{Publisher: c})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c.n
}
