package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/inventory"
)

// The alerts page: triage of incidents (acknowledge, resolve, reopen,
// suppress with a reason and an expiry) through alerts.Service, with the
// name of the person who acts, and a live feed that refreshes the list.
// The JSON routes of the alert API are in alerts.go.

func eventsSeverity(s string) events.Severity { return events.Severity(s) }

func (c *Component) alertPageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /alerts", c.alertsPage)
	mux.HandleFunc("GET /alerts/live", c.alertsLive)
	mux.HandleFunc("POST /alerts/{id}/{action}", c.alertAction)
	mux.HandleFunc("POST /suppressions/{id}/delete", c.unsuppress)
}

// openIncidents counts the incidents not resolved and not suppressed, by
// severity.
func (c *Component) openIncidents() map[string]int {
	if c.deps.Alerts == nil {
		return nil
	}
	out := map[string]int{}
	above := 0
	for _, s := range severitiesDesc {
		n := c.deps.Alerts.Incidents(alerts.Query{States: []alerts.State{alerts.StateOpen, alerts.StateAcknowledged},
			MinSeverity: events.Severity(s), Limit: 1}).Total
		out[s] = n - above
		above = n
	}
	return out
}

// deviceIncidents lists a device's incidents, suppressed ones included
// (and marked): a device page hides nothing.
func (c *Component) deviceIncidents(d inventory.Device) []alerts.Incident {
	if c.deps.Alerts == nil {
		return nil
	}
	return c.deps.Alerts.Incidents(alerts.Query{Device: d.Key, Suppressed: "include", Limit: 50}).Incidents
}

// alertsView is the alerts page's data.
type alertsView struct {
	Available    bool
	Query        url.Values
	QueryError   string
	Page         alerts.Page
	Suppressions []alerts.Suppression
	// Names and Crits give the inventory's name and criticality of each
	// incident's device.
	Names  map[string]string
	IDs    map[string]string
	Return string
	CanAct bool
	// CSRF is the session's token for the triage forms.
	CSRF   string
	States []string
	Sevs   []string
	Prev   string
	Next   string
	// Expiries are the suppression lengths offered.
	Expiries []string
}

const alertsPageSize = 50

func (c *Component) alertsPage(w http.ResponseWriter, r *http.Request) {
	v := alertsView{Available: c.deps.Alerts != nil, States: []string{"open", "acknowledged", "resolved"},
		Sevs: severitiesDesc, Names: map[string]string{}, IDs: map[string]string{}, Return: r.URL.RequestURI(),
		Expiries: []string{"1h", "8h", "24h", "168h", "720h", "never"}}
	p, _ := PrincipalOf(r)
	v.CanAct, v.CSRF = p.Can(RoleAnalyst), p.CSRF
	if !v.Available {
		c.page(w, r, http.StatusOK, "alerts", "Alerts", v)
		return
	}
	q := url.Values{}
	for k, vals := range r.URL.Query() {
		if k != "flash" && k != "error" && len(vals) > 0 && vals[0] != "" {
			q[k] = vals
		}
	}
	if _, ok := r.URL.Query()["state"]; !ok {
		q.Set("state", "open,acknowledged")
	}
	if q.Get("limit") == "" {
		q.Set("limit", fmt.Sprint(alertsPageSize))
	}
	v.Query = q
	status := http.StatusOK
	query, err := alerts.ParseQuery(q)
	if err != nil {
		v.QueryError = strings.TrimPrefix(err.Error(), alerts.ErrInvalid.Error()+": ")
		status = http.StatusBadRequest
	} else {
		v.Page = c.deps.Alerts.Incidents(query)
		link := func(off int) string {
			l := url.Values{}
			for k, vals := range q {
				l[k] = vals
			}
			l.Set("offset", fmt.Sprint(off))
			return "/alerts?" + l.Encode()
		}
		if query.Offset > 0 {
			v.Prev = link(max(0, query.Offset-query.Limit))
		}
		if query.Offset+len(v.Page.Incidents) < v.Page.Total {
			v.Next = link(query.Offset + len(v.Page.Incidents))
		}
	}
	v.Suppressions = c.deps.Alerts.Suppressions()
	for _, inc := range v.Page.Incidents {
		if d, ok := c.byKey(inc.Device.Key); ok {
			v.Names[inc.Device.Key], v.IDs[inc.Device.Key] = deviceName(d), d.ID
		}
	}
	c.page(w, r, status, "alerts", "Alerts", v)
}

// alertAction applies a triage action from the alerts page.
func (c *Component) alertAction(w http.ResponseWriter, r *http.Request) {
	to := returnTo(r, "/alerts")
	if c.deps.Alerts == nil {
		back(w, r, to, "", errors.New("alerts are not available"))
		return
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	act := alerts.Action{Actor: Actor(r), Note: strings.TrimSpace(r.PostFormValue("note"))}
	ctx := r.Context()
	var err error
	var msg string
	switch action {
	case "acknowledge":
		_, err = c.deps.Alerts.Acknowledge(ctx, id, act)
		msg = "Incident acknowledged."
	case "resolve":
		_, err = c.deps.Alerts.Resolve(ctx, id, act)
		msg = "Incident resolved."
	case "reopen":
		_, err = c.deps.Alerts.Reopen(ctx, id, act)
		msg = "Incident reopened."
	case "suppress":
		var spec alerts.SuppressionSpec
		spec, err = c.suppressionFromForm(r, id)
		if err == nil {
			var s alerts.Suppression
			s, err = c.deps.Alerts.Suppress(ctx, spec)
			msg = "Suppressed: " + s.Reason
		}
	default:
		http.Error(w, fmt.Sprintf("unknown action %q: want acknowledge, resolve, reopen or suppress", action), http.StatusNotFound)
		return
	}
	if err != nil {
		err = fmt.Errorf("%s %s: %s", action, id, strings.TrimPrefix(err.Error(), alerts.ErrInvalid.Error()+": "))
	}
	c.deps.Logger.Info("alert triage", "action", action, "incident", id, "actor", act.Actor, "err", err)
	back(w, r, to, msg, err)
}

// suppressionFromForm builds a suppression of an incident: its scope is
// the parts of the incident the analyst ticked (rule, device, peer), its
// expiry a length counted from now, the time of the analyst's action, as
// the API's expires_in is (the alert service refuses an expiry in the
// past, which a length counted from an old incident would give).
func (c *Component) suppressionFromForm(r *http.Request, id string) (alerts.SuppressionSpec, error) {
	inc, ok := c.deps.Alerts.Incident(id)
	if !ok {
		return alerts.SuppressionSpec{}, fmt.Errorf("no incident %q", id)
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		return alerts.SuppressionSpec{}, errors.New("a suppression needs a reason: say why these alerts are expected")
	}
	s := alerts.SuppressionSpec{Actor: Actor(r)}
	s.Reason = reason
	s.Owner = strings.TrimSpace(r.PostFormValue("owner"))
	if s.Owner == "" {
		s.Owner = s.Actor
	}
	scope := r.PostForm["scope"]
	for _, part := range scope {
		switch part {
		case "rule":
			s.Rule = inc.Rule
		case "device":
			s.Device = inc.Device.Key
		case "peer":
			s.Peer = inc.PeerKey
		default:
			return alerts.SuppressionSpec{}, fmt.Errorf("scope %q: want rule, device or peer", part)
		}
	}
	if s.Rule == "" && s.Device == "" && s.Peer == "" {
		return alerts.SuppressionSpec{}, errors.New("a suppression needs a scope: tick the rule, the device or the peer")
	}
	switch exp := r.PostFormValue("expires"); exp {
	case "never":
	case "":
		return alerts.SuppressionSpec{}, errors.New("a suppression needs an expiry (or never)")
	default:
		d, err := time.ParseDuration(exp)
		if err != nil || d <= 0 {
			return alerts.SuppressionSpec{}, fmt.Errorf("expires %q: want a duration such as 24h, or never", exp)
		}
		s.Expires = c.deps.Now().Add(d)
	}
	return s, nil
}

func (c *Component) unsuppress(w http.ResponseWriter, r *http.Request) {
	to := returnTo(r, "/alerts")
	if c.deps.Alerts == nil {
		back(w, r, to, "", errors.New("alerts are not available"))
		return
	}
	err := c.deps.Alerts.Unsuppress(r.Context(), r.PathValue("id"), alerts.Action{Actor: Actor(r), Note: r.PostFormValue("note")})
	back(w, r, to, "Suppression removed.", err)
}

// alertsLive streams alert updates to the alerts page as server-sent
// events; the page refreshes its list on each. It ends when the client
// goes, the server stops, or the feed drops a slow reader (the browser
// then reconnects and reads the current state).
func (c *Component) alertsLive(w http.ResponseWriter, r *http.Request) {
	if c.deps.Alerts == nil {
		http.Error(w, "alerts are not available", http.StatusNotFound)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	ctx := r.Context()
	updates := c.deps.Alerts.Watch(ctx, events.SeverityInfo)
	fmt.Fprint(w, "retry: 3000\n: connected\n\n")
	fl.Flush()
	tick := time.NewTicker(20 * time.Second)
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
				return
			}
			b, err := json.Marshal(u)
			if err != nil {
				continue
			}
			fmt.Fprintf(w, "event: update\nid: %d\ndata: %s\n\n", u.Seq, b)
			fl.Flush()
		}
	}
}
