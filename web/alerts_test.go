package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/events"
)

// alertsAPI serves the API over a real alert service on an embedded bus.
func alertsAPI(t *testing.T) (*httptest.Server, *events.Bus, *alerts.Component) {
	t.Helper()
	bus, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Stop(context.Background()) })
	svc, err := alerts.New(alerts.DefaultConfiguration(), alerts.Dependencies{Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	c, err := New(Configuration{Listen: "127.0.0.1:0"}, Dependencies{Alerts: svc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return srv, bus, svc
}

func publishAlert(t *testing.T, bus *events.Bus, at time.Time, sev events.Severity) string {
	t.Helper()
	dev := events.DeviceSnapshot{Key: "mac:00:12:21:4e:0a:12/20", IPs: []string{"10.20.0.102"}}
	ev := events.MustEvent(at, events.Source{Component: "policy"}, events.Alert{Rule: "internet_communication", Severity: sev,
		Title: "pump to internet", Device: dev, Peer: &events.Endpoint{IP: "203.0.113.45", Port: 443}})
	if err := bus.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := bus.WaitCaughtUp(ctx, events.StreamAlerts, alerts.Durable); err != nil {
		t.Fatal(err)
	}
	return alerts.IncidentID("internet_communication", dev.Key, "203.0.113.45")
}

func call(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

func TestAlertsAPI(t *testing.T) {
	srv, bus, _ := alertsAPI(t)
	id := publishAlert(t, bus, t0, events.SeverityHigh)
	api := srv.URL + "/api/v1"

	var page alerts.Page
	if code := call(t, "GET", api+"/alerts?state=open&min_severity=high", "", &page); code != 200 || page.Total != 1 || page.Incidents[0].ID != id {
		t.Fatalf("list: %d %+v", code, page)
	}
	var inc alerts.Incident
	if code := call(t, "GET", api+"/alerts/"+id, "", &inc); code != 200 || inc.Count != 1 {
		t.Errorf("get: %d %+v", code, inc)
	}
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/alerts?colour=red", "", 400},
		{"GET", "/alerts/nope", "", 404},
		{"POST", "/alerts/nope/ack", `{"actor":"alice"}`, 404},
		{"POST", "/alerts/" + id + "/reopen", `{"actor":"alice"}`, 409},
		{"POST", "/alerts/" + id + "/ack", `{"actor":"alice","mood":"x"}`, 400},
		{"POST", "/alerts/" + id + "/explode", `{}`, 404},
		{"POST", "/alerts/" + id + "/suppress", `{"reason":"r","owner":"o","scope":["colour"]}`, 400},
		{"POST", "/suppressions", `{"actor":"a","reason":"r","owner":"o"}`, 400},
		{"DELETE", "/suppressions/nope?actor=a", "", 404},
		{"GET", "/alerts/stream?min_severity=severe", "", 400},
	} {
		if code := call(t, tc.method, api+tc.path, tc.body, nil); code != tc.want {
			t.Errorf("%s %s %s: %d, want %d", tc.method, tc.path, tc.body, code, tc.want)
		}
	}
	if code := call(t, "POST", api+"/alerts/"+id+"/ack", `{"actor":"alice","note":"calling biomed"}`, &inc); code != 200 || inc.State != alerts.StateAcknowledged {
		t.Fatalf("ack: %d %+v", code, inc)
	}
	if h := inc.History[0]; h.Actor != "alice" || h.Note != "calling biomed" {
		t.Errorf("history %+v", h)
	}
	var sup alerts.Suppression
	if code := call(t, "POST", api+"/alerts/"+id+"/suppress", `{"actor":"bob","reason":"vendor cloud","owner":"biomed","expires_in":"72h"}`, &sup); code != 201 || sup.Rule != "internet_communication" || sup.Peer != "203.0.113.45" || sup.Expires.IsZero() {
		t.Fatalf("suppress: %d %+v", code, sup)
	}
	if call(t, "GET", api+"/alerts", "", &page); page.Total != 0 || page.SuppressedIncidents != 1 || page.SuppressedAlerts != 1 {
		t.Errorf("after suppress: %+v", page)
	}
	if call(t, "GET", api+"/alerts?suppressed=only", "", &page); page.Total != 1 || !page.Incidents[0].Suppressed {
		t.Errorf("suppressed=only: %+v", page)
	}
	var list struct{ Suppressions []alerts.Suppression }
	if call(t, "GET", api+"/suppressions", "", &list); len(list.Suppressions) != 1 || list.Suppressions[0].CreatedBy != "bob" {
		t.Errorf("suppressions %+v", list)
	}
	if code := call(t, "DELETE", api+"/suppressions/"+sup.ID, `{"actor":"carol","note":"vendor cloud blocked now"}`, nil); code != 204 {
		t.Errorf("unsuppress: %d", code)
	}
	if call(t, "GET", api+"/alerts", "", &page); page.Total != 1 {
		t.Errorf("after unsuppress: %+v", page)
	}
}

func TestAlertsAPIStream(t *testing.T) {
	srv, bus, _ := alertsAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/alerts/stream?min_severity=high", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "retry:") {
		t.Fatalf("first line %q", line)
	}
	publishAlert(t, bus, t0, events.SeverityLow) // below the minimum
	publishAlert(t, bus, t0.Add(time.Minute), events.SeverityCritical)
	var event string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			event = strings.TrimSpace(e)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var u alerts.Update
			if err := json.Unmarshal([]byte(data), &u); err != nil {
				t.Fatal(err)
			}
			if event != "alert" || u.Alert.Body.Severity != events.SeverityCritical || u.Incident.Count != 2 {
				t.Errorf("event %s update %+v", event, u)
			}
			return
		}
	}
}

// An incident of an old recording (a replayed capture, the demo) is
// suppressed from its page like a live one: the expiry counts from the
// analyst's action, not from the incident's last alert months ago.
func TestSuppressOldIncidentFromThePage(t *testing.T) {
	srv, bus, svc := alertsAPI(t)
	id := publishAlert(t, bus, time.Date(2026, 1, 5, 8, 33, 0, 0, time.UTC), events.SeverityCritical)
	form := url.Values{"reason": {"vendor cloud, ticket 4711"}, "scope": {"rule", "device"}, "expires": {"72h"}}
	req, _ := http.NewRequest("POST", srv.URL+"/alerts/"+id+"/suppress", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || strings.Contains(loc, "error=") {
		t.Fatalf("suppress from the page: %d %s", resp.StatusCode, loc)
	}
	sups := svc.Suppressions()
	if len(sups) != 1 || time.Until(sups[0].Expires) < 71*time.Hour {
		t.Fatalf("suppressions %+v, want one expiring about 72 h from now", sups)
	}
}
