package web

import (
	"bytes"
	"cmp"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-health/vigil/baseline"
	"github.com/vigil-health/vigil/inventory"
	"github.com/vigil-health/vigil/inventory/classify"
)

//go:embed ui
var uiFS embed.FS

// pages holds the parsed templates, one set per page (the layout plus the
// page's own templates).
type pages struct {
	sets map[string]*template.Template
}

func newPages() (*pages, error) {
	funcs := template.FuncMap{
		"critLabel": critLabel,
		"critClass": critClass,
		"time":      fmtTime,
		"bytes":     func(v uint64) string { return fmtBytes(float64(v)) },
		"pct":       func(f float64) string { return strconv.Itoa(int(f*100+0.5)) + "%" },
		"name":      func(d inventory.Device) string { return deviceName(d) },
		"join":      strings.Join,
		"title":     humanize,
		"add":       func(a, b int) int { return a + b },
		"add64":     func(a, b uint64) uint64 { return a + b },
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, fmt.Errorf("dict: odd number of arguments")
			}
			m := map[string]any{}
			for i := 0; i < len(kv); i += 2 {
				m[fmt.Sprint(kv[i])] = kv[i+1]
			}
			return m, nil
		},
		"yesno": func(b bool) string {
			if b {
				return "yes"
			}
			return "no"
		},
	}
	base, err := template.New("").Funcs(funcs).ParseFS(uiFS, "ui/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web templates: %w", err)
	}
	names, err := fs.Glob(uiFS, "ui/pages/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{sets: map[string]*template.Template{}}
	for _, n := range names {
		t, err := template.Must(base.Clone()).ParseFS(uiFS, n)
		if err != nil {
			return nil, fmt.Errorf("web templates: %w", err)
		}
		p.sets[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return p, nil
}

// view is what every page gets: the data of the page and who looks.
type view struct {
	Title string
	// Nav is the active section.
	Nav   string
	User  Principal
	CSRF  string
	Local bool
	// Flash is a message of the last action, Error one that failed.
	Flash, Error string
	Data         any
}

// loginView is the login page's data.
type loginView struct {
	Next, User, Error string
	Local             bool
}

// render executes a page into a buffer first, so that a template error
// is a clean 500 and not half a page.
func (p *pages) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	t, ok := p.sets[name]
	if !ok {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	tmpl := "layout"
	if f := r.Header.Get("X-Fragment"); f != "" && t.Lookup(f) != nil {
		// The live update of one part of a page, which the page executes
		// with its own data.
		tmpl = f
		if v, ok := data.(view); ok {
			data = v.Data
		}
	}
	if name == "login" {
		tmpl = "login"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, tmpl, data); err != nil {
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// page renders a page for the request's principal.
func (c *Component) page(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	p, _ := PrincipalOf(r)
	v := view{Title: title, Nav: name, User: p, CSRF: p.CSRF, Local: c.auth.local, Data: data,
		Flash: r.URL.Query().Get("flash"), Error: r.URL.Query().Get("error")}
	c.pages.render(w, r, status, name, v)
}

// notFound renders a page-level 404.
func (c *Component) notFound(w http.ResponseWriter, r *http.Request, msg string) {
	c.page(w, r, http.StatusNotFound, "error", "Not found", msg)
}

func (c *Component) pageRoutes(mux *http.ServeMux) {
	static, _ := fs.Sub(uiFS, "ui/static")
	mux.Handle("GET /ui/", http.StripPrefix("/ui/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", c.overviewPage)
	mux.HandleFunc("GET /devices", c.devicesPage)
	mux.HandleFunc("GET /devices/{id}", c.devicePage)
	mux.HandleFunc("GET /health", c.healthPage)
	mux.HandleFunc("GET /policies", c.policiesPage)
	mux.HandleFunc("POST /policies/reload", c.policiesReload)
	mux.HandleFunc("POST /policies/test", c.policiesTest)
	mux.HandleFunc("POST /baselines/{id}/confirm", c.baselineConfirm)
	c.alertPageRoutes(mux)
	c.enforcementPageRoutes(mux)
}

// back redirects to the page a form came from with a message.
func back(w http.ResponseWriter, r *http.Request, to string, flash string, err error) {
	u, _ := url.Parse(safeNext(to))
	q := u.Query()
	q.Del("flash")
	q.Del("error")
	if err != nil {
		q.Set("error", err.Error())
	} else if flash != "" {
		q.Set("flash", flash)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// returnTo is where a form wants to go back to (its own page).
func returnTo(r *http.Request, def string) string {
	if s := r.PostFormValue("return"); s != "" {
		return safeNext(s)
	}
	return def
}

// criticalities in display order, most critical first.
var criticalities = []classify.Criticality{classify.LifeSustaining, classify.PatientConnected,
	classify.ClinicalSupport, classify.NonClinical, classify.Unknown}

func critLabel(c any) string {
	switch fmt.Sprint(c) {
	case string(classify.LifeSustaining):
		return "Life-sustaining"
	case string(classify.PatientConnected):
		return "Patient-connected"
	case string(classify.ClinicalSupport):
		return "Clinical support"
	case string(classify.NonClinical):
		return "Non-clinical"
	}
	return "Unknown criticality"
}

func critClass(c any) string {
	s := fmt.Sprint(c)
	switch s {
	case string(classify.LifeSustaining), string(classify.PatientConnected), string(classify.ClinicalSupport), string(classify.NonClinical):
		return "crit-" + strings.ReplaceAll(s, "_", "-")
	}
	return "crit-unknown"
}

// shortDuration writes 5m0s as 5m and 1h0m0s as 1h.
func shortDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// acronyms are written as such in labels.
var acronyms = map[string]string{"hl7": "HL7", "ct": "CT", "mr": "MR", "us": "US", "nm": "NM", "mg": "MG", "pacs": "PACS",
	"xray": "X-ray", "ip": "IP", "voip": "VoIP", "poc": "POC", "dicom": "DICOM", "tcp": "TCP", "udp": "UDP"}

// humanize turns "infusion_pump" into "Infusion pump" and "hl7_engine"
// into "HL7 engine".
func humanize(s string) string {
	if s == "" {
		return "—"
	}
	words := strings.Split(s, "_")
	for i, w := range words {
		if a, ok := acronyms[w]; ok {
			words[i] = a
		}
	}
	s = strings.Join(words, " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

// deviceName is what people call a device: its host name, else its model,
// else an address.
func deviceName(d inventory.Device) string {
	for _, a := range []string{"hostname", "dicom.ae_title", "model"} {
		if v := d.Attr(a); v != "" {
			return v
		}
	}
	if ips := d.CurrentIPs(); len(ips) > 0 {
		return ips[0]
	}
	if d.MAC != "" {
		return d.MAC
	}
	return d.ID
}

// Overview is the summary of the overview page and /api/v1/overview.
type Overview struct {
	// Latest is the latest event time the inventory saw: "now" for
	// everything the overview counts.
	Latest time.Time `json:"latest"`
	// Earliest is the first time any device was seen.
	Earliest time.Time `json:"earliest"`
	Devices  int       `json:"devices"`
	Online   int       `json:"online"`
	Medical  int       `json:"medical"`
	// ByCriticality, ByCategory and ByDepartment count devices.
	ByCriticality map[string]int            `json:"by_criticality"`
	ByCategory    map[string]int            `json:"by_category"`
	ByDepartment  map[string]map[string]int `json:"by_department"`
	// OpenIncidents counts open and acknowledged incidents by severity.
	OpenIncidents map[string]int `json:"open_incidents,omitempty"`
	// Health is the worst health state and the checks that are not ok.
	Health   string        `json:"health,omitempty"`
	Problems []HealthCheck `json:"problems,omitempty"`
}

// allDevices is a copy of the whole inventory (nil without one): a page
// takes it once.
func (c *Component) allDevices() []inventory.Device {
	if c.deps.Inventory == nil {
		return nil
	}
	return c.deps.Inventory.Devices()
}

func (c *Component) buildOverview(ctx context.Context, devs []inventory.Device) Overview {
	o := Overview{ByCriticality: map[string]int{}, ByCategory: map[string]int{}, ByDepartment: map[string]map[string]int{}}
	{
		for _, d := range devs {
			o.Devices++
			if d.Online {
				o.Online++
			}
			if d.Classification.Medical {
				o.Medical++
			}
			if d.LastSeen.After(o.Latest) {
				o.Latest = d.LastSeen
			}
			if o.Earliest.IsZero() || d.FirstSeen.Before(o.Earliest) {
				o.Earliest = d.FirstSeen
			}
			crit := string(d.Classification.Criticality)
			if crit == "" {
				crit = string(classify.Unknown)
			}
			o.ByCriticality[crit]++
			o.ByCategory[cmp.Or(d.Classification.Category, "unknown")]++
			dept := cmp.Or(d.Org.Department, "(no department)")
			if o.ByDepartment[dept] == nil {
				o.ByDepartment[dept] = map[string]int{}
			}
			o.ByDepartment[dept][crit]++
		}
	}
	o.OpenIncidents = c.openIncidents()
	if h, ok := c.healthReport(ctx); ok {
		o.Health = h.Worst()
		for _, ch := range h.Checks {
			if ch.State != HealthOK {
				o.Problems = append(o.Problems, ch)
			}
		}
	}
	return o
}

func (c *Component) overview(w http.ResponseWriter, r *http.Request) {
	c.json(w, http.StatusOK, c.buildOverview(r.Context(), c.allDevices()))
}

// overviewView is the overview page's data.
type overviewView struct {
	Overview
	Criticality, Categories, Departments, Trend, Risk template.HTML
	RiskNote                                          string
	TrendNote                                         string
	Severities                                        []Bar
	Watch                                             []inventory.Device
}

func (c *Component) overviewPage(w http.ResponseWriter, r *http.Request) {
	devs := c.allDevices()
	o := c.buildOverview(r.Context(), devs)
	v := overviewView{Overview: o}
	var crit []Bar
	for _, k := range criticalities {
		crit = append(crit, Bar{Label: critLabel(k), Value: float64(o.ByCriticality[string(k)]), Class: critClass(k),
			Href: "/devices?criticality=" + string(k)})
	}
	v.Criticality = barChart("Devices by clinical criticality", crit)
	var cats []Bar
	for k, n := range o.ByCategory {
		cats = append(cats, Bar{Label: humanize(k), Value: float64(n), Class: "neutral", Href: "/devices?category=" + url.QueryEscape(k)})
	}
	slices.SortFunc(cats, func(a, b Bar) int { return cmp.Or(cmp.Compare(b.Value, a.Value), cmp.Compare(a.Label, b.Label)) })
	if len(cats) > 12 {
		cats = cats[:12]
	}
	v.Categories = barChart("Devices by category", cats)
	var depts []StackRow
	for dept, by := range o.ByDepartment {
		row := StackRow{Label: dept}
		if dept != "(no department)" {
			row.Href = "/devices?department=" + url.QueryEscape(dept)
		}
		for _, k := range criticalities {
			row.Segments = append(row.Segments, Segment{Class: critClass(k), Value: float64(by[string(k)]), Name: critLabel(k)})
		}
		depts = append(depts, row)
	}
	slices.SortFunc(depts, func(a, b StackRow) int { return cmp.Compare(a.Label, b.Label) })
	v.Departments = stackedChart("Devices by department and criticality", depts)
	v.Risk, v.RiskNote = c.riskChart(devs)
	v.Trend, v.TrendNote = c.alertTrend(r.Context(), o.Earliest, o.Latest, "")
	for _, s := range severitiesDesc {
		v.Severities = append(v.Severities, Bar{Label: humanize(s), Value: float64(o.OpenIncidents[s]), Class: "sev-" + s,
			Href: "/alerts?min_severity=" + s})
	}
	v.Watch = watchList(devs)
	c.page(w, r, http.StatusOK, "overview", "Overview", v)
}

// watchList is the most critical devices with open incidents, or else
// the life-sustaining devices: what a clinical engineer looks at first.
func watchList(devs []inventory.Device) []inventory.Device {
	medical := true
	return inventory.Query{Sort: "-criticality", Limit: 8, Medical: &medical}.Select(devs).Devices
}

var severitiesDesc = []string{"critical", "high", "medium", "low", "info"}

// alertTrend charts alerts over the 24 hours before latest (event time),
// or from earliest when the data is younger, in about 48 columns.
func (c *Component) alertTrend(ctx context.Context, earliest, latest time.Time, device string) (template.HTML, string) {
	if c.deps.History == nil {
		return "", "Alert history needs the store (store.addresses) or the event log."
	}
	if latest.IsZero() {
		return "", "No events yet."
	}
	to := latest.UTC().Truncate(time.Minute).Add(time.Minute)
	from := to.Add(-24 * time.Hour)
	if earliest.After(from) {
		from = earliest.UTC().Truncate(time.Minute)
	}
	step := max(time.Minute, (to.Sub(from)/48 + time.Minute - 1).Truncate(time.Minute))
	if step >= time.Hour {
		step = step.Truncate(time.Hour)
	}
	pts, err := c.deps.History.AlertsOverTime(ctx, device, from, to, step)
	if err != nil {
		return "", "Alert history unavailable: " + err.Error()
	}
	times := make([]time.Time, len(pts))
	series := make([]Series, len(severitiesDesc))
	for i, s := range severitiesDesc {
		series[len(series)-1-i] = Series{Name: s, Class: "sev-" + s, Values: make([]float64, len(pts))}
	}
	total := uint64(0)
	for i, p := range pts {
		times[i] = p.Time
		for j := range series {
			series[j].Values[i] = float64(p.BySeverity[eventsSeverity(series[j].Name)])
		}
		total += p.Total
	}
	return timeChart("Alerts per "+shortDuration(step)+", by severity", times, series, true, ""),
		fmt.Sprintf("%d alerts from %s to %s (event time), per %s.", total, fmtTime(from), fmtTime(to), shortDuration(step))
}

// devicesView is the inventory page's data.
type devicesView struct {
	Page       inventory.Page
	Query      url.Values
	Error      string
	Categories []string
	Depts      []string
	Crits      []classify.Criticality
	// Prev and Next are the links of the neighbouring pages; CSV the
	// export of everything that matches.
	Prev, Next, CSV string
	From, To        int
	SortLinks       map[string]string
}

const pageSize = 50

func (c *Component) devicesPage(w http.ResponseWriter, r *http.Request) {
	if c.deps.Inventory == nil {
		c.notFound(w, r, "The inventory is not available.")
		return
	}
	q := r.URL.Query()
	for k := range q {
		if !slices.Contains(deviceParams, k) || q.Get(k) == "" {
			q.Del(k)
		}
	}
	v := devicesView{Query: q, Crits: criticalities, SortLinks: map[string]string{}}
	facets := c.deps.Inventory.Facets()
	v.Categories, v.Depts = facets.Categories, facets.Departments
	pq := url.Values{}
	for k, vals := range q {
		pq[k] = vals
	}
	if pq.Get("limit") == "" {
		pq.Set("limit", strconv.Itoa(pageSize))
	}
	if pq.Get("sort") == "" {
		pq.Set("sort", "-criticality")
	}
	query, err := inventory.ParseQuery(pq)
	status := http.StatusOK
	if err != nil {
		v.Error = err.Error()
		status = http.StatusBadRequest
	} else {
		v.Page = c.deps.Inventory.Select(query)
		v.From, v.To = query.Offset+1, query.Offset+len(v.Page.Devices)
		link := func(offset int) string {
			l := url.Values{}
			for k, vals := range pq {
				l[k] = vals
			}
			l.Set("offset", strconv.Itoa(offset))
			return "/devices?" + l.Encode()
		}
		if query.Offset > 0 {
			v.Prev = link(max(0, query.Offset-query.Limit))
		}
		if query.Offset+query.Limit < v.Page.Total {
			v.Next = link(query.Offset + query.Limit)
		}
		cq := url.Values{}
		for k, vals := range pq {
			if k != "limit" && k != "offset" {
				cq[k] = vals
			}
		}
		cq.Set("format", "csv")
		v.CSV = "/api/v1/devices?" + cq.Encode()
		for _, f := range []string{"hostname", "criticality", "category", "vendor", "ip", "last_seen", "bytes"} {
			s := url.Values{}
			for k, vals := range pq {
				if k != "offset" {
					s[k] = vals
				}
			}
			next := f
			if pq.Get("sort") == f {
				next = "-" + f
			}
			s.Set("sort", next)
			v.SortLinks[f] = "/devices?" + s.Encode()
		}
	}
	c.page(w, r, status, "devices", "Inventory", v)
}

// deviceView is the device page's data.
type deviceView struct {
	// Device is a pointer: its methods (Attr, CurrentIPs) have pointer
	// receivers.
	Device      *inventory.Device
	Name        string
	Map         template.HTML
	MapNote     string
	Peers       []Peer
	Traffic     template.HTML
	TrafficNote string
	Baseline    *baseline.Readiness
	CanLearn    bool
	Alerts      template.HTML
	AlertsNote  string
	Incidents   any
	Vulns       any
	VulnNote    string
	Risk        any
	RiskNote    string
	Services    string
}

func (c *Component) devicePage(w http.ResponseWriter, r *http.Request) {
	if c.deps.Inventory == nil {
		c.notFound(w, r, "The inventory is not available.")
		return
	}
	d, ok := c.deps.Inventory.Device(r.PathValue("id"))
	if !ok {
		c.notFound(w, r, fmt.Sprintf("No device %q.", r.PathValue("id")))
		return
	}
	v := deviceView{Device: &d, Name: deviceName(d), Services: strings.Join(d.Services, ", ")}
	ctx := r.Context()
	win, _ := deviceWindow(d, nil)
	if c.deps.History == nil {
		v.MapNote = "Peers and traffic need history: configure store.addresses (ClickHouse)."
	} else {
		peers, err := c.peers(ctx, d, win, 16)
		if err != nil {
			v.MapNote = "Peers unavailable: " + err.Error()
		} else {
			v.Peers = peers
			var nodes []MapNode
			for _, p := range peers {
				sub := fmtBytes(float64(p.BytesIn + p.BytesOut))
				if p.Name != "" && p.Name != p.PeerIP {
					sub = p.PeerIP + " · " + sub
				}
				n := MapNode{Label: cmp.Or(p.Name, p.PeerIP), Sub: sub,
					Bytes: float64(p.BytesIn + p.BytesOut), Flows: p.Flows, Class: "external"}
				if !p.External {
					n.Class, n.Href = critClass(p.Criticality), "/devices/"+p.DeviceID
				}
				nodes = append(nodes, n)
			}
			v.Map = peerMap("Communication peers of "+v.Name, v.Name, critClass(d.Classification.Criticality), nodes)
			v.MapNote = fmt.Sprintf("Top %d peers by bytes, %s to %s (event time).", len(peers), fmtTime(win.From), fmtTime(win.To))
		}
		pts, err := c.deps.History.Traffic(ctx, d.Key, win.From, win.To, win.Step)
		if err != nil {
			v.TrafficNote = "Traffic unavailable: " + err.Error()
		} else {
			times := make([]time.Time, len(pts))
			out, in := Series{Name: "sent", Class: "out"}, Series{Name: "received", Class: "in"}
			for i, p := range pts {
				times[i] = p.Time
				out.Values = append(out.Values, float64(p.BytesOut))
				in.Values = append(in.Values, float64(p.BytesIn))
			}
			v.Traffic = timeChart("Bytes per "+shortDuration(win.Step), times, []Series{in, out}, false, "B")
			v.TrafficNote = fmt.Sprintf("Bytes per %s, %s to %s (event time).", shortDuration(win.Step), fmtTime(win.From), fmtTime(win.To))
		}
		v.Alerts, v.AlertsNote = c.alertTrend(ctx, d.FirstSeen, d.LastSeen, d.Key)
	}
	if c.deps.Baselines != nil {
		if st, ok := c.deps.Baselines.Readiness(d.Key); ok {
			v.Baseline = &st
		}
	}
	p, _ := PrincipalOf(r)
	v.CanLearn = p.Can(RoleAnalyst)
	v.Incidents = c.deviceIncidents(d)
	v.Vulns, v.VulnNote = c.deviceVulns(d)
	v.Risk, v.RiskNote = c.deviceRisk(d)
	c.page(w, r, http.StatusOK, "device", v.Name, v)
}

// healthView is the health page's data.
type healthView struct {
	Report    HealthReport
	Available bool
	Worst     string
	Status    string
}

func (c *Component) healthPage(w http.ResponseWriter, r *http.Request) {
	h, ok := c.healthReport(r.Context())
	v := healthView{Report: h, Available: ok, Worst: h.Worst()}
	c.page(w, r, http.StatusOK, "health", "Health", v)
}

func (c *Component) policiesPage(w http.ResponseWriter, r *http.Request) {
	st, ok := c.policyState()
	var data any
	if ok {
		data = st
	}
	c.page(w, r, http.StatusOK, "policies", "Policies", data)
}

// baselineConfirm is the device page's "confirm learning".
func (c *Component) baselineConfirm(w http.ResponseWriter, r *http.Request) {
	to := "/devices/" + r.PathValue("id")
	d, ok := c.deps.Inventory.Device(r.PathValue("id"))
	if !ok || c.deps.Baselines == nil {
		back(w, r, to, "", fmt.Errorf("no baseline for device %q", r.PathValue("id")))
		return
	}
	err := c.deps.Baselines.Confirm(r.Context(), d.Key)
	c.deps.Logger.Info("baseline change", "action", "confirm", "device", d.Key, "actor", Actor(r), "err", err)
	back(w, r, to, "Learning confirmed: what the device did so far is its baseline.", err)
}

func (c *Component) policiesReload(w http.ResponseWriter, r *http.Request) {
	err := c.reloadPolicies(r.Context(), Actor(r))
	back(w, r, "/policies", "Policies reloaded.", err)
}

func (c *Component) policiesTest(w http.ResponseWriter, r *http.Request) {
	res, err := c.runPolicyTests(r.Context())
	msg := ""
	if err == nil {
		fails := 0
		for _, t := range res {
			if t.Outcome != "PASS" && t.Outcome != "SKIPPED" {
				fails++
			}
		}
		msg = fmt.Sprintf("%d tests run, %d failed.", len(res), fails)
	}
	back(w, r, "/policies", msg, err)
}
