// Package poct1a reads device facts from POCT1-A (CLSI POCT1-A2) point of
// care device conversations: XML messages back to back over TCP, without
// framing. The device's hello (HEL.R01) names it in its DEV segment:
// vendor, model, serial number, software and hardware versions, device
// name. Those are the only elements the dissector reads.
//
// Observations (OBS), patient lists (PTL) and every other message carry or
// may carry patient data: they are counted, and their bytes are scanned for
// the closing tag of their root element without being parsed, copied or
// buffered. Only a hello, bounded to maxHello bytes, is decoded, with
// encoding/xml's streaming Decoder.
package poct1a

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Protocol is the Observation protocol name.
const Protocol = "poct1a"

// AttrDeviceName is the name the device gives itself in its hello
// (DEV.device_name), often set by the site ("ED-GLUCO-3").
const AttrDeviceName = "poct1a.device_name"

// AttrVendorID is the vendor code of the hello (DEV.vendor_id, "SIEM"),
// which the DEV.device_id and vendor-specific extensions (SN="SIEM") use.
const AttrVendorID = "poct1a.vendor_id"

// Counter names.
const (
	CounterMessages = "poct1a.messages"
	// CounterObservations counts observation messages (OBS.Rnn), one per
	// message whatever the number of results inside.
	CounterObservations = "poct1a.observations"
)

const (
	// maxHello bounds the hello the stream buffers for decoding; real
	// ones are about 1 KB. A longer hello is skipped unread.
	maxHello = 32 << 10
	// maxTag bounds the skipped start tag of a root element and the
	// XML declarations and comments between messages.
	maxTag = 4096
	// maxRoot bounds the length of a root element name ("HEL.R01",
	// vendor messages like "NOVA.STATSTRIP.SETUP").
	maxRoot = 32
)

// ErrBadXML is returned when a hello is not well-formed XML.
var ErrBadXML = errors.New("poct1a: malformed hello")

// Dissector is the POCT1-A stream dissector.
type Dissector struct{}

var _ dpi.StreamDissector = (*Dissector)(nil)

// New returns a POCT1-A dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.StreamDissector.
func (*Dissector) Name() string { return "poct1a" }

// Protocols implements dpi.StreamDissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoPOCT1A} }

// NewStream implements dpi.StreamDissector.
func (*Dissector) NewStream(*dpi.Packet) dpi.Stream { return &stream{} }

type state uint8

const (
	// seek looks for the start tag of a root element ("<HEL.R01").
	seek state = iota
	// startTag skips the rest of a root start tag (its attributes).
	startTag
	// body scans for the root's closing tag.
	body
	// hello waits for the whole hello, kept unconsumed.
	hello
)

type direction struct {
	state state
	root  [maxRoot]byte // root element name of the current message
	n     int           // length of root
	quote byte          // open attribute quote inside a start tag
	last  byte          // last byte of the start tag scanned so far
	// tag counts the bytes of a skipped start tag; for a hello, the
	// bytes already scanned for its end.
	tag     int
	tagDone bool // the hello's start tag is complete
}

type stream struct {
	dir [2]direction
}

func dirIndex(fromOrig bool) int {
	if fromOrig {
		return 0
	}
	return 1
}

// Gap implements dpi.Stream: the direction looks for the next root element.
func (s *stream) Gap(fromOrig bool) { s.dir[dirIndex(fromOrig)] = direction{} }

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
			i, n := indexRoot(b)
			switch {
			case i < 0:
				return len(data), nil
			case n == 0:
				return off + i, nil // a start tag the next segment completes
			}
			d.n = copy(d.root[:], b[i+1:i+1+n])
			out.Count(CounterMessages, 1)
			if bytes.HasPrefix(d.root[:], []byte("OBS.")) {
				out.Count(CounterObservations, 1)
			}
			if bytes.HasPrefix(d.root[:], []byte("HEL.")) {
				off += i
				d.state, d.quote, d.last, d.tag, d.tagDone = hello, 0, 0, 0, false
				continue
			}
			off += i + 1 + n
			d.state, d.quote, d.last, d.tag = startTag, 0, 0, 0
		case startTag:
			n, closed, selfClosing := scanStartTag(b, &d.quote, &d.last)
			off += n
			d.tag += n
			switch {
			case selfClosing:
				d.state = seek
			case closed:
				d.state = body
			case d.tag > maxTag:
				d.state = body // not XML as expected: look for the end
			}
		case body:
			n, found := scanClose(b, d.root[:d.n])
			off += n
			if !found {
				return off, nil
			}
			d.state = seek
		case hello:
			end, complete := d.helloEnd(b[:min(len(b), maxHello)])
			if !complete {
				if len(b) >= maxHello {
					// Too long to decode: skip it like any message.
					off += 1 + d.n
					d.state, d.quote, d.last, d.tag = startTag, 0, 0, 0
					continue
				}
				return off, nil
			}
			d.state = seek
			if err := readHello(p, b[:end], out); err != nil {
				return off + end, err
			}
			off += end
		}
	}
	return off, nil
}

// indexRoot returns the index in b of the first start tag of a root
// element and the length of its name; the length is 0 when b ends before
// the name does. The index is -1 if b holds none.
func indexRoot(b []byte) (int, int) {
	for off := 0; ; {
		i := bytes.IndexByte(b[off:], '<')
		if i < 0 {
			return -1, 0
		}
		off += i
		if n := rootName(b[off:]); n >= 0 {
			return off, n
		}
		off++
	}
}

// rootName returns the length of the element name after the '<' that
// starts b if it names a message: capitals, digits and '_' in dotted
// parts, the first a capital ("HEL.R01", "NOVA.PHYS.R01"), unlike the
// elements inside messages ("DEV.vendor_id", "HDR"). It returns 0 if b
// ends before the name does, -1 if b does not start a message.
func rootName(b []byte) int {
	dot := false
	for i := 1; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= 'A' && c <= 'Z':
		case i > 1 && (c >= '0' && c <= '9' || c == '_'):
		case i > 1 && c == '.' && b[i-1] != '.':
			dot = true
		case i > 1 && (c == '>' || c == '/' || isSpace(c)):
			if !dot || b[i-1] == '.' {
				return -1
			}
			return i - 1
		default:
			return -1
		}
		if i > maxRoot {
			return -1
		}
	}
	return 0
}

// scanStartTag consumes the bytes of a start tag after its name, up to and
// including its '>', tracking across calls the open attribute quote in
// quote and the last byte in last. It returns the bytes consumed, whether
// the tag closed, and whether it closed with "/>".
func scanStartTag(b []byte, quote, last *byte) (n int, closed, selfClosing bool) {
	for i, c := range b {
		prev := *last
		*last = c
		switch {
		case *quote != 0:
			if c == *quote {
				*quote = 0
			}
		case c == '"' || c == '\'':
			*quote = c
		case c == '>':
			return i + 1, true, prev == '/'
		}
	}
	return len(b), false, false
}

// scanClose looks for the closing tag of root ("</HEL.R01>", white space
// allowed before '>'). It returns the bytes to consume: past the closing
// tag when found, else all but a tail that may begin it.
func scanClose(b, root []byte) (int, bool) {
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte("</"))
		if i < 0 {
			if len(b) > 0 && b[len(b)-1] == '<' {
				return len(b) - 1, false
			}
			return len(b), false
		}
		off += i
		t := b[off+2:]
		if len(t) < len(root) {
			if bytes.HasPrefix(root, t) {
				return off, false
			}
			off += 2
			continue
		}
		if !bytes.HasPrefix(t, root) {
			off += 2
			continue
		}
		j := len(root)
		for j < len(t) && j < len(root)+64 && isSpace(t[j]) {
			j++
		}
		switch {
		case j == len(t):
			return off, false // the rest of the tag is in the next segment
		case t[j] == '>':
			return off + 2 + j + 1, true
		}
		off += 2
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// helloEnd returns the length of the hello at the start of b (its root
// start tag to the end of its closing tag), and whether b holds it all.
// b grows by a segment at each call: the scan resumes where the last one
// stopped (d.tag), so a hello in many small segments costs one pass.
func (d *direction) helloEnd(b []byte) (int, bool) {
	if d.tag == 0 {
		d.tag = 1 + d.n
	}
	if !d.tagDone {
		n, closed, selfClosing := scanStartTag(b[d.tag:], &d.quote, &d.last)
		d.tag += n
		switch {
		case selfClosing:
			return d.tag, true
		case !closed:
			return 0, false
		}
		d.tagDone = true
	}
	m, found := scanClose(b[d.tag:], d.root[:d.n])
	if !found {
		d.tag += m
		return 0, false
	}
	return d.tag + m, true
}

// devFields maps the DEV elements read to attributes.
var devFields = map[string]string{
	"DEV.vendor_id":         AttrVendorID,
	"DEV.manufacturer_name": dpi.AttrVendor,
	"DEV.model_id":          dpi.AttrModel,
	"DEV.serial_id":         dpi.AttrSerial,
	"DEV.sw_version":        dpi.AttrSoftwareVersion,
	"DEV.hw_version":        dpi.AttrHardwareVersion,
	"DEV.device_name":       AttrDeviceName,
}

// readHello decodes a hello and reports the DEV fields about its sender,
// the device. Every POCT1-A element holds its value in attribute V.
func readHello(p *dpi.Packet, msg []byte, out *dpi.Output) error {
	if !utf8.Valid(msg) {
		msg = latin1(msg)
	}
	dec := xml.NewDecoder(bytes.NewReader(msg))
	type fact struct{ attr, value, element string }
	var facts []fact
	depth, inDEV := 0, false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadXML, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 2:
				inDEV = t.Name.Local == "DEV"
			case depth == 3 && inDEV:
				attr, ok := devFields[t.Name.Local]
				if !ok {
					continue
				}
				for _, a := range t.Attr {
					if a.Name.Local == "V" {
						if v := dpi.Text([]byte(a.Value)); v != "" {
							facts = append(facts, fact{attr, v, t.Name.Local})
						}
						break
					}
				}
			}
		case xml.EndElement:
			depth--
		}
	}
	hasVendor := false
	for _, f := range facts {
		hasVendor = hasVendor || f.attr == dpi.AttrVendor
	}
	for _, f := range facts {
		out.Observe(p, dpi.Sender, f.attr, f.value, Protocol, 0.95, "HEL.R01 "+f.element)
		if f.attr == AttrVendorID && !hasVendor {
			// No manufacturer name: the vendor code is the best vendor.
			out.Observe(p, dpi.Sender, dpi.AttrVendor, f.value, Protocol, 0.8, "HEL.R01 "+f.element)
		}
	}
	return nil
}

// latin1 converts ISO 8859-1 bytes to UTF-8, as older devices declare.
func latin1(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/4)
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out
}
