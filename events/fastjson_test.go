package events

import (
	"encoding/json"
	"math/rand/v2"
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
		h := Header{Version: randomString(r), Kind: Kind(randomString(r)), ID: randomString(r), Time: at,
			Source: Source{Component: randomString(r), Name: randomString(r), Site: randomString(r)}}
		for _, c := range []struct {
			fast func() []byte
			v    any
		}{{func() []byte { return f.appendJSON(nil) }, f}, {func() []byte { return o.appendJSON(nil) }, o},
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
	}
}
