package insightvm_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/internal/testshared"
	"github.com/vigil-health/vigil/scanner/insightvm"
	"github.com/vigil-health/vigil/scanner/insightvm/ivmtest"
)

// double starts the test double over the recorded console responses,
// validating every request against the console's API description.
func double(t *testing.T) (*ivmtest.Server, string) {
	t.Helper()
	dir := filepath.Join(testshared.Dir(t), "integrations", "scanners", "insightvm")
	s, err := ivmtest.New(filepath.Join(dir, "recorded"), "vigil", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.LoadSpec(filepath.Join(dir, "console-swagger-6.6.55.json")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if v := s.Violations(); len(v) > 0 {
			t.Errorf("requests outside the API description: %v", v)
		}
	})
	return s, dir
}

func client(t *testing.T, s *ivmtest.Server, mod func(*insightvm.Configuration)) *insightvm.Client {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := s.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	cfg := insightvm.DefaultConfiguration()
	cfg.URL, cfg.User, cfg.PasswordFile, cfg.CAFile = s.URL(), "vigil", pw, ca
	cfg.RetryBackoff = time.Millisecond
	if mod != nil {
		mod(&cfg)
	}
	c, err := insightvm.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRecordedResponsesDecode(t *testing.T) {
	dir := filepath.Join(testshared.Dir(t), "integrations", "scanners", "insightvm", "recorded")
	read := func(name string, v any) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	var sites insightvm.Page[insightvm.Site]
	read("sites-page.json", &sites)
	if len(sites.Resources) != 1 || sites.Resources[0].Name != "vulnsite" || sites.Page.TotalResources != 1 || sites.Links[0].Rel != "self" {
		t.Errorf("sites page = %+v", sites)
	}
	var assets insightvm.Page[insightvm.Asset]
	read("assets-page.json", &assets)
	if a := assets.Resources[0]; a.IP != "172.18.0.3" || a.MAC != "02:42:AC:12:00:03" || a.HostName != "da7a8ca02894.vulnerable-net" {
		t.Errorf("asset = %+v", a)
	}
	var findings insightvm.Page[insightvm.VulnerabilityFinding]
	read("asset-1-vulnerabilities-page.json", &findings)
	if len(findings.Resources) != 52 || findings.Resources[0].Results[0].Port != 80 {
		t.Errorf("findings: %d, first %+v", len(findings.Resources), findings.Resources[0])
	}
	var v insightvm.Vulnerability
	read("vulnerability-apache-httpd-cve-2017-15710.json", &v)
	if v.CVSS.V3 == nil || v.CVSS.V3.Score != 7.5 || !cmp.Equal(v.CVEs, []string{"CVE-2017-15710"}) {
		t.Errorf("vulnerability = %+v", v)
	}
}

func TestClientPagesAndReads(t *testing.T) {
	s, _ := double(t)
	c := client(t, s, func(c *insightvm.Configuration) { c.PageSize = 7 })
	ctx := context.Background()
	sites, err := c.Sites(ctx)
	if err != nil || len(sites) != 1 || sites[0].ID != 1 {
		t.Fatalf("sites = %+v, %v", sites, err)
	}
	findings, err := c.AssetVulnerabilities(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 52 {
		t.Errorf("read %d findings over pages of 7, want 52", len(findings))
	}
	seen := map[string]bool{}
	for _, f := range findings {
		if seen[f.ID] {
			t.Errorf("finding %s read twice", f.ID)
		}
		seen[f.ID] = true
	}
	pages := 0
	for _, r := range s.Requests() {
		if r.Path == "/api/3/assets/1/vulnerabilities" {
			pages++
		}
	}
	if pages != 8 {
		t.Errorf("%d page requests, want 8 (52 in pages of 7)", pages)
	}
	v, err := c.Vulnerability(ctx, "apache-httpd-cve-2017-15710")
	if err != nil || v.Severity != "Severe" {
		t.Errorf("vulnerability = %+v, %v", v, err)
	}
	_, err = c.Vulnerability(ctx, "no-such-check")
	var apiErr *insightvm.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("unknown vulnerability: %v, want a 404 APIError", err)
	}
}

func TestClientExcludedTargets(t *testing.T) {
	s, _ := double(t)
	c := client(t, s, nil)
	ctx := context.Background()
	if err := c.SetExcludedTargets(ctx, 1, []string{"10.20.0.101", "10.20.0.102"}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddExcludedTargets(ctx, 1, []string{"10.20.0.103"}); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveExcludedTargets(ctx, 1, []string{"10.20.0.101"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.ExcludedTargets(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"10.20.0.102", "10.20.0.103"}, got); diff != "" {
		t.Errorf("excluded targets (-want +got):\n%s", diff)
	}
	for _, r := range s.Requests() {
		if r.Method == http.MethodDelete && r.Body != `["10.20.0.101"]` {
			t.Errorf("DELETE body = %q, want the bare JSON array", r.Body)
		}
	}
	err = c.SetExcludedTargets(ctx, 99, nil)
	if err == nil || !strings.Contains(err.Error(), "Site with id 99 does not exist") {
		t.Errorf("unknown site: %v", err)
	}
}

func TestClientTags(t *testing.T) {
	s, _ := double(t)
	c := client(t, s, nil)
	ctx := context.Background()
	id, err := c.CreateTag(ctx, insightvm.Tag{Name: "Vigil: medical", Type: "custom"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.TagAsset(ctx, 1, id); err != nil {
		t.Fatal(err)
	}
	tags, err := c.Tags(ctx, "vigil")
	if err != nil || len(tags) != 1 || tags[0].ID != id {
		t.Fatalf("tags = %+v, %v", tags, err)
	}
	assets, err := c.TagAssets(ctx, id)
	if err != nil || !cmp.Equal(assets, []int64{1}) {
		t.Errorf("tag assets = %v, %v", assets, err)
	}
	found, err := c.SearchAssets(ctx, insightvm.SearchCriteria{Match: "all", Filters: []insightvm.SearchFilter{
		{Field: "custom-tag", Operator: "is", Value: "Vigil: medical"}}})
	if err != nil || len(found) != 1 || found[0].ID != 1 {
		t.Errorf("search by tag = %+v, %v", found, err)
	}
	if err := c.UntagAsset(ctx, 1, id); err != nil {
		t.Fatal(err)
	}
	if got := s.AssetTagNames(1); len(got) != 0 {
		t.Errorf("after untag: %v", got)
	}
}

func TestClientErrors(t *testing.T) {
	s, _ := double(t)
	ctx := context.Background()

	t.Run("wrong password names the fix", func(t *testing.T) {
		c := client(t, s, func(c *insightvm.Configuration) { c.PasswordFile, c.Password = "", "wrong" })
		_, err := c.Sites(ctx)
		if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "scanner.insightvm.user") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("5xx and 429 are retried", func(t *testing.T) {
		c := client(t, s, nil)
		s.FailNext(2, http.StatusServiceUnavailable)
		if _, err := c.Sites(ctx); err != nil {
			t.Errorf("after 2 failures within 4 retries: %v", err)
		}
		s.FailNext(1, http.StatusTooManyRequests)
		if _, err := c.Sites(ctx); err != nil {
			t.Errorf("after a 429: %v", err)
		}
		if st := c.Stats(); st.Retries != 3 || st.Failures != 0 {
			t.Errorf("stats = %+v, want 3 retries", st)
		}
	})
	t.Run("retries are bounded", func(t *testing.T) {
		c := client(t, s, func(c *insightvm.Configuration) { c.Retries = 2 })
		s.FailNext(10, http.StatusInternalServerError)
		defer s.FailNext(0, 0)
		_, err := c.Sites(ctx)
		var apiErr *insightvm.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 {
			t.Errorf("err = %v, want the 500", err)
		}
	})
	t.Run("unreachable console, bounded by the context", func(t *testing.T) {
		c := client(t, s, func(c *insightvm.Configuration) { c.RetryBackoff = 50 * time.Millisecond })
		s.SetUnreachable(true)
		defer s.SetUnreachable(false)
		cctx, cancel := context.WithTimeout(ctx, 120*time.Millisecond)
		defer cancel()
		_, err := c.Sites(cctx)
		if err == nil || !strings.Contains(err.Error(), "GET /sites") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("two-factor token", func(t *testing.T) {
		s.RequireToken("123456")
		defer s.RequireToken("")
		if _, err := client(t, s, nil).Sites(ctx); err == nil || !strings.Contains(err.Error(), "two-factor") {
			t.Errorf("without token: %v", err)
		}
		if _, err := client(t, s, func(c *insightvm.Configuration) { c.Token = "123456" }).Sites(ctx); err != nil {
			t.Errorf("with token: %v", err)
		}
	})
	t.Run("insecure_skip_verify", func(t *testing.T) {
		c := client(t, s, func(c *insightvm.Configuration) { c.CAFile, c.InsecureSkipVerify = "", true })
		if _, err := c.Sites(ctx); err != nil {
			t.Errorf("insecure_skip_verify: %v", err)
		}
	})
	t.Run("certificate not trusted", func(t *testing.T) {
		cfg := insightvm.DefaultConfiguration()
		cfg.URL, cfg.User, cfg.Password, cfg.Retries = s.URL(), "vigil", "s3cret", 0
		c, err := insightvm.New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Sites(ctx); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("err = %v, want a certificate error", err)
		}
	})
}

func TestConfigurationValidate(t *testing.T) {
	cfg := insightvm.DefaultConfiguration()
	cfg.URL, cfg.PageSize = "ftp://x", 900
	var msgs []string
	for _, e := range cfg.Validate() {
		msgs = append(msgs, e.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"url:", "user: required", "password_file: required", "page_size"} {
		if !strings.Contains(all, want) {
			t.Errorf("validation misses %q:\n%s", want, all)
		}
	}
	if errs := insightvm.DefaultConfiguration().Validate(); len(errs) != 0 {
		t.Errorf("defaults invalid: %v", errs)
	}
}

// FuzzResponse serves arbitrary bodies with arbitrary statuses: the client
// returns a result or an error, never panics, and an error names the
// request.
func FuzzResponse(f *testing.F) {
	f.Add(200, []byte(`{"resources":[{"id":1,"name":"x"}],"page":{"number":0,"size":500,"totalResources":1,"totalPages":1},"links":[]}`))
	f.Add(401, []byte(`{"status":"401","message":"Full authentication is required","links":[]}`))
	f.Add(404, []byte(`{"status":404,"message":"nope"}`))
	f.Add(200, []byte(`{"resources":[{"id":"x"}]`))
	f.Add(502, []byte(`<html>bad gateway</html>`))
	f.Add(200, []byte(`{"resources":[],"page":{"number":0,"totalPages":99999999},"links":[{"rel":"next","href":"x"}]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 200 || status > 599 {
			return
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			w.Write(body)
		}))
		defer srv.Close()
		cfg := insightvm.DefaultConfiguration()
		cfg.URL, cfg.User, cfg.Password, cfg.Retries = srv.URL, "u", "p", 0
		c, err := insightvm.New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Sites(context.Background())
		if err != nil && !strings.Contains(err.Error(), "/sites") {
			t.Fatalf("error does not name the request: %v", err)
		}
		if err == nil && (status < 200 || status > 299) {
			t.Fatalf("status %d accepted", status)
		}
	})
}
