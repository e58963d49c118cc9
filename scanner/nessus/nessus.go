// Package nessus imports Nessus and Tenable .nessus result files
// (NessusClientData_v2) into scanner findings. The file is read as a
// stream, one ReportHost at a time, so exports of hundreds of megabytes
// are read in bounded memory.
package nessus

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

const format = ".nessus (NessusClientData_v2)"

type reportHost struct {
	Name       string `xml:"name,attr"`
	Properties []struct {
		Name  string `xml:"name,attr"`
		Value string `xml:",chardata"`
	} `xml:"HostProperties>tag"`
	Items []reportItem `xml:"ReportItem"`
}

type reportItem struct {
	Port        string   `xml:"port,attr"`
	Protocol    string   `xml:"protocol,attr"`
	Severity    string   `xml:"severity,attr"`
	PluginID    string   `xml:"pluginID,attr"`
	PluginName  string   `xml:"pluginName,attr"`
	CVEs        []string `xml:"cve"`
	CVSS3       string   `xml:"cvss3_base_score"`
	CVSS3Vector string   `xml:"cvss3_vector"`
	CVSS2       string   `xml:"cvss_base_score"`
	CVSS2Vector string   `xml:"cvss_vector"`
	CPE         string   `xml:"cpe"`
}

// severities maps the ReportItem severity attribute (0-4).
var severities = map[string]string{"0": scanner.SeverityInfo, "1": scanner.SeverityLow, "2": scanner.SeverityMedium,
	"3": scanner.SeverityHigh, "4": scanner.SeverityCritical}

// Parse reads a .nessus file; name is used in errors and as the findings'
// source. A file that is not NessusClientData_v2, or breaks off, is a
// FormatError naming where.
func Parse(r io.Reader, name string) (*scanner.Report, error) {
	dec := xml.NewDecoder(r)
	dec.Strict = true
	fail := func(err error) (*scanner.Report, error) {
		return nil, &scanner.FormatError{File: name, Format: format, Offset: dec.InputOffset(), Err: err}
	}
	rep := &scanner.Report{Scanner: "nessus", Source: name}
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
			if root != "NessusClientData_v2" {
				return fail(fmt.Errorf("root element is <%s>, want <NessusClientData_v2> (export the scan as .nessus, not v1 or HTML)", root))
			}
			continue
		}
		if se.Name.Local != "ReportHost" {
			continue
		}
		var h reportHost
		if err := dec.DecodeElement(&h, &se); err != nil {
			return fail(fmt.Errorf("ReportHost: %w", err))
		}
		if err := add(rep, h, name); err != nil {
			return fail(err)
		}
	}
	if root == "" {
		return fail(errors.New("empty document"))
	}
	return rep, nil
}

func add(rep *scanner.Report, h reportHost, source string) error {
	props := map[string]string{}
	for _, p := range h.Properties {
		props[p.Name] = strings.TrimSpace(p.Value)
	}
	host := scanner.Host{Address: props["host-ip"], Hostname: props["host-fqdn"], OS: props["operating-system"]}
	if host.Address == "" {
		host.Address = h.Name
	}
	if host.Hostname == "" {
		host.Hostname = cmpOr(props["hostname"], props["netbios-name"])
	}
	if host.Hostname == "" && host.Address != h.Name {
		host.Hostname = h.Name
	}
	// mac-address may list several MACs, one per line: the first is the
	// scanned interface.
	if macs := strings.Fields(props["mac-address"]); len(macs) > 0 {
		host.MAC = scanner.NormalizeMAC(macs[0])
	}
	host.Start = when(props["HOST_START_TIMESTAMP"], props["HOST_START"])
	host.End = when(props["HOST_END_TIMESTAMP"], props["HOST_END"])
	if host.Address == "" {
		return errors.New("ReportHost without a name or host-ip")
	}
	rep.Hosts = append(rep.Hosts, host)
	for _, it := range h.Items {
		sev, ok := severities[strings.TrimSpace(it.Severity)]
		if !ok {
			return fmt.Errorf("ReportItem plugin %s on %s: severity %q, want 0-4", it.PluginID, host.Address, it.Severity)
		}
		if it.PluginID == "" {
			return fmt.Errorf("ReportItem on %s without pluginID", host.Address)
		}
		f := scanner.Finding{Scanner: "nessus", Source: source, Host: host.Address, MAC: host.MAC, Hostname: host.Hostname,
			Check: it.PluginID, Title: it.PluginName, CVEs: scanner.NormalizeCVEs(it.CVEs), Severity: sev,
			Protocol: it.Protocol, CPE: strings.TrimSpace(it.CPE), Seen: host.End}
		if p, err := strconv.Atoi(it.Port); err == nil && p > 0 {
			f.Port = p
		}
		if s, err := strconv.ParseFloat(strings.TrimSpace(it.CVSS3), 64); err == nil {
			f.CVSS, f.CVSSVector = s, strings.TrimSpace(it.CVSS3Vector)
		} else if s, err := strconv.ParseFloat(strings.TrimSpace(it.CVSS2), 64); err == nil {
			f.CVSS, f.CVSSVector = s, strings.TrimSpace(it.CVSS2Vector)
		}
		if !(f.CVSS >= 0 && f.CVSS <= 10) {
			return fmt.Errorf("ReportItem plugin %s on %s: CVSS %v outside 0-10", it.PluginID, host.Address, f.CVSS)
		}
		rep.Findings = append(rep.Findings, f)
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// when reads a host's start or end: the Unix timestamp when present, else
// Nessus' ctime-like text ("Wed Mar 23 15:07:52 2022", UTC assumed).
func when(ts, text string) time.Time {
	if n, err := strconv.ParseInt(ts, 10, 64); err == nil && n > 0 {
		return time.Unix(n, 0).UTC()
	}
	if t, err := time.Parse("Mon Jan _2 15:04:05 2006", text); err == nil {
		return t.UTC()
	}
	return time.Time{}
}
