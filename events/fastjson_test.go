package events

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// randomString mixes ASCII, characters JSON escapes, HTML characters,
// multi-byte runes, U+2028 and invalid UTF-8.
func randomString(r *rand.Rand) string {
	pieces := []string{"a", "Z", "0", " ", "\"", "\\", "<", ">", "&", "\n", "\t", "\r", "\b", "\f", "\x00", "\x1f", "\x7f",
		"é", "日", "\u2028", "\u2029", "\xff", "\xc3", "😀", "mac:00:12:21:4e:0a:12/20", "INF-PUMP-02"}
	n := r.IntN(8)
	s := ""
	for range n {
		s += pieces[r.IntN(len(pieces))]
	}
	return s
}

// TestFastJSON checks the hand-written encoders against encoding/json on
// random values.
func TestFastJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		at := time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC()
		if i%3 == 0 {
			at = at.In(time.FixedZone("x", 3600))
		}
		f := Flow{FlowID: randomString(r), Phase: FlowPhase(randomString(r)), Start: at, Last: at.Add(time.Duration(r.Int64N(1e12))),
			DurationMS: r.Int64N(1e9) - 5e8, Transport: randomString(r),
			Orig: Endpoint{MAC: randomString(r), IP: randomString(r), Port: uint16(r.IntN(3))}, Resp: Endpoint{IP: randomString(r), Port: uint16(r.IntN(70000))},
			VLAN: uint16(r.IntN(3)), InnerVLAN: uint16(r.IntN(2)), OrigPackets: r.Uint64(), RespBytes: uint64(r.IntN(10)),
			State: randomString(r), History: randomString(r), AppProto: randomString(r)}
		if r.IntN(2) == 0 {
			f.App = map[string]uint64{}
			for range r.IntN(4) {
				f.App[randomString(r)] = r.Uint64()
			}
		}
		o := Observation{Device: randomString(r), MAC: randomString(r), IP: randomString(r), VLAN: uint16(r.IntN(2)),
			Attribute: randomString(r), Value: randomString(r), Protocol: randomString(r),
			Confidence: []float64{0, 1, 0.95, 0.1 + 0.2, 1e-7, 3e21, r.Float64()}[r.IntN(7)], Evidence: randomString(r), FlowID: randomString(r)}
		hl := Health{Sensor: randomString(r), Interface: randomString(r), IntervalMS: r.Int64N(1e6) - 5, Packets: r.Uint64(),
			Bytes: r.Uint64(), KernelDrops: uint64(r.IntN(3)), DecodeErrors: uint64(r.IntN(3)), Truncated: r.Uint64(),
			ActiveFlows: uint64(r.IntN(1e6)), FlowEvictions: uint64(r.IntN(2)), PublishErrors: uint64(r.IntN(2)),
			Silent: r.IntN(2) == 0, SilentAfterMS: r.Int64N(3) - 1, Final: r.IntN(2) == 0}
		h := Header{Version: randomString(r), Kind: Kind(randomString(r)), ID: randomString(r), Time: at,
			Source: Source{Component: randomString(r), Name: randomString(r), Site: randomString(r)}}
		for _, c := range []struct {
			fast func() []byte
			v    any
		}{{func() []byte { return f.appendJSON(nil) }, f}, {func() []byte { return o.appendJSON(nil) }, o},
			{func() []byte { return hl.appendJSON(nil) }, hl},
			{func() []byte { return append(h.appendOpenJSON(nil), '}') }, h}} {
			want, err := json.Marshal(c.v)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.fast(); string(got) != string(want) {
				t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
			}
		}
	}
}

// TestAppendUTC: the UTC formatter gives what time.AppendFormat gives
// with RFC 3339 and nanoseconds, over the years 0 to 9999, and declines
// the others.
func TestAppendUTC(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	lo, hi := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	times := []time.Time{{}, time.Unix(0, 0).UTC(), time.Unix(lo, 0).UTC(), time.Unix(hi, 999999999).UTC(),
		time.Date(2000, 2, 29, 23, 59, 59, 100, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 1, time.UTC),
		time.Date(2026, 1, 5, 8, 0, 0, 123456000, time.UTC), time.Date(1600, 3, 1, 0, 0, 0, 0, time.UTC)}
	for range 200000 {
		ns := r.Int64N(1e9)
		switch r.IntN(3) {
		case 0:
			ns = ns / 1000 * 1000
		case 1:
			ns = 0
		}
		times = append(times, time.Unix(lo+r.Int64N(hi-lo+1), ns).UTC())
	}
	for _, at := range times {
		want := at.AppendFormat(nil, time.RFC3339Nano)
		got, ok := appendUTC(nil, at)
		if !ok || string(got) != string(want) {
			t.Fatalf("%v: %q %v, want %q", at, got, ok, want)
		}
	}
	for _, at := range []time.Time{time.Unix(lo-1, 0).UTC(), time.Unix(hi+1, 0).UTC(), time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if got, ok := appendUTC(nil, at); ok {
			t.Errorf("%v: %q, want declined", at, got)
		}
	}
}

// TestFastJSONCoversEveryField fails when a field is added to a body
// with a hand-written encoder: the encoder must learn it (and
// TestFastJSON's random values must set it), or events lose it silently.
func TestFastJSONCoversEveryField(t *testing.T) {
	for _, c := range []struct {
		v      any
		fields int
	}{{Flow{}, 20}, {Endpoint{}, 3}, {Observation{}, 10}, {Health{}, 15 /* Pipeline: encoding/json, TestPipelineHealthEvent */}, {Header{}, 5}, {Source{}, 3}} {
		if n := reflect.TypeOf(c.v).NumField(); n != c.fields {
			t.Errorf("%T has %d fields, its hand-written encoder (fastjson.go) knows %d: teach it the new ones", c.v, n, c.fields)
		}
	}
}

// TestSubjectFast: Event.Subject, which hashes a flow's device key
// without building it, agrees with Subject and Partition.
func TestSubjectFast(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	at := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	macs := []string{"", "00:12:21:4e:0a:12", "00:12:21:4E:0A:12", "AB:cd", "É:x", "\xff"}
	for i := range 3000 {
		f := Flow{Orig: Endpoint{MAC: macs[r.IntN(len(macs))], IP: randomString(r)}, VLAN: uint16(r.IntN(3)) * uint16(r.IntN(5000))}
		if i%7 == 0 {
			f.Orig.MAC = randomString(r)
		}
		o := Observation{Device: randomString(r)}
		h := Health{Sensor: randomString(r)}
		for _, m := range []Message{MustEvent(at, Source{Component: "sensor"}, f), MustEvent(at, Source{Component: "sensor"}, o),
			MustEvent(at, Source{Component: "sensor"}, h)} {
			for _, n := range []int{0, 1, 2, 7, 16, 64} {
				var key string
				switch e := m.(type) {
				case Event[Flow]:
					key = e.Body.PartitionKey()
				case Event[Observation]:
					key = e.Body.PartitionKey()
				case Event[Health]:
					key = e.Body.PartitionKey()
				}
				if got, want := m.Subject(n), Subject(m.Meta().Kind, Partition(key, n)); got != want {
					t.Fatalf("%+v, %d partitions: subject %s, want %s", m, n, got, want)
				}
			}
		}
	}
}

func BenchmarkNewEventFlow(b *testing.B) {
	at := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	f := Flow{FlowID: "0123456789abcdef0123456789abcdef", Phase: FlowEnd, Start: at, Last: at, Transport: "tcp",
		Orig: Endpoint{MAC: "00:12:21:4e:0a:12", IP: "10.20.0.102", Port: 40000}, Resp: Endpoint{IP: "10.20.0.21", Port: 443},
		OrigPackets: 10, RespPackets: 9, State: "SF", History: "ShADadFf", AppProto: "tls"}
	b.ReportAllocs()
	for b.Loop() {
		e := MustEvent(at, Source{Component: "sensor"}, f)
		if _, err := e.Encode(); err != nil {
			b.Fatal(err)
		}
		_ = e.Subject(DefaultPartitions)
	}
}
