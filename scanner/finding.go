// Package scanner is Vigil's two-way integration with active vulnerability
// scanners: it tells them which devices they must not touch (exclusions
// kept by device identity, not by address) and reads their findings back
// for the devices they may scan. The sub-packages hold one scanner each
// (insightvm, nessus, greenbone, nexpose), the exclusion exports
// (exclusions) and the identity-keyed reconciler (sync). See
// docs/scanners.md.
package scanner

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Severity levels of a finding, the same words as events.Severity.
const (
	SeverityInfo     = "info"
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Finding is one vulnerability (or informational result) a scanner
// reported for one host. Every importer and the InsightVM sync produce it;
// the vulnerability engine turns it into its own records (a finding has no
// device until Merge assigns one).
type Finding struct {
	// Scanner is insightvm, nessus, openvas or nexpose; Source the file or
	// console it came from.
	Scanner string `json:"scanner"`
	Source  string `json:"source,omitempty"`
	// Host is the address the scanner reached; MAC and Hostname what it
	// learned of the host (either may be empty).
	Host     string `json:"host"`
	MAC      string `json:"mac,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	// AssetID is the scanner's own host identifier, when it has one.
	AssetID string `json:"asset_id,omitempty"`
	// Check is the scanner's check: a Nessus plugin ID, a Greenbone NVT
	// OID, an InsightVM vulnerability ID. Title names it.
	Check string `json:"check"`
	Title string `json:"title"`
	// CVEs are the CVE identifiers the check names (upper case, sorted);
	// a check may name none.
	CVEs []string `json:"cves,omitempty"`
	// Severity is info, low, medium, high or critical ("" when the
	// scanner's catalogue has no entry for the check); CVSS the base
	// score (0-10, v3 when the scanner gives one, else v2) and its vector.
	Severity   string  `json:"severity"`
	CVSS       float64 `json:"cvss,omitempty"`
	CVSSVector string  `json:"cvss_vector,omitempty"`
	// Port and Protocol locate the finding on the host (0 and "" for a
	// host-wide finding).
	Port     int    `json:"port,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	// CPE is the affected platform as the scanner named it (CPE 2.2 URI
	// binding for Nessus and Greenbone).
	CPE string `json:"cpe,omitempty"`
	// Seen is when the scanner found it (scan end or the finding's since).
	Seen time.Time `json:"seen,omitzero"`
	// DeviceID and MatchedBy are set by Merge: the inventory device the
	// host is, and whether it matched by mac, hostname or ip.
	DeviceID  string `json:"device_id,omitempty"`
	MatchedBy string `json:"matched_by,omitempty"`
}

// SeverityFromScore maps a CVSS base score to a severity with the NVD
// v3 bands (0 info, <4 low, <7 medium, <9 high, else critical).
func SeverityFromScore(score float64) string {
	switch {
	case score <= 0:
		return SeverityInfo
	case score < 4:
		return SeverityLow
	case score < 7:
		return SeverityMedium
	case score < 9:
		return SeverityHigh
	}
	return SeverityCritical
}

// NormalizeCVEs upper-cases, de-duplicates and sorts CVE identifiers,
// dropping anything that is not CVE-YYYY-NNNN+.
func NormalizeCVEs(in []string) []string {
	var out []string
	for _, c := range in {
		c = strings.ToUpper(strings.TrimSpace(c))
		if IsCVE(c) && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// IsCVE says whether s is a CVE identifier (CVE-YYYY-NNNN with 4 to 19
// digits, the KEV schema's pattern).
func IsCVE(s string) bool {
	if len(s) < 13 || !strings.EqualFold(s[:4], "CVE-") || s[8] != '-' {
		return false
	}
	for _, r := range s[4:8] {
		if r < '0' || r > '9' {
			return false
		}
	}
	digits := s[9:]
	if len(digits) < 4 || len(digits) > 19 {
		return false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// NormalizeMAC returns a MAC in Vigil's form (lower case, colon
// separated) from the forms scanners write (AB:12:CD:34:EF:56,
// ab-12-cd-34-ef-56, ab12cd34ef56, ab12.cd34.ef56), or "" when s is not
// a 48-bit MAC.
func NormalizeMAC(s string) string {
	var hex []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			hex = append(hex, c)
		case c >= 'A' && c <= 'F':
			hex = append(hex, c+'a'-'A')
		case c == ':' || c == '-' || c == '.':
		default:
			return ""
		}
	}
	if len(hex) != 12 {
		return ""
	}
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.Write(hex[i : i+2])
	}
	return b.String()
}

// Report is the result of one import: the findings and the hosts seen
// (also those without findings, so that "scanned, nothing found" is
// known).
type Report struct {
	Scanner  string    `json:"scanner"`
	Source   string    `json:"source"`
	Hosts    []Host    `json:"hosts"`
	Findings []Finding `json:"findings"`
}

// Host is one scanned host of a report.
type Host struct {
	Address  string    `json:"address"`
	MAC      string    `json:"mac,omitempty"`
	Hostname string    `json:"hostname,omitempty"`
	OS       string    `json:"os,omitempty"`
	Start    time.Time `json:"start,omitzero"`
	End      time.Time `json:"end,omitzero"`
}

// FormatError is a file that is not the format its importer reads, or is
// malformed: it names the file, where, and what is wrong.
type FormatError struct {
	File   string
	Format string
	Offset int64 // byte offset of the problem, -1 when unknown
	Err    error
}

func (e *FormatError) Error() string {
	where := e.File
	if where == "" {
		where = "input"
	}
	if e.Offset >= 0 {
		return fmt.Sprintf("%s: not a valid %s (at byte %d): %v", where, e.Format, e.Offset, e.Err)
	}
	return fmt.Sprintf("%s: not a valid %s: %v", where, e.Format, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }
