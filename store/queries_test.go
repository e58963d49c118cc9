package store

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/store/chtest"
)

// insertEvents stores events the way the writer does, without JetStream.
func insertEvents(t testing.TB, conn driver.Conn, msgs []events.Message) {
	t.Helper()
	kinds := newKindRows()
	for i, m := range msgs {
		data, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		env, mt, err := decodeMeta(data, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if err := kinds[env.Kind].add(mt, env.Body); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range events.Kinds {
		if _, err := kinds[k].dedupe(context.Background(), conn); err != nil {
			t.Fatal(err)
		}
		if err := kinds[k].insert(context.Background(), conn); err != nil {
			t.Fatal(err)
		}
	}
}

// ward is three hours of traffic around the pump, crossing hour
// boundaries, with flow updates (not counted: their counters are
// running totals) and alerts of several severities.
func ward() (flows []events.Event[events.Flow], msgs []events.Message) {
	peers := []struct {
		ep   events.Endpoint
		port uint16
		out  bool // the pump originates
	}{{pacs, 104, true}, {gateway, 443, true}, {monitor, 2575, true}, {pacs, 11112, false}}
	for i := range 360 {
		p := peers[i%len(peers)]
		at := -30*time.Minute + time.Duration(i)*30*time.Second + time.Duration(i%7)*time.Second
		var f events.Event[events.Flow]
		if p.out {
			f = testFlow(i, at, pump, p.ep, p.port)
		} else {
			f = testFlow(i, at, p.ep, pump, p.port)
		}
		flows = append(flows, f)
		msgs = append(msgs, f)
		if i%10 == 0 { // an update of the same flow, earlier
			u := f.Body
			u.Phase = events.FlowUpdate
			u.OrigBytes /= 2
			msgs = append(msgs, events.MustEvent(f.Time.Add(-time.Second), sensor, u))
		}
	}
	sev := []events.Severity{events.SeverityHigh, events.SeverityLow, events.SeverityCritical}
	for i := range 30 {
		msgs = append(msgs, testAlert(i, time.Duration(i)*7*time.Minute, sev[i%3]))
	}
	return flows, msgs
}

// expectPeers is TopPeers computed from the events.
func expectPeers(flows []events.Event[events.Flow], device string, from, to time.Time) []PeerTraffic {
	from, to = from.Truncate(time.Minute), to.Truncate(time.Minute)
	by := map[[2]string]*PeerTraffic{}
	for _, f := range flows {
		m := f.Time.Truncate(time.Minute)
		if m.Before(from) || !m.Before(to) {
			continue
		}
		b := f.Body
		origKey := events.DeviceKey(b.Orig.MAC, b.Orig.IP, b.VLAN)
		respKey := events.DeviceKey(b.Resp.MAC, b.Resp.IP, b.VLAN)
		add := func(peerIP, peerKey string, out, in, pout, pin uint64) {
			k := [2]string{peerIP, peerKey}
			if by[k] == nil {
				by[k] = &PeerTraffic{PeerIP: peerIP, PeerDevice: peerKey}
			}
			p := by[k]
			p.Flows++
			p.BytesOut += out
			p.BytesIn += in
			p.PacketsOut += pout
			p.PacketsIn += pin
		}
		if origKey == device {
			add(b.Resp.IP, respKey, b.OrigBytes, b.RespBytes, b.OrigPackets, b.RespPackets)
		}
		if respKey == device {
			add(b.Orig.IP, origKey, b.RespBytes, b.OrigBytes, b.RespPackets, b.OrigPackets)
		}
	}
	var out []PeerTraffic
	for _, p := range by {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.BytesOut+a.BytesIn != b.BytesOut+b.BytesIn {
			return a.BytesOut+a.BytesIn > b.BytesOut+b.BytesIn
		}
		if a.PeerIP != b.PeerIP {
			return a.PeerIP < b.PeerIP
		}
		return a.PeerDevice < b.PeerDevice
	})
	return out
}

func TestQueries(t *testing.T) {
	s := chtest.Shared(t)
	conn := openDB(t, testConfig(t, s))
	flows, msgs := ward()
	insertEvents(t, conn, msgs)
	insertEvents(t, conn, msgs[:50]) // a second delivery changes nothing
	q := NewQueries(conn)
	ctx := context.Background()
	dev := pumpKey()

	t.Run("top peers", func(t *testing.T) {
		for _, r := range []struct {
			name     string
			from, to time.Time
		}{
			{"minutes only", t0.Add(-20 * time.Minute), t0.Add(10 * time.Minute)},
			{"across hours", t0.Add(-25*time.Minute - 30*time.Second), t0.Add(2*time.Hour + 13*time.Minute)},
			{"whole hours", t0, t0.Add(2 * time.Hour)},
			{"everything", t0.Add(-24 * time.Hour), t0.Add(24 * time.Hour)},
		} {
			t.Run(r.name, func(t *testing.T) {
				got, err := q.TopPeers(ctx, dev, r.from, r.to, 10)
				if err != nil {
					t.Fatal(err)
				}
				want := expectPeers(flows, dev, r.from, r.to)
				if len(want) == 0 {
					t.Fatal("no traffic expected: the test data is wrong")
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("TopPeers (-want +got):\n%s", diff)
				}
			})
		}
		got, err := q.TopPeers(ctx, dev, t0.Add(-time.Hour), t0.Add(3*time.Hour), 2)
		if err != nil || len(got) != 2 {
			t.Errorf("limit 2: %d peers, %v", len(got), err)
		}
		if got, err := q.TopPeers(ctx, "mac:nobody/0", t0, t0.Add(time.Hour), 5); err != nil || len(got) != 0 {
			t.Errorf("unknown device: %+v, %v", got, err)
		}
		if _, err := q.TopPeers(ctx, dev, t0, t0.Add(30*time.Second), 5); err == nil {
			t.Error("a range shorter than the rollups' minute was accepted")
		}
	})

	t.Run("traffic over time", func(t *testing.T) {
		for _, r := range []struct {
			name     string
			device   string
			from, to time.Time
			step     time.Duration
		}{
			{"15 minutes", dev, t0.Add(-30 * time.Minute), t0.Add(3 * time.Hour), 15 * time.Minute},
			{"hours from the hour rollup", dev, t0.Add(-time.Hour), t0.Add(3 * time.Hour), time.Hour},
			{"hours not aligned", dev, t0.Add(-25 * time.Minute), t0.Add(3 * time.Hour), time.Hour},
			{"whole network", "", t0.Add(-30 * time.Minute), t0.Add(3 * time.Hour), 30 * time.Minute},
		} {
			t.Run(r.name, func(t *testing.T) {
				got, err := q.Traffic(ctx, r.device, r.from, r.to, r.step)
				if err != nil {
					t.Fatal(err)
				}
				from := r.from.Truncate(time.Minute)
				n := int((r.to.Sub(from) + r.step - 1) / r.step)
				want := make([]TrafficPoint, n)
				for i := range want {
					want[i].Time = from.Add(time.Duration(i) * r.step)
				}
				for _, f := range flows {
					m := f.Time.Truncate(time.Minute)
					if m.Before(from) || !m.Before(r.to) {
						continue
					}
					p := &want[int(m.Sub(from)/r.step)]
					b := f.Body
					switch {
					case r.device == "" || events.DeviceKey(b.Orig.MAC, b.Orig.IP, b.VLAN) == r.device:
						p.Flows++
						p.BytesOut += b.OrigBytes
						p.BytesIn += b.RespBytes
						p.PacketsOut += b.OrigPackets
						p.PacketsIn += b.RespPackets
					case events.DeviceKey(b.Resp.MAC, b.Resp.IP, b.VLAN) == r.device:
						p.Flows++
						p.BytesOut += b.RespBytes
						p.BytesIn += b.OrigBytes
						p.PacketsOut += b.RespPackets
						p.PacketsIn += b.OrigPackets
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Traffic (-want +got):\n%s", diff)
				}
			})
		}
		if _, err := q.Traffic(ctx, dev, t0, t0.Add(time.Hour), 90*time.Second); err == nil {
			t.Error("a step of 90s was accepted: the rollups have minutes")
		}
		if _, err := q.Traffic(ctx, dev, t0, t0, time.Minute); err == nil {
			t.Error("an empty range was accepted")
		}
	})

	t.Run("alerts over time", func(t *testing.T) {
		got, err := q.AlertsOverTime(ctx, "", t0, t0.Add(4*time.Hour), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]AlertPoint, 4)
		for i := range want {
			want[i] = AlertPoint{Time: t0.Add(time.Duration(i) * time.Hour), BySeverity: map[events.Severity]uint64{}}
		}
		for _, m := range msgs {
			if a, ok := m.(events.Event[events.Alert]); ok {
				p := &want[int(a.Time.Sub(t0)/time.Hour)]
				p.Total++
				p.BySeverity[a.Body.Severity]++
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("AlertsOverTime (-want +got):\n%s", diff)
		}
		none, err := q.AlertsOverTime(ctx, "mac:nobody/0", t0, t0.Add(time.Hour), 30*time.Minute)
		if err != nil || len(none) != 2 || none[0].Total+none[1].Total != 0 {
			t.Errorf("another device's alerts: %+v, %v", none, err)
		}
	})

	t.Run("count events", func(t *testing.T) {
		n, err := q.CountEvents(ctx, events.KindFlow, t0.Add(-24*time.Hour), t0.Add(24*time.Hour))
		if want := uint64(len(flows) + len(flows)/10); err != nil || n != want {
			t.Errorf("CountEvents(flow) = %d, %v, want %d", n, err, want)
		}
		if _, err := q.CountEvents(ctx, "telepathy", t0, t0.Add(time.Hour)); err == nil {
			t.Error("an unknown kind was counted")
		}
	})
}
