// Package web serves Vigil's HTTP API and its dashboard from the
// projections. It reads the engines through the small interfaces of
// Dependencies; every change it makes (acknowledge, suppress, approve)
// goes through an engine's Go API with the name of the person who made it.
//
// Every route, API and page alike, passes the access control of auth.go
// first: who is asking (a session cookie, an API token, or the local
// user of an unconfigured localhost server), whether their role may do
// it, and, for a change made from a browser, the CSRF token.
package web

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/vuln"
)

// Configuration of the HTTP server.
type Configuration struct {
	// Listen is the address, for example 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// TLSCert and TLSKey are PEM files; with both set the server speaks
	// HTTPS only and session cookies are Secure.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// Auth lists the users and API tokens (auth.go, docs/web.md).
	Auth AuthConfiguration `yaml:"auth"`
}

// Dependencies are the engines the API and the dashboard read. Each is an
// interface holding only what web calls; nil ones make their pages say
// "not available" and their routes answer 404.
type Dependencies struct {
	Logger *slog.Logger
	// Inventory is the device projection (inventory.Component).
	Inventory Inventory
	// Baselines is the baseline engine (baseline.Component).
	Baselines Baselines
	// Policy is the policy engine (policy.Component); PolicyTests runs the
	// Rego unit tests of the loaded set (policy.Test with the configured
	// directories).
	Policy      Policy
	PolicyTests PolicyTests
	// History answers traffic and alert history: the ClickHouse store
	// (store.Queries) when configured, else LogHistory over the event log.
	History History
	// Alerts is the alert state (alerts.Component).
	Alerts alerts.Service
	// Vulns are the devices' vulnerabilities (vuln/match); Risk their
	// scores (risk).
	Vulns vuln.Service
	Risk  Risk
	// Enforce is the enforcement engine (enforce.Component).
	Enforce enforce.Service
	// Scanner is the active-scanner integration (scanner.go).
	Scanner Scanner
	// Health returns the health of the live system (consumer lag, sensor
	// drops and silence, insert failures); Status every component's
	// counters.
	Health func(ctx context.Context) HealthReport
	Status func() any
	// Feeds are handlers served as they are, outside the dashboard's
	// access control, under their own path: the blocklist feeds that
	// firewalls poll (enforce/edl), which authenticate their pollers
	// themselves. A feed path may not shadow a dashboard route.
	Feeds []Feed
	// Now is the wall clock, for sessions only (time.Now when nil): what
	// the pages show is in event time.
	Now func() time.Time
}

// Feed is one handler mounted outside the access control.
type Feed struct {
	Path    string
	Handler http.Handler
}

// Component is the HTTP server.
type Component struct {
	cfg    Configuration
	deps   Dependencies
	auth   *authenticator
	pages  *pages
	polLog policyLog
	server *http.Server
	ln     net.Listener
	done   chan error
	// cancel ends the base context of requests: live feeds end on Stop.
	cancel context.CancelFunc
}

// New returns an inert server. It refuses a configuration that would
// expose the dashboard without users on a non-loopback address.
func New(cfg Configuration, deps Dependencies) (*Component, error) {
	if cfg.Listen == "" {
		return nil, errors.New("web: no listen address")
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("http.tls_cert and http.tls_key: set both or neither")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	c := &Component{cfg: cfg, deps: deps}
	var err error
	if c.auth, err = newAuthenticator(cfg, deps.Logger, deps.Now); err != nil {
		return nil, err
	}
	if c.pages, err = newPages(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	// Route sets, one per file. The files other engines own (alerts.go,
	// enforce.go, vuln.go, scanner.go) add their function to this list.
	for _, routes := range []func(*http.ServeMux){
		c.apiRoutes,  // api.go
		c.pageRoutes, // pages.go
		c.authRoutes, // auth.go
		c.vulnRoutes, // vuln.go
		c.scannerRoutes,
		c.alertRoutes,
		c.enforceRoutes, // enforce.go
	} {
		routes(mux)
	}
	base, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	handler := c.auth.middleware(mux)
	if len(deps.Feeds) > 0 {
		top := http.NewServeMux()
		for _, f := range deps.Feeds {
			probe := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: f.Path}}
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" && pattern != "GET /" {
				return nil, fmt.Errorf("web: feed path %q would shadow the dashboard's route %q", f.Path, pattern)
			}
			top.Handle(f.Path, f.Handler)
		}
		top.Handle("/", handler)
		handler = top
	}
	c.server = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return base }}
	return c, nil
}

// Handler is the server's handler with its access control, for tests and
// for mounting under another server.
func (c *Component) Handler() http.Handler { return c.server.Handler }

// fail writes an error as {"error": "..."}.
func (c *Component) fail(w http.ResponseWriter, code int, msg string) {
	c.json(w, code, map[string]string{"error": msg})
}

func (c *Component) json(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		c.deps.Logger.Warn("encode response", "err", err)
	}
}

// Start listens and serves in the background.
func (c *Component) Start(context.Context) error {
	ln, err := net.Listen("tcp", c.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", c.cfg.Listen, err)
	}
	if c.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.cfg.TLSCert, c.cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("http.tls_cert/tls_key: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	c.ln = ln
	c.done = make(chan error, 1)
	go func() {
		err := c.server.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		c.done <- err
	}()
	c.deps.Logger.Info("http listening", "addr", ln.Addr().String(), "tls", c.cfg.TLSCert != "")
	return nil
}

// Addr is the address actually listened on (useful with port 0).
func (c *Component) Addr() string {
	if c.ln == nil {
		return ""
	}
	return c.ln.Addr().String()
}

// Stop shuts the server down gracefully. Live feeds (server-sent events)
// end with the server's base context.
func (c *Component) Stop(ctx context.Context) error {
	if c.done == nil {
		return nil
	}
	c.cancel()
	if err := c.server.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown http: %w", err)
	}
	return <-c.done
}
