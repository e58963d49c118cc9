// Package risk scores every device of the inventory with the published,
// versioned formula of docs/risk.md: likelihood from vulnerabilities
// (CVSS, EPSS, KEV), insecure protocols, internet exposure and recent
// anomalies; impact from clinical criticality and patient data; the
// likelihood reduced by compensating controls actually observed. Every
// result explains each factor with its value and weight.
//
// Compute is the formula, a pure function. The Model gathers each
// device's inputs from events (in event time); the Component runs it over
// the bus and publishes risk events; Summarise aggregates by department,
// site or category.
package risk

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// FormulaVersion names the formula this package implements (docs/risk.md).
const FormulaVersion = "vigil-risk-1"

// Fixed constants of the formula (changing one is a new version).
const (
	shareCVSS        = 0.6
	shareEPSS        = 0.15
	shareKEV         = 0.25
	defaultCVSS      = 5.0
	keepPerProtocol  = 0.75 // 1 - 0.25 per insecure protocol
	keepPerClearText = 0.6  // 1 - 0.4 per cleartext credential
	exposureInbound  = 1.0
	exposureOutbound = 0.6
)

// anomalyWeights are the fixed weights of alert severities; a deviation
// without an alert weighs DeviationWeight.
var anomalyWeights = map[string]float64{"critical": 0.6, "high": 0.4, "medium": 0.2, "low": 0.1, "info": 0.05}

// DeviationWeight is what a deviation without an alert adds to anomalies.
const DeviationWeight = 0.1

// Weights are the configurable weights of the formula.
type Weights struct {
	Base             float64 `yaml:"base"`
	Vulnerabilities  float64 `yaml:"vulnerabilities"`
	InsecureProtocol float64 `yaml:"insecure_protocols"`
	InternetExposure float64 `yaml:"internet_exposure"`
	Anomalies        float64 `yaml:"anomalies"`
	// PotentialFactor is how much a potential vulnerability counts
	// against a confirmed one.
	PotentialFactor float64 `yaml:"potential_factor"`
	// Segmented and NoInternet are the reductions of the likelihood by
	// the observed controls.
	Segmented  float64 `yaml:"segmented"`
	NoInternet float64 `yaml:"no_internet"`
	// PatientData is the weight of handling patient data in the impact.
	PatientData float64 `yaml:"patient_data"`
	// Criticality is the impact of each clinical criticality.
	Criticality map[string]float64 `yaml:"criticality"`
}

// DefaultWeights are the weights docs/risk.md publishes.
func DefaultWeights() Weights {
	return Weights{Base: 0.05, Vulnerabilities: 0.8, InsecureProtocol: 0.4, InternetExposure: 0.5, Anomalies: 0.4,
		PotentialFactor: 0.5, Segmented: 0.3, NoInternet: 0.2, PatientData: 0.5,
		Criticality: map[string]float64{"life_sustaining": 1.0, "patient_connected": 0.8, "clinical_support": 0.6,
			"unknown": 0.5, "non_clinical": 0.3}}
}

// Validate reports every weight outside its range, naming it.
func (w Weights) Validate() []error {
	var errs []error
	check := func(name string, v float64, hi float64) {
		if math.IsNaN(v) || v < 0 || v > hi {
			errs = append(errs, fmt.Errorf("weights.%s: must be between 0 and %g, got %g", name, hi, v))
		}
	}
	check("base", w.Base, 1)
	check("vulnerabilities", w.Vulnerabilities, 1)
	check("insecure_protocols", w.InsecureProtocol, 1)
	check("internet_exposure", w.InternetExposure, 1)
	check("anomalies", w.Anomalies, 1)
	check("potential_factor", w.PotentialFactor, 1)
	check("segmented", w.Segmented, 0.99)
	check("no_internet", w.NoInternet, 0.99)
	check("patient_data", w.PatientData, 1)
	for _, k := range []string{"life_sustaining", "patient_connected", "clinical_support", "unknown", "non_clinical"} {
		v, ok := w.Criticality[k]
		if !ok {
			errs = append(errs, fmt.Errorf("weights.criticality.%s: missing", k))
			continue
		}
		check("criticality."+k, v, 1)
	}
	for k := range w.Criticality {
		if _, ok := DefaultWeights().Criticality[k]; !ok {
			errs = append(errs, fmt.Errorf("weights.criticality.%s: not a criticality (life_sustaining, patient_connected, clinical_support, non_clinical, unknown)", k))
		}
	}
	return errs
}

// Vuln is one open vulnerability as the formula reads it.
type Vuln struct {
	ID        string  `json:"id"`
	Confirmed bool    `json:"confirmed"`
	CVSS      float64 `json:"cvss"` // 0 when unknown
	EPSS      float64 `json:"epss"`
	KEV       bool    `json:"kev"`
}

// Anomaly is one recent deviation or alert.
type Anomaly struct {
	ID string `json:"id"`
	// Severity is the alert's, or "" for a deviation without an alert.
	Severity string `json:"severity,omitempty"`
	Type     string `json:"type"`
}

// Inputs are everything the formula reads about one device.
type Inputs struct {
	Vulns               []Vuln    `json:"vulns,omitempty"`
	InsecureProtocols   []string  `json:"insecure_protocols,omitempty"`
	CleartextCreds      []string  `json:"cleartext_credentials,omitempty"`
	InternetInbound     bool      `json:"internet_inbound,omitempty"`
	InternetOutbound    bool      `json:"internet_outbound,omitempty"`
	Anomalies           []Anomaly `json:"anomalies,omitempty"`
	Criticality         string    `json:"criticality"`
	PatientData         bool      `json:"patient_data,omitempty"`
	PatientDataWhy      string    `json:"patient_data_why,omitempty"`
	Flows               uint64    `json:"flows"`
	PeersOutsideSegment uint64    `json:"peers_outside_segment,omitempty"`
	// MinFlows is how many flows a control needs to be credited.
	MinFlows uint64 `json:"min_flows"`
}

// Factor is one term of a result (events.RiskFactor's shape).
type Factor struct {
	Name        string  `json:"name"`
	Part        string  `json:"part"`
	Value       float64 `json:"value"`
	Weight      float64 `json:"weight"`
	Effect      float64 `json:"effect"`
	Explanation string  `json:"explanation"`
}

// Result is a device's score with its explanation.
type Result struct {
	Formula    string   `json:"formula"`
	Score      float64  `json:"score"`
	Level      string   `json:"level"`
	Likelihood float64  `json:"likelihood"`
	Impact     float64  `json:"impact"`
	Factors    []Factor `json:"factors"`
}

// Level names a score's band.
func Level(score float64) string {
	switch {
	case score >= 60:
		return "critical"
	case score >= 35:
		return "high"
	case score >= 15:
		return "medium"
	}
	return "low"
}

// Compute applies the formula of docs/risk.md.
func Compute(in Inputs, w Weights) Result {
	var fs []Factor
	// V: vulnerabilities.
	keep, confirmed, kev := 1.0, 0, 0
	var strongest *Vuln
	strongestE := -1.0
	for i := range in.Vulns {
		v := &in.Vulns[i]
		k := w.PotentialFactor
		if v.Confirmed {
			k, confirmed = 1, confirmed+1
		}
		cvss := v.CVSS
		if cvss <= 0 {
			cvss = defaultCVSS
		}
		kv := 0.0
		if v.KEV {
			kv, kev = 1, kev+1
		}
		e := k * (shareCVSS*clamp(cvss/10) + shareEPSS*clamp(v.EPSS) + shareKEV*kv)
		keep *= 1 - e
		if e > strongestE || e == strongestE && v.ID < strongest.ID {
			strongest, strongestE = v, e
		}
	}
	V := 1 - keep
	why := "no open vulnerability"
	if strongest != nil {
		noun := "vulnerabilities"
		if len(in.Vulns) == 1 {
			noun = "vulnerability"
		}
		why = fmt.Sprintf("%d open %s (%d confirmed, %d in KEV), strongest %s (CVSS %s, EPSS %g)",
			len(in.Vulns), noun, confirmed, kev, strongest.ID, cvssText(strongest.CVSS), strongest.EPSS)
	}
	fs = append(fs, Factor{Name: "vulnerabilities", Part: "likelihood", Value: V, Weight: w.Vulnerabilities, Effect: w.Vulnerabilities * V, Explanation: why})
	// P: insecure protocols.
	P := 1 - math.Pow(keepPerProtocol, float64(len(in.InsecureProtocols)))*math.Pow(keepPerClearText, float64(len(in.CleartextCreds)))
	why = "no insecure protocol seen"
	if len(in.InsecureProtocols)+len(in.CleartextCreds) > 0 {
		var parts []string
		if len(in.InsecureProtocols) > 0 {
			parts = append(parts, "insecure protocols "+strings.Join(in.InsecureProtocols, ", "))
		}
		if len(in.CleartextCreds) > 0 {
			parts = append(parts, "cleartext credentials "+strings.Join(in.CleartextCreds, ", "))
		}
		why = strings.Join(parts, "; ")
	}
	fs = append(fs, Factor{Name: "insecure_protocols", Part: "likelihood", Value: P, Weight: w.InsecureProtocol, Effect: w.InsecureProtocol * P, Explanation: why})
	// X: internet exposure.
	X, why := 0.0, "no internet contact seen"
	switch {
	case in.InternetInbound:
		X, why = exposureInbound, "a host on the internet connected to it"
	case in.InternetOutbound:
		X, why = exposureOutbound, "it connected to the internet"
	}
	fs = append(fs, Factor{Name: "internet_exposure", Part: "likelihood", Value: X, Weight: w.InternetExposure, Effect: w.InternetExposure * X, Explanation: why})
	// A: recent anomalies.
	keep = 1
	counts := map[string]int{}
	for _, a := range in.Anomalies {
		s := DeviationWeight
		label := "deviation"
		if a.Severity != "" {
			s, label = anomalyWeights[a.Severity], a.Severity+" alert"
		}
		keep *= 1 - s
		counts[label]++
	}
	A := 1 - keep
	why = "no recent anomaly"
	if len(in.Anomalies) > 0 {
		var parts []string
		for _, k := range slices.Sorted(mapsKeys(counts)) {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
		why = "recent anomalies: " + strings.Join(parts, ", ")
	}
	fs = append(fs, Factor{Name: "anomalies", Part: "likelihood", Value: A, Weight: w.Anomalies, Effect: w.Anomalies * A, Explanation: why})

	raw := 1 - (1-w.Base)*(1-w.Vulnerabilities*V)*(1-w.InsecureProtocol*P)*(1-w.InternetExposure*X)*(1-w.Anomalies*A)

	// Controls, observed only.
	enough := in.Flows >= in.MinFlows && in.Flows > 0
	S, why := 0.0, ""
	switch {
	case !enough:
		why = fmt.Sprintf("not credited: %d flows seen, %d needed", in.Flows, in.MinFlows)
	case in.PeersOutsideSegment > 0:
		why = fmt.Sprintf("not segmented: %d flows with peers outside its segment", in.PeersOutsideSegment)
	default:
		S, why = 1, fmt.Sprintf("no peer outside its segment in %d flows", in.Flows)
	}
	fs = append(fs, Factor{Name: "segmentation", Part: "control", Value: S, Weight: w.Segmented, Effect: w.Segmented * S, Explanation: why})
	N := 0.0
	switch {
	case !enough:
		why = fmt.Sprintf("not credited: %d flows seen, %d needed", in.Flows, in.MinFlows)
	case in.InternetInbound || in.InternetOutbound:
		why = "internet contact seen"
	default:
		N, why = 1, fmt.Sprintf("no internet contact in %d flows", in.Flows)
	}
	fs = append(fs, Factor{Name: "no_internet", Part: "control", Value: N, Weight: w.NoInternet, Effect: w.NoInternet * N, Explanation: why})
	L := raw * (1 - w.Segmented*S) * (1 - w.NoInternet*N)

	// Impact.
	crit := in.Criticality
	if _, ok := w.Criticality[crit]; !ok {
		crit = "unknown"
	}
	C := w.Criticality[crit]
	fs = append(fs, Factor{Name: "criticality", Part: "impact", Value: C, Weight: C, Effect: C, Explanation: "criticality " + crit})
	D, why := 0.0, "no DICOM or HL7 seen"
	if in.PatientData {
		D, why = 1, in.PatientDataWhy
		if why == "" {
			why = "handles patient data"
		}
	}
	fs = append(fs, Factor{Name: "patient_data", Part: "impact", Value: D, Weight: w.PatientData, Effect: w.PatientData * D, Explanation: why})
	I := 1 - (1-C)*(1-w.PatientData*D)

	score := math.Round(1000*L*I) / 10
	for i := range fs {
		fs[i].Value, fs[i].Weight, fs[i].Effect = round4(fs[i].Value), round4(fs[i].Weight), round4(fs[i].Effect)
	}
	return Result{Formula: FormulaVersion, Score: score, Level: Level(score), Likelihood: round4(L), Impact: round4(I), Factors: fs}
}

func clamp(x float64) float64 { return max(0, min(1, x)) }

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

func cvssText(c float64) string {
	if c <= 0 {
		return "unknown, taken as 5.0"
	}
	return fmt.Sprintf("%g", c)
}

func mapsKeys(m map[string]int) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
