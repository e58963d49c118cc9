package store

import (
	stdjson "encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/events"
)

func TestDecodeMeta(t *testing.T) {
	f := testFlow(3, 1500*time.Millisecond+123*time.Nanosecond, pump, pacs, 104)
	data, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	env, m, err := decodeMeta(data, 42)
	if err != nil {
		t.Fatal(err)
	}
	if env.Kind != events.KindFlow || m.seq != 42 || len(m.id) != 16 || m.src != sensor {
		t.Errorf("meta %+v of %+v", m, env.Header)
	}
	if !m.time.Equal(f.Time.Truncate(time.Second)) || m.ns != uint32(f.Time.Nanosecond()) || m.ns != 500_000_123 {
		t.Errorf("time %s + %dns, want %s", m.time, m.ns, f.Time)
	}
	if !strings.HasPrefix(m.body, `{"flow_id":"flow-3"`) {
		t.Errorf("body %.40s... is not the body as received", m.body)
	}

	for _, tc := range []struct{ name, payload, want string }{
		{"not json", `{`, "decode event"},
		{"version", `{"version":"v0","kind":"flow","id":"00112233445566778899aabbccddeeff","time":"2026-01-05T08:00:00Z","body":{}}`, "version"},
		{"short id", `{"version":"v1","kind":"flow","id":"0011","time":"2026-01-05T08:00:00Z","body":{}}`, "id"},
		{"not hex", `{"version":"v1","kind":"flow","id":"zz112233445566778899aabbccddeeff","time":"2026-01-05T08:00:00Z","body":{}}`, "id"},
		{"before 1970", `{"version":"v1","kind":"flow","id":"00112233445566778899aabbccddeeff","time":"1969-12-31T23:59:59Z","body":{}}`, "time"},
		{"after 2106", `{"version":"v1","kind":"flow","id":"00112233445566778899aabbccddeeff","time":"2107-01-01T00:00:00Z","body":{}}`, "time"},
		{"no time", `{"version":"v1","kind":"flow","id":"00112233445566778899aabbccddeeff","body":{}}`, "time"},
		{"no body", `{"version":"v1","kind":"flow","id":"00112233445566778899aabbccddeeff","time":"2026-01-05T08:00:00Z"}`, "body"},
		{"body array", `{"version":"v1","kind":"flow","id":"00112233445566778899aabbccddeeff","time":"2026-01-05T08:00:00Z","body":[]}`, "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeMeta([]byte(tc.payload), 1)
			if !errors.Is(err, errRejected) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("decodeMeta = %v, want a rejection about %q", err, tc.want)
			}
		})
	}
}

// TestRowsDedupeInBatch drops the second copy of an event within a batch
// without asking the server.
func TestRowsDedupeInBatch(t *testing.T) {
	r := newKindRows()[events.KindAlert]
	for _, a := range []events.Event[events.Alert]{testAlert(1, 0, "high"), testAlert(2, 0, "high"), testAlert(1, 0, "high")} {
		data, _ := a.Encode()
		env, m, err := decodeMeta(data, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.add(m, env.Body); err != nil {
			t.Fatal(err)
		}
	}
	n, err := r.dedupe(t.Context(), nil)
	if err != nil || n != 1 || r.len() != 2 {
		t.Errorf("dedupe dropped %d (%v), %d left; want 1 dropped, 2 left", n, err, r.len())
	}
}

// FuzzDecode feeds arbitrary payloads to the writer's decoding: a payload
// is either a row of its kind's table, with an ID and a time the columns
// hold, or a rejection, never a panic.
func FuzzDecode(f *testing.F) {
	for _, m := range oneOfEachKind() {
		data, err := m.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"version":"v1","kind":"flow","id":"00112233445566778899aabbccddeeff","time":"2026-01-05T08:00:00Z","body":{"orig":{"port":70000}}}`))
	f.Add([]byte(`{"version":"v1","kind":"alert","id":"00112233445566778899aabbccddeeff","time":"2106-02-07T06:28:15Z","body":{"peer":null,"tags":null}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		kinds := newKindRows()
		env, err := decodeSafely(data, 1, kinds)
		if err != nil {
			if !errors.Is(err, errRejected) {
				t.Fatalf("error %v is not a rejection", err)
			}
			return
		}
		r := kinds[env.Kind]
		if r.len() != 1 {
			t.Fatalf("accepted %s event made %d rows", env.Kind, r.len())
		}
		switch rows := r.(type) {
		case *rows[events.Flow]:
			m := rows.rows[0].meta
			if len(m.id) != 16 || m.time.Before(minTime) || m.time.After(maxTime) || m.ns >= 1e9 {
				t.Fatalf("accepted meta %+v", m)
			}
			for _, c := range rows.t.columns {
				c.values(rows.rows, nil)
			}
		case *rows[events.Alert]:
			for _, c := range rows.t.columns {
				c.values(rows.rows, nil)
			}
		}
	})
}

// TestDecoderAgreesWithEncodingJSON decodes every kind with the writer's
// decoder and with encoding/json: the rows must hold the same bodies.
func TestDecoderAgreesWithEncodingJSON(t *testing.T) {
	_, ward := ward()
	msgs := append(oneOfEachKind(), ward...)
	for i, m := range msgs {
		data, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		kinds := newKindRows()
		env, err := decodeSafely(data, uint64(i), kinds)
		if err != nil {
			t.Fatalf("%s: %v", m.Meta().Kind, err)
		}
		var std struct {
			events.Header
			Body stdjson.RawMessage `json:"body"`
		}
		if err := stdjson.Unmarshal(data, &std); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(std.Header, env.Header); diff != "" {
			t.Errorf("%s header (-encoding/json +writer):\n%s", env.Kind, diff)
		}
		var diff string
		switch env.Kind {
		case events.KindFlow:
			diff = sameBody[events.Flow](std.Body, kinds[env.Kind])
		case events.KindObservation:
			diff = sameBody[events.Observation](std.Body, kinds[env.Kind])
		case events.KindAuth:
			diff = sameBody[events.Auth](std.Body, kinds[env.Kind])
		case events.KindHealth:
			diff = sameBody[events.Health](std.Body, kinds[env.Kind])
		case events.KindDeviation:
			diff = sameBody[events.Deviation](std.Body, kinds[env.Kind])
		case events.KindDeviceChange:
			diff = sameBody[events.DeviceChange](std.Body, kinds[env.Kind])
		case events.KindDecision:
			diff = sameBody[events.Decision](std.Body, kinds[env.Kind])
		case events.KindAlert:
			diff = sameBody[events.Alert](std.Body, kinds[env.Kind])
		case events.KindEnforcement:
			diff = sameBody[events.Enforcement](std.Body, kinds[env.Kind])
		case events.KindVulnerability:
			diff = sameBody[events.Vulnerability](std.Body, kinds[env.Kind])
		case events.KindRisk:
			diff = sameBody[events.Risk](std.Body, kinds[env.Kind])
		case events.KindAlertState:
			diff = sameBody[events.AlertState](std.Body, kinds[env.Kind])
		default:
			t.Fatalf("kind %s not compared", env.Kind)
		}
		if diff != "" {
			t.Errorf("%s body (-encoding/json +writer):\n%s", env.Kind, diff)
		}
	}
}

func sameBody[B events.Body](body []byte, got batchRows) string {
	var want B
	if err := stdjson.Unmarshal(body, &want); err != nil {
		return err.Error()
	}
	r := got.(*rows[B])
	if len(r.rows) != 1 {
		return "no row"
	}
	if string(body) != r.rows[0].body {
		return "body column is not the body as received"
	}
	return cmp.Diff(want, r.rows[0].b)
}

// BenchmarkDecode is the writer's decoding of one flow event;
// BenchmarkDecodeEncodingJSON the same with encoding/json, for
// comparison.
func BenchmarkDecode(b *testing.B) {
	data, _ := testFlow(7, time.Second, pump, pacs, 104).Encode()
	kinds := newKindRows()
	for b.Loop() {
		kinds[events.KindFlow].reset()
		if _, err := decodeSafely(data, 1, kinds); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeObservation(b *testing.B) {
	data, _ := events.MustEvent(time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC), sensor, events.Observation{
		Device: pumpKey(), MAC: pump.MAC, VLAN: 20, Attribute: "hostname", Value: "INF-PUMP-01", Protocol: "dhcp",
		Confidence: 0.9, Evidence: "DHCPDISCOVER option 12", FlowID: "flow-0"}).Encode()
	kinds := newKindRows()
	for _, fast := range []bool{true, false} {
		b.Run(fmt.Sprintf("fast=%v", fast), func(b *testing.B) {
			fastDecode = fast
			defer func() { fastDecode = true }()
			b.ReportAllocs()
			for b.Loop() {
				kinds[events.KindObservation].reset()
				if _, err := decodeSafely(data, 1, kinds); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeEncodingJSON(b *testing.B) {
	data, _ := testFlow(7, time.Second, pump, pacs, 104).Encode()
	for b.Loop() {
		var env struct {
			events.Header
			Body stdjson.RawMessage `json:"body"`
		}
		if err := stdjson.Unmarshal(data, &env); err != nil {
			b.Fatal(err)
		}
		var f events.Flow
		if err := stdjson.Unmarshal(env.Body, &f); err != nil {
			b.Fatal(err)
		}
	}
}
