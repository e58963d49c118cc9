package capture

import (
	"testing"

	"github.com/vigil-health/vigil/capture/dpi"
)

// script is a stream that records what it is offered and consumes per a
// plan: consume[i] is the count returned for the i-th call (-1: all).
type script struct {
	consume []int
	calls   []string
	gaps    int
	ended   bool
}

func (s *script) Data(p *dpi.Packet, data []byte, out *dpi.Output) (int, error) {
	s.calls = append(s.calls, string(data))
	i := len(s.calls) - 1
	if i < len(s.consume) && s.consume[i] >= 0 {
		return s.consume[i], nil
	}
	return len(data), nil
}
func (s *script) Gap(bool)        { s.gaps++ }
func (s *script) End(*dpi.Output) { s.ended = true }

func TestStreamSegments(t *testing.T) {
	type seg struct {
		seq  uint32
		data string
		wire int // payload length on the wire; 0 means len(data)
	}
	cases := []struct {
		name    string
		consume []int
		segs    []seg
		calls   []string
		gaps    int
	}{
		{name: "in order", segs: []seg{{100, "abc", 0}, {103, "def", 0}}, calls: []string{"abc", "def"}},
		{name: "retransmission dropped", segs: []seg{{100, "abc", 0}, {100, "abc", 0}, {103, "d", 0}}, calls: []string{"abc", "d"}},
		{name: "overlap trimmed", segs: []seg{{100, "abc", 0}, {101, "bcde", 0}}, calls: []string{"abc", "de"}},
		{name: "gap reported", segs: []seg{{100, "abc", 0}, {110, "xyz", 0}}, calls: []string{"abc", "xyz"}, gaps: 1},
		{name: "remainder offered again", consume: []int{1, 2}, segs: []seg{{100, "abc", 0}, {103, "de", 0}}, calls: []string{"abc", "bcde"}},
		{name: "skip beyond data", consume: []int{5}, segs: []seg{{100, "abc", 0}, {103, "defg", 0}}, calls: []string{"abc", "fg"}},
		{name: "snap length cut is a gap", segs: []seg{{100, "ab", 5}, {105, "fg", 0}}, calls: []string{"ab", "fg"}, gaps: 1},
		{name: "gap drops the remainder", consume: []int{1}, segs: []seg{{100, "abc", 0}, {200, "xy", 0}}, calls: []string{"abc", "xy"}, gaps: 1},
		{name: "sequence wraps", segs: []seg{{0xfffffffe, "abc", 0}, {1, "de", 0}}, calls: []string{"abc", "de"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc := &script{consume: c.consume}
			a := &appState{streams: []*streamState{{name: "script", s: sc}}}
			ss := &streamSet{maxBuffer: 1024}
			var out dpi.Output
			for _, g := range c.segs {
				wire := g.wire
				if wire == 0 {
					wire = len(g.data)
				}
				p := &dpi.Packet{FromOrig: true, Payload: []byte(g.data)}
				ss.segment(a, p, 0, g.seq, wire, &out)
			}
			if len(sc.calls) != len(c.calls) {
				t.Fatalf("calls %q, want %q", sc.calls, c.calls)
			}
			for i := range sc.calls {
				if sc.calls[i] != c.calls[i] {
					t.Errorf("call %d got %q, want %q", i, sc.calls[i], c.calls[i])
				}
			}
			if sc.gaps != c.gaps {
				t.Errorf("gaps %d, want %d", sc.gaps, c.gaps)
			}
		})
	}
}

func TestStreamOverflowIsAGap(t *testing.T) {
	sc := &script{consume: []int{0, 0, 0}}
	a := &appState{streams: []*streamState{{name: "script", s: sc}}}
	ss := &streamSet{maxBuffer: 4}
	var out dpi.Output
	ss.segment(a, &dpi.Packet{FromOrig: true, Payload: []byte("abcdef")}, 0, 1, 6, &out)
	if sc.gaps != 1 || ss.overflows != 1 {
		t.Fatalf("gaps %d overflows %d, want 1 and 1", sc.gaps, ss.overflows)
	}
	ss.segment(a, &dpi.Packet{FromOrig: true, Payload: []byte("gh")}, 0, 7, 2, &out)
	if sc.calls[1] != "gh" {
		t.Errorf("after the overflow got %q, want only the new bytes", sc.calls[1])
	}
}
