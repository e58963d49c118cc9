package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/crypto/bcrypt"

	"github.com/vigil-health/vigil/alerts"
	capturepkg "github.com/vigil-health/vigil/capture"
	"github.com/vigil-health/vigil/capture/protocols"
	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/report"
	"github.com/vigil-health/vigil/internal/synth"
	"github.com/vigil-health/vigil/store"
	"github.com/vigil-health/vigil/store/chtest"
	"github.com/vigil-health/vigil/web"
	"github.com/vigil-health/vigil/web/browser"
)

// dashboard is the real pipeline run over the demo's ward capture, held
// running, with the web server in front of it and one user per role
// (password: the name followed by "-password").
type dashboard struct {
	base string
	eng  *engines
	deps web.Dependencies
}

var roles = map[string]web.Role{"vera": web.RoleViewer, "anna": web.RoleAnalyst, "adam": web.RoleAdmin}

func startDashboard(t *testing.T) *dashboard {
	t.Helper()
	// The ward's capture ends five minutes ago: the enforcement clock is
	// the later of event time and the wall clock (docs/enforcement.md), so
	// a block of a capture from January would have expired before anyone
	// could approve it.
	opts := synth.DefaultOptions()
	opts.Start = time.Now().UTC().Add(-opts.Learning - opts.Detection - 5*time.Minute).Truncate(time.Minute)
	file, _ := wardCapture(t, opts)
	cfg := defaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Listen = "127.0.0.1:0"
	for name, role := range roles {
		h, err := bcrypt.GenerateFromPassword([]byte(name+"-password"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		cfg.HTTP.Auth.Users = append(cfg.HTTP.Auth.Users, web.User{Name: name, Role: role, PasswordHash: string(h)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *dashboard, 1)
	done := make(chan error, 1)
	logger := slog.New(slog.DiscardHandler)
	go func() {
		_, err := analysis{files: []string{file}, learn: opts.Learning, hold: func(eng *engines, _ *report.Report) error {
			deps := webDependencies(cfg, logger, eng, nil, nil)
			api, err := web.New(webConfiguration(cfg), deps)
			if err != nil {
				return err
			}
			if err := api.Start(ctx); err != nil {
				return err
			}
			ready <- &dashboard{base: "http://" + api.Addr(), eng: eng, deps: deps}
			<-ctx.Done()
			return api.Stop(context.Background())
		}}.run(ctx, cfg, logger)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("pipeline: %v", err)
		}
	})
	select {
	case d := <-ready:
		return d
	case err := <-done:
		t.Fatalf("pipeline ended before serving: %v", err)
	case <-time.After(3 * time.Minute):
		t.Fatal("pipeline did not finish in 3 minutes")
	}
	return nil
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// session is an HTTP client logged in as one user, with the CSRF token of
// its session.
type session struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

type jar struct{ c []*http.Cookie }

func (j *jar) SetCookies(_ *url.URL, cs []*http.Cookie) { j.c = append(j.c, cs...) }
func (j *jar) Cookies(*url.URL) []*http.Cookie          { return j.c }

func (d *dashboard) login(t *testing.T, user string) *session {
	t.Helper()
	s := &session{t: t, base: d.base, hc: &http.Client{Jar: &jar{}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	resp, err := s.hc.PostForm(d.base+"/login", url.Values{"user": {user}, "password": {user + "-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %d", user, resp.StatusCode)
	}
	_, body := s.do("GET", "/health", "")
	i := strings.Index(body, `data-csrf="`)
	if i < 0 {
		t.Fatalf("no CSRF token for %s", user)
	}
	rest := body[i+len(`data-csrf="`):]
	s.csrf = rest[:strings.IndexByte(rest, '"')]
	return s
}

// do sends a request; a body starting with { is JSON, else a form.
func (s *session) do(method, path, body string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if strings.HasPrefix(body, "{") {
		req.Header.Set("Content-Type", "application/json")
	} else if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if s.csrf != "" {
		req.Header.Set("X-CSRF-Token", s.csrf)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// internetIncident waits for the incident of the pump's internet contact
// and returns it.
func (d *dashboard) internetIncident(t *testing.T) alerts.Incident {
	t.Helper()
	var inc alerts.Incident
	eventually(t, "the incident of INF-PUMP-02's internet contact", func() bool {
		for _, i := range d.deps.Alerts.Incidents(alerts.Query{Suppressed: "include", Limit: 1000}).Incidents {
			if i.Device.Attributes["hostname"] == "INF-PUMP-02" && i.Peer != nil && i.Peer.IP == "203.0.113.45" {
				inc = i
				return true
			}
		}
		return false
	})
	return inc
}

// pendingBlock waits for the gate to hold a block of a life-sustaining
// device and returns it.
func (d *dashboard) pendingBlock(t *testing.T) enforce.Block {
	t.Helper()
	var blk enforce.Block
	eventually(t, "a block held for approval", func() bool {
		p, err := d.deps.Enforce.Pending(context.Background())
		if err != nil || len(p) == 0 {
			return false
		}
		blk = p[0]
		return true
	})
	return blk
}

func needAlerts(t *testing.T, d *dashboard) {
	t.Helper()
	if d.deps.Alerts == nil {
		t.Skip("the alert service is not wired into startEngines: triage cannot be tested")
	}
}

func needEnforce(t *testing.T, d *dashboard) {
	t.Helper()
	if d.deps.Enforce == nil {
		t.Skip("the enforcement service is not wired into startEngines: approvals cannot be tested")
	}
}

// TestDashboardAPI checks the API over a processed capture: data,
// bad input, and who may do what.
func TestDashboardAPI(t *testing.T) {
	d := startDashboard(t)
	viewer, analyst, admin := d.login(t, "vera"), d.login(t, "anna"), d.login(t, "adam")

	code, body := viewer.do("GET", "/api/v1/devices?q=INF-PUMP-02", "")
	var page struct {
		Total   int
		Devices []struct {
			ID, Key        string
			Classification struct{ Category, Criticality string }
		}
	}
	if code != 200 || json.Unmarshal([]byte(body), &page) != nil || page.Total != 1 || page.Devices[0].Classification.Criticality != "life_sustaining" {
		t.Fatalf("pump: %d %.300s", code, body)
	}
	pump := page.Devices[0]
	code, body = viewer.do("GET", "/api/v1/devices/"+pump.ID+"/peers", "")
	if code != 200 || !strings.Contains(body, `"PeerIP": "203.0.113.45"`) || !strings.Contains(body, `"external": true`) {
		t.Errorf("pump's peers: %d %.600s", code, body)
	}
	if code, body := viewer.do("GET", "/api/v1/devices/"+pump.ID+"/traffic?step=5m", ""); code != 200 || !strings.Contains(body, `"BytesOut"`) {
		t.Errorf("pump's traffic: %d %.300s", code, body)
	}
	if code, body := viewer.do("GET", "/api/v1/devices/"+pump.ID+"/baseline", ""); code != 200 || !strings.Contains(body, `"ready": true`) {
		t.Errorf("pump's baseline: %d %.300s", code, body)
	}
	for path, want := range map[string]string{
		"/api/v1/overview": `"life_sustaining": 3`, "/api/v1/health": `"checks"`, "/api/v1/status": `"inventory"`,
		"/api/v1/policies": `"revision"`, "/api/v1/baselines": `"learning_end"`, "/api/v1/me": `"role": "viewer"`,
	} {
		if code, body := viewer.do("GET", path, ""); code != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d %.300s", path, code, body)
		}
	}
	for path, want := range map[string]string{
		"/api/v1/devices?criticality=deadly":                   "", // a criticality nobody has: empty, not an error
		"/api/v1/devices?online=sometimes":                     `online=\"sometimes\": want true or false`,
		"/api/v1/devices/" + pump.ID + "/traffic?step=1s":      `step=\"1s\": want a whole number of minutes`,
		"/api/v1/devices/" + pump.ID + "/peers?from=yesterday": `from=\"yesterday\": want an RFC 3339 time`,
	} {
		code, body := viewer.do("GET", path, "")
		if want == "" {
			if code != 200 || !strings.Contains(body, `"total": 0`) {
				t.Errorf("%s: %d %s", path, code, body)
			}
			continue
		}
		if code != 400 || !strings.Contains(body, want) {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	if code, body := viewer.do("GET", "/api/v1/devices/dev-000000000000/peers", ""); code != 404 || !strings.Contains(body, `no device`) {
		t.Errorf("unknown device's peers: %d %s", code, body)
	}
	// Policies: reading is for everyone, reloading and testing for admins.
	if code, body := analyst.do("POST", "/api/v1/policies/reload", ""); code != 403 || !strings.Contains(body, "needs the admin role") {
		t.Errorf("analyst reloads: %d %s", code, body)
	}
	if code, body := admin.do("POST", "/api/v1/policies/reload", ""); code != 200 || !strings.Contains(body, `"last_reload_by": "adam"`) {
		t.Errorf("admin reloads: %d %.300s", code, body)
	}
	if code, body := admin.do("POST", "/api/v1/policies/test", ""); code != 200 || !strings.Contains(body, `"failed": 0`) {
		t.Errorf("admin runs the policy tests: %d %.300s", code, body)
	}

	t.Run("triage", func(t *testing.T) {
		needAlerts(t, d)
		inc := d.internetIncident(t)
		// Triage through the pages' routes and the API: the viewer may
		// not, the analyst may, with clear errors for bad input.
		if code, _ := viewer.do("POST", "/alerts/"+inc.ID+"/acknowledge", "note=mine"); code != 403 {
			t.Errorf("viewer acknowledges: %d", code)
		}
		if code, body := viewer.do("POST", "/api/v1/alerts/"+inc.ID+"/ack", `{"note": "mine"}`); code != 403 || !strings.Contains(body, "needs the analyst role") {
			t.Errorf("viewer acknowledges through the API: %d %s", code, body)
		}
		if code, body := analyst.do("POST", "/api/v1/alerts/"+inc.ID+"/suppress", `{"scope": ["rule"]}`); code != 400 || !strings.Contains(strings.ToLower(body), "reason") {
			t.Errorf("suppress without a reason: %d %s", code, body)
		}
		if code, body := analyst.do("POST", "/api/v1/alerts/"+inc.ID+"/ack", `{"note": `); code != 400 || !strings.Contains(body, "request body") {
			t.Errorf("bad JSON: %d %s", code, body)
		}
		if code, body := analyst.do("POST", "/api/v1/alerts/no-such-incident/ack", `{}`); code != 404 {
			t.Errorf("unknown incident: %d %s", code, body)
		}
		if code, _ := analyst.do("POST", "/alerts/"+inc.ID+"/suppress", "reason=&scope=rule&expires=24h"); code != 303 {
			t.Errorf("page suppress without reason: %d", code)
		}
		if len(d.deps.Alerts.Suppressions()) != 0 {
			t.Error("a suppression without a reason was added")
		}
		code, body := analyst.do("POST", "/api/v1/alerts/"+inc.ID+"/ack", `{"note": "looking", "actor": "someone-else"}`)
		if code != 200 || !strings.Contains(body, `"actor": "anna"`) {
			t.Errorf("analyst acknowledges through the API (the actor is the login, not the body): %d %.400s", code, body)
		}
	})
	t.Run("approvals", func(t *testing.T) {
		needEnforce(t, d)
		blk := d.pendingBlock(t)
		if code, _ := analyst.do("POST", "/enforcement/"+blk.ID+"/approve", ""); code != 403 {
			t.Errorf("analyst approves: %d", code)
		}
		if code, _ := viewer.do("POST", "/enforcement/kill-switch", "state=on"); code != 403 {
			t.Errorf("viewer flips the kill switch: %d", code)
		}
		if code, _ := admin.do("POST", "/enforcement/kill-switch", "state=maybe"); code != 303 {
			t.Errorf("kill switch maybe: %d", code)
		}
	})
}

// TestDashboardInBrowser drives headless Chromium over the dashboard of a
// processed capture: every page renders with its data; an analyst
// acknowledges and suppresses an alert and sees the list follow the live
// feed; an admin approves a held block; a viewer finds no button to
// change anything and is refused by the server when trying anyway.
func TestDashboardInBrowser(t *testing.T) {
	if _, err := browser.Find(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	d := startDashboard(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	open := func(t *testing.T, user string) context.Context {
		t.Helper()
		bctx, stop, err := browser.Start(ctx, 1366, 768)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		if err := browser.Login(bctx, d.base, user, user+"-password"); err != nil {
			t.Fatal(err)
		}
		return bctx
	}
	visit := func(t *testing.T, bctx context.Context, path string) {
		t.Helper()
		resp, err := chromedp.Run(bctx, chromedp.NavigateResponse(d.base+path))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if resp.Status != http.StatusOK {
			body, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %d %.300s", path, resp.Status, body)
		}
		if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS("footer")), browser.AcceptDialogs); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	eval := func(t *testing.T, bctx context.Context, js string) int {
		t.Helper()
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return n
	}
	// flash waits for the message of an action that contains want (the
	// page after the form's redirect) and returns it.
	flash := func(t *testing.T, bctx context.Context, want string) string {
		t.Helper()
		js := fmt.Sprintf(`(() => { const f = document.querySelector(".flash"); return !!f && f.textContent.includes(%q); })()`, want)
		deadline := time.Now().Add(20 * time.Second)
		for {
			// The form's redirect replaces the page under the poll: try
			// again on the new one.
			_, err := chromedp.Run(bctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(5*time.Second)))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				got, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("main")))
				t.Fatalf("no message %q after the action: %v\n%.500s", want, err, got)
			}
			time.Sleep(100 * time.Millisecond)
		}
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(".flash")))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pumpID := func() string {
		for _, dev := range d.eng.inventory.Devices() {
			if dev.Attr("hostname") == "INF-PUMP-02" {
				return dev.ID
			}
		}
		t.Fatal("no INF-PUMP-02 in the inventory")
		return ""
	}()

	t.Run("pages", func(t *testing.T) {
		bctx := open(t, "vera")
		for path, wants := range map[string][]string{
			"/":                  {"Devices by clinical criticality", "Life-sustaining", "INF-PUMP-02", "Alert trend"},
			"/devices":           {"INF-PUMP-01", "CT_SCANNER1", "Life-sustaining", "Export CSV"},
			"/devices?q=MON-BED": {"Devices 1–2 of 2", "MON-BED-01", "MON-BED-02"},
			"/devices/" + pumpID: {"INF-PUMP-02", "Attributes and evidence", "dhcp", "Communication peers", "203.0.113.45", "Baseline", "Ready"},
			"/policies":          {"Policy set in use", "Revision"},
			"/health":            {"Checks", "Consumers of the event log"},
			"/alerts":            {"Alerts"},
			"/enforcement":       {"Enforcement"},
		} {
			visit(t, bctx, path)
			got, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("main")))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			for _, w := range wants {
				if !strings.Contains(got, w) {
					t.Errorf("%s: no %q in the page", path, w)
				}
			}
		}
		visit(t, bctx, "/devices/"+pumpID)
		if n := eval(t, bctx, `document.querySelectorAll("svg.chart.map circle.node.external").length`); n == 0 {
			t.Error("the pump's communication map shows no external peer")
		}
		if n := eval(t, bctx, `document.querySelectorAll("svg.chart.time").length`); n == 0 {
			t.Error("the pump's page has no traffic chart")
		}
	})

	t.Run("viewer cannot", func(t *testing.T) {
		bctx := open(t, "vera")
		visit(t, bctx, "/alerts")
		buttons := eval(t, bctx, `document.querySelectorAll("button[data-action]").length`)
		visit(t, bctx, "/enforcement")
		buttons += eval(t, bctx, `document.querySelectorAll("button[data-action]").length`)
		visit(t, bctx, "/policies")
		buttons += eval(t, bctx, `document.querySelectorAll("button[data-action]").length`)
		if buttons != 0 {
			t.Errorf("the viewer sees %d buttons that change things", buttons)
		}
		// The server refuses what a crafted request from the viewer's own
		// session (with its CSRF token) asks, on the pages' routes and the
		// API's.
		try := func(path string) int {
			t.Helper()
			js := fmt.Sprintf(`fetch(%q, {method: "POST", headers: {"X-CSRF-Token": document.body.dataset.csrf, "Content-Type": "application/json"}, body: "{}"}).then(r => r.status)`, path)
			st, err := chromedp.Run(bctx, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		paths := []string{"/api/v1/policies/reload", "/policies/reload"}
		if d.deps.Alerts != nil {
			inc := d.internetIncident(t)
			paths = append(paths, "/alerts/"+inc.ID+"/acknowledge", "/api/v1/alerts/"+inc.ID+"/ack")
			defer func() {
				if got, _ := d.deps.Alerts.Incident(inc.ID); got.State != alerts.StateOpen {
					t.Errorf("incident is %s after the viewer tried", got.State)
				}
			}()
		}
		if d.deps.Enforce != nil {
			blk := d.pendingBlock(t)
			paths = append(paths, "/enforcement/"+blk.ID+"/approve", "/api/v1/enforcement/blocks/"+blk.ID+"/approve")
		}
		for _, p := range paths {
			if st := try(p); st != http.StatusForbidden {
				t.Errorf("viewer POST %s: %d, want 403", p, st)
			}
		}
	})

	t.Run("analyst triages", func(t *testing.T) {
		needAlerts(t, d)
		inc := d.internetIncident(t)
		bctx := open(t, "anna")
		row := "#inc-" + inc.ID
		visit(t, bctx, "/alerts")
		if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(row+` button[data-action="acknowledge"]`))); err != nil {
			t.Fatal(err)
		}
		msg := flash(t, bctx, "acknowledged")
		got, _ := d.deps.Alerts.Incident(inc.ID)
		if !strings.Contains(msg, "acknowledged") || got.State != alerts.StateAcknowledged || got.History[len(got.History)-1].Actor != "anna" {
			t.Errorf("after acknowledge: flash %q, state %s, history %+v", msg, got.State, got.History)
		}
		err := chromedp.Do(bctx,
			chromedp.WaitVisible(chromedp.CSS(row)),
			chromedp.Click(chromedp.CSS(row+" details.suppress summary")),
			chromedp.SendKeys(chromedp.CSS(row+` input[name="reason"]`), "pump firmware update server, change CHG-1234"),
			chromedp.SetValue(chromedp.CSS(row+` select[name="expires"]`), "168h"),
			chromedp.Click(chromedp.CSS(row+` button[data-action="suppress"]`)))
		if err != nil {
			t.Fatal(err)
		}
		msg = flash(t, bctx, "Suppressed")
		var found *alerts.Suppression
		for _, s := range d.deps.Alerts.Suppressions() {
			if s.Reason == "pump firmware update server, change CHG-1234" {
				found = &s
			}
		}
		if found == nil || found.CreatedBy != "anna" || found.Rule != inc.Rule || found.Device != inc.Device.Key || time.Until(found.Expires) < 167*time.Hour || time.Until(found.Expires) > 168*time.Hour {
			t.Fatalf("suppression: %+v (flash %q)", found, msg)
		}
		if got, _ := d.deps.Alerts.Incident(inc.ID); !got.Suppressed {
			t.Error("the incident is not suppressed")
		}
		// Live: a colleague resolves an open incident elsewhere; the list
		// on this page follows without a reload.
		var other alerts.Incident
		for _, i := range d.deps.Alerts.Incidents(alerts.Query{States: []alerts.State{alerts.StateOpen}}).Incidents {
			other = i
			break
		}
		if other.ID == "" {
			t.Fatal("no other open incident to resolve live")
		}
		visit(t, bctx, "/alerts")
		if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.ID("live")), chromedp.WaitVisible(chromedp.ID("inc-"+other.ID))); err != nil {
			t.Fatalf("live badge or incident %s: %v", other.ID, err)
		}
		if _, err := d.deps.Alerts.Resolve(context.Background(), other.ID, alerts.Action{Actor: "colleague", Note: "done"}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`Number(document.body.dataset.liveUpdates || 0) > 0 && !document.getElementById("inc-`+other.ID+`")`,
			chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("the list did not follow the live feed: %v", err)
		}
	})

	t.Run("admin approves", func(t *testing.T) {
		needEnforce(t, d)
		blk := d.pendingBlock(t)
		bctx := open(t, "adam")
		visit(t, bctx, "/enforcement")
		err := chromedp.Do(bctx,
			chromedp.WaitVisible(chromedp.ID("blk-"+blk.ID)),
			chromedp.SendKeys(chromedp.ID("note-"+blk.ID), "approved with the ward's charge nurse"),
			chromedp.Click(chromedp.CSS(`#blk-`+blk.ID+` button[data-action="approve"]`)))
		if err != nil {
			t.Fatal(err)
		}
		msg := flash(t, bctx, "approved")
		got, err := d.deps.Enforce.Block(context.Background(), blk.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == enforce.StatePending || len(got.History) == 0 || got.History[len(got.History)-1].Actor != "adam" {
			t.Errorf("after approval (%q): state %s, history %+v", msg, got.State, got.History)
		}
	})
}

// TestWebCommands makes a user and a token entry, loads them as a
// configuration and logs in with both.
func TestWebCommands(t *testing.T) {
	cmd := newRootCommand()
	var out, errOut strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader("correct horse battery\n"))
	cmd.SetArgs([]string{"web", "hash-password", "--name", "alice", "--role", "analyst"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	user := out.String()
	tokOut, _, err := vigil(t, "web", "token", "--name", "siem", "--role", "viewer")
	if err != nil {
		t.Fatal(err)
	}
	token := strings.Split(tokOut, "\n")[1]
	entry := tokOut[strings.Index(tokOut, "- name: siem"):]
	cfgFile := t.TempDir() + "/vigil.yaml"
	indent := func(s string) string { return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ") + "\n" }
	body := user[strings.Index(user, "- name"):]
	if err := os.WriteFile(cfgFile, []byte("http:\n  listen: 127.0.0.1:0\n  auth:\n    users:\n"+indent(body)+"    tokens:\n"+indent(entry)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := (&globalOptions{configFile: cfgFile}).loadConfig()
	if err != nil {
		t.Fatalf("configuration made by the commands: %v\n%s", err, user+tokOut)
	}
	api, err := web.New(webConfiguration(cfg), web.Dependencies{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptestServer(t, api.Handler())
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).
		PostForm(srv+"/login", url.Values{"user": {"alice"}, "password": {"correct horse battery"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("alice's login: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", srv+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"role": "viewer"`) {
		t.Errorf("token: %d %s", resp.StatusCode, b)
	}
	for _, args := range [][]string{
		{"web", "token", "--name", "x y"},
		{"web", "token", "--name", "x", "--role", "root"},
	} {
		if _, _, err := vigil(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	cmd = newRootCommand()
	cmd.SetOut(io.Discard)
	cmd.SetIn(strings.NewReader("short\n"))
	cmd.SetArgs([]string{"web", "hash-password", "--name", "bob"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "at least 10 characters") {
		t.Errorf("short password: %v", err)
	}
}

func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestHistoryFromLogEqualsStore runs the ward through the pipeline with
// the ClickHouse writer and checks that the dashboard's history without a
// store (web.LogHistory, from the event log) answers what the store's
// queries answer: the same peers, traffic and alert counts.
func TestHistoryFromLogEqualsStore(t *testing.T) {
	srv := chtest.Start(t)
	file, _ := wardCapture(t, synth.DefaultOptions())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	cfg := defaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Baseline.Learning = synth.DefaultOptions().Learning
	cfg.Store.Addresses, cfg.Store.Database = []string{srv.Addr}, srv.Database(t)
	cfg.Store.FlushInterval = 100 * time.Millisecond
	lc := &lifecycle{logger: logger}
	defer lc.stop()
	eng, err := startEngines(ctx, cfg, logger, lc)
	if err != nil {
		t.Fatal(err)
	}
	w, err := startStore(ctx, cfg, logger, lc, eng.bus)
	if err != nil {
		t.Fatal(err)
	}
	scfg := cfg.Sensor
	scfg.Files = []string{file}
	sensor, err := capturepkg.New(scfg, capturepkg.Dependencies{Logger: logger, Publisher: sensorPublisher(eng.bus, scfg), Dissectors: protocols.Dissectors})
	if err != nil {
		t.Fatal(err)
	}
	if err := sensor.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := eng.drain(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{events.StreamSensor, events.StreamAlerts} {
		if err := eng.bus.WaitCaughtUp(ctx, s, store.Durable); err != nil {
			t.Fatal(err)
		}
	}
	logH, storeH := web.LogHistory{Log: eng.bus}, store.NewQueries(w.Conn())
	from, to := synth.DefaultOptions().Start, synth.DefaultOptions().Start.Add(time.Hour)
	for _, dev := range eng.inventory.Devices() {
		a, err := logH.TopPeers(ctx, dev.Key, from, to, 10)
		if err != nil {
			t.Fatal(err)
		}
		b, err := storeH.TopPeers(ctx, dev.Key, from, to, 10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(b, a, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("peers of %s (-store +log):\n%s", dev.Key, diff)
		}
		tl, err := logH.Traffic(ctx, dev.Key, from, to, 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := storeH.Traffic(ctx, dev.Key, from, to, 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ts, tl); diff != "" {
			t.Errorf("traffic of %s (-store +log):\n%s", dev.Key, diff)
		}
	}
	al, err := logH.AlertsOverTime(ctx, "", from, to, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	as, err := storeH.AlertsOverTime(ctx, "", from, to, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, p := range al {
		total += p.Total
	}
	if total == 0 {
		t.Error("no alert in the ward's history")
	}
	if diff := cmp.Diff(as, al); diff != "" {
		t.Errorf("alerts over time (-store +log):\n%s", diff)
	}
	// The log is read back at most Limit events: a device page stays fast
	// on a log of days, and older history needs the store.
	count := func(h web.History) uint64 {
		pts, err := h.Traffic(ctx, "", from, to, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, p := range pts {
			n += p.Flows
		}
		return n
	}
	if all, last := count(logH), count(web.LogHistory{Log: eng.bus, Limit: 10}); all < 100 || last > 10 || last == 0 {
		t.Errorf("flows read: %d in all, %d from the last 10 events", all, last)
	}
}
