package sync

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/internal/testshared"
	"github.com/vigil-health/vigil/scanner"
	"github.com/vigil-health/vigil/scanner/insightvm"
	"github.com/vigil-health/vigil/scanner/insightvm/ivmtest"
)

// console starts the InsightVM double over the recorded responses, with
// every request checked against the console's API description.
func console(t *testing.T) (*ivmtest.Server, *insightvm.Client) {
	t.Helper()
	dir := filepath.Join(testshared.Dir(t), "integrations", "scanners", "insightvm")
	s, err := ivmtest.New(filepath.Join(dir, "recorded"), "vigil", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.LoadSpec(filepath.Join(dir, "console-swagger-6.6.55.json")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if v := s.Violations(); len(v) > 0 {
			t.Errorf("requests outside the API description: %v", v)
		}
	})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := s.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	cfg := insightvm.DefaultConfiguration()
	cfg.URL, cfg.User, cfg.Password, cfg.CAFile, cfg.RetryBackoff = s.URL(), "vigil", "s3cret", ca, time.Millisecond
	c, err := insightvm.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

var (
	pump = scanner.Device{ID: "dev-pump", MAC: "00:12:21:4e:0a:12", IPs: []string{"10.20.0.102"}, Hostname: "INF-PUMP-02",
		Category: "infusion_pump", Medical: true, Criticality: "life_sustaining", VLAN: 20}
	monitor = scanner.Device{ID: "dev-monitor", MAC: "00:09:fb:00:00:01", IPs: []string{"10.20.0.110"}, Hostname: "MON-01",
		Category: "patient_monitor", Medical: true, Criticality: "patient_connected", VLAN: 20}
	// webserver is the host of the recorded console: asset 1.
	webserver = scanner.Device{ID: "dev-web", MAC: "02:42:ac:12:00:03", IPs: []string{"172.18.0.3"}, Hostname: "da7a8ca02894",
		Category: "server", Criticality: "non_clinical"}
)

func cfg() scanner.Configuration {
	c := scanner.DefaultConfiguration()
	c.InsightVM.URL, c.InsightVM.User, c.InsightVM.Password = "https://unused", "vigil", "x"
	return c
}

func sync(t *testing.T, r *Reconciler, in Inputs) Result {
	t.Helper()
	res, err := r.Sync(context.Background(), in)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return res
}

func TestExclusionsFollowDevicesAndKeepOthers(t *testing.T) {
	s, c := console(t)
	s.SetExcluded(1, []string{"192.0.2.50"}) // an administrator's own exclusion
	ledger := &MemoryLedger{}
	r := NewReconciler(cfg(), c, ledger, nil)

	res := sync(t, r, Inputs{Devices: []scanner.Device{pump, monitor, webserver}})
	if diff := cmp.Diff([]string{"192.0.2.50", "10.20.0.102", "10.20.0.110"}, s.Excluded(1)); diff != "" {
		t.Errorf("console after the first sync (-want +got):\n%s", diff)
	}
	if sr := res.Sites[0]; !sr.Verified || len(sr.Added) != 2 || len(sr.Drift) != 0 {
		t.Errorf("site result = %+v", sr)
	}
	l, _ := ledger.Load(context.Background())
	if diff := cmp.Diff(map[string]Entry{
		"dev-pump":    {Sites: map[string][]string{"1": {"10.20.0.102"}}},
		"dev-monitor": {Sites: map[string][]string{"1": {"10.20.0.110"}}},
	}, l); diff != "" {
		t.Errorf("ledger (-want +got):\n%s", diff)
	}

	// DHCP moves the pump: the old address goes, the new one comes, the
	// administrator's exclusion stays.
	moved := pump
	moved.IPs = []string{"10.20.0.140"}
	res = sync(t, r, Inputs{Devices: []scanner.Device{moved, monitor, webserver}})
	if diff := cmp.Diff([]string{"192.0.2.50", "10.20.0.110", "10.20.0.140"}, s.Excluded(1)); diff != "" {
		t.Errorf("console after the move (-want +got):\n%s", diff)
	}
	if sr := res.Sites[0]; !cmp.Equal(sr.Added, []string{"10.20.0.140"}) || !cmp.Equal(sr.Removed, []string{"10.20.0.102"}) {
		t.Errorf("move: added %v removed %v", sr.Added, sr.Removed)
	}

	// A second sync with nothing changed changes nothing.
	before := len(s.Requests())
	res = sync(t, r, Inputs{Devices: []scanner.Device{moved, monitor, webserver}})
	for _, rq := range s.Requests()[before:] {
		if rq.Method != http.MethodGet {
			t.Errorf("idle sync sent %s %s", rq.Method, rq.Path)
		}
	}

	// The monitor leaves the inventory's medical set: its exclusion goes.
	notMedical := monitor
	notMedical.Medical = false
	sync(t, r, Inputs{Devices: []scanner.Device{moved, notMedical}})
	if diff := cmp.Diff([]string{"192.0.2.50", "10.20.0.140"}, s.Excluded(1)); diff != "" {
		t.Errorf("console after reclassification (-want +got):\n%s", diff)
	}
	l, _ = ledger.Load(context.Background())
	if _, ok := l["dev-monitor"]; ok {
		t.Errorf("ledger still holds the monitor: %v", l)
	}
}

func TestDriftIsDetectedAndRepaired(t *testing.T) {
	s, c := console(t)
	r := NewReconciler(cfg(), c, &MemoryLedger{}, nil)
	devices := []scanner.Device{pump, monitor}
	sync(t, r, Inputs{Devices: devices})

	// Someone removes the pump's exclusion in the console.
	s.SetExcluded(1, []string{"10.20.0.110", "198.51.100.7"})
	res := sync(t, r, Inputs{Devices: devices})
	want := []Drift{{Site: "vulnsite", Address: "10.20.0.102", Kind: "missing", DeviceID: "dev-pump", Repaired: true}}
	if diff := cmp.Diff(want, res.Drift()); diff != "" {
		t.Errorf("drift (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"10.20.0.110", "198.51.100.7", "10.20.0.102"}, s.Excluded(1)); diff != "" {
		t.Errorf("console after repair (-want +got):\n%s", diff)
	}
	if !res.Sites[0].Verified {
		t.Errorf("repair not verified by read-back: %+v", res.Sites[0])
	}
}

func TestOwnListReplacesForeignEntries(t *testing.T) {
	s, c := console(t)
	s.SetExcluded(1, []string{"198.51.100.7"})
	conf := cfg()
	conf.OwnList, conf.ExtraExclusions = true, []string{"10.30.0.0/24"}
	r := NewReconciler(conf, c, &MemoryLedger{}, nil)
	res := sync(t, r, Inputs{Devices: []scanner.Device{pump}})
	if diff := cmp.Diff([]string{"10.20.0.102", "10.30.0.0/24"}, s.Excluded(1)); diff != "" {
		t.Errorf("console (-want +got):\n%s", diff)
	}
	if d := res.Drift(); len(d) != 1 || d[0].Kind != "foreign" || d[0].Address != "198.51.100.7" {
		t.Errorf("drift = %+v", d)
	}
	var put bool
	for _, rq := range s.Requests() {
		put = put || (rq.Method == http.MethodPut && strings.HasSuffix(rq.Path, "/excluded_targets"))
	}
	if !put {
		t.Error("own_list did not replace the list with PUT")
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	s, c := console(t)
	ledger := &MemoryLedger{}
	r := NewReconciler(cfg(), c, ledger, nil)
	res := sync(t, r, Inputs{Devices: []scanner.Device{pump}, DryRun: true, Full: true})
	if got := s.Excluded(1); len(got) != 0 {
		t.Errorf("dry run changed the console: %v", got)
	}
	if !cmp.Equal(res.Sites[0].Added, []string{"10.20.0.102"}) || res.Sites[0].Verified {
		t.Errorf("dry-run plan = %+v", res.Sites[0])
	}
	for _, rq := range s.Requests() {
		if rq.Method != http.MethodGet && rq.Path != "/api/3/assets/search" {
			t.Errorf("dry run sent %s %s", rq.Method, rq.Path)
		}
	}
	if l, _ := ledger.Load(context.Background()); len(l) != 0 {
		t.Errorf("dry run wrote the ledger: %v", l)
	}
}

func TestConsoleFailureKeepsLedger(t *testing.T) {
	s, c := console(t)
	ledger := &MemoryLedger{}
	r := NewReconciler(cfg(), c, ledger, nil)
	sync(t, r, Inputs{Devices: []scanner.Device{pump}})
	s.FailNext(100, http.StatusServiceUnavailable)
	moved := pump
	moved.IPs = []string{"10.20.0.140"}
	_, err := r.Sync(context.Background(), Inputs{Devices: []scanner.Device{moved}})
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want the console's 503", err)
	}
	s.FailNext(0, 0)
	l, _ := ledger.Load(context.Background())
	if !cmp.Equal(l["dev-pump"].Sites["1"], []string{"10.20.0.102"}) {
		t.Errorf("ledger lost the pump's exclusion after a failure: %v", l)
	}
	// Once the console is back, the stale address is still removed.
	sync(t, r, Inputs{Devices: []scanner.Device{moved}})
	if diff := cmp.Diff([]string{"10.20.0.140"}, s.Excluded(1)); diff != "" {
		t.Errorf("console after recovery (-want +got):\n%s", diff)
	}
}

func TestTagsAndFindings(t *testing.T) {
	s, c := console(t)
	if err := s.AddAsset(1, insightvm.Asset{ID: 7, IP: "10.20.0.102", MAC: "00:12:21:4E:0A:12", HostName: "inf-pump-02.ward.example"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAsset(0, insightvm.Asset{ID: 8, IP: "10.99.0.8", HostName: "unknown-host"},
		insightvm.VulnerabilityFinding{ID: "apache-httpd-cve-2017-15710", Instances: 1, Status: "vulnerable"}); err != nil {
		t.Fatal(err)
	}
	r := NewReconciler(cfg(), c, &MemoryLedger{}, nil)
	in := Inputs{Devices: []scanner.Device{pump, webserver}, Full: true,
		Clinical: map[string][]string{"dev-pump": {"CVE-2020-25165"}}}
	res := sync(t, r, in)
	wantTags := []string{"Vigil: CVE-2020-25165", "Vigil: infusion_pump", "Vigil: medical"}
	if diff := cmp.Diff(wantTags, s.AssetTagNames(7)); diff != "" {
		t.Errorf("pump asset tags (-want +got):\n%s", diff)
	}
	if got := s.AssetTagNames(1); len(got) != 0 {
		t.Errorf("the web server is not medical but got tags %v", got)
	}
	if res.Tags.MedicalAssets != 1 || res.Tags.Assigned != 3 || len(res.Tags.Created) != 3 {
		t.Errorf("tags = %+v", res.Tags)
	}

	// Findings: asset 1 is the inventory's web server (merged by MAC);
	// the pump's asset is skipped; asset 8 matches no device.
	f := res.Findings
	if f.Imported != 53 || f.SkippedMedical != 1 || len(f.Unmatched) != 1 || f.Unmatched[0].Address != "10.99.0.8" {
		t.Errorf("findings = %+v", f)
	}
	byCheck := map[string]scanner.Finding{}
	for _, fd := range r.Findings() {
		if fd.Host == "172.18.0.3" {
			byCheck[fd.Check] = fd
			if fd.DeviceID != "dev-web" || fd.MatchedBy != "mac" {
				t.Errorf("finding %s not merged by MAC: %+v", fd.Check, fd)
			}
		}
	}
	got := byCheck["apache-httpd-cve-2017-15710"]
	want := scanner.Finding{Scanner: "insightvm", Source: c.BaseURL(), Host: "172.18.0.3", MAC: "02:42:ac:12:00:03",
		Hostname: "da7a8ca02894.vulnerable-net", AssetID: "1", Check: "apache-httpd-cve-2017-15710",
		Title: "Apache HTTPD: Out of bound write in mod_authnz_ldap when using too small Accept-Language values (CVE-2017-15710)",
		CVEs:  []string{"CVE-2017-15710"}, Severity: "high", CVSS: 7.5, CVSSVector: "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
		Port: 80, Protocol: "tcp", Seen: time.Date(2023, 8, 9, 17, 33, 45, 998e6, time.UTC), DeviceID: "dev-web", MatchedBy: "mac"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("finding (-want +got):\n%s", diff)
	}
	// A check the catalogue lacks keeps the CVE its ID names.
	if fd := byCheck["apache-httpd-cve-2022-31813"]; !cmp.Equal(fd.CVEs, []string{"CVE-2022-31813"}) || fd.Severity != "" {
		t.Errorf("finding without catalogue entry = %+v", fd)
	}

	// Drift on tags: someone removes one; the next full sync puts it back,
	// and a resolved clinical CVE loses its tag.
	s.RemoveTagFromAsset(7, "Vigil: medical")
	in.Clinical = nil
	res = sync(t, r, in)
	if diff := cmp.Diff([]string{"Vigil: infusion_pump", "Vigil: medical"}, s.AssetTagNames(7)); diff != "" {
		t.Errorf("pump asset tags after repair (-want +got):\n%s", diff)
	}
	if res.Tags.Assigned != 1 || res.Tags.Unassigned != 1 {
		t.Errorf("tags = %+v", res.Tags)
	}
}

func TestUnknownSiteIsAnError(t *testing.T) {
	_, c := console(t)
	conf := cfg()
	conf.Sites = []string{"ICU"}
	_, err := NewReconciler(conf, c, &MemoryLedger{}, nil).Sync(context.Background(), Inputs{Devices: []scanner.Device{pump}})
	if err == nil || !strings.Contains(err.Error(), `configured sites [ICU]`) {
		t.Errorf("err = %v", err)
	}
}

// TestAddOnlyWhileInventoryRebuilds: before the inventory has caught up,
// a device it has not reached yet keeps its exclusion; the removal is
// deferred, the ledger keeps it, and the first complete sync applies it.
func TestAddOnlyWhileInventoryRebuilds(t *testing.T) {
	s, c := console(t)
	ledger := &MemoryLedger{}
	r := NewReconciler(cfg(), c, ledger, nil)
	sync(t, r, Inputs{Devices: []scanner.Device{pump, monitor}})

	// Restart: the rebuilding inventory knows only the monitor so far.
	r = NewReconciler(cfg(), c, ledger, nil)
	res := sync(t, r, Inputs{Devices: []scanner.Device{monitor}, AddOnly: true})
	if diff := cmp.Diff([]string{"10.20.0.102", "10.20.0.110"}, s.Excluded(1)); diff != "" {
		t.Errorf("console while rebuilding (-want +got):\n%s", diff)
	}
	if sr := res.Sites[0]; len(sr.Removed) != 0 || !cmp.Equal(sr.Deferred, []string{"10.20.0.102"}) {
		t.Errorf("site = %+v", sr)
	}
	l, _ := ledger.Load(context.Background())
	if !cmp.Equal(l["dev-pump"].Sites["1"], []string{"10.20.0.102"}) {
		t.Errorf("ledger forgot the pump while rebuilding: %v", l)
	}
	// Caught up: the pump really left.
	sync(t, r, Inputs{Devices: []scanner.Device{monitor}})
	if diff := cmp.Diff([]string{"10.20.0.110"}, s.Excluded(1)); diff != "" {
		t.Errorf("console once complete (-want +got):\n%s", diff)
	}
}
