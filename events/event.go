package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
)

// Kinds lists every v1 kind in a stable order.
var Kinds = []Kind{
	KindFlow, KindObservation, KindAuth, KindHealth,
	KindDeviation, KindDeviceChange,
	KindDecision, KindAlert,
	KindEnforcement,
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
}

// NewEvent builds an event whose ID is derived from its kind, time, source
// and body. Two producers that see the same input produce the same ID.
func NewEvent[B Body](at time.Time, src Source, body B) (Event[B], error) {
	e := Event[B]{
		Header: Header{Version: Version, Kind: body.Kind(), Time: at.UTC(), Source: src},
		Body:   body,
	}
	id, err := contentID(e.Header, body)
	if err != nil {
		return Event[B]{}, err
	}
	e.ID = id
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

func contentID(h Header, body any) (string, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return "", fmt.Errorf("encode %s body: %w", h.Kind, err)
	}
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\x00%s\x00%d\x00%s\x00%s\x00%s\x00", h.Version, h.Kind,
		h.Time.UnixNano(), h.Source.Component, h.Source.Name, h.Source.Site)
	sum.Write(b)
	return hex.EncodeToString(sum.Sum(nil)[:16]), nil
}

// Subject is the NATS subject this event is published on.
func (e Event[B]) Subject(partitions int) string {
	return Subject(e.Kind, Partition(e.Body.PartitionKey(), partitions))
}

// Encode returns the JSON payload of the event.
func (e Event[B]) Encode() ([]byte, error) {
	return json.Marshal(e)
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
