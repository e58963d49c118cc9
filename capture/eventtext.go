package capture

import (
	"encoding/binary"
	"net/netip"
)

// eventText remembers the text of the addresses and histories that flow
// events carry. Most flows of a hospital network share a few gateways,
// servers and histories, and each event needed four address strings and
// a history string, a third of the sensor's allocations. Direct-mapped
// (a slot per hash, the newest wins): bounded memory, no eviction
// bookkeeping, and a miss only costs the allocation it would have made.
// The strings are immutable, so sharing them between events is safe.
type eventText struct {
	ips [textSlots]struct {
		addr netip.Addr
		text string
	}
	macs [textSlots]struct {
		mac  [6]byte
		text string
	}
	// histories is bounded by maxHistories; it is emptied when full.
	histories map[string]string
}

const (
	textBits     = 10
	textSlots    = 1 << textBits
	maxHistories = 4096
)

// slot spreads a 64-bit key over the table (Fibonacci hashing).
func slot(k uint64) int { return int(k * 0x9e3779b97f4a7c15 >> (64 - textBits)) }

// ip returns a.String(), remembered.
func (c *eventText) ip(a netip.Addr) string {
	b := a.As16()
	i := slot(binary.LittleEndian.Uint64(b[:8]) ^ binary.LittleEndian.Uint64(b[8:]) ^ uint64(a.BitLen()))
	e := &c.ips[i]
	if e.text == "" || e.addr != a {
		e.addr, e.text = a, a.String()
	}
	return e.text
}

// mac returns m as net.HardwareAddr.String does (lower-case hex, colons),
// remembered.
func (c *eventText) mac(m [6]byte) string {
	var k [8]byte
	copy(k[:], m[:])
	e := &c.macs[slot(binary.LittleEndian.Uint64(k[:]))]
	if e.text == "" || e.mac != m {
		var b [17]byte
		for j, x := range m {
			if j > 0 {
				b[3*j-1] = ':'
			}
			b[3*j], b[3*j+1] = hexDigit[x>>4], hexDigit[x&0xf]
		}
		e.mac, e.text = m, string(b[:])
	}
	return e.text
}

const hexDigit = "0123456789abcdef"

// history returns string(h), remembered.
func (c *eventText) history(h []byte) string {
	if s, ok := c.histories[string(h)]; ok {
		return s
	}
	if c.histories == nil || len(c.histories) >= maxHistories {
		c.histories = make(map[string]string, 64)
	}
	s := string(h)
	c.histories[s] = s
	return s
}
