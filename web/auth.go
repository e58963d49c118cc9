package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Role is what a person or a token may do. Each role may do everything the
// roles below it may.
type Role string

// Roles, least privileged first.
const (
	// RoleViewer reads everything and changes nothing.
	RoleViewer Role = "viewer"
	// RoleAnalyst also triages alerts (acknowledge, resolve, reopen,
	// suppress) and confirms baselines.
	RoleAnalyst Role = "analyst"
	// RoleAdmin also approves and revokes blocks, flips the kill switch
	// and reloads policies.
	RoleAdmin Role = "admin"
)

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r.rank() > 0 }

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleAnalyst:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// User is a local account. The password is kept only as a bcrypt hash
// (`vigil web hash-password` prints an entry).
type User struct {
	Name         string `yaml:"name"`
	Role         Role   `yaml:"role"`
	PasswordHash string `yaml:"password_hash"`
}

// Token is an API token for scripts and the CLI, sent as
// "Authorization: Bearer TOKEN". Only the SHA-256 of the token is kept
// (`vigil web token` makes one).
type Token struct {
	Name   string `yaml:"name"`
	Role   Role   `yaml:"role"`
	SHA256 string `yaml:"sha256"`
}

// AuthConfiguration is the access control. With no user and no token the
// server runs in local mode: it must listen on a loopback address, and
// whoever reaches it is the local administrator.
type AuthConfiguration struct {
	Users  []User  `yaml:"users"`
	Tokens []Token `yaml:"tokens"`
	// SessionTTL is how long a login lasts (default 12h).
	SessionTTL time.Duration `yaml:"session_ttl"`
	// SecureCookies marks session cookies Secure although Vigil speaks
	// plain HTTP: set it behind a reverse proxy that terminates TLS.
	SecureCookies bool `yaml:"secure_cookies"`
}

// Validate names every bad entry.
func (a AuthConfiguration) Validate() []error {
	var errs []error
	names := map[string]bool{}
	for i, u := range a.Users {
		at := fmt.Sprintf("users[%d]", i)
		if u.Name == "" || strings.ContainsAny(u.Name, " \t\r\n:") {
			errs = append(errs, fmt.Errorf("%s.name: %q: want a name without spaces or colons", at, u.Name))
		}
		if names[u.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q appears twice", at, u.Name))
		}
		names[u.Name] = true
		if u.Role.rank() == 0 {
			errs = append(errs, fmt.Errorf("%s.role: %q: want viewer, analyst or admin", at, u.Role))
		}
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			errs = append(errs, fmt.Errorf("%s.password_hash: not a bcrypt hash (make one with vigil web hash-password)", at))
		}
	}
	for i, t := range a.Tokens {
		at := fmt.Sprintf("tokens[%d]", i)
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: must not be empty", at))
		}
		if t.Role.rank() == 0 {
			errs = append(errs, fmt.Errorf("%s.role: %q: want viewer, analyst or admin", at, t.Role))
		}
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != sha256.Size {
			errs = append(errs, fmt.Errorf("%s.sha256: want 64 hex digits (make a token with vigil web token)", at))
		}
	}
	if a.SessionTTL < 0 {
		errs = append(errs, fmt.Errorf("session_ttl: %s: must not be negative", a.SessionTTL))
	}
	return errs
}

// HashPassword returns the bcrypt hash of a password for a User entry.
func HashPassword(password string) (string, error) {
	if len(password) < 10 {
		return "", errors.New("password: use at least 10 characters")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), 12)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// NewToken returns a random API token and the SHA-256 to configure.
func NewToken() (token, sum string) {
	token = "vigil_" + randomString(32)
	return token, tokenSum(token)
}

func tokenSum(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Principal is who makes a request.
type Principal struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Via is how they were recognised: "session", "token" or "local".
	Via string `json:"via"`
	// CSRF is the token a browser must send with a change.
	CSRF string `json:"-"`
}

// Can reports whether the principal's role includes r.
func (p Principal) Can(r Role) bool { return p.Role.rank() >= r.rank() }

type principalKey struct{}

// PrincipalOf returns who made the request (set by the access control on
// every route but the public ones).
func PrincipalOf(r *http.Request) (Principal, bool) {
	p, ok := r.Context().Value(principalKey{}).(Principal)
	return p, ok
}

// ActorHeader carries the authenticated actor to handlers: the access
// control removes whatever a client sent in it and sets the name of the
// principal, so a handler that records "who did it" from this header
// records the authenticated name.
const ActorHeader = "X-Vigil-Actor"

// Actor is the name to record for a change made by r.
func Actor(r *http.Request) string {
	if p, ok := PrincipalOf(r); ok {
		return p.Name
	}
	return ""
}

const (
	sessionCookie = "vigil_session"
	csrfHeader    = "X-CSRF-Token"
	csrfField     = "csrf"
)

type session struct {
	user    User
	csrf    string
	expires time.Time
}

type authenticator struct {
	logger *slog.Logger
	now    func() time.Time
	ttl    time.Duration
	secure bool
	// local is the mode without users: loopback only, everyone admin.
	local     bool
	localCSRF string
	users     map[string]User
	tokens    map[string]Token // by SHA-256

	mu       sync.Mutex
	sessions map[string]*session // by SHA-256 of the cookie value
	failures map[string][]time.Time
}

func newAuthenticator(cfg Configuration, logger *slog.Logger, now func() time.Time) (*authenticator, error) {
	if errs := cfg.Auth.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("http.auth: %w", errors.Join(errs...))
	}
	a := &authenticator{logger: logger, now: now, ttl: cfg.Auth.SessionTTL,
		secure: cfg.TLSCert != "" || cfg.Auth.SecureCookies,
		users:  map[string]User{}, tokens: map[string]Token{},
		sessions: map[string]*session{}, failures: map[string][]time.Time{}}
	if a.ttl == 0 {
		a.ttl = 12 * time.Hour
	}
	for _, u := range cfg.Auth.Users {
		a.users[u.Name] = u
	}
	for _, t := range cfg.Auth.Tokens {
		a.tokens[strings.ToLower(t.SHA256)] = t
	}
	if len(a.users) == 0 && len(a.tokens) == 0 {
		host, _, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("http.listen %q: %w", cfg.Listen, err)
		}
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("http.listen %s: no users are configured (http.auth.users), so the dashboard may only listen on a loopback address such as 127.0.0.1:8080; add users with 'vigil web hash-password' to serve the network", cfg.Listen)
		}
		a.local = true
		a.localCSRF = randomString(24)
		logger.Warn("NO USERS CONFIGURED: the dashboard and API are open to anyone on this machine as the local administrator; configure http.auth.users before exposing it (docs/web.md)",
			"listen", cfg.Listen)
	}
	return a, nil
}

// requiredRole is the least role that may make the request. Reads need a
// viewer; alert triage and baseline confirmation an analyst; every other
// change (approvals, the kill switch, policy reloads, and any route added
// later) an administrator, so a new route is closed until said otherwise.
func requiredRole(r *http.Request) Role {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return RoleViewer
	}
	p := r.URL.Path
	switch {
	case p == "/logout":
		return RoleViewer
	case strings.HasPrefix(p, "/api/v1/alerts"), strings.HasPrefix(p, "/api/v1/suppressions"),
		strings.HasPrefix(p, "/alerts/"), strings.HasPrefix(p, "/suppressions"),
		strings.HasPrefix(p, "/api/v1/baselines"), strings.HasPrefix(p, "/baselines/"):
		return RoleAnalyst
	}
	return RoleAdmin
}

// public routes need no login.
func public(r *http.Request) bool {
	p := r.URL.Path
	return p == "/login" || p == "/healthz" || strings.HasPrefix(p, "/ui/") || p == "/api/v1/openapi.json" || p == "/favicon.ico"
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

func changes(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// middleware is the access control in front of every route.
func (a *authenticator) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		r.Header.Del(ActorHeader)
		if a.local && !loopbackHost(r.Host) {
			// A page on the internet cannot reach a localhost server by
			// renaming itself (DNS rebinding): the Host must be local.
			a.deny(w, r, http.StatusForbidden, fmt.Sprintf("host %q: this server has no users configured and answers only to localhost names", r.Host))
			return
		}
		if public(r) {
			next.ServeHTTP(w, r)
			return
		}
		p, status, msg := a.identify(r)
		if status != 0 {
			if status == http.StatusUnauthorized && !isAPI(r) {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			a.deny(w, r, status, msg)
			return
		}
		if changes(r) {
			if msg := a.checkCSRF(r, p); msg != "" {
				a.deny(w, r, http.StatusForbidden, msg)
				return
			}
		}
		if need := requiredRole(r); !p.Can(need) {
			a.deny(w, r, http.StatusForbidden, fmt.Sprintf("%s %s needs the %s role; %s is %s", r.Method, r.URL.Path, need, p.Name, p.Role))
			return
		}
		r.Header.Set(ActorHeader, p.Name)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// identify finds the principal, or the status and message of a refusal.
func (a *authenticator) identify(r *http.Request) (Principal, int, string) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			return Principal{}, http.StatusUnauthorized, "Authorization: want Bearer TOKEN"
		}
		t, found := a.tokens[tokenSum(strings.TrimSpace(tok))]
		if !found {
			return Principal{}, http.StatusUnauthorized, "unknown API token"
		}
		return Principal{Name: "token:" + t.Name, Role: t.Role, Via: "token"}, 0, ""
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if s := a.session(c.Value); s != nil {
			return Principal{Name: s.user.Name, Role: s.user.Role, Via: "session", CSRF: s.csrf}, 0, ""
		}
	}
	if a.local {
		return Principal{Name: "local", Role: RoleAdmin, Via: "local", CSRF: a.localCSRF}, 0, ""
	}
	return Principal{}, http.StatusUnauthorized, "authentication required: log in at /login or send Authorization: Bearer TOKEN"
}

// checkCSRF returns why a change may not be made, or "". API tokens are
// not sent by browsers on their own, so they need no CSRF token. A
// browser always says where a request comes from (Origin, Sec-Fetch-Site);
// a change from a browser must come from this server's pages and carry the
// session's CSRF token. The local mode accepts changes from programs that
// are not browsers (the CLI on the same machine) without one.
func (a *authenticator) checkCSRF(r *http.Request, p Principal) string {
	if p.Via == "token" {
		return ""
	}
	origin := r.Header.Get("Origin")
	site := r.Header.Get("Sec-Fetch-Site")
	if origin != "" && origin != "null" {
		u, err := url.Parse(origin)
		if err != nil || u.Host != r.Host {
			return fmt.Sprintf("origin %q is not this server: changes are accepted only from Vigil's own pages", origin)
		}
	}
	if site != "" && site != "same-origin" && site != "none" {
		return "Sec-Fetch-Site " + site + ": changes are accepted only from Vigil's own pages"
	}
	browser := origin != "" || site != ""
	if p.Via == "local" && !browser {
		return ""
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.CSRF)) != 1 {
		return "missing or wrong CSRF token: reload the page and try again"
	}
	return ""
}

func (a *authenticator) deny(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if isAPI(r) || r.Header.Get("Accept") == "application/json" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, "{\n  \"error\": %q\n}\n", msg)
		return
	}
	http.Error(w, msg, status)
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (a *authenticator) session(value string) *session {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := tokenSum(value)
	s := a.sessions[key]
	if s == nil {
		return nil
	}
	if !a.now().Before(s.expires) {
		delete(a.sessions, key)
		return nil
	}
	return s
}

// dummyHash is compared against when the user is unknown, so that a login
// takes as long whether or not the name exists.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("vigil-no-such-user"), 12)

// maxFailures logins may fail per user within failureWindow before the
// account waits.
const (
	maxFailures   = 5
	failureWindow = 5 * time.Minute
)

// login checks a password and opens a session; it returns the cookie
// value or why it refused.
func (a *authenticator) login(name, password string) (string, error) {
	now := a.now()
	a.mu.Lock()
	var recent []time.Time
	for _, t := range a.failures[name] {
		if now.Sub(t) < failureWindow {
			recent = append(recent, t)
		}
	}
	a.failures[name] = recent
	a.mu.Unlock()
	if len(recent) >= maxFailures {
		return "", fmt.Errorf("too many failed logins for %q: try again in a few minutes", name)
	}
	u, ok := a.users[name]
	hash := []byte(u.PasswordHash)
	if !ok {
		hash = dummyHash
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte(password)); err != nil || !ok {
		a.mu.Lock()
		a.failures[name] = append(a.failures[name], now)
		a.mu.Unlock()
		a.logger.Warn("failed login", "user", name)
		return "", errors.New("wrong user name or password")
	}
	value := randomString(32)
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.failures, name)
	for k, s := range a.sessions {
		if !now.Before(s.expires) {
			delete(a.sessions, k)
		}
	}
	a.sessions[tokenSum(value)] = &session{user: u, csrf: randomString(24), expires: now.Add(a.ttl)}
	a.logger.Info("login", "user", name, "role", u.Role)
	return value, nil
}

func (a *authenticator) logout(value string) {
	a.mu.Lock()
	delete(a.sessions, tokenSum(value))
	a.mu.Unlock()
}

func (a *authenticator) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteStrictMode}
}

func (c *Component) authRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /login", c.loginPage)
	mux.HandleFunc("POST /login", c.loginSubmit)
	mux.HandleFunc("POST /logout", c.logoutSubmit)
	mux.HandleFunc("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalOf(r)
		c.json(w, http.StatusOK, p)
	})
}

// safeNext keeps a redirect on this server.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (c *Component) loginPage(w http.ResponseWriter, r *http.Request) {
	c.pages.render(w, r, http.StatusOK, "login", loginView{Next: safeNext(r.URL.Query().Get("next")), Local: c.auth.local})
}

func (c *Component) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			http.Error(w, "login accepted only from Vigil's own login page", http.StatusForbidden)
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
	name, pw, next := r.PostFormValue("user"), r.PostFormValue("password"), safeNext(r.PostFormValue("next"))
	value, err := c.auth.login(name, pw)
	if err != nil {
		c.pages.render(w, r, http.StatusUnauthorized, "login", loginView{Next: next, User: name, Error: err.Error(), Local: c.auth.local})
		return
	}
	http.SetCookie(w, c.auth.cookie(value, int(c.auth.ttl/time.Second)))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Component) logoutSubmit(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.auth.logout(ck.Value)
	}
	http.SetCookie(w, c.auth.cookie("", -1))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
