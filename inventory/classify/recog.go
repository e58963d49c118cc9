package classify

import (
	"encoding/xml"
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// recogDB is a Recog fingerprint database: regular expressions over one
// attribute's value, each naming what a match means.
type recogDB struct {
	// cache remembers the match of each value seen: the same sysDescr or
	// vendor class recurs on every device of a model.
	cache sync.Map // string -> recogHit
	name  string
	// attribute is the Vigil attribute the database reads.
	attribute    string
	fingerprints []*recogFingerprint
	// skipped counts fingerprints whose pattern Go's RE2 cannot run
	// (look-around, back-references).
	skipped int
	cached  atomic.Int64
}

type recogFingerprint struct {
	Pattern     string         `xml:"pattern,attr"`
	Flags       string         `xml:"flags,attr"`
	Description string         `xml:"description"`
	Examples    []recogExample `xml:"example"`
	Params      []recogParam   `xml:"param"`
	re          *regexp.Regexp
}

type recogExample struct {
	Text  string     `xml:",chardata"`
	Attrs []xml.Attr `xml:",any,attr"`
}

type recogParam struct {
	Pos   int    `xml:"pos,attr"`
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// recogAttributes maps a database's "matches" to the attribute it reads.
var recogAttributes = map[string]string{
	"snmp.sys_description": "snmp.sys_descr",
	"dhcp_vendor_class":    "dhcp.vendor_class",
}

func loadRecog(fsys fs.FS, path string) (*recogDB, error) {
	b, err := fs.ReadFile(fsys, path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Matches      string              `xml:"matches,attr"`
		Fingerprints []*recogFingerprint `xml:"fingerprint"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	attr, ok := recogAttributes[doc.Matches]
	if !ok {
		return nil, fmt.Errorf("%s: matches %q, which no Vigil attribute carries", path, doc.Matches)
	}
	db := &recogDB{name: path, attribute: attr}
	for _, fp := range doc.Fingerprints {
		pat := fp.Pattern
		if strings.Contains(fp.Flags, "REG_ICASE") && !strings.HasPrefix(pat, "(?i)") {
			pat = "(?i)" + pat
		}
		if strings.Contains(fp.Flags, "REG_DOT_NEWLINE") || strings.Contains(fp.Flags, "REG_MULTILINE") {
			pat = "(?s)" + pat
		}
		re, err := regexp.Compile(pat)
		if err != nil {
			db.skipped++
			continue
		}
		fp.re = re
		db.fingerprints = append(db.fingerprints, fp)
	}
	return db, nil
}

type recogHit struct {
	fp *recogFingerprint
	p  map[string]string
}

// maxRecogCache bounds the cache; past it, values are matched each time.
const maxRecogCache = 100_000

// lookup is params with a cache; the map returned must not be changed.
func (db *recogDB) lookup(value string) (*recogFingerprint, map[string]string) {
	if h, ok := db.cache.Load(value); ok {
		return h.(recogHit).fp, h.(recogHit).p
	}
	fp, p := db.params(value)
	if db.cached.Add(1) <= maxRecogCache {
		db.cache.Store(value, recogHit{fp, p})
	}
	return fp, p
}

// params returns what a value means under the first fingerprint that
// matches it.
func (db *recogDB) params(value string) (*recogFingerprint, map[string]string) {
	for _, fp := range db.fingerprints {
		m := fp.re.FindStringSubmatch(value)
		if m == nil {
			continue
		}
		out := map[string]string{}
		for _, p := range fp.Params {
			switch {
			case p.Pos == 0:
				out[p.Name] = p.Value
			case p.Pos < len(m):
				out[p.Name] = m[p.Pos]
			}
		}
		// Values may interpolate others: "{hw.family} {hw.model}".
		for k, v := range out {
			if strings.Contains(v, "{") {
				for name, val := range out {
					v = strings.ReplaceAll(v, "{"+name+"}", val)
				}
				out[k] = v
			}
		}
		return fp, out
	}
	return nil, nil
}

// fingerprint matches the fingerprint databases against the facts, adds
// what they derive to f (on a copy of its attributes) and returns it.
func (r *Rules) fingerprint(f *Facts) []Derived {
	var out []Derived
	for _, db := range r.recog {
		values := f.Attributes[db.attribute]
		if len(values) == 0 {
			continue
		}
		fp, p := db.lookup(values[0])
		if fp == nil {
			continue
		}
		because := fmt.Sprintf("Recog %s fingerprint %q on %s %q", strings.TrimSuffix(strings.TrimPrefix(db.name, "recog/"), ".xml"),
			fp.Description, db.attribute, values[0])
		add := func(attr, value string, conf float64) {
			value = strings.TrimSpace(value)
			if value == "" || strings.Contains(value, "{") {
				return
			}
			out = append(out, Derived{Attribute: attr, Value: value, Confidence: conf, Because: because})
		}
		// The vendor is the hardware's maker: an OS vendor (Microsoft for
		// "MSFT 5.0") names the software, and goes into os.
		add("vendor", p["hw.vendor"], 0.7)
		add("model", first(p["hw.product"], joinNonEmpty(p["hw.family"], p["hw.model"])), 0.7)
		add("serial", p["hw.serial_number"], 0.8)
		add("os", joinNonEmpty(p["os.vendor"], first(p["os.product"], p["os.family"]), p["os.version"]), 0.7)
		add("device_type", first(p["hw.device"], p["os.device"]), 0.7)
	}
	if len(out) > 0 {
		attrs := maps.Clone(f.Attributes)
		for _, d := range out {
			if len(attrs[d.Attribute]) == 0 {
				attrs[d.Attribute] = []string{d.Value}
			} else if !containsFold(attrs[d.Attribute], d.Value) {
				attrs[d.Attribute] = append(append([]string(nil), attrs[d.Attribute]...), d.Value)
			}
		}
		f.Attributes = attrs
	}
	return out
}

func first(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

func joinNonEmpty(vs ...string) string {
	var parts []string
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, " ")
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// RecogStats reports, per database, the fingerprints loaded and skipped.
func (r *Rules) RecogStats() map[string][2]int {
	out := map[string][2]int{}
	for _, db := range r.recog {
		out[db.name] = [2]int{len(db.fingerprints), db.skipped}
	}
	return out
}

// recogExamples lists every example of every loaded fingerprint with the
// params it must produce, for the self-test.
func (r *Rules) recogExamples() []recogCase {
	var out []recogCase
	for _, db := range r.recog {
		for _, fp := range db.fingerprints {
			for i, ex := range fp.Examples {
				want := map[string]string{}
				for _, a := range ex.Attrs {
					if a.Name.Local != "_encoding" && a.Name.Local != "_filename" {
						want[a.Name.Local] = a.Value
					}
				}
				out = append(out, recogCase{db: db, name: fp.Description + " #" + strconv.Itoa(i+1), text: ex.Text, want: want})
			}
		}
	}
	return out
}

type recogCase struct {
	db   *recogDB
	name string
	text string
	want map[string]string
}
