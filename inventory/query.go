package inventory

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Query selects, sorts and pages devices. The zero Query returns every
// device sorted by key. The API and `vigil devices` share it.
type Query struct {
	// Search matches, case-insensitively, a substring of the ID, MAC,
	// any current IP, hostname, vendor, model, serial or category.
	Search      string
	Category    string
	Criticality string
	// Medical filters by the medical flag when set.
	Medical    *bool
	Vendor     string // substring of the resolved vendor
	Site       string
	Department string
	VLAN       *uint16
	Online     *bool
	// Sort is a field: id, key (default), last_seen, first_seen, ip,
	// hostname, category, criticality, vendor, bytes; "-field" reverses.
	Sort string
	// Offset and Limit page the result; Limit 0 means all.
	Offset, Limit int
}

// sortFields are the accepted sort keys.
var sortFields = []string{"id", "key", "last_seen", "first_seen", "ip", "hostname", "category", "criticality", "vendor", "bytes"}

// ParseQuery reads a Query from URL parameters (the API's and the CLI's
// filters), naming the first bad parameter.
func ParseQuery(v url.Values) (Query, error) {
	q := Query{Search: v.Get("q"), Category: v.Get("category"), Criticality: v.Get("criticality"),
		Vendor: v.Get("vendor"), Site: v.Get("site"), Department: v.Get("department"), Sort: v.Get("sort")}
	boolean := func(name string) (*bool, error) {
		s := v.Get(name)
		if s == "" {
			return nil, nil
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: want true or false", name, s)
		}
		return &b, nil
	}
	var err error
	if q.Medical, err = boolean("medical"); err != nil {
		return q, err
	}
	if q.Online, err = boolean("online"); err != nil {
		return q, err
	}
	if s := v.Get("vlan"); s != "" {
		n, err := strconv.ParseUint(s, 10, 12)
		if err != nil {
			return q, fmt.Errorf("vlan=%q: want a number from 0 to 4095", s)
		}
		vl := uint16(n)
		q.VLAN = &vl
	}
	for name, dst := range map[string]*int{"offset": &q.Offset, "limit": &q.Limit} {
		if s := v.Get(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return q, fmt.Errorf("%s=%q: want a non-negative number", name, s)
			}
			*dst = n
		}
	}
	if f := strings.TrimPrefix(q.Sort, "-"); q.Sort != "" && !slices.Contains(sortFields, f) {
		return q, fmt.Errorf("sort=%q: want one of %s (prefix - to reverse)", q.Sort, strings.Join(sortFields, ", "))
	}
	return q, nil
}

// Page is a page of devices with the total that matched.
type Page struct {
	Total   int      `json:"total"`
	Offset  int      `json:"offset"`
	Devices []Device `json:"devices"`
}

// Select applies q to devices (which it may reorder).
func (q Query) Select(devices []Device) Page {
	q.Search = strings.ToLower(q.Search)
	ptrs := make([]*Device, 0, len(devices))
	for i := range devices {
		if q.keeps(&devices[i]) {
			ptrs = append(ptrs, &devices[i])
		}
	}
	return q.page(ptrs, func(d *Device) Device { return *d })
}

// Select is q applied to the model's devices. Only the devices of the
// page are copied: a dashboard list of a 10,000-device hospital filters
// and sorts pointers and copies fifty devices, not ten thousand.
func (m *Model) Select(q Query) Page {
	q.Search = strings.ToLower(q.Search)
	ptrs := make([]*Device, 0, len(m.devices))
	for _, d := range m.devices {
		if q.keeps(d) {
			ptrs = append(ptrs, d)
		}
	}
	return q.page(ptrs, (*Device).clone)
}

// keeps reports whether d passes every filter of q (whose Search is
// already lower case).
func (q Query) keeps(d *Device) bool {
	c := d.Classification
	switch {
	case q.Category != "" && !strings.EqualFold(c.Category, q.Category),
		q.Criticality != "" && !strings.EqualFold(string(c.Criticality), q.Criticality),
		q.Medical != nil && c.Medical != *q.Medical,
		q.Vendor != "" && !strings.Contains(strings.ToLower(d.Attr("vendor")), strings.ToLower(q.Vendor)),
		q.Site != "" && !strings.EqualFold(d.Org.Site, q.Site),
		q.Department != "" && !strings.EqualFold(d.Org.Department, q.Department),
		q.VLAN != nil && d.VLAN != *q.VLAN,
		q.Online != nil && d.Online != *q.Online,
		q.Search != "" && !d.matches(q.Search):
		return false
	}
	return true
}

// page sorts the kept devices by q.Sort (then by key, so that pages are
// stable), cuts q's page and copies it out.
func (q Query) page(ptrs []*Device, copyOut func(*Device) Device) Page {
	field, desc := strings.TrimPrefix(q.Sort, "-"), strings.HasPrefix(q.Sort, "-")
	slices.SortStableFunc(ptrs, func(a, b *Device) int {
		r := compareBy(field, a, b)
		if r == 0 {
			r = cmp.Compare(a.Key, b.Key)
		}
		if desc {
			return -r
		}
		return r
	})
	p := Page{Total: len(ptrs), Offset: q.Offset, Devices: []Device{}}
	if q.Offset < len(ptrs) {
		ptrs = ptrs[q.Offset:]
		if q.Limit > 0 && q.Limit < len(ptrs) {
			ptrs = ptrs[:q.Limit]
		}
		p.Devices = make([]Device, len(ptrs))
		for i, d := range ptrs {
			p.Devices[i] = copyOut(d)
		}
	}
	return p
}

// Facets are the values the inventory's filters can take, for the
// dashboard's filter menus.
type Facets struct {
	Categories  []string `json:"categories"`
	Departments []string `json:"departments"`
}

// Facets returns the categories ("unknown" for unclassified devices) and
// departments present, sorted.
func (m *Model) Facets() Facets {
	cats, depts := map[string]bool{}, map[string]bool{}
	for _, d := range m.devices {
		cats[cmp.Or(d.Classification.Category, "unknown")] = true
		if d.Org.Department != "" {
			depts[d.Org.Department] = true
		}
	}
	return Facets{Categories: slices.Sorted(maps.Keys(cats)), Departments: slices.Sorted(maps.Keys(depts))}
}

func (d *Device) matches(s string) bool {
	for _, v := range append([]string{d.ID, d.MAC, d.Attr("hostname"), d.Attr("vendor"), d.Attr("model"),
		d.Attr("serial"), d.Classification.Category, d.OUIVendor}, d.CurrentIPs()...) {
		if strings.Contains(strings.ToLower(v), s) {
			return true
		}
	}
	return false
}

func compareBy(field string, a, b *Device) int {
	switch field {
	case "id":
		return cmp.Compare(a.ID, b.ID)
	case "last_seen":
		return a.LastSeen.Compare(b.LastSeen)
	case "first_seen":
		return a.FirstSeen.Compare(b.FirstSeen)
	case "ip":
		return cmp.Compare(strings.Join(a.CurrentIPs(), ","), strings.Join(b.CurrentIPs(), ","))
	case "hostname":
		return cmp.Compare(a.Attr("hostname"), b.Attr("hostname"))
	case "category":
		return cmp.Compare(a.Classification.Category, b.Classification.Category)
	case "criticality":
		return cmp.Compare(a.Classification.Criticality.Rank(), b.Classification.Criticality.Rank())
	case "vendor":
		return cmp.Compare(a.Attr("vendor"), b.Attr("vendor"))
	case "bytes":
		return cmp.Compare(a.Traffic.BytesSent+a.Traffic.BytesReceived, b.Traffic.BytesSent+b.Traffic.BytesReceived)
	}
	return 0
}

// csvColumns are the columns of the CSV export.
var csvColumns = []string{"id", "mac", "vlan", "ips", "hostname", "category", "medical", "criticality",
	"vendor", "model", "serial", "firmware_version", "software_version", "os", "site", "segment", "department",
	"location", "asset_tag", "online", "first_seen", "last_seen", "bytes_sent", "bytes_received", "rule"}

// WriteCSV writes devices as CSV with a header row. Values are
// neutralised against spreadsheet formula injection: a value starting
// with =, +, - or @ is prefixed with a quote, since device names come
// from the network.
func WriteCSV(w io.Writer, devices []Device) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvColumns); err != nil {
		return err
	}
	for i := range devices {
		d := &devices[i]
		tag := ""
		if d.Asset != nil {
			tag = d.Asset.Tag
		}
		row := []string{d.ID, d.MAC, strconv.Itoa(int(d.VLAN)), strings.Join(d.CurrentIPs(), " "), d.Attr("hostname"),
			d.Classification.Category, strconv.FormatBool(d.Classification.Medical), string(d.Classification.Criticality),
			d.Attr("vendor"), d.Attr("model"), d.Attr("serial"), d.Attr("firmware_version"), d.Attr("software_version"), d.Attr("os"),
			d.Org.Site, d.Org.Segment, d.Org.Department, d.Org.Location, tag, strconv.FormatBool(d.Online),
			d.FirstSeen.UTC().Format(time.RFC3339), d.LastSeen.UTC().Format(time.RFC3339),
			strconv.FormatUint(d.Traffic.BytesSent, 10), strconv.FormatUint(d.Traffic.BytesReceived, 10), d.Classification.Rule}
		for j, v := range row {
			if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
				row[j] = "'" + v
			}
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
