package capture

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// DefragConfig bounds IP reassembly.
type DefragConfig struct {
	// MaxDatagrams is how many datagrams may be in reassembly at once;
	// Timeout how long (packet time) a datagram may wait for its missing
	// fragments (Linux's ipfrag_time is 30s).
	MaxDatagrams int
	Timeout      time.Duration
}

// DefragStats counts what reassembly did.
type DefragStats struct {
	Fragments, Reassembled uint64
	// Dropped counts datagrams given up: timed out, too large, evicted
	// because the table was full, or with inconsistent fragments.
	Dropped uint64
}

// fragKey identifies a datagram in reassembly (RFC 791: source,
// destination, protocol and identification; RFC 8200 for IPv6).
type fragKey struct {
	vlan     uint16
	src, dst netip.Addr
	id       uint32
	proto    uint8
}

type datagram struct {
	first      time.Time
	data       []byte // payload bytes at their offsets
	have       []span // received ranges, sorted and merged
	total      int    // payload length, -1 until the last fragment came
	hdr        []byte // IPv4 header of the first fragment (offset 0)
	v6         bool
	prev, next *datagram
	key        fragKey
}

type span struct{ from, to int }

// maxDatagram is the largest IP payload: 65535 minus the smallest header.
const maxDatagram = 65535

// defragmenter reassembles IPv4 and IPv6 fragments. Overlapping fragments
// keep the first bytes received (the BSD/Linux policy differs per system;
// first-wins is the conservative choice, and an overlap is counted). It
// is bounded in datagrams and bytes and works on packet time only.
type defragmenter struct {
	cfg     DefragConfig
	pending map[fragKey]*datagram
	head    *datagram // oldest first
	tail    *datagram
	out     []byte
	stats   DefragStats
}

func newDefragmenter(cfg DefragConfig) *defragmenter {
	return &defragmenter{cfg: cfg, pending: map[fragKey]*datagram{}, out: make([]byte, 0, 40+maxDatagram)}
}

// add takes one fragment. When it completes a datagram, add returns the
// whole IP packet (header and payload, valid until the next call) to be
// decoded as raw IP; otherwise nil.
func (f *defragmenter) add(d *Decoded) []byte {
	f.stats.Fragments++
	f.expire(d.Time)
	k := fragKey{vlan: d.VLAN, src: d.Src, dst: d.Dst, id: d.FragID, proto: d.Protocol}
	g := f.pending[k]
	if g == nil {
		if len(f.pending) >= f.cfg.MaxDatagrams && f.head != nil {
			f.drop(f.head)
		}
		g = &datagram{first: d.Time, total: -1, v6: d.IPVersion == 6, key: k}
		f.pending[k] = g
		f.pushBack(g)
	}
	n := d.FragDataLength
	if len(d.FragData) < n {
		n = len(d.FragData) // snap length: the rest is missing and stays a hole
	}
	end := d.FragOffset + d.FragDataLength
	if end > maxDatagram || n < 0 {
		f.drop(g)
		return nil
	}
	if !d.FragMore {
		if g.total >= 0 && g.total != end {
			f.drop(g) // two different "last" fragments
			return nil
		}
		g.total = end
	}
	if d.FragOffset == 0 && d.IPVersion == 4 {
		g.hdr = append(g.hdr[:0], d.IPHeader...)
	}
	if need := d.FragOffset + n; need > len(g.data) {
		g.data = append(g.data, make([]byte, need-len(g.data))...)
	}
	g.write(d.FragOffset, d.FragData[:n])
	if g.total < 0 || !g.complete() || (!g.v6 && g.hdr == nil) {
		return nil
	}
	pkt := f.assemble(g, d)
	f.remove(g)
	f.stats.Reassembled++
	return pkt
}

// write copies b at off into the holes of g only: bytes already received
// are kept.
func (g *datagram) write(off int, b []byte) {
	pos := off
	end := off + len(b)
	for _, s := range g.have {
		if s.to <= pos {
			continue
		}
		if s.from >= end {
			break
		}
		if s.from > pos {
			copy(g.data[pos:s.from], b[pos-off:s.from-off])
		}
		pos = max(pos, s.to)
	}
	if pos < end {
		copy(g.data[pos:end], b[pos-off:])
	}
	g.addSpan(span{off, end})
}

func (g *datagram) addSpan(n span) {
	if n.from >= n.to {
		return
	}
	out := g.have[:0:0]
	placed := false
	for _, s := range g.have {
		switch {
		case s.to < n.from:
			out = append(out, s)
		case n.to < s.from:
			if !placed {
				out = append(out, n)
				placed = true
			}
			out = append(out, s)
		default:
			n = span{min(n.from, s.from), max(n.to, s.to)}
		}
	}
	if !placed {
		out = append(out, n)
	}
	g.have = out
}

func (g *datagram) complete() bool {
	return len(g.have) == 1 && g.have[0].from == 0 && g.have[0].to >= g.total && len(g.data) >= g.total
}

// assemble builds the reassembled IP packet: the first fragment's IPv4
// header with the length fixed and fragmentation cleared, or a plain IPv6
// header whose next header is the fragment's.
func (f *defragmenter) assemble(g *datagram, d *Decoded) []byte {
	out := f.out[:0]
	if g.v6 {
		var h [40]byte
		h[0] = 6 << 4
		binary.BigEndian.PutUint16(h[4:6], uint16(g.total))
		h[6] = g.key.proto
		h[7] = 64
		s, t := g.key.src.As16(), g.key.dst.As16()
		copy(h[8:24], s[:])
		copy(h[24:40], t[:])
		out = append(out, h[:]...)
	} else {
		out = append(out, g.hdr...)
		binary.BigEndian.PutUint16(out[2:4], uint16(len(g.hdr)+g.total))
		out[6], out[7] = 0, 0 // flags and fragment offset
	}
	out = append(out, g.data[:g.total]...)
	f.out = out
	return out
}

// expire drops datagrams older than the timeout.
func (f *defragmenter) expire(now time.Time) {
	for f.head != nil && now.Sub(f.head.first) > f.cfg.Timeout {
		f.drop(f.head)
	}
}

func (f *defragmenter) drop(g *datagram) {
	f.stats.Dropped++
	f.remove(g)
}

func (f *defragmenter) remove(g *datagram) {
	delete(f.pending, g.key)
	if g.prev != nil {
		g.prev.next = g.next
	} else {
		f.head = g.next
	}
	if g.next != nil {
		g.next.prev = g.prev
	} else {
		f.tail = g.prev
	}
	g.prev, g.next = nil, nil
}

func (f *defragmenter) pushBack(g *datagram) {
	g.prev = f.tail
	if f.tail != nil {
		f.tail.next = g
	} else {
		f.head = g
	}
	f.tail = g
}
