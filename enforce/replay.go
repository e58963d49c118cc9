package enforce

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-health/vigil/events"
)

// ReplayOptions are the settings of the engine whose events are replayed
// that the events themselves do not carry.
type ReplayOptions struct {
	// RateLimit is the engine's enforce.rate_limit: the rate bucket is
	// rebuilt with it from the gate's steps. Blocks 0: no bucket.
	RateLimit RateLimitConfiguration
	// Retain is the engine's enforce.retain: a block is left out once it
	// ended more than Retain before the replay's clock, as the bucket
	// forgets it. 0 keeps every block.
	Retain time.Duration
}

// KillSwitchState is the runtime kill switch as the bucket keeps it
// (control.kill_switch).
type KillSwitchState struct {
	On    bool      `json:"on"`
	Actor string    `json:"actor"`
	Time  time.Time `json:"time"`
}

// RateState is the rate limit's token bucket as the bucket keeps it
// (control.rate): the tokens left after the last block it let through or
// held, refilled up to At (event time).
type RateState struct {
	Tokens float64   `json:"tokens"`
	At     time.Time `json:"at"`
}

// DesiredState is the desired set rebuilt from enforcement events: what
// the key-value bucket holds (Bucket gives it key by key).
type DesiredState struct {
	// Clock is the latest event time replayed: retention is counted from
	// it, never from the wall clock, so a replay gives the same state
	// whenever it runs.
	Clock time.Time `json:"clock"`
	// Blocks are newest first, as Service.Desired lists them.
	Blocks []Block `json:"blocks"`
	// KillSwitch is the runtime kill switch as last set; nil when it was
	// never set. The configuration's kill switch is not an event.
	KillSwitch *KillSwitchState `json:"kill_switch,omitempty"`
	// Rate is the rate limit's bucket; nil when the limit is off or no
	// block was requested.
	Rate *RateState `json:"rate,omitempty"`
	// Events counts the events read, copies included; Forgotten the
	// blocks left out by Retain.
	Events    int `json:"events"`
	Forgotten int `json:"forgotten"`
	// Incomplete lists, sorted, the requests whose requested step is not
	// among the events (the stream no longer holds it): they are left out
	// rather than guessed; a replay from ClickHouse has the older history.
	Incomplete []string `json:"incomplete,omitempty"`
}

// Bucket returns the keys and values of the bucket this state stands for,
// each value encoded as the engine writes it, to compare with the live
// bucket or to restore one.
func (s DesiredState) Bucket() (map[string][]byte, error) {
	out := make(map[string][]byte, len(s.Blocks)+2)
	for i := range s.Blocks {
		b, err := json.Marshal(&s.Blocks[i])
		if err != nil {
			return nil, fmt.Errorf("encode block %s: %w", s.Blocks[i].ID, err)
		}
		out[blockPrefix+s.Blocks[i].ID] = b
	}
	if s.KillSwitch != nil {
		b, err := json.Marshal(killRecord(*s.KillSwitch))
		if err != nil {
			return nil, fmt.Errorf("encode kill switch: %w", err)
		}
		out[keyKillSwitch] = b
	}
	if s.Rate != nil {
		b, err := json.Marshal(rateBucket(*s.Rate))
		if err != nil {
			return nil, fmt.Errorf("encode rate: %w", err)
		}
		out[keyRate] = b
	}
	return out, nil
}

// ReadBucket returns the keys and values of the live bucket, to compare
// with DesiredState.Bucket.
func ReadBucket(ctx context.Context, js jetstream.JetStream, bucket string) (map[string][]byte, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("enforcement bucket %s: %w", bucket, err)
	}
	keys, err := kv.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, fmt.Errorf("enforcement bucket %s: %w", bucket, err)
	}
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("enforcement bucket %s key %s: %w", bucket, k, err)
		}
		out[k] = e.Value()
	}
	return out, nil
}

// Replay rebuilds the desired set from the enforcement events of the log,
// in the order the log holds them (stream sequence), alone: no decision,
// alert or bucket is read. It is a pure function: the same events give
// the same state. See Replayer for the rules.
func Replay(evs []events.Event[events.Enforcement], opts ReplayOptions) DesiredState {
	r := NewReplayer(opts)
	for _, ev := range evs {
		r.Apply(ev)
	}
	return r.State()
}

// Replayer rebuilds the desired set one event at a time (Replay over a
// stream read in order). Each block is folded from its steps by what they
// mean, not by when they arrived: the requested step gives the request
// (created at its event time, ending DurationS later), the gate's step
// (gated or approved without an actor) the verdict, scope, snapshot and
// reasons, the steps of people (approved, revoked, with an actor) the
// history in event-time order, the expired step the end. An approval that
// reached the log before the gate's step (the API and the consumer write
// concurrently) thus changes nothing. The enforcement points' steps
// (applied, failed, drifted, and gated with a backend: the kill switch
// emptying a point) do not change the desired set and are skipped. The
// kill switch is its latest step by event time. Copies of an event (same
// ID) count once. The rate bucket is the one exception to
// order-independence: it is refilled and drawn in the order of the gate's
// steps in the log, which is the order the engine judged the blocks.
//
// Memory is the steps that change a block, not every event read: a year
// of history read from ClickHouse keeps no ID of the enforcement points'
// steps.
type Replayer struct {
	opts     ReplayOptions
	blocks   map[string]*blockSteps
	pos      int
	clock    time.Time
	kill     *stepAt
	killSeen map[string]bool
	rate     rateBucket
	// requested is set once a block was requested: the engine writes the
	// rate bucket from then on.
	requested bool
}

// stepAt is one event's ID, time and body, and its position among the
// events read.
type stepAt struct {
	id   string
	at   time.Time
	body events.Enforcement
	pos  int
}

type blockSteps struct {
	requested, gate, expired *stepAt
	people                   []stepAt
}

// NewReplayer returns an empty replayer.
func NewReplayer(opts ReplayOptions) *Replayer {
	return &Replayer{opts: opts, blocks: map[string]*blockSteps{}, killSeen: map[string]bool{}}
}

// Apply folds one enforcement event in. Copies of an event already
// applied (same ID: a re-publish after the duplicate window) change
// nothing: a block keeps its first requested, gate and expired steps, and
// a person's step or the kill switch's is taken once.
func (r *Replayer) Apply(ev events.Event[events.Enforcement]) {
	r.pos++
	if ev.Time.After(r.clock) {
		r.clock = ev.Time
	}
	b := ev.Body
	if b.Backend != "" { // an enforcement point's step
		return
	}
	at := stepAt{id: ev.ID, at: ev.Time, body: b, pos: r.pos}
	if b.RequestID == KillSwitchRequestID {
		if !r.killSeen[ev.ID] && (r.kill == nil || !ev.Time.Before(r.kill.at)) {
			r.kill = &at
		}
		r.killSeen[ev.ID] = true
		return
	}
	switch {
	case b.Step == events.StepRequested:
		r.requested = true
		if bs := r.steps(b.RequestID); bs.requested == nil {
			bs.requested = &at
		}
	case b.Actor != "" && (b.Step == events.StepApproved || b.Step == events.StepRevoked):
		if bs := r.steps(b.RequestID); !slices.ContainsFunc(bs.people, func(p stepAt) bool { return p.id == ev.ID }) {
			bs.people = append(bs.people, at)
		}
	case b.Step == events.StepGated || b.Step == events.StepApproved:
		bs := r.steps(b.RequestID)
		if bs.gate != nil {
			return
		}
		bs.gate = &at
		if r.opts.RateLimit.Blocks > 0 && reachedRateLimit(gateVerdict(b), gateReasons(b)) {
			r.rate.take(r.opts.RateLimit, ev.Time)
		}
	case b.Step == events.StepExpired:
		if bs := r.steps(b.RequestID); bs.expired == nil {
			bs.expired = &at
		}
	}
}

// steps returns the steps kept for a request, adding it when new.
func (r *Replayer) steps(id string) *blockSteps {
	bs := r.blocks[id]
	if bs == nil {
		bs = &blockSteps{}
		r.blocks[id] = bs
	}
	return bs
}

// reachedRateLimit reports whether the gate consulted the rate limit for
// a block: it does only for one that no other rule held, which then
// passed or was held by the limit alone.
func reachedRateLimit(verdict State, reasons []string) bool {
	if verdict == StateActive {
		return true
	}
	return verdict == StatePending && slices.ContainsFunc(reasons, func(s string) bool { return strings.HasPrefix(s, rateLimitReason) })
}

// rateLimitReason starts the gate's sentence for a block held by the rate
// limit (gate.judge).
const rateLimitReason = "rate limit: "

// gateVerdict is what the gate decided, from its step. Events written
// before the step carried the state say it by their step: approved is
// active; gated is pending unless the scope was invalid.
func gateVerdict(b events.Enforcement) State {
	switch {
	case b.State != "":
		return State(b.State)
	case b.Step == events.StepApproved:
		return StateActive
	case strings.HasPrefix(b.Reason, "invalid scope: "):
		return StateRejected
	}
	return StatePending
}

// gateReasons are the gate's sentences; events written before the step
// carried them have them joined in the reason.
func gateReasons(b events.Enforcement) []string {
	if b.Gate != nil || b.Reason == "" {
		return b.Gate
	}
	return strings.Split(b.Reason, "; ")
}

// personNote is the note of a person's step; events written before the
// step carried it have it in the reason, "<step> by <actor>: <note>".
func personNote(b events.Enforcement) string {
	if b.Note != "" {
		return b.Note
	}
	note, _ := strings.CutPrefix(b.Reason, string(b.Step)+" by "+b.Actor)
	note, _ = strings.CutPrefix(note, ": ")
	return note
}

// State returns the desired set rebuilt from the events applied so far.
func (r *Replayer) State() DesiredState {
	s := DesiredState{Clock: r.clock, Blocks: []Block{}, Events: r.pos}
	for id, bs := range r.blocks {
		if bs.requested == nil {
			s.Incomplete = append(s.Incomplete, id)
			continue
		}
		b, last := bs.block(id)
		if r.opts.Retain > 0 && r.clock.After(forgottenAt(&b, last, r.opts.Retain)) {
			s.Forgotten++
			continue
		}
		s.Blocks = append(s.Blocks, b)
	}
	slices.Sort(s.Incomplete)
	slices.SortFunc(s.Blocks, func(a, b Block) int { return cmp.Or(b.Created.Compare(a.Created), strings.Compare(a.ID, b.ID)) })
	if r.kill != nil {
		k := r.kill
		s.KillSwitch = &KillSwitchState{On: k.body.Step == events.StepGated, Actor: k.body.Actor, Time: k.at}
	}
	if r.opts.RateLimit.Blocks > 0 && r.requested {
		rs := RateState(r.rate)
		s.Rate = &rs
	}
	return s
}

// block folds the steps of one request into its block and returns it
// with the time of its latest step.
func (bs *blockSteps) block(id string) (Block, time.Time) {
	req := bs.requested
	rb := req.body
	b := Block{
		ID: id, State: StateAwaiting, Scope: rb.Scope,
		Created: req.at, Expires: req.at.Add(time.Duration(rb.DurationS) * time.Second), DurationS: rb.DurationS,
		Reason: rb.Reason, Device: rb.Device, DecisionID: rb.DecisionID, DryRun: rb.DryRun,
	}
	last := req.at
	if g := bs.gate; g != nil {
		b.Verdict = gateVerdict(g.body)
		b.State, b.Scope, b.Requested, b.Snapshot = b.Verdict, g.body.Scope, g.body.Requested, g.body.Snapshot
		b.AlertID, b.Gate, b.Judged = g.body.AlertID, gateReasons(g.body), g.at
		last = later(last, g.at)
	}
	people := slices.Clone(bs.people)
	slices.SortFunc(people, func(x, y stepAt) int { return cmp.Or(x.at.Compare(y.at), cmp.Compare(x.pos, y.pos)) })
	for _, p := range people {
		pb := p.body
		b.History = append(b.History, Action{Step: string(pb.Step), Actor: pb.Actor, Note: personNote(pb), Time: p.at})
		if pb.Step == events.StepRevoked {
			b.State = StateRevoked
		} else if b.State != StateRevoked {
			b.State = StateActive
		}
		last = later(last, p.at)
	}
	if bs.expired != nil && b.State != StateRevoked {
		b.State = StateExpired
		last = later(last, bs.expired.at)
	}
	return b, last
}

// forgottenAt is when the bucket forgets a block, in event time: each
// write gives its key the TTL of the block's remaining time plus retain
// (a revocation: retain alone), so the block goes retain after its end or
// after its last change, whichever is later.
func forgottenAt(b *Block, last time.Time, retain time.Duration) time.Time {
	if b.State == StateRevoked {
		return last.Add(retain)
	}
	return later(b.Expires, last).Add(retain)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
