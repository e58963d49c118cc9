package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/events"
)

// alertRoutes serves the JSON API of the alert service (alerts.Service):
// incidents, their lifecycle, suppressions and the live feed. The pages
// are in alertpages.go.
func (c *Component) alertRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/alerts", c.apiIncidents)
	mux.HandleFunc("GET /api/v1/alerts/stream", c.apiAlertStream)
	mux.HandleFunc("GET /api/v1/alerts/{id}", c.apiIncident)
	mux.HandleFunc("POST /api/v1/alerts/{id}/{action}", c.apiIncidentAction)
	mux.HandleFunc("GET /api/v1/suppressions", c.apiSuppressions)
	mux.HandleFunc("POST /api/v1/suppressions", c.apiSuppress)
	mux.HandleFunc("DELETE /api/v1/suppressions/{id}", c.apiUnsuppress)
}

// alertsStatus maps the alert service's errors to HTTP status codes.
func alertsStatus(err error) int {
	switch {
	case errors.Is(err, alerts.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, alerts.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, alerts.ErrTransition):
		return http.StatusConflict
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

func (c *Component) alertsAvailable(w http.ResponseWriter) bool {
	if c.deps.Alerts == nil {
		c.fail(w, http.StatusNotFound, "alerts not available")
		return false
	}
	return true
}

// apiIncidents: GET /api/v1/alerts?state=open&min_severity=high&suppressed=include...
func (c *Component) apiIncidents(w http.ResponseWriter, r *http.Request) {
	if !c.alertsAvailable(w) {
		return
	}
	q, err := alerts.ParseQuery(r.URL.Query())
	if err != nil {
		c.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	c.json(w, http.StatusOK, c.deps.Alerts.Incidents(q))
}

func (c *Component) apiIncident(w http.ResponseWriter, r *http.Request) {
	if !c.alertsAvailable(w) {
		return
	}
	inc, ok := c.deps.Alerts.Incident(r.PathValue("id"))
	if !ok {
		c.fail(w, http.StatusNotFound, fmt.Sprintf("no incident %q", r.PathValue("id")))
		return
	}
	c.json(w, http.StatusOK, inc)
}

// decodeBody reads a small JSON body strictly: an unknown field is an
// error naming it. An empty body decodes as the zero value.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: request body: %w", alerts.ErrInvalid, err)
	}
	return nil
}

// actor is who acts: the authenticated user when there is one (a body
// cannot speak for someone else); on a server without users (the local
// administrator) the body's actor when given.
func actor(r *http.Request, fromBody string) string {
	if p, ok := PrincipalOf(r); ok && p.Via != "local" {
		return p.Name
	}
	if a := strings.TrimSpace(fromBody); a != "" {
		return a
	}
	return Actor(r)
}

// incidentSuppression is the body of POST /api/v1/alerts/{id}/suppress: a
// suppression of the incident's rule, device and peer unless the scope
// says otherwise.
type incidentSuppression struct {
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
	Owner  string `json:"owner"`
	// Scope lists what the suppression is scoped to, among rule, device
	// and peer; empty means all three (this incident only).
	Scope []string `json:"scope"`
	// Expires (RFC 3339) or ExpiresIn (a Go duration such as "72h");
	// neither means never.
	Expires   time.Time `json:"expires"`
	ExpiresIn string    `json:"expires_in"`
}

// apiIncidentAction: POST /api/v1/alerts/{id}/{ack|acknowledge|resolve|reopen|suppress}
// with {"actor": ..., "note": ...} (suppress: see incidentSuppression).
func (c *Component) apiIncidentAction(w http.ResponseWriter, r *http.Request) {
	if !c.alertsAvailable(w) {
		return
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	if action == "suppress" {
		c.apiSuppressIncident(ctx, w, r, id)
		return
	}
	var body alerts.Action
	if err := decodeBody(r, &body); err != nil {
		c.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	body.Actor = actor(r, body.Actor)
	var inc alerts.Incident
	var err error
	switch action {
	case "ack", "acknowledge":
		inc, err = c.deps.Alerts.Acknowledge(ctx, id, body)
	case "resolve":
		inc, err = c.deps.Alerts.Resolve(ctx, id, body)
	case "reopen":
		inc, err = c.deps.Alerts.Reopen(ctx, id, body)
	default:
		c.fail(w, http.StatusNotFound, fmt.Sprintf("no action %q: want ack, resolve, reopen or suppress", action))
		return
	}
	if err != nil {
		c.fail(w, alertsStatus(err), err.Error())
		return
	}
	c.json(w, http.StatusOK, inc)
}

func (c *Component) apiSuppressIncident(ctx context.Context, w http.ResponseWriter, r *http.Request, id string) {
	var body incidentSuppression
	if err := decodeBody(r, &body); err != nil {
		c.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	inc, ok := c.deps.Alerts.Incident(id)
	if !ok {
		c.fail(w, http.StatusNotFound, fmt.Sprintf("no incident %q", id))
		return
	}
	spec := alerts.SuppressionSpec{Actor: actor(r, body.Actor)}
	spec.Reason, spec.Owner, spec.Expires = body.Reason, body.Owner, body.Expires
	if body.ExpiresIn != "" {
		d, err := time.ParseDuration(body.ExpiresIn)
		if err != nil || d <= 0 {
			c.fail(w, http.StatusBadRequest, fmt.Sprintf("expires_in %q: want a positive duration such as 72h", body.ExpiresIn))
			return
		}
		spec.Expires = c.deps.Now().Add(d)
	}
	scope := body.Scope
	if len(scope) == 0 {
		scope = []string{"rule", "device", "peer"}
	}
	for _, s := range scope {
		switch s {
		case "rule":
			spec.Rule = inc.Rule
		case "device":
			spec.Device = inc.Device.Key
		case "peer":
			spec.Peer = inc.PeerKey
		default:
			c.fail(w, http.StatusBadRequest, fmt.Sprintf("scope %q: want rule, device or peer", s))
			return
		}
	}
	sup, err := c.deps.Alerts.Suppress(ctx, spec)
	if err != nil {
		c.fail(w, alertsStatus(err), err.Error())
		return
	}
	c.json(w, http.StatusCreated, sup)
}

func (c *Component) apiSuppressions(w http.ResponseWriter, _ *http.Request) {
	if !c.alertsAvailable(w) {
		return
	}
	c.json(w, http.StatusOK, map[string]any{"suppressions": c.deps.Alerts.Suppressions()})
}

// apiSuppress: POST /api/v1/suppressions with an alerts.SuppressionSpec
// (rule, device, peer, category, min_severity, max_severity, reason,
// owner, expires, actor).
func (c *Component) apiSuppress(w http.ResponseWriter, r *http.Request) {
	if !c.alertsAvailable(w) {
		return
	}
	var spec alerts.SuppressionSpec
	if err := decodeBody(r, &spec); err != nil {
		c.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	spec.Actor = actor(r, spec.Actor)
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	sup, err := c.deps.Alerts.Suppress(ctx, spec)
	if err != nil {
		c.fail(w, alertsStatus(err), err.Error())
		return
	}
	c.json(w, http.StatusCreated, sup)
}

// apiUnsuppress: DELETE /api/v1/suppressions/{id}, with {"actor", "note"}
// in the body or as query parameters.
func (c *Component) apiUnsuppress(w http.ResponseWriter, r *http.Request) {
	if !c.alertsAvailable(w) {
		return
	}
	var body alerts.Action
	if err := decodeBody(r, &body); err != nil {
		c.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if body.Actor == "" {
		body.Actor = r.URL.Query().Get("actor")
	}
	if body.Note == "" {
		body.Note = r.URL.Query().Get("note")
	}
	body.Actor = actor(r, body.Actor)
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	if err := c.deps.Alerts.Unsuppress(ctx, r.PathValue("id"), body); err != nil {
		c.fail(w, alertsStatus(err), err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiAlertStream: GET /api/v1/alerts/stream?min_severity=high, the live
// feed as server-sent events: one "event: <update type>" with the
// alerts.Update as data and the alerts-stream sequence as id. When the
// feed drops a slow reader it sends "event: lagged" and ends; the client
// reconnects and reads the current state from /api/v1/alerts.
func (c *Component) apiAlertStream(w http.ResponseWriter, r *http.Request) {
	if !c.alertsAvailable(w) {
		return
	}
	min := events.SeverityInfo
	for k, v := range r.URL.Query() {
		if k != "min_severity" {
			c.fail(w, http.StatusBadRequest, fmt.Sprintf("unknown parameter %q (want min_severity)", k))
			return
		}
		sev, err := alerts.ParseSeverity(v[len(v)-1])
		if err != nil {
			c.fail(w, http.StatusBadRequest, "min_severity: "+err.Error())
			return
		}
		min = sev
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		c.fail(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	ctx := r.Context()
	updates := c.deps.Alerts.Watch(ctx, min)
	fmt.Fprint(w, "retry: 3000\n: connected\n\n")
	fl.Flush()
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		case u, ok := <-updates:
			if !ok {
				if ctx.Err() == nil {
					fmt.Fprint(w, "event: lagged\ndata: {\"error\":\"the feed fell behind; reconnect and read /api/v1/alerts\"}\n\n")
					fl.Flush()
				}
				return
			}
			b, err := json.Marshal(u)
			if err != nil {
				c.deps.Logger.Warn("encode alert update", "err", err)
				continue
			}
			fmt.Fprintf(w, "event: %s\nid: %d\ndata: %s\n\n", u.Type, u.Seq, b)
			fl.Flush()
		}
	}
}
