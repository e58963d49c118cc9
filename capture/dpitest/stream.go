package dpitest

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
)

// StreamBuffer is the pipeline's default bound on the unconsumed bytes it
// keeps per direction of a stream (capture.Configuration.StreamBuffer).
const StreamBuffer = 64 << 10

// Conn is the TCP connection of a stream test: the client is the
// originator of the flow.
type Conn struct {
	Client, Server netip.AddrPort
}

// Packet returns a segment of the connection with flow ID "f1" carrying
// payload, from the client when fromClient is true, else from the server.
// Its signature suits NewFeeder.
func (c Conn) Packet(fromClient bool, payload []byte) *dpi.Packet {
	src, dst := c.Client, c.Server
	if !fromClient {
		src, dst = dst, src
	}
	return &dpi.Packet{Transport: dpi.TCP, FlowID: "f1", FromOrig: fromClient, Payload: payload,
		Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port()}
}

// Feeder feeds one dpi.Stream the way the sensor pipeline does, so that a
// dissector test sees exactly what the sensor would give it. It shares no
// code with package capture; it replicates the contract of capture's
// streamSet (capture/stream.go) and must change with it:
//
//   - the bytes a Data call did not consume are kept, per direction, and
//     offered again with the next segment's appended;
//   - a count larger than what was offered skips that many bytes of the
//     direction's next segments; a negative count consumes nothing (and
//     fails the test: no stream should return one);
//   - when more than MaxBuffer bytes would be kept, they are dropped and
//     the stream is told of a gap, as for lost bytes;
//   - a gap drops the kept bytes and the pending skip of its direction,
//     and is reported once until data arrives in that direction again;
//   - any error from Data (dpi.ErrStreamDone or another) stops the
//     stream: it is offered nothing more, not even End;
//   - End is called once, for a stream that did not stop.
//
// The packet handed to Data carries the whole segment as its payload,
// skipped bytes included, as the pipeline's does. What the pipeline does
// before streams (sequence tracking, retransmissions, segments cut by the
// snap length) is not modelled: the segments given to Data are the
// in-order stream, and Gap stands for any loss. TestFeederMatchesPipeline
// replays captures through both and compares every call.
type Feeder struct {
	// Out accumulates the stream's output.
	Out dpi.Output
	// Err is the error that stopped the stream (dpi.ErrStreamDone or
	// another), nil while it runs.
	Err error
	// MaxBuffer bounds the unconsumed bytes kept per direction; NewFeeder
	// sets it to StreamBuffer.
	MaxBuffer int
	// MaxKept is the most unconsumed bytes kept at once in a direction,
	// for tests that a dissector scans what it need not keep.
	MaxKept int

	t      testing.TB
	s      dpi.Stream
	packet func(fromOrig bool, payload []byte) *dpi.Packet
	buf    [2][]byte
	skip   [2]int
	broken [2]bool
	ended  bool
}

// NewFeeder returns a feeder of s whose segments are built by packet
// (Conn.Packet, for example).
func NewFeeder(t testing.TB, s dpi.Stream, packet func(fromOrig bool, payload []byte) *dpi.Packet) *Feeder {
	return &Feeder{MaxBuffer: StreamBuffer, t: t, s: s, packet: packet}
}

func dirOf(fromOrig bool) int {
	if fromOrig {
		return 0
	}
	return 1
}

// Data feeds one segment of the originator (fromOrig) or the responder.
// An empty segment is no data, as in the pipeline.
func (f *Feeder) Data(fromOrig bool, segment []byte) {
	if f.Err != nil || f.ended || len(segment) == 0 {
		return
	}
	d := dirOf(fromOrig)
	f.broken[d] = false
	p := f.packet(fromOrig, segment)
	data := segment
	if f.skip[d] > 0 {
		if f.skip[d] >= len(data) {
			f.skip[d] -= len(data)
			return
		}
		data = data[f.skip[d]:]
		f.skip[d] = 0
	}
	view := data
	if len(f.buf[d]) > 0 {
		f.buf[d] = append(f.buf[d], data...)
		view = f.buf[d]
	}
	n, err := f.s.Data(p, view, &f.Out)
	if err != nil {
		f.Err = err
		f.buf = [2][]byte{}
		return
	}
	switch {
	case n < 0:
		f.t.Helper()
		f.t.Errorf("Data consumed %d bytes", n)
		n = 0
	case n >= len(view):
		f.skip[d] = n - len(view)
		f.buf[d] = f.buf[d][:0]
		return
	}
	rest := view[n:]
	if len(rest) > f.MaxBuffer {
		f.buf[d] = f.buf[d][:0]
		f.broken[d] = true
		f.s.Gap(fromOrig)
		return
	}
	// A copy: the caller may reuse the segment.
	f.buf[d] = append([]byte(nil), rest...)
	f.MaxKept = max(f.MaxKept, len(rest))
}

// Gap reports bytes of a direction lost before its next segment.
func (f *Feeder) Gap(fromOrig bool) {
	if f.Err != nil || f.ended {
		return
	}
	d := dirOf(fromOrig)
	f.buf[d], f.skip[d] = f.buf[d][:0], 0
	if !f.broken[d] {
		f.broken[d] = true
		f.s.Gap(fromOrig)
	}
}

// End ends the connection: a stream that did not stop reports what only
// the end tells. Nothing is fed after End.
func (f *Feeder) End() {
	if f.Err == nil && !f.ended {
		f.ended = true
		f.s.End(&f.Out)
	}
}

// Failed returns Err unless it is dpi.ErrStreamDone: the error of a stream
// that failed rather than finished.
func (f *Feeder) Failed() error {
	if errors.Is(f.Err, dpi.ErrStreamDone) {
		return nil
	}
	return f.Err
}

// Counters sums the counters of Out by name.
func (f *Feeder) Counters() map[string]uint64 {
	m := map[string]uint64{}
	for _, c := range f.Out.Counters {
		m[c.Name] += c.N
	}
	return m
}

// Write is what one side of a connection sent at once.
type Write struct {
	FromOrig bool
	Data     []byte
}

// Play feeds writes in order, each cut into segments whose sizes cut
// chooses (given the bytes left of the write, its answer is bounded to 1
// to that many); a nil cut sends each write as one segment.
func (f *Feeder) Play(writes []Write, cut func(left int) int) {
	for _, w := range writes {
		for b := w.Data; len(b) > 0; {
			n := len(b)
			if cut != nil {
				n = min(max(cut(n), 1), n)
			}
			f.Data(w.FromOrig, b[:n])
			b = b[n:]
		}
	}
}

// RandomCut returns a cut for Play drawing segment sizes from rng,
// uniformly from 1 to the bytes left, or to limit when limit > 0. A nil
// rng gives a nil cut: whole writes.
func RandomCut(rng *rand.Rand, limit int) func(left int) int {
	if rng == nil {
		return nil
	}
	return func(left int) int {
		if limit > 0 {
			left = min(left, limit)
		}
		return 1 + rng.IntN(left)
	}
}

// Interleave feeds orig (the originator's bytes) and resp (the
// responder's), each in order, in segments of random sizes from random
// directions, drawn from rng: while both have bytes left, a coin chooses
// the side, then the size is drawn from 1 to what that side has left.
// With gapOdds > 0, a gap follows a segment in its direction with odds 1
// in gapOdds. The draws depend only on rng's state and the lengths, so a
// fuzz input with a seed for rng replays the same cuts.
func (f *Feeder) Interleave(orig, resp []byte, rng *rand.Rand, gapOdds int) {
	for len(orig) > 0 || len(resp) > 0 {
		fromOrig := len(resp) == 0 || len(orig) > 0 && rng.IntN(2) == 0
		src := &resp
		if fromOrig {
			src = &orig
		}
		n := 1 + rng.IntN(len(*src))
		f.Data(fromOrig, (*src)[:n])
		*src = (*src)[n:]
		if gapOdds > 0 && rng.IntN(gapOdds) == 0 {
			f.Gap(fromOrig)
		}
	}
}

// Split feeds data in the segments ctrl describes, the input format of
// the stream fuzz targets and of their stored corpora (testdata/fuzz):
// each ctrl byte k is a segment of (k>>1)+1 bytes of data, from the
// originator when k&1 is 0, else from the responder; 0xff is a gap in the
// originator's direction followed by a 9-byte segment of the originator.
// ctrl repeats until data is used up; an empty ctrl is {0x10, 0x11},
// 9-byte segments of each side in turn.
func (f *Feeder) Split(data, ctrl []byte) {
	if len(ctrl) == 0 {
		ctrl = []byte{0x10, 0x11}
	}
	for i := 0; len(data) > 0; i++ {
		k := ctrl[i%len(ctrl)]
		if k == 0xff {
			f.Gap(true)
			k = 0x10
		}
		n := min(int(k>>1)+1, len(data))
		f.Data(k&1 == 0, data[:n])
		data = data[n:]
	}
}

// CheckSplits feeds data, sent by one side, to new feeders three ways:
// in one segment, cut in two at every byte, and byte by byte. It fails the
// test when a stream fails (an error other than dpi.ErrStreamDone) or a
// cut changes the output: what a stream dissector reports must not depend
// on where segments end. It returns the byte-by-byte feeder.
func CheckSplits(t testing.TB, newFeeder func() *Feeder, fromOrig bool, data []byte) *Feeder {
	t.Helper()
	whole := newFeeder()
	whole.Data(fromOrig, data)
	if err := whole.Failed(); err != nil {
		t.Fatal(err)
	}
	for cut := 1; cut < len(data); cut++ {
		f := newFeeder()
		f.Data(fromOrig, data[:cut])
		f.Data(fromOrig, data[cut:])
		if err := f.Failed(); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if diff := cmp.Diff(whole.Out, f.Out); diff != "" {
			t.Fatalf("cut %d (-whole +split):\n%s", cut, diff)
		}
	}
	f := newFeeder()
	for i := range data {
		f.Data(fromOrig, data[i:i+1])
	}
	if err := f.Failed(); err != nil {
		t.Fatalf("byte by byte: %v", err)
	}
	if diff := cmp.Diff(whole.Out, f.Out); diff != "" {
		t.Fatalf("byte by byte (-whole +split):\n%s", diff)
	}
	return f
}
