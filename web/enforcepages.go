package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/vigil-health/vigil/enforce"
)

// The enforcement page: the state of enforcement, the blocks waiting for
// a person's approval, and the desired set, through enforce.Service. An
// approval, a revocation and the kill switch record who acted. The JSON
// routes of the enforcement API are in enforce.go.

func (c *Component) enforcementPageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /enforcement", c.enforcementPage)
	mux.HandleFunc("POST /enforcement/kill-switch", c.killSwitch)
	mux.HandleFunc("POST /enforcement/{id}/{action}", c.blockAction)
}

// enforcementView is the enforcement page's data.
type enforcementView struct {
	Available bool
	Status    enforce.Status
	Pending   []enforce.Block
	Desired   []enforce.Block
	Error     string
	CanAct    bool
	// Active counts the active blocks.
	Active int
	// Names give the inventory's name of each block's device key.
	Names map[string]string
	IDs   map[string]string
	Crits map[string]string
}

func (c *Component) enforcementPage(w http.ResponseWriter, r *http.Request) {
	v := enforcementView{Available: c.deps.Enforce != nil, Names: map[string]string{}, IDs: map[string]string{}, Crits: map[string]string{}}
	p, _ := PrincipalOf(r)
	v.CanAct = p.Can(RoleAdmin)
	if v.Available {
		ctx := r.Context()
		v.Status = c.deps.Enforce.Status()
		v.Active = v.Status.States[enforce.StateActive]
		var err error
		var all []enforce.Block
		if v.Pending, err = c.deps.Enforce.Pending(ctx); err == nil {
			all, err = c.deps.Enforce.Desired(ctx)
		}
		for _, b := range all {
			if b.State != enforce.StatePending { // listed above
				v.Desired = append(v.Desired, b)
			}
		}
		if err != nil {
			v.Error = err.Error()
		}
		for _, b := range append(append([]enforce.Block{}, v.Pending...), v.Desired...) {
			if d, ok := c.byKey(b.Device); ok {
				v.Names[b.Device], v.IDs[b.Device], v.Crits[b.Device] = deviceName(d), d.ID, string(d.Classification.Criticality)
			} else if b.Snapshot != nil {
				v.Crits[b.Device] = b.Snapshot.Criticality
			}
		}
	}
	c.page(w, r, http.StatusOK, "enforcement", "Enforcement", v)
}

func (c *Component) blockAction(w http.ResponseWriter, r *http.Request) {
	to := returnTo(r, "/enforcement")
	if c.deps.Enforce == nil {
		back(w, r, to, "", errors.New("enforcement is not available"))
		return
	}
	id, note, actor := r.PathValue("id"), strings.TrimSpace(r.PostFormValue("note")), Actor(r)
	var err error
	var msg string
	switch r.PathValue("action") {
	case "approve":
		_, err = c.deps.Enforce.Approve(r.Context(), id, actor, note)
		msg = "Block " + id + " approved."
	case "revoke":
		_, err = c.deps.Enforce.Revoke(r.Context(), id, actor, note)
		msg = "Block " + id + " revoked."
	default:
		http.Error(w, fmt.Sprintf("unknown action %q: want approve or revoke", r.PathValue("action")), http.StatusNotFound)
		return
	}
	if err != nil {
		err = fmt.Errorf("%s %s: %w", r.PathValue("action"), id, err)
	}
	c.deps.Logger.Info("enforcement", "action", r.PathValue("action"), "block", id, "actor", actor, "err", err)
	back(w, r, to, msg, err)
}

func (c *Component) killSwitch(w http.ResponseWriter, r *http.Request) {
	to := returnTo(r, "/enforcement")
	if c.deps.Enforce == nil {
		back(w, r, to, "", errors.New("enforcement is not available"))
		return
	}
	var on bool
	switch r.PostFormValue("state") {
	case "on":
		on = true
	case "off":
	default:
		back(w, r, to, "", fmt.Errorf("kill switch state %q: want on or off", r.PostFormValue("state")))
		return
	}
	err := c.deps.Enforce.SetKillSwitch(r.Context(), on, Actor(r))
	c.deps.Logger.Warn("kill switch", "on", on, "actor", Actor(r), "err", err)
	msg := "Kill switch off: enforcement resumes."
	if on {
		msg = "Kill switch on: nothing is enforced."
	}
	back(w, r, to, msg, err)
}
