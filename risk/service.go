package risk

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Service is what the web dashboard and the API read of risk. The
// Component implements it.
type Service interface {
	// Scores returns every device's score with its explanation, highest
	// first.
	Scores() []DeviceRisk
	// Device returns one device's score with its inputs by device ID or
	// key.
	Device(device string) (DeviceRisk, bool)
	// DeviceRisk returns one device's score and explanation by device ID
	// or key.
	DeviceRisk(device string) (Result, bool)
	// Summary aggregates the scores by "department", "site" or
	// "category"; another value is an error naming the choices.
	Summary(by string) (Summary, error)
}

// Summary is the aggregation of scores by one dimension.
type Summary struct {
	By      string  `json:"by"`
	Formula string  `json:"formula"`
	Groups  []Group `json:"groups"`
}

// Group is one department, site or category.
type Group struct {
	// Name is the group's value; "(unknown)" gathers devices without one.
	Name    string  `json:"name"`
	Devices int     `json:"devices"`
	Mean    float64 `json:"mean"`
	Max     float64 `json:"max"`
	// Top is the device with the highest score.
	Top     string         `json:"top"`
	TopName string         `json:"top_name,omitempty"`
	Levels  map[string]int `json:"levels"`
	// OpenVulnerabilities sums the devices' open vulnerabilities.
	OpenVulnerabilities int `json:"open_vulnerabilities"`
}

// Dimensions lists what Summarise groups by.
var Dimensions = []string{"department", "site", "category"}

// Summarise aggregates scores by department, site or category, groups
// sorted by highest score, then name.
func Summarise(scores []DeviceRisk, by string) (Summary, error) {
	if !slices.Contains(Dimensions, by) {
		return Summary{}, fmt.Errorf("by %q: want department, site or category", by)
	}
	groups := map[string]*Group{}
	sums := map[string]float64{}
	for _, d := range scores {
		name := map[string]string{"department": d.Department, "site": d.Site, "category": d.Category}[by]
		if name == "" {
			name = "(unknown)"
		}
		g, ok := groups[name]
		if !ok {
			g = &Group{Name: name, Levels: map[string]int{"low": 0, "medium": 0, "high": 0, "critical": 0}, Max: -1}
			groups[name] = g
		}
		g.Devices++
		sums[name] += d.Score
		g.Levels[d.Level]++
		g.OpenVulnerabilities += len(d.Inputs.Vulns)
		if d.Score > g.Max || d.Score == g.Max && d.DeviceID < g.Top {
			g.Max, g.Top, g.TopName = d.Score, d.DeviceID, d.Name
		}
	}
	s := Summary{By: by, Formula: FormulaVersion, Groups: []Group{}}
	for name, g := range groups {
		g.Mean = math.Round(10*sums[name]/float64(g.Devices)) / 10
		s.Groups = append(s.Groups, *g)
	}
	slices.SortFunc(s.Groups, func(a, b Group) int {
		if c := cmp.Compare(b.Max, a.Max); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return s, nil
}
