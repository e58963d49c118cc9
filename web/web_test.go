package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-health/vigil/inventory"
)

// apiServer serves a synthetic inventory of n devices to a local-mode
// server (the access control is tested in auth_test.go).
func apiServer(t *testing.T, n int) (*httptest.Server, *modelInventory) {
	t.Helper()
	inv := &modelInventory{m: syntheticInventory(t, n)}
	c, err := New(Configuration{Listen: "127.0.0.1:0"}, Dependencies{Inventory: inv,
		Health: func(context.Context) HealthReport {
			return HealthReport{Checks: []HealthCheck{{Component: "sensor", Name: "capture drops", State: HealthWarning, Detail: "12 packets dropped by the kernel"}}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return srv, inv
}

func get(t *testing.T, url string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestDevicesAPI(t *testing.T) {
	srv, inv := apiServer(t, 200)
	code, body, _ := get(t, srv.URL+"/api/v1/devices?category=infusion_pump&sort=-bytes&limit=5")
	var page inventory.Page
	if code != 200 || json.Unmarshal([]byte(body), &page) != nil {
		t.Fatalf("devices: %d %s", code, body)
	}
	if page.Total != 40 || len(page.Devices) != 5 {
		t.Errorf("infusion pumps: total %d, page %d; want 40 and 5", page.Total, len(page.Devices))
	}
	for i, d := range page.Devices {
		if d.Classification.Category != "infusion_pump" || d.Classification.Criticality != "life_sustaining" {
			t.Errorf("device %d: %s %s", i, d.Classification.Category, d.Classification.Criticality)
		}
		if i > 0 && d.Traffic.BytesSent > page.Devices[i-1].Traffic.BytesSent {
			t.Errorf("not sorted by bytes, descending, at %d", i)
		}
	}
	for _, tc := range []struct{ query, want string }{
		{"vlan=x", `vlan=\"x\": want a number from 0 to 4095`},
		{"medical=maybe", `medical=\"maybe\": want true or false`},
		{"sort=colour", `sort=\"colour\": want one of id, key`},
		{"limit=-1", `limit=\"-1\": want a non-negative number`},
		{"categroy=pacs", `unknown parameter \"categroy\"`},
		{"format=xml", `format=\"xml\": want json or csv`},
	} {
		code, body, hdr := get(t, srv.URL+"/api/v1/devices?"+tc.query)
		if code != 400 || !strings.Contains(body, tc.want) || hdr.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s", tc.query, code, body)
		}
	}
	code, body, hdr := get(t, srv.URL+"/api/v1/devices?department=ICU&format=csv")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if code != 200 || err != nil || hdr.Get("Content-Type") != "text/csv; charset=utf-8" || len(rows) != 26 || rows[0][0] != "id" {
		t.Errorf("csv: %d %v %d rows", code, err, len(rows))
	}
	if code, body, _ := get(t, srv.URL+"/api/v1/devices?department=ICU", "Accept", "text/csv"); code != 200 || !strings.HasPrefix(body, "id,mac,") {
		t.Errorf("csv by Accept: %d", code)
	}
	id := inv.Devices()[0].ID
	if code, body, _ := get(t, srv.URL+"/api/v1/devices/"+id); code != 200 || !strings.Contains(body, `"id": "`+id+`"`) || !strings.Contains(body, `"evidence": "DHCPREQUEST option 12"`) {
		t.Errorf("device: %d %.200s", code, body)
	}
	if code, body, _ := get(t, srv.URL+"/api/v1/devices/dev-nope"); code != 404 || !strings.Contains(body, `no device \"dev-nope\"`) {
		t.Errorf("unknown device: %d %s", code, body)
	}
	for _, path := range []string{"/peers?from=yesterday", "/traffic?step=90s", "/traffic?from=2026-01-06T00:00:00Z&to=2026-01-05T00:00:00Z", "/peers?limit=0", "/peers?colour=red"} {
		if code, body, _ := get(t, srv.URL+"/api/v1/devices/"+id+path); code != 400 {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	if code, body, _ := get(t, srv.URL+"/api/v1/devices/"+id+"/peers"); code != 503 || !strings.Contains(body, "configure store.addresses") {
		t.Errorf("peers without history: %d %s", code, body)
	}
	if code, body, _ := get(t, srv.URL+"/api/v1/nothing"); code != 404 || !strings.Contains(body, "no API route GET /api/v1/nothing") {
		t.Errorf("unknown route: %d %s", code, body)
	}
	code, body, _ = get(t, srv.URL+"/api/v1/overview")
	var o Overview
	if code != 200 || json.Unmarshal([]byte(body), &o) != nil || o.Devices != 200 || o.ByDepartment["ICU"]["life_sustaining"] != 5 || o.Health != HealthWarning {
		t.Errorf("overview: %d %+v", code, o)
	}
	if code, body, _ := get(t, srv.URL+"/api/v1/health"); code != 200 || !strings.Contains(body, `"state": "warning"`) {
		t.Errorf("health: %d %s", code, body)
	}
}

func TestPagesRender(t *testing.T) {
	srv, inv := apiServer(t, 300)
	for _, tc := range []struct {
		path   string
		code   int
		wanted []string
	}{
		{"/", 200, []string{"300 devices", "Devices by clinical criticality", "ICU", "Life-sustaining", "12 packets dropped"}},
		{"/devices?department=Radiology&sort=hostname", 200, []string{"Devices 1–38 of <strong>38</strong>", "Export CSV", "/api/v1/devices?department=Radiology"}},
		{"/devices?limit=10&offset=10", 200, []string{"Devices 11–20 of <strong>300</strong>", "rel=\"prev\"", "rel=\"next\""}},
		{"/devices?vlan=x", 400, []string{"vlan=&#34;x&#34;: want a number"}},
		{"/devices/" + inv.Devices()[0].ID, 200, []string{"Attributes and evidence", "DHCPREQUEST option 12", "Peers and traffic need history"}},
		{"/devices/dev-nope", 404, []string{"No device"}},
		{"/health", 200, []string{"capture drops", "warning"}},
		{"/alerts", 200, []string{"Alerts are not available"}},
		{"/enforcement", 200, []string{"Enforcement is not available"}},
		{"/policies", 200, []string{"policy engine is not available"}},
		{"/ui/app.css", 200, []string{"--life"}},
	} {
		code, body, hdr := get(t, srv.URL+tc.path)
		if code != tc.code {
			t.Errorf("%s: %d, want %d: %.300s", tc.path, code, tc.code, body)
		}
		for _, w := range tc.wanted {
			if !strings.Contains(body, w) {
				t.Errorf("%s: no %q", tc.path, w)
			}
		}
		if !strings.HasPrefix(tc.path, "/ui/") && !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: no CSP", tc.path)
		}
	}
}

// documentedRoutes are the routes of this package's own files; each must
// be in the OpenAPI description and answer (not the unknown-route 404).
var documentedRoutes = []string{
	"GET /api/v1/devices", "GET /api/v1/devices/{id}", "GET /api/v1/devices/{id}/peers", "GET /api/v1/devices/{id}/traffic",
	"GET /api/v1/devices/{id}/baseline", "GET /api/v1/baselines", "GET /api/v1/overview", "GET /api/v1/status",
	"GET /api/v1/health", "GET /api/v1/me", "GET /api/v1/openapi.json", "GET /api/v1/policies",
	"POST /api/v1/policies/reload", "POST /api/v1/policies/test",
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var spec struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &spec); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(spec.OpenAPI, "3.") {
		t.Errorf("openapi %q", spec.OpenAPI)
	}
	srv, inv := apiServer(t, 5)
	id := inv.Devices()[0].ID
	for _, r := range documentedRoutes {
		method, path, _ := strings.Cut(r, " ")
		if _, ok := spec.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("%s is not in openapi.json", r)
		}
		req, _ := http.NewRequest(method, srv.URL+strings.ReplaceAll(path, "{id}", id), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "no API route") {
			t.Errorf("%s is documented but not served", r)
		}
	}
	// Every route registered anywhere in the package (other files
	// included) is documented.
	src := readPackageSources(t)
	for _, m := range regexp.MustCompile(`HandleFunc\("((?:GET|POST|PUT|DELETE|PATCH) /api/v1/[^"]*)"`).FindAllStringSubmatch(src, -1) {
		method, path, _ := strings.Cut(m[1], " ")
		if _, ok := spec.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("route %s is registered but not in openapi.json", m[1])
		}
	}
}
