package sync

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/inventory"
	"github.com/vigil-health/vigil/inventory/classify"
	"github.com/vigil-health/vigil/inventory/oui"
	"github.com/vigil-health/vigil/scanner"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

const pumpMAC = "00:12:21:4e:0a:12"

func startBus(t *testing.T) *events.Bus {
	t.Helper()
	b, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop(context.Background()) })
	return b
}

// dhcp is what the sensor publishes for a DHCP exchange of the pump.
func dhcp(sec int, attr, value string) events.Event[events.Observation] {
	return events.MustEvent(t0.Add(time.Duration(sec)*time.Second), events.Source{Component: "sensor", Name: "ward-20"},
		events.Observation{Device: events.DeviceKey(pumpMAC, "", 20), MAC: pumpMAC, VLAN: 20, Attribute: attr, Value: value,
			Protocol: "dhcp", Confidence: 0.95, Evidence: "DHCPACK"})
}

func flowEv(sec int, id, origIP, respMAC, respIP string, port uint16) events.Event[events.Flow] {
	at := t0.Add(time.Duration(sec) * time.Second)
	return events.MustEvent(at, events.Source{Component: "sensor", Name: "ward-20"}, events.Flow{
		FlowID: id, Phase: events.FlowEnd, Start: at, Last: at, Transport: "tcp", VLAN: 20, State: "REJ", History: "Sr",
		Orig: events.Endpoint{MAC: "00:50:56:aa:bb:cc", IP: origIP, Port: 51000}, Resp: events.Endpoint{MAC: respMAC, IP: respIP, Port: port},
		OrigPackets: 1, RespPackets: 1, OrigBytes: 60, RespBytes: 40,
	})
}

// devicesOf adapts the inventory as cmd/vigil does.
func devicesOf(inv *inventory.Component) func() []scanner.Device {
	return func() []scanner.Device {
		var out []scanner.Device
		for _, d := range inv.Devices() {
			out = append(out, scanner.Device{ID: d.ID, Key: d.Key, MAC: d.MAC, VLAN: d.VLAN, IPs: d.CurrentIPs(),
				Hostname: d.Attr("hostname"), Category: d.Classification.Category, Medical: d.Classification.Medical,
				Criticality: string(d.Classification.Criticality)})
		}
		return out
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func publish(t *testing.T, b *events.Bus, msgs ...events.Message) {
	t.Helper()
	for _, m := range msgs {
		if err := b.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

func deviations(t *testing.T, b *events.Bus, typ events.DeviationType) []events.Event[events.Deviation] {
	t.Helper()
	var out []events.Event[events.Deviation]
	err := b.Read(context.Background(), events.StreamAnalytics, []events.Kind{events.KindDeviation}, func(d events.Delivery) error {
		ev, err := events.DecodeDelivery[events.Deviation](d)
		if err == nil && ev.Body.Type == typ {
			out = append(out, ev)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDeviceMovesExclusionFollows drives real DHCP observations through
// the inventory on an embedded bus: the pump is classified medical and
// excluded; its lease moves and the exclusion follows; an exclusion
// removed in the console is reported and restored; a scan engine
// touching the pump raises a deviation naming both.
func TestDeviceMovesExclusionFollows(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	s, client := console(t)
	t.Cleanup(client.CloseIdleConnections)
	s.SetExcluded(1, []string{"192.0.2.50"})
	b := startBus(t)
	ctx := context.Background()
	rules, err := classify.Load()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.New(inventory.DefaultConfiguration(), inventory.Dependencies{Bus: b, Classifier: rules, Vendors: oui.Default().Vendor})
	if err != nil {
		t.Fatal(err)
	}
	if err := inv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inv.Stop(context.Background()) })
	ledger, err := NewKVLedger(ctx, b.JetStream(), 1)
	if err != nil {
		t.Fatal(err)
	}
	conf := cfg()
	conf.Debounce, conf.ScanEngines = 20*time.Millisecond, []string{"10.0.5.10"}
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	sc, err := New(conf, Dependencies{Bus: b, Devices: devicesOf(inv), Console: client, Ledger: ledger,
		Source: events.Source{Name: "default", Site: "default"}, Now: func() time.Time { return now },
		Ready: func(ctx context.Context) error { return b.WaitCaughtUp(ctx, events.StreamSensor, inventory.Durable) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Stop(context.Background()) })

	publish(t, b,
		dhcp(1, "dhcp.vendor_class", "BBraun-Infusomat-Space"),
		dhcp(1, "hostname", "INF-PUMP-02"),
		dhcp(1, "ip", "10.20.0.102"))
	waitFor(t, "the pump's address excluded", func() bool { return slices.Contains(s.Excluded(1), "10.20.0.102") })
	d, _ := inv.Device(inventory.DeviceID(events.DeviceKey(pumpMAC, "", 20)))
	if !d.Classification.Medical {
		t.Fatalf("the pump was not classified medical: %+v", d.Classification)
	}

	// The lease moves: the inventory publishes address and
	// address_released; the exclusion follows.
	publish(t, b, dhcp(600, "ip", "10.20.0.140"))
	waitFor(t, "the exclusion to follow the pump", func() bool {
		ex := s.Excluded(1)
		return slices.Contains(ex, "10.20.0.140") && !slices.Contains(ex, "10.20.0.102")
	})
	if !slices.Contains(s.Excluded(1), "192.0.2.50") {
		t.Errorf("the administrator's exclusion was removed: %v", s.Excluded(1))
	}

	// Drift: someone removes the pump's exclusion; the periodic full sync
	// reports and repairs it.
	s.SetExcluded(1, []string{"192.0.2.50"})
	res, err := sc.SyncNow(ctx, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if dr := res.Drift(); len(dr) != 1 || dr[0].Address != "10.20.0.140" || !dr[0].Repaired {
		t.Errorf("drift = %+v", dr)
	}
	if !slices.Contains(s.Excluded(1), "10.20.0.140") {
		t.Errorf("drift not repaired: %v", s.Excluded(1))
	}
	if st := sc.Status(); st.DriftDetected != 1 || st.DriftRepaired != 1 || !st.InventoryReady {
		t.Errorf("status = %+v", st)
	}
	drift := deviations(t, b, DeviationExclusionDrift)
	if len(drift) != 1 || drift[0].Body.Device.ID != d.ID || drift[0].Body.Value != "10.20.0.140" || !drift[0].Time.Equal(now) {
		t.Errorf("drift deviations = %+v", drift)
	}

	// The ledger survives in the KV bucket, keyed by device ID.
	l, err := ledger.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]Entry{d.ID: {Sites: map[string][]string{"1": {"10.20.0.140"}}}}, l); diff != "" {
		t.Errorf("ledger (-want +got):\n%s", diff)
	}

	// A scan engine probes the pump (twice within the alert window, and a
	// non-excluded host): one deviation.
	publish(t, b,
		flowEv(900, "f1", "10.0.5.10", pumpMAC, "10.20.0.140", 443),
		flowEv(901, "f2", "10.0.5.10", pumpMAC, "10.20.0.140", 22),
		flowEv(902, "f3", "10.0.5.10", "00:11:22:33:44:55", "10.20.0.30", 22),
		flowEv(903, "f4", "10.20.0.150", pumpMAC, "10.20.0.140", 443))
	if err := b.WaitCaughtUp(ctx, events.StreamSensor, DurableFlows); err != nil {
		t.Fatal(err)
	}
	got := deviations(t, b, DeviationScannedWhileExcluded)
	if len(got) != 1 {
		t.Fatalf("%d scanned_while_excluded deviations, want 1: %+v", len(got), got)
	}
	dev := got[0]
	if dev.Body.Device.ID != d.ID || !dev.Body.Device.Medical || dev.Body.Peer.IP != "10.0.5.10" ||
		dev.Body.Port != 443 || !dev.Time.Equal(t0.Add(900*time.Second)) || !slices.Equal(dev.Body.Evidence, []string{"f1"}) {
		t.Errorf("deviation = %+v", dev)
	}
	want := "INF-PUMP-02 (10.20.0.140, excluded from active scanning as a medical device) was contacted by scan engine 10.0.5.10 on tcp/443"
	if dev.Body.Summary != want {
		t.Errorf("summary = %q", dev.Body.Summary)
	}
}

// TestWatchWithoutConsole: with scan engines but no console, the watch
// still follows the inventory's medical devices.
func TestWatchWithoutConsole(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	b := startBus(t)
	ctx := context.Background()
	devices := []scanner.Device{pump}
	conf := scanner.DefaultConfiguration()
	conf.ScanEngines = []string{"10.0.5.0/24"}
	sc, err := New(conf, Dependencies{Bus: b, Devices: func() []scanner.Device { return devices }})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer sc.Stop(context.Background())
	if _, err := sc.SyncNow(ctx, true, false); err == nil || !strings.Contains(err.Error(), "scanner.insightvm.url") {
		t.Errorf("sync without console: %v", err)
	}
	publish(t, b, flowEv(10, "w1", "10.0.5.77", pumpMAC, "10.20.0.102", 22))
	if err := b.WaitCaughtUp(ctx, events.StreamSensor, DurableFlows); err != nil {
		t.Fatal(err)
	}
	if got := deviations(t, b, DeviationScannedWhileExcluded); len(got) != 1 || got[0].Body.Device.ID != "dev-pump" {
		t.Errorf("deviations = %+v", got)
	}

	// A workstation the baseline saw scanning the network becomes an
	// engine too.
	scan := events.MustEvent(t0.Add(20*time.Second), events.Source{Component: "baseline"}, events.Deviation{
		Type: events.DeviationScan, Count: 300, Summary: "scan",
		Device: events.DeviceSnapshot{Key: "mac:00:14:22:b7:3e:5a/20", MAC: "00:14:22:b7:3e:5a", IPs: []string{"10.20.0.150"}, VLAN: 20}})
	publish(t, b, scan)
	if err := b.WaitCaughtUp(ctx, events.StreamAnalytics, DurableChanges); err != nil {
		t.Fatal(err)
	}
	publish(t, b, flowEv(30, "w2", "10.20.0.150", pumpMAC, "10.20.0.102", 23))
	if err := b.WaitCaughtUp(ctx, events.StreamSensor, DurableFlows); err != nil {
		t.Fatal(err)
	}
	got := deviations(t, b, DeviationScannedWhileExcluded)
	if len(got) != 2 || got[1].Body.Peer.IP != "10.20.0.150" || got[1].Body.Port != 23 {
		t.Errorf("deviations after the learned engine = %+v", got)
	}
	if st := sc.Status(); st.Console || st.ScannedExcluded != 2 || st.Excluded != 1 || len(st.Engines) != 2 {
		t.Errorf("status = %+v", st)
	}
}
