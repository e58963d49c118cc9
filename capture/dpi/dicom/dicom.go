package dicom

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// Protocol is the Observation and Auth protocol name.
const Protocol = "dicom"

// Bounds on what a stream buffers and reads.
const (
	// maxItem bounds an A-ASSOCIATE item the stream waits for whole;
	// larger ones (the item length field allows 64 KiB) are skipped
	// unread.
	maxItem = 32 << 10
	// maxCommand bounds the command set bytes kept; the elements read
	// come first in tag order.
	maxCommand = 4 << 10
	// maxResync bounds the bytes scanned for a PDU header after a gap.
	maxResync = 1 << 20
)

// PDU types (PS3.8 9.3.1).
const (
	pduAssociateRQ = 0x01
	pduAssociateAC = 0x02
	pduAssociateRJ = 0x03
	pduPData       = 0x04
	pduReleaseRQ   = 0x05
	pduReleaseRP   = 0x06
	pduAbort       = 0x07
)

// ErrMalformed is wrapped by the errors of PDUs that break PS3.8.
var ErrMalformed = errors.New("malformed PDU")

func malformed(format string, args ...any) error {
	return fmt.Errorf("dicom: %s: %w", fmt.Sprintf(format, args...), ErrMalformed)
}

// Dissector reads DICOM upper layer associations. It is stateless: each
// connection gets its own stream.
type Dissector struct{}

var _ dpi.StreamDissector = (*Dissector)(nil)

// New returns a DICOM dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.StreamDissector.
func (*Dissector) Name() string { return "dicom" }

// Protocols implements dpi.StreamDissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoDICOM} }

// NewStream implements dpi.StreamDissector. The identifying packet starts
// an A-ASSOCIATE PDU; when it came from the responder (the capture began
// after the request), the originator's bytes start anywhere and are
// scanned for a PDU boundary first.
func (*Dissector) NewStream(p *dpi.Packet) dpi.Stream {
	s := &stream{}
	if !p.FromOrig {
		s.dirs[0].st = stResync
	}
	return s
}

// pduState is where a direction is in its PDU stream.
type pduState uint8

const (
	stHeader     pduState = iota // expecting a 6-byte PDU header
	stFixed                      // A-ASSOCIATE-RJ, A-RELEASE, A-ABORT: a 4-byte body
	stAssocFixed                 // the 68 fixed bytes of an A-ASSOCIATE-RQ or -AC
	stAssocItems                 // the variable items of an A-ASSOCIATE-RQ or -AC
	stPData                      // the PDVs of a P-DATA-TF
	stResync                     // after a gap: scanning for a PDU header
)

// sink is what the bytes of the current PDV are for.
type sink uint8

const (
	sinkSkip    sink = iota // not needed: skipped unread
	sinkCommand             // a DIMSE command set fragment
	sinkDataSet             // the start of a stored object
)

// direction is the parsing state of one direction of a connection.
type direction struct {
	st  pduState
	typ byte
	// remain is the number of bytes of the current PDU body not parsed.
	remain int64
	// P-DATA-TF: the current PDV and what its bytes go to.
	inPDV   bool
	pdvLeft int64
	pc, mch byte
	sink    sink
	// cmd collects the fragments of a command set.
	cmd      []byte
	cmdTrunc bool
	// dsOn tells that the data set of a C-STORE-RQ is expected on
	// presentation context dataPC and ds reads its header.
	dsOn   bool
	dataPC byte
	ds     dataset
	// scanned counts bytes scanned for a PDU header since a gap.
	scanned int
}

// stream is the state of one connection.
type stream struct {
	dirs  [2]direction
	assoc association
	// lastEquip is the last raw value read per direction and equipment
	// field, so a series of objects yields one observation.
	lastEquip [2][len(equipment)][]byte
	// used holds the SOP classes already published from commands, per
	// direction.
	used [2][]string
}

func dirIndex(fromOrig bool) int {
	if fromOrig {
		return 0
	}
	return 1
}

// Data implements dpi.Stream.
func (s *stream) Data(p *dpi.Packet, data []byte, out *dpi.Output) (int, error) {
	d := &s.dirs[dirIndex(p.FromOrig)]
	i := 0
	for {
		rest := data[i:]
		switch d.st {
		case stResync:
			n, ok := d.resync(rest)
			i += n
			if !ok {
				if d.scanned > maxResync {
					return i, dpi.ErrStreamDone
				}
				return i, nil
			}

		case stHeader:
			if len(rest) < 6 {
				return i, nil
			}
			if err := d.header(rest); err != nil {
				return i, err
			}
			i += 6

		case stFixed:
			if len(rest) < 4 {
				return i, nil
			}
			s.fixed(p, d.typ, rest[:4], out)
			i += 4
			d.st = stHeader

		case stAssocFixed:
			if len(rest) < 68 {
				return i, nil
			}
			s.assocFixed(p, d.typ, rest[:68], out)
			i += 68
			d.remain -= 68
			d.st = stAssocItems

		case stAssocItems:
			if d.remain == 0 {
				s.assocEnd(p, d.typ, out)
				d.st = stHeader
				continue
			}
			if d.remain < 4 {
				return i, malformed("A-ASSOCIATE item header cut by the PDU end")
			}
			if len(rest) < 4 {
				return i, nil
			}
			n := 4 + int64(binary.BigEndian.Uint16(rest[2:4]))
			if n > d.remain {
				return i, malformed("A-ASSOCIATE item 0x%02x of %d bytes overruns the PDU", rest[0], n)
			}
			if n > maxItem {
				d.remain -= n
				if d.remain == 0 {
					s.assocEnd(p, d.typ, out)
					d.st = stHeader
				}
				if int64(len(rest)) < n {
					return i + int(n), nil
				}
				i += int(n)
				continue
			}
			if int64(len(rest)) < n {
				return i, nil
			}
			if err := s.assocItem(p, d.typ, rest[:n], out); err != nil {
				return i, err
			}
			i += int(n)
			d.remain -= n

		case stPData:
			if !d.inPDV {
				if d.remain == 0 {
					d.st = stHeader
					continue
				}
				if d.remain < 6 {
					return i, malformed("PDV header cut by the PDU end")
				}
				if len(rest) < 6 {
					return i, nil
				}
				l := int64(binary.BigEndian.Uint32(rest[0:4]))
				if l < 2 || l+4 > d.remain {
					return i, malformed("PDV length %d in a P-DATA-TF with %d bytes left", l, d.remain)
				}
				// Bits 2-7 of the message control header are reserved and
				// not tested (PS3.8 E.2).
				d.pc, d.mch = rest[4], rest[5]&0x03
				d.remain -= 6
				d.pdvLeft = l - 2
				d.inPDV = true
				d.startPDV()
				i += 6
				if d.pdvLeft == 0 {
					if err := s.endPDV(p, d, out); err != nil {
						return i, err
					}
				}
				continue
			}
			n := d.pdvLeft
			if d.sink == sinkSkip {
				d.remain -= n
				d.pdvLeft = 0
				if err := s.endPDV(p, d, out); err != nil {
					return i, err
				}
				if int64(len(rest)) < n {
					return i + int(n), nil
				}
				i += int(n)
				continue
			}
			if len(rest) == 0 {
				return i, nil
			}
			n = min(n, int64(len(rest)))
			chunk := rest[:n]
			if d.sink == sinkCommand {
				d.addCommand(chunk)
			} else {
				d.ds.feed(chunk, s, p, out)
				if d.ds.done {
					d.sink = sinkSkip
				}
			}
			i += int(n)
			d.remain -= n
			d.pdvLeft -= n
			if d.pdvLeft == 0 {
				if err := s.endPDV(p, d, out); err != nil {
					return i, err
				}
			}
		}
	}
}

// header reads a PDU header (PS3.8 9.3) and checks its length against
// its type.
func (d *direction) header(b []byte) error {
	typ, l := b[0], int64(binary.BigEndian.Uint32(b[2:6]))
	switch typ {
	case pduAssociateRQ, pduAssociateAC:
		if l < 68 {
			return malformed("A-ASSOCIATE PDU of %d bytes", l)
		}
		d.st = stAssocFixed
	case pduAssociateRJ, pduReleaseRQ, pduReleaseRP, pduAbort:
		if l != 4 {
			return malformed("PDU type 0x%02x of %d bytes", typ, l)
		}
		d.st = stFixed
	case pduPData:
		if l < 6 {
			return malformed("P-DATA-TF of %d bytes", l)
		}
		d.st = stPData
		d.inPDV = false
	default:
		return malformed("unknown PDU type 0x%02x", typ)
	}
	d.typ, d.remain = typ, l
	return nil
}

// startPDV decides what the new PDV's bytes are for.
func (d *direction) startPDV() {
	switch {
	case d.mch&0x01 != 0:
		d.sink = sinkCommand
	case d.dsOn && d.pc == d.dataPC && !d.ds.done:
		d.sink = sinkDataSet
	default:
		d.sink = sinkSkip
	}
}

// addCommand appends a command fragment, keeping at most maxCommand
// bytes.
func (d *direction) addCommand(b []byte) {
	if room := maxCommand - len(d.cmd); len(b) > room {
		b = b[:room]
		d.cmdTrunc = true
	}
	d.cmd = append(d.cmd, b...)
}

// endPDV ends the current PDV: the last fragment of a command set is
// read, the last fragment of a data set ends the object.
func (s *stream) endPDV(p *dpi.Packet, d *direction, out *dpi.Output) error {
	d.inPDV = false
	last := d.mch&0x02 != 0
	if d.mch&0x01 != 0 {
		if !last {
			return nil
		}
		err := s.command(p, d, out)
		d.cmd, d.cmdTrunc = d.cmd[:0], false
		return err
	}
	if last && d.pc == d.dataPC {
		d.dsOn = false
	}
	return nil
}

// Gap implements dpi.Stream: the direction forgets its PDU and waits for
// a recognisable PDU header.
func (s *stream) Gap(fromOrig bool) {
	d := &s.dirs[dirIndex(fromOrig)]
	cmd := d.cmd[:0]
	*d = direction{st: stResync, cmd: cmd}
}

// resync scans b for a PDU header. It returns how many bytes it is done
// with and whether a header starts there.
func (d *direction) resync(b []byte) (int, bool) {
	j := 0
	for ; len(b)-j >= 10; j++ {
		if b[j] == pduPData && len(b)-j < 12 {
			break // the PDV header is needed to judge
		}
		if plausibleHeader(b[j:]) {
			d.st = stHeader
			d.scanned = 0
			return j, true
		}
	}
	d.scanned += j
	return j, false
}

// plausibleHeader tells whether b (at least 10 bytes, 12 for a
// P-DATA-TF) starts with a PDU header whose fixed fields make sense.
// Reserved fields are checked here, unlike in parsing, because every
// implementation sends them as zero and they make chance matches in
// pixel data unlikely.
func plausibleHeader(b []byte) bool {
	if b[1] != 0 {
		return false
	}
	l := binary.BigEndian.Uint32(b[2:6])
	switch b[0] {
	case pduAssociateRQ, pduAssociateAC:
		return l >= 68 && l <= 1<<20 && binary.BigEndian.Uint16(b[6:8]) == 1 && b[8] == 0 && b[9] == 0
	case pduAssociateRJ:
		return l == 4 && b[6] == 0 && (b[7] == 1 || b[7] == 2) && b[8] >= 1 && b[8] <= 3
	case pduReleaseRQ, pduReleaseRP:
		return l == 4 && binary.BigEndian.Uint32(b[6:10]) == 0
	case pduAbort:
		return l == 4 && b[6] == 0 && b[7] == 0 && (b[8] == 0 || b[8] == 2) && b[9] <= 6
	case pduPData:
		pl := binary.BigEndian.Uint32(b[6:10])
		return l >= 6 && l <= 1<<24 && pl >= 2 && pl <= l-4 && b[10]&1 == 1 && b[11] <= 3
	}
	return false
}

// End implements dpi.Stream: an association request that got no answer
// is an authentication attempt of unknown outcome.
func (s *stream) End(out *dpi.Output) {
	if !s.assoc.pending {
		return
	}
	s.assoc.pending = false
	s.publishCalled(out)
	s.authRequest(out, events.AuthUnknown, "no A-ASSOCIATE response seen")
}
