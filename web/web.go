// Package web serves Vigil's HTTP API (and, later, the dashboard) from the
// projections. It reads; it never changes the event log.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Configuration of the HTTP server.
type Configuration struct {
	// Listen is the address, for example 127.0.0.1:8080.
	Listen string `yaml:"listen"`
}

// Dependencies are the read models the API serves, each a function so
// that web imports no engine.
type Dependencies struct {
	Logger *slog.Logger
	// Devices returns the devices that match the query parameters (see
	// inventory.ParseQuery), or an error naming a bad parameter.
	Devices func(q url.Values) (any, error)
	// DevicesCSV writes the devices that match as CSV.
	DevicesCSV func(q url.Values, w io.Writer) error
	// Device returns one device by ID, with everything known of it.
	Device func(id string) (any, bool)
	// Status returns the counters of every component.
	Status func() any
}

// Component is the HTTP server.
type Component struct {
	cfg    Configuration
	deps   Dependencies
	server *http.Server
	ln     net.Listener
	done   chan error
}

// New returns an inert server.
func New(cfg Configuration, deps Dependencies) (*Component, error) {
	if cfg.Listen == "" {
		return nil, errors.New("web: no listen address")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Component{cfg: cfg, deps: deps}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /api/v1/devices", c.devices)
	mux.HandleFunc("GET /api/v1/devices/{id}", c.device)
	mux.HandleFunc("GET /api/v1/status", c.serve(deps.Status))
	c.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return c, nil
}

func (c *Component) serve(f func() any) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if f == nil {
			http.Error(w, "not available", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(f()); err != nil {
			c.deps.Logger.Warn("encode response", "err", err)
		}
	}
}

// devices serves the filtered, sorted, paged device list, as JSON or
// (format=csv or Accept: text/csv) as CSV.
func (c *Component) devices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("format") == "csv" || r.Header.Get("Accept") == "text/csv" {
		if c.deps.DevicesCSV == nil {
			c.fail(w, http.StatusNotFound, "CSV export not available")
			return
		}
		q.Del("format")
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="vigil-devices.csv"`)
		if err := c.deps.DevicesCSV(q, w); err != nil {
			c.fail(w, http.StatusBadRequest, err.Error())
		}
		return
	}
	if c.deps.Devices == nil {
		c.fail(w, http.StatusNotFound, "inventory not available")
		return
	}
	page, err := c.deps.Devices(q)
	if err != nil {
		c.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	c.json(w, http.StatusOK, page)
}

func (c *Component) device(w http.ResponseWriter, r *http.Request) {
	if c.deps.Device == nil {
		c.fail(w, http.StatusNotFound, "inventory not available")
		return
	}
	d, ok := c.deps.Device(r.PathValue("id"))
	if !ok {
		c.fail(w, http.StatusNotFound, fmt.Sprintf("no device %q", r.PathValue("id")))
		return
	}
	c.json(w, http.StatusOK, d)
}

// fail writes an error as {"error": "..."}.
func (c *Component) fail(w http.ResponseWriter, code int, msg string) {
	c.json(w, code, map[string]string{"error": msg})
}

func (c *Component) json(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
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
	c.ln = ln
	c.done = make(chan error, 1)
	go func() {
		err := c.server.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		c.done <- err
	}()
	c.deps.Logger.Info("http api listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address actually listened on (useful with port 0).
func (c *Component) Addr() string {
	if c.ln == nil {
		return ""
	}
	return c.ln.Addr().String()
}

// Stop shuts the server down gracefully.
func (c *Component) Stop(ctx context.Context) error {
	if c.done == nil {
		return nil
	}
	if err := c.server.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown http: %w", err)
	}
	return <-c.done
}
