package ivmtest

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-health/vigil/internal/testshared"
	"github.com/vigil-health/vigil/scanner/insightvm"
)

func start(t *testing.T) (*Server, *http.Client) {
	t.Helper()
	dir := filepath.Join(testshared.Dir(t), "integrations", "scanners", "insightvm")
	s, err := New(filepath.Join(dir, "recorded"), "u", "p")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.LoadSpec(filepath.Join(dir, "console-swagger-6.6.55.json")); err != nil {
		t.Fatal(err)
	}
	return s, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool()}}}
}

func call(t *testing.T, c *http.Client, s *Server, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	req.SetBasicAuth("u", "p")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestPagingEnvelope checks the documented paging: zero-based pages,
// size capped at 500, 404 past the last page, links as an array.
func TestPagingEnvelope(t *testing.T) {
	s, c := start(t)
	code, body := call(t, c, s, "GET", "/api/3/assets/1/vulnerabilities?page=1&size=20", "")
	var p insightvm.Page[json.RawMessage]
	if code != 200 || json.Unmarshal(body, &p) != nil {
		t.Fatalf("%d %s", code, body)
	}
	rels := map[string]bool{}
	for _, l := range p.Links {
		rels[l.Rel] = true
	}
	if len(p.Resources) != 20 || p.Page.Number != 1 || p.Page.TotalPages != 3 || p.Page.TotalResources != 52 ||
		!rels["first"] || !rels["prev"] || !rels["self"] || !rels["next"] || !rels["last"] {
		t.Errorf("page = %+v links %v", p.Page, p.Links)
	}
	if code, _ := call(t, c, s, "GET", "/api/3/assets/1/vulnerabilities?page=3&size=20", ""); code != 404 {
		t.Errorf("past the last page: %d, want 404", code)
	}
	_, body = call(t, c, s, "GET", "/api/3/sites?size=100000", "")
	json.Unmarshal(body, &p)
	if p.Page.Size != 500 {
		t.Errorf("size = %d, want the 500 cap", p.Page.Size)
	}
	// Recorded resources keep the fields the description lacks.
	_, body = call(t, c, s, "GET", "/api/3/assets", "")
	if !strings.Contains(string(body), `"osCertainty"`) {
		t.Error("recorded asset lost its osCertainty field")
	}
}

func TestErrorsAndSpec(t *testing.T) {
	s, c := start(t)
	req, _ := http.NewRequest("GET", s.URL()+"/api/3/sites", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 401 || e.Status != "401" || e.Message == "" {
		t.Errorf("unauthenticated: %d %+v", resp.StatusCode, e)
	}
	if code, _ := call(t, c, s, "PUT", "/api/3/sites/1/excluded_targets", `{"addresses":["10.0.0.1"]}`); code != 400 {
		t.Errorf("object instead of array: %d, want 400", code)
	}
	if code, _ := call(t, c, s, "GET", "/api/3/no/such/path", ""); code != 404 || len(s.Violations()) != 1 {
		t.Errorf("undeclared path: %d, violations %v", code, s.Violations())
	}
}
