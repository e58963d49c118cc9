package ssdp

import (
	"hash/maphash"

	"github.com/vigil-health/vigil/capture/dpi"
)

// recent remembers which facts were reported about which sender, so that a
// device repeating its NOTIFYs every few minutes, for each of its device
// and service types, reports each fact once an hour. Facts are kept as
// 64-bit hashes, so a repeated fact costs no allocation; the record is
// cleared when it holds too many.
type recent struct {
	seed maphash.Seed
	m    map[uint64]int64
}

const (
	recentMax   = 8192
	recentAfter = int64(3600e9) // an hour, in nanoseconds
)

func newRecent() recent { return recent{seed: maphash.MakeSeed(), m: make(map[uint64]int64)} }

// fresh reports whether the fact attr=value about the sender of p was
// not reported within the last hour of capture time, and records it.
// value is the fact in any stable byte form (before dpi.Text).
func (r *recent) fresh(p *dpi.Packet, attr string, value ...[]byte) bool {
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
	if at, ok := r.m[k]; ok && now-at < recentAfter && now >= at {
		return false
	}
	if len(r.m) >= recentMax {
		clear(r.m)
	}
	r.m[k] = now
	return true
}
