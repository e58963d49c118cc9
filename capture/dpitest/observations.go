package dpitest

import (
	"slices"
	"strings"
	"testing"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// Fact is the part of an observation most tests compare: whom it is
// about, the attribute and the value. Facts and DistinctFacts return a
// test's own type with this structure, so that its tables of unkeyed
// literals pass go vet.
type Fact interface {
	~struct{ IP, Attr, Value string }
}

// Facts returns the facts of observations, in order.
func Facts[F Fact](obs []events.Observation) []F {
	var out []F
	for _, o := range obs {
		out = append(out, F{IP: o.IP, Attr: o.Attribute, Value: o.Value})
	}
	return out
}

// DistinctFacts returns the distinct facts of observations, in order of
// first appearance: what a capture tells, however often it repeats it.
func DistinctFacts[F Fact](obs []events.Observation) []F {
	var out []F
	seen := map[F]bool{}
	for _, f := range Facts[F](obs) {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// Detail is what dissector tests compare of an observation about a
// packet's sender: the attribute, value, confidence and evidence. Details
// returns a test's own type with this structure, like Facts.
type Detail interface {
	~struct {
		Attr, Value string
		Confidence  float64
		Evidence    string
	}
}

// Details returns the details of observations, in order.
func Details[D Detail](obs []events.Observation) []D {
	var out []D
	for _, o := range obs {
		out = append(out, D{Attr: o.Attribute, Value: o.Value, Confidence: o.Confidence, Evidence: o.Evidence})
	}
	return out
}

// Summary returns the observations as sorted, distinct "KEY attr=value"
// lines, KEY being what key says of each (its MAC, IP or device key):
// the facts of a capture whatever their order and repetition.
func Summary(obs []events.Observation, key func(events.Observation) string) []string {
	var out []string
	for _, o := range obs {
		s := key(o) + " " + o.Attribute + "=" + o.Value
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// CheckValues fails the test at the first observation whose value is
// empty or longer than dpi.MaxValue: the bounds every dissector keeps
// whatever its input, which its fuzz target checks.
func CheckValues(t testing.TB, obs []events.Observation) {
	t.Helper()
	for _, o := range obs {
		if len(o.Value) > dpi.MaxValue || o.Value == "" {
			t.Fatalf("%s value %q", o.Attribute, o.Value)
		}
	}
}

// NoLeak fails the test for every observation whose attribute, value or
// evidence contains one of markers: text (patient data, credentials) a
// dissector must never publish.
func NoLeak(t testing.TB, obs []events.Observation, markers ...string) {
	t.Helper()
	for _, o := range obs {
		for _, m := range markers {
			if strings.Contains(o.Value, m) || strings.Contains(o.Evidence, m) || strings.Contains(o.Attribute, m) {
				t.Errorf("observation %s=%q (%s) leaks %q", o.Attribute, o.Value, o.Evidence, m)
			}
		}
	}
}
