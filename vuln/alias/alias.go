// Package alias is the curated table of medical vendors and products
// that links the inventory's names ("BD (Alaris)", a DHCP vendor class
// "Alaris-PC-8015", a DICOM implementation version "OFFIS_DCMTK_366") to
// the names advisories use: CSAF product trees (CISA ICSMA advisories
// carry no CPE, only free text) and NVD's CPE vendor and product.
//
// The table is data (aliases.yaml, embedded); docs/vulnerabilities.md
// says how to extend it. A site adds or overrides vendors with a file of
// the same shape (Load).
package alias

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-health/vigil/vuln"
)

//go:embed aliases.yaml
var shipped []byte

// Product types.
const (
	Clinical    = "clinical"
	Platform    = "platform"
	Application = "application"
)

// Table is the alias table.
type Table struct {
	Vendors []*Vendor `yaml:"vendors"`
	// reads is every attribute some rule reads.
	reads map[string]bool
}

// Vendor is one maker, with the names each source gives it.
type Vendor struct {
	ID    string   `yaml:"id" json:"id"`
	Name  string   `yaml:"name" json:"name"`
	Match []string `yaml:"match" json:"match"`
	CSAF  []string `yaml:"csaf" json:"csaf"`
	CPE   []string `yaml:"cpe" json:"cpe,omitempty"`
	// Passthrough: the vendor's advisories name products by the model a
	// device states, so the model is looked up as a product name too.
	Passthrough bool       `yaml:"passthrough" json:"passthrough,omitempty"`
	Note        string     `yaml:"note" json:"note,omitempty"`
	Products    []*Product `yaml:"products" json:"products,omitempty"`

	match []*regexp.Regexp
}

// Product is one product line of a vendor.
type Product struct {
	ID   string `yaml:"id" json:"id"`
	Name string `yaml:"name" json:"name"`
	// Type is clinical, platform or application.
	Type  string      `yaml:"type" json:"type"`
	Match []Condition `yaml:"match" json:"match"`
	// Standalone products are identified without their vendor.
	Standalone bool     `yaml:"standalone" json:"standalone,omitempty"`
	CSAF       []string `yaml:"csaf" json:"csaf,omitempty"`
	CSAFMatch  []string `yaml:"csaf_match" json:"csaf_match,omitempty"`
	// CPE entries are "part:vendor:product".
	CPE      []string      `yaml:"cpe" json:"cpe,omitempty"`
	Versions []VersionRule `yaml:"version" json:"version,omitempty"`
	Note     string        `yaml:"note" json:"note,omitempty"`

	csafMatch []*regexp.Regexp
}

// Condition is a regular expression (case-insensitive) on one attribute.
type Condition struct {
	Attribute string `yaml:"attribute" json:"attribute"`
	Regex     string `yaml:"regex" json:"regex"`
	re        *regexp.Regexp
}

// VersionRule reads a version from an attribute: the regular
// expression's groups joined by Join, or the whole value without one.
type VersionRule struct {
	Attribute string `yaml:"attribute" json:"attribute"`
	Regex     string `yaml:"regex" json:"regex,omitempty"`
	Join      string `yaml:"join" json:"join,omitempty"`
	re        *regexp.Regexp
}

// defaultVersions is where a product's version is read when its entry
// says nothing.
var defaultVersions = []VersionRule{{Attribute: "firmware_version"}, {Attribute: "software_version"}}

// Shipped returns the embedded table. It panics if the shipped data is
// broken, which the package's tests rule out.
func Shipped() *Table {
	t, err := Parse(shipped, "aliases.yaml")
	if err != nil {
		panic(err)
	}
	return t
}

// Load returns the shipped table extended by site files: a site vendor
// with the ID of a shipped one replaces it, others are added.
func Load(files ...string) (*Table, error) {
	t := Shipped()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("alias table: %w", err)
		}
		site, err := Parse(data, f)
		if err != nil {
			return nil, err
		}
		for _, v := range site.Vendors {
			if i := slices.IndexFunc(t.Vendors, func(x *Vendor) bool { return x.ID == v.ID }); i >= 0 {
				t.Vendors[i] = v
			} else {
				t.Vendors = append(t.Vendors, v)
			}
		}
	}
	t.index()
	return t, nil
}

// Parse reads a table and checks every entry; every problem is reported,
// named by the entry's position and ID.
func Parse(data []byte, name string) (*Table, error) {
	var t Table
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("alias table %s: %w", name, err)
	}
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", name, path, fmt.Sprintf(format, args...)))
	}
	compile := func(path, expr string) *regexp.Regexp {
		re, err := regexp.Compile("(?i)" + expr)
		if err != nil {
			bad(path, "regex %q: %v", expr, err)
		}
		return re
	}
	seen := map[string]bool{}
	for i, v := range t.Vendors {
		vp := fmt.Sprintf("vendors[%d]", i)
		if v == nil {
			bad(vp, "empty entry")
			continue
		}
		if v.ID != "" {
			vp += " (" + v.ID + ")"
		}
		switch {
		case v.ID == "":
			bad(vp, "no id")
		case seen[v.ID]:
			bad(vp, "id %q used twice", v.ID)
		}
		seen[v.ID] = true
		if v.Name == "" {
			bad(vp, "no name")
		}
		if len(v.Match) == 0 {
			bad(vp, "no match: the inventory could never name this vendor")
		}
		for j, m := range v.Match {
			v.match = append(v.match, compile(fmt.Sprintf("%s.match[%d]", vp, j), m))
		}
		for j, c := range v.CPE {
			if c == "" || strings.ContainsAny(c, ": ") {
				bad(fmt.Sprintf("%s.cpe[%d]", vp, j), "%q is not a CPE vendor value", c)
			}
		}
		pseen := map[string]bool{}
		for j, p := range v.Products {
			pp := fmt.Sprintf("%s.products[%d]", vp, j)
			if p == nil {
				bad(pp, "empty entry")
				continue
			}
			if p.ID != "" {
				pp += " (" + p.ID + ")"
			}
			if p.ID == "" || pseen[p.ID] {
				bad(pp, "missing or repeated id")
			}
			pseen[p.ID] = true
			if p.Name == "" {
				bad(pp, "no name")
			}
			if p.Type != Clinical && p.Type != Platform && p.Type != Application {
				bad(pp, "type %q: want clinical, platform or application", p.Type)
			}
			if len(p.Match) == 0 {
				bad(pp, "no match: no device could be identified as this product")
			}
			for k := range p.Match {
				c := &p.Match[k]
				if c.Attribute == "" || c.Regex == "" {
					bad(fmt.Sprintf("%s.match[%d]", pp, k), "needs attribute and regex")
					continue
				}
				c.re = compile(fmt.Sprintf("%s.match[%d]", pp, k), c.Regex)
			}
			for k, m := range p.CSAFMatch {
				p.csafMatch = append(p.csafMatch, compile(fmt.Sprintf("%s.csaf_match[%d]", pp, k), "^(?:"+m+")$"))
			}
			for k, c := range p.CPE {
				if parts := strings.Split(c, ":"); len(parts) != 3 || !strings.Contains("aho", parts[0]) || len(parts[0]) != 1 || parts[1] == "" || parts[2] == "" {
					bad(fmt.Sprintf("%s.cpe[%d]", pp, k), "%q: want part:vendor:product (part a, o or h)", c)
				}
			}
			for k := range p.Versions {
				r := &p.Versions[k]
				if r.Attribute == "" {
					bad(fmt.Sprintf("%s.version[%d]", pp, k), "needs an attribute")
				}
				if r.Regex != "" {
					r.re = compile(fmt.Sprintf("%s.version[%d]", pp, k), r.Regex)
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	t.index()
	return &t, nil
}

func (t *Table) index() {
	t.reads = map[string]bool{"vendor": true, "model": true}
	for _, v := range t.Vendors {
		for _, p := range v.Products {
			for _, c := range p.Match {
				t.reads[c.Attribute] = true
			}
			vs := p.Versions
			if len(vs) == 0 {
				vs = defaultVersions
			}
			for _, r := range vs {
				t.reads[r.Attribute] = true
			}
		}
	}
}

// Reads tells whether a change of the attribute can change what the
// table identifies on a device.
func (t *Table) Reads(attribute string) bool { return t.reads[attribute] }

// Vendor returns the vendor whose match fits a device's vendor name.
func (t *Table) Vendor(name string) (*Vendor, bool) {
	if strings.TrimSpace(name) == "" {
		return nil, false
	}
	for _, v := range t.Vendors {
		for _, re := range v.match {
			if re.MatchString(name) {
				return v, true
			}
		}
	}
	return nil, false
}

// VendorByCSAF returns the vendor whose CSAF names include name (folded).
func (t *Table) VendorByCSAF(name string) (*Vendor, bool) {
	f := vuln.Fold(name)
	for _, v := range t.Vendors {
		for _, n := range v.CSAF {
			if vuln.Fold(n) == f {
				return v, true
			}
		}
	}
	return nil, false
}

// CSAFProduct returns the product of vendor v that a CSAF product name
// (the family branch, or a full name before its ':') denotes.
func (v *Vendor) CSAFProduct(name string) (*Product, bool) {
	f := vuln.Fold(name)
	for _, p := range v.Products {
		for _, n := range p.CSAF {
			if vuln.Fold(n) == f {
				return p, true
			}
		}
	}
	for _, p := range v.Products {
		for _, re := range p.csafMatch {
			if re.MatchString(name) {
				return p, true
			}
		}
	}
	return nil, false
}

// Identification is a product the table found on a device.
type Identification struct {
	Vendor  *Vendor
	Product *Product
	// Version is the product's version on the device ("" when unknown),
	// VersionFrom the attribute it was read from.
	Version     string
	VersionFrom string
	// Evidence says which attributes identified it, one sentence each.
	Evidence []string
}

// Identify finds the table's products on a device described by its
// attributes (the inventory's resolved values). A product needs its
// vendor to be the device's, unless it is standalone. Results are in
// table order.
func (t *Table) Identify(attrs map[string]string) []Identification {
	vendor, vendorOK := t.Vendor(attrs["vendor"])
	var out []Identification
	for _, v := range t.Vendors {
		for _, p := range v.Products {
			if !p.Standalone && (!vendorOK || vendor != v) {
				continue
			}
			var ev []string
			for _, c := range p.Match {
				if val := attrs[c.Attribute]; val != "" && c.re.MatchString(val) {
					ev = append(ev, fmt.Sprintf("%s %q matches %s (alias %s/%s)", c.Attribute, val, c.Regex, v.ID, p.ID))
					break
				}
			}
			if len(ev) == 0 {
				continue
			}
			if vendorOK && vendor == v {
				ev = append([]string{fmt.Sprintf("vendor %q is %s", attrs["vendor"], v.Name)}, ev...)
			}
			id := Identification{Vendor: v, Product: p, Evidence: ev}
			id.Version, id.VersionFrom = p.version(attrs)
			if id.Version != "" {
				id.Evidence = append(id.Evidence, fmt.Sprintf("version %q read from %s %q", id.Version, id.VersionFrom, attrs[id.VersionFrom]))
			}
			out = append(out, id)
		}
	}
	return out
}

// version reads the product's version from the first rule that yields
// one.
func (p *Product) version(attrs map[string]string) (string, string) {
	rules := p.Versions
	if len(rules) == 0 {
		rules = defaultVersions
	}
	for _, r := range rules {
		val := strings.TrimSpace(attrs[r.Attribute])
		if val == "" {
			continue
		}
		if r.re == nil {
			return val, r.Attribute
		}
		m := r.re.FindStringSubmatch(val)
		if m == nil {
			continue
		}
		if len(m) == 1 {
			return m[0], r.Attribute
		}
		if r.Join == "" {
			return m[1], r.Attribute
		}
		return strings.Join(m[1:], r.Join), r.Attribute
	}
	return "", ""
}
