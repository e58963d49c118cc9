package capture

import (
	"errors"

	"github.com/vigil-health/vigil/capture/dpi"
)

// appState is what the pipeline keeps for a flow whose protocol has stream
// dissectors: the TCP sequence tracking of each direction, the dissectors'
// streams with their unconsumed bytes, and the flow's application
// counters. Flows of other protocols carry none.
type appState struct {
	// next is the next expected sequence number per direction; started
	// tells whether it is known yet.
	next    [2]uint32
	started [2]bool
	streams []*streamState
	// counters are the flow's application counters (see events.Flow.App),
	// in order of first count: a flow has a few, so a slice searched by
	// name (constants, usually the same string) costs less than a map
	// made per flow and hashed per count.
	counters []dpi.Counter
}

type streamState struct {
	name   string
	s      dpi.Stream
	done   bool
	buf    [2][]byte // unconsumed bytes per direction, copied
	skip   [2]uint64 // bytes still to skip per direction
	broken [2]bool   // a gap the stream was told about, until new data
}

// streamSet reassembles TCP payloads in order and feeds the stream
// dissectors. Reassembly is deliberately simple: segments are taken in
// sequence order as they arrive; a retransmission is trimmed, a segment
// beyond the next expected byte is a gap (reported to the streams, which
// resynchronise on their own). That suits a mirror port, where
// reordering is rare, and keeps the cost per segment low.
type streamSet struct {
	maxBuffer int
	errors    uint64 // stream dissector errors
	gaps      uint64
	overflows uint64
}

// seqDiff is the signed distance from b to a in sequence space.
func seqDiff(a, b uint32) int32 { return int32(a - b) }

// segment feeds one TCP segment of direction dir (0 originator, 1
// responder) to the flow's streams. capturedAll is false when the snap
// length cut the payload.
func (ss *streamSet) segment(a *appState, p *dpi.Packet, dir int, seq uint32, payloadLen int, out *dpi.Output) {
	data := p.Payload
	if !a.started[dir] {
		a.started[dir] = true
		a.next[dir] = seq
	}
	switch d := seqDiff(seq, a.next[dir]); {
	case d > 0:
		ss.gaps++
		a.gap(dir)
		a.next[dir] = seq
	case d < 0:
		// A retransmission or an overlap: keep only the new bytes.
		old := int(-d)
		if old >= payloadLen {
			return
		}
		payloadLen -= old
		if old >= len(data) {
			data = nil
		} else {
			data = data[old:]
		}
	}
	a.next[dir] += uint32(payloadLen)
	if len(data) > 0 {
		for _, st := range a.streams {
			if !st.done {
				ss.feed(st, p, dir, data, out)
			}
		}
	}
	if len(data) < payloadLen {
		// The snap length cut the segment: the rest was never captured.
		ss.gaps++
		a.gap(dir)
	}
}

func (a *appState) gap(dir int) {
	for _, st := range a.streams {
		if st.done {
			continue
		}
		st.buf[dir] = st.buf[dir][:0]
		st.skip[dir] = 0
		if !st.broken[dir] {
			st.broken[dir] = true
			st.s.Gap(dir == 0)
		}
	}
}

func (ss *streamSet) feed(st *streamState, p *dpi.Packet, dir int, data []byte, out *dpi.Output) {
	st.broken[dir] = false
	if st.skip[dir] > 0 {
		if st.skip[dir] >= uint64(len(data)) {
			st.skip[dir] -= uint64(len(data))
			return
		}
		data = data[st.skip[dir]:]
		st.skip[dir] = 0
	}
	view := data
	if len(st.buf[dir]) > 0 {
		st.buf[dir] = append(st.buf[dir], data...)
		view = st.buf[dir]
	}
	n, err := st.s.Data(p, view, out)
	if err != nil {
		if !errors.Is(err, dpi.ErrStreamDone) {
			ss.errors++
		}
		st.done = true
		st.buf = [2][]byte{}
		return
	}
	switch {
	case n < 0:
		n = 0
	case n >= len(view):
		st.skip[dir] = uint64(n - len(view))
		st.buf[dir] = st.buf[dir][:0]
		return
	}
	rest := view[n:]
	if len(rest) > ss.maxBuffer {
		// The dissector wants more than we keep: treat it as a gap.
		ss.overflows++
		st.buf[dir] = st.buf[dir][:0]
		st.broken[dir] = true
		st.s.Gap(dir == 0)
		return
	}
	if len(st.buf[dir]) > 0 {
		// rest aliases the buffer: move it to the front.
		st.buf[dir] = st.buf[dir][:copy(st.buf[dir], rest)]
	} else {
		st.buf[dir] = append(st.buf[dir][:0], rest...)
	}
}

// end lets every live stream report what only the end tells.
func (a *appState) end(out *dpi.Output) {
	for _, st := range a.streams {
		if !st.done {
			st.s.End(out)
			st.done = true
		}
	}
}

// count adds the counters of out to the flow's.
func (a *appState) count(cs []dpi.Counter) {
	if len(cs) == 0 {
		return
	}
	for _, c := range cs {
		i := 0
		for i < len(a.counters) && a.counters[i].Name != c.Name {
			i++
		}
		if i == len(a.counters) {
			a.counters = append(a.counters, dpi.Counter{Name: c.Name})
		}
		a.counters[i].N += c.N
	}
}

// counterSnapshot copies the counters for an event.
func (a *appState) counterSnapshot() map[string]uint64 {
	if a == nil || len(a.counters) == 0 {
		return nil
	}
	m := make(map[string]uint64, len(a.counters))
	for _, c := range a.counters {
		m[c.Name] = c.N
	}
	return m
}
