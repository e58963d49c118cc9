package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vigil-health/vigil/capture"
	"github.com/vigil-health/vigil/enforce/edl"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/policy"
	"github.com/vigil-health/vigil/store"
	"github.com/vigil-health/vigil/web"
)

// webConfiguration is the web server's configuration from the http
// section.
func webConfiguration(cfg Config) web.Configuration {
	return web.Configuration{Listen: cfg.HTTP.Listen, TLSCert: cfg.HTTP.TLSCert, TLSKey: cfg.HTTP.TLSKey, Auth: cfg.HTTP.Auth}
}

// webDependencies wires the dashboard to the engines. History comes from
// ClickHouse when the store writer runs, else from the event log itself.
func webDependencies(cfg Config, logger *slog.Logger, eng *engines, sensor *capture.Component, writer *store.Writer) web.Dependencies {
	deps := web.Dependencies{
		Logger:    logger,
		Inventory: eng.inventory,
		Baselines: eng.baseline,
		Policy:    eng.policy,
		PolicyTests: func(ctx context.Context) ([]policy.TestResult, error) {
			var dirs []string
			if cfg.Policy.Dir != "" {
				dirs = append(dirs, cfg.Policy.Dir)
			}
			return policy.Test(ctx, policy.TestOptions{Builtin: cfg.Policy.Builtin, Dirs: dirs})
		},
		History: web.LogHistory{Log: eng.bus},
		Health:  func(ctx context.Context) web.HealthReport { return healthReport(ctx, eng, sensor, writer) },
		Status:  func() any { return status(eng, sensor) },
	}
	if writer != nil {
		deps.History = store.NewQueries(writer.Conn())
	}
	if eng.alerts != nil && eng.alerts.service != nil {
		deps.Alerts = eng.alerts.service
	}
	if eng.enforce != nil {
		deps.Enforce = eng.enforce
		deps.Feeds = eng.feeds
	}
	if eng.scanner != nil {
		deps.Scanner = eng.scanner
	}
	if vr := eng.vulnRisk; vr != nil {
		if vr.vuln != nil {
			deps.Vulns = vr.vuln
		}
		if vr.risk != nil {
			deps.Risk = vr.risk
		}
	}
	return deps
}

// healthReport checks what DESIGN.md's rule 5 says must be visible:
// capture drops and silent mirror ports, consumer lag, lost events and
// failed inserts.
func healthReport(ctx context.Context, eng *engines, sensor *capture.Component, writer *store.Writer) web.HealthReport {
	var r web.HealthReport
	add := func(component, name string, warn, fail bool, detail string, args ...any) {
		state := web.HealthOK
		if warn {
			state = web.HealthWarning
		}
		if fail {
			state = web.HealthFailing
		}
		r.Checks = append(r.Checks, web.HealthCheck{Component: component, Name: name, State: state, Detail: fmt.Sprintf(detail, args...)})
	}
	bs := eng.bus.Stats()
	add("events", "publishing", bs.PublishErrors > 0, false, "%d events stored, %d duplicates dropped, %d failed publishes", bs.Published, bs.Duplicates, bs.PublishErrors)
	add("events", "poison messages", bs.Poison > 0, false, "%d events no engine could decode (terminated and counted)", bs.Poison)
	if sensor != nil {
		s := sensor.Stats()
		lost := s.KernelDrops + s.FragmentsDropped
		add("sensor", "capture drops", lost > 0, s.Packets > 0 && float64(lost) > 0.01*float64(s.Packets),
			"%d packets, %d dropped by the kernel, %d fragments given up, %d undecodable", s.Packets, s.KernelDrops, s.FragmentsDropped, s.DecodeErrors)
		add("sensor", "publishing", s.PublishErrors > 0, false, "%d failed publishes, %d source errors", s.PublishErrors, s.SourceErrors)
	}
	hs, pipelines, err := lastHealth(ctx, eng.bus.JetStream())
	if err != nil {
		add("sensor", "health events", true, false, "cannot read the latest health events: %v", err)
	}
	for _, p := range pipelines {
		pipelineHealth(p, time.Now(), add)
	}
	for _, h := range hs {
		port := "mirror port " + h.Interface
		if h.Sensor != "sensor" {
			port += " of " + h.Sensor
		}
		if h.Final {
			add("sensor", port, false, false, "capture finished (end of file); %d packets", h.Packets)
			continue
		}
		add("sensor", port, false, h.Silent, "%s; %d packets, %d kernel drops",
			map[bool]string{true: fmt.Sprintf("silent for over %s", time.Duration(h.SilentAfterMS)*time.Millisecond), false: "receiving"}[h.Silent], h.Packets, h.KernelDrops)
	}
	if writer != nil {
		ws := writer.Stats()
		add("store", "inserts", ws.InsertErrors > 0, false, "%d events inserted in %d batches, %d failed attempts (retried), %d rejected rows", ws.Inserted, ws.Batches, ws.InsertErrors, ws.Rejected)
	}
	enforcementHealth(eng, time.Now(), add)
	if eng.alerts != nil && eng.alerts.outputs != nil {
		for name, st := range eng.alerts.outputs.Stats() {
			add("alerts", "output "+name, st.LastError != "" || st.DeadLettered > 0, false,
				"%d delivered, %d retries, %d dead-lettered%s", st.Delivered, st.Retries, st.DeadLettered, lastError(st.LastError))
		}
	}
	cons, err := eng.bus.ConsumersHealth(ctx, time.Now())
	if err != nil {
		add("events", "consumers", true, false, "cannot read consumer state: %v", err)
	}
	r.Consumers = cons
	for _, c := range cons {
		add("consumer "+c.Durable, "lag", c.Pending+c.AckPending > 10_000 || c.OldestUnacked > time.Minute, c.OldestUnacked > 10*time.Minute,
			"%d pending, %d unacknowledged, oldest unacknowledged %s", c.Pending, c.AckPending, c.OldestUnacked.Round(time.Second))
	}
	return r
}

// pipelineSeen is a process's latest pipeline report and when it was made.
type pipelineSeen struct {
	At         time.Time
	IntervalMS int64
	Report     events.PipelineHealth
}

// pipelineHealth adds the check of one process's pipeline report: a
// process that stopped reporting (3 intervals: warning, 10: failing) is
// an engine or vigil run that died or lost NATS, and its last figures say
// where it was.
func pipelineHealth(p pipelineSeen, now time.Time, add func(component, name string, warn, fail bool, detail string, args ...any)) {
	interval := time.Duration(p.IntervalMS) * time.Millisecond
	if interval <= 0 {
		interval = 30 * time.Second
	}
	age := max(now.Sub(p.At), 0)
	var pending, unacked uint64
	for _, c := range p.Report.Consumers {
		pending += c.Pending
		unacked += c.AckPending
	}
	failed := uint64(0)
	if p.Report.Store != nil {
		failed = p.Report.Store.InsertErrors
	}
	add("pipeline", "process "+p.Report.Process, age > 3*interval || failed > 0 || p.Report.ConsumersError != "", age > 10*interval,
		"last report %s ago (every %s); %d consumers, %d pending, %d unacknowledged; %d failed inserts%s",
		age.Round(time.Second), interval, len(p.Report.Consumers), pending, unacked, failed, lastError(p.Report.ConsumersError))
}

// staleBlocklist is how long a blocklist feed may go unfetched before the
// health page warns: firewalls poll external lists every 5 minutes (PAN-OS
// at the shortest) to an hour (their usual longest), and a firewall that
// stopped polling no longer enforces what the feed says.
const staleBlocklist = 2 * time.Hour

// enforcementHealth adds the enforcement points' checks: reconciliation
// failures and drift, and blocklist feeds no firewall fetches any more.
func enforcementHealth(eng *engines, now time.Time, add func(component, name string, warn, fail bool, detail string, args ...any)) {
	if eng.enforce != nil {
		st := eng.enforce.Status()
		if st.KillSwitch {
			add("enforce", "kill switch", true, false, "on (by %s): nothing is enforced", st.KillSwitchBy)
		}
		for _, b := range st.Backends {
			actual := fmt.Sprint(b.Actual)
			if b.Actual < 0 {
				actual = "unknown (the point cannot report)"
			}
			add("enforce", "point "+b.Name, b.LastError != "" || b.Drifted > 0, b.Failures >= 3,
				"%d desired, %s actual, %d drifted since start%s", b.Desired, actual, b.Drifted, lastError(b.LastError))
		}
	}
	for _, f := range eng.blocklists {
		var newest edl.Poll
		for _, p := range f.LastPolled() {
			if p.Last.After(newest.Last) {
				newest = p
			}
		}
		if newest.Last.IsZero() {
			add("enforce", "blocklist "+f.Name(), false, false, "not fetched by any firewall yet")
			continue
		}
		age := now.Sub(newest.Last)
		add("enforce", "blocklist "+f.Name(), age > staleBlocklist, false, "last fetched %s ago by %s (%s)",
			age.Round(time.Second), newest.Client, newest.File)
	}
}

func lastError(s string) string {
	if s == "" {
		return ""
	}
	return "; last error: " + s
}

// healthLookback is how far back lastHealth reads every health event:
// several sensor reports (sensor.health_interval, 1 min by default) and
// pipeline reports (engine.health.interval, 30 s).
const healthLookback = 10 * time.Minute

// lastHealth returns the latest health event of each sensor interface:
// the stream keeps them all, JetStream hands out the last per subject.
// A subject is a partition, which several sensors and the pipeline
// processes' reports (Health.Pipeline) may share, and its last report
// hides the others': every report stored in the last healthLookback is
// read too. Pipeline reports come back apart, the latest of each process.
func lastHealth(ctx context.Context, js jetstream.JetStream) ([]events.Health, []pipelineSeen, error) {
	if js == nil {
		return nil, nil, errors.New("not connected")
	}
	byProcess := map[string]pipelineSeen{}
	since := time.Now().Add(-healthLookback)
	bySensor := map[string]events.Health{}
	seqs := map[string]uint64{}
	for _, cc := range []jetstream.OrderedConsumerConfig{
		{FilterSubjects: []string{events.KindSubjects(events.KindHealth)}, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy},
		{FilterSubjects: []string{events.KindSubjects(events.KindHealth)}, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since},
	} {
		cons, err := js.OrderedConsumer(ctx, events.StreamSensor, cc)
		if err != nil {
			return nil, nil, err
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return nil, nil, err
		}
		for n := info.NumPending; n > 0; n-- {
			msg, err := cons.Next(jetstream.FetchContext(ctx))
			if err != nil {
				return nil, nil, err
			}
			var seq uint64
			if md, err := msg.Metadata(); err == nil {
				seq = md.Sequence.Stream
			}
			for rest := msg.Data(); rest != nil; { // a batch: the last report of each sensor wins
				var data []byte
				data, rest = events.NextEvent(rest)
				ev, err := events.Decode[events.Health](data)
				if err != nil {
					continue
				}
				if p := ev.Body.Pipeline; p != nil {
					if seen, ok := byProcess[p.Process]; !ok || !ev.Time.Before(seen.At) {
						byProcess[p.Process] = pipelineSeen{At: ev.Time, IntervalMS: ev.Body.IntervalMS, Report: *p}
					}
					continue
				}
				if key := ev.Body.Sensor + "\x00" + ev.Body.Interface; seq >= seqs[key] {
					bySensor[key], seqs[key] = ev.Body, seq
				}
			}
		}
	}
	out := make([]events.Health, 0, len(bySensor))
	for _, h := range bySensor {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b events.Health) int {
		return strings.Compare(a.Sensor+a.Interface, b.Sensor+b.Interface)
	})
	pipes := make([]pipelineSeen, 0, len(byProcess))
	for _, p := range byProcess {
		pipes = append(pipes, p)
	}
	slices.SortFunc(pipes, func(a, b pipelineSeen) int { return strings.Compare(a.Report.Process, b.Report.Process) })
	return out, pipes, nil
}

func newWebCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "web",
		Short: "Create users and API tokens for the dashboard",
		Long: `The dashboard and the API need a login once users or tokens are configured
(http.auth in the configuration; see docs/web.md). These commands print
configuration entries: the password is kept only as a bcrypt hash, the
token only as its SHA-256.`,
	}
	var name, role string
	hash := &cobra.Command{
		Use:   "hash-password",
		Short: "Print an http.auth.users entry for a user (reads the password from the terminal or stdin)",
		Example: `  vigil web hash-password --name alice --role analyst
  printf '%s\n' "$PASSWORD" | vigil web hash-password --name ops --role admin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkEntry(name, role); err != nil {
				return err
			}
			pw, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			h, err := web.HashPassword(pw)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "# under http.auth.users:\n- name: %s\n  role: %s\n  password_hash: %q\n", name, role, h)
			return nil
		},
	}
	token := &cobra.Command{
		Use:     "token",
		Short:   "Make an API token and print it with its http.auth.tokens entry",
		Example: `  vigil web token --name siem --role viewer`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkEntry(name, role); err != nil {
				return err
			}
			tok, sum := web.NewToken()
			fmt.Fprintf(cmd.OutOrStdout(), "# the token (shown once; send it as Authorization: Bearer TOKEN):\n%s\n# under http.auth.tokens:\n- name: %s\n  role: %s\n  sha256: %s\n", tok, name, role, sum)
			return nil
		},
	}
	for _, c := range []*cobra.Command{hash, token} {
		c.Flags().StringVar(&name, "name", "", "user or token name (required)")
		c.Flags().StringVar(&role, "role", "viewer", "viewer, analyst or admin")
		cmd.AddCommand(c)
	}
	return cmd
}

func checkEntry(name, role string) error {
	if name == "" || strings.ContainsAny(name, " \t\r\n:") {
		return fmt.Errorf("--name %q: want a name without spaces or colons", name)
	}
	if !web.Role(role).Valid() {
		return fmt.Errorf("--role %q: want viewer, analyst or admin", role)
	}
	return nil
}

// readPassword reads a password without echo from a terminal (twice), or
// one line from a pipe.
func readPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		fmt.Fprint(prompt, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on stdin")
	}
	return line, nil
}
