package web

import (
	"cmp"
	"fmt"
	"html/template"
	"net/url"
	"slices"

	"github.com/vigil-health/vigil/inventory"
	"github.com/vigil-health/vigil/risk"
	"github.com/vigil-health/vigil/vuln"
)

// Risk is what web reads of the risk engine: one device's score with its
// explanation, by device key or ID.
type Risk interface {
	DeviceRisk(device string) (risk.Result, bool)
}

// deviceVulns lists a device's vulnerabilities, open first.
func (c *Component) deviceVulns(d inventory.Device) ([]vuln.Record, string) {
	if c.deps.Vulns == nil {
		return nil, "Vulnerability matching is not available."
	}
	recs, ok := c.deps.Vulns.DeviceVulnerabilities(d.ID)
	if !ok {
		recs, ok = c.deps.Vulns.DeviceVulnerabilities(d.Key)
	}
	if !ok || len(recs) == 0 {
		return nil, "No known vulnerability matches this device's vendor, model and version."
	}
	slices.SortStableFunc(recs, func(a, b vuln.Record) int {
		return cmp.Or(cmp.Compare(b.Status, a.Status), cmp.Compare(b.CVSS, a.CVSS), cmp.Compare(a.ID, b.ID))
	})
	return recs, ""
}

// deviceRisk is a device's risk with its explanation.
func (c *Component) deviceRisk(d inventory.Device) (*risk.Result, string) {
	if c.deps.Risk == nil {
		return nil, "The risk score is not available."
	}
	r, ok := c.deps.Risk.DeviceRisk(d.ID)
	if !ok {
		r, ok = c.deps.Risk.DeviceRisk(d.Key)
	}
	if !ok {
		return nil, "No risk score for this device yet."
	}
	return &r, ""
}

// riskChart is the mean and highest risk score per department and per
// category, each bar coloured by the level of the riskiest device.
func (c *Component) riskChart(devs []inventory.Device) (template.HTML, string) {
	if c.deps.Risk == nil || c.deps.Inventory == nil {
		return "", "The risk score is not available."
	}
	type agg struct {
		sum, max float64
		n        int
	}
	byDept, byCat := map[string]*agg{}, map[string]*agg{}
	add := func(m map[string]*agg, k string, score float64) {
		a := m[k]
		if a == nil {
			a = &agg{}
			m[k] = a
		}
		a.sum += score
		a.max = max(a.max, score)
		a.n++
	}
	for _, d := range devs {
		r, ok := c.deps.Risk.DeviceRisk(d.ID)
		if !ok {
			continue
		}
		add(byDept, cmp.Or(d.Org.Department, "(no department)"), r.Score)
		add(byCat, cmp.Or(d.Classification.Category, "unknown"), r.Score)
	}
	if len(byDept) == 0 {
		return "", "No device has a risk score yet."
	}
	rows := func(m map[string]*agg, param string, none string) []StackRow {
		var out []StackRow
		for k, a := range m {
			mean := a.sum / float64(a.n)
			label := k
			if param == "category" {
				label = humanize(k)
			}
			row := StackRow{Label: label, Note: fmt.Sprintf("mean %.0f · max %.0f", mean, a.max),
				Segments: []Segment{{Class: "risk-" + risk.Level(a.max), Value: mean, Name: "mean risk"}}}
			if k != none {
				row.Href = "/devices?" + param + "=" + url.QueryEscape(k)
			}
			out = append(out, row)
		}
		slices.SortFunc(out, func(a, b StackRow) int { return cmp.Compare(b.Segments[0].Value, a.Segments[0].Value) })
		if len(out) > 10 {
			out = out[:10]
		}
		return out
	}
	html := `<h3>By department</h3>` + string(stackedChartMax("Mean risk score by department, out of 100", rows(byDept, "department", "(no department)"), 100)) +
		`<h3>By category</h3>` + string(stackedChartMax("Mean risk score by category, out of 100", rows(byCat, "category", "unknown"), 100))
	return template.HTML(html), "Mean risk score of the devices, on a scale of 0 to 100; the colour is the level of the riskiest one (low, medium, high, critical)."
}
