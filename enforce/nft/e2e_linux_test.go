//go:build linux

package nft

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/policy"
)

// labRule is a site policy: a device reaching a new peer is blocked from
// that peer's port, for count seconds when the deviation has a count.
const labRule = `package vigil.rules.lab_block

import data.vigil.lib

alerts contains {
	"rule": "lab_new_peer",
	"severity": "high",
	"title": sprintf("%s reached %s", [lib.device_label(input.body.device), lib.peer_text]),
} if lib.deviation("new_peer")

duration := input.body.count if {
	input.body.count > 0
} else := 3600

enforce contains {
	"scope": {"ip": ip, "peer_ip": lib.peer_ip, "port": input.body.port, "transport": input.body.transport},
	"duration_s": duration,
	"reason": sprintf("lab: %s reached new peer %s", [lib.device_label(input.body.device), lib.peer_text]),
} if {
	lib.deviation("new_peer")
	some ip in input.body.device.ips
}
`

var (
	hostA = events.DeviceSnapshot{Key: "mac:02:00:00:00:00:0a/0", MAC: "02:00:00:00:00:0a", IPs: []string{addrA},
		Attributes: map[string]string{"hostname": "ws-lab-a"}, Category: "workstation", Criticality: "non_clinical"}
	pumpA = events.DeviceSnapshot{Key: "mac:02:00:00:00:00:0a/0", MAC: "02:00:00:00:00:0a", IPs: []string{addrA},
		Attributes: map[string]string{"hostname": "pump-lab-a"}, Category: "infusion_pump", Medical: true, Criticality: "life_sustaining"}
)

// pipeline is the bus, the policy engine with labRule, and the enforce
// engine with the nftables backend in the lab's firewall.
type pipeline struct {
	bus     *events.Bus
	enforce *enforce.Component
	backend *Backend
}

func newPipeline(t testing.TB, l *lab, cfg enforce.Configuration) *pipeline {
	t.Helper()
	ctx := context.Background()
	bus, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Stop(context.Background()) })

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "lab.rego"), []byte(labRule), 0o644); err != nil {
		t.Fatal(err)
	}
	pcfg := policy.DefaultConfiguration()
	pcfg.Builtin, pcfg.Dir, pcfg.Edges = false, dir, false
	pol, err := policy.New(pcfg, policy.Dependencies{Bus: bus, Source: events.Source{Name: "lab"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := pol.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pol.Stop(context.Background()) })

	cfg.NFTables.Enabled, cfg.NFTables.NetNS = true, l.fwPath
	backend, err := New(cfg.NFTables, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := enforce.New(cfg, enforce.Dependencies{Bus: bus, Source: events.Source{Name: "lab"}, Backends: []enforce.Backend{backend}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return &pipeline{bus: bus, enforce: c, backend: backend}
}

// deviate publishes a new_peer deviation of dev towards B:port, as the
// baseline would.
func (p *pipeline) deviate(t testing.TB, at time.Time, dev events.DeviceSnapshot, port uint16, count int) {
	t.Helper()
	ev := events.MustEvent(at, events.Source{Component: "baseline", Name: "lab"}, events.Deviation{
		Type: events.DeviationNewPeer, Device: dev, Direction: "outbound",
		Peer: &events.Endpoint{IP: addrB, Port: port}, Transport: "tcp", Port: port, Count: count,
		Summary: "lab deviation", Baseline: events.BaselineContext{Ready: true},
	})
	if err := p.bus.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

func (p *pipeline) blocks(t testing.TB, state enforce.State) []enforce.Block {
	bs, err := p.enforce.Desired(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(bs, func(b enforce.Block) bool { return b.State != state })
}

func (p *pipeline) steps(t testing.TB, id string) string {
	t.Helper()
	var s []string
	err := p.bus.Read(context.Background(), events.StreamEnforce, []events.Kind{events.KindEnforcement}, func(d events.Delivery) error {
		ev, err := events.Decode[events.Enforcement](d.Data)
		if err == nil && (id == "" || ev.Body.RequestID == id) {
			s = append(s, string(ev.Body.Step))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(s, ",")
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEndToEnd: two hosts talk through a firewall; a policy decision on a
// deviation leads to an nftables rule that drops their traffic; a rule
// deleted by hand is reported as drift and restored; revoke and expiry
// (by event time) let the traffic flow again; a life-sustaining device is
// not blocked until a person approves.
func TestEndToEnd(t *testing.T) {
	l := newLab(t)
	cfg := enforce.DefaultConfiguration()
	cfg.DryRun = false
	cfg.ReconcileInterval = time.Hour // passes come from changes and from Reconcile below
	p := newPipeline(t, l, cfg)
	ctx := context.Background()
	if !l.connects(t, 443) || !l.connects(t, 80) {
		t.Fatal("A does not reach B before any block")
	}

	// 1. Deviation -> policy -> decision -> gate -> nftables.
	t1 := time.Now().UTC()
	p.deviate(t, t1, hostA, 443, 0)
	waitFor(t, "the block to drop A -> B:443", func() bool { return !l.connects(t, 443) })
	if !l.connects(t, 80) {
		t.Fatal("the flow block also drops B:80")
	}
	active := p.blocks(t, enforce.StateActive)
	if len(active) != 1 {
		t.Fatalf("active blocks: %+v", active)
	}
	id := active[0].ID
	if out := l.nft(t, "list", "set", "inet", "vigil", "f4"); !strings.Contains(out, id) {
		t.Fatalf("element not labelled with %s:\n%s", id, out)
	}

	// 2. Deleted by hand behind Vigil's back: traffic flows, the next
	// pass reports drift and restores the rule.
	l.nft(t, "delete", "element", "inet", "vigil", "f4", "{ "+addrA+" . "+addrB+" . tcp . 443 }")
	if !l.connects(t, 443) {
		t.Fatal("the hand deletion did not reopen the traffic")
	}
	if err := p.enforce.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if l.connects(t, 443) {
		t.Fatal("drift not repaired")
	}
	if st := p.enforce.Status().Backends[0]; st.Drifted != 1 || st.Desired != 1 || st.Actual != 1 {
		t.Fatalf("status after drift: %+v", st)
	}
	waitFor(t, "the drifted step", func() bool { return strings.Contains(p.steps(t, id), "drifted,applied") })

	// 3. Revoke: traffic flows again.
	if _, err := p.enforce.Revoke(ctx, id, "lab-admin", "test over"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A -> B:443 after revoke", func() bool { return l.connects(t, 443) })
	if got := p.steps(t, id); got != "requested,approved,applied,drifted,applied,revoked" {
		t.Fatalf("steps of %s: %s", id, got)
	}

	// 4. A 60 s block ends when event time passes its end (the wall
	// clock is far from it).
	t2 := time.Now().UTC()
	p.deviate(t, t2, hostA, 80, 60)
	waitFor(t, "the block to drop A -> B:80", func() bool { return !l.connects(t, 80) })
	p.deviate(t, t2.Add(2*time.Minute), events.DeviceSnapshot{Key: "mac:02:00:00:00:00:0b/0", IPs: []string{"10.77.1.3"}}, 8080, 0)
	waitFor(t, "A -> B:80 after expiry", func() bool { return l.connects(t, 80) })
	if exp := p.blocks(t, enforce.StateExpired); len(exp) != 1 {
		t.Fatalf("expired blocks: %+v", exp)
	}

	// 5. A life-sustaining device is held until approved. Its block
	// still narrows nothing (it names a peer and a port).
	for _, b := range p.blocks(t, enforce.StateActive) { // the third deviation's block
		if _, err := p.enforce.Revoke(ctx, b.ID, "lab-admin", ""); err != nil {
			t.Fatal(err)
		}
	}
	t3 := t2.Add(3 * time.Minute)
	p.deviate(t, t3, pumpA, 443, 0)
	waitFor(t, "the pump's block pending", func() bool { return len(p.blocks(t, enforce.StatePending)) == 1 })
	if err := p.enforce.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if !l.connects(t, 443) {
		t.Fatal("the pump was blocked without approval")
	}
	pending := p.blocks(t, enforce.StatePending)[0]
	if !strings.Contains(strings.Join(pending.Gate, ";"), "life-sustaining") {
		t.Fatalf("gate: %v", pending.Gate)
	}
	if _, err := p.enforce.Approve(ctx, pending.ID, "charge-nurse", "pump disconnected from the patient"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the approved block to drop A -> B:443", func() bool { return !l.connects(t, 443) })
}

// TestDryRunLeavesTheFirewallAlone: in dry-run the whole path runs and
// nothing reaches nftables: no table, traffic flows.
func TestDryRunLeavesTheFirewallAlone(t *testing.T) {
	l := newLab(t)
	cfg := enforce.DefaultConfiguration() // dry-run
	p := newPipeline(t, l, cfg)
	p.deviate(t, time.Now().UTC(), hostA, 443, 0)
	waitFor(t, "the dry-run block", func() bool { return len(p.blocks(t, enforce.StateActive)) == 1 })
	if err := p.enforce.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !l.connects(t, 443) {
		t.Fatal("dry-run dropped traffic")
	}
	if out := l.nft(t, "list", "tables"); strings.Contains(out, "vigil") {
		t.Fatalf("dry-run touched nftables:\n%s", out)
	}
	if b := p.blocks(t, enforce.StateActive)[0]; !b.DryRun {
		t.Fatal("block not marked dry-run")
	}
}
