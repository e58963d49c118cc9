package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Version is the schema version carried in every subject, stream name and
// payload produced by this package.
const Version = "v1"

// Kind names the type of an event body. It is the third token of the
// subject (vigil.v1.<kind>.<partition>) and the "kind" field of the payload.
type Kind string

// The v1 event kinds.
const (
	KindFlow         Kind = "flow"
	KindObservation  Kind = "observation"
	KindAuth         Kind = "auth"
	KindHealth       Kind = "health"
	KindDeviation    Kind = "deviation"
	KindAlert        Kind = "alert"
	KindDecision     Kind = "decision"
	KindEnforcement  Kind = "enforcement"
	KindDeviceChange Kind = "device_change"
	// KindVulnerability and KindRisk are published by the vulnerability
	// matcher and the risk engine (bodies_vuln.go).
	KindVulnerability Kind = "vulnerability"
	KindRisk          Kind = "risk"
)

// Kinds lists every v1 kind in a stable order.
var Kinds = []Kind{
	KindFlow, KindObservation, KindAuth, KindHealth,
	KindDeviation, KindDeviceChange,
	KindDecision, KindAlert,
	KindEnforcement,
	KindVulnerability, KindRisk,
	KindAlertState,
}

// Body is implemented by every typed event body.
type Body interface {
	Kind() Kind
	// PartitionKey is the device key whose owner processes this event, so
	// that a device's events stay in order on one partition. Events that
	// belong to no device (sensor health) return the sensor name.
	PartitionKey() string
}

// Source says which component produced an event.
type Source struct {
	// Component is the producing engine: "sensor", "baseline", "policy", ...
	Component string `json:"component"`
	// Name identifies the instance, for example the sensor name.
	Name string `json:"name,omitempty"`
	// Site is the configured site (hospital campus) of the producer.
	Site string `json:"site,omitempty"`
}

// Header is the part of an event that is the same for every kind.
type Header struct {
	// Version is always "v1" for these types.
	Version string `json:"version"`
	// Kind names the body type.
	Kind Kind `json:"kind"`
	// ID is derived from the content (see NewEvent): the same content always
	// gets the same ID, so a replay is de-duplicated by JetStream and sinks.
	ID string `json:"id"`
	// Time is the event time (UTC, nanoseconds): the capture timestamp that
	// caused the event, never the wall clock of the producer.
	Time time.Time `json:"time"`
	// Source is the producer.
	Source Source `json:"source"`
}

// Event is one versioned event: a header and a typed body. It is generic
// over the body so that each kind keeps its own type; there is no catch-all
// struct.
type Event[B Body] struct {
	Header
	Body B `json:"body"`

	// body is the JSON of Body as NewEvent encoded it for the ID, kept so
	// that Encode does not encode it again (events are built on the
	// sensor's hot path). Events built otherwise encode on demand.
	body []byte
}

// NewEvent builds an event whose ID is derived from its kind, time, source
// and body. Two producers that see the same input produce the same ID.
func NewEvent[B Body](at time.Time, src Source, body B) (Event[B], error) {
	e := Event[B]{
		Header: Header{Version: Version, Kind: body.Kind(), Time: at.UTC(), Source: src},
		Body:   body,
	}
	var b []byte
	if a, ok := any(body).(jsonAppender); ok {
		b = a.appendJSON(make([]byte, 0, 512))
	} else {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return Event[B]{}, fmt.Errorf("encode %s body: %w", e.Kind, err)
		}
	}
	e.ID, e.body = contentID(e.Header, b), b
	return e, nil
}

// MustEvent is NewEvent for bodies that always encode (all v1 bodies do);
// it panics only on a programming error in a body type.
func MustEvent[B Body](at time.Time, src Source, body B) Event[B] {
	e, err := NewEvent(at, src, body)
	if err != nil {
		panic(err)
	}
	return e
}

// contentID hashes the version, kind, time, source and the body's JSON:
// sha256 over "version\0kind\0unixnano\0component\0name\0site\0body",
// the first 16 bytes in hex.
func contentID(h Header, body []byte) string {
	buf := make([]byte, 0, 96+len(body))
	for _, f := range []string{h.Version, string(h.Kind)} {
		buf = append(append(buf, f...), 0)
	}
	buf = append(strconv.AppendInt(buf, h.Time.UnixNano(), 10), 0)
	for _, f := range []string{h.Source.Component, h.Source.Name, h.Source.Site} {
		buf = append(append(buf, f...), 0)
	}
	sum := sha256.Sum256(append(buf, body...))
	return hex.EncodeToString(sum[:16])
}

// Subject is the NATS subject this event is published on.
func (e Event[B]) Subject(partitions int) string {
	return Subject(e.Kind, Partition(e.Body.PartitionKey(), partitions))
}

// Encode returns the JSON payload of the event: the header's fields, then
// the body (encoded once, by NewEvent).
func (e Event[B]) Encode() ([]byte, error) {
	if e.body == nil {
		return json.Marshal(e)
	}
	if e.Time.Year() < 0 || e.Time.Year() > 9999 {
		return json.Marshal(e) // encoding/json's error for such times
	}
	out := e.Header.appendOpenJSON(make([]byte, 0, 200+len(e.body)))
	out = append(out, `,"body":`...)
	out = append(out, e.body...)
	return append(out, '}'), nil
}

// ErrVersion is returned when a payload carries a version this build does
// not read.
var ErrVersion = errors.New("unsupported event version")

// DecodeHeader reads only the header of a payload, so a consumer can route
// by kind before decoding the body.
func DecodeHeader(payload []byte) (Header, error) {
	var h Header
	if err := json.Unmarshal(payload, &h); err != nil {
		return Header{}, fmt.Errorf("decode event header: %w", err)
	}
	if h.Version != Version {
		return Header{}, fmt.Errorf("%w %q (want %q)", ErrVersion, h.Version, Version)
	}
	if h.ID == "" || h.Kind == "" {
		return Header{}, errors.New("decode event header: missing id or kind")
	}
	return h, nil
}

// Decode reads a payload as an event with body type B. Unknown fields are
// ignored, so older consumers read newer payloads of the same version.
func Decode[B Body](payload []byte) (Event[B], error) {
	var e Event[B]
	if err := json.Unmarshal(payload, &e); err != nil {
		return Event[B]{}, fmt.Errorf("decode event: %w", err)
	}
	if e.Version != Version {
		return Event[B]{}, fmt.Errorf("%w %q (want %q)", ErrVersion, e.Version, Version)
	}
	if want := e.Body.Kind(); e.Kind != want {
		return Event[B]{}, fmt.Errorf("decode event: kind %q is not %q", e.Kind, want)
	}
	return e, nil
}

// Message is any event ready to publish, whatever its body type. Producers
// receive a bus as a small interface taking Messages.
type Message interface {
	Meta() Header
	Subject(partitions int) string
	Encode() ([]byte, error)
}

// Meta returns the header of the event.
func (e Event[B]) Meta() Header { return e.Header }

var _ Message = Event[Flow]{}
