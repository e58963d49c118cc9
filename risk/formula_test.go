package risk

import (
	"math/rand/v2"
	"testing"
)

// TestGolden: the three examples of docs/risk.md, computed by hand.
func TestGolden(t *testing.T) {
	w := DefaultWeights()
	for _, c := range []struct {
		name       string
		in         Inputs
		score      float64
		level      string
		likelihood float64
		impact     float64
	}{
		{"workstation with nothing observed", Inputs{Criticality: "non_clinical", Flows: 3, MinFlows: 10}, 1.5, "low", 0.05, 0.3},
		{"infusion pump, vulnerable, internet, critical alert", Inputs{
			Criticality: "life_sustaining", Flows: 40, MinFlows: 10, PeersOutsideSegment: 2, InternetOutbound: true,
			Vulns:     []Vuln{{ID: "CVE-2021-33886", Confirmed: true, CVSS: 7.5, EPSS: 0.01}},
			Anomalies: []Anomaly{{ID: "a", Severity: "critical", Type: "internet"}},
		}, 67.7, "critical", 0.6772, 1},
		{"PACS, potential KEV vulnerability, telnet and ftp, controlled", Inputs{
			Criticality: "clinical_support", PatientData: true, Flows: 50, MinFlows: 10,
			Vulns:             []Vuln{{ID: "CVE-X", CVSS: 9.8, EPSS: 0.5, KEV: true}},
			InsecureProtocols: []string{"ftp", "telnet"},
		}, 22.5, "medium", 0.2814, 0.8},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := Compute(c.in, w)
			if r.Score != c.score || r.Level != c.level || r.Likelihood != c.likelihood || r.Impact != c.impact || r.Formula != FormulaVersion {
				t.Errorf("got score %v %s L %v I %v, want %v %s L %v I %v", r.Score, r.Level, r.Likelihood, r.Impact, c.score, c.level, c.likelihood, c.impact)
			}
			if len(r.Factors) != 8 {
				t.Errorf("%d factors", len(r.Factors))
			}
			for _, f := range r.Factors {
				if f.Explanation == "" {
					t.Errorf("factor %s unexplained", f.Name)
				}
			}
		})
	}
}

// TestExplanation checks the factor lines of the pump example.
func TestExplanation(t *testing.T) {
	r := Compute(Inputs{Criticality: "life_sustaining", Vulns: []Vuln{{ID: "CVE-1", Confirmed: true, CVSS: 7.5, EPSS: 0.01}, {ID: "CVE-2"}}}, DefaultWeights())
	v := r.Factors[0]
	// e1 = 0.4515; e2 = 0.5 × 0.6 × 0.5 = 0.15; V = 1 - 0.5485 × 0.85 = 0.533775
	if v.Name != "vulnerabilities" || v.Value != 0.5338 || v.Weight != 0.8 || v.Effect != 0.427 ||
		v.Explanation != "2 open vulnerabilities (1 confirmed, 0 in KEV), strongest CVE-1 (CVSS 7.5, EPSS 0.01)" {
		t.Errorf("%+v", v)
	}
	if s := r.Factors[5]; s.Name != "no_internet" || s.Value != 0 || s.Explanation != "not credited: 0 flows seen, 0 needed" {
		t.Errorf("%+v", s)
	}
}

// random returns random inputs.
func random(r *rand.Rand) Inputs {
	crits := []string{"life_sustaining", "patient_connected", "clinical_support", "unknown", "non_clinical"}
	in := Inputs{Criticality: crits[r.IntN(len(crits))], PatientData: r.IntN(2) == 0, Flows: uint64(r.IntN(30)), MinFlows: 10,
		PeersOutsideSegment: uint64(r.IntN(2)), InternetInbound: r.IntN(4) == 0, InternetOutbound: r.IntN(3) == 0}
	for i := range r.IntN(4) {
		in.Vulns = append(in.Vulns, Vuln{ID: string(rune('a' + i)), Confirmed: r.IntN(2) == 0, CVSS: float64(r.IntN(101)) / 10, EPSS: r.Float64(), KEV: r.IntN(5) == 0})
	}
	for range r.IntN(3) {
		in.InsecureProtocols = append(in.InsecureProtocols, "p")
	}
	for range r.IntN(2) {
		in.CleartextCreds = append(in.CleartextCreds, "c")
	}
	sev := []string{"", "info", "low", "medium", "high", "critical"}
	for range r.IntN(3) {
		in.Anomalies = append(in.Anomalies, Anomaly{Severity: sev[r.IntN(len(sev))]})
	}
	return in
}

func clone(in Inputs) Inputs {
	out := in
	out.Vulns = append([]Vuln(nil), in.Vulns...)
	out.InsecureProtocols = append([]string(nil), in.InsecureProtocols...)
	out.CleartextCreds = append([]string(nil), in.CleartextCreds...)
	out.Anomalies = append([]Anomaly(nil), in.Anomalies...)
	return out
}

// TestMonotonic: growing any likelihood or impact factor never lowers the
// score (nor the unrounded product); observing a control never raises it.
func TestMonotonic(t *testing.T) {
	w := DefaultWeights()
	product := func(in Inputs) float64 { r := Compute(in, w); return r.Likelihood * r.Impact }
	rank := map[string]int{"non_clinical": 0, "unknown": 1, "clinical_support": 2, "patient_connected": 3, "life_sustaining": 4}
	up := map[string]func(*rand.Rand, Inputs) Inputs{
		"one more vulnerability": func(r *rand.Rand, in Inputs) Inputs {
			in.Vulns = append(in.Vulns, Vuln{ID: "z", CVSS: float64(r.IntN(101)) / 10, EPSS: r.Float64(), KEV: r.IntN(2) == 0})
			return in
		},
		"higher CVSS": func(r *rand.Rand, in Inputs) Inputs {
			if len(in.Vulns) > 0 && in.Vulns[0].CVSS > 0 {
				in.Vulns[0].CVSS = min(10, in.Vulns[0].CVSS+r.Float64()*3)
			}
			return in
		},
		"higher EPSS": func(r *rand.Rand, in Inputs) Inputs {
			if len(in.Vulns) > 0 {
				in.Vulns[0].EPSS = min(1, in.Vulns[0].EPSS+r.Float64())
			}
			return in
		},
		"in KEV": func(_ *rand.Rand, in Inputs) Inputs {
			if len(in.Vulns) > 0 {
				in.Vulns[0].KEV = true
			}
			return in
		},
		"confirmed": func(_ *rand.Rand, in Inputs) Inputs {
			if len(in.Vulns) > 0 {
				in.Vulns[0].Confirmed = true
			}
			return in
		},
		"insecure protocol": func(_ *rand.Rand, in Inputs) Inputs {
			in.InsecureProtocols = append(in.InsecureProtocols, "telnet")
			return in
		},
		"cleartext credential": func(_ *rand.Rand, in Inputs) Inputs {
			in.CleartextCreds = append(in.CleartextCreds, "ftp login")
			return in
		},
		"outbound internet": func(_ *rand.Rand, in Inputs) Inputs { in.InternetOutbound = true; return in },
		"inbound internet":  func(_ *rand.Rand, in Inputs) Inputs { in.InternetInbound = true; return in },
		"anomaly": func(r *rand.Rand, in Inputs) Inputs {
			in.Anomalies = append(in.Anomalies, Anomaly{Severity: []string{"", "low", "high", "critical"}[r.IntN(4)]})
			return in
		},
		"patient data": func(_ *rand.Rand, in Inputs) Inputs { in.PatientData = true; return in },
		"higher criticality": func(r *rand.Rand, in Inputs) Inputs {
			for c, k := range rank {
				if k == rank[in.Criticality]+1 {
					in.Criticality = c
				}
			}
			return in
		},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for name, f := range up {
		for range 2000 {
			in := random(rng)
			more := f(rng, clone(in))
			if a, b := Compute(in, w).Score, Compute(more, w).Score; b < a || product(more) < product(in)-1e-12 {
				t.Fatalf("%s lowered the score %v -> %v\n%+v\n%+v", name, a, b, in, more)
			}
		}
	}
	controls := map[string]func(Inputs) Inputs{
		"segmented": func(in Inputs) Inputs { in.PeersOutsideSegment = 0; return in },
		"no internet": func(in Inputs) Inputs {
			in.InternetInbound, in.InternetOutbound = false, false
			return in
		},
	}
	for name, f := range controls {
		for range 2000 {
			in := random(rng)
			in.Flows = 20
			in.InternetInbound, in.InternetOutbound = false, false
			in.PeersOutsideSegment = 1
			if name == "no internet" {
				in.InternetOutbound = true
				in.PeersOutsideSegment = 0
			}
			// For "no internet", dropping the contact also removes X:
			// both lower the likelihood.
			with := f(clone(in))
			if a, b := Compute(in, w).Score, Compute(with, w).Score; b > a {
				t.Fatalf("%s raised the score %v -> %v", name, a, b)
			}
		}
	}
	// Weights: a larger likelihood weight never lowers the score.
	for range 2000 {
		in := random(rng)
		w2 := DefaultWeights()
		w2.Vulnerabilities, w2.Anomalies, w2.InsecureProtocol, w2.InternetExposure = 1, 1, 1, 1
		if a, b := Compute(in, w).Score, Compute(in, w2).Score; b < a {
			t.Fatalf("larger weights lowered the score %v -> %v", a, b)
		}
	}
}

func TestWeightsValidate(t *testing.T) {
	if errs := DefaultWeights().Validate(); len(errs) != 0 {
		t.Fatal(errs)
	}
	w := DefaultWeights()
	w.Vulnerabilities = 2
	w.Segmented = 1
	w.Criticality = map[string]float64{"life_sustaining": 1, "critical": 1}
	errs := w.Validate()
	if len(errs) != 7 { // vulnerabilities, segmented, 4 missing criticalities, 1 unknown
		t.Errorf("%d errors: %v", len(errs), errs)
	}
}
