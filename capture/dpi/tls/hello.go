package tls

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// Extension types read from hellos (IANA TLS ExtensionType registry).
const (
	extServerName        = 0x0000
	extSignatureAlgs     = 0x000d
	extALPN              = 0x0010
	extSupportedVersions = 0x002b
)

// reader reads the big-endian integers and length-prefixed vectors of TLS
// presentation language, returning false past the end.
type reader []byte

func (r *reader) bytes(n int) ([]byte, bool) {
	if n < 0 || len(*r) < n {
		return nil, false
	}
	b := (*r)[:n:n]
	*r = (*r)[n:]
	return b, true
}

func (r *reader) u8() (byte, bool) {
	b, ok := r.bytes(1)
	if !ok {
		return 0, false
	}
	return b[0], true
}

func (r *reader) u16() (uint16, bool) {
	b, ok := r.bytes(2)
	if !ok {
		return 0, false
	}
	return binary.BigEndian.Uint16(b), true
}

func (r *reader) vec8() (reader, bool) {
	n, ok := r.u8()
	if !ok {
		return nil, false
	}
	b, ok := r.bytes(int(n))
	return reader(b), ok
}

func (r *reader) vec16() (reader, bool) {
	n, ok := r.u16()
	if !ok {
		return nil, false
	}
	b, ok := r.bytes(int(n))
	return reader(b), ok
}

func (r *reader) vec24() (reader, bool) {
	h, ok := r.bytes(3)
	if !ok {
		return nil, false
	}
	b, ok := r.bytes(int(h[0])<<16 | int(h[1])<<8 | int(h[2]))
	return reader(b), ok
}

// isGREASE tells whether v is one of the reserved GREASE values (RFC 8701):
// 0x0a0a, 0x1a1a ... 0xfafa.
func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// clientHello holds what is read from a ClientHello. Slices point into
// the message.
type clientHello struct {
	legacyVersion uint16
	// ciphers and extensions are in wire order, GREASE removed.
	ciphers    []uint16
	extensions []uint16
	sni        []byte
	hasSNI     bool
	// alpn is the first ALPN protocol name, if any.
	alpn        []byte
	sigAlgs     []uint16
	versions    []uint16 // supported_versions, GREASE removed
	hasVersions bool
}

// parse reads a ClientHello body (RFC 8446 4.1.2, RFC 5246 7.4.1.2).
func (ch *clientHello) parse(msg []byte) bool {
	r := reader(msg)
	var ok bool
	if ch.legacyVersion, ok = r.u16(); !ok {
		return false
	}
	if _, ok = r.bytes(32); !ok { // random
		return false
	}
	if _, ok = r.vec8(); !ok { // legacy_session_id
		return false
	}
	suites, ok := r.vec16()
	if !ok || len(suites)%2 != 0 {
		return false
	}
	for len(suites) > 0 {
		c, _ := suites.u16()
		if !isGREASE(c) {
			ch.ciphers = append(ch.ciphers, c)
		}
	}
	if _, ok = r.vec8(); !ok { // legacy_compression_methods
		return false
	}
	if len(r) == 0 {
		return true // no extensions (SSL 3.0 and early TLS clients)
	}
	exts, ok := r.vec16()
	if !ok {
		return false
	}
	for len(exts) > 0 {
		typ, ok1 := exts.u16()
		body, ok2 := exts.vec16()
		if !ok1 || !ok2 {
			return false
		}
		if isGREASE(typ) {
			continue
		}
		ch.extensions = append(ch.extensions, typ)
		switch typ {
		case extServerName:
			ch.hasSNI = true
			ch.sni = firstHostName(body)
		case extALPN:
			if list, ok := body.vec16(); ok {
				if name, ok := list.vec8(); ok {
					ch.alpn = name
				}
			}
		case extSignatureAlgs:
			if list, ok := body.vec16(); ok {
				for len(list) >= 2 {
					v, _ := list.u16()
					if !isGREASE(v) {
						ch.sigAlgs = append(ch.sigAlgs, v)
					}
				}
			}
		case extSupportedVersions:
			ch.hasVersions = true
			if list, ok := body.vec8(); ok {
				for len(list) >= 2 {
					v, _ := list.u16()
					if !isGREASE(v) {
						ch.versions = append(ch.versions, v)
					}
				}
			}
		}
	}
	return true
}

// firstHostName returns the first host_name entry of a server_name
// extension (RFC 6066 3).
func firstHostName(body reader) []byte {
	list, ok := body.vec16()
	if !ok {
		return nil
	}
	for len(list) > 0 {
		typ, ok1 := list.u8()
		name, ok2 := list.vec16()
		if !ok1 || !ok2 {
			return nil
		}
		if typ == 0 {
			return name
		}
	}
	return nil
}

// highestVersion is the highest version offered: the largest of
// supported_versions when the client sent it, else legacy_version.
func (ch *clientHello) highestVersion() uint16 {
	if !ch.hasVersions {
		return ch.legacyVersion
	}
	var v uint16
	for _, x := range ch.versions {
		// Compare TLS versions only: DTLS counts down and drafts are 0x7fxx.
		if x <= 0x0304 && x > v {
			v = x
		}
	}
	return v
}

// ja4 computes the JA4 fingerprint of the hello per the FoxIO
// specification (technical_details/JA4.md of FoxIO-LLC/ja4): GREASE
// values ignored everywhere, "t" for TLS over TCP.
func (ch *clientHello) ja4() string {
	var b strings.Builder
	b.Grow(36)
	b.WriteByte('t')
	b.WriteString(ja4Version(ch.ja4RawVersion()))
	if ch.hasSNI {
		b.WriteByte('d')
	} else {
		b.WriteByte('i')
	}
	b.WriteString(count2(len(ch.ciphers)))
	b.WriteString(count2(len(ch.extensions)))
	b.WriteString(ja4ALPN(ch.alpn))
	b.WriteByte('_')

	ciphers := slices.Clone(ch.ciphers)
	slices.Sort(ciphers)
	b.WriteString(hash12(hexList(ciphers), len(ciphers) == 0))
	b.WriteByte('_')

	exts := make([]uint16, 0, len(ch.extensions))
	for _, e := range ch.extensions {
		if e != extServerName && e != extALPN {
			exts = append(exts, e)
		}
	}
	slices.Sort(exts)
	s := hexList(exts)
	if len(ch.sigAlgs) > 0 {
		s += "_" + hexList(ch.sigAlgs)
	}
	b.WriteString(hash12(s, len(exts) == 0))
	return b.String()
}

// ja4RawVersion is the version JA4 reads: the highest supported_versions
// value when the extension is present, else legacy_version.
func (ch *clientHello) ja4RawVersion() uint16 {
	if !ch.hasVersions {
		return ch.legacyVersion
	}
	return slices.Max(append([]uint16{0}, ch.versions...))
}

func ja4Version(v uint16) string {
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

// count2 formats a count as two digits, capped at 99.
func count2(n int) string {
	n = min(n, 99)
	return string([]byte{byte('0' + n/10), byte('0' + n%10)})
}

// ja4ALPN is the first and last character of the first ALPN value, "00"
// without one, and the first and last hex digit of the value when either
// end is not alphanumeric.
func ja4ALPN(v []byte) string {
	if len(v) == 0 {
		return "00"
	}
	first, last := v[0], v[len(v)-1]
	if isAlnum(first) && isAlnum(last) {
		return string([]byte{first, last})
	}
	const digits = "0123456789abcdef"
	return string([]byte{digits[first>>4], digits[last&0x0f]})
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// hexList formats values as comma-separated 4-digit lower-case hex.
func hexList(vs []uint16) string {
	var b strings.Builder
	b.Grow(len(vs) * 5)
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		s := strconv.FormatUint(uint64(v), 16)
		b.WriteString("0000"[len(s):])
		b.WriteString(s)
	}
	return b.String()
}

// hash12 is the first 12 hex digits of the SHA-256 of s, or twelve zeros
// when the list it hashes is empty.
func hash12(s string, empty bool) string {
	if empty {
		return "000000000000"
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
