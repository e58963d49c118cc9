// Package match matches inventory devices to vulnerabilities without
// scanning them: the alias table identifies a device's products and
// versions from its attributes, the vulnerability store says which
// advisories, CVE configurations and SBOM components affect them, and
// scanner findings join as one more source. The Tracker gives each
// device's vulnerabilities a lifecycle in event time, and the Component
// runs both over the inventory's device changes, publishing
// vulnerability events.
package match

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/alias"
	"github.com/vigil-health/vigil/vuln/cpe"
	"github.com/vigil-health/vigil/vuln/version"
)

// Matcher matches devices against a store. It is safe for concurrent
// use.
type Matcher struct {
	store   *vuln.Store
	aliases *alias.Table

	mu sync.Mutex
	// generation is the store's when the caches were filled: byProduct
	// indexes CVEs by the "vendor:product" of their CPE criteria, and
	// advisoryCache keeps the advisory findings of a vendor's product at a
	// version (the devices of one model and version share them).
	generation    uint64
	byProduct     map[string][]*vuln.CVE
	advisoryCache map[advisoryKey][]vuln.Finding
}

type advisoryKey struct{ vendor, name, version string }

// maxCached bounds the advisory cache; past it the cache starts over.
const maxCached = 100_000

// fresh empties the caches when the store changed. m.mu is held.
func (m *Matcher) fresh() {
	if g := m.store.Generation(); g != m.generation || m.advisoryCache == nil || len(m.advisoryCache) > maxCached {
		m.generation, m.byProduct, m.advisoryCache = g, nil, map[advisoryKey][]vuln.Finding{}
	}
}

// New returns a matcher over a store and an alias table.
func New(store *vuln.Store, aliases *alias.Table) *Matcher {
	return &Matcher{store: store, aliases: aliases}
}

// Reads tells whether a change of the attribute can change a device's
// matches.
func (m *Matcher) Reads(attribute string) bool {
	return m.aliases.Reads(attribute) || attribute == "os" || strings.HasSuffix(attribute, "cpe")
}

// Match returns the vulnerabilities of a device, merged by ID and sorted:
// from the advisories of the products the alias table identifies (and,
// for passthrough vendors, of its model), from NVD CPE configurations of
// those products at the device's version and of CPEs the device states,
// from the SBOM of its model (VEX applied), and from scanner findings.
func (m *Matcher) Match(dev events.DeviceSnapshot, scanner []vuln.ScannerFinding) []vuln.Match {
	attrs := dev.Attributes
	byID := map[string]*vuln.Match{}
	var order []string
	add := func(x vuln.Match) {
		x.Device, x.DeviceID = dev.Key, dev.ID
		if cur, ok := byID[x.ID]; ok {
			cur.Merge(x)
			return
		}
		x.Sources = slices.Clone(x.Sources)
		slices.Sort(x.Sources)
		byID[x.ID] = &x
		order = append(order, x.ID)
	}
	ids := m.aliases.Identify(attrs)
	for _, id := range ids {
		for _, name := range id.Product.CSAF {
			m.advisories(id.Vendor, vuln.ProductRef{Name: name}, id.Version, id.Product.Type, id.Evidence, add)
		}
		if id.Version != "" {
			for _, c := range id.Product.CPE {
				parts := strings.SplitN(c, ":", 3) // checked by alias.Parse
				m.cpe(fmt.Sprintf("cpe:2.3:%s:%s:%s:%s:*:*:*:*:*:*:*", parts[0], parts[1], parts[2], cpeValue(id.Version)), id.Product.Type,
					append(slices.Clone(id.Evidence), "CPE "+c+" at version "+id.Version), add)
			}
		}
	}
	// Passthrough: the vendor's advisories name products by model.
	if v, ok := m.aliases.Vendor(attrs["vendor"]); ok && v.Passthrough && attrs["model"] != "" {
		typ := vuln.TypeApplication
		if dev.Medical {
			typ = vuln.TypeClinical
		}
		ver := firstOf(attrs, "firmware_version", "software_version")
		for _, id := range ids {
			if id.Vendor == v && id.Version != "" {
				ver = id.Version
				if id.Product.Type != "" {
					typ = id.Product.Type
				}
				break
			}
		}
		ev := []string{fmt.Sprintf("vendor %q is %s, whose advisories name products by model", attrs["vendor"], v.Name),
			fmt.Sprintf("model %q", attrs["model"])}
		if ver != "" {
			ev = append(ev, fmt.Sprintf("version %q", ver))
		}
		m.advisories(v, vuln.ProductRef{Name: attrs["model"]}, ver, typ, ev, add)
	}
	// CPEs the device states (a fingerprint, an asset register).
	for name, val := range sortedAttrs(attrs) {
		if name == "cpe" || strings.HasSuffix(name, ".cpe") {
			typ := vuln.TypeApplication
			if n, err := cpe.Parse(val); err == nil && n[cpe.Part] == "o" {
				typ = vuln.TypePlatform
			}
			m.cpe(val, typ, []string{fmt.Sprintf("%s %q", name, val)}, add)
		}
	}
	m.sboms(dev, ids, add)
	for _, f := range scanner {
		if f.ID == "" {
			continue
		}
		add(f.AsMatch(dev.Key, dev.ID))
	}
	out := make([]vuln.Match, 0, len(order))
	for _, id := range order {
		x := *byID[id]
		m.enrich(&x)
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b vuln.Match) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// vendorFindings returns the advisory findings of a product at a version,
// keeping those whose advisory product is of the vendor (or names none).
func (m *Matcher) vendorFindings(v *alias.Vendor, p vuln.ProductRef, ver string) []vuln.Finding {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fresh()
	k := advisoryKey{v.ID, p.Name, ver}
	if fs, ok := m.advisoryCache[k]; ok {
		return fs
	}
	var out []vuln.Finding
	for _, f := range m.store.Affects(p, ver) {
		if a, ok := m.store.Advisory(f.Advisory); ok {
			if prod, ok := a.Product(f.ProductID); ok && prod.Vendor != "" {
				if pv, ok := m.aliases.VendorByCSAF(prod.Vendor); ok && pv != v {
					continue
				}
			}
		}
		out = append(out, f)
	}
	m.advisoryCache[k] = out
	return out
}

// advisories adds the advisory findings of a vendor's product.
func (m *Matcher) advisories(v *alias.Vendor, p vuln.ProductRef, ver, typ string, ev []string, add func(vuln.Match)) {
	for _, f := range m.vendorFindings(v, p, ver) {
		x := vuln.Match{ID: f.Vulnerability, Title: f.Title, Advisories: []string{f.Advisory}, Type: typ,
			Confidence: vuln.Potential, Sources: []string{"csaf"}, Product: f.Product, Version: ver, Range: f.Range}
		if f.Verdict == version.In && ver != "" {
			x.Confidence = vuln.Confirmed
		}
		if f.CVSS != nil {
			x.CVSS, x.CVSSVector = f.CVSS.BaseScore, f.CVSS.Vector
		}
		for _, r := range f.Remediations {
			if r.FixedIn != "" {
				x.FixedIn = r.FixedIn
				break
			}
		}
		x.Evidence = append(slices.Clone(ev), f.Evidence)
		add(x)
	}
}

// cpe adds the NVD CVEs whose configurations hold for a CPE name.
func (m *Matcher) cpe(name, typ string, ev []string, add func(vuln.Match)) {
	n, err := cpe.Parse(name)
	if err != nil {
		return
	}
	for _, c := range m.cvesOf(n[cpe.Vendor], n[cpe.Product]) {
		verdict := c.Check([]cpe.Name{n})
		if verdict == version.Out {
			continue
		}
		x := vuln.Match{ID: c.ID, Type: typ, Confidence: vuln.Potential, Sources: []string{"nvd"},
			Product: cpe.Unquote(n[cpe.Product]), Version: cpe.Unquote(n[cpe.Version])}
		if verdict == version.In {
			x.Confidence = vuln.Confirmed
		}
		x.Evidence = append(slices.Clone(ev), fmt.Sprintf("%s: a configuration holds for %s (%s)", c.ID, n, verdict))
		add(x)
	}
}

// sboms adds the findings of the SBOM of the device's model: advisories
// of its components and NVD CVEs of components with a CPE, minus what the
// model's VEX statements clear.
func (m *Matcher) sboms(dev events.DeviceSnapshot, ids []alias.Identification, add func(vuln.Match)) {
	attrs := dev.Attributes
	for _, sb := range m.store.SBOMs() {
		ver, why, ok := m.modelOf(sb.Model, attrs, ids)
		if !ok {
			continue
		}
		ev := []string{fmt.Sprintf("the device is %s (%s); its SBOM (%s) lists %d components", sb.Model, why, sb.Format, len(sb.Components))}
		for _, f := range m.store.AffectsModel(sb.Model) {
			if f.Via == nil {
				continue // the model's own advisories are matched above
			}
			x := vuln.Match{ID: f.Vulnerability, Title: f.Title, Advisories: []string{f.Advisory}, Type: componentType(f.Via),
				Confidence: vuln.Potential, Sources: []string{"sbom", "csaf"}, Product: f.Via.Name, Version: f.Via.Version, Range: f.Range}
			if f.Verdict == version.In && ver {
				x.Confidence = vuln.Confirmed
			}
			if f.CVSS != nil {
				x.CVSS, x.CVSSVector = f.CVSS.BaseScore, f.CVSS.Vector
			}
			x.Evidence = append(slices.Clone(ev), fmt.Sprintf("component %s %s: %s", f.Via.Name, f.Via.Version, f.Evidence))
			add(x)
		}
		for i := range sb.Components {
			c := sb.Components[i]
			if c.CPE == "" {
				continue
			}
			m.cpe(c.CPE, componentType(&c), append(slices.Clone(ev), fmt.Sprintf("component %s %s has CPE %s", c.Name, c.Version, c.CPE)),
				func(x vuln.Match) {
					if m.store.VEXClears(sb.Model, x.ID, &c) {
						return
					}
					x.Sources = append(x.Sources, "sbom")
					if !ver {
						x.Confidence = vuln.Potential
					}
					add(x)
				})
		}
	}
}

// modelOf tells whether an SBOM's model is the device's: its vendor is
// the device's (through the alias table, or the same name folded), and
// its name is the device's model or one of the identified products. ver
// says whether the device's version is known to be the SBOM's (else any
// finding is only potential); an SBOM of another version does not match.
func (m *Matcher) modelOf(model vuln.ModelRef, attrs map[string]string, ids []alias.Identification) (ver bool, why string, ok bool) {
	dv, dvOK := m.aliases.Vendor(attrs["vendor"])
	if model.Vendor != "" {
		mv, mvOK := m.aliases.Vendor(model.Vendor)
		same := (mvOK && dvOK && mv == dv) || (attrs["vendor"] != "" && vuln.Fold(model.Vendor) == vuln.Fold(attrs["vendor"]))
		if !same {
			return false, "", false
		}
	}
	name := vuln.Fold(model.Name)
	devVersion := firstOf(attrs, "firmware_version", "software_version")
	switch {
	case name != "" && name == vuln.Fold(attrs["model"]):
		why = fmt.Sprintf("model %q", attrs["model"])
	default:
		for _, id := range ids {
			if name == vuln.Fold(id.Product.Name) || slices.ContainsFunc(id.Product.CSAF, func(n string) bool { return vuln.Fold(n) == name }) {
				why = "identified as " + id.Product.Name
				if id.Version != "" {
					devVersion = id.Version
				}
				break
			}
		}
	}
	if why == "" {
		return false, "", false
	}
	if model.Version == "" {
		return false, why, true
	}
	if devVersion == "" {
		return false, why + ", version unknown", true
	}
	if !version.Equal(model.Version, devVersion) {
		return false, "", false
	}
	return true, why + ", version " + devVersion, true
}

func componentType(c *vuln.Component) string {
	switch strings.ToLower(c.Type) {
	case "operating-system", "firmware":
		return vuln.TypePlatform
	}
	return vuln.TypeApplication
}

// enrich adds NVD's score when no advisory gave one, EPSS and KEV.
func (m *Matcher) enrich(x *vuln.Match) {
	if c, ok := m.store.CVE(x.ID); ok {
		if x.CVSS == 0 {
			if s, ok := c.Score(); ok {
				x.CVSS, x.CVSSVector = s.BaseScore, s.Vector
			}
		}
		if c.CISAExploitAdd != "" {
			x.KEV = true
		}
		if x.Title == "" {
			x.Title = firstSentence(c.Description("en"))
		}
	}
	if e, ok := m.store.EPSS(x.ID); ok {
		x.EPSS = e.Score
	}
	if _, ok := m.store.KEV(x.ID); ok {
		x.KEV = true
	}
}

// cvesOf returns the CVEs with a CPE criterion of vendor and product.
func (m *Matcher) cvesOf(vendor, product string) []*vuln.CVE {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fresh()
	if m.byProduct == nil {
		m.byProduct = map[string][]*vuln.CVE{}
		for _, c := range m.store.CVEs() {
			seen := map[string]bool{}
			for _, cfg := range c.Configurations {
				for _, n := range cfg.Nodes {
					for _, cm := range n.Matches {
						k := cm.Criteria[cpe.Vendor] + ":" + cm.Criteria[cpe.Product]
						if !seen[k] {
							seen[k] = true
							m.byProduct[k] = append(m.byProduct[k], c)
						}
					}
				}
			}
		}
	}
	return m.byProduct[vendor+":"+product]
}

// cpeValue quotes a version for a CPE formatted string.
func cpeValue(v string) string {
	var b strings.Builder
	for _, r := range v {
		if r < 0x80 && !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return strings.ToLower(b.String())
}

func firstOf(attrs map[string]string, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(attrs[n]); v != "" {
			return v
		}
	}
	return ""
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 && i < 200 {
		return s[:i+1]
	}
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// sortedAttrs iterates attributes in name order (output must not depend
// on map order).
func sortedAttrs(attrs map[string]string) func(func(string, string) bool) {
	return func(yield func(string, string) bool) {
		keys := make([]string, 0, len(attrs))
		for k := range attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !yield(k, attrs[k]) {
				return
			}
		}
	}
}
