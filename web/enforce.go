package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/vigil-health/vigil/enforce"
)

// enforceRoutes serves the JSON API of the enforcement engine
// (enforce.Service), which `vigil enforce` and the dashboard share. The
// pages are in enforcepages.go. Changes are POSTs that record who acted:
// the authenticated user, or on a server without users the body's actor.
func (c *Component) enforceRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/enforcement/status", c.apiEnforceStatus)
	mux.HandleFunc("GET /api/v1/enforcement/blocks", c.apiEnforceBlocks)
	mux.HandleFunc("GET /api/v1/enforcement/blocks/{id}", c.apiEnforceBlock)
	mux.HandleFunc("GET /api/v1/enforcement/plan", c.apiEnforcePlan)
	mux.HandleFunc("POST /api/v1/enforcement/blocks/{id}/{action}", c.apiEnforceAction)
	mux.HandleFunc("POST /api/v1/enforcement/kill-switch", c.apiEnforceKillSwitch)
}

// EnforceAction is the body of POST /api/v1/enforcement/blocks/{id}/approve
// and .../revoke.
type EnforceAction struct {
	Actor string `json:"actor"`
	Note  string `json:"note"`
}

// KillSwitchRequest is the body of POST /api/v1/enforcement/kill-switch.
type KillSwitchRequest struct {
	On    bool   `json:"on"`
	Actor string `json:"actor"`
}

// enforceStatusCode maps the engine's errors to HTTP status codes.
func enforceStatusCode(err error) int {
	switch {
	case errors.Is(err, enforce.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, enforce.ErrState), errors.Is(err, enforce.ErrKillSwitchForced):
		return http.StatusConflict
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

func (c *Component) enforceAvailable(w http.ResponseWriter) bool {
	if c.deps.Enforce == nil {
		c.fail(w, http.StatusNotFound, "enforcement not available")
		return false
	}
	return true
}

func (c *Component) apiEnforceStatus(w http.ResponseWriter, _ *http.Request) {
	if c.enforceAvailable(w) {
		c.json(w, http.StatusOK, c.deps.Enforce.Status())
	}
}

// apiEnforceBlocks: GET /api/v1/enforcement/blocks[?state=pending|active|...]
func (c *Component) apiEnforceBlocks(w http.ResponseWriter, r *http.Request) {
	if !c.enforceAvailable(w) {
		return
	}
	state := enforce.State(r.URL.Query().Get("state"))
	var blocks []enforce.Block
	var err error
	if state == enforce.StatePending {
		blocks, err = c.deps.Enforce.Pending(r.Context())
	} else {
		blocks, err = c.deps.Enforce.Desired(r.Context())
	}
	if err != nil {
		c.fail(w, enforceStatusCode(err), err.Error())
		return
	}
	switch state {
	case "", enforce.StatePending:
	case enforce.StateAwaiting, enforce.StateActive, enforce.StateExpired, enforce.StateRevoked, enforce.StateRejected:
		kept := blocks[:0]
		for _, b := range blocks {
			if b.State == state {
				kept = append(kept, b)
			}
		}
		blocks = kept
	default:
		c.fail(w, http.StatusBadRequest, fmt.Sprintf("state %q: want awaiting, pending, active, expired, revoked or rejected", state))
		return
	}
	c.json(w, http.StatusOK, blocks)
}

func (c *Component) apiEnforceBlock(w http.ResponseWriter, r *http.Request) {
	if !c.enforceAvailable(w) {
		return
	}
	b, err := c.deps.Enforce.Block(r.Context(), r.PathValue("id"))
	if err != nil {
		c.fail(w, enforceStatusCode(err), err.Error())
		return
	}
	c.json(w, http.StatusOK, b)
}

func (c *Component) apiEnforcePlan(w http.ResponseWriter, r *http.Request) {
	if !c.enforceAvailable(w) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	plan, err := c.deps.Enforce.Plan(ctx)
	if err != nil {
		c.fail(w, enforceStatusCode(err), err.Error())
		return
	}
	if plan == nil {
		plan = []enforce.Change{}
	}
	c.json(w, http.StatusOK, plan)
}

// decodeStrict reads a small JSON body, refusing unknown fields; an
// empty body is the zero value.
func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

// apiEnforceAction: POST /api/v1/enforcement/blocks/{id}/{approve|revoke}
// with {"actor": ..., "note": ...}.
func (c *Component) apiEnforceAction(w http.ResponseWriter, r *http.Request) {
	if !c.enforceAvailable(w) {
		return
	}
	var body EnforceAction
	if err := decodeStrict(r, &body); err != nil {
		c.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	who := actor(r, body.Actor)
	if who == "" {
		c.fail(w, http.StatusBadRequest, "actor: required (who approves or revokes)")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	id := r.PathValue("id")
	var b enforce.Block
	var err error
	switch r.PathValue("action") {
	case "approve":
		b, err = c.deps.Enforce.Approve(ctx, id, who, body.Note)
	case "revoke":
		b, err = c.deps.Enforce.Revoke(ctx, id, who, body.Note)
	default:
		c.fail(w, http.StatusNotFound, fmt.Sprintf("action %q: want approve or revoke", r.PathValue("action")))
		return
	}
	c.deps.Logger.Info("enforcement", "action", r.PathValue("action"), "block", id, "actor", who, "err", err)
	if err != nil {
		c.fail(w, enforceStatusCode(err), err.Error())
		return
	}
	c.json(w, http.StatusOK, b)
}

// apiEnforceKillSwitch: POST /api/v1/enforcement/kill-switch with
// {"on": true, "actor": ...}; answers with the status.
func (c *Component) apiEnforceKillSwitch(w http.ResponseWriter, r *http.Request) {
	if !c.enforceAvailable(w) {
		return
	}
	var body KillSwitchRequest
	if err := decodeStrict(r, &body); err != nil {
		c.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	who := actor(r, body.Actor)
	if who == "" {
		c.fail(w, http.StatusBadRequest, "actor: required (who turns the kill switch)")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	err := c.deps.Enforce.SetKillSwitch(ctx, body.On, who)
	c.deps.Logger.Warn("kill switch", "on", body.On, "actor", who, "err", err)
	if err != nil {
		c.fail(w, enforceStatusCode(err), err.Error())
		return
	}
	c.json(w, http.StatusOK, c.deps.Enforce.Status())
}
