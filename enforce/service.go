package enforce

import (
	"context"
	"errors"
	"time"

	"github.com/vigil-health/vigil/events"
)

// State is where a block is in its life.
type State string

// Block states.
const (
	// StateAwaiting: the decision asked for the block and its alert, which
	// carries the device snapshot the gate needs, has not arrived yet.
	StateAwaiting State = "awaiting"
	// StatePending: a gate rule holds the block until a person approves it
	// (Approve); Gate says which rules.
	StatePending State = "pending"
	// StateActive: approved, by the gate or by a person; enforced until
	// Expires unless the block is a dry run or the kill switch is on.
	StateActive State = "active"
	// StateExpired: its end (event time) passed; removed everywhere.
	StateExpired State = "expired"
	// StateRevoked: a person ended it (Revoke); removed everywhere.
	StateRevoked State = "revoked"
	// StateRejected: the request cannot be enforced as written (an address
	// that does not parse, a pair of IPv4 and IPv6); Gate says why.
	StateRejected State = "rejected"
)

// Block is one entry of the desired set, as the KV bucket holds it: what a
// policy asked for, what the gate made of it, and who changed it since.
type Block struct {
	// ID is derived from the decision and the request, so a redelivered
	// decision finds its block instead of adding another ("req-" and 16
	// hex digits).
	ID    string            `json:"id"`
	State State             `json:"state"`
	Scope events.BlockScope `json:"scope"`
	// Requested is the scope the policy asked for when the gate narrowed
	// it (isolating a medical device became blocking one peer).
	Requested *events.BlockScope `json:"requested,omitempty"`
	// Created is the decision's event time, Expires Created+DurationS.
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	DurationS int64     `json:"duration_s"`
	// Reason is the policy's reason for the block.
	Reason string `json:"reason"`
	// Device is the device key of the decision; Snapshot what the alert
	// said of the device (classification included), absent when the
	// decision raised no alert.
	Device   string                 `json:"device"`
	Snapshot *events.DeviceSnapshot `json:"snapshot,omitempty"`
	// DecisionID and AlertID are the cause.
	DecisionID string `json:"decision_id"`
	AlertID    string `json:"alert_id,omitempty"`
	// DryRun is fixed when the block is requested: a block requested in
	// dry-run is never applied, even after dry-run is turned off.
	DryRun bool `json:"dry_run"`
	// Gate explains the gate's decision: the rules that held, narrowed or
	// passed the block, one sentence each. Verdict is what the gate
	// decided (active, pending or rejected) and Judged when (event time),
	// whatever happened to the block since.
	Gate    []string  `json:"gate"`
	Verdict State     `json:"verdict,omitempty"`
	Judged  time.Time `json:"judged,omitzero"`
	// History lists what people did to the block (approve, revoke).
	History []Action `json:"history,omitempty"`
}

// Action is a change a person made to a block or to the kill switch.
type Action struct {
	// Step is approved or revoked (for the kill switch: "kill_switch_on"
	// or "kill_switch_off").
	Step  string    `json:"step"`
	Actor string    `json:"actor"`
	Note  string    `json:"note,omitempty"`
	Time  time.Time `json:"time"`
}

// BackendStatus compares what one enforcement point should hold with what
// it holds.
type BackendStatus struct {
	Name string `json:"name"`
	// Desired counts the blocks it should hold now (active, not expired,
	// not dry-run, a scope it supports, kill switch off); Actual what it
	// reported holding at the last reconciliation (-1 when it cannot
	// report: ErrActualUnknown).
	Desired int `json:"desired"`
	Actual  int `json:"actual"`
	// Unsupported counts active blocks whose scope it cannot enforce.
	Unsupported int `json:"unsupported"`
	// Drifted counts entries found removed or added behind Vigil's back
	// since start; Applied and Removed what the reconciler changed.
	Drifted uint64 `json:"drifted"`
	Applied uint64 `json:"applied"`
	Removed uint64 `json:"removed"`
	// LastReconcile is the wall-clock time of the last successful pass;
	// LastError the last failure (empty when the last pass succeeded),
	// Failures the consecutive failures and NextRetry when the next try
	// is due (the backoff doubles up to the configured maximum).
	LastReconcile time.Time `json:"last_reconcile,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
	Failures      int       `json:"failures"`
	NextRetry     time.Time `json:"next_retry,omitzero"`
}

// Status is the state of enforcement as a whole.
type Status struct {
	// DryRun is the configured default for new requests.
	DryRun bool `json:"dry_run"`
	// KillSwitch is true when nothing is enforced; KillSwitchBy says who
	// turned it on (or "configuration").
	KillSwitch   bool   `json:"kill_switch"`
	KillSwitchBy string `json:"kill_switch_by,omitempty"`
	// Clock is the enforcement clock: the later of the latest event time
	// seen and the wall clock (see docs/enforcement.md).
	Clock time.Time `json:"clock"`
	// States counts the blocks of the desired set by state.
	States map[State]int `json:"states"`
	// RateLimit describes the limit ("10 per 1m0s, burst 20" or "off");
	// RateTokens is how many new blocks it lets through now.
	RateLimit  string          `json:"rate_limit"`
	RateTokens float64         `json:"rate_tokens"`
	Backends   []BackendStatus `json:"backends"`
}

// Change is one difference a reconciliation would apply to a backend.
type Change struct {
	Backend string `json:"backend"`
	// Op is "add" or "remove".
	Op    string `json:"op"`
	Entry Entry  `json:"entry"`
	// Why says why: "desired, missing", "expired", "revoked", "not Vigil's
	// desired set", "kill switch on".
	Why string `json:"why"`
}

// Service is what the web API and the CLI (through the API) use of the
// enforcement engine. The Component implements it.
type Service interface {
	// Desired returns every block of the desired set, newest first.
	Desired(ctx context.Context) ([]Block, error)
	// Pending returns the blocks waiting for a person's approval.
	Pending(ctx context.Context) ([]Block, error)
	// Block returns one block by ID (ErrNotFound when unknown).
	Block(ctx context.Context, id string) (Block, error)
	// Plan returns what the next reconciliation would change on every
	// backend, without changing anything (also in dry-run: what would be
	// applied if the blocks were not dry runs is listed with Why
	// "dry run").
	Plan(ctx context.Context) ([]Change, error)
	// Status returns the counts and the health of every backend.
	Status() Status
	// Approve lets a pending block be enforced; actor is required and is
	// recorded with the note in the block's history and in the approved
	// event. Approving a block that is not pending is ErrState.
	Approve(ctx context.Context, id, actor, note string) (Block, error)
	// Revoke ends a pending or active block now; it is removed from every
	// backend at the next reconciliation (triggered at once).
	Revoke(ctx context.Context, id, actor, note string) (Block, error)
	// SetKillSwitch turns enforcement off (on=true: every backend is
	// emptied of Vigil's entries and nothing new is applied) or back on.
	// The switch is persisted, so a restart keeps it. Turning it off is
	// refused while the configuration forces it on.
	SetKillSwitch(ctx context.Context, on bool, actor string) error
}

var _ Service = (*Component)(nil)

// Errors callers branch on (the web API maps them to 404 and 409).
var (
	ErrNotFound = errors.New("no such block")
	ErrState    = errors.New("block is not in a state that allows this")
	// ErrKillSwitchForced refuses to turn off a kill switch that the
	// configuration (enforce.kill_switch) holds on.
	ErrKillSwitchForced = errors.New("kill switch forced on by the configuration (enforce.kill_switch)")
)
