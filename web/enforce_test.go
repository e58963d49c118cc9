package web

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vigil-health/vigil/enforce"
)

// stubEnforce is an enforcement engine with one pending block, recording
// the last action.
type stubEnforce struct {
	enforce.Service
	actor, note string
}

func (s *stubEnforce) Status() enforce.Status { return enforce.Status{DryRun: true} }
func (s *stubEnforce) Desired(context.Context) ([]enforce.Block, error) {
	return []enforce.Block{{ID: "req-1", State: enforce.StatePending}, {ID: "req-2", State: enforce.StateActive}}, nil
}
func (s *stubEnforce) Pending(context.Context) ([]enforce.Block, error) {
	return []enforce.Block{{ID: "req-1", State: enforce.StatePending}}, nil
}
func (s *stubEnforce) Approve(_ context.Context, id, actor, note string) (enforce.Block, error) {
	if id != "req-1" {
		return enforce.Block{}, enforce.ErrNotFound
	}
	s.actor, s.note = actor, note
	return enforce.Block{ID: id, State: enforce.StateActive}, nil
}

func TestEnforceRoutes(t *testing.T) {
	stub := &stubEnforce{}
	c, err := New(Configuration{Listen: "127.0.0.1:0"}, Dependencies{Enforce: stub})
	if err != nil {
		t.Fatal(err)
	}
	none, err := New(Configuration{Listen: "127.0.0.1:0"}, Dependencies{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, path, body string
		server                   *Component
		code                     int
		want                     string
	}{
		{"status", "GET", "/api/v1/enforcement/status", "", c, 200, `"dry_run": true`},
		{"active only", "GET", "/api/v1/enforcement/blocks?state=active", "", c, 200, `"req-2"`},
		{"unknown state", "GET", "/api/v1/enforcement/blocks?state=sleeping", "", c, 400, "want awaiting"},
		{"approve", "POST", "/api/v1/enforcement/blocks/req-1/approve", `{"actor":"nurse","note":"ok"}`, c, 200, `"active"`},
		{"approve unknown", "POST", "/api/v1/enforcement/blocks/req-9/approve", `{"actor":"nurse"}`, c, 404, "no such block"},
		{"unknown field", "POST", "/api/v1/enforcement/blocks/req-1/approve", `{"who":"nurse"}`, c, 400, "unknown field"},
		{"unknown action", "POST", "/api/v1/enforcement/blocks/req-1/block", `{}`, c, 404, "want approve or revoke"},
		{"not available", "GET", "/api/v1/enforcement/status", "", none, 404, "enforcement not available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://127.0.0.1"+tc.path, strings.NewReader(tc.body))
			req.RemoteAddr = "127.0.0.1:5555"
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			tc.server.Handler().ServeHTTP(rec, req)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
				t.Fatalf("%s %s: %d %s, want %d with %q", tc.method, tc.path, rec.Code, rec.Body.String(), tc.code, tc.want)
			}
		})
	}
	if stub.note != "ok" || stub.actor == "" {
		t.Errorf("approval recorded actor %q note %q", stub.actor, stub.note)
	}
}
