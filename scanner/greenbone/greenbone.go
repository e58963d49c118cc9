// Package greenbone imports Greenbone/OpenVAS report XML (the GMP
// get_reports XML format, GMP 9 to 22) into scanner findings. The
// document is read as a stream: each <result> and each report <host> is
// decoded on its own.
package greenbone

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-health/vigil/scanner"
)

const format = "Greenbone/OpenVAS report XML"

type result struct {
	Name string `xml:"name"`
	Host struct {
		IP       string `xml:",chardata"`
		Hostname string `xml:"hostname"`
		Asset    struct {
			ID string `xml:"asset_id,attr"`
		} `xml:"asset"`
	} `xml:"host"`
	Port string `xml:"port"`
	NVT  struct {
		OID        string `xml:"oid,attr"`
		Name       string `xml:"name"`
		CVSSBase   string `xml:"cvss_base"`
		Tags       string `xml:"tags"`
		CVE        string `xml:"cve"` // GMP 7 and older: comma-separated
		Severities []struct {
			Type  string `xml:"type,attr"`
			Score string `xml:"score"`
			Value string `xml:"value"`
		} `xml:"severities>severity"`
		Refs []struct {
			Type string `xml:"type,attr"`
			ID   string `xml:"id,attr"`
		} `xml:"refs>ref"`
	} `xml:"nvt"`
	Threat   string `xml:"threat"`
	Severity string `xml:"severity"`
}

type host struct {
	IP      string `xml:"ip"`
	Start   string `xml:"start"`
	End     string `xml:"end"`
	Details []struct {
		Name  string `xml:"name"`
		Value string `xml:"value"`
	} `xml:"detail"`
}

// Parse reads a report; name is used in errors and as the findings'
// source. Results with threat Log and severity 0 are kept as info
// findings: a scan that found nothing on a host is still a fact.
func Parse(r io.Reader, name string) (*scanner.Report, error) {
	dec := xml.NewDecoder(r)
	dec.Strict = true
	fail := func(err error) (*scanner.Report, error) {
		return nil, &scanner.FormatError{File: name, Format: format, Offset: dec.InputOffset(), Err: err}
	}
	rep := &scanner.Report{Scanner: "openvas", Source: name}
	var stack []string
	hosts := map[string]int{}
	var end time.Time
	sawRoot := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case xml.StartElement:
			if len(stack) == 0 {
				if sawRoot {
					return fail(fmt.Errorf("second root element <%s>", t.Name.Local))
				}
				if t.Name.Local != "report" && t.Name.Local != "get_reports_response" {
					return fail(fmt.Errorf("root element is <%s>, want <report> (GMP get_reports, XML format)", t.Name.Local))
				}
				sawRoot = true
			}
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			switch {
			case t.Name.Local == "result" && parent == "results":
				var res result
				if err := dec.DecodeElement(&res, &t); err != nil {
					return fail(fmt.Errorf("result: %w", err))
				}
				f, err := finding(res, name)
				if err != nil {
					return fail(err)
				}
				rep.Findings = append(rep.Findings, f)
				continue
			case t.Name.Local == "host" && parent == "report":
				var h host
				if err := dec.DecodeElement(&h, &t); err != nil {
					return fail(fmt.Errorf("host: %w", err))
				}
				addHost(rep, hosts, h)
				continue
			case t.Name.Local == "scan_end" && parent == "report":
				var s string
				if err := dec.DecodeElement(&s, &t); err != nil {
					return fail(fmt.Errorf("scan_end: %w", err))
				}
				if ts, err := time.Parse(time.RFC3339, strings.TrimSpace(s)); err == nil {
					end = ts.UTC()
				}
				continue
			}
			stack = append(stack, t.Name.Local)
		}
	}
	if !sawRoot {
		return fail(errors.New("empty document"))
	}
	// Findings of hosts the report lists take their details; hosts only
	// named by results are listed too.
	for i := range rep.Findings {
		f := &rep.Findings[i]
		if _, ok := hosts[f.Host]; !ok {
			hosts[f.Host] = len(rep.Hosts)
			rep.Hosts = append(rep.Hosts, scanner.Host{Address: f.Host, Hostname: f.Hostname})
		}
		if j, ok := hosts[f.Host]; ok {
			h := rep.Hosts[j]
			if f.Hostname == "" {
				f.Hostname = h.Hostname
			}
			f.MAC = h.MAC
			if !h.End.IsZero() {
				f.Seen = h.End
			}
		}
		if f.Seen.IsZero() {
			f.Seen = end
		}
	}
	return rep, nil
}

func addHost(rep *scanner.Report, idx map[string]int, h host) {
	out := scanner.Host{Address: strings.TrimSpace(h.IP)}
	for _, d := range h.Details {
		v := strings.TrimSpace(d.Value)
		switch d.Name {
		case "hostname":
			if out.Hostname == "" {
				out.Hostname = v
			}
		case "MAC":
			out.MAC = scanner.NormalizeMAC(v)
		case "best_os_txt":
			out.OS = v
		}
	}
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(h.Start)); err == nil {
		out.Start = t.UTC()
	}
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(h.End)); err == nil {
		out.End = t.UTC()
	}
	if out.Address == "" {
		return
	}
	idx[out.Address] = len(rep.Hosts)
	rep.Hosts = append(rep.Hosts, out)
}

func finding(r result, source string) (scanner.Finding, error) {
	f := scanner.Finding{Scanner: "openvas", Source: source, Host: strings.TrimSpace(r.Host.IP),
		Hostname: strings.TrimSpace(r.Host.Hostname), AssetID: r.Host.Asset.ID, Check: r.NVT.OID,
		Title: strings.TrimSpace(cmpOr(r.NVT.Name, r.Name))}
	if f.Host == "" {
		return f, fmt.Errorf("result %q has no host", f.Title)
	}
	if f.Check == "" {
		return f, fmt.Errorf("result %q on %s has no NVT oid", f.Title, f.Host)
	}
	// "443/tcp", "general/tcp", "general/CPE-T", "package"
	if p, proto, ok := strings.Cut(strings.TrimSpace(r.Port), "/"); ok {
		if n, err := strconv.Atoi(p); err == nil && n > 0 && n < 65536 && (proto == "tcp" || proto == "udp") {
			f.Port, f.Protocol = n, proto
		}
	}
	var cves []string
	for _, ref := range r.NVT.Refs {
		if strings.EqualFold(ref.Type, "cve") {
			cves = append(cves, ref.ID)
		}
	}
	for _, c := range strings.Split(r.NVT.CVE, ",") {
		cves = append(cves, c) // NOCVE and empty entries are dropped
	}
	f.CVEs = scanner.NormalizeCVEs(cves)

	score, err := parseScore(r.Severity)
	if err != nil {
		return f, fmt.Errorf("result %q on %s: severity: %w", f.Title, f.Host, err)
	}
	for _, s := range r.NVT.Severities {
		if strings.HasPrefix(s.Type, "cvss_base_v3") || f.CVSSVector == "" {
			if v, err := parseScore(s.Score); err == nil && v > 0 {
				f.CVSS, f.CVSSVector = v, strings.TrimSpace(s.Value)
			}
		}
	}
	if f.CVSS == 0 {
		if v, err := parseScore(r.NVT.CVSSBase); err == nil {
			f.CVSS = v
		}
		for _, kv := range strings.Split(r.NVT.Tags, "|") {
			if k, v, ok := strings.Cut(kv, "="); ok && k == "cvss_base_vector" {
				f.CVSSVector = strings.TrimSpace(v)
			}
		}
	}
	// The result's own severity (after overrides) decides; a result
	// without one falls back to its threat level.
	switch {
	case score > 0:
		f.Severity = scanner.SeverityFromScore(score)
	default:
		switch strings.ToLower(strings.TrimSpace(r.Threat)) {
		case "critical":
			f.Severity = scanner.SeverityCritical
		case "high":
			f.Severity = scanner.SeverityHigh
		case "medium":
			f.Severity = scanner.SeverityMedium
		case "low":
			f.Severity = scanner.SeverityLow
		case "log", "debug", "", "false positive":
			f.Severity = scanner.SeverityInfo
		default:
			return f, fmt.Errorf("result %q on %s: threat %q, want High, Medium, Low or Log", f.Title, f.Host, r.Threat)
		}
	}
	return f, nil
}

// parseScore reads a 0-10 score; empty is 0. Greenbone writes -1 for
// "not applicable" (and -99 and -3 for errors and false positives): 0.
func parseScore(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if v < 0 && v >= -99 {
		return 0, nil
	}
	if !(v >= 0 && v <= 10) {
		return 0, fmt.Errorf("%v outside 0-10", v)
	}
	return v, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
