package hl7

import "bytes"

// encoding holds a message's delimiters, from MSH-1 and MSH-2. A
// delimiter the message does not define is 0.
type encoding struct {
	field, component, repetition, escape, subcomponent byte
}

// parseEncoding reads MSH-1 (the byte after "MSH") and MSH-2 (up to the
// next field separator). The delimiters must be distinct punctuation.
func parseEncoding(seg []byte) (encoding, bool) {
	var enc encoding
	if len(seg) < 4 || !bytes.HasPrefix(seg, []byte("MSH")) || !isDelimiter(seg[3]) {
		return enc, false
	}
	enc.field = seg[3]
	chars := seg[4:]
	if i := bytes.IndexByte(chars, enc.field); i >= 0 {
		chars = chars[:i]
	}
	// v2.7 adds a fifth character (truncation); more is not MSH-2.
	if len(chars) == 0 || len(chars) > 5 {
		return enc, false
	}
	var used [256]bool
	used[enc.field] = true
	for _, c := range chars {
		if !isDelimiter(c) || used[c] {
			return enc, false
		}
		used[c] = true
	}
	get := func(i int) byte {
		if i < len(chars) {
			return chars[i]
		}
		return 0
	}
	enc.component, enc.repetition, enc.escape, enc.subcomponent = get(0), get(1), get(2), get(3)
	return enc, true
}

// isDelimiter tells whether c can be an HL7 delimiter: printable ASCII
// punctuation.
func isDelimiter(c byte) bool {
	return c > ' ' && c < 0x7f && !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z')
}

// field returns the n-th (0-based) field of b split on sep, or nil.
func field(b []byte, sep byte, n int) []byte {
	for ; n > 0; n-- {
		i := bytes.IndexByte(b, sep)
		if i < 0 {
			return nil
		}
		b = b[i+1:]
	}
	if i := bytes.IndexByte(b, sep); i >= 0 {
		b = b[:i]
	}
	return b
}

// firstRepetition drops the repetitions after the first.
func firstRepetition(f []byte, enc encoding) []byte {
	if enc.repetition == 0 {
		return f
	}
	if i := bytes.IndexByte(f, enc.repetition); i >= 0 {
		return f[:i]
	}
	return f
}

// component returns the n-th (0-based) component of f, up to its first
// subcomponent separator.
func component(f []byte, enc encoding, n int) []byte {
	var c []byte
	if enc.component == 0 {
		if n > 0 {
			return nil
		}
		c = f
	} else {
		c = field(f, enc.component, n)
	}
	if enc.subcomponent != 0 {
		if i := bytes.IndexByte(c, enc.subcomponent); i >= 0 {
			c = c[:i]
		}
	}
	return c
}

// firstComponent returns the first component of the first repetition.
func firstComponent(f []byte, enc encoding) []byte {
	return component(firstRepetition(f, enc), enc, 0)
}

// unescape appends b to dst with HL7 escape sequences (v2 section 2.7)
// decoded: \F\ \S\ \T\ \R\ \E\ become the delimiters they stand for; the
// others (\H\ \N\ highlighting, \Xhh\ hex data, \Zxx\ local, \Cxxyy\
// \Mxxyyzz\ character sets, \.br\ formatting) are dropped, as is an
// unterminated escape.
func unescape(dst, b []byte, enc encoding) []byte {
	if enc.escape == 0 {
		return append(dst, b...)
	}
	for len(b) > 0 {
		i := bytes.IndexByte(b, enc.escape)
		if i < 0 {
			return append(dst, b...)
		}
		dst = append(dst, b[:i]...)
		b = b[i+1:]
		j := bytes.IndexByte(b, enc.escape)
		if j < 0 {
			return dst
		}
		seq := b[:j]
		b = b[j+1:]
		if len(seq) != 1 {
			continue
		}
		var c byte
		switch seq[0] {
		case 'F':
			c = enc.field
		case 'S':
			c = enc.component
		case 'T':
			c = enc.subcomponent
		case 'R':
			c = enc.repetition
		case 'E':
			c = enc.escape
		}
		if c != 0 {
			dst = append(dst, c)
		}
	}
	return dst
}
