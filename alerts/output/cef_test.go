package output

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/events"
)

func TestCEFEscaping(t *testing.T) {
	for _, tc := range []struct {
		name string
		cef  CEF
		want string
	}{
		{"plain", CEF{Vendor: "Vigil", Product: "Vigil", DeviceVersion: "1.0", SignatureID: "r", Name: "n", Severity: 5,
			Extension: []KV{{"src", "10.0.0.1"}, {"msg", "hello world"}}},
			"CEF:0|Vigil|Vigil|1.0|r|n|5|src=10.0.0.1 msg=hello world"},
		{"header pipe and backslash", CEF{Vendor: `a|b`, Product: `c\d`, Name: `x\|y`, Severity: 10},
			`CEF:0|a\|b|c\\d|||x\\\|y|10|`},
		{"header line breaks become spaces", CEF{Name: "two\nlines\r\n", Severity: 1}, "CEF:0|||||two lines  |1|"},
		{"extension equals, backslash, newline", CEF{Severity: 3, Extension: []KV{{"msg", "a=b\\c\nd\re"}, {"act", "x"}}},
			`CEF:0||||||3|msg=a\=b\\c\nd\re act=x`},
		{"pipe needs no escape in the extension", CEF{Severity: 3, Extension: []KV{{"msg", "a|b"}}}, `CEF:0||||||3|msg=a|b`},
		// The test vector of the cefp README (docs/alerts.md cites it).
		{"cefp vector", CEF{Vendor: "security", Product: "threatmanager", DeviceVersion: "1.0", SignatureID: "100",
			Name: `detected \, | and = in message`, Severity: 10,
			Extension: []KV{{"src", "10.0.0.1"}, {"act", `blocked \, | and =`}, {"dst", "1.1.1.1"}}},
			`CEF:0|security|threatmanager|1.0|100|detected \\, \| and = in message|10|src=10.0.0.1 act=blocked \\, | and \= dst=1.1.1.1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cef.String()
			if got != tc.want {
				t.Fatalf("\n got %s\nwant %s", got, tc.want)
			}
			back, err := ParseCEF(got)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.cef
			want.Name = strings.NewReplacer("\r", " ", "\n", " ").Replace(want.Name)
			if diff := cmp.Diff(want, back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecordCEF(t *testing.T) {
	p := Product{Vendor: "Vigil", Name: "Vigil", Version: "1.0"}
	rec := record(0, events.SeverityHigh)
	c := RecordCEF(rec, p)
	ext := map[string]string{}
	for _, kv := range c.Extension {
		ext[kv.Key] = kv.Value
	}
	want := map[string]string{
		"rt": "1767601980181", "cat": "infusion_pump", "src": "10.20.0.102", "smac": "00:12:21:4e:0a:12", "shost": "INF-PUMP-02",
		"dst": "203.0.113.45", "dpt": "443", "msg": rec.Alert.Body.Description, "externalId": rec.Alert.ID, "deviceExternalId": "dev-1",
		"cs1Label": "incident", "cs1": rec.Incident.ID, "cs2Label": "deviceKey", "cs2": "mac:00:12:21:4e:0a:12/20",
		"cs3Label": "tags", "cs3": "medical,mitre:T0883", "cs4Label": "mitreTechniques", "cs4": "T0883",
		"cs5Label": "criticality", "cs5": "life_sustaining", "cs6Label": "policyRevision", "cs6": "rev-1",
		"cn1Label": "incidentCount", "cn1": "1", "outcome": "open",
	}
	if diff := cmp.Diff(want, ext); diff != "" {
		t.Errorf("extension (-want +got):\n%s", diff)
	}
	if c.SignatureID != "internet_communication" || c.Severity != 8 || c.Name != rec.Alert.Body.Title {
		t.Errorf("header %+v", c)
	}
	rec.Transition = &alerts.Transition{Action: events.AlertResolve, From: alerts.StateOpen, To: alerts.StateResolved, Actor: "anna", Note: "done", EventID: "ev1", Time: t0}
	rec.Incident.Severity = events.SeverityCritical
	c = RecordCEF(rec, p)
	ext = map[string]string{}
	for _, kv := range c.Extension {
		ext[kv.Key] = kv.Value
	}
	if c.SignatureID != "incident_resolve" || c.Severity != 10 || ext["act"] != "resolve" || ext["suser"] != "anna" || ext["reason"] != "done" || ext["externalId"] != "ev1" {
		t.Errorf("lifecycle record: %+v", c)
	}
}

func TestParseCEFErrors(t *testing.T) {
	for _, in := range []string{
		"", "LEEF:1.0|a|b|c|d|", "CEF:0|a|b|c", "CEF:x|a|b|c|d|e|1|", "CEF:0|a|b|c|d|e|11|",
		"CEF:0|a|b|c|d|e|1|novalue", "CEF:0|a|b|c|d|e|1|k=v\\", "CEF:0|a|b|c|d|e|1|k=v x.y=z", "CEF:0|a|b|c|d|e|1|k=v=w",
	} {
		if c, err := ParseCEF(in); err == nil {
			t.Errorf("ParseCEF(%q) = %+v, want an error", in, c)
		}
	}
	// Another producer's needless escape of a pipe in a value is read.
	c, err := ParseCEF(`CEF:0|a|b|c|d|e|1|msg=x\|y`)
	if err != nil || c.Extension[0].Value != "x|y" {
		t.Errorf("needless escape: %+v %v", c, err)
	}
}

// FuzzCEFRoundTrip: whatever the text, what String writes ParseCEF reads
// back (line breaks in the header become spaces), and ParseCEF never
// panics on its own.
func FuzzCEFRoundTrip(f *testing.F) {
	f.Add("Vigil", "INF-PUMP-02 talked to 203.0.113.45", "why=because \\ | \n", "a|b", 8)
	f.Add(`\`, `|`, `=`, " ", 0)
	f.Add("", "", "", "", 10)
	f.Add("x\r\ny", "t\\|", "v \\n", "k==", 3)
	f.Fuzz(func(t *testing.T, vendor, name, value, value2 string, sev int) {
		sev = ((sev % 11) + 11) % 11
		c := CEF{Vendor: vendor, Product: "Vigil", DeviceVersion: "1", SignatureID: "rule", Name: name, Severity: sev,
			Extension: []KV{{"msg", value}, {"cs1", value2}, {"cs1Label", "x"}}}
		back, err := ParseCEF(c.String())
		if err != nil {
			t.Fatalf("ParseCEF(%q): %v", c.String(), err)
		}
		nl := strings.NewReplacer("\r", " ", "\n", " ")
		u := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
		c.Vendor, c.Name = nl.Replace(u(c.Vendor)), nl.Replace(u(c.Name))
		c.Extension[0].Value, c.Extension[1].Value = u(value), u(value2)
		if diff := cmp.Diff(c, back); diff != "" {
			t.Fatalf("round trip of %q (-want +got):\n%s", c.String(), diff)
		}
		_, _ = ParseCEF(value) // arbitrary input: an error, never a crash
	})
}
