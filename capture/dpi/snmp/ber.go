package snmp

import (
	"errors"
	"strconv"
)

// BER tags used by SNMP (RFC 3416, RFC 3412).
const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagOID         = 0x06
	tagSequence    = 0x30
)

// Errors of the BER reader.
var (
	errBERShort  = errors.New("snmp: BER element runs past the message")
	errBERLength = errors.New("snmp: unsupported BER length form")
	errBERTag    = errors.New("snmp: unexpected BER tag")
	errBERInt    = errors.New("snmp: BER integer too long")
)

// next reads one BER element of b: its tag, contents and what follows.
// Only the definite length forms of at most four length octets are
// accepted (SNMP messages are far shorter), and single-octet tags.
func next(b []byte) (tag byte, val, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, errBERShort
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, errBERTag // high tag numbers: not SNMP
	}
	n, hdr := int(b[1]), 2
	if n >= 0x80 {
		k := n & 0x7f
		if k == 0 || k > 4 {
			return 0, nil, nil, errBERLength
		}
		if len(b) < 2+k {
			return 0, nil, nil, errBERShort
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		hdr += k
	}
	if n < 0 || n > len(b)-hdr {
		return 0, nil, nil, errBERShort
	}
	return tag, b[hdr : hdr+n], b[hdr+n:], nil
}

// expect reads one element that must have the given tag.
func expect(b []byte, want byte) (val, rest []byte, err error) {
	tag, val, rest, err := next(b)
	if err != nil {
		return nil, nil, err
	}
	if tag != want {
		return nil, nil, errBERTag
	}
	return val, rest, nil
}

// integer reads an INTEGER of at most 8 octets.
func integer(b []byte) (v int64, rest []byte, err error) {
	val, rest, err := expect(b, tagInteger)
	if err != nil {
		return 0, nil, err
	}
	if len(val) == 0 || len(val) > 8 {
		return 0, nil, errBERInt
	}
	v = int64(int8(val[0])) // sign extension
	for _, c := range val[1:] {
		v = v<<8 | int64(c)
	}
	return v, rest, nil
}

// maxArcs bounds the OIDs formatted; real ones have a few dozen arcs.
const maxArcs = 128

// formatOID formats the contents of an OBJECT IDENTIFIER in dotted
// decimal ("1.3.6.1.4.1.9.1.516"). It returns "" for malformed encodings
// (an arc over 64 bits, a dangling continuation octet, too many arcs).
func formatOID(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	out := make([]byte, 0, 64)
	var arc uint64
	arcs := 0
	for i, c := range b {
		if arc > 1<<57-1 {
			return "" // the next shift would overflow
		}
		arc = arc<<7 | uint64(c&0x7f)
		if c&0x80 != 0 {
			if i == len(b)-1 {
				return ""
			}
			continue
		}
		if arcs == 0 {
			// The first subidentifier packs the first two arcs.
			first := min(arc/40, 2)
			out = strconv.AppendUint(out, first, 10)
			out = append(out, '.')
			out = strconv.AppendUint(out, arc-first*40, 10)
			arcs = 2
		} else {
			out = append(out, '.')
			out = strconv.AppendUint(out, arc, 10)
			arcs++
		}
		if arcs > maxArcs {
			return ""
		}
		arc = 0
	}
	return string(out)
}
