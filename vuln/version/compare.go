// Package version compares version strings and evaluates version ranges:
// vers (the package-url VErsion Range Specifier), the CSAF "vers-like"
// form without the vers:<scheme>/ prefix, and the free text that real
// advisories put in CSAF product versions ("<= L81", "4.X | 5.X",
// "9.x model 35700BAX3", "A10 < A11").
//
// One comparator serves every versioning scheme: devices run vendor
// firmware whose version strings follow no ecosystem's rules, so a
// scheme-specific order would be wrong more often than a generic one that
// is documented and predictable. The order is described on Compare.
package version

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kinds of version tokens, in their order: a pre-release marker sorts
// before the end of a version ("1.0rc1" < "1.0"), the end before any
// further word ("1.0" < "1.0a" < "1.0 build 5") and a word before a
// number ("1.0a" < "1.0.1").
const (
	kindPre  = iota // dev, alpha, beta, pre, rc (rank in pre)
	kindEnd         // the end of a version: padding when comparing
	kindWord        // any other letters: vendor build strings, post-release markers
	kindNum         // digits, compared as numbers of any length
)

// token is one unit of a version: a number, a word or a pre-release
// marker.
type token struct {
	kind int8
	pre  int8   // rank of a pre-release marker
	text string // digits without leading zeros, or the lower-case word
}

// preRank ranks pre-release words. Single letters count only after a
// number and glued to the number that follows ("1.2.3b4", "8.0.0-M1"):
// "B.02", "A10" or "1.0.2a" are vendor revisions, not betas.
var preRank = map[string]int8{
	"dev": 0, "snapshot": 0, "nightly": 0,
	"alpha": 1, "a": 1,
	"beta": 2, "b": 2,
	"pre": 3, "preview": 3, "m": 3, "milestone": 3,
	"rc": 4, "c": 4, "cr": 4,
}

// released words say "the release itself" and are dropped: "1.0-final"
// is "1.0".
var released = map[string]bool{"final": true, "ga": true, "release": true, "stable": true}

// Compare orders two version strings and returns -1, 0 or +1. The order
// is total and documented, so that ranges over vendor firmware strings
// mean the same thing every time:
//
//   - Case, surrounding space, a leading "v" before a digit and leading
//     words such as "version", "rev." or "firmware" do not count: "V1.2"
//     = "version 1.2" = "Rev. 1.2" = "1.2".
//   - A version is cut into numbers (runs of digits) and words (runs of
//     letters); every other character only separates them, so "HD 16" =
//     "HD16" and "1_2" = "1.2" = "1-2". Numbers compare as numbers of any
//     length ("1.10" > "1.9", "012U" = "12U").
//   - Trailing zero numbers do not count ("1.0.0" = "1"), nor do zeros
//     just before a pre-release marker ("1.0-rc1" = "1-rc1").
//   - Pre-release markers dev/snapshot < alpha < beta < pre/preview/m <
//     rc sort before the release ("4.2.1-rc1" < "4.2.1"); the single
//     letters a, b, m, c mean alpha, beta, milestone, rc only after a
//     number and glued to a number ("1.2.3b4" is a beta of 1.2.3,
//     "8.0.0-M1" a milestone of 8.0.0; "1.0.2a" and "B.02" are not).
//     "final", "ga", "release" and "stable" are the release itself.
//   - Any other word sorts after the end of a version and before a
//     number, alphabetically among words: "1.0.2" < "1.0.2a" < "1.0.2b"
//     < "1.0.2.1", "22D19" < "22D28", "L80" < "L81", "BT03" < "BT06".
//
// Build metadata after "+" and Debian epochs are not special: "+" and
// ":" are separators like any other.
func Compare(a, b string) int {
	return compareTokens(tokens(a), tokens(b))
}

// Equal tells whether two versions compare equal.
func Equal(a, b string) bool { return Compare(a, b) == 0 }

func compareTokens(x, y []token) int {
	for i := 0; i < len(x) || i < len(y); i++ {
		if c := compareToken(at(x, i), at(y, i)); c != 0 {
			return c
		}
	}
	return 0
}

var endToken = token{kind: kindEnd}

func at(t []token, i int) token {
	if i < len(t) {
		return t[i]
	}
	return endToken
}

func compareToken(a, b token) int {
	if a.kind != b.kind {
		return cmp(int(a.kind), int(b.kind))
	}
	switch a.kind {
	case kindPre:
		if a.pre != b.pre {
			return cmp(int(a.pre), int(b.pre))
		}
		return 0
	case kindNum:
		if len(a.text) != len(b.text) {
			return cmp(len(a.text), len(b.text))
		}
		return strings.Compare(a.text, b.text)
	case kindWord:
		return strings.Compare(a.text, b.text)
	}
	return 0
}

func cmp(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// versionWords are words before a version that are not part of it:
// "Version 1.2", "Rev. N.00.14", "firmware v2".
var versionWords = []string{"version", "ver", "revision", "rev", "firmware", "fw", "software", "sw", "build"}

// normalise lower-cases and trims a version and removes the prefixes that
// do not count.
func normalise(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	for changed := true; changed; {
		changed = false
		for _, p := range versionWords {
			rest, ok := strings.CutPrefix(s, p)
			if !ok || rest == "" || !(isDigit(rest[0]) || rest[0] == ' ' || rest[0] == '.' || rest[0] == ':') {
				continue
			}
			if rest = strings.TrimLeft(rest, " .:"); rest != "" {
				s, changed = rest, true
			}
		}
	}
	if len(s) > 1 && s[0] == 'v' && isDigit(s[1]) {
		s = s[1:]
	}
	return s
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// raw is a token before classification, with whether a separator came
// before it.
type raw struct {
	text  string
	digit bool
	sep   bool // a separator (or the start) precedes it
}

func split(s string) []raw {
	var out []raw
	sep := true
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isDigit(c):
			j := i
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			out = append(out, raw{text: s[i:j], digit: true, sep: sep})
			sep, i = false, j
		case isLetterAt(s, i):
			j := i
			for j < len(s) && isLetterAt(s, j) {
				j += runeLen(s, j)
			}
			out = append(out, raw{text: s[i:j], sep: sep})
			sep, i = false, j
		default:
			sep = true
			i += runeLen(s, i)
		}
	}
	return out
}

func isLetterAt(s string, i int) bool {
	c := s[i]
	if c < 0x80 {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	for _, r := range s[i:] {
		return unicode.IsLetter(r)
	}
	return false
}

func runeLen(s string, i int) int {
	if s[i] < 0x80 {
		return 1
	}
	for j := range s[i:] {
		if j > 0 {
			return j
		}
	}
	return len(s) - i
}

// tokens classifies the parts of a version and drops what does not
// count (see Compare).
func tokens(s string) []token { return dropZeros(classify(s)) }

// classify cuts a version into tokens.
func classify(s string) []token {
	parts := split(normalise(s))
	out := make([]token, 0, len(parts))
	for i, p := range parts {
		if p.digit {
			out = append(out, token{kind: kindNum, text: trimZeros(p.text)})
			continue
		}
		if released[p.text] {
			continue
		}
		if r, ok := preRank[p.text]; ok {
			single := len(p.text) == 1
			between := i > 0 && parts[i-1].digit && i+1 < len(parts) && parts[i+1].digit && !parts[i+1].sep
			if !single || between {
				out = append(out, token{kind: kindPre, pre: r})
				continue
			}
		}
		out = append(out, token{kind: kindWord, text: p.text})
	}
	return out
}

func trimZeros(d string) string {
	d = strings.TrimLeft(d, "0")
	if d == "" {
		return "0"
	}
	return d
}

// dropZeros removes runs of zero numbers that end the version or come
// just before a pre-release marker.
func dropZeros(t []token) []token {
	out := t[:0:0]
	for i := 0; i < len(t); i++ {
		if t[i].kind == kindNum && t[i].text == "0" {
			j := i
			for j < len(t) && t[j].kind == kindNum && t[j].text == "0" {
				j++
			}
			if j == len(t) || t[j].kind == kindPre {
				i = j - 1
				continue
			}
		}
		out = append(out, t[i])
	}
	return out
}

// HasPrefix tells whether version v lies in the branch named by prefix:
// its numbers and words start with those of prefix ("5.2.1" and "5" are
// in "5", written "5.x" in advisories; "50.1" is not). Trailing zeros of
// the prefix count here: "4.0.x" holds "4.0.3" but not "4.1".
func HasPrefix(v, prefix string) bool {
	pv := split(normalise(v))
	pp := split(normalise(prefix))
	if len(pp) > len(pv) {
		return false
	}
	for i := range pp {
		if pp[i].digit != pv[i].digit {
			return false
		}
		if pp[i].digit {
			if trimZeros(pp[i].text) != trimZeros(pv[i].text) {
				return false
			}
		} else if pp[i].text != pv[i].text {
			return false
		}
	}
	return true
}

// Comparable tells whether two versions belong to one version line, so
// that their order means something. Pre-release markers aside, their
// first two parts must be of the same kind (number or word), and a first
// word must be the same word ("L81" and "L82", "BT02" and "BT06") unless
// both are single letters (the revision letters "M.00.03" and "N"). So
// "L82" and "028U000061" are not comparable, nor "2.1" and "028U000061",
// nor "BT02" and "HD16"; "1.0-rc1" and "1.5" are. Compare orders them all
// the same; lenient ranges ignore bounds of another line.
func Comparable(a, b string) bool {
	ta, tb := shape(classify(a)), shape(classify(b))
	if len(ta) == 0 || len(tb) == 0 {
		return true
	}
	for i := 0; i < 2 && i < len(ta) && i < len(tb); i++ {
		if ta[i].kind != tb[i].kind {
			return false
		}
	}
	x, y := ta[0], tb[0]
	return x.kind != kindWord || x.text == y.text ||
		utf8.RuneCountInString(x.text) == 1 && utf8.RuneCountInString(y.text) == 1
}

// shape drops the pre-release markers of a version.
func shape(t []token) []token {
	return slices.DeleteFunc(slices.Clone(t), func(x token) bool { return x.kind == kindPre })
}
