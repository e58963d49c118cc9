package web

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/vigil-health/vigil/risk"
	"github.com/vigil-health/vigil/vuln"
)

// vulnRoutes registers the vulnerability and risk API:
//
//	GET /api/v1/vulnerabilities               device vulnerabilities (device, id, type, confidence, status=open|resolved|all)
//	GET /api/v1/devices/{id}/vulnerabilities  one device's, open and resolved
//	GET /api/v1/risk                          every device's score and explanation (level, category, department, site)
//	GET /api/v1/devices/{id}/risk             one device's
//	GET /api/v1/risk/summary?by=department|site|category
func (c *Component) vulnRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/vulnerabilities", func(w http.ResponseWriter, r *http.Request) {
		if c.deps.Vulns == nil {
			c.fail(w, http.StatusNotFound, "vulnerability matching is not running")
			return
		}
		p := r.URL.Query()
		q := vuln.Query{Device: p.Get("device"), ID: p.Get("id"), Type: p.Get("type"), Confidence: p.Get("confidence"), Status: p.Get("status")}
		if q.Status == "" {
			q.Status = vuln.Open
		}
		for name, v := range map[string][]string{
			"status":     {vuln.Open, vuln.Resolved, "all"},
			"type":       {"", vuln.TypeClinical, vuln.TypePlatform, vuln.TypeApplication},
			"confidence": {"", vuln.Confirmed, vuln.Potential},
		} {
			if got := map[string]string{"status": q.Status, "type": q.Type, "confidence": q.Confidence}[name]; !slices.Contains(v, got) {
				c.fail(w, http.StatusBadRequest, fmt.Sprintf("%s %q: want one of %q", name, got, v))
				return
			}
		}
		recs := c.deps.Vulns.Vulnerabilities(q)
		if recs == nil {
			recs = []vuln.Record{}
		}
		c.json(w, http.StatusOK, map[string]any{"summary": c.deps.Vulns.Summary(), "vulnerabilities": recs})
	})
	mux.HandleFunc("GET /api/v1/devices/{id}/vulnerabilities", func(w http.ResponseWriter, r *http.Request) {
		if c.deps.Vulns == nil {
			c.fail(w, http.StatusNotFound, "vulnerability matching is not running")
			return
		}
		recs, ok := c.deps.Vulns.DeviceVulnerabilities(r.PathValue("id"))
		if !ok {
			c.fail(w, http.StatusNotFound, fmt.Sprintf("no device %q known to vulnerability matching", r.PathValue("id")))
			return
		}
		c.json(w, http.StatusOK, recs)
	})
	// The risk engine implements risk.Service; Dependencies.Risk holds it
	// behind the smaller interface the pages need.
	service := func(w http.ResponseWriter) (risk.Service, bool) {
		s, ok := c.deps.Risk.(risk.Service)
		if !ok {
			c.fail(w, http.StatusNotFound, "the risk engine is not running")
		}
		return s, ok
	}
	mux.HandleFunc("GET /api/v1/risk", func(w http.ResponseWriter, r *http.Request) {
		s, ok := service(w)
		if !ok {
			return
		}
		p := r.URL.Query()
		out := []risk.DeviceRisk{}
		for _, d := range s.Scores() {
			if f := p.Get("level"); f != "" && f != d.Level ||
				p.Get("category") != "" && p.Get("category") != d.Category ||
				p.Get("department") != "" && p.Get("department") != d.Department ||
				p.Get("site") != "" && p.Get("site") != d.Site {
				continue
			}
			out = append(out, d)
		}
		c.json(w, http.StatusOK, map[string]any{"formula": risk.FormulaVersion, "devices": out})
	})
	mux.HandleFunc("GET /api/v1/devices/{id}/risk", func(w http.ResponseWriter, r *http.Request) {
		s, ok := service(w)
		if !ok {
			return
		}
		d, ok := s.Device(r.PathValue("id"))
		if !ok {
			c.fail(w, http.StatusNotFound, fmt.Sprintf("no device %q known to the risk engine", r.PathValue("id")))
			return
		}
		c.json(w, http.StatusOK, d)
	})
	mux.HandleFunc("GET /api/v1/risk/summary", func(w http.ResponseWriter, r *http.Request) {
		s, ok := service(w)
		if !ok {
			return
		}
		by := r.URL.Query().Get("by")
		if by == "" {
			by = "department"
		}
		sum, err := s.Summary(by)
		if err != nil {
			c.fail(w, http.StatusBadRequest, err.Error())
			return
		}
		c.json(w, http.StatusOK, sum)
	})
}
