package events

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/zeebo/xxh3"
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
	// payload is the whole encoded event, for bodies with a hand-written
	// encoder: body is a part of it.
	payload []byte
}

// NewEvent builds an event whose ID is derived from its kind, time, source
// and body. Two producers that see the same input produce the same ID.
func NewEvent[B Body](at time.Time, src Source, body B) (Event[B], error) {
	e := Event[B]{
		Header: Header{Version: Version, Kind: body.Kind(), Time: at.UTC(), Source: src},
		Body:   body,
	}
	sp := scratchPool.Get().(*[]byte)
	buf := appendIDPrefix((*sp)[:0], e.Header)
	n := len(buf)
	buf, ok := appendBody(buf, body)
	if !ok {
		scratchPool.Put(sp)
		b, err := json.Marshal(body)
		if err != nil {
			return Event[B]{}, fmt.Errorf("encode %s body: %w", e.Kind, err)
		}
		e.ID, e.body = contentID(e.Header, b), b
		return e, nil
	}
	// The sensor's bodies (one per few packets): the ID's input and the
	// body are written into one pooled buffer, hashed in place, and the
	// whole payload is built now in a single exact allocation, so Encode
	// costs nothing. A per-call buffer and an Encode that copied the body
	// again were half of the sensor's allocations.
	e.ID = idOf(buf)
	if y := e.Time.Year(); y < 0 || y > 9999 {
		e.body = append([]byte(nil), buf[n:]...) // Encode reports encoding/json's error
	} else {
		m := len(buf)
		buf = e.Header.appendOpenJSON(buf)
		head := len(buf) - m
		p := make([]byte, 0, head+len(bodyKey)+(m-n)+1)
		p = append(p, buf[m:]...)
		p = append(p, bodyKey...)
		p = append(p, buf[n:m]...)
		p = append(p, '}')
		e.payload = p
		e.body = p[head+len(bodyKey) : len(p)-1 : len(p)-1]
	}
	if cap(buf) <= maxScratch {
		*sp = buf[:0]
		scratchPool.Put(sp)
	}
	return e, nil
}

const bodyKey = `,"body":`

// scratchPool holds the buffers NewEvent encodes into; one larger than
// maxScratch (a body with a huge value) is left to the collector.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxScratch = 64 << 10

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
// XXH3-128 over "version\0kind\0unixnano\0component\0name\0site\0body",
// in hex (high half first). XXH3 rather than SHA-256: an ID is a
// de-duplication key, not a signature, and SHA-256 with its buffer was
// 9% of the sensor's time (docs/sensor.md, Performance).
func contentID(h Header, body []byte) string {
	return idOf(append(appendIDPrefix(make([]byte, 0, 96+len(body)), h), body...))
}

// appendIDPrefix appends the header fields the content ID covers, each
// followed by a zero byte; the body's JSON follows them.
func appendIDPrefix(b []byte, h Header) []byte {
	b = append(append(b, h.Version...), 0)
	b = append(append(b, h.Kind...), 0)
	b = append(strconv.AppendInt(b, h.Time.UnixNano(), 10), 0)
	b = append(append(b, h.Source.Component...), 0)
	b = append(append(b, h.Source.Name...), 0)
	return append(append(b, h.Source.Site...), 0)
}

// idOf is the content ID of the ID's input (prefix and body).
func idOf(in []byte) string {
	sum := xxh3.Hash128(in).Bytes()
	var x [32]byte
	hex.Encode(x[:], sum[:])
	return string(x[:])
}

// Subject is the NATS subject this event is published on: the same as
// Subject(e.Kind, Partition(e.Body.PartitionKey(), partitions)), without
// building the key of a flow or formatting (TestSubjectFast).
func (e Event[B]) Subject(partitions int) string {
	if partitions <= 1 {
		return subjectOf(e.Kind, 0, partitions)
	}
	return subjectOf(e.Kind, e.deviceHash(), partitions)
}

// subjectOf is the subject of a kind's event whose device hashes to h.
func subjectOf(k Kind, h uint32, partitions int) string {
	p := 0
	if partitions > 1 {
		p = int(h % uint32(partitions))
	}
	return SubjectPrefix + "." + string(k) + ".p" + strconv.Itoa(p)
}

// DeviceHash is FNV-1a of the event's partition key: the same device
// always has the same hash, and its partition is the hash modulo the
// partitions (Batcher.PublishEncoded takes it; two devices sharing one
// only cost a shorter batch).
func (e Event[B]) DeviceHash() uint32 { return e.deviceHash() }

func (e Event[B]) deviceHash() uint32 {
	if f, ok := any(e.Body).(Flow); ok && isASCII(f.Orig.MAC) {
		return flowPartitionHash(&f)
	}
	return fnv1a(fnvOffset, e.Body.PartitionKey())
}

const fnvOffset, fnvPrime = 2166136261, 16777619

// fnv1a continues the FNV-1a hash h (Partition's) over s.
func fnv1a(h uint32, s string) uint32 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * fnvPrime
	}
	return h
}

// flowPartitionHash is FNV-1a of the flow's partition key (DeviceKey of
// its originator), hashed as the key is generated; the MAC is ASCII.
func flowPartitionHash(f *Flow) uint32 {
	h := uint32(fnvOffset)
	if f.Orig.MAC != "" {
		h = fnv1a(h, "mac:")
		for i := 0; i < len(f.Orig.MAC); i++ {
			c := f.Orig.MAC[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A' // strings.ToLower, for ASCII
			}
			h = (h ^ uint32(c)) * fnvPrime
		}
	} else {
		h = fnv1a(fnv1a(h, "ip:"), f.Orig.IP)
	}
	var num [5]byte
	return fnv1a(fnv1a(h, "/"), string(strconv.AppendUint(num[:0], uint64(f.VLAN), 10)))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Encode returns the JSON payload of the event: the header's fields, then
// the body (encoded once, by NewEvent).
//
// The payload of a sensor body is built once, by NewEvent, and shared:
// the caller must not modify it (its capacity is its length, so an append
// copies).
func (e Event[B]) Encode() ([]byte, error) {
	if e.payload != nil {
		return e.payload, nil
	}
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
