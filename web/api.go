package web

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-health/vigil/baseline"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/inventory"
	"github.com/vigil-health/vigil/policy"
	"github.com/vigil-health/vigil/store"
)

// Inventory is what web reads of the device projection
// (inventory.Component).
type Inventory interface {
	Devices() []inventory.Device
	// Select filters, sorts and pages under the inventory's lock, copying
	// only the page; Facets are the values of the filter menus.
	Select(inventory.Query) inventory.Page
	Facets() inventory.Facets
	Device(id string) (inventory.Device, bool)
	Stats() inventory.Stats
}

// Baselines is the baseline engine (baseline.Component): readiness, and
// a person's "learn this" and "confirm".
type Baselines interface {
	Devices() []baseline.Readiness
	Readiness(device string) (baseline.Readiness, bool)
	LearningEnd() time.Time
	Learn(ctx context.Context, r baseline.LearnRequest) error
	Confirm(ctx context.Context, device string) error
}

// Policy is the policy engine (policy.Component).
type Policy interface {
	Engine() *policy.Engine
	Stats() policy.Stats
	Reload(ctx context.Context) error
}

// PolicyTests runs the Rego unit tests of the policy set in use.
type PolicyTests func(ctx context.Context) ([]policy.TestResult, error)

// History answers questions about the past, in event time. store.Queries
// implements it over ClickHouse; LogHistory over the event log.
type History interface {
	TopPeers(ctx context.Context, device string, from, to time.Time, limit int) ([]store.PeerTraffic, error)
	Traffic(ctx context.Context, device string, from, to time.Time, step time.Duration) ([]store.TrafficPoint, error)
	AlertsOverTime(ctx context.Context, device string, from, to time.Time, step time.Duration) ([]store.AlertPoint, error)
}

// HealthReport is the health of the live system: each check with its
// state, and the lag of every durable consumer.
type HealthReport struct {
	Checks    []HealthCheck           `json:"checks"`
	Consumers []events.ConsumerHealth `json:"consumers"`
}

// Health check states.
const (
	HealthOK      = "ok"
	HealthWarning = "warning"
	HealthFailing = "failing"
)

// HealthCheck is one thing that is well or not: capture drops, a silent
// mirror port, consumer lag, failed inserts, lost events.
type HealthCheck struct {
	Component string `json:"component"`
	Name      string `json:"name"`
	// State is ok, warning or failing; Detail says what was measured.
	State  string `json:"state"`
	Detail string `json:"detail"`
}

// Worst is the worst state of the report.
func (h HealthReport) Worst() string {
	worst := HealthOK
	for _, c := range h.Checks {
		if c.State == HealthFailing {
			return HealthFailing
		}
		if c.State == HealthWarning {
			worst = HealthWarning
		}
	}
	return worst
}

//go:embed openapi.json
var openAPI []byte

func (c *Component) apiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	mux.HandleFunc("GET /api/v1/devices", c.devices)
	mux.HandleFunc("GET /api/v1/devices/{id}", c.device)
	mux.HandleFunc("GET /api/v1/devices/{id}/peers", c.devicePeers)
	mux.HandleFunc("GET /api/v1/devices/{id}/traffic", c.deviceTraffic)
	mux.HandleFunc("GET /api/v1/devices/{id}/baseline", c.deviceBaseline)
	mux.HandleFunc("GET /api/v1/baselines", c.baselines)
	mux.HandleFunc("POST /api/v1/baselines/{id}/learn", c.baselineChange)
	mux.HandleFunc("POST /api/v1/baselines/{id}/confirm", c.baselineChange)
	mux.HandleFunc("GET /api/v1/overview", c.overview)
	mux.HandleFunc("GET /api/v1/status", c.status)
	mux.HandleFunc("GET /api/v1/health", c.health)
	mux.HandleFunc("GET /api/v1/policies", c.policies)
	mux.HandleFunc("POST /api/v1/policies/reload", c.policyReload)
	mux.HandleFunc("POST /api/v1/policies/test", c.policyTest)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, http.StatusNotFound, fmt.Sprintf("no API route %s %s (see /api/v1/openapi.json)", r.Method, r.URL.Path))
	})
}

// devices serves the filtered, sorted, paged device list, as JSON or
// (format=csv or Accept: text/csv) as CSV.
func (c *Component) devices(w http.ResponseWriter, r *http.Request) {
	if c.deps.Inventory == nil {
		c.fail(w, http.StatusNotFound, "inventory not available")
		return
	}
	q := r.URL.Query()
	csv := q.Get("format") == "csv" || r.Header.Get("Accept") == "text/csv"
	if f := q.Get("format"); f != "" && f != "csv" && f != "json" {
		c.fail(w, http.StatusBadRequest, fmt.Sprintf("format=%q: want json or csv", f))
		return
	}
	q.Del("format")
	if msg := unknownParams(q, deviceParams); msg != "" {
		c.fail(w, http.StatusBadRequest, msg)
		return
	}
	query, err := inventory.ParseQuery(q)
	if err != nil {
		c.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	page := c.deps.Inventory.Select(query)
	if csv {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="vigil-devices.csv"`)
		if err := inventory.WriteCSV(w, page.Devices); err != nil {
			c.deps.Logger.Warn("write csv", "err", err)
		}
		return
	}
	c.json(w, http.StatusOK, page)
}

// deviceParams are the parameters inventory.ParseQuery reads.
var deviceParams = []string{"q", "category", "criticality", "medical", "vendor", "site", "department", "vlan", "online", "sort", "offset", "limit"}

// unknownParams names a parameter not in known: a typo must not widen a
// result silently.
func unknownParams(q url.Values, known []string) string {
	var bad []string
	for k := range q {
		if !slices.Contains(known, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return ""
	}
	slices.Sort(bad)
	return fmt.Sprintf("unknown parameter %q: want one of %v", bad[0], known)
}

// lookup finds the device of the path, writing the 404 itself.
func (c *Component) lookup(w http.ResponseWriter, r *http.Request) (inventory.Device, bool) {
	if c.deps.Inventory == nil {
		c.fail(w, http.StatusNotFound, "inventory not available")
		return inventory.Device{}, false
	}
	id := r.PathValue("id")
	d, ok := c.deps.Inventory.Device(id)
	if !ok {
		c.fail(w, http.StatusNotFound, fmt.Sprintf("no device %q", id))
	}
	return d, ok
}

func (c *Component) device(w http.ResponseWriter, r *http.Request) {
	if d, ok := c.lookup(w, r); ok {
		c.json(w, http.StatusOK, d)
	}
}

// window is a time range of history, in event time.
type window struct {
	From time.Time     `json:"from"`
	To   time.Time     `json:"to"`
	Step time.Duration `json:"step_ns"`
}

// deviceWindow is the range the device page shows: the last 24 hours the
// device was seen, in about 60 steps of whole minutes; from, to and step
// override it.
func deviceWindow(d inventory.Device, q url.Values) (window, error) {
	to := d.LastSeen.UTC().Truncate(time.Minute).Add(time.Minute)
	from := d.FirstSeen.UTC().Truncate(time.Minute)
	if to.Sub(from) > 24*time.Hour {
		from = to.Add(-24 * time.Hour)
	}
	for name, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		if s := q.Get(name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return window{}, fmt.Errorf("%s=%q: want an RFC 3339 time such as 2026-01-05T08:00:00Z", name, s)
			}
			*dst = t.UTC().Truncate(time.Minute)
		}
	}
	if !from.Before(to) {
		return window{}, fmt.Errorf("from %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if to.Sub(from) > 31*24*time.Hour {
		return window{}, fmt.Errorf("from %s to %s: at most 31 days", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	step := (to.Sub(from)/60 + time.Minute - 1).Truncate(time.Minute)
	if s := q.Get("step"); s != "" {
		st, err := time.ParseDuration(s)
		if err != nil || st < time.Minute || st%time.Minute != 0 {
			return window{}, fmt.Errorf("step=%q: want a whole number of minutes such as 5m", s)
		}
		if to.Sub(from)/st > 2000 {
			return window{}, fmt.Errorf("step=%q: more than 2000 points; use a larger step", s)
		}
		step = st
	}
	return window{From: from, To: to, Step: step}, nil
}

// Peer is one communication peer of a device, named when it is in the
// inventory.
type Peer struct {
	store.PeerTraffic
	// DeviceID, Name, Category and Criticality describe the peer's device
	// when the inventory knows it.
	DeviceID    string `json:"device_id,omitempty"`
	Name        string `json:"name,omitempty"`
	Category    string `json:"category,omitempty"`
	Criticality string `json:"criticality,omitempty"`
	// External is true for a peer outside the inventory (the internet or
	// an unmonitored network).
	External bool `json:"external"`
}

// peers returns a device's top peers in the window, named.
func (c *Component) peers(ctx context.Context, d inventory.Device, win window, limit int) ([]Peer, error) {
	if c.deps.History == nil {
		return nil, errors.New("no history: configure store.addresses")
	}
	top, err := c.deps.History.TopPeers(ctx, d.Key, win.From, win.To, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Peer, 0, len(top))
	for _, p := range top {
		pe := Peer{PeerTraffic: p, External: true}
		// The peer's key is its MAC's: for an address beyond a router that
		// is the router, so the device counts only if it used the address.
		pd, ok := c.byKey(p.PeerDevice)
		if !ok || !usedAddress(pd, p.PeerIP) {
			// A device known by IP only (behind a router) has an ip: key.
			pd, ok = c.byKey(events.DeviceKey("", p.PeerIP, d.VLAN))
		}
		if ok && usedAddress(pd, p.PeerIP) {
			pe.DeviceID, pe.Name, pe.External = pd.ID, deviceName(pd), false
			pe.Category, pe.Criticality = pd.Classification.Category, string(pd.Classification.Criticality)
		}
		out = append(out, pe)
	}
	return out, nil
}

// usedAddress reports whether d ever held ip.
func usedAddress(d inventory.Device, ip string) bool {
	return slices.ContainsFunc(d.Addresses, func(a inventory.Address) bool { return a.IP == ip })
}

// byKey finds an inventory device by its key: its ID derives from the
// key, so this is one lookup, not a copy of the inventory.
func (c *Component) byKey(key string) (inventory.Device, bool) {
	if c.deps.Inventory == nil || key == "" {
		return inventory.Device{}, false
	}
	return c.deps.Inventory.Device(inventory.DeviceID(key))
}

func (c *Component) devicePeers(w http.ResponseWriter, r *http.Request) {
	d, ok := c.lookup(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if msg := unknownParams(q, []string{"from", "to", "limit"}); msg != "" {
		c.fail(w, http.StatusBadRequest, msg)
		return
	}
	win, err := deviceWindow(d, q)
	if err != nil {
		c.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	limit := 20
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 1000 {
			c.fail(w, http.StatusBadRequest, fmt.Sprintf("limit=%q: want a number from 1 to 1000", s))
			return
		}
	}
	peers, err := c.peers(r.Context(), d, win, limit)
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "peers: "+err.Error())
		return
	}
	c.json(w, http.StatusOK, map[string]any{"window": win, "peers": peers})
}

func (c *Component) deviceTraffic(w http.ResponseWriter, r *http.Request) {
	d, ok := c.lookup(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if msg := unknownParams(q, []string{"from", "to", "step"}); msg != "" {
		c.fail(w, http.StatusBadRequest, msg)
		return
	}
	win, err := deviceWindow(d, q)
	if err != nil {
		c.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if c.deps.History == nil {
		c.fail(w, http.StatusServiceUnavailable, "traffic: no history: configure store.addresses")
		return
	}
	pts, err := c.deps.History.Traffic(r.Context(), d.Key, win.From, win.To, win.Step)
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "traffic: "+err.Error())
		return
	}
	c.json(w, http.StatusOK, map[string]any{"window": win, "points": pts})
}

func (c *Component) deviceBaseline(w http.ResponseWriter, r *http.Request) {
	d, ok := c.lookup(w, r)
	if !ok {
		return
	}
	if c.deps.Baselines == nil {
		c.fail(w, http.StatusNotFound, "baselines not available")
		return
	}
	st, ok := c.deps.Baselines.Readiness(d.Key)
	if !ok {
		c.fail(w, http.StatusNotFound, fmt.Sprintf("device %q has no baseline yet", d.ID))
		return
	}
	c.json(w, http.StatusOK, st)
}

// learnRequest is the body of POST /api/v1/baselines/{id}/learn: an edge
// or a service to take as normal for the device.
type learnRequest struct {
	Peer      string `json:"peer"`
	Transport string `json:"transport"`
	Port      uint16 `json:"port"`
	AppProto  string `json:"app_proto"`
	Reason    string `json:"reason"`
}

// baselineChange is a person's "learn this" or "confirm": the device's
// learning is changed and the answer is its readiness after.
func (c *Component) baselineChange(w http.ResponseWriter, r *http.Request) {
	d, ok := c.lookup(w, r)
	if !ok {
		return
	}
	if c.deps.Baselines == nil {
		c.fail(w, http.StatusNotFound, "baselines not available")
		return
	}
	var err error
	action := path.Base(r.URL.Path)
	switch action {
	case "confirm":
		err = c.deps.Baselines.Confirm(r.Context(), d.Key)
	case "learn":
		var req learnRequest
		if err := decodeJSON(r, &req); err != nil {
			c.fail(w, http.StatusBadRequest, err.Error())
			return
		}
		if req.Transport == "" || req.Port == 0 {
			c.fail(w, http.StatusBadRequest, "learn: transport and port are required (the edge or service to take as normal)")
			return
		}
		if strings.TrimSpace(req.Reason) == "" {
			c.fail(w, http.StatusBadRequest, "learn: a reason is required: say why this traffic is normal")
			return
		}
		err = c.deps.Baselines.Learn(r.Context(), baseline.LearnRequest{Device: d.Key, Peer: req.Peer, Transport: req.Transport,
			Port: req.Port, AppProto: req.AppProto, Reason: req.Reason + " (" + Actor(r) + ")"})
	}
	c.deps.Logger.Info("baseline change", "action", action, "device", d.Key, "actor", Actor(r), "err", err)
	if errors.Is(err, baseline.ErrUnknownDevice) {
		c.fail(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		c.fail(w, http.StatusConflict, err.Error())
		return
	}
	st, _ := c.deps.Baselines.Readiness(d.Key)
	c.json(w, http.StatusOK, st)
}

// decodeJSON reads a JSON body strictly: unknown fields and trailing data
// are errors that name the problem.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("content type %q: send application/json", ct)
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON body: %w", err)
	}
	if dec.More() {
		return errors.New("bad JSON body: more than one value")
	}
	return nil
}

func (c *Component) baselines(w http.ResponseWriter, _ *http.Request) {
	if c.deps.Baselines == nil {
		c.fail(w, http.StatusNotFound, "baselines not available")
		return
	}
	list := c.deps.Baselines.Devices()
	slices.SortFunc(list, func(a, b baseline.Readiness) int { return cmp.Compare(a.Key, b.Key) })
	c.json(w, http.StatusOK, map[string]any{"learning_end": c.deps.Baselines.LearningEnd(), "devices": list})
}

func (c *Component) status(w http.ResponseWriter, _ *http.Request) {
	if c.deps.Status == nil {
		c.fail(w, http.StatusNotFound, "status not available")
		return
	}
	c.json(w, http.StatusOK, c.deps.Status())
}

func (c *Component) healthReport(ctx context.Context) (HealthReport, bool) {
	if c.deps.Health == nil {
		return HealthReport{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return c.deps.Health(ctx), true
}

func (c *Component) health(w http.ResponseWriter, r *http.Request) {
	h, ok := c.healthReport(r.Context())
	if !ok {
		c.fail(w, http.StatusNotFound, "health not available")
		return
	}
	c.json(w, http.StatusOK, map[string]any{"state": h.Worst(), "checks": h.Checks, "consumers": h.Consumers})
}

// PolicyState is the policy set in use.
type PolicyState struct {
	Revision string       `json:"revision"`
	Files    []string     `json:"files"`
	Stats    policy.Stats `json:"stats"`
	// LastReloadError is the error of the latest reload asked through the
	// API, kept until a reload succeeds (the set in use stays in place).
	LastReloadError string    `json:"last_reload_error,omitempty"`
	LastReload      time.Time `json:"last_reload,omitzero"`
	LastReloadBy    string    `json:"last_reload_by,omitempty"`
	// Tests are the results of the latest test run, if any.
	Tests    []policy.TestResult `json:"tests,omitempty"`
	TestsRun time.Time           `json:"tests_run,omitzero"`
}

// policyLog remembers the outcome of reloads and test runs made here.
type policyLog struct {
	mu       sync.Mutex
	err      string
	at       time.Time
	by       string
	tests    []policy.TestResult
	testsRun time.Time
}

func (c *Component) policyState() (PolicyState, bool) {
	if c.deps.Policy == nil || c.deps.Policy.Engine() == nil {
		return PolicyState{}, false
	}
	eng := c.deps.Policy.Engine()
	st := PolicyState{Revision: eng.Revision(), Files: eng.Files(), Stats: c.deps.Policy.Stats()}
	c.polLog.mu.Lock()
	st.LastReloadError, st.LastReload, st.LastReloadBy = c.polLog.err, c.polLog.at, c.polLog.by
	st.Tests, st.TestsRun = c.polLog.tests, c.polLog.testsRun
	c.polLog.mu.Unlock()
	return st, true
}

func (c *Component) policies(w http.ResponseWriter, _ *http.Request) {
	st, ok := c.policyState()
	if !ok {
		c.fail(w, http.StatusNotFound, "policy engine not available")
		return
	}
	c.json(w, http.StatusOK, st)
}

func (c *Component) reloadPolicies(ctx context.Context, actor string) error {
	if c.deps.Policy == nil {
		return errors.New("policy engine not available")
	}
	err := c.deps.Policy.Reload(ctx)
	c.polLog.mu.Lock()
	c.polLog.at, c.polLog.by, c.polLog.err = c.deps.Now().UTC(), actor, ""
	if err != nil {
		c.polLog.err = err.Error()
	}
	c.polLog.mu.Unlock()
	c.deps.Logger.Info("policy reload", "actor", actor, "err", err)
	return err
}

func (c *Component) policyReload(w http.ResponseWriter, r *http.Request) {
	if c.deps.Policy == nil {
		c.fail(w, http.StatusNotFound, "policy engine not available")
		return
	}
	if err := c.reloadPolicies(r.Context(), Actor(r)); err != nil {
		// The set in use stays: the caller learns why the new one was refused.
		c.fail(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	st, _ := c.policyState()
	c.json(w, http.StatusOK, st)
}

func (c *Component) runPolicyTests(ctx context.Context) ([]policy.TestResult, error) {
	if c.deps.PolicyTests == nil {
		return nil, errors.New("policy tests not available")
	}
	res, err := c.deps.PolicyTests(ctx)
	if err != nil {
		return nil, err
	}
	c.polLog.mu.Lock()
	c.polLog.tests, c.polLog.testsRun = res, c.deps.Now().UTC()
	c.polLog.mu.Unlock()
	return res, nil
}

func (c *Component) policyTest(w http.ResponseWriter, r *http.Request) {
	if c.deps.PolicyTests == nil {
		c.fail(w, http.StatusNotFound, "policy tests not available")
		return
	}
	res, err := c.runPolicyTests(r.Context())
	if err != nil {
		c.fail(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	var pass, fail int
	for _, t := range res {
		if t.Outcome == policy.TestPass {
			pass++
		} else if t.Outcome != policy.TestSkip {
			fail++
		}
	}
	c.json(w, http.StatusOK, map[string]any{"passed": pass, "failed": fail, "results": res})
}
