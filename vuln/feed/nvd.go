package feed

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/cpe"
)

// nvdPage is a response of the NVD CVE API 2.0 (and a yearly NVD 2.0
// data feed, which has the same shape). Pointers tell missing from zero.
type nvdPage struct {
	ResultsPerPage  *int      `json:"resultsPerPage"`
	StartIndex      *int      `json:"startIndex"`
	TotalResults    *int      `json:"totalResults"`
	Format          string    `json:"format"`
	Version         string    `json:"version"`
	Timestamp       string    `json:"timestamp"`
	Vulnerabilities *[]nvdVul `json:"vulnerabilities"`
}

type nvdVul struct {
	CVE *nvdCVE `json:"cve"`
}

type nvdText struct {
	Lang  string `json:"lang"`
	Value string `json:"value"`
}

type nvdCVE struct {
	ID             string    `json:"id"`
	Published      string    `json:"published"`
	LastModified   string    `json:"lastModified"`
	VulnStatus     string    `json:"vulnStatus"`
	Descriptions   []nvdText `json:"descriptions"`
	CISAExploitAdd string    `json:"cisaExploitAdd"`
	Metrics        struct {
		V31 []nvdMetric `json:"cvssMetricV31"`
		V30 []nvdMetric `json:"cvssMetricV30"`
	} `json:"metrics"`
	Weaknesses []struct {
		Description []nvdText `json:"description"`
	} `json:"weaknesses"`
	Configurations []struct {
		Operator string `json:"operator"`
		Negate   bool   `json:"negate"`
		Nodes    []struct {
			Operator string `json:"operator"`
			Negate   bool   `json:"negate"`
			CPEMatch []struct {
				Vulnerable      *bool  `json:"vulnerable"`
				Criteria        string `json:"criteria"`
				MatchCriteriaID string `json:"matchCriteriaId"`
				cpe.Range
			} `json:"cpeMatch"`
		} `json:"nodes"`
	} `json:"configurations"`
	References []struct {
		URL string `json:"url"`
	} `json:"references"`
}

type nvdMetric struct {
	Source   string `json:"source"`
	Type     string `json:"type"`
	CVSSData struct {
		Version      string   `json:"version"`
		VectorString string   `json:"vectorString"`
		BaseScore    *float64 `json:"baseScore"`
		BaseSeverity string   `json:"baseSeverity"`
	} `json:"cvssData"`
}

var (
	cveID = regexp.MustCompile(`^CVE-[0-9]{4}-[0-9]{4,19}$`)
	cweID = regexp.MustCompile(`^CWE-[0-9]+$`)
)

// ParseNVD reads an NVD CVE API 2.0 response or data feed file.
func ParseNVD(name string, data []byte) (*vuln.Batch, []Problem, error) {
	b, warns, _, err := parseNVDPage(name, data)
	return b, warns, err
}

// pageInfo is the paging of a response.
type pageInfo struct{ start, perPage, total, count int }

func parseNVDPage(name string, data []byte) (*vuln.Batch, []Problem, pageInfo, error) {
	c := &checker{}
	var page nvdPage
	var info pageInfo
	if p := decodeJSON(data, &page); p != nil {
		c.add(*p)
		return nil, nil, info, c.err(name, FormatNVD)
	}
	if page.Format != "NVD_CVE" {
		c.errorf("$.format", "is %q, want \"NVD_CVE\"", page.Format)
	}
	if page.Version == "" {
		c.errorf("$.version", "missing")
	} else if !strings.HasPrefix(page.Version, "2.") {
		c.errorf("$.version", "is %q: Vigil reads the CVE API 2.x", page.Version)
	}
	if page.Vulnerabilities == nil {
		c.errorf("$.vulnerabilities", "missing")
		return nil, c.warns, info, c.err(name, FormatNVD)
	}
	for _, f := range []struct {
		path string
		v    *int
	}{{"$.resultsPerPage", page.ResultsPerPage}, {"$.startIndex", page.StartIndex}, {"$.totalResults", page.TotalResults}} {
		if f.v == nil {
			c.errorf(f.path, "missing")
		} else if *f.v < 0 {
			c.errorf(f.path, "is negative")
		}
	}
	vulns := *page.Vulnerabilities
	if page.ResultsPerPage != nil && page.StartIndex != nil && page.TotalResults != nil {
		info = pageInfo{start: *page.StartIndex, perPage: *page.ResultsPerPage, total: *page.TotalResults, count: len(vulns)}
		if info.start+len(vulns) > info.total {
			c.warnf("$.totalResults", "%d results from index %d exceed totalResults %d", len(vulns), info.start, info.total)
		}
	}
	b := &vuln.Batch{}
	seen := map[string]int{}
	for i, v := range vulns {
		path := idx("$.vulnerabilities", i) + ".cve"
		if v.CVE == nil {
			c.errorf(path, "missing")
			continue
		}
		rec, ok := nvdRecord(c, path, v.CVE)
		if !ok {
			continue
		}
		rec.Source = name
		if j, dup := seen[rec.ID]; dup {
			c.warnf(path+".id", "%s appears twice; the later lastModified is kept", rec.ID)
			if rec.LastModified.After(b.CVEs[j].LastModified) {
				b.CVEs[j] = rec
			}
			continue
		}
		seen[rec.ID] = len(b.CVEs)
		b.CVEs = append(b.CVEs, rec)
	}
	if err := c.err(name, FormatNVD); err != nil {
		return nil, c.warns, info, err
	}
	return b, c.warns, info, nil
}

// nvdRecord converts and checks one CVE.
func nvdRecord(c *checker, path string, in *nvdCVE) (vuln.CVE, bool) {
	before := len(c.errs)
	out := vuln.CVE{ID: in.ID, Status: in.VulnStatus, CISAExploitAdd: in.CISAExploitAdd}
	if c.required(path+".id", in.ID) && !cveID.MatchString(in.ID) {
		c.errorf(path+".id", "%q is not a CVE ID (CVE-YYYY-NNNN)", in.ID)
	}
	out.Published = c.timeField(path+".published", in.Published)
	out.LastModified = c.timeField(path+".lastModified", in.LastModified)
	if len(in.Descriptions) == 0 {
		c.errorf(path+".descriptions", "missing: a CVE has at least one description")
	}
	for _, d := range in.Descriptions {
		out.Descriptions = append(out.Descriptions, vuln.Text{Lang: d.Lang, Value: d.Value})
	}
	for _, m := range []struct {
		key, version string
		list         []nvdMetric
	}{{"cvssMetricV31", "3.1", in.Metrics.V31}, {"cvssMetricV30", "3.0", in.Metrics.V30}} {
		for i, x := range m.list {
			mp := idx(path+".metrics."+m.key, i) + ".cvssData"
			if s, ok := checkCVSS(c, mp, x.CVSSData.Version, x.CVSSData.VectorString, x.CVSSData.BaseScore); ok {
				if s.Version != m.version {
					c.errorf(mp+".version", "is %q in %s", s.Version, m.key)
				}
				s.Severity, s.Source, s.Type = x.CVSSData.BaseSeverity, x.Source, x.Type
				out.CVSS = append(out.CVSS, s)
			}
		}
	}
	for _, w := range in.Weaknesses {
		for _, d := range w.Description {
			if cweID.MatchString(d.Value) && !contains(out.CWEs, d.Value) {
				out.CWEs = append(out.CWEs, d.Value) // NVD-CWE-Other and NVD-CWE-noinfo say nothing
			}
		}
	}
	for i, cfg := range in.Configurations {
		cp := idx(path+".configurations", i)
		if !validOperator(cfg.Operator, true) {
			c.errorf(cp+".operator", "is %q, want AND or OR", cfg.Operator)
		}
		if len(cfg.Nodes) == 0 {
			c.errorf(cp+".nodes", "missing")
		}
		conf := vuln.Configuration{Operator: cfg.Operator, Negate: cfg.Negate}
		for j, n := range cfg.Nodes {
			np := idx(cp+".nodes", j)
			if !validOperator(n.Operator, false) {
				c.errorf(np+".operator", "is %q, want AND or OR", n.Operator)
			}
			if len(n.CPEMatch) == 0 {
				c.errorf(np+".cpeMatch", "missing")
			}
			node := vuln.Node{Operator: n.Operator, Negate: n.Negate}
			for k, m := range n.CPEMatch {
				mp := idx(np+".cpeMatch", k)
				if m.Vulnerable == nil {
					c.errorf(mp+".vulnerable", "missing")
					continue
				}
				name, err := cpe.Parse(m.Criteria)
				if err != nil {
					c.errorf(mp+".criteria", "%v", err)
					continue
				}
				if !strings.HasPrefix(m.Criteria, "cpe:2.3:") {
					c.errorf(mp+".criteria", "NVD criteria are CPE 2.3 formatted strings, not %q", m.Criteria)
				}
				if err := m.Range.Validate(); err != nil {
					c.errorf(mp, "%v", err)
				}
				node.Matches = append(node.Matches, vuln.CPEMatch{Vulnerable: *m.Vulnerable, Criteria: name, ID: m.MatchCriteriaID, Range: m.Range})
			}
			conf.Nodes = append(conf.Nodes, node)
		}
		out.Configurations = append(out.Configurations, conf)
	}
	for _, r := range in.References {
		if r.URL != "" && !contains(out.References, r.URL) {
			out.References = append(out.References, r.URL)
		}
	}
	return out, len(c.errs) == before
}

func validOperator(op string, optional bool) bool {
	return op == "AND" || op == "OR" || optional && op == ""
}

// checkCVSS checks a CVSS v3 score: version 3.0 or 3.1, a vector of that
// version, a base score from 0 to 10.
func checkCVSS(c *checker, path, version, vector string, score *float64) (vuln.CVSS, bool) {
	before := len(c.errs)
	if version != "3.0" && version != "3.1" {
		c.errorf(path+".version", "is %q, want 3.0 or 3.1", version)
	}
	if !strings.HasPrefix(vector, "CVSS:"+version+"/") {
		c.errorf(path+".vectorString", "%q does not start with CVSS:%s/", vector, version)
	} else if err := checkVector(strings.TrimPrefix(vector, "CVSS:"+version+"/")); err != nil {
		c.errorf(path+".vectorString", "%q: %v", vector, err)
	}
	if score == nil {
		c.errorf(path+".baseScore", "missing")
	} else if *score < 0 || *score > 10 {
		c.errorf(path+".baseScore", "%v is not between 0 and 10", *score)
	}
	if len(c.errs) != before {
		return vuln.CVSS{}, false
	}
	return vuln.CVSS{Version: version, Vector: vector, BaseScore: *score}, true
}

// cvss3Base are the base metrics of CVSS v3 and their values.
var cvss3Base = []struct{ name, values string }{
	{"AV", "NALP"}, {"AC", "LH"}, {"PR", "NLH"}, {"UI", "NR"}, {"S", "UC"}, {"C", "NLH"}, {"I", "NLH"}, {"A", "NLH"},
}

// checkVector checks that a CVSS v3 vector (after its prefix) holds the
// eight base metrics in order; temporal and environmental metrics may
// follow.
func checkVector(v string) error {
	parts := strings.Split(v, "/")
	if len(parts) < len(cvss3Base) {
		return fmt.Errorf("%d metrics, the base needs %d", len(parts), len(cvss3Base))
	}
	for i, m := range cvss3Base {
		name, val, ok := strings.Cut(parts[i], ":")
		if !ok || name != m.name || len(val) != 1 || !strings.Contains(m.values, val) {
			return fmt.Errorf("metric %d is %q, want %s:[%s]", i+1, parts[i], m.name, m.values)
		}
	}
	return nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
