// Package hl7 reads device facts from HL7 v2 messages carried over MLLP
// (0x0B message 0x1C 0x0D). It reads the MSH segment only: the sending
// application and facility (about the sender), the receiving application
// and facility the sender names (about the receiver), the message type and
// the version; and the MSA acknowledgment code of responses, as counters.
//
// HL7 messages are full of patient data (PID, NK1, PV1, OBX, NTE...): the
// dissector never reads past MSH and MSA. The rest of each message is
// scanned for the end-of-block byte without being copied or buffered, so a
// message of hundreds of kilobytes costs one pass of bytes.IndexByte.
package hl7

import (
	"bytes"
	"errors"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Protocol is the Observation protocol name.
const Protocol = "hl7"

// Counter names (a fixed set: message types are not counter names, so the
// number of counters per flow stays bounded whatever the traffic).
const (
	CounterMessages = "hl7.messages"
	// CounterAcks counts MSA-1 AA and CA (accepted).
	CounterAcks = "hl7.acks"
	// CounterNacks counts MSA-1 AE, AR, CE and CR (error or rejected).
	CounterNacks = "hl7.nacks"
)

// MLLP block characters.
const (
	startBlock = 0x0b
	endBlock   = 0x1c
)

// maxSegment bounds the bytes of an MSH or MSA segment the stream waits
// for. Real MSH segments are a few hundred bytes; a longer one is
// malformed.
const maxSegment = 4096

// maxSeen bounds the facts a stream remembers to avoid repeating them for
// every message of a long-lived connection.
const maxSeen = 64

// Errors returned for malformed messages.
var (
	ErrBadMSH         = errors.New("hl7: malformed MSH segment")
	ErrSegmentTooLong = errors.New("hl7: header segment too long")
)

// Dissector is the HL7 v2/MLLP stream dissector.
type Dissector struct{}

var _ dpi.StreamDissector = (*Dissector)(nil)

// New returns an HL7 dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.StreamDissector.
func (*Dissector) Name() string { return "hl7" }

// Protocols implements dpi.StreamDissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoHL7} }

// NewStream implements dpi.StreamDissector.
func (*Dissector) NewStream(*dpi.Packet) dpi.Stream { return &stream{} }

// state is where a direction is in the MLLP framing.
type state uint8

const (
	// seek looks for a start block followed by "MSH" (also how a
	// direction resynchronises after a gap).
	seek state = iota
	// header expects the MSH segment at the start of the data.
	header
	// afterMSH expects the segment after MSH: MSA is read, SFT skipped,
	// anything else ends the reading of the message.
	afterMSH
	// body scans for the end block without reading.
	body
)

type direction struct {
	state state
	enc   encoding
}

type stream struct {
	dir  [2]direction
	seen []string // facts already reported on this connection
	buf  []byte   // scratch for escape decoding
}

func dirIndex(fromOrig bool) int {
	if fromOrig {
		return 0
	}
	return 1
}

// Gap implements dpi.Stream: the direction resynchronises on the next
// start block followed by MSH.
func (s *stream) Gap(fromOrig bool) { s.dir[dirIndex(fromOrig)].state = seek }

// End implements dpi.Stream.
func (s *stream) End(*dpi.Output) {}

// Data implements dpi.Stream.
func (s *stream) Data(p *dpi.Packet, data []byte, out *dpi.Output) (int, error) {
	d := &s.dir[dirIndex(p.FromOrig)]
	off := 0
	for off < len(data) {
		b := data[off:]
		switch d.state {
		case seek:
			i := indexStart(b)
			if i < 0 {
				// Keep a trailing start block and partial "MSH".
				return len(data) - partialStart(b), nil
			}
			off += i + 1
			d.state = header
		case header:
			end := segmentEnd(b)
			if end < 0 {
				if len(b) > maxSegment {
					d.state = seek
					return off, ErrSegmentTooLong
				}
				return off, nil
			}
			if end > maxSegment {
				d.state = seek
				return off, ErrSegmentTooLong
			}
			if err := s.msh(p, b[:end], d, out); err != nil {
				d.state = seek
				return off, err
			}
			out.Count(CounterMessages, 1)
			off += end
			d.state = afterMSH
		case afterMSH:
			// Segment terminators: CR, tolerating CR LF and LF.
			if b[0] == '\r' || b[0] == '\n' {
				off++
				continue
			}
			if b[0] == endBlock {
				off++
				d.state = seek
				continue
			}
			if len(b) < 4 {
				return off, nil
			}
			name := b[:3]
			switch {
			case bytes.Equal(name, []byte("MSA")) || bytes.Equal(name, []byte("SFT")):
				end := segmentEnd(b)
				if end < 0 {
					if len(b) > maxSegment {
						d.state = body
						continue
					}
					return off, nil
				}
				if name[0] == 'M' {
					countAck(b[:end], d.enc, out)
					d.state = body
				}
				off += end
			default:
				d.state = body
			}
		case body:
			i := bytes.IndexByte(b, endBlock)
			if i < 0 {
				return len(data), nil
			}
			off += i + 1
			d.state = seek
		}
	}
	return off, nil
}

// indexStart returns the index of the first start block followed by
// "MSH", or -1.
func indexStart(b []byte) int {
	for off := 0; ; {
		i := bytes.IndexByte(b[off:], startBlock)
		if i < 0 {
			return -1
		}
		off += i
		if len(b)-off >= 4 && b[off+1] == 'M' && b[off+2] == 'S' && b[off+3] == 'H' {
			return off
		}
		off++
	}
}

// partialStart returns how many trailing bytes of b may be the start of a
// start block followed by "MSH" that the next segment completes.
func partialStart(b []byte) int {
	for n := min(3, len(b)); n > 0; n-- {
		t := b[len(b)-n:]
		if t[0] == startBlock && bytes.HasPrefix([]byte("MSH"), t[1:]) {
			return n
		}
	}
	return 0
}

// segmentEnd returns the length of the segment at the start of b (up to
// its CR, LF or end block), or -1 if b does not hold its end yet.
func segmentEnd(b []byte) int {
	for i, c := range b {
		if c == '\r' || c == '\n' || c == endBlock {
			return i
		}
	}
	return -1
}

// countAck counts the acknowledgment code (MSA-1) of an MSA segment.
func countAck(seg []byte, enc encoding, out *dpi.Output) {
	if len(seg) < 4 || seg[3] != enc.field {
		return
	}
	code := firstComponent(field(seg[4:], enc.field, 0), enc)
	switch string(code) {
	case "AA", "CA":
		out.Count(CounterAcks, 1)
	case "AE", "AR", "CE", "CR":
		out.Count(CounterNacks, 1)
	}
}

// msh reports the facts of an MSH segment (seg starts with "MSH").
func (s *stream) msh(p *dpi.Packet, seg []byte, d *direction, out *dpi.Output) error {
	enc, ok := parseEncoding(seg)
	if !ok {
		return ErrBadMSH
	}
	d.enc = enc
	// fields[0] is MSH-2 (the encoding characters), so MSH-n is index n-2.
	rest := seg[4:]
	get := func(n int) []byte { return field(rest, enc.field, n-2) }

	type fact struct {
		side     dpi.Side
		attr     string
		value    string
		conf     float64
		evidence string
	}
	facts := [...]fact{
		{dpi.Sender, dpi.AttrHL7SendingApplication, s.hd(get(3), enc), 0.9, "MSH-3 sending application"},
		{dpi.Sender, dpi.AttrHL7SendingFacility, s.hd(get(4), enc), 0.9, "MSH-4 sending facility"},
		{dpi.Receiver, dpi.AttrHL7ReceivingApplication, s.hd(get(5), enc), 0.6, "MSH-5 receiving application named by the sender"},
		{dpi.Receiver, dpi.AttrHL7ReceivingFacility, s.hd(get(6), enc), 0.6, "MSH-6 receiving facility named by the sender"},
		{dpi.Sender, dpi.AttrHL7MessageType, messageType(get(9), enc), 0.9, "MSH-9 message type"},
		{dpi.Sender, dpi.AttrHL7Version, version(get(12), enc), 0.9, "MSH-12 version ID"},
	}
	for _, f := range facts {
		if f.value == "" || s.reported(p.FromOrig, f.side, f.attr, f.value) {
			continue
		}
		out.Observe(p, f.side, f.attr, f.value, Protocol, f.conf, f.evidence)
	}
	return nil
}

// reported tells whether a fact was already reported on this connection,
// remembering it if not (up to maxSeen facts; past that, facts repeat).
func (s *stream) reported(fromOrig bool, side dpi.Side, attr, value string) bool {
	key := string([]byte{byte(dirIndex(fromOrig)), byte(side)}) + attr + "\x00" + value
	for _, k := range s.seen {
		if k == key {
			return true
		}
	}
	if len(s.seen) < maxSeen {
		s.seen = append(s.seen, key)
	}
	return false
}

// hd formats an HD (hierarchic designator) field: the namespace ID and the
// universal ID ("LAB^1.2.3"), dropping the universal ID type and further
// repetitions. Components are unescaped and made safe with dpi.Text.
func (s *stream) hd(f []byte, enc encoding) string {
	f = firstRepetition(f, enc)
	ns := s.text(component(f, enc, 0), enc)
	uid := s.text(component(f, enc, 1), enc)
	switch {
	case uid == "":
		return ns
	case ns == "":
		return "^" + uid
	}
	v := ns + "^" + uid
	if len(v) > dpi.MaxValue {
		return ns
	}
	return v
}

// text unescapes one component and makes it a value.
func (s *stream) text(b []byte, enc encoding) string {
	if len(b) == 0 {
		return ""
	}
	s.buf = unescape(s.buf[:0], b, enc)
	return dpi.Text(s.buf)
}

// messageType formats MSH-9 as "CODE^TRIGGER" (or "CODE"), keeping only
// well-formed codes: the message structure and anything free-form are
// dropped.
func messageType(f []byte, enc encoding) string {
	f = firstRepetition(f, enc)
	code := component(f, enc, 0)
	if !isCode(code) {
		return ""
	}
	v := upper(code)
	if trigger := component(f, enc, 1); isCode(trigger) {
		v += "^" + upper(trigger)
	}
	return v
}

// isCode tells whether b is an HL7 message code or trigger event: one to
// four letters and digits (the tables use three).
func isCode(b []byte) bool {
	if len(b) == 0 || len(b) > 4 {
		return false
	}
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func upper(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	return string(out)
}

// version returns the version ID of MSH-12 ("2.5.1") if it is one.
func version(f []byte, enc encoding) string {
	v := component(firstRepetition(f, enc), enc, 0)
	if len(v) == 0 || len(v) > 12 || v[0] < '0' || v[0] > '9' {
		return ""
	}
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c == '.') {
			return ""
		}
	}
	return string(v)
}
