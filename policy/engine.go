package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	opa "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/vigil-health/vigil/events"
)

// InvalidOutputTag is added to an alert the engine had to repair because
// the policy produced it malformed (see Evaluate).
const InvalidOutputTag = "vigil:invalid-policy-output"

// InvalidOutputRule names the alert raised for a policy output that is not
// an object at all.
const InvalidOutputRule = "vigil.invalid_policy_output"

// policySet is one compiled generation of the policies. It is immutable
// once built, so evaluations share it without locks.
type policySet struct {
	revision string
	files    []string
	query    opa.PreparedEvalQuery
	// edge is the prepared query of EdgeQuery, nil when no policy
	// defines edge alerts (edge.go).
	edge *opa.PreparedEvalQuery
}

// Engine evaluates deviations against a compiled policy set. Evaluate is
// safe for concurrent use; Reload swaps the set atomically.
type Engine struct {
	cfg    Configuration
	source events.Source
	// library is the shipped part of the sources and settings the
	// canonical settings: both fixed for the engine's life, read once.
	library  []source
	settings []byte

	reloading sync.Mutex // serialises Reload
	current   atomic.Pointer[policySet]

	edges edgeCache // edges decided under the revision in use (edge.go)
}

// NewEngine reads, parses and compiles the configured policies. An invalid
// policy set is an Errors naming every file:row:col. Decisions and alerts
// are produced with src as their source (its Component is set to
// "policy").
func NewEngine(ctx context.Context, cfg Configuration, src events.Source) (*Engine, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("policy configuration: %w", errors.Join(errs...))
	}
	src.Component = "policy"
	lib, err := librarySources(cfg.Builtin, false)
	if err != nil {
		return nil, err
	}
	settings, err := canonicalSettings(cfg.Settings)
	if err != nil {
		return nil, fmt.Errorf("load policies: %w", err)
	}
	e := &Engine{cfg: cfg, source: src, library: lib, settings: settings}
	if err := e.Reload(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// Revision is the revision of the policy set in use: a short SHA-256 over
// the file names, their contents and the settings.
func (e *Engine) Revision() string {
	if s := e.current.Load(); s != nil {
		return s.revision
	}
	return ""
}

// Files lists the policy files in use, sorted; shipped files start with
// "builtin:".
func (e *Engine) Files() []string {
	if s := e.current.Load(); s != nil {
		return slices.Clone(s.files)
	}
	return nil
}

// Reload reads the policy directory again and, when the revision changed,
// compiles the policies fully and swaps the new set in. On any error the
// set in use is kept and the error returned.
func (e *Engine) Reload(ctx context.Context) error {
	e.reloading.Lock()
	defer e.reloading.Unlock()
	srcs, err := withDirSources(e.library, []string{e.cfg.Dir}, false)
	if err != nil {
		return err
	}
	rev := revision(srcs, e.settings)
	if cur := e.current.Load(); cur != nil && cur.revision == rev {
		return nil
	}
	set, err := compile(ctx, e.cfg.Query, srcs, e.settings, rev)
	if err != nil {
		return err
	}
	e.current.Store(set)
	return nil
}

// compile parses and compiles srcs once and prepares the query.
func compile(ctx context.Context, query string, srcs []source, settings []byte, rev string) (*policySet, error) {
	modules, err := parseSources(srcs)
	if err != nil {
		return nil, err
	}
	compiler := newCompiler(false)
	if compiler.Compile(modules); compiler.Failed() {
		return nil, convertErrors(compiler.Errors)
	}
	ref, err := queryRef(query)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	alertsRef := ref.Append(ast.InternedTerm("alerts"))
	enforceRef := ref.Append(ast.InternedTerm("enforce"))
	if len(compiler.GetRules(alertsRef)) == 0 {
		return nil, Errors{{Message: fmt.Sprintf("no policy defines %s", alertsRef)}}
	}
	q := fmt.Sprintf("alerts = %s", alertsRef)
	if len(compiler.GetRules(enforceRef)) > 0 {
		q += fmt.Sprintf("; enforce = %s", enforceRef)
	}
	var store storage.Store = inmem.New()
	if settings != nil {
		doc, err := decodeSettings(settings)
		if err != nil {
			return nil, fmt.Errorf("load policies: %w", err)
		}
		store = inmem.NewFromObject(map[string]any{"vigil": map[string]any{"settings": doc}})
	}
	pq, err := opa.New(
		opa.Compiler(compiler),
		opa.Store(store),
		opa.Query(q),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare policy query: %w", err)
	}
	files := make([]string, len(srcs))
	for i, s := range srcs {
		files[i] = s.name
	}
	set := &policySet{revision: rev, files: files, query: pq}
	edgeRef, _ := queryRef(EdgeQuery)
	if len(compiler.GetRules(edgeRef.Append(ast.InternedTerm("alerts")))) > 0 ||
		len(compiler.GetRules(edgeRef.Append(ast.InternedTerm("enforce")))) > 0 {
		eq := "alerts = " + EdgeQuery + ".alerts"
		if len(compiler.GetRules(edgeRef.Append(ast.InternedTerm("enforce")))) > 0 {
			eq += "; enforce = " + EdgeQuery + ".enforce"
		}
		if len(compiler.GetRules(edgeRef.Append(ast.InternedTerm("alerts")))) == 0 {
			eq = "enforce = " + EdgeQuery + ".enforce"
		}
		epq, err := opa.New(opa.Compiler(compiler), opa.Store(store), opa.Query(eq)).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("prepare edge policy query: %w", err)
		}
		set.edge = &epq
	}
	return set, nil
}

// Evaluate runs the policies over one deviation. The input document is the
// deviation event exactly as Encode writes it; the decision records its
// SHA-256, the policy revision, how many alerts were raised and the
// enforcement requests. Decision and alerts carry the deviation's event
// time, so evaluating the same deviation with the same revision gives the
// same events, byte for byte.
//
// A policy that fails to evaluate is not an error of Evaluate: the decision
// records the failure and no alert is raised. Malformed policy output is
// never dropped silently: an alert with a missing rule or title, an unknown
// severity or a wrong field type is raised anyway, repaired (severity
// medium, tag InvalidOutputTag), and the decision's Error lists the
// problems; an enforcement request that is malformed is not passed on
// (a block must be exact) and is listed in the decision's Error too.
//
// The error is set only when the deviation cannot be encoded, no policy set
// is loaded, or ctx ended: then nothing was decided and the caller retries.
func (e *Engine) Evaluate(ctx context.Context, ev events.Event[events.Deviation]) (events.Event[events.Decision], []events.Event[events.Alert], error) {
	if err := ctx.Err(); err != nil {
		return events.Event[events.Decision]{}, nil, fmt.Errorf("evaluate: %w", err)
	}
	set := e.current.Load()
	if set == nil {
		return events.Event[events.Decision]{}, nil, errors.New("evaluate: no policy loaded")
	}
	payload, err := ev.Encode()
	if err != nil {
		return events.Event[events.Decision]{}, nil, fmt.Errorf("evaluate: encode input: %w", err)
	}
	sum := sha256.Sum256(payload)
	dec := events.Decision{
		Query:     e.cfg.Query,
		Revision:  set.revision,
		InputKind: ev.Kind,
		InputID:   ev.ID,
		InputHash: hex.EncodeToString(sum[:]),
		Device:    ev.Body.Device.Key,
	}

	alerts, enforce, problems, err := e.decide(ctx, set.query, e.cfg.Query, payload)
	if err != nil {
		return events.Event[events.Decision]{}, nil, err
	}
	dec.Enforce = enforce
	dec.Alerts = len(alerts)
	dec.Error = strings.Join(problems, "; ")

	decEv, err := events.NewEvent(ev.Time, e.source, dec)
	if err != nil {
		return events.Event[events.Decision]{}, nil, fmt.Errorf("evaluate: %w", err)
	}
	out := make([]events.Event[events.Alert], 0, len(alerts))
	for _, a := range alerts {
		a.Device = cloneDevice(ev.Body.Device)
		if ev.Body.Peer != nil {
			p := *ev.Body.Peer
			a.Peer = &p
		}
		a.DeviationID = ev.ID
		a.DecisionID = decEv.ID
		a.PolicyRevision = set.revision
		alertEv, err := events.NewEvent(ev.Time, e.source, a)
		if err != nil {
			return events.Event[events.Decision]{}, nil, fmt.Errorf("evaluate: %w", err)
		}
		out = append(out, alertEv)
	}
	return decEv, out, nil
}

// decide evaluates one prepared query over an encoded input and returns
// the alerts (repaired, sorted), the valid enforcement requests (sorted,
// without duplicates) and the problems met. The error is set only when
// ctx ended: nothing was decided.
func (e *Engine) decide(ctx context.Context, pq opa.PreparedEvalQuery, query string, payload []byte) ([]events.Alert, []events.EnforceRequest, []string, error) {
	var (
		rawAlerts, rawEnforce []any
		problems              []string
	)
	input, err := inputValue(payload)
	if err != nil {
		problems = append(problems, err.Error())
	} else {
		var builtinErrs []topdown.Error
		rs, err := pq.Eval(ctx, opa.EvalParsedInput(input), opa.EvalBuiltinErrorList(&builtinErrs))
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, nil, nil, fmt.Errorf("evaluate: %w", ctx.Err())
		case err != nil:
			problems = append(problems, "evaluation failed: "+err.Error())
		case len(rs) == 0:
			problems = append(problems, fmt.Sprintf("evaluation failed: %s.alerts is undefined", query))
		default:
			var p []string
			rawAlerts, p = collection(rs[0].Bindings, "alerts", query)
			problems = append(problems, p...)
			rawEnforce, p = collection(rs[0].Bindings, "enforce", query)
			problems = append(problems, p...)
		}
		for _, be := range builtinErrs {
			problems = append(problems, "builtin error: "+be.Error())
		}
	}

	alerts := make([]events.Alert, 0, len(rawAlerts))
	for _, raw := range rawAlerts {
		a, p := parseAlert(raw)
		alerts = append(alerts, a)
		problems = append(problems, p...)
	}
	slices.SortFunc(alerts, compareAlerts)
	var enforce []events.EnforceRequest
	for _, raw := range rawEnforce {
		req, err := parseEnforce(raw)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		enforce = append(enforce, req)
	}
	slices.SortFunc(enforce, compareEnforce)
	enforce = slices.CompactFunc(enforce, func(a, b events.EnforceRequest) bool { return compareEnforce(a, b) == 0 })
	return alerts, enforce, problems, nil
}

// collection reads one result set binding, which must be a set (or an
// array); anything else is reported and raised as one invalid element so
// that it is not lost.
func collection(b opa.Vars, name, query string) ([]any, []string) {
	v, present := b[name]
	if !present {
		return nil, nil
	}
	if list, ok := v.([]any); ok {
		return list, nil
	}
	return []any{v}, []string{fmt.Sprintf("%s.%s is not a set: %s", query, name, compactJSON(v))}
}

// inputValue decodes the encoded event into OPA's value, numbers kept
// exact.
func inputValue(payload []byte) (ast.Value, error) {
	var doc any
	if err := util.UnmarshalJSON(payload, &doc); err != nil {
		return nil, fmt.Errorf("decode input: %w", err)
	}
	v, err := ast.InterfaceToValue(doc)
	if err != nil {
		return nil, fmt.Errorf("decode input: %w", err)
	}
	return v, nil
}

var severities = map[events.Severity]bool{
	events.SeverityInfo: true, events.SeverityLow: true, events.SeverityMedium: true,
	events.SeverityHigh: true, events.SeverityCritical: true,
}

// parseAlert turns one element of the alerts set into an Alert, repairing
// what is malformed and describing each repair.
func parseAlert(raw any) (events.Alert, []string) {
	obj, ok := raw.(map[string]any)
	if !ok {
		return events.Alert{
			Rule:        InvalidOutputRule,
			Severity:    events.SeverityMedium,
			Title:       "Policy produced an alert that is not an object",
			Description: "Policy output: " + compactJSON(raw),
			Tags:        []string{InvalidOutputTag},
		}, []string{"alert is not an object: " + compactJSON(raw)}
	}
	var (
		a        events.Alert
		problems []string
	)
	str := func(key string) (string, bool) {
		v, present := obj[key]
		if !present {
			return "", true
		}
		s, ok := v.(string)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is not a string: %s", key, compactJSON(v)))
		}
		return s, ok
	}
	a.Rule, _ = str("rule")
	if a.Rule == "" {
		problems = append(problems, "missing rule")
		a.Rule = "unknown"
	}
	a.Title, _ = str("title")
	if a.Title == "" {
		problems = append(problems, "missing title")
		a.Title = "Alert from policy rule " + a.Rule
	}
	sev, _ := str("severity")
	a.Severity = events.Severity(sev)
	if !severities[a.Severity] {
		problems = append(problems, fmt.Sprintf("unknown severity %q raised as medium", sev))
		a.Severity = events.SeverityMedium
	}
	a.Description, _ = str("description")
	if tags, present := obj["tags"]; present {
		list, ok := tags.([]any)
		if !ok {
			problems = append(problems, "tags is not an array: "+compactJSON(tags))
		}
		for _, t := range list {
			s, ok := t.(string)
			if !ok {
				problems = append(problems, "tag is not a string: "+compactJSON(t))
				continue
			}
			a.Tags = append(a.Tags, s)
		}
	}
	if len(problems) > 0 {
		a.Tags = append(a.Tags, InvalidOutputTag)
		for i, p := range problems {
			problems[i] = fmt.Sprintf("alert %s: %s", a.Rule, p)
		}
	}
	slices.Sort(a.Tags)
	a.Tags = slices.Compact(a.Tags)
	return a, problems
}

// parseEnforce validates one element of the enforce set. A request must
// name a scope, a positive duration and a reason.
func parseEnforce(raw any) (events.EnforceRequest, error) {
	fail := func(why string) (events.EnforceRequest, error) {
		return events.EnforceRequest{}, fmt.Errorf("enforce request dropped: %s: %s", why, compactJSON(raw))
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return fail("not an object")
	}
	scope, ok := obj["scope"].(map[string]any)
	if !ok {
		return fail("scope is not an object")
	}
	var req events.EnforceRequest
	for key, dst := range map[string]*string{"ip": &req.Scope.IP, "peer_ip": &req.Scope.PeerIP, "transport": &req.Scope.Transport, "mac": &req.Scope.MAC} {
		if v, present := scope[key]; present {
			s, ok := v.(string)
			if !ok {
				return fail("scope." + key + " is not a string")
			}
			*dst = s
		}
	}
	if v, present := scope["port"]; present {
		port, ok := integer(v)
		if !ok || port < 0 || port > math.MaxUint16 {
			return fail("scope.port is not a port number")
		}
		req.Scope.Port = uint16(port)
	}
	if req.Scope.IP == "" && req.Scope.PeerIP == "" && req.Scope.MAC == "" {
		return fail("scope names no ip, peer_ip or mac")
	}
	d, ok := integer(obj["duration_s"])
	if !ok || d <= 0 {
		return fail("duration_s is not a positive integer")
	}
	req.DurationS = d
	req.Reason, _ = obj["reason"].(string)
	if req.Reason == "" {
		return fail("missing reason")
	}
	return req, nil
}

// integer reads a JSON number that is a whole number.
func integer(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func compareAlerts(a, b events.Alert) int {
	for _, c := range [][2]string{
		{a.Rule, b.Rule}, {a.Title, b.Title}, {string(a.Severity), string(b.Severity)},
		{a.Description, b.Description}, {strings.Join(a.Tags, "\x00"), strings.Join(b.Tags, "\x00")},
	} {
		if r := strings.Compare(c[0], c[1]); r != 0 {
			return r
		}
	}
	return 0
}

func compareEnforce(a, b events.EnforceRequest) int {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return bytes.Compare(ab, bb)
}

func cloneDevice(d events.DeviceSnapshot) events.DeviceSnapshot {
	d.IPs = slices.Clone(d.IPs)
	d.Attributes = maps.Clone(d.Attributes)
	return d
}
