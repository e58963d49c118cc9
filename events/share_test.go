package events

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSlotShare(t *testing.T) {
	s, err := SlotShare(1, 3, 8)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Share{Owner: "slot1of3", Partitions: []int{1, 4, 7}}, s); diff != "" {
		t.Error(diff)
	}
	if s, _ := SlotShare(0, 1, 16); !s.Whole() {
		t.Errorf("one slot is not the whole: %v", s)
	}
	for _, bad := range [][3]int{{2, 2, 16}, {-1, 2, 16}, {0, 0, 16}, {0, 17, 16}} {
		if _, err := SlotShare(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("SlotShare%v: no error", bad)
		}
	}
}

// TestSharesSplitTheDevices runs two consumers with the two shares of two
// slots on one stream: each gets exactly the events of its partitions, a
// device's events all go to one of them, in order, and the two together
// get everything once.
func TestSharesSplitTheDevices(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfiguration()
	cfg.Embedded.Listen = l.Addr().String()
	l.Close()
	b, err := NewBus(cfg, Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopBus(t, b) })
	const n = 200
	perPartition := map[int]int{}
	for i := range n {
		at := time.Date(2026, 1, 5, 8, 0, 0, i, time.UTC)
		mac := []string{"00:11:22:33:44:01", "00:11:22:33:44:02", "00:11:22:33:44:03", "00:11:22:33:44:04", "00:11:22:33:44:05"}[i%5]
		ev := MustEvent(at, Source{Component: "sensor"}, Flow{FlowID: "f", Phase: FlowEnd, Start: at, Last: at, Transport: "udp",
			Orig: Endpoint{MAC: mac, IP: "10.0.0.1", Port: uint16(i)}, Resp: Endpoint{IP: "10.0.0.2", Port: 53}})
		if err := b.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		perPartition[Partition(ev.Body.PartitionKey(), cfg.Partitions)]++
	}
	type got struct {
		subjects map[string]bool
		ports    map[string][]int // by device: origin ports in delivery order
		count    int
	}
	run := func(slot int) got {
		share, err := SlotShare(slot, 2, cfg.Partitions)
		if err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.URL, c.Share = b.ClientURL(), share
		sb, err := NewBus(c, Dependencies{})
		if err != nil {
			t.Fatal(err)
		}
		if err := sb.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer stopBus(t, sb)
		want := 0
		for _, p := range share.Partitions {
			want += perPartition[p]
		}
		g := got{subjects: map[string]bool{}, ports: map[string][]int{}}
		var mu sync.Mutex
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- sb.Consume(cctx, ConsumerSpec{Stream: StreamSensor, Durable: "probe", Kinds: []Kind{KindFlow}}, func(_ context.Context, d Delivery) error {
				ev, err := DecodeDelivery[Flow](d)
				if err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				g.subjects[d.Subject] = true
				g.ports[ev.Body.Orig.MAC] = append(g.ports[ev.Body.Orig.MAC], int(ev.Body.Orig.Port))
				g.count++
				return nil
			})
		}()
		// Every event of the share's partitions, then a moment for any
		// event of another partition to show up.
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			c := g.count
			mu.Unlock()
			if c >= want || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if g.count != want {
			t.Errorf("%s handled %d events, its partitions hold %d", share, g.count, want)
		}
		if _, err := b.JetStream().Consumer(ctx, StreamSensor, "probe-"+share.Owner); err != nil {
			t.Errorf("durable of %s: %v", share, err)
		}
		for s := range g.subjects {
			owned := false
			for _, p := range share.Partitions {
				owned = owned || s == Subject(KindFlow, p)
			}
			if !owned {
				t.Errorf("%s got %s", share, s)
			}
		}
		return g
	}
	a, c := run(0), run(1)
	if a.count+c.count != n || a.count == 0 || c.count == 0 {
		t.Errorf("slot 0 got %d, slot 1 %d, of %d", a.count, c.count, n)
	}
	for dev, ports := range a.ports {
		if _, both := c.ports[dev]; both {
			t.Errorf("device %s handled by both slots", dev)
		}
		for i := 1; i < len(ports); i++ {
			if ports[i] < ports[i-1] {
				t.Errorf("device %s out of order: %v", dev, ports)
				break
			}
		}
	}
}
