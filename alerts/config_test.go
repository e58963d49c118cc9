package alerts

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
)

func TestConfigurationValidate(t *testing.T) {
	if errs := DefaultConfiguration().Validate(); len(errs) != 0 {
		t.Fatalf("defaults: %v", errs)
	}
	cfg := DefaultConfiguration()
	cfg.CheckpointEvery = 0
	cfg.Outputs = OutputsConfiguration{
		Syslog: []SyslogConfiguration{{Name: "qradar", Network: "tcpp", Address: "siem", MinSeverity: "severe", Facility: "local9",
			SDID: "has space", TLS: TLSConfiguration{CertFile: "c.pem"}}},
		Webhook: []WebhookConfiguration{{Name: "qradar", URL: "ftp://x", Format: "cef",
			Retry: RetryConfiguration{MaxAttempts: -1, InitialBackoff: time.Minute, MaxBackoff: time.Second}}},
		File: []FileConfiguration{{Name: "bad name!", Format: "xml"}},
	}
	var got []string
	for _, e := range cfg.Validate() {
		got = append(got, e.Error())
	}
	for _, want := range []string{
		"checkpoint_every: must be positive",
		`outputs.syslog[0].min_severity: "severe"`,
		`outputs.syslog[0].network: "tcpp"`,
		`outputs.syslog[0].address: "siem" is not host:port`,
		`outputs.syslog[0].facility: "local9"`,
		`outputs.syslog[0].sd_id: "has space"`,
		"outputs.syslog[0].tls: cert_file and key_file go together",
		`outputs.webhook[0].name: "qradar" is also the name of outputs.syslog[0]`,
		`outputs.webhook[0].url: "ftp://x"`,
		`outputs.webhook[0].format: "cef"`,
		"outputs.webhook[0].retry.max_attempts: must not be negative",
		"outputs.webhook[0].retry: backoffs must be positive with initial_backoff <= max_backoff",
		`outputs.file[0].name: "bad name!"`,
		"outputs.file[0].path: must not be empty",
		`outputs.file[0].format: "xml"`,
	} {
		found := false
		for _, g := range got {
			found = found || strings.Contains(g, want)
		}
		if !found {
			t.Errorf("no error %q in:\n%s", want, strings.Join(got, "\n"))
		}
	}
	if len(got) != 15 {
		t.Errorf("%d errors, want 15:\n%s", len(got), strings.Join(got, "\n"))
	}
	// Defaults fill what an enabled output left empty; disabled ones are
	// not run.
	o := OutputsConfiguration{
		Syslog:  []SyslogConfiguration{{Name: "a", Enabled: true}, {Name: "off"}},
		Webhook: []WebhookConfiguration{{Name: "w", Enabled: true}},
	}
	s := o.EnabledSyslog()
	if len(s) != 1 || s[0].MinSeverity != events.SeverityLow || s[0].Facility != "local0" || s[0].Retry.MaxAttempts != 0 || s[0].Retry.InitialBackoff != time.Second {
		t.Errorf("syslog defaults %+v", s)
	}
	if w := o.EnabledWebhook(); w[0].Retry.MaxAttempts != 8 || w[0].Format != FormatVigil {
		t.Errorf("webhook defaults %+v", w)
	}
	red := Configuration{Outputs: OutputsConfiguration{Webhook: []WebhookConfiguration{{Headers: map[string]string{"Authorization": "Bearer x"}}}}}.Redacted()
	if red.Outputs.Webhook[0].Headers["Authorization"] == "Bearer x" {
		t.Error("config dump would show the webhook's API key")
	}
}
