package dpi

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxValue bounds attribute values taken from the wire, in bytes.
const MaxValue = 255

// Text turns wire bytes into an attribute value: valid UTF-8 (Latin-1
// bytes are mapped to their code points), printable characters only, runs
// of space collapsed, trimmed, and at most MaxValue bytes. A value can
// therefore never smuggle control characters into logs, CSV exports or
// dashboards.
func Text(b []byte) string {
	if len(b) <= MaxValue && plainText(b) {
		return string(b) // what textSlow gives for it, without a rune loop
	}
	return textSlow(b)
}

// plainText is true for printable ASCII with single spaces between words
// only: text that Text leaves as it is (most of what devices send).
func plainText(b []byte) bool {
	if len(b) > 0 && (b[0] == ' ' || b[len(b)-1] == ' ') {
		return false
	}
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == ' ' && b[i-1] == ' ' {
			return false
		}
	}
	return true
}

func textSlow(b []byte) string {
	var sb strings.Builder
	space := false
	for len(b) > 0 && sb.Len() < MaxValue {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			r, n = rune(b[0]), 1 // Latin-1, as old devices send
		}
		b = b[n:]
		switch {
		case unicode.IsSpace(r):
			space = sb.Len() > 0
			continue
		case !unicode.IsPrint(r):
			continue
		}
		if space {
			sb.WriteByte(' ')
			space = false
		}
		if sb.Len()+utf8.RuneLen(r) > MaxValue {
			break
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// HexColon formats bytes as colon-separated lower-case hex, bounded by
// MaxValue.
func HexColon(b []byte) string {
	const digits = "0123456789abcdef"
	if len(b) > MaxValue/3 {
		b = b[:MaxValue/3]
	}
	out := make([]byte, 0, len(b)*3)
	for i, c := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, digits[c>>4], digits[c&0x0f])
	}
	return string(out)
}
