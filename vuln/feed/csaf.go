package feed

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/cpe"
	"github.com/vigil-health/vigil/vuln/version"
)

type csafDoc struct {
	Document *struct {
		Category    string `json:"category"`
		CSAFVersion string `json:"csaf_version"`
		Title       string `json:"title"`
		Publisher   *struct {
			Category  string `json:"category"`
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"publisher"`
		Tracking *struct {
			ID                 string `json:"id"`
			Status             string `json:"status"`
			Version            string `json:"version"`
			InitialReleaseDate string `json:"initial_release_date"`
			CurrentReleaseDate string `json:"current_release_date"`
			RevisionHistory    []struct {
				Date   string `json:"date"`
				Number string `json:"number"`
			} `json:"revision_history"`
		} `json:"tracking"`
		Distribution *struct {
			TLP *struct {
				Label string `json:"label"`
			} `json:"tlp"`
		} `json:"distribution"`
	} `json:"document"`
	ProductTree *struct {
		Branches         []csafBranch `json:"branches"`
		FullProductNames []csafFPN    `json:"full_product_names"`
		ProductGroups    []struct {
			GroupID    string   `json:"group_id"`
			ProductIDs []string `json:"product_ids"`
		} `json:"product_groups"`
		Relationships []struct {
			Category                  string  `json:"category"`
			ProductReference          string  `json:"product_reference"`
			RelatesToProductReference string  `json:"relates_to_product_reference"`
			FullProductName           csafFPN `json:"full_product_name"`
		} `json:"relationships"`
	} `json:"product_tree"`
	Vulnerabilities []csafVuln `json:"vulnerabilities"`
}

type csafBranch struct {
	Category string       `json:"category"`
	Name     string       `json:"name"`
	Product  *csafFPN     `json:"product"`
	Branches []csafBranch `json:"branches"`
}

type csafFPN struct {
	Name      string `json:"name"`
	ProductID string `json:"product_id"`
	Helper    *struct {
		CPE          string   `json:"cpe"`
		PURL         string   `json:"purl"`
		ModelNumbers []string `json:"model_numbers"`
	} `json:"product_identification_helper"`
}

type csafRefs struct {
	ProductIDs []string `json:"product_ids"`
	GroupIDs   []string `json:"group_ids"`
}

type csafVuln struct {
	CVE   string `json:"cve"`
	Title string `json:"title"`
	CWE   *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"cwe"`
	IDs []struct {
		SystemName string `json:"system_name"`
		Text       string `json:"text"`
	} `json:"ids"`
	Notes []struct {
		Category string `json:"category"`
		Text     string `json:"text"`
	} `json:"notes"`
	ProductStatus *vuln.ProductStatus `json:"product_status"`
	Remediations  []struct {
		Category string `json:"category"`
		Details  string `json:"details"`
		URL      string `json:"url"`
		csafRefs
	} `json:"remediations"`
	Scores []struct {
		CVSSv3 *struct {
			Version      string   `json:"version"`
			VectorString string   `json:"vectorString"`
			BaseScore    *float64 `json:"baseScore"`
			BaseSeverity string   `json:"baseSeverity"`
		} `json:"cvss_v3"`
		Products []string `json:"products"`
	} `json:"scores"`
	Threats []struct {
		Category string `json:"category"`
		Details  string `json:"details"`
		csafRefs
	} `json:"threats"`
	Flags []struct {
		Label string `json:"label"`
		csafRefs
	} `json:"flags"`
}

var (
	remediationCategories = []string{"mitigation", "no_fix_planned", "none_available", "vendor_fix", "workaround"}
	flagLabels            = []string{"component_not_present", "inline_mitigations_already_exist",
		"vulnerable_code_cannot_be_controlled_by_adversary", "vulnerable_code_not_in_execute_path", "vulnerable_code_not_present"}
	// fixedIn finds the version a vendor fix names: "update to Version
	// 3.6.7 or later", "v1.53 and later".
	fixedIn = regexp.MustCompile(`(?i)\b(?:version|v)\s*:?\s*([0-9][0-9A-Za-z._-]*)\s+(?:or|and)\s+(?:later|newer|higher|above)`)
)

// ParseCSAF reads a CSAF 2.0 document: an advisory (security advisory,
// base document) or a VEX document, which also yields VEX statements.
//
// Checked as errors: the fields the schema requires, csaf_version 2.0,
// dates, CVE IDs, CVSS v3 scores, remediation categories, and the
// mandatory tests on product IDs (6.1.1 every product or group ID used is
// defined, 6.1.2 and 6.1.5 none is defined twice) and, for csaf_vex, the
// profile's tests (6.1.27.7-10: product status present, a CVE or ID,
// an impact statement for known_not_affected, an action statement for
// known_affected). Only warned about: ranges under product_version
// (6.1.31, as CISA's ICSMA documents do) and version text Vigil reads
// only in part.
func ParseCSAF(name string, data []byte, opt Options) (*vuln.Batch, []Problem, error) {
	c := &checker{}
	var in csafDoc
	if p := decodeJSON(data, &in); p != nil {
		c.add(*p)
		return nil, nil, c.err(name, FormatCSAF)
	}
	a := vuln.Advisory{Source: name}
	doc := in.Document
	if doc == nil {
		c.errorf("$.document", "missing")
		return nil, nil, c.err(name, FormatCSAF)
	}
	a.Category, a.Title = doc.Category, doc.Title
	c.required("$.document.category", doc.Category)
	if doc.CSAFVersion != "2.0" {
		c.errorf("$.document.csaf_version", "is %q, want \"2.0\"", doc.CSAFVersion)
	}
	c.required("$.document.title", doc.Title)
	if p := doc.Publisher; p == nil {
		c.errorf("$.document.publisher", "missing")
	} else {
		a.Publisher = vuln.Publisher{Name: p.Name, Namespace: p.Namespace, Category: p.Category}
		c.required("$.document.publisher.category", p.Category)
		c.required("$.document.publisher.name", p.Name)
		c.required("$.document.publisher.namespace", p.Namespace)
	}
	if t := doc.Tracking; t == nil {
		c.errorf("$.document.tracking", "missing")
	} else {
		a.ID, a.Version, a.Status = t.ID, t.Version, t.Status
		c.required("$.document.tracking.id", t.ID)
		c.required("$.document.tracking.version", t.Version)
		if !slices.Contains([]string{"draft", "final", "interim"}, t.Status) {
			c.errorf("$.document.tracking.status", "is %q, want draft, final or interim", t.Status)
		}
		a.InitialRelease = c.timeField("$.document.tracking.initial_release_date", t.InitialReleaseDate)
		a.CurrentRelease = c.timeField("$.document.tracking.current_release_date", t.CurrentReleaseDate)
		if len(t.RevisionHistory) == 0 {
			c.errorf("$.document.tracking.revision_history", "missing: at least one revision")
		}
		for i, r := range t.RevisionHistory {
			c.timeField(idx("$.document.tracking.revision_history", i)+".date", r.Date)
			c.required(idx("$.document.tracking.revision_history", i)+".number", r.Number)
		}
		if a.CurrentRelease.Before(a.InitialRelease) {
			c.warnf("$.document.tracking.current_release_date", "is before the initial release date")
		}
	}
	if doc.Distribution != nil && doc.Distribution.TLP != nil {
		a.TLP = doc.Distribution.TLP.Label
	}
	profile := doc.Category
	if (profile == "csaf_security_advisory" || profile == "csaf_vex") && in.ProductTree == nil {
		c.errorf("$.product_tree", "missing: a %s has a product tree", profile)
	}
	if (profile == "csaf_security_advisory" || profile == "csaf_vex") && len(in.Vulnerabilities) == 0 {
		c.errorf("$.vulnerabilities", "missing: a %s has vulnerabilities", profile)
	}

	defined := map[string]string{} // product ID -> path of its definition
	groups := map[string][]string{}
	// rangesInVersion gathers the product_version names that are ranges
	// (CISA's ICSMA files have a hundred of them): one warning each.
	rangesInVersion := map[string][]string{}
	if pt := in.ProductTree; pt != nil {
		define := func(path string, p vuln.Product) {
			if prev, dup := defined[p.ID]; dup {
				c.errorf(path+".product_id", "product ID %q is defined twice (also at %s)", p.ID, prev)
				return
			}
			defined[p.ID] = path
			a.Products = append(a.Products, p)
		}
		var walk func(path string, bs []csafBranch, ctx vuln.Product, isRange bool)
		walk = func(path string, bs []csafBranch, ctx vuln.Product, isRange bool) {
			for i, br := range bs {
				bp := idx(path, i)
				cur, rng := ctx, isRange
				switch br.Category {
				case "vendor":
					cur.Vendor = br.Name
				case "product_name":
					cur.Family = br.Name
				case "product_family":
					if cur.Family == "" {
						cur.Family = br.Name
					}
				case "product_version":
					cur.Version, rng = br.Name, false
					if looksLikeRange(br.Name) {
						rangesInVersion[br.Name] = append(rangesInVersion[br.Name], bp+".name")
					}
				case "product_version_range":
					cur.Version, rng = br.Name, true
				case "":
					c.errorf(bp+".category", "missing")
				}
				c.required(bp+".name", br.Name)
				if br.Product == nil && len(br.Branches) == 0 {
					c.errorf(bp, "a branch holds a product or more branches")
				}
				if br.Product != nil {
					if p, ok := fullProduct(c, bp+".product", *br.Product, cur); ok {
						p.VersionIsRange = rng
						if p.Version != "" {
							if _, warn := version.ParseLenient(p.Version); warn != "" {
								c.warnf(bp+".name", "%s", warn)
							}
						}
						define(bp+".product", p)
					}
				}
				walk(bp+".branches", br.Branches, cur, rng)
			}
		}
		walk("$.product_tree.branches", pt.Branches, vuln.Product{}, false)
		for _, name := range slices.Sorted(maps.Keys(rangesInVersion)) {
			paths := rangesInVersion[name]
			more := ""
			if len(paths) > 1 {
				more = fmt.Sprintf(" (and %d more branches)", len(paths)-1)
			}
			c.warnf(paths[0], "product_version %q is a range%s: CSAF puts ranges under product_version_range (6.1.31); read as a range", name, more)
		}
		for i, fpn := range pt.FullProductNames {
			fp := idx("$.product_tree.full_product_names", i)
			if p, ok := fullProduct(c, fp, fpn, vuln.Product{}); ok {
				define(fp, p)
			}
		}
		for i, r := range pt.Relationships {
			rp := idx("$.product_tree.relationships", i)
			c.required(rp+".category", r.Category)
			if p, ok := fullProduct(c, rp+".full_product_name", r.FullProductName, vuln.Product{}); ok {
				define(rp+".full_product_name", p)
				a.Relationships = append(a.Relationships, vuln.Relationship{Category: r.Category,
					ProductRef: r.ProductReference, RelatesTo: r.RelatesToProductReference, ProductID: p.ID})
			}
		}
		// References are checked once every product is defined.
		for i, r := range pt.Relationships {
			rp := idx("$.product_tree.relationships", i)
			c.productRef(rp+".product_reference", r.ProductReference, defined)
			c.productRef(rp+".relates_to_product_reference", r.RelatesToProductReference, defined)
		}
		for i, g := range pt.ProductGroups {
			gp := idx("$.product_tree.product_groups", i)
			if !c.required(gp+".group_id", g.GroupID) {
				continue
			}
			if _, dup := groups[g.GroupID]; dup {
				c.errorf(gp+".group_id", "group ID %q is defined twice", g.GroupID)
			}
			if len(g.ProductIDs) < 2 {
				c.errorf(gp+".product_ids", "a product group holds at least two products")
			}
			for j, id := range g.ProductIDs {
				c.productRef(idx(gp+".product_ids", j), id, defined)
			}
			groups[g.GroupID] = g.ProductIDs
		}
		if len(groups) > 0 {
			a.Groups = groups
		}
	}
	expand := func(path string, refs csafRefs) []string {
		ids := slices.Clone(refs.ProductIDs)
		for j, id := range refs.ProductIDs {
			c.productRef(idx(path+".product_ids", j), id, defined)
		}
		for j, g := range refs.GroupIDs {
			members, ok := groups[g]
			if !ok {
				c.errorf(idx(path+".group_ids", j), "group ID %q is not defined in the product tree", g)
			}
			ids = append(ids, members...)
		}
		slices.Sort(ids)
		return slices.Compact(ids)
	}

	for i, v := range in.Vulnerabilities {
		vp := idx("$.vulnerabilities", i)
		av := vuln.AdvisoryVuln{CVE: v.CVE, Title: v.Title}
		if v.CVE != "" && !cveID.MatchString(v.CVE) {
			c.errorf(vp+".cve", "%q is not a CVE ID (CVE-YYYY-NNNN)", v.CVE)
		}
		for _, id := range v.IDs {
			av.IDs = append(av.IDs, id.SystemName+": "+id.Text)
		}
		if v.CWE != nil {
			av.CWE, av.CWEName = v.CWE.ID, v.CWE.Name
			if !cweID.MatchString(v.CWE.ID) {
				c.errorf(vp+".cwe.id", "%q is not a CWE ID (CWE-N)", v.CWE.ID)
			}
		}
		for _, n := range v.Notes {
			if av.Summary == "" && (n.Category == "summary" || n.Category == "description") {
				av.Summary = n.Text
			}
		}
		if v.ProductStatus != nil {
			av.Status = *v.ProductStatus
			for _, l := range []struct {
				key string
				ids []string
			}{{"first_affected", av.Status.FirstAffected}, {"known_affected", av.Status.KnownAffected},
				{"last_affected", av.Status.LastAffected}, {"known_not_affected", av.Status.KnownNotAffected},
				{"first_fixed", av.Status.FirstFixed}, {"fixed", av.Status.Fixed}, {"recommended", av.Status.Recommended},
				{"under_investigation", av.Status.UnderInvestigation}} {
				for j, id := range l.ids {
					c.productRef(idx(vp+".product_status."+l.key, j), id, defined)
				}
			}
		}
		for j, r := range v.Remediations {
			rp := idx(vp+".remediations", j)
			if !slices.Contains(remediationCategories, r.Category) {
				c.errorf(rp+".category", "is %q, want one of %s", r.Category, strings.Join(remediationCategories, ", "))
			}
			c.required(rp+".details", r.Details)
			if len(r.ProductIDs) == 0 && len(r.GroupIDs) == 0 {
				c.errorf(rp, "names no product_ids nor group_ids")
			}
			rem := vuln.Remediation{Category: r.Category, Details: r.Details, URL: r.URL, ProductIDs: expand(rp, r.csafRefs)}
			if r.Category == "vendor_fix" {
				if m := fixedIn.FindStringSubmatch(r.Details); m != nil {
					rem.FixedIn = strings.TrimRight(m[1], ".-_")
				}
			}
			av.Remediations = append(av.Remediations, rem)
		}
		for j, s := range v.Scores {
			sp := idx(vp+".scores", j)
			if len(s.Products) == 0 {
				c.errorf(sp+".products", "missing")
			}
			for k, id := range s.Products {
				c.productRef(idx(sp+".products", k), id, defined)
			}
			if s.CVSSv3 == nil {
				continue // CVSS v2 only: not kept
			}
			if cv, ok := checkCVSS(c, sp+".cvss_v3", s.CVSSv3.Version, s.CVSSv3.VectorString, s.CVSSv3.BaseScore); ok {
				cv.Severity, cv.Source = s.CVSSv3.BaseSeverity, a.Publisher.Name
				av.Scores = append(av.Scores, vuln.Score{CVSS: cv, Products: s.Products})
			}
		}
		for j, t := range v.Threats {
			tp := idx(vp+".threats", j)
			ids := expand(tp, t.csafRefs)
			if t.Category == "impact" {
				for _, id := range ids {
					if av.Impacts == nil {
						av.Impacts = map[string]string{}
					}
					av.Impacts[id] = t.Details
				}
			}
		}
		for j, f := range v.Flags {
			fp := idx(vp+".flags", j)
			if !slices.Contains(flagLabels, f.Label) {
				c.errorf(fp+".label", "is %q, want one of %s", f.Label, strings.Join(flagLabels, ", "))
			}
			for _, id := range expand(fp, f.csafRefs) {
				if av.Flags == nil {
					av.Flags = map[string]string{}
				}
				av.Flags[id] = f.Label
			}
		}
		if profile == "csaf_vex" {
			checkVEXProfile(c, vp, &v, &av)
		}
		a.Vulnerabilities = append(a.Vulnerabilities, av)
	}
	if err := c.err(name, FormatCSAF); err != nil {
		return nil, c.warns, err
	}
	b := &vuln.Batch{Advisories: []vuln.Advisory{a}}
	if profile == "csaf_vex" {
		b.VEX = []vuln.VEXDocument{csafVEX(&a, opt)}
	}
	return b, c.warns, nil
}

// checkVEXProfile runs the CSAF VEX profile tests on one vulnerability.
func checkVEXProfile(c *checker, vp string, v *csafVuln, av *vuln.AdvisoryVuln) {
	if v.CVE == "" && len(v.IDs) == 0 {
		c.errorf(vp, "a csaf_vex vulnerability has a cve or ids (6.1.27.8)")
	}
	if v.ProductStatus == nil {
		c.errorf(vp+".product_status", "missing: a csaf_vex vulnerability has a product status (6.1.27.7)")
		return
	}
	s := av.Status
	if len(s.Fixed)+len(s.KnownAffected)+len(s.KnownNotAffected)+len(s.UnderInvestigation) == 0 {
		c.errorf(vp+".product_status", "a csaf_vex lists fixed, known_affected, known_not_affected or under_investigation products (6.1.27.7)")
	}
	for j, id := range s.KnownNotAffected {
		if _, ok := av.Flags[id]; !ok {
			if _, ok := av.Impacts[id]; !ok {
				c.errorf(idx(vp+".product_status.known_not_affected", j), "%q has no impact statement: a flag or a threat of category impact (6.1.27.9)", id)
			}
		}
	}
	for j, id := range s.KnownAffected {
		found := false
		for _, r := range av.Remediations {
			found = found || slices.Contains(r.ProductIDs, id)
		}
		if !found {
			c.errorf(idx(vp+".product_status.known_affected", j), "%q has no action statement: a remediation (6.1.27.10)", id)
		}
	}
}

// csafVEX turns a CSAF VEX document into VEX statements about the models
// of its product tree (or about Options.Model, its products then being
// components of it).
func csafVEX(a *vuln.Advisory, opt Options) vuln.VEXDocument {
	doc := vuln.VEXDocument{ID: "csaf:" + a.Key(), Format: string(FormatCSAF), Source: a.Source}
	for _, v := range a.Vulnerabilities {
		id := v.CVE
		if id == "" && len(v.IDs) > 0 {
			id = v.IDs[0]
		}
		add := func(ids []string, st vuln.Status) {
			for _, pid := range ids {
				p, ok := a.Product(pid)
				if !ok {
					continue
				}
				s := vuln.VEXStatement{Vulnerability: id, Status: st, Document: doc.ID, Timestamp: a.CurrentRelease,
					Justification: v.Flags[pid], Impact: v.Impacts[pid]}
				name := p.Family
				if name == "" {
					name = p.Name
				}
				model := vuln.ModelRef{Vendor: p.Vendor, Name: name, Version: p.Version}
				if opt.Model != nil && vuln.Fold(opt.Model.Name) != vuln.Fold(name) {
					s.Model = *opt.Model
					s.Component = &vuln.Component{Name: name, Version: p.Version, Supplier: p.Vendor, CPE: p.CPE, PURL: p.PURL}
				} else {
					s.Model = model
				}
				for _, r := range v.Remediations {
					if slices.Contains(r.ProductIDs, pid) && s.Action == "" {
						s.Action = r.Details
					}
				}
				doc.Statements = append(doc.Statements, s)
			}
		}
		add(v.Status.KnownNotAffected, vuln.NotAffected)
		add(append(slices.Clone(v.Status.Fixed), v.Status.FirstFixed...), vuln.Fixed)
		add(append(append(slices.Clone(v.Status.KnownAffected), v.Status.FirstAffected...), v.Status.LastAffected...), vuln.Affected)
		add(v.Status.UnderInvestigation, vuln.UnderInvestigation)
	}
	doc.Statements = slices.CompactFunc(doc.Statements, func(x, y vuln.VEXStatement) bool {
		return x.Vulnerability == y.Vulnerability && x.Status == y.Status && x.Model == y.Model && x.Component == nil && y.Component == nil
	})
	return doc
}

// fullProduct reads a full product name under the branch context ctx.
func fullProduct(c *checker, path string, f csafFPN, ctx vuln.Product) (vuln.Product, bool) {
	ok := c.required(path+".product_id", f.ProductID)
	ok = c.required(path+".name", f.Name) && ok
	p := ctx
	p.ID, p.Name = f.ProductID, f.Name
	if h := f.Helper; h != nil {
		p.CPE, p.PURL, p.ModelNumbers = h.CPE, h.PURL, h.ModelNumbers
		if h.CPE != "" {
			if n, err := cpe.Parse(h.CPE); err != nil {
				c.errorf(path+".product_identification_helper.cpe", "%v", err)
				ok = false
			} else if p.Vendor == "" && p.Family == "" {
				p.Vendor, p.Family = cpe.Unquote(n[cpe.Vendor]), cpe.Unquote(n[cpe.Product])
				if v := n[cpe.Version]; v != cpe.Any && v != cpe.NA {
					p.Version = cpe.Unquote(v)
				}
			}
		}
		if h.PURL != "" {
			if _, err := parsePURL(h.PURL); err != nil {
				c.errorf(path+".product_identification_helper.purl", "%v", err)
				ok = false
			}
		}
	}
	return p, ok
}

// productRef reports a product ID that the product tree does not define.
func (c *checker) productRef(path, id string, defined map[string]string) {
	if _, ok := defined[id]; !ok {
		c.errorf(path, "product ID %q is not defined in the product tree (6.1.1)", id)
	}
}

// looksLikeRange tells whether a product_version name is really a range.
func looksLikeRange(s string) bool {
	ls := strings.ToLower(s)
	return strings.ContainsAny(s, "<>|*") || strings.HasPrefix(ls, "vers:") || strings.Contains(ls, ".x") ||
		strings.Contains(ls, "prior") || strings.Contains(ls, "all ") || strings.Contains(ls, "later")
}

// purl is a parsed package URL.
type purl struct{ Type, Namespace, Name, Version string }

// parsePURL reads pkg:type/namespace/name@version?qualifiers#subpath,
// enough to check it and take its name and version.
func parsePURL(s string) (purl, error) {
	rest, ok := strings.CutPrefix(s, "pkg:")
	if !ok {
		return purl{}, fmt.Errorf("package URL %q does not start with pkg:", s)
	}
	rest, _, _ = strings.Cut(rest, "#")
	rest, _, _ = strings.Cut(rest, "?")
	var p purl
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		p.Version = rest[i+1:]
		rest = rest[:i]
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if len(parts) < 2 || parts[0] == "" || parts[len(parts)-1] == "" {
		return purl{}, fmt.Errorf("package URL %q has no type/name", s)
	}
	p.Type, p.Name = strings.ToLower(parts[0]), parts[len(parts)-1]
	p.Namespace = strings.Join(parts[1:len(parts)-1], "/")
	return p, nil
}
