// Package nexpose imports InsightVM/Nexpose "XML Export" reports
// (NexposeReport 1.0 and 2.0) into scanner findings: the file-based
// alternative to reading the console's API.
package nexpose

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-health/vigil/scanner"
)

const format = "Nexpose XML export (NexposeReport)"

type test struct {
	ID     string `xml:"id,attr"`
	Status string `xml:"status,attr"`
}

type node struct {
	Address string   `xml:"address,attr"`
	MAC     string   `xml:"hardware-address,attr"`
	Names   []string `xml:"names>name"`
	Tests   []test   `xml:"tests>test"`
	OS      []struct {
		Vendor  string `xml:"vendor,attr"`
		Product string `xml:"product,attr"`
		Version string `xml:"version,attr"`
	} `xml:"fingerprints>os"`
	Endpoints []struct {
		Protocol string `xml:"protocol,attr"`
		Port     string `xml:"port,attr"`
		Tests    []test `xml:"services>service>tests>test"`
	} `xml:"endpoints>endpoint"`
	Definitions []definition `xml:"VulnerabilityDefinitions>vulnerability"`
}

type definition struct {
	ID         string `xml:"id,attr"`
	Title      string `xml:"title,attr"`
	Severity   string `xml:"severity,attr"`
	CVSSScore  string `xml:"cvssScore,attr"`
	CVSSVector string `xml:"cvssVector,attr"`
	References []struct {
		Source string `xml:"source,attr"`
		Value  string `xml:",chardata"`
	} `xml:"references>reference"`
}

var cveInID = regexp.MustCompile(`(?i)cve-\d{4}-\d{4,19}`)

// Parse reads a Nexpose XML export; name is used in errors and as the
// findings' source. A test whose definition the report lacks is kept with
// its ID as title, the CVEs its ID names and no severity.
func Parse(r io.Reader, name string) (*scanner.Report, error) {
	dec := xml.NewDecoder(r)
	dec.Strict = true
	fail := func(err error) (*scanner.Report, error) {
		return nil, &scanner.FormatError{File: name, Format: format, Offset: dec.InputOffset(), Err: err}
	}
	var nodes []node
	defs := map[string]definition{}
	var end time.Time
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root == "" {
			root = se.Name.Local
			if root != "NexposeReport" {
				return fail(fmt.Errorf("root element is <%s>, want <NexposeReport> (export the report as XML Export 2.0)", root))
			}
			continue
		}
		switch se.Name.Local {
		case "scan":
			for _, a := range se.Attr {
				if a.Name.Local == "endTime" {
					if t, ok := parseTime(a.Value); ok && t.After(end) {
						end = t
					}
				}
			}
		case "node":
			var n node
			if err := dec.DecodeElement(&n, &se); err != nil {
				return fail(fmt.Errorf("node: %w", err))
			}
			if strings.TrimSpace(n.Address) == "" {
				return fail(errors.New("node without address"))
			}
			for _, d := range n.Definitions {
				defs[d.ID] = d
			}
			nodes = append(nodes, n)
		case "vulnerability":
			var d definition
			if err := dec.DecodeElement(&d, &se); err != nil {
				return fail(fmt.Errorf("vulnerability: %w", err))
			}
			if d.ID == "" {
				return fail(errors.New("vulnerability definition without id"))
			}
			defs[d.ID] = d
		}
	}
	if root == "" {
		return fail(errors.New("empty document"))
	}
	rep := &scanner.Report{Scanner: "nexpose", Source: name}
	for _, n := range nodes {
		h := scanner.Host{Address: strings.TrimSpace(n.Address), MAC: scanner.NormalizeMAC(n.MAC), End: end}
		if len(n.Names) > 0 {
			h.Hostname = strings.TrimSpace(n.Names[0])
		}
		if len(n.OS) > 0 {
			h.OS = strings.TrimSpace(strings.Join([]string{n.OS[0].Vendor, n.OS[0].Product, n.OS[0].Version}, " "))
		}
		rep.Hosts = append(rep.Hosts, h)
		add := func(t test, port int, proto string) error {
			if !strings.HasPrefix(t.Status, "vulnerable") {
				return nil
			}
			f := scanner.Finding{Scanner: "nexpose", Source: name, Host: h.Address, MAC: h.MAC, Hostname: h.Hostname,
				Check: t.ID, Title: t.ID, Port: port, Protocol: proto, Seen: end}
			d, ok := defs[t.ID]
			if !ok {
				f.CVEs = scanner.NormalizeCVEs(cveInID.FindAllString(t.ID, -1))
				rep.Findings = append(rep.Findings, f)
				return nil
			}
			f.Title = d.Title
			var cves []string
			for _, r := range d.References {
				if strings.EqualFold(r.Source, "CVE") {
					cves = append(cves, r.Value)
				}
			}
			f.CVEs = scanner.NormalizeCVEs(append(cves, cveInID.FindAllString(t.ID, -1)...))
			if s, err := strconv.ParseFloat(d.CVSSScore, 64); err == nil && s > 0 {
				if !(s <= 10) {
					return fmt.Errorf("vulnerability %s: cvssScore %v outside 0-10", d.ID, s)
				}
				f.CVSS, f.CVSSVector = s, strings.Trim(d.CVSSVector, "()")
			}
			sev, err := strconv.Atoi(d.Severity)
			switch {
			case f.CVSS > 0:
				f.Severity = scanner.SeverityFromScore(f.CVSS)
			case err != nil || sev < 0 || sev > 10:
				return fmt.Errorf("vulnerability %s: severity %q, want 0-10", d.ID, d.Severity)
			case sev >= 8:
				f.Severity = scanner.SeverityCritical
			case sev >= 4:
				f.Severity = scanner.SeverityHigh
			case sev >= 1:
				f.Severity = scanner.SeverityMedium
			default:
				f.Severity = scanner.SeverityInfo
			}
			rep.Findings = append(rep.Findings, f)
			return nil
		}
		for _, t := range n.Tests {
			if err := add(t, 0, ""); err != nil {
				return fail(err)
			}
		}
		for _, e := range n.Endpoints {
			port, _ := strconv.Atoi(e.Port)
			if port < 0 || port > 65535 {
				return fail(fmt.Errorf("node %s: endpoint port %q", h.Address, e.Port))
			}
			for _, t := range e.Tests {
				if err := add(t, port, e.Protocol); err != nil {
					return fail(err)
				}
			}
		}
	}
	return rep, nil
}

// parseTime reads Nexpose's 20210228T225429678 (milliseconds without a
// separator, UTC).
func parseTime(s string) (time.Time, bool) {
	if len(s) < 15 {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T150405", s[:15])
	if err != nil {
		return time.Time{}, false
	}
	if ms, err := strconv.Atoi(s[15:]); err == nil && len(s) == 18 {
		t = t.Add(time.Duration(ms) * time.Millisecond)
	}
	return t.UTC(), true
}
