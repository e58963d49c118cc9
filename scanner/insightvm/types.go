package insightvm

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The types below follow the console's API v3 (Swagger 2.0 description
// of console 6.6.55) and the responses recorded from a real console. Only
// the fields Vigil uses are declared; unknown fields are ignored, since
// real consoles send fields the published description lacks.

// Link is a hypermedia link.
type Link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
	ID   string `json:"id,omitempty"`
}

// PageInfo is the page block of a paged response.
type PageInfo struct {
	Number         int `json:"number"`
	Size           int `json:"size"`
	TotalResources int `json:"totalResources"`
	TotalPages     int `json:"totalPages"`
}

// Page is one page of resources of type T.
type Page[T any] struct {
	Resources []T      `json:"resources"`
	Page      PageInfo `json:"page"`
	Links     []Link   `json:"links"`
}

// next reports whether a page after this one exists: the "next" link, or
// the page counters when the console sent no link.
func (p Page[T]) next() bool {
	for _, l := range p.Links {
		if strings.EqualFold(l.Rel, "next") {
			return true
		}
	}
	return p.Page.Number+1 < p.Page.TotalPages
}

// Site is a scan site.
type Site struct {
	ID          int    `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Type        string `json:"type,omitempty"`
	ScanEngine  int    `json:"scanEngine,omitempty"`
	Assets      int    `json:"assets"`
	Links       []Link `json:"links,omitempty"`
}

// ScanTargets is the included or excluded target list of a site.
type ScanTargets struct {
	Addresses []string `json:"addresses"`
	Links     []Link   `json:"links,omitempty"`
}

// AssetAddress is one address of an asset.
type AssetAddress struct {
	IP  string `json:"ip"`
	MAC string `json:"mac,omitempty"`
}

// HostName is one name of an asset with where it was learned.
type HostName struct {
	Name   string `json:"name"`
	Source string `json:"source,omitempty"`
}

// VulnerabilityCounts summarises an asset's findings.
type VulnerabilityCounts struct {
	Critical int `json:"critical"`
	Severe   int `json:"severe"`
	Moderate int `json:"moderate"`
	Total    int `json:"total"`
}

// Asset is a host in the console's database.
type Asset struct {
	ID              int64               `json:"id"`
	IP              string              `json:"ip,omitempty"`
	MAC             string              `json:"mac,omitempty"`
	HostName        string              `json:"hostName,omitempty"`
	HostNames       []HostName          `json:"hostNames,omitempty"`
	Addresses       []AssetAddress      `json:"addresses,omitempty"`
	OS              string              `json:"os,omitempty"`
	RiskScore       float64             `json:"riskScore,omitempty"`
	Vulnerabilities VulnerabilityCounts `json:"vulnerabilities"`
	Links           []Link              `json:"links,omitempty"`
}

// AssessmentResult is one check result of a finding.
type AssessmentResult struct {
	CheckID  string `json:"checkId,omitempty"`
	Port     int    `json:"port,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	Proof    string `json:"proof,omitempty"`
	Since    string `json:"since,omitempty"`
	Status   string `json:"status"`
}

// VulnerabilityFinding is one vulnerability found on an asset.
type VulnerabilityFinding struct {
	ID        string             `json:"id"`
	Instances int                `json:"instances"`
	Results   []AssessmentResult `json:"results,omitempty"`
	Since     string             `json:"since,omitempty"`
	Status    string             `json:"status"`
}

// CVSSv2 and CVSSv3 hold the scores of a vulnerability.
type CVSSv2 struct {
	Score  float64 `json:"score"`
	Vector string  `json:"vector"`
}

// CVSSv3 is the CVSS v3 block.
type CVSSv3 struct {
	Score  float64 `json:"score"`
	Vector string  `json:"vector"`
}

// CVSS is the scores block of a vulnerability.
type CVSS struct {
	V2 *CVSSv2 `json:"v2,omitempty"`
	V3 *CVSSv3 `json:"v3,omitempty"`
}

// Description is a text in two renderings.
type Description struct {
	HTML string `json:"html,omitempty"`
	Text string `json:"text,omitempty"`
}

// Vulnerability is an entry of the console's vulnerability catalogue. Its
// ID is a Rapid7 check ID; CVEs map it to CVE identifiers (none, one or
// several).
type Vulnerability struct {
	ID            string      `json:"id"`
	Title         string      `json:"title"`
	CVEs          []string    `json:"cves,omitempty"`
	CVSS          CVSS        `json:"cvss"`
	Severity      string      `json:"severity,omitempty"`
	SeverityScore int         `json:"severityScore,omitempty"`
	RiskScore     float64     `json:"riskScore,omitempty"`
	Published     string      `json:"published,omitempty"`
	Modified      string      `json:"modified,omitempty"`
	Categories    []string    `json:"categories,omitempty"`
	Description   Description `json:"description"`
}

// Tag is a tag of the console (custom, location, owner or criticality).
type Tag struct {
	ID     int    `json:"id,omitempty"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Color  string `json:"color,omitempty"`
	Source string `json:"source,omitempty"`
	Links  []Link `json:"links,omitempty"`
}

// Reference is the body of a 201 Created: the new resource's ID.
type Reference struct {
	ID    json.Number `json:"id"`
	Links []Link      `json:"links,omitempty"`
}

// References lists IDs of associated resources (for example the assets of
// a tag).
type References struct {
	Resources []int64 `json:"resources"`
	Links     []Link  `json:"links,omitempty"`
}

// Resources is an unpaged list.
type Resources[T any] struct {
	Resources []T    `json:"resources"`
	Links     []Link `json:"links,omitempty"`
}

// SearchFilter is one criterion of an asset search.
type SearchFilter struct {
	Field    string `json:"field"`
	Operator string `json:"operator"`
	Value    any    `json:"value,omitempty"`
	Values   []any  `json:"values,omitempty"`
	Lower    any    `json:"lower,omitempty"`
	Upper    any    `json:"upper,omitempty"`
}

// SearchCriteria is the body of an asset search: match "all" or "any".
type SearchCriteria struct {
	Match   string         `json:"match"`
	Filters []SearchFilter `json:"filters"`
}

// APIError is an error response of the console. Status is a string in
// the description ("401") and a number on some consoles: both decode.
type APIError struct {
	Method     string
	Path       string
	StatusCode int
	Message    string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "no message"
	}
	hint := ""
	switch e.StatusCode {
	case 401:
		hint = " (check scanner.insightvm.user and the password)"
	case 403:
		hint = " (the account lacks the permission for this call)"
	case 404:
		hint = " (not found, or the account may not see it: the console answers 404 for both)"
	}
	return fmt.Sprintf("insightvm %s %s: %d: %s%s", e.Method, e.Path, e.StatusCode, msg, hint)
}

// errorBody decodes the error body; status may be a string or a number.
type errorBody struct {
	Status  json.RawMessage `json:"status"`
	Message string          `json:"message"`
}
