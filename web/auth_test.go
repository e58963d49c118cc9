package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	pemlib "encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// testUsers are one user per role; the password is the name twice.
func testUsers(t *testing.T) []User {
	t.Helper()
	var out []User
	for _, u := range []struct {
		name string
		role Role
	}{{"vera", RoleViewer}, {"anna", RoleAnalyst}, {"adam", RoleAdmin}} {
		h, err := bcrypt.GenerateFromPassword([]byte(u.name+u.name+"-pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, User{Name: u.name, Role: u.role, PasswordHash: string(h)})
	}
	return out
}

// echoActor is a route of another file of the package: it answers with
// the actor the access control passed and the principal.
func newAuthServer(t *testing.T, cfg Configuration) (*Component, *httptest.Server) {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	c, err := New(cfg, Dependencies{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return c, srv
}

// client is a browser-like client: it keeps cookies, does not follow
// redirects, and sends Origin and Sec-Fetch-Site like a browser does.
type client struct {
	t      *testing.T
	base   string
	hc     *http.Client
	header http.Header
}

func newClient(t *testing.T, base string) *client {
	jar := &cookieJar{m: map[string]*http.Cookie{}}
	return &client{t: t, base: base, header: http.Header{},
		hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type cookieJar struct{ m map[string]*http.Cookie }

func (j *cookieJar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	for _, c := range cs {
		if c.MaxAge < 0 {
			delete(j.m, c.Name)
		} else {
			j.m[c.Name] = c
		}
	}
}

func (j *cookieJar) Cookies(*url.URL) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range j.m {
		out = append(out, c)
	}
	return out
}

func (c *client) do(method, path string, form url.Values, header ...string) (*http.Response, string) {
	c.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, sb.String()
}

func (c *client) login(user, password string) *http.Response {
	c.t.Helper()
	resp, _ := c.do("POST", "/login", url.Values{"user": {user}, "password": {password}, "next": {"/devices"}}, "Origin", c.base)
	return resp
}

// csrf reads the page's CSRF token from /api/v1/me's page counterpart:
// the layout puts it in data-csrf.
func (c *client) csrf() string {
	c.t.Helper()
	_, body := c.do("GET", "/health", nil)
	i := strings.Index(body, `data-csrf="`)
	if i < 0 {
		c.t.Fatalf("no CSRF token in the page: %.300s", body)
	}
	rest := body[i+len(`data-csrf="`):]
	return rest[:strings.IndexByte(rest, '"')]
}

func TestLoginSessionsAndRoles(t *testing.T) {
	_, srv := newAuthServer(t, Configuration{Auth: AuthConfiguration{Users: testUsers(t), SessionTTL: time.Hour}})
	anon := newClient(t, srv.URL)
	if resp, body := anon.do("GET", "/api/v1/devices", nil); resp.StatusCode != 401 || !strings.Contains(body, "authentication required") {
		t.Errorf("API without login: %d %s", resp.StatusCode, body)
	}
	if resp, _ := anon.do("GET", "/devices?q=pump", nil); resp.StatusCode != 303 || resp.Header.Get("Location") != "/login?next=%2Fdevices%3Fq%3Dpump" {
		t.Errorf("page without login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := anon.do("GET", "/login", nil); resp.StatusCode != 200 {
		t.Errorf("login page: %d", resp.StatusCode)
	}
	if resp := anon.login("anna", "wrong"); resp.StatusCode != 401 {
		t.Errorf("wrong password: %d", resp.StatusCode)
	}
	if resp := anon.login("nobody", "wrong"); resp.StatusCode != 401 {
		t.Errorf("unknown user: %d", resp.StatusCode)
	}
	if resp, _ := anon.do("POST", "/login", url.Values{"user": {"anna"}, "password": {"annaanna-pw"}}, "Origin", "https://evil.example"); resp.StatusCode != 403 {
		t.Errorf("login from another origin: %d", resp.StatusCode)
	}

	analyst := newClient(t, srv.URL)
	resp := analyst.login("anna", "annaanna-pw")
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/devices" {
		t.Fatalf("login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure || session.Path != "/" {
		t.Errorf("session cookie: %+v", session)
	}
	if resp, body := analyst.do("GET", "/api/v1/me", nil); resp.StatusCode != 200 || !strings.Contains(body, `"name": "anna"`) || !strings.Contains(body, `"role": "analyst"`) {
		t.Errorf("me: %d %s", resp.StatusCode, body)
	}
	token := analyst.csrf()
	// A change without the CSRF token is refused, with it the analyst
	// passes to the route (here none is wired: 303 back with an error).
	if resp, body := analyst.do("POST", "/alerts/inc-1/acknowledge", url.Values{}, "Origin", srv.URL, "Sec-Fetch-Site", "same-origin"); resp.StatusCode != 403 || !strings.Contains(body, "CSRF") {
		t.Errorf("change without CSRF token: %d %s", resp.StatusCode, body)
	}
	if resp, _ := analyst.do("POST", "/alerts/inc-1/acknowledge", url.Values{"csrf": {token}}, "Origin", srv.URL); resp.StatusCode != 303 || !strings.Contains(resp.Header.Get("Location"), "error=alerts+are+not+available") {
		t.Errorf("analyst acknowledges: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := analyst.do("POST", "/alerts/inc-1/acknowledge", url.Values{"csrf": {token}}, "Origin", "https://evil.example"); resp.StatusCode != 403 || !strings.Contains(body, "origin") {
		t.Errorf("change from another origin: %d %s", resp.StatusCode, body)
	}
	if resp, body := analyst.do("POST", "/enforcement/req-1/approve", url.Values{"csrf": {token}}, "Origin", srv.URL); resp.StatusCode != 403 || !strings.Contains(body, "needs the admin role; anna is analyst") {
		t.Errorf("analyst approves: %d %s", resp.StatusCode, body)
	}
	if resp, body := analyst.do("POST", "/api/v1/policies/reload", nil, csrfHeader, token); resp.StatusCode != 403 || !strings.Contains(body, `"error"`) {
		t.Errorf("analyst reloads policies through the API: %d %s", resp.StatusCode, body)
	}

	viewer := newClient(t, srv.URL)
	viewer.login("vera", "veravera-pw")
	vt := viewer.csrf()
	if resp, body := viewer.do("POST", "/alerts/inc-1/acknowledge", url.Values{"csrf": {vt}}, "Origin", srv.URL); resp.StatusCode != 403 || !strings.Contains(body, "needs the analyst role; vera is viewer") {
		t.Errorf("viewer acknowledges: %d %s", resp.StatusCode, body)
	}
	if resp, _ := viewer.do("GET", "/api/v1/devices", nil); resp.StatusCode != 404 { // authorised; no inventory wired
		t.Errorf("viewer reads: %d", resp.StatusCode)
	}

	admin := newClient(t, srv.URL)
	admin.login("adam", "adamadam-pw")
	at := admin.csrf()
	if resp, _ := admin.do("POST", "/enforcement/req-1/approve", url.Values{"csrf": {at}}, "Origin", srv.URL); resp.StatusCode != 303 {
		t.Errorf("admin approves: %d", resp.StatusCode)
	}
	// Another session's token is not this session's.
	if resp, _ := admin.do("POST", "/enforcement/req-1/approve", url.Values{"csrf": {token}}, "Origin", srv.URL); resp.StatusCode != 403 {
		t.Errorf("admin with the analyst's CSRF token: %d", resp.StatusCode)
	}

	// Logging out ends the session on the server, not only in the browser.
	if resp, _ := analyst.do("POST", "/logout", url.Values{"csrf": {token}}, "Origin", srv.URL); resp.StatusCode != 303 {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	replay := newClient(t, srv.URL)
	replay.hc.Jar.SetCookies(nil, []*http.Cookie{session})
	if resp, _ := replay.do("GET", "/api/v1/me", nil); resp.StatusCode != 401 {
		t.Errorf("session after logout: %d", resp.StatusCode)
	}
}

func TestSessionsExpire(t *testing.T) {
	now := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	c, err := New(Configuration{Listen: "127.0.0.1:0", Auth: AuthConfiguration{Users: testUsers(t), SessionTTL: time.Hour}},
		Dependencies{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	cl := newClient(t, srv.URL)
	cl.login("vera", "veravera-pw")
	if resp, _ := cl.do("GET", "/api/v1/me", nil); resp.StatusCode != 200 {
		t.Fatalf("fresh session: %d", resp.StatusCode)
	}
	now = now.Add(time.Hour)
	if resp, _ := cl.do("GET", "/api/v1/me", nil); resp.StatusCode != 401 {
		t.Errorf("session after its TTL: %d", resp.StatusCode)
	}
}

func TestLoginThrottle(t *testing.T) {
	_, srv := newAuthServer(t, Configuration{Auth: AuthConfiguration{Users: testUsers(t)}})
	cl := newClient(t, srv.URL)
	for range maxFailures {
		cl.login("adam", "guess")
	}
	resp, body := cl.do("POST", "/login", url.Values{"user": {"adam"}, "password": {"adamadam-pw"}}, "Origin", srv.URL)
	if resp.StatusCode != 401 || !strings.Contains(body, "too many failed logins") {
		t.Errorf("login after %d failures: %d", maxFailures, resp.StatusCode)
	}
}

func TestTokens(t *testing.T) {
	tok, sum := NewToken()
	_, srv := newAuthServer(t, Configuration{Auth: AuthConfiguration{Tokens: []Token{{Name: "siem", Role: RoleAnalyst, SHA256: sum}}}})
	cl := newClient(t, srv.URL)
	if resp, body := cl.do("GET", "/api/v1/me", nil, "Authorization", "Bearer "+tok); resp.StatusCode != 200 || !strings.Contains(body, `"name": "token:siem"`) {
		t.Errorf("token: %d %s", resp.StatusCode, body)
	}
	if resp, body := cl.do("GET", "/api/v1/me", nil, "Authorization", "Bearer vigil_nope"); resp.StatusCode != 401 || !strings.Contains(body, "unknown API token") {
		t.Errorf("wrong token: %d %s", resp.StatusCode, body)
	}
	if resp, body := cl.do("GET", "/api/v1/me", nil, "Authorization", "Basic abc"); resp.StatusCode != 401 || !strings.Contains(body, "want Bearer") {
		t.Errorf("basic auth: %d %s", resp.StatusCode, body)
	}
	// A token needs no CSRF token (browsers never send it on their own),
	// and its role still holds.
	if resp, body := cl.do("POST", "/api/v1/policies/reload", nil, "Authorization", "Bearer "+tok); resp.StatusCode != 403 || !strings.Contains(body, "needs the admin role") {
		t.Errorf("analyst token reloads: %d %s", resp.StatusCode, body)
	}
	if resp, _ := cl.do("POST", "/alerts/x/acknowledge", url.Values{}, "Authorization", "Bearer "+tok); resp.StatusCode != 303 {
		t.Errorf("analyst token triages: %d", resp.StatusCode)
	}
}

func TestLocalMode(t *testing.T) {
	if _, err := New(Configuration{Listen: "0.0.0.0:8080"}, Dependencies{}); err == nil || !strings.Contains(err.Error(), "no users are configured") {
		t.Errorf("local mode on every interface: %v", err)
	}
	c, srv := newAuthServer(t, Configuration{Listen: "127.0.0.1:0"})
	if !c.auth.local {
		t.Fatal("not in local mode")
	}
	cl := newClient(t, srv.URL)
	if resp, body := cl.do("GET", "/api/v1/me", nil); resp.StatusCode != 200 || !strings.Contains(body, `"role": "admin"`) || !strings.Contains(body, `"via": "local"`) {
		t.Errorf("local me: %d %s", resp.StatusCode, body)
	}
	if resp, body := cl.do("GET", "/", nil); resp.StatusCode != 200 || !strings.Contains(body, "No users are configured") {
		t.Errorf("local overview: %d", resp.StatusCode)
	}
	// DNS rebinding: a page on evil.example resolving to 127.0.0.1.
	if resp, body := cl.do("GET", "/api/v1/me", nil, "Host", "evil.example"); resp.StatusCode != 403 || !strings.Contains(body, "localhost names") {
		t.Errorf("foreign Host: %d %s", resp.StatusCode, body)
	}
	// The CLI on the machine (no browser headers) may change things...
	if resp, body := cl.do("POST", "/api/v1/policies/reload", nil); resp.StatusCode != 404 || !strings.Contains(body, "policy engine not available") {
		t.Errorf("local CLI change: %d %s", resp.StatusCode, body)
	}
	// ...a cross-site form may not...
	if resp, _ := cl.do("POST", "/api/v1/policies/reload", url.Values{}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != 403 {
		t.Errorf("cross-site change: %d", resp.StatusCode)
	}
	// ...and the pages' own forms carry the token.
	if resp, _ := cl.do("POST", "/api/v1/policies/reload", url.Values{}, "Origin", srv.URL, "Sec-Fetch-Site", "same-origin"); resp.StatusCode != 403 {
		t.Errorf("browser change without token: %d", resp.StatusCode)
	}
	if resp, _ := cl.do("POST", "/api/v1/policies/reload", url.Values{"csrf": {cl.csrf()}}, "Origin", srv.URL, "Sec-Fetch-Site", "same-origin"); resp.StatusCode != 404 {
		t.Errorf("browser change with token: %d", resp.StatusCode)
	}
}

func TestActorHeaderCannotBeForged(t *testing.T) {
	tok, sum := NewToken()
	c, err := New(Configuration{Listen: "127.0.0.1:0", Auth: AuthConfiguration{Tokens: []Token{{Name: "ops", Role: RoleAdmin, SHA256: sum}}}}, Dependencies{})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	h := c.auth.middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get(ActorHeader) + "|" + Actor(r) }))
	req := httptest.NewRequest("POST", "/api/v1/enforcement/kill-switch", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set(ActorHeader, "someone-else")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got != "token:ops|token:ops" {
		t.Errorf("actor = %q, want the token's name", got)
	}
}

func TestAuthConfigurationErrors(t *testing.T) {
	errs := AuthConfiguration{
		Users:      []User{{Name: "a b", Role: "root", PasswordHash: "plain"}, {Name: "x", Role: RoleViewer, PasswordHash: "$2a$04$abcdefghijklmnopqrstuuJQqyyE3oU.gHj8n3o0i7ePxAHUVs6a"}, {Name: "x", Role: RoleViewer}},
		Tokens:     []Token{{Name: "", Role: RoleAdmin, SHA256: "abc"}},
		SessionTTL: -time.Second,
	}.Validate()
	var all []string
	for _, e := range errs {
		all = append(all, e.Error())
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{`users[0].name: "a b"`, `users[0].role: "root"`, "users[0].password_hash: not a bcrypt hash",
		`users[2].name: "x" appears twice`, "tokens[0].name: must not be empty", "tokens[0].sha256: want 64 hex digits", "session_ttl"} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %q in:\n%s", want, joined)
		}
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("a 5-character password was hashed")
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"/devices?q=1": "/devices?q=1", "//evil.example/": "/", "https://evil.example": "/", "/\\evil": "/", "": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSecureCookieBehindTLS(t *testing.T) {
	_, srv := newAuthServer(t, Configuration{Auth: AuthConfiguration{Users: testUsers(t), SecureCookies: true}})
	resp := newClient(t, srv.URL).login("vera", "veravera-pw")
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie && !ck.Secure {
			t.Error("session cookie not Secure with secure_cookies")
		}
	}
}

// TestTLS serves the dashboard over HTTPS with a certificate of its own:
// the session cookie is then Secure without any setting.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	c, err := New(Configuration{Listen: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile, Auth: AuthConfiguration{Users: testUsers(t)}}, Dependencies{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.PostForm("https://"+c.Addr()+"/login", url.Values{"user": {"vera"}, "password": {"veravera-pw"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var secure bool
	for _, ck := range resp.Cookies() {
		secure = secure || ck.Name == sessionCookie && ck.Secure
	}
	if resp.StatusCode != http.StatusSeeOther || !secure {
		t.Errorf("login over TLS: %d, secure cookie %v", resp.StatusCode, secure)
	}
	if resp, err := http.Get("http://" + c.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP on the TLS port: %d", resp.StatusCode)
		}
	}
	if _, err := New(Configuration{Listen: "127.0.0.1:0", TLSCert: certFile}, Dependencies{}); err == nil {
		t.Error("a certificate without a key was accepted")
	}
}

func selfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pemEncode("CERTIFICATE", der), 0o600)
	os.WriteFile(keyFile, pemEncode("EC PRIVATE KEY", kb), 0o600)
	return certFile, keyFile
}

func pemEncode(typ string, b []byte) []byte {
	return pemlib.EncodeToMemory(&pemlib.Block{Type: typ, Bytes: b})
}
