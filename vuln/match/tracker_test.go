package match_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/alias"
	"github.com/vigil-health/vigil/vuln/match"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

func steps(evs []events.Event[events.Vulnerability]) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s %s %s %dd", e.Body.ID, e.Body.Status, e.Body.Confidence, e.Body.DaysOpen))
	}
	return out
}

// TestLifecycle: an Alaris pump is detected with its version unknown
// (potential), confirmed when its firmware is read, resolved when the
// firmware is updated out of the range (days open by event time), and
// detected again after a downgrade.
func TestLifecycle(t *testing.T) {
	m := match.New(loaded(t), alias.Shipped())
	tr := match.NewTracker(events.Source{Component: "vuln"})
	pump := device("mac:00:d0:75:13:9c:41/20", true, "vendor", "BD (Alaris)", "dhcp.vendor_class", "Alaris-PC-8015", "hostname", "INF-PUMP-03")
	run := func(at time.Time, attrs ...string) []string {
		for i := 0; i+1 < len(attrs); i += 2 {
			pump.Attributes[attrs[i]] = attrs[i+1]
		}
		tr.Snapshot(pump)
		return steps(tr.Update(at, pump.Key, m.Match(pump, nil), []string{"cause"}))
	}
	all := func(status, conf, days string) []string {
		var out []string
		for _, id := range alaris {
			out = append(out, id+" "+status+" "+conf+" "+days)
		}
		return out
	}
	if got, w := run(t0), all("detected", "potential", "0d"); !slices.Equal(got, w) {
		t.Errorf("first match:\n got %q\nwant %q", got, w)
	}
	if got := run(t0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("the same match again: %q", got)
	}
	if got, w := run(t0.Add(2*24*time.Hour), "firmware_version", "12.1.3"), all("updated", "confirmed", "2d"); !slices.Equal(got, w) {
		t.Errorf("version known:\n got %q\nwant %q", got, w)
	}
	if got, w := run(t0.Add(5*24*time.Hour+time.Hour), "firmware_version", "12.2"), all("resolved", "confirmed", "5d"); !slices.Equal(got, w) {
		t.Errorf("firmware updated:\n got %q\nwant %q", got, w)
	}
	recs, ok := tr.Records("dev-" + pump.Key)
	if !ok || len(recs) != len(alaris) || recs[0].Status != vuln.Resolved || recs[0].DaysOpen != 5 {
		t.Errorf("records after the update: %+v", recs)
	}
	if got, w := run(t0.Add(9*24*time.Hour), "firmware_version", "12.1.3"), all("detected", "confirmed", "0d"); !slices.Equal(got, w) {
		t.Errorf("downgrade:\n got %q\nwant %q", got, w)
	}

	// The checkpoint restores the same state.
	b, err := tr.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	again := match.NewTracker(events.Source{Component: "vuln"})
	if err := again.RestoreState(b); err != nil {
		t.Fatal(err)
	}
	r1, _ := tr.Records(pump.Key)
	r2, _ := again.Records(pump.Key)
	if fmt.Sprint(r1) != fmt.Sprint(r2) {
		t.Errorf("restored records differ")
	}
	if err := again.RestoreState([]byte(`{"version":9}`)); err == nil {
		t.Error("a checkpoint of another version was read")
	}
}

// TestComponent runs the matcher over the bus: device changes in,
// vulnerability events out; a restart resumes from the checkpoint
// without publishing the same events twice.
func TestComponent(t *testing.T) {
	b := startBus(t)
	store := loaded(t)
	src := events.Source{Name: "test", Site: "test"}
	change := func(at time.Time, c events.ChangeType, attr, val string, attrs ...string) events.Message {
		d := device("mac:00:12:21:4e:0a:11/20", true, attrs...)
		return events.MustEvent(at, events.Source{Component: "inventory"}, events.DeviceChange{Device: d, Change: c, Attribute: attr, New: val})
	}
	base := []string{"vendor", "B. Braun", "dhcp.vendor_class", "BBraun-Infusomat-Space", "hostname", "INF-PUMP-01"}
	publish(t, b,
		change(t0, events.ChangeNew, "", "", base...),
		change(t0.Add(time.Minute), events.ChangeAttribute, "hostname", "INF-PUMP-01", base...), // not read: no rematch
		change(t0.Add(time.Hour), events.ChangeAttribute, "software_version", "L80", append(base, "software_version", "L80")...),
	)
	c1, err := match.NewComponent(match.DefaultConfiguration(), match.Dependencies{Bus: b, Store: store, Checkpoints: b, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	runUntilCaughtUp(t, b, c1)
	if err := c1.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	publish(t, b, change(t0.Add(72*time.Hour), events.ChangeAttribute, "software_version", "L82", append(base, "software_version", "L82")...))
	c2, err := match.NewComponent(match.DefaultConfiguration(), match.Dependencies{Bus: b, Store: store, Checkpoints: b, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	runUntilCaughtUp(t, b, c2)
	defer c2.Stop(context.Background())

	var got []string
	err = b.Read(context.Background(), events.StreamAnalytics, []events.Kind{events.KindVulnerability}, func(d events.Delivery) error {
		e, err := events.Decode[events.Vulnerability](d.Data)
		if err != nil {
			return err
		}
		got = append(got, fmt.Sprintf("%s %s %s", e.Body.ID, e.Body.Status, e.Body.Confidence))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var w []string
	for _, s := range []string{"detected potential", "updated confirmed", "resolved confirmed"} {
		for _, id := range bbraun {
			w = append(w, id+" "+s)
		}
	}
	if !slices.Equal(got, w) {
		t.Errorf("vulnerability events:\n got %q\nwant %q", got, w)
	}
	sum := c2.Summary()
	if sum.Devices != 1 || sum.Open != 0 || sum.Resolved != 5 {
		t.Errorf("summary %+v", sum)
	}
	if recs := c2.Vulnerabilities(vuln.Query{Status: "all", Device: "dev-mac:00:12:21:4e:0a:11/20"}); len(recs) != 5 {
		t.Errorf("%d records", len(recs))
	}
	// Scanner findings hand over through the component and merge.
	unknown, err := c2.ScannerFindings(context.Background(), time.Time{}, "insightvm", []vuln.ScannerFinding{
		{Device: "mac:00:12:21:4e:0a:11/20", ID: "CVE-2017-15710", Verified: true},
		{Device: "mac:99:99:99:99:99:99/1", ID: "CVE-2017-15710", Verified: true},
	})
	if err != nil || len(unknown) != 1 {
		t.Fatalf("unknown %v, err %v", unknown, err)
	}
	if recs := c2.Vulnerabilities(vuln.Query{Status: vuln.Open}); len(recs) != 1 || recs[0].Sources[0] != "insightvm" {
		t.Errorf("open after the scanner: %+v", recs)
	}
}

// TestReload: an import into the store file of a running system is read
// again and every device matched against it.
func TestReload(t *testing.T) {
	b := startBus(t)
	file := filepath.Join(t.TempDir(), "store.json")
	if err := match.SaveStore(vuln.NewStore(), file); err != nil {
		t.Fatal(err)
	}
	empty, err := match.LoadStore(file)
	if err != nil {
		t.Fatal(err)
	}
	dev := device("mac:d4:ae:52:8a:10:11/20", true, "vendor", "Dell", "dicom.implementation_version", "OFFIS_DCMTK_366")
	publish(t, b, events.MustEvent(t0, events.Source{Component: "inventory"}, events.DeviceChange{Device: dev, Change: events.ChangeNew}))
	c, err := match.NewComponent(match.Configuration{ReloadEvery: 0}, match.Dependencies{Bus: b, Store: empty, StoreFile: file})
	if err != nil {
		t.Fatal(err)
	}
	runUntilCaughtUp(t, b, c)
	defer c.Stop(context.Background())
	if n := len(c.Vulnerabilities(vuln.Query{})); n != 0 {
		t.Fatalf("%d matches against an empty store", n)
	}
	if err := match.SaveStore(loaded(t), file); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(file, later, later); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if recs := c.Vulnerabilities(vuln.Query{Status: vuln.Open}); len(recs) != 3 || recs[0].DetectedAt != t0 {
		t.Errorf("after the reload: %+v", recs)
	}
	// A broken file is refused; the data held stays.
	if err := os.WriteFile(file, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(file, later.Add(time.Minute), later.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(context.Background()); err == nil {
		t.Error("a broken store file was read")
	}
	if n := len(c.Vulnerabilities(vuln.Query{Status: vuln.Open})); n != 3 {
		t.Errorf("%d open after a broken reload", n)
	}
}
