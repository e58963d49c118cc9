package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-health/vigil/enforce/edl"
	"github.com/vigil-health/vigil/web"
)

// A blocklist that no firewall fetches any more enforces nothing: the
// health page says so once the last fetch is older than staleBlocklist.
func TestHealthWarnsOfAnUnfetchedBlocklist(t *testing.T) {
	polled := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	cfg := edl.DefaultConfiguration()
	cfg.Name, cfg.Username, cfg.Password = "ward-feed", "paloalto", "feed-pw"
	feed, err := edl.New(cfg, edl.Dependencies{Now: func() time.Time { return polled }})
	if err != nil {
		t.Fatal(err)
	}
	eng := &engines{blocklists: []*edl.Feed{feed}}
	check := func(now time.Time) web.HealthCheck {
		t.Helper()
		var checks []web.HealthCheck
		enforcementHealth(eng, now, func(component, name string, warn, fail bool, detail string, args ...any) {
			state := web.HealthOK
			if warn {
				state = web.HealthWarning
			}
			if fail {
				state = web.HealthFailing
			}
			checks = append(checks, web.HealthCheck{Component: component, Name: name, State: state, Detail: fmt.Sprintf(detail, args...)})
		})
		if len(checks) != 1 {
			t.Fatalf("checks %+v, want one for the feed", checks)
		}
		return checks[0]
	}
	if c := check(polled); c.State != web.HealthOK || !strings.Contains(c.Detail, "not fetched") {
		t.Errorf("never fetched: %+v", c)
	}
	req := httptest.NewRequest(http.MethodGet, cfg.Path+"panos.txt", nil)
	req.SetBasicAuth("paloalto", "feed-pw")
	rec := httptest.NewRecorder()
	feed.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("fetch: %d %s", rec.Code, rec.Body)
	}
	if c := check(polled.Add(10 * time.Minute)); c.State != web.HealthOK {
		t.Errorf("fetched 10 minutes ago: %+v", c)
	}
	if c := check(polled.Add(3 * time.Hour)); c.State != web.HealthWarning || !strings.Contains(c.Detail, "3h0m0s ago") {
		t.Errorf("fetched 3 hours ago: %+v", c)
	}
}
