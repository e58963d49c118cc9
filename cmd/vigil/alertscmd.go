package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/alerts/output"
	"github.com/vigil-health/vigil/events"
)

// alertsEngine is the alert service and its SOC outputs.
type alertsEngine struct {
	service *alerts.Component
	// outputs is nil in offline analysis: analysing a capture must never
	// push alerts to the SOC's systems.
	outputs *output.Component
}

// startAlerts starts the alert service (after the policy engine, whose
// alerts it folds) and, in a live system, the enabled outputs.
//
// When engines share the partitions (engine.slots > 1), every engine
// still keeps the whole alert state: incidents, lifecycle and
// suppressions span devices, and the alert volume is small. It reads the
// alerts stream through a connection of its own without the share, under
// a durable and checkpoint named after its slot; what several engines
// publish twice (reopens, SOC records) JetStream stores once, by ID.
func startAlerts(ctx context.Context, cfg Config, logger *slog.Logger, lc *lifecycle, bus *events.Bus, src events.Source) (*alertsEngine, error) {
	abus, durable := bus, alerts.Durable
	if share := cfg.Events.Share; !share.Whole() {
		ecfg := cfg.Events
		ecfg.Share = events.Share{}
		b, err := events.NewBus(ecfg, events.Dependencies{Logger: logger, DataDir: cfg.DataDir})
		if err != nil {
			return nil, err
		}
		if err := lc.start(ctx, "alerts connection", b); err != nil {
			return nil, err
		}
		abus, durable = b, alerts.Durable+"-all-"+share.Owner
	}
	svc, err := alerts.New(cfg.Alerts, alerts.Dependencies{Logger: logger, Bus: abus, Source: src, Checkpoints: abus,
		Durable: durable, Replicas: cfg.Events.Replicas})
	if err != nil {
		return nil, err
	}
	if err := lc.start(ctx, "alerts", svc); err != nil {
		return nil, err
	}
	e := &alertsEngine{service: svc}
	if cfg.Offline { // an analysis of a recording: no SOC output
		return e, nil
	}
	out, err := output.New(cfg.Alerts.Outputs, output.Dependencies{Logger: logger, JetStream: bus.JetStream(),
		Product: output.Product{Vendor: "Vigil", Name: "Vigil", Version: version}})
	if err != nil {
		return nil, err
	}
	if out.Len() == 0 {
		return e, nil
	}
	if err := lc.start(ctx, "alert outputs", out); err != nil {
		return nil, err
	}
	e.outputs = out
	return e, nil
}

func newAlertsCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "Follow the SOC alert stream",
		Long: `The alert service folds the policies' alerts into incidents (one per rule,
device and peer), keeps their lifecycle and suppressions, and republishes
every alert on NATS subjects per severity (vigil.v1.soc.<severity>) for the
SOC. See docs/alerts.md.`,
	}
	cmd.AddCommand(newAlertsTailCommand(g))
	return cmd
}

func newAlertsTailCommand(g *globalOptions) *cobra.Command {
	var asJSON, suppressed bool
	var minSev, server, natsURL string
	var since time.Duration
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Print alerts as they are raised",
		Long: `Tail follows the live alert feed until interrupted, from a running vigil's
API (--server, server-sent events of /api/v1/alerts/stream; an API token in
$VIGIL_TOKEN) or directly from NATS (--nats, the SOC subjects
vigil.v1.soc.<severity>). Without either it uses http.listen of the
configuration, else the NATS URL.

With --json each line is a JSON object: the alerts.Update of the API
(alert, incident and lifecycle changes), or the SOC record of NATS (the
alert and its incident).`,
		Example: `  vigil alerts tail --server http://127.0.0.1:8080 --min-severity high
  vigil alerts tail --nats nats://127.0.0.1:4222 --json
  vigil alerts tail --nats nats://nats:4222 --since 24h --suppressed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			min, err := alerts.ParseSeverity(minSev)
			if err != nil {
				return fmt.Errorf("--min-severity: %w", err)
			}
			if server != "" && natsURL != "" {
				return errors.New("--server and --nats: give one source, not both")
			}
			if server == "" && natsURL == "" {
				cfg, err := g.loadConfig()
				if err != nil {
					return err
				}
				switch {
				case cfg.HTTP.Listen != "":
					scheme := "http"
					if cfg.HTTP.TLSCert != "" {
						scheme = "https"
					}
					server = scheme + "://" + cfg.HTTP.Listen
				case cfg.Events.URL != "":
					natsURL = cfg.Events.URL
				case cfg.Events.Embedded.Listen != "":
					natsURL = "nats://" + cfg.Events.Embedded.Listen
				default:
					return errors.New("no source: give --server URL of a running vigil or --nats URL (the configuration has neither http.listen nor a NATS address)")
				}
			}
			p := tailPrinter{w: cmd.OutOrStdout(), json: asJSON}
			if server != "" {
				if since > 0 || suppressed {
					return errors.New("--since and --suppressed read the SOC stream: use them with --nats")
				}
				return tailServer(cmd.Context(), server, min, p)
			}
			return tailNATS(cmd.Context(), natsURL, min, since, suppressed, p)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line")
	cmd.Flags().StringVar(&minSev, "min-severity", "info", "least severe alert shown: info, low, medium, high or critical")
	cmd.Flags().StringVar(&server, "server", "", "URL of a running vigil's API")
	cmd.Flags().StringVar(&natsURL, "nats", "", "NATS URL to read the SOC subjects from")
	cmd.Flags().DurationVar(&since, "since", 0, "with --nats: start with the alerts of this past period")
	cmd.Flags().BoolVar(&suppressed, "suppressed", false, "with --nats: also the alerts suppressions hid")
	return cmd
}

// tailPrinter prints one line per alert or change.
type tailPrinter struct {
	w    io.Writer
	json bool
}

func (p tailPrinter) raw(data []byte) error {
	_, err := fmt.Fprintf(p.w, "%s\n", strings.TrimSpace(string(data)))
	return err
}

// alert prints the human line of an alert and its incident.
func (p tailPrinter) alert(a events.Event[events.Alert], inc string, state alerts.State, count uint64, extra string) error {
	host := a.Body.Device.Attributes["hostname"]
	if host == "" {
		host = a.Body.Device.Key
	}
	_, err := fmt.Fprintf(p.w, "%s  %-8s  %-28s  %-20s  %s  [incident %s, %s, %d alert(s)%s]\n",
		a.Time.UTC().Format(time.RFC3339), strings.ToUpper(string(a.Body.Severity)), a.Body.Rule, host, a.Body.Title,
		inc, state, count, extra)
	return err
}

func (p tailPrinter) update(u alerts.Update, data []byte) error {
	if p.json {
		return p.raw(data)
	}
	switch {
	case u.Type == alerts.UpdateAlert && u.Alert != nil && u.Incident != nil:
		extra := ""
		if u.Reopened {
			extra = ", reopened"
		}
		if u.Incident.Suppressed {
			extra += ", suppressed"
		}
		return p.alert(*u.Alert, u.Incident.ID, u.Incident.State, u.Incident.Count, extra)
	case u.Type == alerts.UpdateTransition && u.Incident != nil && len(u.Incident.History) > 0:
		t := u.Incident.History[len(u.Incident.History)-1]
		_, err := fmt.Fprintf(p.w, "%s  incident %s %s -> %s by %s: %s\n", u.Time.UTC().Format(time.RFC3339), u.Incident.ID, t.From, t.To, t.Actor, t.Note)
		return err
	case u.Suppression != nil:
		_, err := fmt.Fprintf(p.w, "%s  %s %s by %s: %s\n", u.Time.UTC().Format(time.RFC3339), u.Type, u.Suppression.ID, u.Suppression.CreatedBy, u.Suppression.Reason)
		return err
	}
	return nil
}

// tailServer reads the API's server-sent events.
func tailServer(ctx context.Context, server string, min events.Severity, p tailPrinter) error {
	api := newAPIClient(server)
	resp, err := api.request(ctx, http.MethodGet, "/api/v1/alerts/stream", url.Values{"min_severity": {string(min)}}, nil, "")
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		return api.fail(resp.StatusCode, b)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			event = e
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		if event == "lagged" {
			return errors.New("the live feed dropped this reader for falling behind; run tail again")
		}
		var upd alerts.Update
		if err := json.Unmarshal([]byte(data), &upd); err != nil {
			return fmt.Errorf("undecodable update from %s: %w", server, err)
		}
		if err := p.update(upd, []byte(data)); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", server, err)
	}
	return fmt.Errorf("%s closed the feed", server)
}

// tailNATS reads the SOC subjects with an ephemeral ordered consumer.
func tailNATS(ctx context.Context, natsURL string, min events.Severity, since time.Duration, suppressed bool, p tailPrinter) error {
	nc, err := nats.Connect(natsURL, nats.Name("vigil alerts tail"))
	if err != nil {
		return fmt.Errorf("connect to nats %s: %w", events.RedactURL(natsURL), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	subjects := output.Subjects(min, true)
	if suppressed {
		for _, s := range alerts.Severities {
			if alerts.Rank(s) >= alerts.Rank(min) {
				subjects = append(subjects, alerts.SOCSubject(s, true), alerts.SOCStateSubject(s, true))
			}
		}
	}
	occ := jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverNewPolicy}
	if since > 0 {
		start := time.Now().Add(-since)
		occ.DeliverPolicy, occ.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	cons, err := js.OrderedConsumer(ctx, alerts.SOCStream, occ)
	if err != nil {
		return fmt.Errorf("read %s: %w", alerts.SOCStream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("read %s: %w", alerts.SOCStream, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("read %s: %w", alerts.SOCStream, err)
		}
		rec, err := alerts.DecodeRecord(msg.Data())
		if err != nil {
			fmt.Fprintf(os.Stderr, "vigil: skipped a record on %s: %v\n", msg.Subject(), err)
			continue
		}
		switch {
		case p.json:
			err = p.raw(msg.Data())
		case rec.Transition != nil:
			t := rec.Transition
			_, err = fmt.Fprintf(p.w, "%s  incident %s %s -> %s by %s: %s\n", t.Time.UTC().Format(time.RFC3339), rec.Incident.ID, t.From, t.To, t.Actor, t.Note)
		default:
			extra := ""
			if rec.Incident.Reopened {
				extra = ", reopened"
			}
			if rec.Incident.Suppressed {
				extra += ", suppressed"
			}
			err = p.alert(rec.Alert, rec.Incident.ID, rec.Incident.State, rec.Incident.Count, extra)
		}
		if err != nil {
			return err
		}
	}
}
