package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/events"
)

func TestEvaluateShippedLibrary(t *testing.T) {
	eng := newEngine(t, DefaultConfiguration())
	type want struct {
		Rule     string
		Severity events.Severity
		Title    string
	}
	cases := []struct {
		name    string
		ev      events.Event[events.Deviation]
		alerts  []want
		enforce []events.EnforceRequest
	}{
		{
			name:   "internet from workstation",
			ev:     deviation(events.DeviationInternet, workstation, withPeer("203.0.113.7", 443)),
			alerts: []want{{"internet_communication", "high", "ws-radiology-3 communicated with internet address 203.0.113.7:443"}},
		},
		{
			name:   "internet from infusion pump",
			ev:     deviation(events.DeviationInternet, pump, withPeer("203.0.113.7", 443)),
			alerts: []want{{"internet_communication", "critical", "pump-17 communicated with internet address 203.0.113.7:443"}},
			enforce: []events.EnforceRequest{{
				Scope:     events.BlockScope{IP: "10.20.0.17", PeerIP: "203.0.113.7", Port: 443, Transport: "tcp"},
				DurationS: 3600,
				Reason:    "internet_communication: medical device pump-17 reached 203.0.113.7:443",
			}},
		},
		{
			name: "scan",
			ev: deviation(events.DeviationScan, workstation, func(d *events.Deviation) {
				d.Count = 254
			}),
			alerts: []want{{"network_scan", "high", "ws-radiology-3 scanned 254 hosts or ports"}},
		},
		{
			name:   "new peer, baseline ready",
			ev:     deviation(events.DeviationNewPeer, workstation, withPeer("10.1.2.50", 104)),
			alerts: []want{{"new_peer", "medium", "ws-radiology-3 talked to new peer 10.1.2.50:104"}},
		},
		{
			name: "new peer, baseline learning",
			ev: deviation(events.DeviationNewPeer, workstation, withPeer("10.1.2.50", 104), func(d *events.Deviation) {
				d.Baseline = learning
			}),
			alerts: []want{{"new_peer", "low", "ws-radiology-3 talked to new peer 10.1.2.50:104"}},
		},
		{
			name:   "new port on medical device",
			ev:     deviation(events.DeviationNewPort, pump, withPeer("10.1.2.50", 2575)),
			alerts: []want{{"new_port", "high", "pump-17 used new port tcp/2575"}},
		},
		{
			name: "new protocol",
			ev: deviation(events.DeviationNewProtocol, workstation, withPeer("10.1.2.50", 104), func(d *events.Deviation) {
				d.AppProto = "dicom"
			}),
			alerts: []want{{"new_protocol", "medium", "ws-radiology-3 spoke new protocol dicom"}},
		},
		{
			name:   "new unidentified device",
			ev:     deviation(events.DeviationNewDevice, unknownDevice),
			alerts: []want{{"new_device", "low", "New device 10.1.9.9"}},
		},
		{
			name: "unknown deviation type",
			ev:   deviation("firmware_change", workstation),
		},
		{
			name: "firmware downgrade of a medical device",
			ev: deviation(events.DeviationIdentityChange, pump, func(d *events.Deviation) {
				d.Attribute, d.Previous, d.Value, d.Change, d.AppProto = "firmware_version", "3.2.0", "2.9.1", events.IdentityDowngrade, "snmp"
			}),
			alerts: []want{{"firmware_downgrade", "critical", "pump-17 firmware version downgraded from 3.2.0 to 2.9.1"}},
		},
		{
			name: "cleartext credential",
			ev: deviation(events.DeviationInsecureProtocol, workstation, func(d *events.Deviation) {
				d.Attribute, d.Value, d.AppProto = "cleartext_credential", "telnet login", "telnet"
			}),
			alerts: []want{{"cleartext_administration", "high", "ws-radiology-3 sent or accepted a cleartext credential (telnet login)"}},
		},
		{
			name: "authentication failure burst",
			ev: deviation(events.DeviationAuthFailures, workstation, withPeer("10.20.0.102", 23), func(d *events.Deviation) {
				d.AppProto, d.Count, d.Transport = "telnet", 20, ""
				d.Baseline.Metric, d.Baseline.Observed, d.Baseline.Threshold = "auth_failures", 20, 20
			}),
			alerts: []want{{"authentication_failure_burst", "high", "ws-radiology-3 failed 20 telnet logins against 10.20.0.102:23"}},
		},
		{
			name: "DICOM from a workstation to a PACS",
			ev: deviation(events.DeviationNewPeer, workstation, withPeer("10.30.0.5", 104), func(d *events.Deviation) {
				d.AppProto, d.PeerCategory = "dicom", "pacs"
			}),
			alerts: []want{
				{"dicom_outside_pacs", "high", "ws-radiology-3 exchanged DICOM with 10.30.0.5:104 outside the imaging network"},
				{"new_peer", "medium", "ws-radiology-3 talked to new peer 10.30.0.5:104"},
			},
		},
		{
			name: "volume spike",
			ev: deviation(events.DeviationVolumeSpike, pump, withPeer("10.1.2.50", 443), func(d *events.Deviation) {
				d.Baseline.Metric, d.Baseline.Observed, d.Baseline.Learned, d.Baseline.Ratio = "bytes_per_hour", 52428800, 1048576, 50
			}),
			alerts: []want{{"volume_spike", "high", "pump-17 moved 50 MiB in one hour (50x its learned 95th percentile)"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dec, alerts, err := eng.Evaluate(context.Background(), tc.ev)
			if err != nil {
				t.Fatalf("Evaluate() error: %v", err)
			}
			var got []want
			for _, a := range alerts {
				got = append(got, want{a.Body.Rule, a.Body.Severity, a.Body.Title})
			}
			if diff := cmp.Diff(tc.alerts, got); diff != "" {
				t.Errorf("alerts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.enforce, dec.Body.Enforce); diff != "" {
				t.Errorf("enforce (-want +got):\n%s", diff)
			}
			if dec.Body.Error != "" {
				t.Errorf("decision error: %s", dec.Body.Error)
			}
			if dec.Body.Alerts != len(alerts) {
				t.Errorf("decision counts %d alerts, got %d", dec.Body.Alerts, len(alerts))
			}
		})
	}
}

func TestDecisionAndAlertsRecordProvenance(t *testing.T) {
	eng := newEngine(t, DefaultConfiguration())
	ev := deviation(events.DeviationInternet, pump, withPeer("203.0.113.7", 443))
	dec, alerts, err := eng.Evaluate(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	wantSrc := events.Source{Component: "policy", Name: "engine", Site: "campus-a"}
	if diff := cmp.Diff(events.Decision{
		Query:     "data.vigil.main",
		Revision:  eng.Revision(),
		InputKind: events.KindDeviation,
		InputID:   ev.ID,
		InputHash: hex.EncodeToString(sum[:]),
		Device:    pump.Key,
		Alerts:    1,
		Enforce:   dec.Body.Enforce,
	}, dec.Body); diff != "" {
		t.Errorf("decision (-want +got):\n%s", diff)
	}
	if len(eng.Revision()) != 16 {
		t.Errorf("revision %q is not 16 hex digits", eng.Revision())
	}
	if !dec.Time.Equal(ev.Time) || dec.Source != wantSrc || dec.Kind != events.KindDecision {
		t.Errorf("decision header = %+v, want time %v and source %+v", dec.Header, ev.Time, wantSrc)
	}
	if len(alerts) != 1 {
		t.Fatalf("got %d alerts, want 1", len(alerts))
	}
	a := alerts[0]
	if a.Body.PolicyRevision != eng.Revision() || a.Body.DecisionID != dec.ID || a.Body.DeviationID != ev.ID {
		t.Errorf("alert links = revision %q decision %q deviation %q", a.Body.PolicyRevision, a.Body.DecisionID, a.Body.DeviationID)
	}
	if diff := cmp.Diff(pump, a.Body.Device); diff != "" {
		t.Errorf("alert device (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(ev.Body.Peer, a.Body.Peer); diff != "" {
		t.Errorf("alert peer (-want +got):\n%s", diff)
	}
	if !a.Time.Equal(ev.Time) || a.Source != wantSrc {
		t.Errorf("alert header = %+v", a.Header)
	}
	if diff := cmp.Diff([]string{"internet", "medical"}, a.Body.Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	// The alert owns its device snapshot: changing it leaves the input alone.
	a.Body.Device.Attributes["hostname"] = "changed"
	if ev.Body.Device.Attributes["hostname"] != "pump-17" {
		t.Error("alert shares the deviation's attribute map")
	}
}

func TestDecisionIsDeterministic(t *testing.T) {
	ev := deviation(events.DeviationInternet, pump, withPeer("203.0.113.7", 443))
	encode := func(eng *Engine) []byte {
		t.Helper()
		dec, alerts, err := eng.Evaluate(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		for _, m := range append([]events.Message{dec}, events.Messages(alerts)...) {
			b, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(b)
			buf.WriteByte('\n')
		}
		return buf.Bytes()
	}
	eng := newEngine(t, DefaultConfiguration())
	first := encode(eng)
	if second := encode(eng); !bytes.Equal(first, second) {
		t.Errorf("same engine, second evaluation differs:\n%s\n%s", first, second)
	}
	if other := encode(newEngine(t, DefaultConfiguration())); !bytes.Equal(first, other) {
		t.Errorf("fresh engine differs:\n%s\n%s", first, other)
	}
}

func TestAlertsAreSorted(t *testing.T) {
	dir := writePolicies(t, map[string]string{"many.rego": `package vigil.main

alerts contains {"rule": "b", "severity": "low", "title": "2"} if input.kind == "deviation"
alerts contains {"rule": "a", "severity": "low", "title": "z"} if input.kind == "deviation"
alerts contains {"rule": "b", "severity": "high", "title": "1"} if input.kind == "deviation"
alerts contains {"rule": "a", "severity": "low", "title": "y"} if input.kind == "deviation"
`})
	eng := newEngine(t, siteConfig(dir))
	_, alerts, err := eng.Evaluate(context.Background(), deviation(events.DeviationNewDevice, workstation))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range alerts {
		got = append(got, a.Body.Rule+"/"+a.Body.Title)
	}
	if diff := cmp.Diff([]string{"a/y", "a/z", "b/1", "b/2"}, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestInvalidRegoNamesFileAndLine(t *testing.T) {
	dir := writePolicies(t, map[string]string{
		"syntax.rego": "package vigil.rules.syntax\n\nalerts contains x if {\n\tx := \n}\n",
		"unsafe.rego": "package vigil.rules.unsafe\n\n\nalerts contains y if {\n\tinput.kind == \"deviation\"\n}\n",
	})
	_, err := NewEngine(context.Background(), siteConfig(dir), testSrc)
	if err == nil {
		t.Fatal("NewEngine() succeeded on invalid Rego")
	}
	msg := err.Error()
	for _, want := range []string{filepath.Join(dir, "syntax.rego") + ":5:1", "rego_parse_error"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	// Parse errors stop before compilation; fix the syntax and the compile
	// error of the other file is reported with its position.
	writePolicyFile(t, dir, "syntax.rego", "package vigil.rules.syntax\n\nalerts contains z if {\n\tinput.x == 1\n}\n")
	_, err = NewEngine(context.Background(), siteConfig(dir), testSrc)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v is not Errors", err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, filepath.Base(e.File)+":"+strconv.Itoa(e.Row))
	}
	if diff := cmp.Diff([]string{"syntax.rego:3", "unsafe.rego:4"}, got); diff != "" {
		t.Errorf("error positions (-want +got):\n%s\nfull error: %v", diff, err)
	}
}

func TestRestrictedBuiltinsAreRejected(t *testing.T) {
	for _, tc := range []struct{ builtin, call string }{
		{"http.send", `http.send({"method": "get", "url": "http://example.com"})`},
		{"net.lookup_ip_addr", `net.lookup_ip_addr("example.com")`},
		{"time.now_ns", `time.now_ns()`},
		{"rand.intn", `rand.intn("x", 10)`},
		{"uuid.rfc4122", `uuid.rfc4122("x")`},
		{"opa.runtime", `opa.runtime()`},
	} {
		t.Run(tc.builtin, func(t *testing.T) {
			dir := writePolicies(t, map[string]string{"reach.rego": "package vigil.rules.reach\n\nalerts contains x if {\n\tx := " + tc.call + "\n}\n"})
			_, err := NewEngine(context.Background(), siteConfig(dir), testSrc)
			if err == nil {
				t.Fatalf("policy calling %s compiled", tc.builtin)
			}
			want := filepath.Join(dir, "reach.rego") + ":4:"
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "builtin "+tc.builtin+" is not allowed") {
				t.Errorf("error %q does not name %s and the builtin", err, want)
			}
		})
	}
	if got := RestrictedBuiltins(); len(got) < 6 {
		t.Errorf("RestrictedBuiltins() = %v", got)
	}
}

const siteRule = `package vigil.rules.site

alerts contains {"rule": "site", "severity": "low", "title": "%s"} if input.kind == "deviation"
`

func TestReloadKeepsOldPolicyOnError(t *testing.T) {
	dir := writePolicies(t, map[string]string{"site.rego": strings.Replace(siteRule, "%s", "v1", 1)})
	eng := newEngine(t, siteConfig(dir))
	ctx := context.Background()
	ev := deviation(events.DeviationNewDevice, workstation)
	title := func() string {
		t.Helper()
		_, alerts, err := eng.Evaluate(ctx, ev)
		if err != nil || len(alerts) != 1 {
			t.Fatalf("Evaluate() = %d alerts, %v", len(alerts), err)
		}
		return alerts[0].Body.Title
	}
	rev1 := eng.Revision()

	writePolicyFile(t, dir, "broken.rego", "package vigil.rules.broken\n\nalerts contains x if {\n")
	if err := eng.Reload(ctx); err == nil || !strings.Contains(err.Error(), "broken.rego:") {
		t.Fatalf("Reload() error = %v, want one naming broken.rego", err)
	}
	if eng.Revision() != rev1 || title() != "v1" {
		t.Errorf("after failed reload: revision %s (want %s), title %q", eng.Revision(), rev1, title())
	}

	if err := os.Remove(filepath.Join(dir, "broken.rego")); err != nil {
		t.Fatal(err)
	}
	writePolicyFile(t, dir, "site.rego", strings.Replace(siteRule, "%s", "v2", 1))
	if err := eng.Reload(ctx); err != nil {
		t.Fatalf("Reload() error: %v", err)
	}
	if eng.Revision() == rev1 || title() != "v2" {
		t.Errorf("after reload: revision %s, title %q", eng.Revision(), title())
	}
}

func TestReloadWhileEvaluating(t *testing.T) {
	dir := writePolicies(t, map[string]string{"site.rego": strings.Replace(siteRule, "%s", "v0", 1)})
	eng := newEngine(t, siteConfig(dir))
	ctx := context.Background()
	ev := deviation(events.DeviationNewDevice, workstation)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				dec, alerts, err := eng.Evaluate(ctx, ev)
				if err != nil || len(alerts) != 1 || alerts[0].Body.PolicyRevision != dec.Body.Revision {
					t.Errorf("Evaluate() = %d alerts, %v", len(alerts), err)
					return
				}
			}
		})
	}
	for i := range 10 {
		writePolicyFile(t, dir, "site.rego", strings.Replace(siteRule, "%s", "v"+strconv.Itoa(i+1), 1))
		if err := eng.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

func TestInvalidPolicyOutputIsReportedNotDropped(t *testing.T) {
	dir := writePolicies(t, map[string]string{"bad.rego": `package vigil.main

alerts contains {"rule": "sloppy", "severity": "urgent"} if input.kind == "deviation"
alerts contains "just a string" if input.kind == "deviation"
alerts contains {"rule": "fine", "severity": "info", "title": "ok"} if input.kind == "deviation"

enforce contains {"scope": {"ip": "10.0.0.1"}, "reason": "no duration"} if input.kind == "deviation"
enforce contains {"scope": {}, "duration_s": 60, "reason": "no scope"} if input.kind == "deviation"
enforce contains {"scope": {"ip": "10.0.0.2", "port": 70000}, "duration_s": 60, "reason": "bad port"} if input.kind == "deviation"
enforce contains {"scope": {"ip": "10.0.0.3"}, "duration_s": 60, "reason": "good"} if input.kind == "deviation"
`})
	eng := newEngine(t, siteConfig(dir))
	dec, alerts, err := eng.Evaluate(context.Background(), deviation(events.DeviationNewDevice, workstation))
	if err != nil {
		t.Fatal(err)
	}
	type brief struct {
		Rule     string
		Severity events.Severity
		Title    string
		Tags     []string
	}
	var got []brief
	for _, a := range alerts {
		got = append(got, brief{a.Body.Rule, a.Body.Severity, a.Body.Title, a.Body.Tags})
	}
	want := []brief{
		{"fine", "info", "ok", nil},
		{"sloppy", "medium", "Alert from policy rule sloppy", []string{InvalidOutputTag}},
		{InvalidOutputRule, "medium", "Policy produced an alert that is not an object", []string{InvalidOutputTag}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]events.EnforceRequest{{Scope: events.BlockScope{IP: "10.0.0.3"}, DurationS: 60, Reason: "good"}}, dec.Body.Enforce); diff != "" {
		t.Errorf("enforce (-want +got):\n%s", diff)
	}
	for _, want := range []string{
		"alert sloppy: missing title", `alert sloppy: unknown severity "urgent" raised as medium`,
		`alert is not an object: "just a string"`, "duration_s is not a positive integer",
		"scope names no ip, peer_ip or mac", "scope.port is not a port number",
	} {
		if !strings.Contains(dec.Body.Error, want) {
			t.Errorf("decision error %q lacks %q", dec.Body.Error, want)
		}
	}
	if dec.Body.Alerts != 3 {
		t.Errorf("decision counts %d alerts, want 3", dec.Body.Alerts)
	}
}

func TestEvaluationErrorIsRecorded(t *testing.T) {
	dir := writePolicies(t, map[string]string{"conflict.rego": `package vigil.main

x := 1 if input.kind == "deviation"
x := 2 if input.kind == "deviation"

alerts contains {"rule": "r", "severity": "low", "title": "t"} if x == 1
`})
	eng := newEngine(t, siteConfig(dir))
	dec, alerts, err := eng.Evaluate(context.Background(), deviation(events.DeviationNewDevice, workstation))
	if err != nil {
		t.Fatalf("Evaluate() error: %v", err)
	}
	if len(alerts) != 0 || !strings.Contains(dec.Body.Error, "evaluation failed") || !strings.Contains(dec.Body.Error, "conflict.rego:") {
		t.Errorf("got %d alerts, decision error %q", len(alerts), dec.Body.Error)
	}
}

func TestEvaluateAfterCancel(t *testing.T) {
	eng := newEngine(t, DefaultConfiguration())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := eng.Evaluate(ctx, deviation(events.DeviationScan, workstation)); err == nil {
		t.Error("Evaluate() with a cancelled context succeeded")
	}
}

func TestSettings(t *testing.T) {
	cfg := DefaultConfiguration()
	base := newEngine(t, cfg)
	cfg.Settings = map[string]any{"internet_allow": []any{"203.0.113.0/24"}, "block_duration_s": 60}
	eng := newEngine(t, cfg)
	if eng.Revision() == base.Revision() {
		t.Error("settings do not change the revision")
	}
	dec, alerts, err := eng.Evaluate(context.Background(), deviation(events.DeviationInternet, pump, withPeer("203.0.113.7", 443)))
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 0 || len(dec.Body.Enforce) != 0 {
		t.Errorf("allowed destination raised %d alerts, %d blocks", len(alerts), len(dec.Body.Enforce))
	}
	dec, _, err = eng.Evaluate(context.Background(), deviation(events.DeviationInternet, pump, withPeer("198.51.100.1", 443)))
	if err != nil {
		t.Fatal(err)
	}
	if len(dec.Body.Enforce) != 1 || dec.Body.Enforce[0].DurationS != 60 {
		t.Errorf("enforce = %+v, want one 60 s block", dec.Body.Enforce)
	}
}

func TestSiteDirBesideLibrary(t *testing.T) {
	dir := writePolicies(t, map[string]string{
		"site.rego":         strings.Replace(siteRule, "%s", "site alert", 1),
		"site_test.rego":    "package vigil.rules.site_test\n\ntest_nothing if true\n",
		".hidden/skip.rego": "this is not rego",
		"nested/extra.rego": "package vigil.rules.extra\n\nalerts contains {\"severity\": \"info\", \"title\": \"extra\"} if input.body.type == \"new_device\"\n",
		"notes/readme.txt":  "ignored",
	})
	cfg := DefaultConfiguration()
	cfg.Dir = dir
	eng := newEngine(t, cfg)
	_, alerts, err := eng.Evaluate(context.Background(), deviation(events.DeviationNewDevice, unknownDevice))
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, a := range alerts {
		rules = append(rules, a.Body.Rule)
	}
	if diff := cmp.Diff([]string{"extra", "new_device", "site"}, rules); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	for _, f := range eng.Files() {
		if strings.HasSuffix(f, "_test.rego") {
			t.Errorf("test file %s loaded as policy", f)
		}
	}
}

func TestConfigurationValidate(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Builtin = false
	cfg.Query = "data.vigil[x]"
	cfg.Stream = ""
	errs := cfg.Validate()
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, strings.SplitN(e.Error(), ":", 2)[0])
	}
	if diff := cmp.Diff([]string{"dir", "query", "stream"}, msgs); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if errs := DefaultConfiguration().Validate(); len(errs) != 0 {
		t.Errorf("default configuration invalid: %v", errs)
	}
}

func TestMissingAlertsRule(t *testing.T) {
	dir := writePolicies(t, map[string]string{"other.rego": "package other\n\nx := 1\n"})
	cfg := siteConfig(dir)
	cfg.Query = "data.other"
	_, err := NewEngine(context.Background(), cfg, testSrc)
	if err == nil || !strings.Contains(err.Error(), "no policy defines data.other.alerts") {
		t.Errorf("error = %v", err)
	}
}

func TestAlertsNotASet(t *testing.T) {
	dir := writePolicies(t, map[string]string{"obj.rego": `package site

alerts := {"rule": "r", "severity": "low", "title": "t"}
`})
	cfg := siteConfig(dir)
	cfg.Query = "data.site"
	eng := newEngine(t, cfg)
	dec, alerts, err := eng.Evaluate(context.Background(), deviation(events.DeviationNewDevice, workstation))
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].Body.Rule != "r" || !strings.Contains(dec.Body.Error, "data.site.alerts is not a set") {
		t.Errorf("alerts = %+v, decision error %q", alerts, dec.Body.Error)
	}
}

func TestBuiltinErrorIsRecordedAndOtherRulesFire(t *testing.T) {
	dir := writePolicies(t, map[string]string{"cidr.rego": `package vigil.rules.cidr

alerts contains {"severity": "low", "title": "in range"} if net.cidr_contains("not-a-cidr", input.body.device.ips[0])
`})
	cfg := DefaultConfiguration()
	cfg.Dir = dir
	eng := newEngine(t, cfg)
	dec, alerts, err := eng.Evaluate(context.Background(), deviation(events.DeviationNewDevice, unknownDevice))
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].Body.Rule != "new_device" || !strings.Contains(dec.Body.Error, "builtin error") || !strings.Contains(dec.Body.Error, "cidr.rego:3") {
		t.Errorf("got %d alerts, decision error %q", len(alerts), dec.Body.Error)
	}
}
