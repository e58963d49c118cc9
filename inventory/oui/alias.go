package oui

import (
	"bufio"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Alias rule kinds, the first column of aliases.tsv. Every pattern but a
// regex is compared with names after normalisation (see normalize), so
// "B.Braun Melsungen AG" and "B. BRAUN melsungen ag" are the same text.
const (
	kindExact  = "exact"  // the whole normalised name
	kindPrefix = "prefix" // leading whole words of the normalised name
	kindWord   = "word"   // whole words anywhere in the normalised name
	kindRegex  = "regex"  // RE2 on the normalised name
)

// vendor is a canonical vendor of the alias table.
type vendor struct {
	name    string
	medical bool
}

// aliases maps organisation names to canonical vendors. Precedence: an
// exact rule; then regex rules in file order; then the longest matching
// prefix or word phrase (a prefix rule over a word rule of the same
// length).
type aliases struct {
	vendors  []vendor       // index 0 unused: 0 means "no alias"
	exact    map[string]int // normalised name -> vendor
	phrases  map[string]phrase
	maxWords int
	regexes  []aliasRegex
}

type phrase struct {
	prefix int // vendor when the phrase leads the name, 0 if none
	word   int // vendor when the phrase is anywhere
}

type aliasRegex struct {
	re     *regexp.Regexp
	lit    string // literal prefix every match starts with, "" if none
	vendor int
}

// parseAliases reads aliases.tsv: kind, pattern, vendor, medical (yes or
// no), note; '#' starts a comment line. A vendor must have the same
// medical flag on every rule that names it.
func parseAliases(text string) (*aliases, error) {
	a := &aliases{
		vendors: []vendor{{}},
		exact:   map[string]int{},
		phrases: map[string]phrase{},
	}
	vendorIndex := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(text))
	header := true
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if header {
			header = false
			if len(f) < 5 || f[0] != "kind" || f[1] != "pattern" || f[2] != "vendor" || f[3] != "medical" || f[4] != "note" {
				return nil, fmt.Errorf("aliases line %d: header must be kind, pattern, vendor, medical, note", n)
			}
			continue
		}
		if len(f) != 5 {
			return nil, fmt.Errorf("aliases line %d: %d fields, want 5", n, len(f))
		}
		kind, pattern, name, med := f[0], f[1], strings.TrimSpace(f[2]), f[3]
		if name == "" {
			return nil, fmt.Errorf("aliases line %d: empty vendor", n)
		}
		if med != "yes" && med != "no" {
			return nil, fmt.Errorf("aliases line %d: medical %q, want yes or no", n, med)
		}
		v, ok := vendorIndex[name]
		if !ok {
			v = len(a.vendors)
			vendorIndex[name] = v
			a.vendors = append(a.vendors, vendor{name: name, medical: med == "yes"})
		} else if a.vendors[v].medical != (med == "yes") {
			return nil, fmt.Errorf("aliases line %d: vendor %q is medical on one rule and not on another", n, name)
		}
		if kind == kindRegex {
			re, err := regexp.Compile(pattern)
			if err != nil {
				return nil, fmt.Errorf("aliases line %d: %w", n, err)
			}
			lit := ""
			if rest, ok := strings.CutPrefix(pattern, "^"); ok {
				if unanchored, err := regexp.Compile(rest); err == nil {
					lit, _ = unanchored.LiteralPrefix()
				}
			}
			a.regexes = append(a.regexes, aliasRegex{re: re, lit: lit, vendor: v})
			continue
		}
		key := normalize(pattern)
		if key == "" {
			return nil, fmt.Errorf("aliases line %d: empty pattern", n)
		}
		switch kind {
		case kindExact:
			if _, dup := a.exact[key]; dup {
				return nil, fmt.Errorf("aliases line %d: exact %q twice", n, key)
			}
			a.exact[key] = v
		case kindPrefix, kindWord:
			p := a.phrases[key]
			slot := &p.prefix
			if kind == kindWord {
				slot = &p.word
			}
			if *slot != 0 {
				return nil, fmt.Errorf("aliases line %d: %s %q twice", n, kind, key)
			}
			*slot = v
			a.phrases[key] = p
			a.maxWords = max(a.maxWords, strings.Count(key, " ")+1)
		default:
			return nil, fmt.Errorf("aliases line %d: kind %q, want exact, prefix, word or regex", n, kind)
		}
	}
	if header {
		return nil, fmt.Errorf("aliases: no header")
	}
	return a, sc.Err()
}

// match returns the vendor index for a normalised name, 0 if no rule
// matches.
func (a *aliases) match(key string) int {
	if v, ok := a.exact[key]; ok {
		return v
	}
	for _, r := range a.regexes {
		if r.lit != "" && !strings.HasPrefix(key, r.lit) {
			continue
		}
		if r.re.MatchString(key) {
			return r.vendor
		}
	}
	// Phrases: every run of up to maxWords whole words; the longest wins.
	best, bestLen, bestPrefix := 0, 0, false
	for start := 0; start < len(key); {
		end := start
		for w := 0; w < a.maxWords && end < len(key); w++ {
			if i := strings.IndexByte(key[end:], ' '); i >= 0 {
				end += i
			} else {
				end = len(key)
			}
			if p, ok := a.phrases[key[start:end]]; ok {
				n := end - start
				if start == 0 && p.prefix != 0 && (n > bestLen || n == bestLen && !bestPrefix) {
					best, bestLen, bestPrefix = p.prefix, n, true
				}
				if p.word != 0 && n > bestLen {
					best, bestLen, bestPrefix = p.word, n, false
				}
			}
			end++ // past the space
		}
		i := strings.IndexByte(key[start:], ' ')
		if i < 0 {
			break
		}
		start += i + 1
	}
	return best
}

// normalize folds a name for matching: lower case, common Latin accents
// dropped (Drägerwerk -> dragerwerk), '&' read as "and", apostrophes
// dropped (Int'l -> intl), any other run of non-letters and non-digits one
// space. "B.Braun Melsungen AG" -> "b braun melsungen ag".
func normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	emit := func(t string) {
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteString(t)
	}
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch {
		case r < utf8.RuneSelf && ('a' <= r && r <= 'z' || '0' <= r && r <= '9'):
			emit(string(rune(r)))
		case r < utf8.RuneSelf && 'A' <= r && r <= 'Z':
			emit(string(rune(r + 'a' - 'A')))
		case r == '\'' || r == '\u2019':
		case r == '&':
			space = true
			emit("and")
			space = true
		default:
			if f, ok := fold[r]; ok {
				emit(f)
			} else if unicode.IsLetter(r) || unicode.IsDigit(r) {
				emit(string(unicode.ToLower(r)))
			} else {
				space = true
			}
		}
	}
	return b.String()
}

// fold maps accented Latin letters to ASCII.
var fold = func() map[rune]string {
	m := map[rune]string{}
	for _, p := range []struct{ from, to string }{
		{"àáâãäåāăąÀÁÂÃÄÅĀĂĄ", "a"}, {"çćčÇĆČ", "c"}, {"ďđĎĐ", "d"}, {"èéêëēęěÈÉÊËĒĘĚ", "e"},
		{"ğĞ", "g"}, {"ìíîïīıİÌÍÎÏĪ", "i"}, {"łŁ", "l"}, {"ñńňÑŃŇ", "n"}, {"òóôõöøōőÒÓÔÕÖØŌŐ", "o"},
		{"řŘ", "r"}, {"śšşŚŠŞ", "s"}, {"ťţŤŢ", "t"}, {"ùúûüūůűÙÚÛÜŪŮŰ", "u"}, {"ýÿÝŸ", "y"}, {"źżžŹŻŽ", "z"},
	} {
		for _, r := range p.from {
			m[r] = p.to
		}
	}
	m['ß'], m['æ'], m['Æ'], m['œ'], m['Œ'] = "ss", "ae", "ae", "oe", "oe"
	return m
}()

// legalForms are the trailing words that trimVendor drops from an
// organisation without an alias ("Huawei Technologies Co.,Ltd" ->
// "Huawei Technologies"), compared lower case without dots or slashes.
var legalForms = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`inc incorporated ltd ltda limited llc lp llp plc co coltd corp corporation company
		gmbh mbh ag kg kgaa ohg se sa spa srl sro sl sas sarl bv nv ab as aps oy oyj pty pvt pte kk
		sdn bhd jsc ojsc cjsc ooo zao tbk sac sae`) {
		m[w] = true
	}
	return m
}()

// isLegalForm reports whether a word, dots and slashes dropped, is a
// legal form.
func isLegalForm(w string) bool {
	var buf [8]byte
	n := 0
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case c == '.' || c == '/':
			continue
		case n == len(buf):
			return false
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		buf[n] = c
		n++
	}
	return legalForms[string(buf[:n])]
}

// trimVendor returns the length of the organisation without its trailing
// legal-form words and punctuation: the vendor of an organisation the
// alias table does not know is org[:trimVendor(org)].
func trimVendor(org string) int {
	end := len(org)
	for {
		e := strings.TrimRight(org[:end], " ,.;:&/-()")
		// The last word, dots and slashes included ("S.A.", "A/S", "Co.Ltd").
		i := len(e)
		for i > 0 {
			c := e[i-1]
			if c == ' ' || c == ',' || c == '(' || c == ')' || c == '&' || c == ';' {
				break
			}
			i--
		}
		if i == 0 || !isLegalForm(e[i:]) {
			if e == "" {
				return len(org)
			}
			return len(e)
		}
		end = i
	}
}
