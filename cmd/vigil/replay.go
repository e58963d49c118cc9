package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/baseline"
	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/netclass"
	"github.com/vigil-health/vigil/inventory"
	"github.com/vigil-health/vigil/store"
)

// replayKinds are what the rebuilt projections read, all from the sensor
// stream: the inventory reads flows and observations, the baseline those
// and authentication attempts.
var replayKinds = []events.Kind{events.KindFlow, events.KindObservation, events.KindAuth}

// projections are the engines' models rebuilt outside the engines: the
// same constructors and the same per-kind steps as the live components
// (inventory.Component.handle, baseline.Component.handle), fed from
// JetStream or ClickHouse instead of a durable consumer. What they
// produce is collected, not published: it is in the log already, and its
// IDs prove the rebuilt models decide as the live ones did.
type projections struct {
	inventory *inventory.Model
	baseline  *baseline.Model
	alerts    *alerts.Model
	seq       uint64          // last sensor stream sequence applied
	next      events.Position // where the sensor stream resumes after it
	alertsSeq uint64          // last alerts stream sequence applied
	// enforce rebuilds the enforcement desired set from the enforcement
	// events alone (enforce.Replayer); enforceSeq is the last enforce
	// stream sequence applied.
	enforce    *enforce.Replayer
	enforceSeq uint64

	// DeviceChanges and Deviations are the IDs of the events the rebuilt
	// models produced, in order.
	DeviceChanges []string
	Deviations    []string
}

func newProjections(cfg Config, logger *slog.Logger) (*projections, error) {
	nets, err := netclass.NewNetworks(cfg.Networks.Local)
	if err != nil {
		return nil, fmt.Errorf("networks.local: %w", err)
	}
	deps, err := inventoryDependencies(cfg.Inventory, logger)
	if err != nil {
		return nil, err
	}
	src := events.Source{Name: cfg.Site, Site: cfg.Site}
	invSrc, baseSrc := src, src
	invSrc.Component, baseSrc.Component = "inventory", "baseline" // as the components name themselves
	inv := inventory.NewModel(cfg.Inventory, invSrc, inventory.Options{Networks: nets, Classifier: deps.Classifier,
		Vendors: deps.Vendors, Register: deps.Register})
	base := baseline.NewModel(cfg.Baseline, baseSrc, nets)
	base.SetClassifier(deps.Classifier, deps.Vendors)
	enf := enforce.NewReplayer(enforce.ReplayOptions{RateLimit: cfg.Enforce.RateLimit, Retain: cfg.Enforce.Retain})
	return &projections{inventory: inv, baseline: base, alerts: alerts.NewModel(), enforce: enf}, nil
}

// apply feeds one delivery to every model that reads its kind.
func (p *projections) apply(d events.Delivery) error {
	var err error
	switch d.Header.Kind {
	case events.KindFlow:
		var ev events.Event[events.Flow]
		if ev, err = events.DecodeDelivery[events.Flow](d); err == nil {
			p.changes(p.inventory.ObserveFlow(ev))
			p.deviations(p.baseline.ObserveFlow(ev))
		}
	case events.KindObservation:
		var ev events.Event[events.Observation]
		if ev, err = events.DecodeDelivery[events.Observation](d); err == nil {
			p.changes(p.inventory.ObserveAttribute(ev))
			p.deviations(p.baseline.ObserveAttribute(ev))
		}
	case events.KindAuth:
		var ev events.Event[events.Auth]
		if ev, err = events.DecodeDelivery[events.Auth](d); err == nil {
			p.deviations(p.baseline.ObserveAuth(ev))
		}
	case events.KindAlert:
		var ev events.Event[events.Alert]
		if ev, err = events.DecodeDelivery[events.Alert](d); err == nil {
			p.alerts.ApplyAlert(d.Seq, ev)
		}
	case events.KindAlertState:
		var ev events.Event[events.AlertState]
		if ev, err = events.DecodeDelivery[events.AlertState](d); err == nil {
			p.alerts.ApplyState(d.Seq, ev) // refused transitions are refused live too
		}
	case events.KindEnforcement:
		var ev events.Event[events.Enforcement]
		if ev, err = events.DecodeDelivery[events.Enforcement](d); err == nil {
			p.enforce.Apply(ev)
		}
	}
	if err != nil {
		// The live consumer terminated this message as poison and went
		// on; the replay does the same, so both skip it.
		return nil
	}
	if d.Stream == events.StreamEnforce {
		p.enforceSeq = d.Seq
	} else if d.Stream == events.StreamAlerts {
		p.alertsSeq = d.Seq
	} else {
		p.seq, p.next = d.Seq, d.Next()
	}
	return nil
}

func (p *projections) changes(evs []events.Event[events.DeviceChange]) {
	for _, e := range evs {
		p.DeviceChanges = append(p.DeviceChanges, e.ID)
	}
}

func (p *projections) deviations(evs []events.Event[events.Deviation]) {
	for _, e := range evs {
		p.Deviations = append(p.Deviations, e.ID)
	}
}

// projectionDump is the rebuilt state as `vigil replay` prints it, and
// what the test compares byte for byte with the live engines' state.
type projectionDump struct {
	Seq           uint64               `json:"seq"`
	Devices       []inventory.Device   `json:"devices"`
	Baseline      []baseline.Readiness `json:"baseline"`
	BaselineStats baseline.Stats       `json:"baseline_stats"`
	DeviceChanges int                  `json:"device_changes"`
	Deviations    int                  `json:"deviations"`
	// AlertsSeq and Incidents are the alert state: every incident,
	// suppressed ones included.
	AlertsSeq uint64      `json:"alerts_seq"`
	Incidents alerts.Page `json:"incidents"`
	// EnforceSeq and Enforcement are the enforcement desired set: the
	// blocks, the kill switch and the rate bucket, as the bucket
	// VIGIL_ENFORCE holds them.
	EnforceSeq  uint64               `json:"enforce_seq"`
	Enforcement enforce.DesiredState `json:"enforcement"`
}

// allIncidents is the query of the alert state's dump.
var allIncidents = alerts.Query{Suppressed: "include", Limit: 1000}

func (p *projections) dump() projectionDump {
	return projectionDump{
		Seq: p.seq, Devices: p.inventory.Devices(), Baseline: p.baseline.Devices(), BaselineStats: p.baseline.Stats(),
		DeviceChanges: len(p.DeviceChanges), Deviations: len(p.Deviations),
		AlertsSeq: p.alertsSeq, Incidents: p.alerts.Incidents(allIncidents),
		EnforceSeq: p.enforceSeq, Enforcement: p.enforce.State(),
	}
}

// alertKinds are what the alert state reads, from the alerts stream.
var alertKinds = []events.Kind{events.KindAlert, events.KindAlertState}

// enforceKinds are what the enforcement desired set reads, from the
// enforce stream: its own audit events, nothing else.
var enforceKinds = []events.Kind{events.KindEnforcement}

// replayFromBus rebuilds from JetStream: an ordered consumer reading the
// sensor stream from its first message.
func replayFromBus(ctx context.Context, bus *events.Bus, p *projections) error {
	if err := bus.Read(ctx, events.StreamSensor, replayKinds, p.apply); err != nil {
		return err
	}
	if err := bus.Read(ctx, events.StreamAlerts, alertKinds, p.apply); err != nil {
		return err
	}
	return bus.Read(ctx, events.StreamEnforce, enforceKinds, p.apply)
}

// replayFromStore rebuilds from ClickHouse, for history older than the
// stream keeps.
func replayFromStore(ctx context.Context, q *store.Queries, p *projections) error {
	if err := q.Replay(ctx, events.StreamSensor, replayKinds, 0, p.apply); err != nil {
		return err
	}
	if err := q.Replay(ctx, events.StreamAlerts, alertKinds, 0, p.apply); err != nil {
		return err
	}
	return q.Replay(ctx, events.StreamEnforce, enforceKinds, 0, p.apply)
}

func newReplayCommand(g *globalOptions) *cobra.Command {
	var fromStore, checkpoint bool
	var natsURL, data, out string
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Rebuild the inventory, baselines, alert state and enforcement desired set from the event log or ClickHouse",
		Long: `Replay rebuilds the projections (the device inventory, the baselines, the
alert state and the enforcement desired set) from the event log: an
ordered read of the sensor, alerts and enforce streams from their first
message, fed to the same models the engines run, in the same order (the
desired set is folded from the enforcement events alone, see
docs/enforcement.md). With
--from-store it reads the events back from ClickHouse instead (in stream
order, by the JetStream sequence each row keeps), for history older than
the stream keeps.

It prints the rebuilt state as JSON (devices, baseline readiness and
counters, alert incidents, enforcement blocks, kill switch and rate
bucket). With --checkpoint it saves the rebuilt inventory as the
inventory's checkpoint, so engines started afterwards resume from it; stop
the engines first.`,
		Example: `  vigil replay --nats nats://nats-1:4222 --out state.json
  vigil replay --from-store --config /etc/vigil/vigil.yaml --out state.json`,
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
			logger, err := g.logger(os.Stderr)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			p, err := newProjections(cfg, logger)
			if err != nil {
				return err
			}
			var bus *events.Bus
			if !fromStore || checkpoint {
				if bus, err = events.NewBus(cfg.Events, events.Dependencies{Logger: logger, DataDir: cfg.DataDir}); err != nil {
					return err
				}
				if err := bus.Start(ctx); err != nil {
					return err
				}
				defer func() {
					sctx, cancel := stopContext(ctx)
					defer cancel()
					bus.Stop(sctx)
				}()
			}
			if fromStore {
				if !cfg.Store.Enabled() {
					return errors.New("--from-store: store.addresses is not configured")
				}
				conn, err := store.Open(ctx, cfg.Store)
				if err != nil {
					return err
				}
				defer conn.Close()
				err = replayFromStore(ctx, store.NewQueries(conn), p)
				if err != nil {
					return err
				}
			} else if err := replayFromBus(ctx, bus, p); err != nil {
				return err
			}
			if checkpoint {
				st, err := p.inventory.MarshalState()
				if err != nil {
					return err
				}
				if err := bus.SaveCheckpoint(ctx, inventory.Durable, p.next, st); err != nil {
					return err
				}
			}
			var w io.Writer = cmd.OutOrStdout()
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			if err := enc.Encode(p.dump()); err != nil {
				return fmt.Errorf("write state: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "vigil replay: %d devices, %d baselines, up to sequence %d; %d device changes and %d deviations re-derived\n",
				len(p.inventory.Devices()), len(p.baseline.Devices()), p.seq, len(p.DeviceChanges), len(p.Deviations))
			enf := p.enforce.State()
			fmt.Fprintf(cmd.ErrOrStderr(), "vigil replay: %d enforcement blocks from %d enforcement events up to sequence %d\n",
				len(enf.Blocks), enf.Events, p.enforceSeq)
			if len(enf.Incomplete) > 0 {
				// Their first steps are older than the stream keeps: said, not guessed.
				fmt.Fprintf(cmd.ErrOrStderr(), "vigil replay: %d enforcement requests left out, their requested step is no longer in the log (--from-store reads older history): %v\n",
					len(enf.Incomplete), enf.Incomplete)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&fromStore, "from-store", false, "read the events from ClickHouse (store section) instead of JetStream")
	cmd.Flags().BoolVar(&checkpoint, "checkpoint", false, "save the rebuilt inventory as its checkpoint (engines stopped)")
	cmd.Flags().StringVar(&natsURL, "nats", "", "NATS URL(s) of the event log (default: the embedded store under the data directory)")
	cmd.Flags().StringVar(&data, "data", "", "data directory of an embedded event log")
	cmd.Flags().StringVar(&out, "out", "", "write the rebuilt state to this file instead of stdout")
	return cmd
}
