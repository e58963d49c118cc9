package dpi

import "hash/maphash"

// Recent remembers which facts were reported about which sender, so that
// a datagram dissector seeing the same announcement or query all day
// reports each fact once an hour of capture time. Facts are kept as 64-bit
// hashes, so a repeated fact costs no allocation; the record is cleared
// when it holds max facts. A Recent belongs to one dissector instance (one
// capture worker).
type Recent struct {
	seed maphash.Seed
	max  int
	m    map[uint64]int64
}

// RecentAfter is how long (capture time) a reported fact stays quiet.
const RecentAfter = int64(3600e9)

// NewRecent returns a record of at most max facts.
func NewRecent(max int) *Recent {
	return &Recent{seed: maphash.MakeSeed(), max: max, m: make(map[uint64]int64)}
}

// Fresh reports whether the fact attr=value about the sender of p was not
// reported within the last hour of capture time, and records it. value is
// the fact in any stable byte form (before Text).
func (r *Recent) Fresh(p *Packet, attr string, value ...[]byte) bool {
	var h maphash.Hash
	h.SetSeed(r.seed)
	if p.HasMAC {
		h.Write(p.SrcMAC[:])
	}
	a := p.Src.As16()
	h.Write(a[:])
	h.WriteByte(byte(p.VLAN >> 8))
	h.WriteByte(byte(p.VLAN))
	h.WriteString(attr)
	for _, v := range value {
		h.WriteByte(0)
		h.Write(v)
	}
	k := h.Sum64()
	now := p.Time.UnixNano()
	if at, ok := r.m[k]; ok && now-at < RecentAfter && now >= at {
		return false
	}
	if len(r.m) >= r.max {
		clear(r.m)
	}
	r.m[k] = now
	return true
}
