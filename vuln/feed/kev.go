package feed

import (
	"time"

	"github.com/vigil-health/vigil/vuln"
)

type kevCatalog struct {
	Title           string      `json:"title"`
	CatalogVersion  string      `json:"catalogVersion"`
	DateReleased    string      `json:"dateReleased"`
	Count           *int        `json:"count"`
	Vulnerabilities *[]kevEntry `json:"vulnerabilities"`
}

type kevEntry struct {
	CVEID             string   `json:"cveID"`
	VendorProject     string   `json:"vendorProject"`
	Product           string   `json:"product"`
	VulnerabilityName string   `json:"vulnerabilityName"`
	DateAdded         string   `json:"dateAdded"`
	ShortDescription  string   `json:"shortDescription"`
	RequiredAction    string   `json:"requiredAction"`
	DueDate           string   `json:"dueDate"`
	Ransomware        string   `json:"knownRansomwareCampaignUse"`
	Notes             string   `json:"notes"`
	CWEs              []string `json:"cwes"`
}

// ParseKEV reads the CISA Known Exploited Vulnerabilities catalog (JSON),
// checked against its published schema: the required fields, CVE and CWE
// patterns, dates. A count that disagrees with the entries is a warning
// (CISA's own test slices keep the full catalog's count).
func ParseKEV(name string, data []byte) (*vuln.Batch, []Problem, error) {
	c := &checker{}
	var in kevCatalog
	if p := decodeJSON(data, &in); p != nil {
		c.add(*p)
		return nil, nil, c.err(name, FormatKEV)
	}
	cat := vuln.KEVCatalog{Version: in.CatalogVersion, Source: name}
	c.required("$.catalogVersion", in.CatalogVersion)
	cat.Released = c.timeField("$.dateReleased", in.DateReleased)
	if in.Count == nil {
		c.errorf("$.count", "missing")
	}
	if in.Vulnerabilities == nil {
		c.errorf("$.vulnerabilities", "missing")
		return nil, c.warns, c.err(name, FormatKEV)
	}
	entries := *in.Vulnerabilities
	if in.Count != nil {
		cat.Count = *in.Count
		if *in.Count != len(entries) {
			c.warnf("$.count", "says %d entries, the catalog holds %d", *in.Count, len(entries))
		}
	}
	out := make([]vuln.KEVEntry, 0, len(entries))
	seen := map[string]int{}
	for i, e := range entries {
		p := idx("$.vulnerabilities", i)
		before := len(c.errs)
		if c.required(p+".cveID", e.CVEID) && !cveID.MatchString(e.CVEID) {
			c.errorf(p+".cveID", "%q is not a CVE ID (CVE-YYYY-NNNN)", e.CVEID)
		}
		for _, f := range []struct{ path, v string }{
			{".vendorProject", e.VendorProject}, {".product", e.Product}, {".vulnerabilityName", e.VulnerabilityName},
			{".shortDescription", e.ShortDescription}, {".requiredAction", e.RequiredAction},
		} {
			c.required(p+f.path, f.v)
		}
		added := c.date(p+".dateAdded", e.DateAdded)
		due := c.date(p+".dueDate", e.DueDate)
		switch e.Ransomware {
		case "Known", "Unknown", "":
		default:
			c.errorf(p+".knownRansomwareCampaignUse", "is %q, want Known or Unknown", e.Ransomware)
		}
		for j, w := range e.CWEs {
			if !cweID.MatchString(w) {
				c.errorf(idx(p+".cwes", j), "%q is not a CWE ID (CWE-N)", w)
			}
		}
		if len(c.errs) != before {
			continue
		}
		entry := vuln.KEVEntry{CVE: e.CVEID, Vendor: e.VendorProject, Product: e.Product, Name: e.VulnerabilityName,
			Description: e.ShortDescription, RequiredAction: e.RequiredAction, DateAdded: added, DueDate: due,
			Ransomware: e.Ransomware, Notes: e.Notes, CWEs: e.CWEs}
		if j, dup := seen[e.CVEID]; dup {
			c.warnf(p+".cveID", "%s is listed twice; the later entry is kept", e.CVEID)
			out[j] = entry
			continue
		}
		seen[e.CVEID] = len(out)
		out = append(out, entry)
	}
	if err := c.err(name, FormatKEV); err != nil {
		return nil, c.warns, err
	}
	return &vuln.Batch{KEV: &vuln.KEVBatch{Catalog: cat, Entries: out}}, c.warns, nil
}

// date parses a required YYYY-MM-DD date.
func (c *checker) date(path, s string) time.Time {
	if !c.required(path, s) {
		return time.Time{}
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		c.errorf(path, "%q is not a date (YYYY-MM-DD)", s)
	}
	return t
}
