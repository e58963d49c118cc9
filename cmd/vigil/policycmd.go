package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/policy"
)

func newPolicyCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with Rego policies: test, check, evaluate, read the decision log",
		Long: `Policy holds the tools of a policy author (docs/policy.md):

  vigil policy check [DIR...]          compile as the engine does; errors as file:line:col
  vigil policy test [DIR...]           run the Rego unit tests, with --coverage
  vigil policy eval --input FILE       decide a deviation (or edge) event and print the result
  vigil policy decisions               read the decision log from the event stream`,
	}
	cmd.AddCommand(newPolicyTestCommand(), newPolicyCheckCommand(g), newPolicyEvalCommand(g), newPolicyDecisionsCommand(g))
	return cmd
}

func newPolicyTestCommand() *cobra.Command {
	var (
		builtin, coverage bool
		filter            string
	)
	test := &cobra.Command{
		Use:   "test [DIR...]",
		Short: "Run the Rego unit tests (*_test.rego) of policy directories",
		Long: `Test runs the Rego unit tests of the given directories, with the shipped
library loaded too unless --builtin=false, so site policies can be tested
against the same helpers and fixtures the engine uses. --coverage prints,
per policy file, the lines the tests evaluated and those they never reached.`,
		Example: `  vigil policy test                       # the shipped library's own tests
  vigil policy test --coverage ./site-policies`,
		RunE: func(cmd *cobra.Command, dirs []string) error {
			rep, err := policy.RunTests(cmd.Context(), policy.TestOptions{Builtin: builtin, Dirs: dirs, Filter: filter, Coverage: coverage})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			failed := 0
			for _, r := range rep.Results {
				fmt.Fprintln(out, r.String())
				if r.Outcome == policy.TestFail || r.Outcome == policy.TestError {
					failed++
				}
			}
			fmt.Fprintf(out, "%d passed, %d failed\n", len(rep.Results)-failed, failed)
			if c := rep.Coverage; c != nil {
				fmt.Fprintf(out, "\ncoverage: %.1f%% (%d of %d lines)\n", c.Percent, c.CoveredLines, c.CoveredLines+c.NotCoveredLines)
				for _, f := range c.Files {
					fmt.Fprintf(out, "  %5.1f%%  %s", f.Percent, f.File)
					if len(f.NotCovered) > 0 {
						fmt.Fprintf(out, "  not covered: %s", strings.Join(f.NotCovered, ", "))
					}
					fmt.Fprintln(out)
				}
			}
			if failed > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	test.Flags().BoolVar(&builtin, "builtin", true, "load the shipped library and its tests")
	test.Flags().BoolVar(&coverage, "coverage", false, "report the lines of each policy file the tests evaluated")
	test.Flags().StringVar(&filter, "run", "", "run only tests whose name matches this regular expression")
	return test
}

func newPolicyCheckCommand(g *globalOptions) *cobra.Command {
	var builtin bool
	cmd := &cobra.Command{
		Use:   "check [DIR...]",
		Short: "Compile policies as the engine does and report every error with file:line:col",
		Long: `Check reads the shipped library (unless --builtin=false) and the given
directories (default: policy.dir of the configuration), compiles them with
the engine's restricted capabilities, the configured query and settings,
and prints the revision the engine would record. Exit status 1 when the
set does not compile, with every error on its own line.`,
		Example: `  vigil policy check ./site-policies`,
		RunE: func(cmd *cobra.Command, dirs []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if len(dirs) == 0 && cfg.Policy.Dir != "" {
				dirs = []string{cfg.Policy.Dir}
			}
			res, err := policy.Check(cmd.Context(), policy.CheckOptions{Builtin: builtin, Dirs: dirs,
				Query: cfg.Policy.Query, Settings: cfg.Policy.Settings})
			var errs policy.Errors
			if errors.As(err, &errs) {
				for _, e := range errs {
					fmt.Fprintln(cmd.ErrOrStderr(), e.Error())
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%d error(s)\n", len(errs))
				return exitError{code: 1}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d files compile, revision %s\n", len(res.Files), res.Revision)
			return nil
		},
	}
	cmd.Flags().BoolVar(&builtin, "builtin", true, "load the shipped rules too")
	return cmd
}

// evalResult is what `vigil policy eval --json` prints per input.
type evalResult struct {
	Decision events.Event[events.Decision] `json:"decision"`
	Alerts   []events.Event[events.Alert]  `json:"alerts"`
}

func newPolicyEvalCommand(g *globalOptions) *cobra.Command {
	var (
		input, dir string
		builtin    bool
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "eval --input FILE",
		Short: "Decide deviation or edge events with the policies and print the decision, alerts and enforcement requests",
		Long: `Eval reads events from FILE ("-" for standard input): one JSON event, or
one per line (as 'nats sub' or the decision log prints them). A deviation
event is decided by the policy query (data.vigil.main); an edge input
({"kind": "edge", "body": {...}}, see docs/policy.md) or a flow event by
the edge policies (data.vigil.edge). The decision is exactly the one the
engine would publish for that input: same revision, same input hash.`,
		Example: `  vigil policy eval --input deviation.json
  vigil policy eval --input deviation.json --dir ./site-policies --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if input == "" {
				return errors.New("--input FILE is required")
			}
			pcfg := cfg.Policy
			pcfg.Builtin = builtin
			if dir != "" {
				pcfg.Dir = dir
			}
			eng, err := policy.NewEngine(cmd.Context(), pcfg, events.Source{Name: cfg.Site, Site: cfg.Site})
			if err != nil {
				return err
			}
			docs, err := readInputs(input, cmd.InOrStdin())
			if err != nil {
				return err
			}
			for i, doc := range docs {
				res, err := evalOne(cmd.Context(), eng, doc)
				if err != nil {
					return fmt.Errorf("%s: input %d: %w", input, i+1, err)
				}
				if asJSON {
					b, err := json.Marshal(res)
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
					continue
				}
				printDecision(cmd.OutOrStdout(), res)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&input, "input", "", "file of input events (JSON, or one per line; - for stdin)")
	cmd.Flags().StringVar(&dir, "dir", "", "directory of site policies (default: policy.dir)")
	cmd.Flags().BoolVar(&builtin, "builtin", true, "load the shipped rules too")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the decision and alert events as JSON, one line per input")
	return cmd
}

// readInputs returns the JSON documents of a file: one document, one per
// line, or several one after the other (pretty-printed).
func readInputs(name string, stdin io.Reader) ([][]byte, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	var docs [][]byte
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var doc json.RawMessage
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line := 1 + bytes.Count(data[:min(int(dec.InputOffset()), len(data))], []byte("\n"))
			return nil, fmt.Errorf("%s: input %d (near line %d) is not JSON: %w", name, len(docs)+1, line, err)
		}
		docs = append(docs, slices.Clone([]byte(doc)))
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%s: no input event", name)
	}
	return docs, nil
}

// evalOne decides one input document according to its kind.
func evalOne(ctx context.Context, eng *policy.Engine, doc []byte) (evalResult, error) {
	var head struct {
		Kind events.Kind     `json:"kind"`
		ID   string          `json:"id"`
		Time time.Time       `json:"time"`
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(doc, &head); err != nil {
		return evalResult{}, fmt.Errorf("not an event: %w", err)
	}
	var (
		dec    events.Event[events.Decision]
		alerts []events.Event[events.Alert]
		err    error
	)
	switch head.Kind {
	case events.KindDeviation:
		ev, derr := events.Decode[events.Deviation](doc)
		if derr != nil {
			return evalResult{}, derr
		}
		dec, alerts, err = eng.Evaluate(ctx, ev)
	case events.KindFlow:
		ev, derr := events.Decode[events.Flow](doc)
		if derr != nil {
			return evalResult{}, derr
		}
		dec, alerts, err = eng.EvaluateEdgeInput(ctx, ev.ID, ev.Time, policy.EdgeOf(ev.Body))
	case policy.EdgeKind:
		var edge policy.Edge
		if err := json.Unmarshal(head.Body, &edge); err != nil {
			return evalResult{}, fmt.Errorf("edge body: %w", err)
		}
		if edge.Device == "" || edge.Resp.IP == "" {
			return evalResult{}, errors.New(`an edge input needs body.device and body.resp.ip (see docs/policy.md)`)
		}
		dec, alerts, err = eng.EvaluateEdgeInput(ctx, head.ID, head.Time, edge)
	default:
		return evalResult{}, fmt.Errorf("kind %q: eval decides deviation, flow and edge inputs", head.Kind)
	}
	if err != nil {
		return evalResult{}, err
	}
	if alerts == nil {
		alerts = []events.Event[events.Alert]{}
	}
	return evalResult{Decision: dec, Alerts: alerts}, nil
}

// printDecision writes a decision for a person.
func printDecision(w io.Writer, r evalResult) {
	d := r.Decision.Body
	fmt.Fprintf(w, "decision %s: %s on %s %s (input hash %.16s…), revision %s: %d alert(s), %d enforcement request(s)\n",
		r.Decision.ID, d.Query, d.InputKind, d.InputID, d.InputHash, d.Revision, d.Alerts, len(d.Enforce))
	for _, a := range r.Alerts {
		fmt.Fprintf(w, "  alert %-8s %s: %s\n", a.Body.Severity, a.Body.Rule, a.Body.Title)
		if a.Body.Description != "" {
			fmt.Fprintf(w, "        %s\n", a.Body.Description)
		}
		if len(a.Body.Tags) > 0 {
			fmt.Fprintf(w, "        tags: %s\n", strings.Join(a.Body.Tags, ", "))
		}
	}
	for _, e := range d.Enforce {
		fmt.Fprintf(w, "  enforce %s for %ds: %s\n", scopeText(e.Scope), e.DurationS, e.Reason)
	}
	if d.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", d.Error)
	}
}

func scopeText(s events.BlockScope) string {
	var parts []string
	for _, kv := range [][2]string{{"ip", s.IP}, {"peer_ip", s.PeerIP}, {"mac", s.MAC}, {"transport", s.Transport}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if s.Port != 0 {
		parts = append(parts, fmt.Sprintf("port=%d", s.Port))
	}
	return strings.Join(parts, " ")
}

// loggedDecision is one entry of the decision log: the decision and the
// alerts it raised.
type loggedDecision struct {
	Decision events.Event[events.Decision] `json:"decision"`
	Alerts   []events.Event[events.Alert]  `json:"alerts"`
}

func newPolicyDecisionsCommand(g *globalOptions) *cobra.Command {
	var (
		natsURL, data, rule, device, since string
		limit                              int
		errorsOnly, asJSON                 bool
	)
	cmd := &cobra.Command{
		Use:   "decisions",
		Short: "Query the decision log: every policy decision with its alerts, from the event stream",
		Long: `Decisions reads the decisions and alerts of the VIGIL_V1_ALERTS stream (the
decision log: every evaluation is recorded with the policy revision and the
SHA-256 of its input) and prints those that match the filters, oldest
first. It reads a running Vigil's NATS (--nats, or events.url), or the
embedded store under the data directory when no Vigil runs on it.

--rule keeps decisions that raised an alert of that rule; --device those
about a device (its key, or one of its addresses); --since those whose
event time is after a time (RFC 3339) or within a duration before now.`,
		Example: `  vigil policy decisions --nats nats://127.0.0.1:4222 --rule internet_communication
  vigil policy decisions --device 10.20.0.102 --since 24h --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if natsURL != "" {
				cfg.Events.URL = natsURL
			}
			if data != "" {
				cfg.DataDir = data
			}
			var after time.Time
			if since != "" {
				if d, err := time.ParseDuration(since); err == nil {
					after = time.Now().Add(-d)
				} else if after, err = time.Parse(time.RFC3339, since); err != nil {
					return fmt.Errorf("--since %q: want a duration (24h) or an RFC 3339 time", since)
				}
			}
			logger, err := g.logger(os.Stderr)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			bus, err := events.NewBus(cfg.Events, events.Dependencies{Logger: logger, DataDir: cfg.DataDir})
			if err != nil {
				return err
			}
			if err := bus.Start(ctx); err != nil {
				return err
			}
			defer func() {
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				bus.Stop(sctx)
			}()
			log, err := readDecisionLog(ctx, bus)
			if err != nil {
				return err
			}
			var out []loggedDecision
			for _, l := range log {
				if l.matches(rule, device, after, errorsOnly) {
					out = append(out, l)
				}
			}
			if limit > 0 && len(out) > limit {
				out = out[len(out)-limit:]
			}
			w := cmd.OutOrStdout()
			for _, l := range out {
				if asJSON {
					b, err := json.Marshal(l)
					if err != nil {
						return err
					}
					fmt.Fprintf(w, "%s\n", b)
					continue
				}
				d := l.Decision.Body
				rules := make([]string, 0, len(l.Alerts))
				for _, a := range l.Alerts {
					rules = append(rules, string(a.Body.Severity)+" "+a.Body.Rule)
				}
				fmt.Fprintf(w, "%s  %s  rev %s  %s %s  %s  alerts [%s]  enforce %d",
					l.Decision.Time.Format(time.RFC3339), l.Decision.ID, d.Revision, d.InputKind, d.InputID, d.Device,
					strings.Join(rules, ", "), len(d.Enforce))
				if d.Error != "" {
					fmt.Fprintf(w, "  error: %s", d.Error)
				}
				fmt.Fprintln(w)
			}
			if !asJSON {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d of %d decisions\n", len(out), len(log))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&natsURL, "nats", "", "NATS URL of a running Vigil (default: events.url, else the embedded store)")
	cmd.Flags().StringVar(&data, "data", "", "data directory of an embedded event log")
	cmd.Flags().StringVar(&rule, "rule", "", "only decisions that raised an alert of this rule")
	cmd.Flags().StringVar(&device, "device", "", "only decisions about this device (key or address)")
	cmd.Flags().StringVar(&since, "since", "", "only decisions after this time (RFC 3339) or within this duration before now")
	cmd.Flags().BoolVar(&errorsOnly, "errors", false, "only decisions that recorded an error")
	cmd.Flags().IntVar(&limit, "limit", 0, "print at most the last N matching decisions (0: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print each decision and its alerts as one JSON line")
	return cmd
}

// readDecisionLog reads every decision of the alerts stream with the
// alerts that name it, in stream order.
func readDecisionLog(ctx context.Context, bus *events.Bus) ([]loggedDecision, error) {
	var log []loggedDecision
	index := map[string]int{}
	var orphans []events.Event[events.Alert]
	err := bus.Read(ctx, events.StreamAlerts, []events.Kind{events.KindDecision, events.KindAlert}, func(d events.Delivery) error {
		switch d.Header.Kind {
		case events.KindDecision:
			ev, err := events.Decode[events.Decision](d.Data)
			if err != nil {
				return fmt.Errorf("decision log: seq %d: %w", d.Seq, err)
			}
			if _, dup := index[ev.ID]; !dup {
				index[ev.ID] = len(log)
				log = append(log, loggedDecision{Decision: ev, Alerts: []events.Event[events.Alert]{}})
			}
		case events.KindAlert:
			ev, err := events.Decode[events.Alert](d.Data)
			if err != nil {
				return fmt.Errorf("decision log: seq %d: %w", d.Seq, err)
			}
			if i, ok := index[ev.Body.DecisionID]; ok {
				log[i].Alerts = append(log[i].Alerts, ev)
			} else {
				orphans = append(orphans, ev)
			}
		}
		return nil
	})
	// An alert published before its decision (never, by the engine's
	// order; kept for safety) is attached afterwards.
	for _, a := range orphans {
		if i, ok := index[a.Body.DecisionID]; ok {
			log[i].Alerts = append(log[i].Alerts, a)
		}
	}
	return log, err
}

func (l loggedDecision) matches(rule, device string, after time.Time, errorsOnly bool) bool {
	d := l.Decision.Body
	if errorsOnly && d.Error == "" {
		return false
	}
	if !after.IsZero() && l.Decision.Time.Before(after) {
		return false
	}
	if rule != "" && !slices.ContainsFunc(l.Alerts, func(a events.Event[events.Alert]) bool { return a.Body.Rule == rule }) {
		return false
	}
	if device != "" && d.Device != device && !slices.ContainsFunc(l.Alerts, func(a events.Event[events.Alert]) bool {
		return slices.Contains(a.Body.Device.IPs, device) || strings.EqualFold(a.Body.Device.MAC, device)
	}) {
		return false
	}
	return true
}
