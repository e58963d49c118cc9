package events

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"testing"
	"time"
)

// TestDocsExamples keeps docs/events.md honest: every example decodes
// strictly (no field the Go type lacks) into the type of its kind, carries
// the ID its content derives, and every kind has an example.
func TestDocsExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(doc, -1)
	seen := map[Kind]bool{}
	for _, b := range blocks {
		payload := b[1]
		h, err := DecodeHeader(payload)
		if err != nil {
			t.Errorf("example does not decode: %v\n%s", err, payload)
			continue
		}
		seen[h.Kind] = true
		strict, ok := strictIDs[h.Kind]
		if !ok {
			t.Errorf("example of unknown kind %q", h.Kind)
			continue
		}
		id := strict(t, payload)
		if id != h.ID {
			t.Errorf("%s example: id %s, content derives %s", h.Kind, h.ID, id)
		}
	}
	for _, k := range Kinds {
		if !seen[k] {
			t.Errorf("docs/events.md has no example of %s", k)
		}
	}
}

// strictIDs decodes an example strictly as its kind and returns the ID its
// content derives.
var strictIDs = map[Kind]func(*testing.T, []byte) string{
	KindFlow: strictID[Flow], KindObservation: strictID[Observation], KindAuth: strictID[Auth],
	KindHealth: strictID[Health], KindDeviation: strictID[Deviation], KindDeviceChange: strictID[DeviceChange],
	KindDecision: strictID[Decision], KindAlert: strictID[Alert], KindEnforcement: strictID[Enforcement],
	KindVulnerability: strictID[Vulnerability], KindRisk: strictID[Risk],
}

func strictID[B Body](t *testing.T, payload []byte) string {
	t.Helper()
	var e Event[B]
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Errorf("%T example: %v", e.Body, err)
		return ""
	}
	again, err := NewEvent(e.Time, e.Source, e.Body)
	if err != nil {
		t.Fatal(err)
	}
	return again.ID
}

// TestEncodeIsJSON: Encode, which reuses the body NewEvent encoded, gives
// exactly what encoding the whole event gives.
func TestEncodeIsJSON(t *testing.T) {
	at := time.Date(2026, 1, 5, 8, 0, 0, 123456789, time.UTC)
	src := Source{Component: "sensor", Name: "s<1>", Site: "a&b"}
	for _, m := range []Message{
		MustEvent(at, src, Flow{FlowID: "f", Phase: FlowEnd, Transport: "tcp", App: map[string]uint64{"dicom.c_store_rq": 3}}),
		MustEvent(at, src, Observation{Device: "mac:x/0", Attribute: "hostname", Value: "<pump & co>", Protocol: "dhcp"}),
	} {
		got, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(m)
		if string(got) != string(want) {
			t.Errorf("Encode:\n%s\njson.Marshal:\n%s", got, want)
		}
	}
}
