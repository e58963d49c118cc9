package vuln

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vigil-health/vigil/vuln/version"
)

// ProductRef names a product to look up in advisories.
type ProductRef struct {
	// Vendor is optional; when set, advisories of another vendor do not
	// match.
	Vendor string
	Name   string
}

// Finding is a vulnerability of an advisory that applies to a product.
type Finding struct {
	Advisory  string `json:"advisory"`
	Publisher string `json:"publisher"`
	Title     string `json:"title"`
	// Vulnerability is the CVE (or the advisory's own identifier).
	Vulnerability string `json:"vulnerability"`
	// ProductID, Product and Range say which product of the advisory
	// matched: its ID, full name, and version as written.
	ProductID string `json:"product_id"`
	Product   string `json:"product"`
	Range     string `json:"range"`
	// Version is the version looked up.
	Version string `json:"version"`
	// Verdict is In when the version is certainly affected, Maybe when the
	// advisory's range could only be read in part, the version is
	// unknown, or the product is only under investigation.
	Verdict      version.Verdict `json:"verdict"`
	Status       Status          `json:"status"`
	CVSS         *CVSS           `json:"cvss,omitempty"`
	Remediations []Remediation   `json:"remediations,omitempty"`
	// Via is the SBOM component through which a model is affected.
	Via *Component `json:"via,omitempty"`
	// Evidence says why, in one sentence.
	Evidence string `json:"evidence"`
}

// Confidence is "confirmed" for a certain finding, "potential" otherwise.
func (f Finding) Confidence() string {
	if f.Verdict == version.In {
		return "confirmed"
	}
	return "potential"
}

// Affects returns the advisory vulnerabilities that apply to version v of
// a product, sorted by advisory and vulnerability. A product matches an
// advisory's product when their names are the same once folded (case,
// spaces and punctuation aside; the vendor's name and a parenthesised
// abbreviation may be left out). The version is checked against the
// advisory's version or range, read leniently (version.ParseLenient).
// A product that the advisory lists as fixed or not affected at that
// version, or that a VEX statement says is not affected or fixed, gets no
// finding. An empty version matches as Maybe, and so does a version of
// another version line than the advisory's ("2.1" against "<= L81"),
// unless another product of the advisory has v's line.
//
// This is the small lookup the tests of the importers need; matching the
// inventory (aliases, CPEs, confidence from the evidence of each
// attribute) is built on top of it elsewhere.
func (s *Store) Affects(p ProductRef, v string) []Finding {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.affects(p, v, nil)
}

// AffectsModel returns the findings of a device model: of the model
// itself, and of every component of its SBOM (Via set). VEX statements
// about the model (or a component of it) remove findings they say are
// not affected or fixed.
func (s *Store) AffectsModel(m ModelRef) []Finding {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := s.affects(ProductRef{Vendor: m.Vendor, Name: m.Name}, m.Version, nil)
	if sb, ok := s.d.sboms[m.Key()]; ok {
		for i := range sb.Components {
			c := sb.Components[i]
			name := c.Name
			if name == "" {
				continue
			}
			// The supplier is not required to match: a device maker
			// often names itself as the supplier of what it ships.
			out = append(out, s.affects(ProductRef{Name: name}, c.Version, &c)...)
		}
	}
	out = slices.DeleteFunc(out, func(f Finding) bool { return s.vexClears(m, f) })
	slices.SortStableFunc(out, func(a, b Finding) int {
		return strings.Compare(a.Advisory+"\x00"+a.Vulnerability, b.Advisory+"\x00"+b.Vulnerability)
	})
	return slices.CompactFunc(out, func(a, b Finding) bool {
		return a.Advisory == b.Advisory && a.Vulnerability == b.Vulnerability && a.ProductID == b.ProductID && a.Via == b.Via
	})
}

func (s *Store) affects(p ProductRef, v string, via *Component) []Finding {
	var out []Finding
	refs := s.productsNamed(Fold(p.Name))
	// refs are in advisory key order, an advisory's products together.
	for i := 0; i < len(refs); {
		a := refs[i].a
		var cands []*Product
		for ; i < len(refs) && refs[i].a == a; i++ {
			if prod := &a.Products[refs[i].i]; productMatches(prod, p) {
				cands = append(cands, prod)
			}
		}
		if len(cands) == 0 {
			continue
		}
		for _, vul := range a.Vulnerabilities {
			if f, ok := s.findingOf(a, &vul, cands, p, v); ok {
				f.Via = via
				out = append(out, f)
			}
		}
	}
	return out
}

// productsNamed returns the advisory products that go by a folded name,
// in advisory key order, from an index built once per generation (a
// look-up then costs the products of that name, not every product of
// every advisory). The caller holds s.mu for reading.
func (s *Store) productsNamed(folded string) []productRef {
	s.nameMu.Lock()
	defer s.nameMu.Unlock()
	if s.byName == nil || s.byNameGen != s.gen {
		s.byName, s.byNameGen = map[string][]productRef{}, s.gen
		for _, a := range sortedValues(s.d.advisories) {
			for i := range a.Products {
				seen := map[string]bool{}
				for _, n := range productNames(&a.Products[i]) {
					if f := Fold(n); f != "" && !seen[f] {
						seen[f] = true
						s.byName[f] = append(s.byName[f], productRef{a, i})
					}
				}
			}
		}
	}
	return s.byName[folded]
}

// findingOf decides one vulnerability of one advisory for the candidate
// products.
func (s *Store) findingOf(a *Advisory, vul *AdvisoryVuln, cands []*Product, p ProductRef, v string) (Finding, bool) {
	id := vul.CVE
	if id == "" && len(vul.IDs) > 0 {
		id = vul.IDs[0]
	}
	// When some product of the advisory writes its versions the way v
	// is written, products of another version line ("<= 028U000061"
	// beside "<= L81" for one battery pack) say nothing about v.
	sameLine := false
	for _, prod := range cands {
		if vul.Status.Status(prod.ID) != "" && strings.TrimSpace(v) != "" && prod.Version != "" && prod.Range().Comparable(v) {
			sameLine = true
		}
	}
	var best *Product
	bestVerdict, bestStatus := version.Out, Status("")
	for _, prod := range cands {
		st := vul.Status.Status(prod.ID)
		if st == "" {
			continue
		}
		rng := prod.Range()
		if sameLine && !rng.Comparable(v) {
			continue
		}
		verdict := rng.Check(v)
		if verdict == version.Out {
			continue
		}
		switch st {
		case NotAffected, Fixed:
			if verdict == version.In {
				return Finding{}, false // this very version is not affected
			}
		case Affected, UnderInvestigation:
			if st == UnderInvestigation {
				verdict = min(verdict, version.Maybe)
			}
			if verdict > bestVerdict {
				best, bestVerdict, bestStatus = prod, verdict, st
			}
		}
	}
	if best == nil {
		return Finding{}, false
	}
	if s.vexSays(id, p, v) {
		return Finding{}, false
	}
	f := Finding{Advisory: a.ID, Publisher: a.Publisher.Name, Title: a.Title, Vulnerability: id,
		ProductID: best.ID, Product: best.Name, Range: best.Version, Version: v, Verdict: bestVerdict, Status: bestStatus}
	if c, ok := vul.ScoreFor(best.ID); ok {
		f.CVSS = &c
	}
	for _, r := range vul.Remediations {
		if slices.Contains(r.ProductIDs, best.ID) {
			f.Remediations = append(f.Remediations, r)
		}
	}
	rng := best.Version
	if rng == "" {
		rng = "every version"
	}
	is := "is in"
	if bestVerdict == version.Maybe {
		is = "may be in"
	}
	f.Evidence = fmt.Sprintf("%s: %s %q %s %q (%s %s, %q)", a.ID, p.Name, v, is, rng, best.ID, bestStatus, best.Name)
	return f, true
}

// productMatches tells whether an advisory product is the product asked
// about.
func productMatches(prod *Product, p ProductRef) bool {
	want := Fold(p.Name)
	if want == "" {
		return false
	}
	if p.Vendor != "" && prod.Vendor != "" && !vendorMatches(prod.Vendor, p.Vendor) {
		return false
	}
	for _, n := range productNames(prod) {
		if Fold(n) == want {
			return true
		}
	}
	return false
}

func vendorMatches(a, b string) bool {
	fa, fb := Fold(a), Fold(b)
	return fa != "" && fb != "" && (strings.Contains(fa, fb) || strings.Contains(fb, fa))
}

// productNames are the names a product goes by: its family branch, its
// full name before the version, each also without the vendor's name and
// without a parenthesised abbreviation.
func productNames(prod *Product) []string {
	var names []string
	add := func(n string) {
		n = strings.TrimSpace(n)
		if n == "" {
			return
		}
		names = append(names, n)
		if prod.Vendor != "" && len(n) > len(prod.Vendor) && strings.EqualFold(n[:len(prod.Vendor)], prod.Vendor) {
			names = append(names, strings.TrimSpace(n[len(prod.Vendor):]))
		}
		if i := strings.IndexByte(n, '('); i > 0 {
			names = append(names, strings.TrimSpace(n[:i]))
		}
	}
	add(prod.Family)
	if before, _, ok := strings.Cut(prod.Name, ":"); ok {
		add(before)
	}
	if prod.Family == "" {
		add(prod.Name)
	}
	return names
}

// vexSays tells whether a VEX statement says version v of product p is
// not affected by vulnerability id, or fixed.
func (s *Store) vexSays(id string, p ProductRef, v string) bool {
	for _, d := range s.d.vex {
		for _, st := range d.Statements {
			// A statement about a component holds within its model only
			// (vexClears).
			if st.Component != nil || st.Vulnerability != id || (st.Status != NotAffected && st.Status != Fixed) {
				continue
			}
			name, ver, vendor := st.Model.Name, st.Model.Version, st.Model.Vendor
			if Fold(name) != Fold(p.Name) || (ver != "" && !version.Equal(ver, v)) {
				continue
			}
			if p.Vendor != "" && vendor != "" && !vendorMatches(vendor, p.Vendor) {
				continue
			}
			return true
		}
	}
	return false
}

// vexClears tells whether a VEX statement about model m clears a
// finding.
func (s *Store) vexClears(m ModelRef, f Finding) bool {
	for _, d := range s.d.vex {
		for _, st := range d.Statements {
			if st.Vulnerability != f.Vulnerability || (st.Status != NotAffected && st.Status != Fixed) {
				continue
			}
			if Fold(st.Model.Name) != Fold(m.Name) || (st.Model.Version != "" && !version.Equal(st.Model.Version, m.Version)) {
				continue
			}
			if st.Model.Vendor != "" && m.Vendor != "" && !vendorMatches(st.Model.Vendor, m.Vendor) {
				continue
			}
			if st.Component == nil {
				return true // the whole model
			}
			if f.Via != nil && Fold(st.Component.Name) == Fold(f.Via.Name) &&
				(st.Component.Version == "" || version.Equal(st.Component.Version, f.Via.Version)) {
				return true
			}
		}
	}
	return false
}

// VEXClears tells whether a VEX statement says model m (or, when
// component is set, that component of it) is not affected by the
// vulnerability, or fixed. Matching asks it for findings that come from
// other sources than advisories (NVD CPE matches of SBOM components).
func (s *Store) VEXClears(m ModelRef, vulnerability string, component *Component) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.vexClears(m, Finding{Vulnerability: vulnerability, Via: component})
}
