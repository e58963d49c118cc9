package oui

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

//go:embed registry.tsv.gz
var registryGz []byte

//go:embed aliases.tsv
var aliasesTSV string

// Entry is the registration that covers a MAC address.
type Entry struct {
	// Prefix is the assigned block in upper-case hex without separators,
	// as the IEEE writes it: 6 digits (MA-L), 7 (MA-M) or 9 (MA-S, IAB).
	Prefix string
	// Bits is the prefix length: 24, 28 or 36.
	Bits int
	// Organization is the registered name, white space collapsed.
	Organization string
	// Vendor is the canonical vendor from the alias table (the current
	// owner where the table says so: "BD (Alaris)"), or else the
	// organisation without its legal form ("Huawei Technologies").
	Vendor string
	// Medical says the alias table knows the vendor as a maker of medical
	// devices (patient care, imaging, laboratory diagnostics). It is a
	// hint for classification, not a verdict: a conglomerate's generic
	// blocks are not marked, and a medical device built around a radio
	// module often carries the module maker's prefix.
	Medical bool
}

// Registry answers MAC vendor lookups. It is immutable once built, so
// safe for concurrent use.
type Registry struct {
	// One level per prefix length, searched longest first.
	l36    level[uint64]
	l28    level[uint32]
	l24    level[uint32]
	names  string // every organisation name, concatenated
	orgs   []org
	alias  *aliases
	source string
}

// level holds the blocks of one prefix length: their values sorted for
// binary search, their upper-case hex in one string (Entry.Prefix values
// are slices of it) and their organisations.
type level[K uint32 | uint64] struct {
	keys []K
	hex  string
	org  []uint32
}

// org is one distinct organisation name: names[off:off+n].
type org struct {
	off    uint32
	n      uint16
	trim   uint16 // length of the trimmed name, the vendor when alias is 0
	alias  uint16 // index in alias.vendors, 0 if none
	hidden bool   // "Private" or "IEEE Registration Authority": no vendor
}

// Default returns the registry built from the embedded data file and
// alias table. The data is parsed on the first call (some 60 ms on one
// core) and shared afterwards.
func Default() *Registry { return defaultRegistry() }

var defaultRegistry = sync.OnceValue(func() *Registry {
	r, err := load(registryGz, aliasesTSV)
	if err != nil {
		// The embedded files are tested: this is a build defect.
		panic("oui: embedded registry: " + err.Error())
	}
	return r
})

// load builds a registry from a gzipped data file and an alias table.
func load(gz []byte, aliasText string) (*Registry, error) {
	al, err := parseAliases(aliasText)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("read registry: %w", err)
	}
	defer zr.Close()
	return parse(zr, al)
}

// parse reads the uncompressed data file: '#' header lines, then rows of
// prefix, bits, organisation and source, sorted by prefix.
func parse(rd io.Reader, al *aliases) (*Registry, error) {
	r := &Registry{alias: al}
	var hexes [3]strings.Builder // 36, 28, 24
	var levelOrgs [3][]uint32
	var keys [3][]uint64
	var names strings.Builder
	orgIndex := map[string]uint32{}
	var sources []string
	last := [3]string{}

	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			if strings.HasPrefix(line, "# ieee-data ") || strings.HasPrefix(line, "# libwireshark-data ") {
				sources = append(sources, strings.TrimPrefix(line, "# "))
			}
			continue
		}
		prefix, rest, _ := strings.Cut(line, "\t")
		bitsText, rest, _ := strings.Cut(rest, "\t")
		name, source, ok := strings.Cut(rest, "\t")
		if !ok || strings.Contains(source, "\t") {
			return nil, fmt.Errorf("registry line %d: want 4 fields", n)
		}
		bits, err := strconv.Atoi(bitsText)
		if err != nil || len(prefix)*4 != bits || !isUpperHex(prefix) || name == "" {
			return nil, fmt.Errorf("registry line %d: bad row %q", n, line)
		}
		var li int
		switch bits {
		case 36:
			li = 0
		case 28:
			li = 1
		case 24:
			li = 2
		default:
			return nil, fmt.Errorf("registry line %d: %d bits", n, bits)
		}
		if prefix <= last[li] {
			return nil, fmt.Errorf("registry line %d: %s out of order", n, prefix)
		}
		last[li] = prefix
		o, ok := orgIndex[name]
		if !ok {
			if len(name) > 0xFFFF {
				return nil, fmt.Errorf("registry line %d: organisation too long", n)
			}
			o = uint32(len(r.orgs))
			orgIndex[name] = o
			r.orgs = append(r.orgs, org{off: uint32(names.Len()), n: uint16(len(name))})
			names.WriteString(name)
		}
		key, _ := strconv.ParseUint(prefix, 16, 64)
		hexes[li].WriteString(prefix)
		levelOrgs[li] = append(levelOrgs[li], o)
		keys[li] = append(keys[li], key)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read registry: %w", err)
	}
	r.names = names.String()
	r.l36 = level[uint64]{keys: clip(keys[0]), hex: hexes[0].String(), org: clip(levelOrgs[0])}
	r.l28 = level[uint32]{keys: narrow(keys[1]), hex: hexes[1].String(), org: clip(levelOrgs[1])}
	r.l24 = level[uint32]{keys: narrow(keys[2]), hex: hexes[2].String(), org: clip(levelOrgs[2])}
	r.orgs = clip(r.orgs)
	for i := range r.orgs {
		o := &r.orgs[i]
		name := r.names[o.off : o.off+uint32(o.n)]
		o.hidden = strings.EqualFold(name, "Private") || strings.EqualFold(name, "IEEE Registration Authority")
		o.trim = uint16(trimVendor(name))
		o.alias = uint16(al.match(normalize(name)))
	}
	r.source = strings.Join(sources, "; ")
	return r, nil
}

func clip[S ~[]E, E any](s S) S { return append(S(nil), s...) }

func narrow(s []uint64) []uint32 {
	out := make([]uint32, len(s))
	for i, v := range s {
		out[i] = uint32(v)
	}
	return out
}

func isUpperHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}

// Lookup returns the registration covering a MAC address written
// "aa:bb:cc:dd:ee:ff", "AA-BB-CC-DD-EE-FF", "aabb.ccdd.eeff" or
// "aabbccddeeff", the most specific first (MA-S /36, then MA-M /28, then
// MA-L /24). It returns false for a malformed address, for locally
// administered and group (multicast, broadcast) addresses, whose first
// octets name no manufacturer, for blocks registered as "Private" (the
// IEEE publishes no owner) and for blocks the IEEE Registration Authority
// holds for MA-M and MA-S assignments that are not in the data. It does
// not allocate.
func (r *Registry) Lookup(mac string) (Entry, bool) {
	v, ok := parseMAC(mac)
	if !ok {
		return Entry{}, false
	}
	return r.lookup(v)
}

// LookupHW is Lookup for a 6-byte hardware address.
func (r *Registry) LookupHW(hw net.HardwareAddr) (Entry, bool) {
	if len(hw) != 6 {
		return Entry{}, false
	}
	var v uint64
	for _, b := range hw {
		v = v<<8 | uint64(b)
	}
	return r.lookup(v)
}

// Vendor returns the vendor of a MAC address (Entry.Vendor), in the shape
// of inventory.VendorLookup.
func (r *Registry) Vendor(mac string) (string, bool) {
	e, ok := r.Lookup(mac)
	return e.Vendor, ok
}

// lookup finds the block of a 48-bit MAC address.
func (r *Registry) lookup(mac uint64) (Entry, bool) {
	if mac>>40&0x03 != 0 { // group bit or locally administered bit
		return Entry{}, false
	}
	if i, ok := search(r.l36.keys, mac>>12); ok {
		return r.entry(r.l36.org[i], r.l36.hex[i*9:i*9+9], 36)
	}
	if i, ok := search(r.l28.keys, uint32(mac>>20)); ok {
		return r.entry(r.l28.org[i], r.l28.hex[i*7:i*7+7], 28)
	}
	if i, ok := search(r.l24.keys, uint32(mac>>24)); ok {
		return r.entry(r.l24.org[i], r.l24.hex[i*6:i*6+6], 24)
	}
	return Entry{}, false
}

func (r *Registry) entry(oi uint32, prefix string, bits int) (Entry, bool) {
	o := &r.orgs[oi]
	if o.hidden {
		return Entry{}, false
	}
	e := Entry{Prefix: prefix, Bits: bits, Organization: r.names[o.off : o.off+uint32(o.n)]}
	if o.alias != 0 {
		v := &r.alias.vendors[o.alias]
		e.Vendor, e.Medical = v.name, v.medical
	} else {
		e.Vendor = e.Organization[:o.trim]
	}
	return e, true
}

// search finds k in sorted keys.
func search[K uint32 | uint64](keys []K, k K) (int, bool) {
	lo, hi := 0, len(keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if keys[m] < k {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(keys) && keys[lo] == k
}

// Canonical maps any vendor or organisation name (from the registry, an
// asset register, a DHCP vendor class) through the alias table: the
// canonical vendor and its medical flag, false if no rule matches.
func (r *Registry) Canonical(name string) (vendor string, medical bool, ok bool) {
	if v := r.alias.match(normalize(name)); v != 0 {
		return r.alias.vendors[v].name, r.alias.vendors[v].medical, true
	}
	return "", false, false
}

// Len returns the number of registered blocks, "Private" ones included.
func (r *Registry) Len() int {
	return len(r.l36.org) + len(r.l28.org) + len(r.l24.org)
}

// Source names the ieee-data (and Wireshark manuf) versions the data came
// from, as the data file's header states them.
func (r *Registry) Source() string { return r.source }

// Size returns the bytes the registry holds: prefixes, organisation
// names and indexes, and the alias table's vendors (its rule maps and
// regexes excluded).
func (r *Registry) Size() int {
	n := int(unsafe.Sizeof(*r)) + len(r.names) + len(r.orgs)*int(unsafe.Sizeof(org{}))
	n += len(r.l36.hex) + 4*len(r.l36.org) + 8*len(r.l36.keys)
	n += len(r.l28.hex) + 4*len(r.l28.org) + 4*len(r.l28.keys)
	n += len(r.l24.hex) + 4*len(r.l24.org) + 4*len(r.l24.keys)
	for _, v := range r.alias.vendors {
		n += int(unsafe.Sizeof(v)) + len(v.name)
	}
	return n
}
