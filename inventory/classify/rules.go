// Package classify maps what the inventory knows of a device to a category
// (infusion pump, patient monitor, CT scanner, PACS, printer, ...), whether
// it is a medical device, and its clinical criticality, with the evidence
// for each decision. The rules are data: YAML files shipped in rules/ and
// extended or overridden by a site's own directory; Recog fingerprint
// databases turn SNMP system descriptions and DHCP vendor classes into
// OS, vendor, model and device type.
package classify

import (
	"embed"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"go.yaml.in/yaml/v3"
)

//go:embed categories.yaml rules/*.yaml recog/*.xml
var shipped embed.FS

// Category is one entry of the category catalogue.
type Category struct {
	ID          string      `yaml:"id" json:"id"`
	Name        string      `yaml:"name" json:"name"`
	Medical     bool        `yaml:"medical" json:"medical"`
	Criticality Criticality `yaml:"criticality" json:"criticality"`
}

// Condition is one test on a device's facts. Exactly one subject
// (attribute, protocol or service) and, for attributes, one test (equals,
// prefix, contains, matches; none means "has any value") are set.
type Condition struct {
	// Attribute is an attribute name (capture/dpi/attributes.go), or
	// "oui_vendor" for the MAC registry's organisation.
	Attribute string `yaml:"attribute,omitempty"`
	// Protocol: the device used this application protocol.
	Protocol string `yaml:"protocol,omitempty"`
	// Service: the device offered this service ("tcp/104").
	Service string `yaml:"service,omitempty"`
	// Tests on the attribute's values (any value may satisfy them).
	// Equals, Prefix and Contains ignore case; Matches is a Go regular
	// expression.
	Equals   string `yaml:"equals,omitempty"`
	Prefix   string `yaml:"prefix,omitempty"`
	Contains string `yaml:"contains,omitempty"`
	Matches  string `yaml:"matches,omitempty"`

	re    *regexp.Regexp
	lower string // Contains, lower-cased once
}

// Rule assigns a category to the devices its conditions describe.
type Rule struct {
	ID          string `yaml:"id"`
	Description string `yaml:"description"`
	Category    string `yaml:"category"`
	// Medical and Criticality override the category's defaults.
	Medical     *bool       `yaml:"medical,omitempty"`
	Criticality Criticality `yaml:"criticality,omitempty"`
	// Confidence of the classification when the rule matches (0-1).
	Confidence float64 `yaml:"confidence"`
	// Enabled false disables a shipped rule of the same ID.
	Enabled *bool `yaml:"enabled,omitempty"`
	// All conditions must hold, at least one of Any (when given), none
	// of None.
	All  []Condition `yaml:"all,omitempty"`
	Any  []Condition `yaml:"any,omitempty"`
	None []Condition `yaml:"none,omitempty"`
	// Examples are facts the rule set must classify as this rule's
	// category: the rules' self-test (see Rules.Test).
	Examples []Example `yaml:"examples,omitempty"`

	file string
}

// Example is a device's facts in a compact form: attribute names to
// values, plus "protocols", "services" and "oui_vendor".
type Example map[string]any

type ruleFile struct {
	Rules []Rule `yaml:"rules"`
}

// Rules is a loaded rule set with its category catalogue and fingerprint
// databases. It is immutable and safe for concurrent use.
type Rules struct {
	categories map[string]Category
	order      []string
	rules      []*Rule
	recog      []*recogDB

	reads     map[string]bool
	readsOnce sync.Once

	seeds    [2]maphash.Seed
	memo     sync.Map // memoKey -> Result
	memoSize atomic.Int64
}

// Default loads the shipped rules only.
func Default() (*Rules, error) { return Load() }

// Load reads the shipped categories, rules and fingerprints, then every
// *.yaml file of dirs (sorted by name): a rule whose ID is already known
// replaces it (enabled: false removes it), a new ID is added. Every
// problem is reported, naming its file and rule.
func Load(dirs ...string) (*Rules, error) {
	r := &Rules{categories: map[string]Category{}, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	var errs []error
	b, err := shipped.ReadFile("categories.yaml")
	if err != nil {
		return nil, err
	}
	var cats struct {
		Categories []Category `yaml:"categories"`
	}
	if err := yaml.Unmarshal(b, &cats); err != nil {
		return nil, fmt.Errorf("categories.yaml: %w", err)
	}
	for _, c := range cats.Categories {
		if c.Criticality.Rank() == 0 {
			errs = append(errs, fmt.Errorf("categories.yaml: %s: criticality %q", c.ID, c.Criticality))
		}
		r.categories[c.ID] = c
		r.order = append(r.order, c.ID)
	}
	files, _ := fs.Glob(shipped, "rules/*.yaml")
	for _, f := range files {
		b, _ := shipped.ReadFile(f)
		errs = append(errs, r.add(f, b, false)...)
	}
	for _, dir := range dirs {
		paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := os.Stat(dir); err != nil {
			errs = append(errs, fmt.Errorf("rules directory: %w", err))
			continue
		}
		sort.Strings(paths)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			errs = append(errs, r.add(p, b, true)...)
		}
	}
	for _, name := range []string{"snmp_sysdescr.xml", "dhcp_vendor_class.xml"} {
		db, err := loadRecog(shipped, "recog/"+name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.recog = append(r.recog, db)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

func (r *Rules) add(file string, b []byte, override bool) []error {
	var rf ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		return []error{fmt.Errorf("%s: %w", file, err)}
	}
	var errs []error
	for i := range rf.Rules {
		rule := rf.Rules[i]
		rule.file = file
		where := fmt.Sprintf("%s: rule %q", file, rule.ID)
		if rule.ID == "" {
			errs = append(errs, fmt.Errorf("%s: rule %d has no id", file, i+1))
			continue
		}
		j := slices.IndexFunc(r.rules, func(x *Rule) bool { return x.ID == rule.ID })
		if j >= 0 && !override {
			errs = append(errs, fmt.Errorf("%s: id already used in %s", where, r.rules[j].file))
			continue
		}
		if rule.Enabled != nil && !*rule.Enabled {
			if j >= 0 {
				r.rules = slices.Delete(r.rules, j, j+1)
			}
			continue
		}
		if err := r.check(&rule); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		if j >= 0 {
			r.rules[j] = &rule
		} else {
			r.rules = append(r.rules, &rule)
		}
	}
	return errs
}

func (r *Rules) check(rule *Rule) error {
	if _, ok := r.categories[rule.Category]; !ok {
		return fmt.Errorf("category %q is not in the catalogue (known: %s)", rule.Category, strings.Join(r.order, ", "))
	}
	if rule.Criticality != "" && rule.Criticality.Rank() == 0 {
		return fmt.Errorf("criticality %q: want life_sustaining, patient_connected, clinical_support or non_clinical", rule.Criticality)
	}
	if rule.Confidence <= 0 || rule.Confidence > 1 {
		return fmt.Errorf("confidence %v: must be in (0, 1]", rule.Confidence)
	}
	if len(rule.All) == 0 && len(rule.Any) == 0 {
		return errors.New("no conditions: a rule must say what it matches")
	}
	for _, group := range [][]Condition{rule.All, rule.Any, rule.None} {
		for i := range group {
			if err := group[i].compile(); err != nil {
				return fmt.Errorf("condition %d: %w", i+1, err)
			}
		}
	}
	return nil
}

func (c *Condition) compile() error {
	subjects := 0
	for _, s := range []string{c.Attribute, c.Protocol, c.Service} {
		if s != "" {
			subjects++
		}
	}
	if subjects != 1 {
		return errors.New("set exactly one of attribute, protocol, service")
	}
	tests := 0
	for _, s := range []string{c.Equals, c.Prefix, c.Contains, c.Matches} {
		if s != "" {
			tests++
		}
	}
	if tests > 1 || (tests == 1 && c.Attribute == "") {
		return errors.New("set at most one of equals, prefix, contains, matches, and only on an attribute")
	}
	c.lower = strings.ToLower(c.Contains)
	if c.Matches != "" {
		re, err := regexp.Compile(c.Matches)
		if err != nil {
			return fmt.Errorf("matches: %w", err)
		}
		c.re = re
	}
	return nil
}

// Categories returns the catalogue in its order.
func (r *Rules) Categories() []Category {
	out := make([]Category, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, r.categories[id])
	}
	return out
}

// Reads tells whether a change of the named fact can change a
// classification: an attribute some rule or fingerprint reads ("oui_vendor"
// for the MAC registry), or, with the prefixes "protocol:" and "service:",
// a protocol used or a service offered that some rule tests. The inventory
// reclassifies a device only when such a fact changes.
func (r *Rules) Reads(fact string) bool {
	r.readsOnce.Do(r.collectReads)
	return r.reads[fact]
}

func (r *Rules) collectReads() {
	r.reads = map[string]bool{}
	for _, rule := range r.rules {
		for _, group := range [][]Condition{rule.All, rule.Any, rule.None} {
			for _, c := range group {
				switch {
				case c.Attribute != "":
					r.reads[c.Attribute] = true
				case c.Protocol != "":
					r.reads["protocol:"+c.Protocol] = true
				case c.Service != "":
					r.reads["service:"+c.Service] = true
				}
			}
		}
	}
	for _, db := range r.recog {
		r.reads[db.attribute] = true
	}
}

// Len is the number of rules.
func (r *Rules) Len() int { return len(r.rules) }

// match reports whether c holds for f, with the sentence saying why.
func (c *Condition) match(f *Facts) (string, bool) {
	switch {
	case c.Protocol != "":
		if slices.Contains(f.Protocols, c.Protocol) {
			return "uses " + c.Protocol, true
		}
		return "", false
	case c.Service != "":
		if slices.Contains(f.Services, c.Service) {
			return "offers " + c.Service, true
		}
		return "", false
	}
	values := f.Attributes[c.Attribute]
	if c.Attribute == "oui_vendor" && f.OUIVendor != "" {
		values = []string{f.OUIVendor}
	}
	for _, v := range values {
		var ok bool
		switch {
		case c.Equals != "":
			ok = strings.EqualFold(v, c.Equals)
		case c.Prefix != "":
			ok = len(v) >= len(c.Prefix) && strings.EqualFold(v[:len(c.Prefix)], c.Prefix)
		case c.Contains != "":
			ok = strings.Contains(strings.ToLower(v), c.lower)
		case c.re != nil:
			ok = c.re.MatchString(v)
		default:
			ok = true
		}
		if ok {
			// The explanation is built only for a match: most tests fail.
			switch {
			case c.Prefix != "":
				return fmt.Sprintf("%s %q starts with %q", c.Attribute, v, c.Prefix), true
			case c.Contains != "":
				return fmt.Sprintf("%s %q contains %q", c.Attribute, v, c.Contains), true
			case c.re != nil:
				return fmt.Sprintf("%s %q matches %s", c.Attribute, v, c.Matches), true
			}
			return fmt.Sprintf("%s is %q", c.Attribute, v), true
		}
	}
	return "", false
}

// Classify runs the fingerprints, then the rules, on f. The rule with the
// highest confidence wins; ties go to the more specific rule (more
// conditions met), then to the earlier one. Results are remembered by a
// 128-bit hash of the facts: the devices of one model share their facts,
// and regular expressions are the classifier's cost. The Result's slices
// must not be changed.
func (r *Rules) Classify(f Facts) Result {
	key := r.factsKey(&f)
	if v, ok := r.memo.Load(key); ok {
		return v.(Result)
	}
	res := r.classify(f)
	if r.memoSize.Add(1) <= maxMemo {
		r.memo.Store(key, res)
	}
	return res
}

// maxMemo bounds the remembered classifications.
const maxMemo = 200_000

type memoKey [2]uint64

// factsKey hashes the facts in a canonical order.
func (r *Rules) factsKey(f *Facts) memoKey {
	var h [2]maphash.Hash
	h[0].SetSeed(r.seeds[0])
	h[1].SetSeed(r.seeds[1])
	write := func(s string) {
		for i := range h {
			h[i].WriteString(s)
			h[i].WriteByte(0)
		}
	}
	write(f.OUIVendor)
	names := make([]string, 0, len(f.Attributes))
	for k := range f.Attributes {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		write(k)
		for _, v := range f.Attributes[k] {
			write(v)
		}
		write("\x01")
	}
	write("\x02")
	for _, p := range f.Protocols {
		write(p)
	}
	write("\x02")
	for _, s := range f.Services {
		write(s)
	}
	return memoKey{h[0].Sum64(), h[1].Sum64()}
}

func (r *Rules) classify(f Facts) Result {
	derived := r.fingerprint(&f)
	best := Result{Category: "unknown", Criticality: Unknown}
	bestScore := -1
	for _, rule := range r.rules {
		because, ok := rule.match(&f)
		if !ok {
			continue
		}
		score := len(because)
		if rule.Confidence < best.Confidence || (rule.Confidence == best.Confidence && score <= bestScore) {
			continue
		}
		cat := r.categories[rule.Category]
		res := Result{Category: rule.Category, Medical: cat.Medical, Criticality: cat.Criticality,
			Confidence: rule.Confidence, Rule: rule.ID, Because: because}
		if rule.Medical != nil {
			res.Medical = *rule.Medical
		}
		if rule.Criticality != "" {
			res.Criticality = rule.Criticality
		}
		best, bestScore = res, score
	}
	best.Derived = derived
	return best
}

func (rule *Rule) match(f *Facts) ([]string, bool) {
	var because []string
	for i := range rule.All {
		why, ok := rule.All[i].match(f)
		if !ok {
			return nil, false
		}
		because = append(because, why)
	}
	if len(rule.Any) > 0 {
		hit := false
		for i := range rule.Any {
			if why, ok := rule.Any[i].match(f); ok {
				because = append(because, why)
				hit = true
			}
		}
		if !hit {
			return nil, false
		}
	}
	for i := range rule.None {
		if _, ok := rule.None[i].match(f); ok {
			return nil, false
		}
	}
	return because, true
}
