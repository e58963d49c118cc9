package events

import "time"

// VulnStatus is a step in the life of a device's vulnerability.
type VulnStatus string

// Vulnerability lifecycle steps.
const (
	// VulnDetected: the vulnerability newly applies to the device (or
	// applies again after it was resolved).
	VulnDetected VulnStatus = "detected"
	// VulnUpdated: it still applies, but its confidence, sources or
	// evidence changed (a version became known, a scanner confirmed it).
	VulnUpdated VulnStatus = "updated"
	// VulnResolved: it no longer applies, because the device's firmware or
	// software changed out of the affected range, or a VEX statement or a
	// newer advisory cleared it.
	VulnResolved VulnStatus = "resolved"
)

// Vulnerability is one step in the life of one vulnerability of one
// device, as the vulnerability matcher decided it from the inventory and
// the vulnerability data (see docs/vulnerabilities.md).
type Vulnerability struct {
	// Device is the device as the inventory last described it.
	Device DeviceSnapshot `json:"device"`
	Status VulnStatus     `json:"status"`
	// ID is the vulnerability: a CVE, or an advisory's own identifier
	// when it has none.
	ID string `json:"id"`
	// Advisories are the CSAF advisories that name it for this device.
	Advisories []string `json:"advisories,omitempty"`
	// Type is clinical (the medical function itself), platform (the
	// operating system or firmware platform) or application (a software
	// component or application).
	Type string `json:"type"`
	// Confidence is confirmed (the device's vendor, product and version
	// are in an affected range, a CPE matched, or a scanner verified it)
	// or potential (the product is affected in some version and the
	// device's version is unknown or could only be read in part).
	Confidence string `json:"confidence"`
	// Sources are where the match came from: csaf, nvd, sbom, and the
	// scanners (insightvm, nessus, openvas).
	Sources []string `json:"sources"`
	// Product and Version are what matched: the product as the advisory
	// or SBOM names it and the device's version ("" when unknown); Range
	// the affected versions as written.
	Product string `json:"product,omitempty"`
	Version string `json:"version,omitempty"`
	Range   string `json:"range,omitempty"`
	// CVSS is the CVSS v3 base score (0-10) and vector, EPSS the
	// probability of exploitation in 30 days (0-1), KEV whether CISA lists
	// it as known exploited.
	CVSS       float64 `json:"cvss,omitempty"`
	CVSSVector string  `json:"cvss_vector,omitempty"`
	EPSS       float64 `json:"epss,omitempty"`
	KEV        bool    `json:"kev,omitempty"`
	// FixedIn is the first fixed version a vendor fix names, when known.
	FixedIn string `json:"fixed_in,omitempty"`
	// Evidence lists, one sentence each, why it applies (which attribute,
	// which advisory product, which range).
	Evidence []string `json:"evidence"`
	// DetectedAt is the event time it was (last) detected; ResolvedAt the
	// event time it was resolved; DaysOpen the whole days between
	// detection and this event's time (event time, not the wall clock).
	DetectedAt time.Time `json:"detected_at"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	DaysOpen   int       `json:"days_open"`
	// Cause lists the IDs of the events that caused this step.
	Cause []string `json:"cause,omitempty"`
	// Summary is one human sentence.
	Summary string `json:"summary"`
}

// Kind implements Body.
func (Vulnerability) Kind() Kind { return KindVulnerability }

// PartitionKey implements Body.
func (v Vulnerability) PartitionKey() string { return v.Device.Key }

// RiskFactor is one term of a risk score with its value and weight.
type RiskFactor struct {
	// Name is the factor: vulnerabilities, insecure_protocols,
	// internet_exposure, anomalies, criticality, patient_data,
	// segmentation, no_internet.
	Name string `json:"name"`
	// Part is likelihood, impact or control.
	Part string `json:"part"`
	// Value is the factor's value (0-1) and Weight its configured weight;
	// Effect is what it contributes (see docs/risk.md).
	Value  float64 `json:"value"`
	Weight float64 `json:"weight"`
	Effect float64 `json:"effect"`
	// Explanation says where the value comes from.
	Explanation string `json:"explanation"`
}

// Risk is a device's risk score, published when it changes.
type Risk struct {
	Device DeviceSnapshot `json:"device"`
	// Formula is the version of the published formula (docs/risk.md).
	Formula string `json:"formula"`
	// Score is 0-100 (one decimal), Previous the score before this
	// change; Level is low, medium, high or critical.
	Score    float64 `json:"score"`
	Previous float64 `json:"previous"`
	Level    string  `json:"level"`
	// Likelihood (after compensating controls) and Impact are 0-1.
	Likelihood float64      `json:"likelihood"`
	Impact     float64      `json:"impact"`
	Factors    []RiskFactor `json:"factors"`
	// Cause lists the IDs of the events that changed the score.
	Cause   []string `json:"cause,omitempty"`
	Summary string   `json:"summary"`
}

// Kind implements Body.
func (Risk) Kind() Kind { return KindRisk }

// PartitionKey implements Body.
func (r Risk) PartitionKey() string { return r.Device.Key }
