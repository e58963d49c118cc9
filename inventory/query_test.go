package inventory

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/vigil-health/vigil/inventory/classify"
)

func TestQuery(t *testing.T) {
	devs := []Device{
		{ID: "dev-1", Key: "a", MAC: "00:12:21:00:00:01", Online: true, VLAN: 20,
			Classification: classify.Result{Category: "infusion_pump", Medical: true, Criticality: classify.LifeSustaining},
			Attributes:     []Attribute{{Name: "hostname", Value: "PUMP-1"}, {Name: "vendor", Value: "B. Braun"}}},
		{ID: "dev-2", Key: "b", MAC: "00:21:b7:00:00:02", VLAN: 30,
			Classification: classify.Result{Category: "printer", Criticality: classify.NonClinical},
			Attributes:     []Attribute{{Name: "hostname", Value: "=HYPERLINK(\"x\")"}, {Name: "vendor", Value: "Lexmark"}}},
		{ID: "dev-3", Key: "c", MAC: "00:09:fb:00:00:03", Online: true, VLAN: 20,
			Classification: classify.Result{Category: "patient_monitor", Medical: true, Criticality: classify.PatientConnected}},
	}
	m := modelOf(devs)
	for _, c := range []struct {
		query string
		want  string
	}{
		{"", "dev-1,dev-2,dev-3"},
		{"medical=true", "dev-1,dev-3"},
		{"vlan=30", "dev-2"},
		{"q=pump", "dev-1"},
		{"vendor=braun", "dev-1"},
		{"online=false", "dev-2"},
		{"sort=-criticality", "dev-1,dev-3,dev-2"},
		{"sort=-criticality&offset=1&limit=1", "dev-3"},
		{"category=PRINTER", "dev-2"},
	} {
		v, _ := url.ParseQuery(c.query)
		q, err := ParseQuery(v)
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		var ids []string
		for _, d := range q.Select(append([]Device(nil), devs...)).Devices {
			ids = append(ids, d.ID)
		}
		if got := strings.Join(ids, ","); got != c.want {
			t.Errorf("%s: %s, want %s", c.query, got, c.want)
		}
		// The model's Select, which copies only the page, agrees.
		page := m.Select(q)
		ids = ids[:0]
		for _, d := range page.Devices {
			ids = append(ids, d.ID)
		}
		if got := strings.Join(ids, ","); got != c.want {
			t.Errorf("Model.Select %s: %s, want %s", c.query, got, c.want)
		}
	}
	// A page is a copy: changing it leaves the model alone.
	page := m.Select(Query{Search: "PUMP"})
	page.Devices[0].Attributes[0].Value = "changed"
	if d, _ := m.Device("dev-1"); d.Attr("hostname") != "PUMP-1" {
		t.Errorf("a selected page shares memory with the model: %q", d.Attr("hostname"))
	}
	if f := m.Facets(); strings.Join(f.Categories, ",") != "infusion_pump,patient_monitor,printer" || len(f.Departments) != 0 {
		t.Errorf("facets: %+v", f)
	}
	for q, want := range map[string]string{
		"vlan=5000":   "vlan=",
		"medical=x":   "medical=",
		"limit=-1":    "limit=",
		"sort=colour": "sort=",
	} {
		v, _ := url.ParseQuery(q)
		if _, err := ParseQuery(v); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", q, err)
		}
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, devs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"'=HYPERLINK(""x"")"`) {
		t.Errorf("a formula from the network was not neutralised:\n%s", b.String())
	}
}

// modelOf is a model holding devs as they are, for the query
// tests (no events needed to build them).
func modelOf(devs []Device) *Model {
	m := &Model{devices: map[string]*Device{}, byID: map[string]string{}}
	for i := range devs {
		d := devs[i].clone()
		m.devices[d.Key] = &d
		m.byID[d.ID] = d.Key
	}
	return m
}
