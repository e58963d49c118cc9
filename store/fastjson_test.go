package store

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/vigil-health/vigil/events"
)

// fastSeeds are events of every kind as Vigil writes them, flows in
// their variations, and near misses of the fast form that must go the
// general way.
func fastSeeds(t testing.TB) [][]byte {
	var out [][]byte
	add := func(m events.Message) {
		data, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	for _, m := range oneOfEachKind() {
		add(m)
	}
	f := testFlow(3, 1500*time.Millisecond, pump, pacs, 104)
	add(f)
	f.Body.Orig.MAC, f.Body.InnerVLAN, f.Body.App = "", 7, nil
	f.Body.Start = f.Body.Start.Add(123456789 * time.Nanosecond)
	add(events.MustEvent(f.Time, f.Source, f.Body))
	f.Body.App = map[string]uint64{"hl7.messages": 18446744073709551615, "dicom.c_store_rq": 0}
	f.Body.State, f.Body.History, f.Body.AppProto = "", "", ""
	add(events.MustEvent(f.Time.Add(time.Nanosecond), events.Source{Component: "sensor"}, f.Body))
	obs := events.Observation{Device: pumpKey(), MAC: pump.MAC, IP: pump.IP, VLAN: 20, Attribute: "model",
		Value: "Alaris 8015", Protocol: "dhcp", Confidence: 0.85, Evidence: "option 60 vendor class", FlowID: "flow-9"}
	add(events.MustEvent(time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC), events.Source{Component: "sensor"}, obs))
	obs.Confidence, obs.MAC, obs.VLAN, obs.FlowID = 1, "", 0, ""
	add(events.MustEvent(time.Date(2026, 1, 5, 8, 0, 1, 0, time.UTC), events.Source{Component: "sensor"}, obs))
	obs.Confidence = 0.1 + 0.2 // 0.30000000000000004, all 17 digits
	add(events.MustEvent(time.Date(2026, 1, 5, 8, 0, 2, 0, time.UTC), events.Source{Component: "sensor"}, obs))
	o := string(out[len(out)-3])
	for _, v := range []string{
		strings.Replace(o, `"confidence":0.85`, `"confidence":8.5e-1`, 1),
		strings.Replace(o, `"confidence":0.85`, `"confidence":-0.85`, 1),
		strings.Replace(o, `"confidence":0.85`, `"confidence":00.85`, 1),
		strings.Replace(o, `"confidence":0.85`, `"confidence":.85`, 1),
		strings.Replace(o, `"confidence":0.85`, `"confidence":0.`, 1),
		strings.Replace(o, `"confidence":0.85`, `"confidence":0.850000000000000000001`, 1),
		strings.Replace(o, `"value":"Alaris 8015"`, `"value":"Alaris \"8015\""`, 1),
		strings.Replace(o, `"value":"Alaris 8015"`, `"value":"Älaris"`, 1),
	} {
		out = append(out, []byte(v))
	}
	flow := string(out[0])
	for _, v := range []string{
		strings.Replace(flow, `"version":"v1",`, ``, 1) + "",
		strings.Replace(flow, `{"version"`, `{ "version"`, 1),
		strings.Replace(flow, `{"version"`, `{"body":{},"version"`, 1),
		strings.Replace(flow, `"kind":"flow"`, `"kind":"flow","kind":"flow"`, 1),
		strings.Replace(flow, `"kind"`, `"Kind"`, 1),
		strings.Replace(flow, `"flow_id":"`, `"flow_id":"\u0041`, 1),
		strings.Replace(flow, `"flow_id":"`, `"flow_id":"é`, 1),
		strings.Replace(flow, `"vlan":20`, `"vlan":020`, 1),
		strings.Replace(flow, `"vlan":20`, `"vlan":2e1`, 1),
		strings.Replace(flow, `"vlan":20`, `"vlan":-20`, 1),
		strings.Replace(flow, `"vlan":20`, `"vlan":70000`, 1),
		strings.Replace(flow, `"vlan":20`, `"vlan":null`, 1),
		strings.Replace(flow, `"vlan":20`, `"vlan":20,"vlan":21`, 1),
		strings.Replace(flow, `"state":"SF"`, `"state":"SF","extra":1`, 1),
		strings.Replace(flow, `Z"`, `+01:00"`, 1),
		strings.Replace(flow, `Z"`, `.5Z"`, 1),
		strings.Replace(flow, `Z"`, `.1234567891Z"`, 1),
		strings.Replace(flow, `2026-01-05T`, `2026-02-30T`, 1),
		strings.Replace(flow, `"app":{`, `"app":{"x":1,"x":2,`, 1),
		strings.Replace(flow, `"app":{"dicom.associations":1}`, `"app":{}`, 1),
		flow + "\n",
		flow + "}",
		flow[:len(flow)-1] + `,"x":1}`,
		flow[:len(flow)-2],
	} {
		out = append(out, []byte(v))
	}
	return out
}

// decodeBoth decodes data with the fast path on and off.
func decodeBoth(data []byte) (fast, general map[events.Kind]batchRows, errFast, errGeneral error) {
	fast, general = newKindRows(), newKindRows()
	_, errFast = decodeSafely(data, 1, fast)
	fastDecode = false
	defer func() { fastDecode = true }()
	_, errGeneral = decodeSafely(data, 1, general)
	return
}

// sameRows reports whether two decodings made the same rows.
func sameRows(a, b map[events.Kind]batchRows) bool {
	for k := range a {
		if a[k].len() == 0 && b[k].len() == 0 {
			continue // an empty slice or none
		}
		if !reflect.DeepEqual(a[k], b[k]) {
			return false
		}
	}
	return true
}

// FuzzFastDecode: with the fast path, every payload decodes to exactly
// the rows, or the rejection, of the general decoder.
func FuzzFastDecode(f *testing.F) {
	for _, s := range fastSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, general, errFast, errGeneral := decodeBoth(data)
		if (errFast == nil) != (errGeneral == nil) || errFast != nil && errFast.Error() != errGeneral.Error() {
			t.Fatalf("fast path: %v; general: %v", errFast, errGeneral)
		}
		if !sameRows(fast, general) {
			t.Fatalf("the fast path's rows differ from the general decoder's for %q", data)
		}
		// Where the fast form is met, the parts agree with go-json too.
		if env, ok := decodeEnvelopeFast(data); ok && json.Valid(env.Body) {
			var g envelope
			if err := json.Unmarshal(data, &g); err != nil {
				t.Fatalf("fast envelope accepted what go-json refuses (%v): %q", err, data)
			}
			if g.Header != env.Header || !bytes.Equal(g.Body, env.Body) {
				t.Fatalf("envelope %+v, go-json %+v", env.Header, g.Header)
			}
			var ff, gf events.Flow
			if decodeFlowFast(env.Body, &ff) {
				if err := json.Unmarshal(env.Body, &gf); err != nil || !reflect.DeepEqual(ff, gf) {
					t.Fatalf("flow %+v, go-json %+v (%v)", ff, gf, err)
				}
			}
			var fo, gobs events.Observation
			if decodeObservationFast(env.Body, &fo) {
				if err := json.Unmarshal(env.Body, &gobs); err != nil || !reflect.DeepEqual(fo, gobs) {
					t.Fatalf("observation %+v, go-json %+v (%v)", fo, gobs, err)
				}
			}
		}
	})
}

// TestFastDecodeTakesVigilsEvents: the events Vigil writes go the fast
// way (the point of it), and the near misses the general one, with the
// same results.
func TestFastDecodeTakesVigilsEvents(t *testing.T) {
	seeds := fastSeeds(t)
	fastOnes := 0
	for i, data := range seeds {
		fast, general, errFast, errGeneral := decodeBoth(data)
		if (errFast == nil) != (errGeneral == nil) || errFast != nil && errFast.Error() != errGeneral.Error() {
			t.Errorf("seed %d: fast path %v, general %v", i, errFast, errGeneral)
		}
		if !sameRows(fast, general) {
			t.Errorf("seed %d: rows differ", i)
		}
		env, ok := decodeEnvelopeFast(data)
		var fl events.Flow
		var ob events.Observation
		if ok && (env.Kind == events.KindFlow && decodeFlowFast(env.Body, &fl) ||
			env.Kind == events.KindObservation && decodeObservationFast(env.Body, &ob)) {
			fastOnes++
		}
	}
	if fastOnes < 6 {
		t.Errorf("%d flows and observations of Vigil's own took the fast path, want the 6 of them", fastOnes)
	}
	if _, ok := decodeEnvelopeFast(seeds[0]); !ok {
		t.Error("an event as Vigil writes it did not take the fast path")
	}
}
