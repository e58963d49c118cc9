package vuln

import (
	"strings"
	"time"

	"github.com/vigil-health/vigil/vuln/cpe"
	"github.com/vigil-health/vigil/vuln/version"
)

// Source says where imported data came from.
type Source struct {
	// Path is the file or URL read.
	Path string `json:"path"`
	// Format names the format read: "NVD CVE API 2.0", "CSAF 2.0", ...
	Format string `json:"format"`
	// SHA256 of the bytes read (after decompression), hex.
	SHA256     string    `json:"sha256,omitempty"`
	ImportedAt time.Time `json:"imported_at"`
}

// Text is a text in a language.
type Text struct {
	Lang  string `json:"lang"`
	Value string `json:"value"`
}

// CVSS is one CVSS v3.x base score.
type CVSS struct {
	Version   string  `json:"version"` // "3.0", "3.1"
	Vector    string  `json:"vector"`
	BaseScore float64 `json:"base_score"`
	Severity  string  `json:"severity,omitempty"`
	// Source is who scored ("nvd@nist.gov", a CNA); Type is NVD's
	// "Primary" or "Secondary".
	Source string `json:"source,omitempty"`
	Type   string `json:"type,omitempty"`
}

// CVE is one vulnerability record of NVD.
type CVE struct {
	ID           string    `json:"id"`
	Published    time.Time `json:"published"`
	LastModified time.Time `json:"last_modified"`
	// Status is NVD's vulnStatus: "Analyzed", "Modified", "Awaiting
	// Analysis", "Rejected"... CVEs awaiting analysis have no
	// configurations.
	Status       string   `json:"status,omitempty"`
	Descriptions []Text   `json:"descriptions"`
	CVSS         []CVSS   `json:"cvss,omitempty"`
	CWEs         []string `json:"cwes,omitempty"`
	// Configurations say which platforms are vulnerable; any one
	// configuration that holds is enough.
	Configurations []Configuration `json:"configurations,omitempty"`
	References     []string        `json:"references,omitempty"`
	// CISAExploitAdd is set when CISA lists the CVE in KEV (NVD mirrors
	// it).
	CISAExploitAdd string `json:"cisa_exploit_add,omitempty"`
	Source         string `json:"source"`
}

// Description returns the description in lang, else the English one,
// else the first.
func (c *CVE) Description(lang string) string {
	for _, want := range []string{lang, "en"} {
		for _, d := range c.Descriptions {
			if d.Lang == want {
				return d.Value
			}
		}
	}
	if len(c.Descriptions) > 0 {
		return c.Descriptions[0].Value
	}
	return ""
}

// Score returns the CVSS v3 score to use: NVD's own (Primary) before a
// CNA's (Secondary), 3.1 before 3.0.
func (c *CVE) Score() (CVSS, bool) {
	best, found := CVSS{}, false
	rank := func(s CVSS) int {
		r := 0
		if s.Type == "Primary" {
			r += 2
		}
		if s.Version == "3.1" {
			r++
		}
		return r
	}
	for _, s := range c.CVSS {
		if !found || rank(s) > rank(best) {
			best, found = s, true
		}
	}
	return best, found
}

// Configuration is one NVD configuration: nodes combined by Operator
// ("AND" when an application is vulnerable only on some platform, "OR"
// or empty otherwise).
type Configuration struct {
	Operator string `json:"operator,omitempty"`
	Negate   bool   `json:"negate,omitempty"`
	Nodes    []Node `json:"nodes"`
}

// Node is a set of CPE match criteria combined by Operator.
type Node struct {
	Operator string     `json:"operator"`
	Negate   bool       `json:"negate,omitempty"`
	Matches  []CPEMatch `json:"cpe_match"`
}

// CPEMatch is one criterion: a CPE name, maybe with wildcards and an NVD
// version range. Vulnerable false marks the platform of an AND
// configuration (the OS an application runs on).
type CPEMatch struct {
	Vulnerable bool     `json:"vulnerable"`
	Criteria   cpe.Name `json:"criteria"`
	ID         string   `json:"match_criteria_id,omitempty"`
	cpe.Range
}

// Check evaluates the configuration against the CPE names of one
// platform (a device's OS, hardware and applications): In when it holds
// and a vulnerable criterion matched, Maybe when it holds only if
// unknown versions were the right ones.
func (c Configuration) Check(platform []cpe.Name) version.Verdict {
	vulnerable := version.Out
	nodes := make([]version.Verdict, len(c.Nodes))
	for i, n := range c.Nodes {
		v, vul := n.check(platform)
		nodes[i] = v
		vulnerable = max(vulnerable, min(v, vul))
	}
	return min(combine(c.Operator, c.Negate, nodes), vulnerable)
}

// check returns the node's verdict and how well its vulnerable criteria
// matched.
func (n Node) check(platform []cpe.Name) (version.Verdict, version.Verdict) {
	matches := make([]version.Verdict, len(n.Matches))
	vulnerable := version.Out
	for i, m := range n.Matches {
		v := version.Out
		for _, p := range platform {
			v = max(v, cpe.Check(m.Criteria, m.Range, p))
		}
		matches[i] = v
		if m.Vulnerable {
			vulnerable = max(vulnerable, v)
		}
	}
	if n.Negate {
		vulnerable = version.Out
	}
	return combine(n.Operator, n.Negate, matches), vulnerable
}

// combine joins verdicts by AND (the weakest) or OR (the strongest), and
// negates: In and Out swap, Maybe stays.
func combine(op string, negate bool, vs []version.Verdict) version.Verdict {
	var out version.Verdict
	if strings.EqualFold(op, "AND") {
		out = version.In
		for _, v := range vs {
			out = min(out, v)
		}
		if len(vs) == 0 {
			out = version.Out
		}
	} else {
		out = version.Out
		for _, v := range vs {
			out = max(out, v)
		}
	}
	if negate {
		out = version.In - out
	}
	return out
}

// Check evaluates every configuration of the CVE against a platform and
// returns the strongest verdict. A CVE without configurations (awaiting
// analysis) is Out: nothing says what it affects.
func (c *CVE) Check(platform []cpe.Name) version.Verdict {
	out := version.Out
	for _, cfg := range c.Configurations {
		out = max(out, cfg.Check(platform))
	}
	return out
}

// Publisher is who issued an advisory.
type Publisher struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Category  string `json:"category"` // vendor, coordinator, discoverer...
}

// Advisory is one CSAF document (a security advisory or a base
// document): the products it names, and its vulnerabilities with the
// status of each product.
type Advisory struct {
	// ID is the tracking ID ("ICSMA-22-174-01"); unique per publisher.
	ID        string    `json:"id"`
	Publisher Publisher `json:"publisher"`
	Category  string    `json:"category"` // csaf_security_advisory, csaf_base...
	Title     string    `json:"title"`
	// Version and Status are the tracking version and status (final,
	// interim, draft).
	Version         string              `json:"version"`
	Status          string              `json:"status"`
	InitialRelease  time.Time           `json:"initial_release"`
	CurrentRelease  time.Time           `json:"current_release"`
	TLP             string              `json:"tlp,omitempty"`
	Products        []Product           `json:"products"`
	Vulnerabilities []AdvisoryVuln      `json:"vulnerabilities"`
	Relationships   []Relationship      `json:"relationships,omitempty"`
	Groups          map[string][]string `json:"groups,omitempty"`
	Source          string              `json:"source"`
}

// Key identifies an advisory across publishers.
func (a *Advisory) Key() string { return a.Publisher.Namespace + "#" + a.ID }

// Product returns the product with a product ID.
func (a *Advisory) Product(id string) (*Product, bool) {
	for i := range a.Products {
		if a.Products[i].ID == id {
			return &a.Products[i], true
		}
	}
	return nil, false
}

// Product is one product of a CSAF product tree: a leaf of its branches
// or a full product name.
type Product struct {
	ID string `json:"id"` // the CSAF product_id
	// Name is the full product name ("DCMTK: All versions prior to
	// 3.6.7"); Vendor and Family come from the branches above it.
	Name   string `json:"name"`
	Vendor string `json:"vendor,omitempty"`
	Family string `json:"family,omitempty"`
	// Version is the name of the version branch, a single version or a
	// range as the advisory wrote it ("< 3.6.7", "4.X | 5.X",
	// "vers:all/*"); VersionIsRange when the branch was a
	// product_version_range. Read it with Range.
	Version        string   `json:"version,omitempty"`
	VersionIsRange bool     `json:"version_is_range,omitempty"`
	CPE            string   `json:"cpe,omitempty"`
	PURL           string   `json:"purl,omitempty"`
	ModelNumbers   []string `json:"model_numbers,omitempty"`
}

// Range reads the product's version: every version when the product
// names none.
func (p *Product) Range() version.Range {
	if strings.TrimSpace(p.Version) == "" {
		return version.Range{All: true, Lenient: true}
	}
	r, _ := version.ParseLenient(p.Version)
	return r
}

// Relationship is a CSAF relationship: a product made of others ("DCMTK
// 3.6.6 default_component_of Scanner X").
type Relationship struct {
	Category   string `json:"category"`
	ProductRef string `json:"product_reference"`
	RelatesTo  string `json:"relates_to_product_reference"`
	ProductID  string `json:"product_id"`
}

// ProductStatus lists product IDs by CSAF status.
type ProductStatus struct {
	FirstAffected      []string `json:"first_affected,omitempty"`
	KnownAffected      []string `json:"known_affected,omitempty"`
	LastAffected       []string `json:"last_affected,omitempty"`
	KnownNotAffected   []string `json:"known_not_affected,omitempty"`
	FirstFixed         []string `json:"first_fixed,omitempty"`
	Fixed              []string `json:"fixed,omitempty"`
	Recommended        []string `json:"recommended,omitempty"`
	UnderInvestigation []string `json:"under_investigation,omitempty"`
}

// Status returns the status of a product: affected, not_affected, fixed,
// under_investigation or "" (not listed). A product listed as fixed or
// not affected is that, whatever else lists it.
func (s *ProductStatus) Status(id string) Status {
	has := func(l []string) bool {
		for _, x := range l {
			if x == id {
				return true
			}
		}
		return false
	}
	switch {
	case has(s.KnownNotAffected):
		return NotAffected
	case has(s.Fixed), has(s.FirstFixed):
		return Fixed
	case has(s.KnownAffected), has(s.FirstAffected), has(s.LastAffected):
		return Affected
	case has(s.UnderInvestigation):
		return UnderInvestigation
	}
	return ""
}

// Score is a CVSS score of some products.
type Score struct {
	CVSS     CVSS     `json:"cvss"`
	Products []string `json:"products"`
}

// Remediation is a CSAF remediation.
type Remediation struct {
	// Category is vendor_fix, mitigation, workaround, none_available or
	// no_fix_planned.
	Category   string   `json:"category"`
	Details    string   `json:"details"`
	URL        string   `json:"url,omitempty"`
	ProductIDs []string `json:"product_ids"`
	// FixedIn is the version a vendor fix names ("update to Version
	// 3.6.7 or later"), when the text says one.
	FixedIn string `json:"fixed_in,omitempty"`
}

// AdvisoryVuln is one vulnerability of an advisory.
type AdvisoryVuln struct {
	CVE          string        `json:"cve,omitempty"`
	IDs          []string      `json:"ids,omitempty"` // other identifiers: "system: text"
	Title        string        `json:"title,omitempty"`
	CWE          string        `json:"cwe,omitempty"`
	CWEName      string        `json:"cwe_name,omitempty"`
	Summary      string        `json:"summary,omitempty"`
	Status       ProductStatus `json:"product_status"`
	Scores       []Score       `json:"scores,omitempty"`
	Remediations []Remediation `json:"remediations,omitempty"`
	// Impacts and Flags justify "not affected" (CSAF threats of category
	// impact, and flags), by product ID.
	Impacts map[string]string `json:"impacts,omitempty"`
	Flags   map[string]string `json:"flags,omitempty"`
}

// ScoreFor returns the CVSS score given for a product, else the first
// one.
func (v *AdvisoryVuln) ScoreFor(productID string) (CVSS, bool) {
	for _, s := range v.Scores {
		for _, p := range s.Products {
			if p == productID {
				return s.CVSS, true
			}
		}
	}
	if len(v.Scores) > 0 {
		return v.Scores[0].CVSS, true
	}
	return CVSS{}, false
}

// KEVEntry is one vulnerability of CISA's Known Exploited Vulnerabilities
// catalog.
type KEVEntry struct {
	CVE            string    `json:"cve"`
	Vendor         string    `json:"vendor"`
	Product        string    `json:"product"`
	Name           string    `json:"name"`
	Description    string    `json:"description"`
	RequiredAction string    `json:"required_action"`
	DateAdded      time.Time `json:"date_added"`
	DueDate        time.Time `json:"due_date"`
	// Ransomware is "Known" or "Unknown".
	Ransomware string   `json:"known_ransomware_campaign_use,omitempty"`
	Notes      string   `json:"notes,omitempty"`
	CWEs       []string `json:"cwes,omitempty"`
}

// KEVCatalog describes the KEV catalog held.
type KEVCatalog struct {
	Version  string    `json:"version"`
	Released time.Time `json:"released"`
	Count    int       `json:"count"`
	Source   string    `json:"source"`
}

// EPSS is the exploit prediction of a CVE on a day.
type EPSS struct {
	Score      float64   `json:"epss"`
	Percentile float64   `json:"percentile"`
	Date       time.Time `json:"date"`
}

// EPSSSet describes the EPSS scores held.
type EPSSSet struct {
	ModelVersion string    `json:"model_version"`
	Date         time.Time `json:"date"`
	Rows         int       `json:"rows"`
	Source       string    `json:"source"`
}

// ModelRef names a device model: the unit SBOMs and VEX statements are
// attached to.
type ModelRef struct {
	Vendor  string `json:"vendor,omitempty"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// Key identifies a model: vendor and name folded (case, spaces and
// punctuation do not count), version as written.
func (m ModelRef) Key() string {
	return Fold(m.Vendor) + "/" + Fold(m.Name) + "@" + strings.TrimSpace(m.Version)
}

func (m ModelRef) String() string {
	s := strings.TrimSpace(m.Vendor + " " + m.Name)
	if m.Version != "" {
		s += " " + m.Version
	}
	return s
}

// Fold reduces a name to lower-case letters and digits, so that "Welch
// Allyn" and "welch-allyn" are one name.
func Fold(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 0x7f && !isSpaceOrPunct(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isSpaceOrPunct(r rune) bool {
	return strings.ContainsRune(" \u00a0\u2010\u2011\u2012\u2013\u2014\u00ae\u2122", r)
}

// Component is one software component of an SBOM.
type Component struct {
	// Ref is the component's reference in its document (CycloneDX
	// bom-ref, SPDX SPDXID).
	Ref      string `json:"ref,omitempty"`
	Type     string `json:"type,omitempty"`
	Supplier string `json:"supplier,omitempty"`
	Name     string `json:"name"`
	Version  string `json:"version,omitempty"`
	PURL     string `json:"purl,omitempty"`
	CPE      string `json:"cpe,omitempty"`
}

// SBOM is the software bill of materials of a device model.
type SBOM struct {
	Model ModelRef `json:"model"`
	// Format is "CycloneDX 1.4", "SPDX-2.3"...; Serial the document's
	// serial number or namespace.
	Format     string      `json:"format"`
	Serial     string      `json:"serial,omitempty"`
	Created    time.Time   `json:"created,omitzero"`
	Components []Component `json:"components"`
	Source     string      `json:"source"`
}

// Status is a VEX status (the CSAF product status groups and the
// CycloneDX analysis states map onto these).
type Status string

// VEX statuses.
const (
	NotAffected        Status = "not_affected"
	Affected           Status = "affected"
	Fixed              Status = "fixed"
	UnderInvestigation Status = "under_investigation"
)

// VEXStatement says whether a product is affected by a vulnerability.
type VEXStatement struct {
	// Vulnerability is a CVE or another identifier.
	Vulnerability string `json:"vulnerability"`
	// Model is the device model the statement is about; Component, when
	// set, the component of it ("log4j-core 2.14 in model X is not
	// affected").
	Model     ModelRef   `json:"model"`
	Component *Component `json:"component,omitempty"`
	Status    Status     `json:"status"`
	// Justification is why not affected (CycloneDX justification, CSAF
	// flag label); Impact the free text saying why; Action what to do
	// when affected.
	Justification string    `json:"justification,omitempty"`
	Impact        string    `json:"impact,omitempty"`
	Action        string    `json:"action,omitempty"`
	Response      []string  `json:"response,omitempty"`
	Versions      []string  `json:"versions,omitempty"`
	Timestamp     time.Time `json:"timestamp,omitzero"`
	// Document is the VEX document that made it.
	Document string `json:"document"`
}

// VEXDocument is a set of VEX statements from one document. Importing a
// document again replaces its statements.
type VEXDocument struct {
	ID         string         `json:"id"`
	Format     string         `json:"format"`
	Statements []VEXStatement `json:"statements"`
	Source     string         `json:"source"`
}
