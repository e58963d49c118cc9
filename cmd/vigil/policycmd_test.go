package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/policy"
)

var policyTime = time.Date(2026, 1, 5, 8, 33, 0, 0, time.UTC)

// pumpInternet is an internet deviation of a medical device, as the
// baseline publishes it.
func pumpInternet() events.Event[events.Deviation] {
	return events.MustEvent(policyTime, events.Source{Component: "baseline", Name: "default", Site: "default"}, events.Deviation{
		Type: events.DeviationInternet, Direction: "outbound",
		Device: events.DeviceSnapshot{Key: "mac:00:12:21:4e:0a:12/20", MAC: "00:12:21:4e:0a:12", IPs: []string{"10.20.0.102"}, VLAN: 20,
			Attributes: map[string]string{"hostname": "INF-PUMP-02"}, Category: "infusion_pump", Medical: true, Criticality: "life_sustaining"},
		Peer: &events.Endpoint{IP: "203.0.113.45", Port: 443}, Transport: "tcp", Port: 443, AppProto: "tls",
		Summary:  "INF-PUMP-02 talked to internet address 203.0.113.45 on tcp/443, never seen while learning.",
		Baseline: events.BaselineContext{Ready: true, LearningStart: policyTime.Add(-time.Hour), LearningEnd: policyTime.Add(-time.Minute)},
	})
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const guestEdgePolicy = `package vigil.edge

alerts contains {"rule": "guest_to_pacs", "severity": "high", "title": sprintf("guest %s reached the PACS", [input.body.orig.ip])} if {
	net.cidr_contains("10.99.0.0/16", input.body.orig.ip)
	input.body.resp.ip == "10.30.0.5"
}
`

func TestPolicyCheck(t *testing.T) {
	good := t.TempDir()
	writeFile(t, good, "guest.rego", guestEdgePolicy)
	out, _, err := vigil(t, "policy", "check", good)
	if err != nil || !regexp.MustCompile(`^ok: \d+ files compile, revision [0-9a-f]{16}\n$`).MatchString(out) {
		t.Fatalf("check good: %q %v", out, err)
	}
	bad := t.TempDir()
	writeFile(t, bad, "broken.rego", "package vigil.rules.broken\n\nalerts contains x if {\n\tx := http.send({})\n}\n")
	writeFile(t, bad, "syntax.rego", "package vigil.rules.syntax\n\nalerts contains {\n")
	_, errOut, err := vigil(t, "policy", "check", bad)
	var exit exitError
	if !errors.As(err, &exit) || exit.code != 1 {
		t.Fatalf("check bad: err = %v, want exit 1", err)
	}
	for _, want := range []string{"syntax.rego:4:0: rego_parse_error: unexpected eof token", "error(s)"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// The syntax error stops parsing; fixed, the restricted builtin is
	// reported with its line.
	writeFile(t, bad, "syntax.rego", "package vigil.rules.syntax\n")
	_, errOut, _ = vigil(t, "policy", "check", bad)
	if !strings.Contains(errOut, "broken.rego:4:") || !strings.Contains(errOut, "http.send is not allowed") {
		t.Errorf("stderr:\n%s", errOut)
	}
}

func TestPolicyEval(t *testing.T) {
	dir := t.TempDir()
	b, err := pumpInternet().Encode()
	if err != nil {
		t.Fatal(err)
	}
	in := writeFile(t, dir, "deviation.json", string(b))
	out, _, err := vigil(t, "policy", "eval", "--input", in)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"data.vigil.main on deviation " + pumpInternet().ID,
		"alert critical internet_communication: INF-PUMP-02 communicated with internet address 203.0.113.45:443",
		"enforce ip=10.20.0.102 peer_ip=203.0.113.45 transport=tcp port=443 for 3600s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// --json gives the very decision the engine makes.
	out, _, err = vigil(t, "policy", "eval", "--json", "--input", in)
	if err != nil {
		t.Fatal(err)
	}
	var got evalResult
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	eng, err := policy.NewEngine(context.Background(), defaultConfig().Policy, events.Source{Name: "default", Site: "default"})
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := eng.Evaluate(context.Background(), pumpInternet())
	if err != nil {
		t.Fatal(err)
	}
	if got.Decision.ID != want.ID || got.Decision.Body.InputHash != want.Body.InputHash || len(got.Alerts) != 1 {
		t.Errorf("eval decision %s (hash %s), engine %s (hash %s)", got.Decision.ID, got.Decision.Body.InputHash, want.ID, want.Body.InputHash)
	}

	// An edge input, with the site's edge policy.
	pol := t.TempDir()
	writeFile(t, pol, "guest.rego", guestEdgePolicy)
	edge := writeFile(t, dir, "edge.json", `{"kind": "edge", "id": "e1", "time": "2026-01-05T09:00:00Z",
	 "body": {"device": "mac:00:aa:00:00:00:01", "orig": {"ip": "10.99.0.7"}, "resp": {"ip": "10.30.0.5", "port": 104},
	          "transport": "tcp", "port": 104, "established": true, "flow_id": "f1"}}`)
	out, _, err = vigil(t, "policy", "eval", "--input", edge, "--dir", pol)
	if err != nil || !strings.Contains(out, "data.vigil.edge on edge e1") || !strings.Contains(out, "alert high     guest_to_pacs: guest 10.99.0.7 reached the PACS") {
		t.Errorf("edge eval: %v\n%s", err, out)
	}
	// Bad inputs are named.
	for name, content := range map[string]string{
		"alert.json": `{"version":"v1","kind":"alert","id":"x","time":"2026-01-05T09:00:00Z","body":{}}`,
		"lines.json": "{\"kind\":\"deviation\"}\nnot json\n",
		"edge2.json": `{"kind":"edge","body":{}}`,
	} {
		p := writeFile(t, dir, name, content)
		if _, _, err := vigil(t, "policy", "eval", "--input", p); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v, want an error naming the file", name, err)
		}
	}
}

func TestPolicyTestCoverage(t *testing.T) {
	out, _, err := vigil(t, "policy", "test", "--coverage")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^coverage: \d+\.\d% \(\d+ of \d+ lines\)$`).MatchString(out) ||
		!strings.Contains(out, "builtin:vigil/rules/internet.rego") || strings.Contains(out, "_test.rego  not covered") {
		t.Errorf("coverage output:\n%s", out[max(0, len(out)-2000):])
	}
}

func TestPolicyDecisions(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	bus, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eng, err := policy.NewEngine(ctx, policy.DefaultConfiguration(), events.Source{Name: "default", Site: "default"})
	if err != nil {
		t.Fatal(err)
	}
	quiet := pumpInternet()
	quiet.Body.Type, quiet.Body.Peer = events.DeviationNewDevice, nil
	quiet = events.MustEvent(policyTime.Add(time.Minute), quiet.Source, quiet.Body)
	for _, dv := range []events.Event[events.Deviation]{pumpInternet(), quiet} {
		dec, alerts, err := eng.Evaluate(ctx, dv)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range append([]events.Message{dec}, events.Messages(alerts)...) {
			if err := bus.Publish(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := bus.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	out, errOut, err := vigil(t, "policy", "decisions", "--data", data)
	if err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(errOut, "2 of 2 decisions") {
		t.Fatalf("all: %v\n%s%s", err, out, errOut)
	}
	out, _, err = vigil(t, "policy", "decisions", "--data", data, "--rule", "internet_communication", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var l loggedDecision
	if err := json.Unmarshal([]byte(out), &l); err != nil || l.Decision.Body.InputID != pumpInternet().ID || len(l.Alerts) != 1 {
		t.Fatalf("--rule: %v\n%s", err, out)
	}
	for args, want := range map[string]int{
		"--device 10.20.0.102":              2, // both raised an alert naming the address
		"--device 10.20.0.103":              0,
		"--device mac:00:12:21:4e:0a:12/20": 2,
		"--since 2026-01-05T08:33:30Z":      1,
		"--errors":                          0,
	} {
		out, _, err := vigil(t, append([]string{"policy", "decisions", "--data", data}, strings.Fields(args)...)...)
		if err != nil || strings.Count(out, "\n") != want {
			t.Errorf("%s: %d lines, want %d (%v)\n%s", args, strings.Count(out, "\n"), want, err, out)
		}
	}
}

// FuzzEvalInput feeds arbitrary input files to `vigil policy eval`'s
// reader and decider: an error or a decision, never a panic.
func FuzzEvalInput(f *testing.F) {
	b, _ := pumpInternet().Encode()
	f.Add(b)
	f.Add([]byte(`{"kind":"edge","id":"e","time":"2026-01-05T09:00:00Z","body":{"device":"k","resp":{"ip":"10.30.0.5"}}}`))
	f.Add([]byte("{\"kind\":\"flow\"}\n{\"kind\":\"deviation\",\"version\":\"v1\"}\n"))
	f.Add([]byte(`[1,2,3]`))
	eng, err := policy.NewEngine(context.Background(), defaultConfig().Policy, events.Source{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := readInputs("-", strings.NewReader(string(data)))
		if err != nil {
			return
		}
		for _, d := range docs {
			evalOne(context.Background(), eng, d)
		}
	})
}
