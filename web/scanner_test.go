package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// scannerAPI answers as the scanner integration does for a console that
// is not configured, and checks what the routes pass it.
type scannerAPI struct{ dryRuns []bool }

func (s *scannerAPI) ScannerStatus() any { return map[string]any{"running": false} }
func (s *scannerAPI) ScannerSync(_ context.Context, dry bool) (any, error) {
	s.dryRuns = append(s.dryRuns, dry)
	if !dry {
		return nil, fmt.Errorf("%w: set scanner.insightvm.url", ErrScannerOff)
	}
	return map[string]any{"dry_run": true}, nil
}
func (s *scannerAPI) ScannerExclusions(format string, w io.Writer) (any, error) {
	if format == "json" {
		return []string{"10.20.0.102"}, nil
	}
	_, err := io.WriteString(w, "reject 10.20.0.102/32\n")
	return nil, err
}
func (s *scannerAPI) ScannerFindings() any { return []string{} }
func (s *scannerAPI) ScannerImport(_ context.Context, name string, r io.Reader) (any, error) {
	b, _ := io.ReadAll(r)
	if !strings.HasPrefix(string(b), "<") {
		return nil, fmt.Errorf("%w: %s: not XML", ErrBadScannerFile, name)
	}
	return map[string]string{"file": name}, nil
}

func TestScannerRoutes(t *testing.T) {
	sc := &scannerAPI{}
	c, err := New(Configuration{Listen: "127.0.0.1:0"}, Dependencies{Scanner: sc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/api/v1/scanner", "", 200, `"running": false`},
		{"POST", "/api/v1/scanner/sync?dry_run=yes", "", 400, `dry_run=\"yes\"`},
		{"POST", "/api/v1/scanner/sync?dry_run=true", "", 200, `"dry_run": true`},
		{"POST", "/api/v1/scanner/sync", "", 409, "scanner.insightvm.url"},
		{"GET", "/api/v1/scanner/exclusions", "", 200, `"10.20.0.102"`},
		{"GET", "/api/v1/scanner/exclusions?format=nessus", "", 200, "reject 10.20.0.102/32"},
		{"GET", "/api/v1/scanner/exclusions?format=pdf", "", 400, "want json, nessus, tenable, openvas or nmap"},
		{"POST", "/api/v1/scanner/import?name=scan.nessus", "<NessusClientData_v2/>", 200, `"scan.nessus"`},
		{"POST", "/api/v1/scanner/import?name=x.json", "{}", 400, "not XML"},
	} {
		code, body := do(tc.method, tc.path, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %s; want %d with %q", tc.method, tc.path, code, body, tc.code, tc.want)
		}
	}
	if fmt.Sprint(sc.dryRuns) != "[true false]" {
		t.Errorf("dry runs passed = %v", sc.dryRuns)
	}

	// Without the integration the routes say so.
	c2, _ := New(Configuration{Listen: "127.0.0.1:0"}, Dependencies{})
	srv2 := httptest.NewServer(c2.Handler())
	defer srv2.Close()
	resp, err := http.Get(srv2.URL + "/api/v1/scanner")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("without scanner: %d", resp.StatusCode)
	}
}
