package vuln

import (
	"slices"
	"strings"
	"time"
)

// Confidence of a device's vulnerability.
const (
	// Confirmed: the device's vendor, product and version are in an
	// affected range, a CPE with the device's version matched, or a
	// scanner verified it.
	Confirmed = "confirmed"
	// Potential: the product is affected in some versions and the
	// device's version is unknown or could be read only in part.
	Potential = "potential"
)

// Vulnerability types.
const (
	TypeClinical    = "clinical"
	TypePlatform    = "platform"
	TypeApplication = "application"
)

// Match is one vulnerability that applies to one device, merged across
// every source that says so (advisories, NVD CPE configurations, SBOM
// components, scanners).
type Match struct {
	// Device is the device key, DeviceID the inventory's stable ID.
	Device   string `json:"device"`
	DeviceID string `json:"device_id,omitempty"`
	// ID is the CVE, or an advisory's or scanner's own identifier when
	// there is none.
	ID         string   `json:"id"`
	Title      string   `json:"title,omitempty"`
	Advisories []string `json:"advisories,omitempty"`
	// Type is clinical, platform or application.
	Type       string `json:"type"`
	Confidence string `json:"confidence"`
	// Sources: csaf, nvd, sbom, insightvm, nessus, openvas, ...
	Sources []string `json:"sources"`
	Product string   `json:"product,omitempty"`
	Version string   `json:"version,omitempty"`
	Range   string   `json:"range,omitempty"`
	// CVSS v3 base score and vector; EPSS probability; KEV listing.
	CVSS       float64 `json:"cvss,omitempty"`
	CVSSVector string  `json:"cvss_vector,omitempty"`
	EPSS       float64 `json:"epss,omitempty"`
	KEV        bool    `json:"kev,omitempty"`
	FixedIn    string  `json:"fixed_in,omitempty"`
	// Evidence: one sentence per reason it applies.
	Evidence []string `json:"evidence"`
}

// Merge folds another match of the same vulnerability into m: the
// stronger confidence wins (with its product, version and range), sources,
// advisories and evidence are joined.
func (m *Match) Merge(o Match) {
	if o.Confidence == Confirmed && m.Confidence != Confirmed {
		m.Confidence = Confirmed
		m.Product, m.Version, m.Range = o.Product, o.Version, o.Range
	}
	m.Sources = union(m.Sources, o.Sources)
	m.Advisories = union(m.Advisories, o.Advisories)
	for _, e := range o.Evidence {
		if !slices.Contains(m.Evidence, e) {
			m.Evidence = append(m.Evidence, e)
		}
	}
	if m.CVSS == 0 {
		m.CVSS, m.CVSSVector = o.CVSS, o.CVSSVector
	}
	if m.FixedIn == "" {
		m.FixedIn = o.FixedIn
	}
	if m.Title == "" {
		m.Title = o.Title
	}
	m.EPSS = max(m.EPSS, o.EPSS)
	m.KEV = m.KEV || o.KEV
	// A clinical reading of the vulnerability beats a platform one, which
	// beats an application one: the device's function is what is at risk.
	if typeRank(o.Type) > typeRank(m.Type) {
		m.Type = o.Type
	}
}

func typeRank(t string) int {
	switch t {
	case TypeClinical:
		return 3
	case TypePlatform:
		return 2
	case TypeApplication:
		return 1
	}
	return 0
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

// ScannerFinding is a vulnerability an active scanner (InsightVM, Nessus,
// Greenbone/OpenVAS) reported for a device, handed to matching as one
// more source. The scanner integration fills it; matching merges it with
// the passive matches by vulnerability ID, never duplicating.
type ScannerFinding struct {
	// Device is the inventory's device key or ID the scanner's asset was
	// merged with (by MAC, host name or address).
	Device string `json:"device"`
	// Source names the scanner: "insightvm", "nessus", "openvas".
	Source string `json:"source"`
	// ID is the CVE; Check the scanner's own identifier (a Rapid7 check
	// ID, a Nessus plugin ID, an NVT OID). A finding with several CVEs is
	// several ScannerFindings; one with none uses "<source>:<check>" as ID.
	ID    string `json:"id"`
	Check string `json:"check,omitempty"`
	Title string `json:"title,omitempty"`
	// Verified is true when the scanner confirmed the vulnerability
	// (InsightVM vulnerable, vulnerable-version; a Nessus finding), false
	// when it only suspects it (InsightVM vulnerable-potential).
	Verified bool `json:"verified"`
	// Type is platform or application; empty means application.
	Type string  `json:"type,omitempty"`
	CVSS float64 `json:"cvss,omitempty"`
	// Port and Proof locate it ("tcp/443", the scanner's proof as text).
	Port  string `json:"port,omitempty"`
	Proof string `json:"proof,omitempty"`
	// Seen is when the scanner last found it.
	Seen time.Time `json:"seen,omitzero"`
}

// AsMatch turns a scanner finding into a match for a device.
func (f ScannerFinding) AsMatch(device, deviceID string) Match {
	m := Match{Device: device, DeviceID: deviceID, ID: f.ID, Title: f.Title, Type: f.Type,
		Confidence: Potential, Sources: []string{f.Source}, CVSS: f.CVSS}
	if m.Type == "" {
		m.Type = TypeApplication
	}
	if f.Verified {
		m.Confidence = Confirmed
	}
	ev := f.Source + " reported " + f.ID
	if f.Check != "" {
		ev += " (check " + f.Check + ")"
	}
	if f.Port != "" {
		ev += " on " + f.Port
	}
	if f.Proof != "" {
		ev += ": " + strings.TrimSpace(f.Proof)
	}
	m.Evidence = []string{ev}
	return m
}

// Record is a device's vulnerability with its lifecycle.
type Record struct {
	Match
	// Status is open or resolved.
	Status string `json:"status"`
	// DetectedAt is the event time it was (last) detected, ResolvedAt the
	// event time it was resolved; DaysOpen whole days between detection
	// and resolution, or the latest event time while open.
	DetectedAt time.Time `json:"detected_at"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	DaysOpen   int       `json:"days_open"`
}

// Record statuses.
const (
	Open     = "open"
	Resolved = "resolved"
)

// Query selects device vulnerabilities; zero fields do not filter.
type Query struct {
	// Device is a device ID or key.
	Device     string
	ID         string // a CVE
	Type       string
	Confidence string
	// Status is open (the default in the API), resolved or all.
	Status string
}

// Matches tells whether r passes the query.
func (q Query) Matches(r Record) bool {
	switch {
	case q.Device != "" && q.Device != r.DeviceID && q.Device != r.Match.Device:
		return false
	case q.ID != "" && !strings.EqualFold(q.ID, r.ID):
		return false
	case q.Type != "" && q.Type != r.Type:
		return false
	case q.Confidence != "" && q.Confidence != r.Confidence:
		return false
	case q.Status != "" && q.Status != "all" && q.Status != r.Status:
		return false
	}
	return true
}

// Service is what the web dashboard and the API read of device
// vulnerabilities. The matcher component (vuln/match) implements it.
type Service interface {
	// Vulnerabilities returns the device vulnerabilities that pass q,
	// sorted by device key and vulnerability ID.
	Vulnerabilities(q Query) []Record
	// DeviceVulnerabilities returns every vulnerability (open and
	// resolved) of a device by ID or key; false when the device is
	// unknown to the matcher.
	DeviceVulnerabilities(device string) ([]Record, bool)
	// Summary counts open vulnerabilities by type and confidence and the
	// data held.
	Summary() ServiceSummary
}

// ServiceSummary counts what the matcher knows.
type ServiceSummary struct {
	Devices int `json:"devices"`
	// DevicesAffected have at least one open vulnerability.
	DevicesAffected int            `json:"devices_affected"`
	Open            int            `json:"open"`
	Resolved        int            `json:"resolved"`
	ByType          map[string]int `json:"by_type"`
	ByConfidence    map[string]int `json:"by_confidence"`
	Store           Stats          `json:"store"`
}
