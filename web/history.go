package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/store"
)

// LogReader is the event log (events.Bus).
type LogReader interface {
	JetStream() jetstream.JetStream
}

// DefaultLogHistoryLimit is how many of a stream's latest events
// LogHistory reads at most for one question.
const DefaultLogHistoryLimit = 500_000

// LogHistory answers History from the event log itself, for a Vigil
// without ClickHouse (the demo, `vigil analyze`, a small site): each
// question reads the flow or alert stream, at most its Limit latest
// events, so older history needs the store. It counts exactly what the
// store's rollups count: flows at their end event, at the event's time,
// on both sides, keyed by the sensor's device keys (a test compares both
// on the same capture).
type LogHistory struct {
	Log LogReader
	// Limit bounds the events read per question (DefaultLogHistoryLimit
	// when 0), so that a device page stays fast on a log of days.
	Limit uint64
}

var _ History = LogHistory{}

// read calls fn for each of the latest events of kind in stream, in
// stream order, with an ephemeral ordered consumer.
func (h LogHistory) read(ctx context.Context, stream string, kind events.Kind, fn func(d events.Delivery) error) error {
	js := h.Log.JetStream()
	if js == nil {
		return errors.New("the event log is not connected")
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	limit := h.Limit
	if limit == 0 {
		limit = DefaultLogHistoryLimit
	}
	start := info.State.FirstSeq
	if info.State.LastSeq >= limit && info.State.LastSeq-limit+1 > start {
		start = info.State.LastSeq - limit + 1
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.KindSubjects(kind)},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy, OptStartSeq: max(start, 1)})
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	if ci.NumPending == 0 {
		return nil
	}
	for {
		msg, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		// A message may hold a batch of events; one that does not decode
		// is skipped (the engines count it as poison).
		for i, rest := 0, msg.Data(); rest != nil || i == 0; i++ {
			var data []byte
			data, rest = events.NextEvent(rest)
			hdr, err := events.DecodeHeader(data)
			if err != nil {
				continue
			}
			if err := fn(events.Delivery{Stream: stream, Seq: meta.Sequence.Stream, Index: i, Last: rest == nil, Subject: msg.Subject(), Header: hdr, Data: data}); err != nil {
				return err
			}
		}
		if meta.NumPending == 0 {
			return nil
		}
	}
}

// flows calls fn with every ended flow whose event time is in [from, to).
func (h LogHistory) flows(ctx context.Context, from, to time.Time, fn func(at time.Time, f *events.Flow)) error {
	return h.read(ctx, events.StreamSensor, events.KindFlow, func(d events.Delivery) error {
		if d.Header.Kind != events.KindFlow || d.Header.Time.Before(from) || !d.Header.Time.Before(to) {
			return nil
		}
		ev, err := events.Decode[events.Flow](d.Data)
		if err != nil {
			return nil // counted by the engines as poison; history skips it
		}
		if ev.Body.Phase == events.FlowEnd {
			fn(ev.Time, &ev.Body)
		}
		return nil
	})
}

// TopPeers implements History.
func (h LogHistory) TopPeers(ctx context.Context, device string, from, to time.Time, limit int) ([]store.PeerTraffic, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("top peers: limit must be positive, got %d", limit)
	}
	from, to = from.UTC().Truncate(time.Minute), to.UTC().Truncate(time.Minute)
	if !from.Before(to) {
		return nil, fmt.Errorf("top peers: empty range %s to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	acc := map[[2]string]*store.PeerTraffic{}
	err := h.flows(ctx, from, to, func(_ time.Time, f *events.Flow) {
		orig, resp := events.DeviceKey(f.Orig.MAC, f.Orig.IP, f.VLAN), events.DeviceKey(f.Resp.MAC, f.Resp.IP, f.VLAN)
		add := func(peerKey, peerIP string, out, in, pout, pin uint64) {
			k := [2]string{peerIP, peerKey}
			p := acc[k]
			if p == nil {
				p = &store.PeerTraffic{PeerIP: peerIP, PeerDevice: peerKey}
				acc[k] = p
			}
			p.Flows++
			p.BytesOut += out
			p.BytesIn += in
			p.PacketsOut += pout
			p.PacketsIn += pin
		}
		if orig == device {
			add(resp, f.Resp.IP, f.OrigBytes, f.RespBytes, f.OrigPackets, f.RespPackets)
		}
		if resp == device {
			add(orig, f.Orig.IP, f.RespBytes, f.OrigBytes, f.RespPackets, f.OrigPackets)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("top peers of %s: %w", device, err)
	}
	out := make([]store.PeerTraffic, 0, len(acc))
	for _, p := range acc {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b store.PeerTraffic) int {
		if c := cmp.Compare(b.BytesOut+b.BytesIn, a.BytesOut+a.BytesIn); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.PeerIP, b.PeerIP), cmp.Compare(a.PeerDevice, b.PeerDevice))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Traffic implements History.
func (h LogHistory) Traffic(ctx context.Context, device string, from, to time.Time, step time.Duration) ([]store.TrafficPoint, error) {
	from, to = from.UTC().Truncate(time.Minute), to.UTC().Truncate(time.Minute)
	if step <= 0 || step%time.Minute != 0 {
		return nil, fmt.Errorf("traffic: step %s is not a whole number of minutes", step)
	}
	if !from.Before(to) {
		return nil, fmt.Errorf("traffic: empty range %s to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	n := int((to.Sub(from) + step - 1) / step)
	if n > 100_000 {
		return nil, fmt.Errorf("traffic: %d buckets of %s: use a larger step", n, step)
	}
	out := make([]store.TrafficPoint, n)
	for i := range out {
		out[i].Time = from.Add(time.Duration(i) * step)
	}
	err := h.flows(ctx, from, to, func(at time.Time, f *events.Flow) {
		p := &out[int(at.Truncate(time.Minute).Sub(from)/step)]
		orig, resp := events.DeviceKey(f.Orig.MAC, f.Orig.IP, f.VLAN), events.DeviceKey(f.Resp.MAC, f.Resp.IP, f.VLAN)
		switch {
		case device == "" || orig == device:
			p.Flows++
			p.BytesOut += f.OrigBytes
			p.BytesIn += f.RespBytes
			p.PacketsOut += f.OrigPackets
			p.PacketsIn += f.RespPackets
		case resp == device:
			p.Flows++
			p.BytesOut += f.RespBytes
			p.BytesIn += f.OrigBytes
			p.PacketsOut += f.RespPackets
			p.PacketsIn += f.OrigPackets
		}
	})
	if err != nil {
		return nil, fmt.Errorf("traffic of %q: %w", device, err)
	}
	return out, nil
}

// AlertsOverTime implements History.
func (h LogHistory) AlertsOverTime(ctx context.Context, device string, from, to time.Time, step time.Duration) ([]store.AlertPoint, error) {
	from, to = from.UTC().Truncate(time.Second), to.UTC().Truncate(time.Second)
	if step <= 0 || step%time.Second != 0 {
		return nil, fmt.Errorf("alerts over time: step %s is not a positive whole number of seconds", step)
	}
	if !from.Before(to) {
		return nil, fmt.Errorf("alerts over time: empty range %s to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	n := int((to.Sub(from) + step - 1) / step)
	if n > 100_000 {
		return nil, fmt.Errorf("alerts over time: %d buckets of %s: use a larger step", n, step)
	}
	out := make([]store.AlertPoint, n)
	for i := range out {
		out[i] = store.AlertPoint{Time: from.Add(time.Duration(i) * step), BySeverity: map[events.Severity]uint64{}}
	}
	err := h.read(ctx, events.StreamAlerts, events.KindAlert, func(d events.Delivery) error {
		if d.Header.Kind != events.KindAlert || d.Header.Time.Before(from) || !d.Header.Time.Before(to) {
			return nil
		}
		ev, err := events.Decode[events.Alert](d.Data)
		if err != nil || (device != "" && ev.Body.Device.Key != device) {
			return nil
		}
		p := &out[int(ev.Time.Sub(from)/step)]
		p.Total++
		p.BySeverity[ev.Body.Severity]++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("alerts over time: %w", err)
	}
	return out, nil
}
