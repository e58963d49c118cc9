package main

import (
	"bytes"
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
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/enforce/backends"
	"github.com/vigil-health/vigil/enforce/edl"
	"github.com/vigil-health/vigil/enforce/nft"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/web"
)

// startEnforce starts the enforcement engine with its backends. An
// offline analysis (analyze, demo) never touches an enforcement point: it
// runs in dry-run without backends, so its report still shows what the
// gate would have done.
func startEnforce(ctx context.Context, cfg Config, logger *slog.Logger, lc *lifecycle, bus *events.Bus, src events.Source) (*enforce.Component, []web.Feed, []*edl.Feed, error) {
	ecfg := cfg.Enforce.Configuration
	var points []enforce.Backend
	var feeds []web.Feed
	var lists []*edl.Feed
	if cfg.Offline { // an analysis of a recording never touches a firewall
		ecfg.DryRun = true
	} else {
		if ecfg.NFTables.Enabled {
			b, err := nft.New(ecfg.NFTables, nil)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("enforce.nftables: %w", err)
			}
			points = append(points, b)
		}
		vendor, err := backends.New(cfg.Enforce.Backends, backends.Dependencies{Logger: logger})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("enforce.backends: %w", err)
		}
		// Feeds keep state and may listen on their own address: they run
		// before the engine reconciles into them and stop after it.
		for _, b := range vendor {
			if c, ok := b.(backends.Component); ok {
				if err := lc.start(ctx, "enforce "+b.Name(), c); err != nil {
					return nil, nil, nil, err
				}
			}
			// Feeds are served on Vigil's own server too (docs/enforcement-backends.md).
			if m, ok := b.(backends.Mountable); ok {
				feeds = append(feeds, web.Feed{Path: m.Path(), Handler: m.Handler()})
			}
			if f, ok := b.(*edl.Feed); ok {
				lists = append(lists, f)
			}
		}
		points = append(points, vendor...)
	}
	c, err := enforce.New(ecfg, enforce.Dependencies{Logger: logger, Bus: bus, Source: src, Backends: points,
		EventTimeOnly: cfg.Offline})
	if err != nil {
		return nil, nil, nil, err
	}
	if err := lc.start(ctx, "enforce", c); err != nil {
		return nil, nil, nil, err
	}
	return c, feeds, lists, nil
}

// enforceClient talks to the enforcement API of a running vigil.
type enforceClient struct{ api apiClient }

func (c enforceClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	contentType := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd, contentType = bytes.NewReader(b), "application/json"
	}
	return c.api.json(ctx, method, path, nil, rd, contentType, out)
}

func newEnforceCommand(g *globalOptions) *cobra.Command {
	var server string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "enforce",
		Short: "See and control enforcement on a running vigil",
		Long: `Enforce talks to the enforcement API of a running vigil (--server, else
http.listen of the configuration; an API token in $VIGIL_TOKEN). Policies
ask for blocks; the patient-safety gate holds those of life-sustaining and
patient-connected devices and of critical systems until a person approves
them; a reconciliation loop keeps each enforcement point (nftables, ...)
equal to the approved blocks and reports drift. See docs/enforcement.md.`,
		Example: `  vigil enforce status
  vigil enforce list --state pending
  vigil enforce approve req-5d41402abc4b2a76 --note "pump disconnected, ward informed"
  vigil enforce kill-switch on`,
	}
	cmd.PersistentFlags().StringVar(&server, "server", "", "URL of the running vigil (default: http.listen of the configuration)")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	client := func() (enforceClient, error) {
		c := enforceClient{api: newAPIClient(server)}
		if c.api.server != "" {
			return c, nil
		}
		cfg, err := g.loadConfig()
		if err != nil {
			return c, err
		}
		if cfg.HTTP.Listen == "" {
			return c, errors.New("no --server and no http.listen in the configuration: where does vigil run?")
		}
		scheme := "http"
		if cfg.HTTP.TLSCert != "" {
			scheme = "https"
		}
		c.api.server = scheme + "://" + cfg.HTTP.Listen
		return c, nil
	}
	printJSON := func(cmd *cobra.Command, v any) error {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}

	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Dry-run, kill switch, counts by state, and each enforcement point desired vs actual",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			var st enforce.Status
			if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/enforcement/status", nil, &st); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, st)
			}
			return writeEnforceStatus(cmd.OutOrStdout(), st)
		},
	})

	var state string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the blocks of the desired set",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			var blocks []enforce.Block
			path := "/api/v1/enforcement/blocks"
			if state != "" {
				path += "?state=" + url.QueryEscape(state)
			}
			if err := c.do(cmd.Context(), http.MethodGet, path, nil, &blocks); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, blocks)
			}
			return writeBlocks(cmd.OutOrStdout(), blocks)
		},
	}
	list.Flags().StringVar(&state, "state", "", "only blocks in this state: awaiting, pending, active, expired, revoked, rejected")
	cmd.AddCommand(list)

	cmd.AddCommand(&cobra.Command{
		Use:   "plan",
		Short: "What the next reconciliation would change on each enforcement point (and what dry-run blocks would do)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			var plan []enforce.Change
			if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/enforcement/plan", nil, &plan); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, plan)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "BACKEND\tOP\tBLOCK\tSCOPE\tWHY")
			for _, ch := range plan {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ch.Backend, ch.Op, ch.Entry.ID, blockScopeText(ch.Entry.Scope), ch.Why)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%d changes\n", len(plan))
			return err
		},
	})

	for _, action := range []string{"approve", "revoke"} {
		var actor, note string
		short := "Approve a pending block: it is enforced at once"
		if action == "revoke" {
			short = "End a pending or active block now: it is removed from every enforcement point"
		}
		sub := &cobra.Command{
			Use:   action + " ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := client()
				if err != nil {
					return err
				}
				var b enforce.Block
				body := web.EnforceAction{Actor: actor, Note: note}
				if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/enforcement/blocks/"+url.PathEscape(args[0])+"/"+action, body, &b); err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd, b)
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s %s, until %s\n", b.ID, b.State, blockScopeText(b.Scope), b.Device, b.Expires.Format(time.RFC3339))
				return err
			},
		}
		sub.Flags().StringVar(&actor, "actor", os.Getenv("USER"), "who acts (recorded; an authenticated server records its user instead)")
		sub.Flags().StringVar(&note, "note", "", "why, for the audit trail")
		cmd.AddCommand(sub)
	}

	var ksActor string
	ks := &cobra.Command{
		Use:       "kill-switch on|off",
		Short:     "Stop all enforcement (on: every block Vigil installed is removed) or resume it (off)",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"on", "off"},
		RunE: func(cmd *cobra.Command, args []string) error {
			var on bool
			switch args[0] {
			case "on":
				on = true
			case "off":
			default:
				return fmt.Errorf("kill-switch %q: want on or off", args[0])
			}
			c, err := client()
			if err != nil {
				return err
			}
			var st enforce.Status
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/enforcement/kill-switch", web.KillSwitchRequest{On: on, Actor: ksActor}, &st); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, st)
			}
			return writeEnforceStatus(cmd.OutOrStdout(), st)
		},
	}
	ks.Flags().StringVar(&ksActor, "actor", os.Getenv("USER"), "who acts (recorded; an authenticated server records its user instead)")
	cmd.AddCommand(ks)
	return cmd
}

func writeEnforceStatus(w io.Writer, st enforce.Status) error {
	kill := "off"
	if st.KillSwitch {
		kill = "ON (" + st.KillSwitchBy + ")"
	}
	rate := st.RateLimit
	if rate != "off" {
		rate += fmt.Sprintf(" (%.1f new blocks available now)", st.RateTokens)
	}
	fmt.Fprintf(w, "dry-run: %v\nkill switch: %s\nclock: %s\nrate limit: %s\n", st.DryRun, kill, st.Clock.Format(time.RFC3339), rate)
	var states []string
	for _, s := range []enforce.State{enforce.StateAwaiting, enforce.StatePending, enforce.StateActive, enforce.StateExpired, enforce.StateRevoked, enforce.StateRejected} {
		if n := st.States[s]; n > 0 {
			states = append(states, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(states) == 0 {
		states = []string{"none"}
	}
	fmt.Fprintf(w, "blocks: %s\n", strings.Join(states, ", "))
	if len(st.Backends) == 0 {
		_, err := fmt.Fprintln(w, "no enforcement point configured")
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tDESIRED\tACTUAL\tUNSUPPORTED\tDRIFTED\tAPPLIED\tREMOVED\tLAST PASS\tHEALTH")
	for _, b := range st.Backends {
		actual := fmt.Sprint(b.Actual)
		if b.Actual < 0 {
			actual = "unknown"
		}
		last, health := "-", "ok"
		if !b.LastReconcile.IsZero() {
			last = b.LastReconcile.Format(time.RFC3339)
		}
		if b.LastError != "" {
			health = fmt.Sprintf("%d failures, retry %s: %s", b.Failures, b.NextRetry.Format(time.TimeOnly), b.LastError)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", b.Name, b.Desired, actual, b.Unsupported, b.Drifted, b.Applied, b.Removed, last, health)
	}
	return tw.Flush()
}

func writeBlocks(w io.Writer, blocks []enforce.Block) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSCOPE\tDEVICE\tCRITICALITY\tEXPIRES\tDRY-RUN\tGATE")
	for _, b := range blocks {
		crit := "-"
		if b.Snapshot != nil && b.Snapshot.Criticality != "" {
			crit = b.Snapshot.Criticality
		}
		gate := "-"
		if len(b.Gate) > 0 {
			gate = strings.Join(b.Gate, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\t%s\n", b.ID, b.State, blockScopeText(b.Scope), dash(b.Device), crit,
			b.Expires.Format(time.RFC3339), b.DryRun, gate)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d blocks\n", len(blocks))
	return err
}

// blockScopeText writes a scope for a person: "10.0.0.1 <-> 203.0.113.9 tcp/443".
func blockScopeText(s events.BlockScope) string {
	if s.MAC != "" {
		return "mac " + s.MAC
	}
	t := s.IP
	if s.PeerIP != "" {
		t += " <-> " + s.PeerIP
	}
	if s.Port != 0 {
		tr := s.Transport
		if tr == "" {
			tr = "tcp+udp"
		}
		t += fmt.Sprintf(" %s/%d", tr, s.Port)
	}
	return t
}
