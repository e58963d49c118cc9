// Package ivmtest is a test double of an InsightVM Security Console (API
// v3), for tests of Vigil's InsightVM client and sync. InsightVM cannot
// run here, so the double follows the console's published API description
// (the Swagger 2.0 file of console 6.6.55) and serves the responses
// recorded from a real console: the sites, assets, findings and
// vulnerability it loads from a recording directory are passed on as
// recorded (unknown fields included), inside the documented envelope
// (resources, page, links as an array of {href, rel}).
//
// It keeps state (excluded targets per site, tags and their assets) and
// has knobs for tests: change the state behind the client's back (drift),
// fail the next N requests with a status, drop connections (unreachable),
// and require Basic authentication. With a spec loaded, every request
// whose method and path the description does not declare is refused and
// recorded as a violation.
package ivmtest

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/vigil-health/vigil/scanner/insightvm"
)

// Server is the double.
type Server struct {
	srv *httptest.Server

	mu          sync.Mutex
	user, pass  string
	token       string
	failN       int
	failStatus  int
	unreachable bool
	spec        []route
	violations  []string
	requests    []Request

	sites     []json.RawMessage
	siteIDs   []int
	excluded  map[int][]string
	assets    []json.RawMessage
	assetInfo []insightvm.Asset
	siteAsset map[int][]int64 // site -> asset IDs
	findings  map[int64][]json.RawMessage
	vulns     map[string]json.RawMessage
	tags      map[int]insightvm.Tag
	nextTag   int
	tagged    map[int]map[int64]bool // tag -> assets
	info      json.RawMessage
}

// Request is one request the double received.
type Request struct {
	Method string
	Path   string
	Query  string
	Body   string
}

// route is one method and path template of the API description.
type route struct {
	method string
	re     *regexp.Regexp
}

// New starts a TLS double over the recorded responses in dir (the
// directory holding sites-page.json, assets-page.json, ...). user and
// pass are the Basic credentials it requires.
func New(dir, user, pass string) (*Server, error) {
	s := &Server{user: user, pass: pass, excluded: map[int][]string{}, siteAsset: map[int][]int64{},
		findings: map[int64][]json.RawMessage{}, vulns: map[string]json.RawMessage{},
		tags: map[int]insightvm.Tag{}, tagged: map[int]map[int64]bool{}, nextTag: 100}
	if err := s.load(dir); err != nil {
		return nil, err
	}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	return s, nil
}

func (s *Server) load(dir string) error {
	read := func(name string, v any) error {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("ivmtest: %w", err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("ivmtest: %s: %w", name, err)
		}
		return nil
	}
	var sites, assets, findings, siteAssets insightvm.Page[json.RawMessage]
	if err := read("sites-page.json", &sites); err != nil {
		return err
	}
	for _, r := range sites.Resources {
		if err := s.addSiteRaw(r); err != nil {
			return err
		}
	}
	if err := read("assets-page.json", &assets); err != nil {
		return err
	}
	for _, r := range assets.Resources {
		if err := s.addAssetRaw(r); err != nil {
			return err
		}
	}
	if err := read("site-1-assets-page.json", &siteAssets); err != nil {
		return err
	}
	for _, r := range siteAssets.Resources {
		var a insightvm.Asset
		if err := json.Unmarshal(r, &a); err != nil {
			return fmt.Errorf("ivmtest: site-1-assets-page.json: %w", err)
		}
		if !slices.Contains(s.siteAsset[1], a.ID) {
			s.siteAsset[1] = append(s.siteAsset[1], a.ID)
		}
	}
	if err := read("asset-1-vulnerabilities-page.json", &findings); err != nil {
		return err
	}
	s.findings[1] = findings.Resources
	matches, _ := filepath.Glob(filepath.Join(dir, "vulnerability-*.json"))
	for _, m := range matches {
		var raw json.RawMessage
		if err := read(filepath.Base(m), &raw); err != nil {
			return err
		}
		if err := s.AddVulnerability(raw); err != nil {
			return err
		}
	}
	return read("administration-info.json", &s.info)
}

func (s *Server) addSiteRaw(r json.RawMessage) error {
	var site insightvm.Site
	if err := json.Unmarshal(r, &site); err != nil || site.ID == 0 {
		return fmt.Errorf("ivmtest: site without id: %s", r)
	}
	s.sites = append(s.sites, r)
	s.siteIDs = append(s.siteIDs, site.ID)
	if _, ok := s.excluded[site.ID]; !ok {
		s.excluded[site.ID] = nil
	}
	return nil
}

func (s *Server) addAssetRaw(r json.RawMessage) error {
	var a insightvm.Asset
	if err := json.Unmarshal(r, &a); err != nil || a.ID == 0 {
		return fmt.Errorf("ivmtest: asset without id: %s", r)
	}
	s.assets = append(s.assets, r)
	s.assetInfo = append(s.assetInfo, a)
	return nil
}

// URL is the console's base URL (https://127.0.0.1:port).
func (s *Server) URL() string { return s.srv.URL }

// Close stops the double.
func (s *Server) Close() { s.srv.Close() }

// WriteCA writes the double's certificate as PEM to path, for a client's
// ca_file.
func (s *Server) WriteCA(path string) error {
	cert := s.srv.Certificate()
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600)
}

// CertPool returns a pool holding the double's certificate.
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.srv.Certificate())
	return p
}

// LoadSpec reads the console's Swagger 2.0 description; from then on a
// request whose method and path it does not declare is answered 404 and
// recorded in Violations.
func (s *Server) LoadSpec(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("ivmtest: %w", err)
	}
	var doc struct {
		Swagger  string                                `json:"swagger"`
		BasePath string                                `json:"basePath"`
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Swagger != "2.0" {
		return fmt.Errorf("ivmtest: %s is not a Swagger 2.0 description (%v)", path, err)
	}
	var routes []route
	param := regexp.MustCompile(`\\\{[^/]+?\\\}`)
	for p, ops := range doc.Paths {
		re := regexp.MustCompile("^" + param.ReplaceAllString(regexp.QuoteMeta(p), `[^/]+`) + "$")
		for m := range ops {
			routes = append(routes, route{method: strings.ToUpper(m), re: re})
		}
	}
	s.mu.Lock()
	s.spec = routes
	s.mu.Unlock()
	return nil
}

// Violations lists the requests the API description does not declare.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// Requests lists every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// RequireToken makes the double require the two-factor Token header
// ("" turns it off).
func (s *Server) RequireToken(token string) {
	s.mu.Lock()
	s.token = token
	s.mu.Unlock()
}

// FailNext makes the next n requests fail with status (and the
// documented error body).
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	s.failN, s.failStatus = n, status
	s.mu.Unlock()
}

// SetUnreachable makes the double drop every connection without an
// answer, as a console that is down behind a load balancer.
func (s *Server) SetUnreachable(on bool) {
	s.mu.Lock()
	s.unreachable = on
	s.mu.Unlock()
}

// Excluded returns a site's excluded targets as the console holds them.
func (s *Server) Excluded(site int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.excluded[site])
}

// SetExcluded replaces a site's excluded targets behind the client's back
// (an administrator editing the site in the console): drift.
func (s *Server) SetExcluded(site int, addrs []string) {
	s.mu.Lock()
	s.excluded[site] = slices.Clone(addrs)
	s.mu.Unlock()
}

// AddSite adds a site (id and name; the rest as a real console fills it).
func (s *Server) AddSite(id int, name string) error {
	raw, _ := json.Marshal(map[string]any{"id": id, "name": name, "type": "static", "importance": "normal",
		"assets": 0, "scanEngine": 3, "scanTemplate": "full-audit-without-web-spider",
		"links": []insightvm.Link{{Href: s.srv.URL + "/api/3/sites/" + strconv.Itoa(id), Rel: "self"}}})
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addSiteRaw(raw)
}

// AddAsset adds an asset to the console's database (and to site, when
// not 0), with its findings.
func (s *Server) AddAsset(site int, a insightvm.Asset, findings ...insightvm.VulnerabilityFinding) error {
	if len(a.Addresses) == 0 && a.IP != "" {
		a.Addresses = []insightvm.AssetAddress{{IP: a.IP, MAC: a.MAC}}
	}
	if a.HostName != "" && len(a.HostNames) == 0 {
		a.HostNames = []insightvm.HostName{{Name: a.HostName, Source: "dns"}}
	}
	a.Links = []insightvm.Link{{Href: fmt.Sprintf("%s/api/3/assets/%d", s.srv.URL, a.ID), Rel: "self"}}
	raw, err := json.Marshal(a)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.addAssetRaw(raw); err != nil {
		return err
	}
	if site != 0 {
		s.siteAsset[site] = append(s.siteAsset[site], a.ID)
	}
	for _, f := range findings {
		b, _ := json.Marshal(f)
		s.findings[a.ID] = append(s.findings[a.ID], b)
	}
	return nil
}

// AddVulnerability adds an entry to the vulnerability catalogue.
func (s *Server) AddVulnerability(raw json.RawMessage) error {
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.ID == "" {
		return fmt.Errorf("ivmtest: vulnerability without id")
	}
	s.vulns[v.ID] = raw
	return nil
}

// AssetTagNames returns the names of the tags applied to an asset,
// sorted.
func (s *Server) AssetTagNames(asset int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, assets := range s.tagged {
		if assets[asset] {
			out = append(out, s.tags[id].Name)
		}
	}
	sort.Strings(out)
	return out
}

// RemoveTagFromAsset removes a tag behind the client's back (drift).
func (s *Server) RemoveTagFromAsset(asset int64, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.tags {
		if t.Name == name {
			delete(s.tagged[id], asset)
		}
	}
}

// apiError writes the documented error body; status is a string, as the
// description types it.
func (s *Server) apiError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(code)
	b, _ := json.MarshalIndent(map[string]any{"status": strconv.Itoa(code), "message": msg,
		"links": []insightvm.Link{{Href: s.srv.URL + "/api/3", Rel: "self"}}}, "", "  ")
	w.Write(b)
}

func (s *Server) write(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Server", "Security Console")
	w.WriteHeader(code)
	b, _ := json.MarshalIndent(v, "", "  ")
	w.Write(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body)})
	if s.unreachable {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if s.spec != nil && !s.declared(r.Method, r.URL.Path) {
		s.violations = append(s.violations, r.Method+" "+r.URL.Path)
		s.apiError(w, http.StatusNotFound, "not in the API description: "+r.Method+" "+r.URL.Path)
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != s.user || p != s.pass {
		s.apiError(w, http.StatusUnauthorized, "Full authentication is required to access this resource.")
		return
	}
	if s.token != "" && r.Header.Get("Token") != s.token {
		s.apiError(w, http.StatusUnauthorized, "A valid two-factor authentication token is required.")
		return
	}
	if s.failN > 0 {
		s.failN--
		if s.failStatus == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		s.apiError(w, s.failStatus, "An unexpected error occurred (injected by the test double).")
		return
	}
	s.route(w, r, body)
}

func (s *Server) declared(method, path string) bool {
	for _, rt := range s.spec {
		if rt.method == method && rt.re.MatchString(path) {
			return true
		}
	}
	return false
}

var (
	reSiteTargets = regexp.MustCompile(`^/api/3/sites/(\d+)/excluded_targets$`)
	reSiteAssets  = regexp.MustCompile(`^/api/3/sites/(\d+)/assets$`)
	reAsset       = regexp.MustCompile(`^/api/3/assets/(\d+)$`)
	reAssetVulns  = regexp.MustCompile(`^/api/3/assets/(\d+)/vulnerabilities$`)
	reAssetTags   = regexp.MustCompile(`^/api/3/assets/(\d+)/tags$`)
	reAssetTag    = regexp.MustCompile(`^/api/3/assets/(\d+)/tags/(\d+)$`)
	reVuln        = regexp.MustCompile(`^/api/3/vulnerabilities/([^/]+)$`)
	reTagAssets   = regexp.MustCompile(`^/api/3/tags/(\d+)/assets$`)
)

func (s *Server) route(w http.ResponseWriter, r *http.Request, body []byte) {
	p := r.URL.Path
	id := func(re *regexp.Regexp, i int) int64 {
		n, _ := strconv.ParseInt(re.FindStringSubmatch(p)[i], 10, 64)
		return n
	}
	switch {
	case r.Method == http.MethodGet && p == "/api/3/administration/info":
		s.write(w, http.StatusOK, s.info)
	case r.Method == http.MethodGet && p == "/api/3/sites":
		s.page(w, r, s.sites)
	case reSiteTargets.MatchString(p):
		s.siteTargets(w, r, int(id(reSiteTargets, 1)), body)
	case r.Method == http.MethodGet && reSiteAssets.MatchString(p):
		site := int(id(reSiteAssets, 1))
		if !slices.Contains(s.siteIDs, site) {
			s.apiError(w, http.StatusNotFound, fmt.Sprintf("Site with id %d does not exist.", site))
			return
		}
		var out []json.RawMessage
		for i, a := range s.assetInfo {
			if slices.Contains(s.siteAsset[site], a.ID) {
				out = append(out, s.assets[i])
			}
		}
		s.page(w, r, out)
	case r.Method == http.MethodGet && p == "/api/3/assets":
		s.page(w, r, s.assets)
	case r.Method == http.MethodPost && p == "/api/3/assets/search":
		s.search(w, r, body)
	case r.Method == http.MethodGet && reAsset.MatchString(p):
		if i := s.assetIndex(id(reAsset, 1)); i >= 0 {
			s.write(w, http.StatusOK, s.assets[i])
			return
		}
		s.apiError(w, http.StatusNotFound, fmt.Sprintf("Asset with id %d does not exist.", id(reAsset, 1)))
	case r.Method == http.MethodGet && reAssetVulns.MatchString(p):
		a := id(reAssetVulns, 1)
		if s.assetIndex(a) < 0 {
			s.apiError(w, http.StatusNotFound, fmt.Sprintf("Asset with id %d does not exist.", a))
			return
		}
		s.page(w, r, s.findings[a])
	case r.Method == http.MethodGet && reVuln.MatchString(p):
		v, ok := s.vulns[reVuln.FindStringSubmatch(p)[1]]
		if !ok {
			s.apiError(w, http.StatusNotFound, "Vulnerability does not exist.")
			return
		}
		s.write(w, http.StatusOK, v)
	case p == "/api/3/tags":
		s.tagsRoute(w, r, body)
	case r.Method == http.MethodGet && reTagAssets.MatchString(p):
		t := int(id(reTagAssets, 1))
		if _, ok := s.tags[t]; !ok {
			s.apiError(w, http.StatusNotFound, fmt.Sprintf("Tag with id %d does not exist.", t))
			return
		}
		ids := []int64{}
		for a := range s.tagged[t] {
			ids = append(ids, a)
		}
		slices.Sort(ids)
		s.write(w, http.StatusOK, insightvm.References{Resources: ids, Links: s.self(r)})
	case r.Method == http.MethodGet && reAssetTags.MatchString(p):
		a := id(reAssetTags, 1)
		out := []insightvm.Tag{}
		for tid, assets := range s.tagged {
			if assets[a] {
				out = append(out, s.tags[tid])
			}
		}
		slices.SortFunc(out, func(x, y insightvm.Tag) int { return x.ID - y.ID })
		s.write(w, http.StatusOK, insightvm.Resources[insightvm.Tag]{Resources: out, Links: s.self(r)})
	case reAssetTag.MatchString(p) && (r.Method == http.MethodPut || r.Method == http.MethodDelete):
		a, t := id(reAssetTag, 1), int(id(reAssetTag, 2))
		if s.assetIndex(a) < 0 {
			s.apiError(w, http.StatusNotFound, fmt.Sprintf("Asset with id %d does not exist.", a))
			return
		}
		if _, ok := s.tags[t]; !ok {
			s.apiError(w, http.StatusNotFound, fmt.Sprintf("Tag with id %d does not exist.", t))
			return
		}
		if r.Method == http.MethodPut {
			if s.tagged[t] == nil {
				s.tagged[t] = map[int64]bool{}
			}
			s.tagged[t][a] = true
		} else {
			delete(s.tagged[t], a)
		}
		s.write(w, http.StatusOK, map[string]any{"links": s.self(r)})
	default:
		s.apiError(w, http.StatusNotFound, "The requested resource was not found: "+r.Method+" "+p)
	}
}

func (s *Server) assetIndex(id int64) int {
	return slices.IndexFunc(s.assetInfo, func(a insightvm.Asset) bool { return a.ID == id })
}

func (s *Server) self(r *http.Request) []insightvm.Link {
	return []insightvm.Link{{Href: s.srv.URL + r.URL.RequestURI(), Rel: "self"}}
}

// siteTargets implements GET/PUT/POST/DELETE of excluded targets: the
// bodies are bare JSON arrays of strings.
func (s *Server) siteTargets(w http.ResponseWriter, r *http.Request, site int, body []byte) {
	if !slices.Contains(s.siteIDs, site) {
		s.apiError(w, http.StatusNotFound, fmt.Sprintf("Site with id %d does not exist.", site))
		return
	}
	if r.Method == http.MethodGet {
		s.write(w, http.StatusOK, insightvm.ScanTargets{Addresses: append([]string{}, s.excluded[site]...), Links: s.self(r)})
		return
	}
	var addrs []string
	if err := json.Unmarshal(body, &addrs); err != nil {
		s.apiError(w, http.StatusBadRequest, "The request body must be a JSON array of strings: "+err.Error())
		return
	}
	for _, a := range addrs {
		if strings.TrimSpace(a) == "" {
			s.apiError(w, http.StatusBadRequest, "An address must not be empty.")
			return
		}
	}
	cur := s.excluded[site]
	switch r.Method {
	case http.MethodPut:
		cur = nil
		for _, a := range addrs {
			if !slices.Contains(cur, a) {
				cur = append(cur, a)
			}
		}
		s.excluded[site] = cur
		s.write(w, http.StatusOK, map[string]any{"links": s.self(r)})
	case http.MethodPost:
		for _, a := range addrs {
			if !slices.Contains(cur, a) {
				cur = append(cur, a)
			}
		}
		s.excluded[site] = cur
		s.write(w, http.StatusCreated, map[string]any{"id": site, "links": s.self(r)})
	case http.MethodDelete:
		s.excluded[site] = slices.DeleteFunc(cur, func(a string) bool { return slices.Contains(addrs, a) })
		s.write(w, http.StatusOK, map[string]any{"links": s.self(r)})
	default:
		s.apiError(w, http.StatusMethodNotAllowed, "Method not allowed.")
	}
}

func (s *Server) tagsRoute(w http.ResponseWriter, r *http.Request, body []byte) {
	switch r.Method {
	case http.MethodGet:
		name := strings.ToLower(r.URL.Query().Get("name"))
		var out []json.RawMessage
		ids := make([]int, 0, len(s.tags))
		for id := range s.tags {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			t := s.tags[id]
			if name == "" || strings.Contains(strings.ToLower(t.Name), name) {
				b, _ := json.Marshal(t)
				out = append(out, b)
			}
		}
		s.page(w, r, out)
	case http.MethodPost:
		var t insightvm.Tag
		if err := json.Unmarshal(body, &t); err != nil {
			s.apiError(w, http.StatusBadRequest, "The request body is not a Tag: "+err.Error())
			return
		}
		if t.Name == "" || t.Type == "" {
			s.apiError(w, http.StatusBadRequest, "A tag requires a name and a type.")
			return
		}
		if !slices.Contains([]string{"custom", "location", "owner", "criticality"}, t.Type) {
			s.apiError(w, http.StatusBadRequest, "Tag type must be one of custom, location, owner, criticality.")
			return
		}
		for _, old := range s.tags {
			if strings.EqualFold(old.Name, t.Name) && old.Type == t.Type {
				s.apiError(w, http.StatusBadRequest, "A tag with this name and type already exists.")
				return
			}
		}
		s.nextTag++
		t.ID, t.Source = s.nextTag, "custom"
		if t.Color == "" {
			t.Color = "default"
		}
		t.Links = []insightvm.Link{{Href: fmt.Sprintf("%s/api/3/tags/%d", s.srv.URL, t.ID), Rel: "self"}}
		s.tags[t.ID] = t
		s.write(w, http.StatusCreated, map[string]any{"id": t.ID, "links": t.Links})
	default:
		s.apiError(w, http.StatusMethodNotAllowed, "Method not allowed.")
	}
}

// search implements the filters Vigil uses: ip-address (is, in),
// host-name (is, contains), custom-tag (is) and site-id (in).
func (s *Server) search(w http.ResponseWriter, r *http.Request, body []byte) {
	var sc insightvm.SearchCriteria
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&sc); err != nil || (sc.Match != "all" && sc.Match != "any") || len(sc.Filters) == 0 {
		s.apiError(w, http.StatusBadRequest, "The search criteria must have match (all or any) and at least one filter.")
		return
	}
	var out []json.RawMessage
	for i, a := range s.assetInfo {
		n := 0
		for _, f := range sc.Filters {
			ok, err := s.matches(a, f)
			if err != nil {
				s.apiError(w, http.StatusBadRequest, err.Error())
				return
			}
			if ok {
				n++
			}
		}
		if (sc.Match == "all" && n == len(sc.Filters)) || (sc.Match == "any" && n > 0) {
			out = append(out, s.assets[i])
		}
	}
	s.page(w, r, out)
}

func (s *Server) matches(a insightvm.Asset, f insightvm.SearchFilter) (bool, error) {
	str := func(v any) string { return fmt.Sprint(v) }
	values := func() []string {
		var out []string
		for _, v := range f.Values {
			out = append(out, str(v))
		}
		return out
	}
	switch f.Field + " " + f.Operator {
	case "ip-address is":
		return assetHasIP(a, str(f.Value)), nil
	case "ip-address in":
		for _, v := range values() {
			if assetHasIP(a, v) {
				return true, nil
			}
		}
		return false, nil
	case "host-name is":
		return strings.EqualFold(a.HostName, str(f.Value)), nil
	case "host-name contains":
		return strings.Contains(strings.ToLower(a.HostName), strings.ToLower(str(f.Value))), nil
	case "custom-tag is":
		for id, assets := range s.tagged {
			if assets[a.ID] && strings.EqualFold(s.tags[id].Name, str(f.Value)) {
				return true, nil
			}
		}
		return false, nil
	case "site-id in":
		for _, v := range values() {
			site, _ := strconv.Atoi(v)
			if slices.Contains(s.siteAsset[site], a.ID) {
				return true, nil
			}
		}
		return false, nil
	}
	return false, fmt.Errorf("The search filter %s %s is not supported by the test double.", f.Field, f.Operator)
}

func assetHasIP(a insightvm.Asset, ip string) bool {
	if a.IP == ip {
		return true
	}
	for _, ad := range a.Addresses {
		if ad.IP == ip {
			return true
		}
	}
	return false
}

// page writes one page of resources with the documented envelope: size
// capped at 500, 404 past the last page, links self/first/prev/next/last.
func (s *Server) page(w http.ResponseWriter, r *http.Request, all []json.RawMessage) {
	q := r.URL.Query()
	page, size := 0, 10
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.apiError(w, http.StatusBadRequest, "page must be a non-negative integer.")
			return
		}
		page = n
	}
	if v := q.Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.apiError(w, http.StatusBadRequest, "size must be a positive integer.")
			return
		}
		size = min(n, 500)
	}
	pages := (len(all) + size - 1) / size
	if page > 0 && page >= pages {
		s.apiError(w, http.StatusNotFound, "The requested page is out of range.")
		return
	}
	lo := min(page*size, len(all))
	hi := min(lo+size, len(all))
	res := append([]json.RawMessage{}, all[lo:hi]...)
	link := func(rel string, n int) insightvm.Link {
		u := *r.URL
		qq := u.Query()
		qq.Set("page", strconv.Itoa(n))
		qq.Set("size", strconv.Itoa(size))
		u.RawQuery = qq.Encode()
		return insightvm.Link{Href: s.srv.URL + u.RequestURI(), Rel: rel}
	}
	links := []insightvm.Link{}
	if pages > 1 {
		links = append(links, link("first", 0))
		if page > 0 {
			links = append(links, link("prev", page-1))
		}
	}
	links = append(links, link("self", page))
	if pages > 1 {
		if page+1 < pages {
			links = append(links, link("next", page+1))
		}
		links = append(links, link("last", pages-1))
	}
	s.write(w, http.StatusOK, map[string]any{
		"resources": res,
		"page":      insightvm.PageInfo{Number: page, Size: size, TotalResources: len(all), TotalPages: pages},
		"links":     links,
	})
}
