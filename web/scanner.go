package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Scanner is the active-scanner integration (scanner/sync and the
// exclusion exports), as the API needs it; cmd/vigil adapts it.
type Scanner interface {
	// ScannerStatus is the sync's state: last run, drift, engines.
	ScannerStatus() any
	// ScannerSync runs one full sync now (dryRun: compute only) and
	// returns its report.
	ScannerSync(ctx context.Context, dryRun bool) (any, error)
	// ScannerExclusions lists the excluded targets (format "json"), or
	// writes them for a scanner: nessus, tenable, openvas, nmap.
	ScannerExclusions(format string, w io.Writer) (any, error)
	// ScannerFindings are the findings imported at the last sync.
	ScannerFindings() any
	// ScannerImport imports one result file (.nessus, Greenbone or
	// Nexpose XML) named name, merges it with the inventory and hands the
	// findings to vulnerability matching. A malformed file is an error
	// that names the problem and wraps ErrBadScannerFile.
	ScannerImport(ctx context.Context, name string, r io.Reader) (any, error)
}

// ErrBadScannerFile marks an import that failed because of the file
// (answered 400), not because of Vigil (500).
var ErrBadScannerFile = errors.New("bad scanner file")

// ErrScannerOff marks a sync asked of a vigil without a configured
// console (answered 409).
var ErrScannerOff = errors.New("scanner sync off")

// scannerRoutes registers the scanner API:
//
//	GET  /api/v1/scanner                 sync status (last report, drift counters, scan engines)
//	POST /api/v1/scanner/sync?dry_run=1  run a full sync now and return its report (admin)
//	GET  /api/v1/scanner/exclusions      the excluded targets (format=json|nessus|tenable|openvas|nmap)
//	GET  /api/v1/scanner/findings        the findings imported from InsightVM at the last sync
//	POST /api/v1/scanner/import?name=F   import one result file (the body), merged with the inventory (admin)
func (c *Component) scannerRoutes(mux *http.ServeMux) {
	get := func(w http.ResponseWriter) (Scanner, bool) {
		if c.deps.Scanner == nil {
			c.fail(w, http.StatusNotFound, "the scanner integration is not running")
			return nil, false
		}
		return c.deps.Scanner, true
	}
	mux.HandleFunc("GET /api/v1/scanner", func(w http.ResponseWriter, r *http.Request) {
		if s, ok := get(w); ok {
			c.json(w, http.StatusOK, s.ScannerStatus())
		}
	})
	mux.HandleFunc("POST /api/v1/scanner/sync", func(w http.ResponseWriter, r *http.Request) {
		s, ok := get(w)
		if !ok {
			return
		}
		dry := false
		if v := r.URL.Query().Get("dry_run"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				c.fail(w, http.StatusBadRequest, fmt.Sprintf("dry_run=%q: want true or false", v))
				return
			}
			dry = b
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
		defer cancel()
		res, err := s.ScannerSync(ctx, dry)
		if errors.Is(err, ErrScannerOff) {
			c.fail(w, http.StatusConflict, err.Error())
			return
		}
		if err != nil {
			// The report says what was done before the failure.
			c.json(w, http.StatusBadGateway, map[string]any{"error": err.Error(), "report": res})
			return
		}
		c.json(w, http.StatusOK, res)
	})
	mux.HandleFunc("GET /api/v1/scanner/exclusions", func(w http.ResponseWriter, r *http.Request) {
		s, ok := get(w)
		if !ok {
			return
		}
		format := r.URL.Query().Get("format")
		if format == "" || format == "json" {
			list, err := s.ScannerExclusions("json", nil)
			if err != nil {
				c.fail(w, http.StatusInternalServerError, err.Error())
				return
			}
			c.json(w, http.StatusOK, list)
			return
		}
		switch format {
		case "tenable":
			w.Header().Set("Content-Type", "application/json")
		case "nessus", "openvas", "nmap":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		default:
			c.fail(w, http.StatusBadRequest, fmt.Sprintf("format=%q: want json, nessus, tenable, openvas or nmap", format))
			return
		}
		if _, err := s.ScannerExclusions(format, w); err != nil {
			c.deps.Logger.Warn("scanner exclusions export", "format", format, "err", err)
		}
	})
	mux.HandleFunc("POST /api/v1/scanner/import", func(w http.ResponseWriter, r *http.Request) {
		s, ok := get(w)
		if !ok {
			return
		}
		name := r.URL.Query().Get("name")
		if name == "" {
			name = "upload"
		}
		res, err := s.ScannerImport(r.Context(), name, http.MaxBytesReader(w, r.Body, 1<<30))
		switch {
		case errors.Is(err, ErrBadScannerFile):
			c.fail(w, http.StatusBadRequest, err.Error())
		case err != nil:
			c.json(w, http.StatusInternalServerError, map[string]any{"error": err.Error(), "report": res})
		default:
			c.json(w, http.StatusOK, res)
		}
	})
	mux.HandleFunc("GET /api/v1/scanner/findings", func(w http.ResponseWriter, r *http.Request) {
		if s, ok := get(w); ok {
			c.json(w, http.StatusOK, s.ScannerFindings())
		}
	})
}
