package alerts

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"time"

	"github.com/vigil-health/vigil/events"
)

// Configuration of the alert service and its SOC outputs.
type Configuration struct {
	// CheckpointEvery is the wall-clock interval between checkpoints of
	// the projection (one is also written on stop).
	CheckpointEvery time.Duration `yaml:"checkpoint_every"`
	// WatchBuffer is how many updates a live watcher (an SSE client, `vigil
	// alerts tail`) may fall behind before it is disconnected.
	WatchBuffer int `yaml:"watch_buffer"`
	// SOC bounds the stream of per-severity subjects (VIGIL_V1_SOC) the
	// SOC and the outputs consume.
	SOC events.StreamLimits `yaml:"soc"`
	// Outputs push alerts to the SOC's systems.
	Outputs OutputsConfiguration `yaml:"outputs"`
}

// OutputsConfiguration lists the outputs. Each has a unique name, which
// names its durable consumer: renaming an output starts it from the
// beginning of the SOC stream.
type OutputsConfiguration struct {
	Syslog  []SyslogConfiguration  `yaml:"syslog"`
	Webhook []WebhookConfiguration `yaml:"webhook"`
	File    []FileConfiguration    `yaml:"file"`
}

// RetryConfiguration says how an output retries a failed delivery:
// exponential backoff from InitialBackoff, doubled up to MaxBackoff. After
// MaxAttempts (0 means never give up) the alert goes to the dead-letter
// stream with the last error, and the output moves on.
type RetryConfiguration struct {
	MaxAttempts    int           `yaml:"max_attempts"`
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
}

// SyslogConfiguration is an RFC 5424 syslog output with a CEF payload.
type SyslogConfiguration struct {
	Name    string `yaml:"name"`
	Enabled bool   `yaml:"enabled"`
	// MinSeverity is the least severe alert sent.
	MinSeverity events.Severity `yaml:"min_severity"`
	// Lifecycle also sends the lifecycle changes a person makes
	// (acknowledged, resolved, reopened) of incidents at least
	// MinSeverity.
	Lifecycle bool `yaml:"lifecycle"`
	// Network is udp (RFC 5426), tcp (RFC 6587 octet counting) or tls
	// (RFC 5425); Address is host:port.
	Network string `yaml:"network"`
	Address string `yaml:"address"`
	// Facility is the syslog facility name (kern ... local7).
	Facility string `yaml:"facility"`
	// Hostname and AppName fill the RFC 5424 header; an empty Hostname is
	// the machine's name.
	Hostname string `yaml:"hostname"`
	AppName  string `yaml:"app_name"`
	// SDID, when set (name@enterprise-number), adds a structured-data
	// element with the incident, rule and device.
	SDID string `yaml:"sd_id"`
	// TLS configures the tls network.
	TLS TLSConfiguration `yaml:"tls"`
	// Timeout bounds one connection attempt and one write.
	Timeout time.Duration      `yaml:"timeout"`
	Retry   RetryConfiguration `yaml:"retry"`
}

// TLSConfiguration of a client connection.
type TLSConfiguration struct {
	// CAFile verifies the server (PEM); empty uses the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile authenticate Vigil to the server (PEM).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in the certificate.
	ServerName string `yaml:"server_name"`
}

// WebhookConfiguration is an HTTP output: one JSON POST per alert.
type WebhookConfiguration struct {
	Name        string          `yaml:"name"`
	Enabled     bool            `yaml:"enabled"`
	MinSeverity events.Severity `yaml:"min_severity"`
	// Lifecycle also sends the lifecycle changes a person makes
	// (acknowledged, resolved, reopened) of incidents at least
	// MinSeverity.
	Lifecycle bool   `yaml:"lifecycle"`
	URL       string `yaml:"url"`
	// Format is vigil (the SOC record) or ocsf (an OCSF Detection
	// Finding).
	Format string `yaml:"format"`
	// SecretFile holds the HMAC-SHA256 key; when set, every request
	// carries X-Vigil-Signature: sha256=<hex of HMAC(timestamp "." body)>
	// and X-Vigil-Timestamp.
	SecretFile string `yaml:"secret_file"`
	// Headers are added to every request (an API key for the SIEM).
	Headers map[string]string  `yaml:"headers"`
	Timeout time.Duration      `yaml:"timeout"`
	Retry   RetryConfiguration `yaml:"retry"`
}

// FileConfiguration is an output appending one JSON object per line to a
// file (for a SIEM agent that tails files).
type FileConfiguration struct {
	Name        string          `yaml:"name"`
	Enabled     bool            `yaml:"enabled"`
	MinSeverity events.Severity `yaml:"min_severity"`
	// Lifecycle also sends the lifecycle changes a person makes
	// (acknowledged, resolved, reopened) of incidents at least
	// MinSeverity.
	Lifecycle bool   `yaml:"lifecycle"`
	Path      string `yaml:"path"`
	// Format is vigil or ocsf.
	Format string             `yaml:"format"`
	Retry  RetryConfiguration `yaml:"retry"`
}

// DefaultConfiguration: checkpoints every 5 minutes, a month of SOC
// subjects, no output.
func DefaultConfiguration() Configuration {
	return Configuration{
		CheckpointEvery: 5 * time.Minute,
		WatchBuffer:     1024,
		SOC:             events.StreamLimits{MaxAge: 30 * 24 * time.Hour, MaxBytes: 1 << 30},
	}
}

// Defaults fill what an output left empty.
func (c SyslogConfiguration) withDefaults() SyslogConfiguration {
	if c.MinSeverity == "" {
		c.MinSeverity = events.SeverityLow
	}
	if c.Facility == "" {
		c.Facility = "local0"
	}
	if c.AppName == "" {
		c.AppName = "vigil"
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	c.Retry = c.Retry.withDefaults(0)
	return c
}

func (c WebhookConfiguration) withDefaults() WebhookConfiguration {
	if c.MinSeverity == "" {
		c.MinSeverity = events.SeverityLow
	}
	if c.Format == "" {
		c.Format = FormatVigil
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	c.Retry = c.Retry.withDefaults(8)
	return c
}

func (c FileConfiguration) withDefaults() FileConfiguration {
	if c.MinSeverity == "" {
		c.MinSeverity = events.SeverityLow
	}
	if c.Format == "" {
		c.Format = FormatVigil
	}
	c.Retry = c.Retry.withDefaults(0)
	return c
}

func (r RetryConfiguration) withDefaults(attempts int) RetryConfiguration {
	if r.MaxAttempts == 0 {
		r.MaxAttempts = attempts
	}
	if r.InitialBackoff == 0 {
		r.InitialBackoff = time.Second
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = 2 * time.Minute
	}
	return r
}

// Output formats.
const (
	FormatVigil = "vigil"
	FormatOCSF  = "ocsf"
)

// Syslog returns the enabled syslog outputs with defaults filled.
func (c OutputsConfiguration) EnabledSyslog() []SyslogConfiguration {
	var out []SyslogConfiguration
	for _, s := range c.Syslog {
		if s.Enabled {
			out = append(out, s.withDefaults())
		}
	}
	return out
}

// EnabledWebhook returns the enabled webhook outputs with defaults filled.
func (c OutputsConfiguration) EnabledWebhook() []WebhookConfiguration {
	var out []WebhookConfiguration
	for _, s := range c.Webhook {
		if s.Enabled {
			out = append(out, s.withDefaults())
		}
	}
	return out
}

// EnabledFile returns the enabled file outputs with defaults filled.
func (c OutputsConfiguration) EnabledFile() []FileConfiguration {
	var out []FileConfiguration
	for _, s := range c.File {
		if s.Enabled {
			out = append(out, s.withDefaults())
		}
	}
	return out
}

// Facilities maps syslog facility names to their codes (RFC 5424 6.2.1).
var Facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14, "clock": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

var (
	outputName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// sdID is an RFC 5424 SD-ID of the private form name@number.
	sdID = regexp.MustCompile(`^[!-~]{1,32}$`)
)

// Validate reports every problem, naming fields relative to the alerts
// section.
func (c Configuration) Validate() []error {
	var errs []error
	if c.CheckpointEvery <= 0 {
		errs = append(errs, fmt.Errorf("checkpoint_every: must be positive, got %s", c.CheckpointEvery))
	}
	if c.WatchBuffer < 1 {
		errs = append(errs, fmt.Errorf("watch_buffer: must be at least 1, got %d", c.WatchBuffer))
	}
	if c.SOC.MaxAge <= 0 {
		errs = append(errs, fmt.Errorf("soc.max_age: must be positive, got %s", c.SOC.MaxAge))
	}
	if c.SOC.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("soc.max_bytes: must be positive, got %d", c.SOC.MaxBytes))
	}
	names := map[string]string{}
	common := func(field, name string, min events.Severity, r RetryConfiguration) {
		if !outputName.MatchString(name) {
			errs = append(errs, fmt.Errorf("%s.name: %q must be 1-64 letters, digits, _ or -", field, name))
		} else if prev, dup := names[name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q is also the name of %s", field, name, prev))
		} else {
			names[name] = field
		}
		if min != "" && Rank(min) == 0 {
			errs = append(errs, fmt.Errorf("%s.min_severity: %q is not info, low, medium, high or critical", field, min))
		}
		if r.MaxAttempts < 0 {
			errs = append(errs, fmt.Errorf("%s.retry.max_attempts: must not be negative, got %d", field, r.MaxAttempts))
		}
		if r.InitialBackoff < 0 || r.MaxBackoff < 0 || (r.MaxBackoff > 0 && r.InitialBackoff > r.MaxBackoff) {
			errs = append(errs, fmt.Errorf("%s.retry: backoffs must be positive with initial_backoff <= max_backoff", field))
		}
	}
	for i, s := range c.Outputs.Syslog {
		f := fmt.Sprintf("outputs.syslog[%d]", i)
		common(f, s.Name, s.MinSeverity, s.Retry)
		switch s.Network {
		case "udp", "tcp", "tls":
		default:
			errs = append(errs, fmt.Errorf("%s.network: %q must be udp, tcp or tls", f, s.Network))
		}
		if _, _, err := net.SplitHostPort(s.Address); err != nil {
			errs = append(errs, fmt.Errorf("%s.address: %q is not host:port", f, s.Address))
		}
		if _, ok := Facilities[s.Facility]; s.Facility != "" && !ok {
			errs = append(errs, fmt.Errorf("%s.facility: %q is not a syslog facility name (kern ... local7)", f, s.Facility))
		}
		if s.SDID != "" && !sdID.MatchString(s.SDID) {
			errs = append(errs, fmt.Errorf("%s.sd_id: %q is not an SD-ID (1-32 printable characters)", f, s.SDID))
		}
		if (s.TLS.CertFile == "") != (s.TLS.KeyFile == "") {
			errs = append(errs, fmt.Errorf("%s.tls: cert_file and key_file go together", f))
		}
	}
	for i, w := range c.Outputs.Webhook {
		f := fmt.Sprintf("outputs.webhook[%d]", i)
		common(f, w.Name, w.MinSeverity, w.Retry)
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s.url: %q is not an http(s) URL", f, w.URL))
		}
		if w.Format != "" && w.Format != FormatVigil && w.Format != FormatOCSF {
			errs = append(errs, fmt.Errorf("%s.format: %q must be vigil or ocsf", f, w.Format))
		}
	}
	for i, o := range c.Outputs.File {
		f := fmt.Sprintf("outputs.file[%d]", i)
		common(f, o.Name, o.MinSeverity, o.Retry)
		if o.Path == "" {
			errs = append(errs, fmt.Errorf("%s.path: must not be empty", f))
		}
		if o.Format != "" && o.Format != FormatVigil && o.Format != FormatOCSF {
			errs = append(errs, fmt.Errorf("%s.format: %q must be vigil or ocsf", f, o.Format))
		}
	}
	return errs
}

// Redacted returns the configuration with the webhook headers' values
// hidden (they hold API keys), for `vigil config dump`.
func (c Configuration) Redacted() Configuration {
	hooks := make([]WebhookConfiguration, len(c.Outputs.Webhook))
	for i, w := range c.Outputs.Webhook {
		if len(w.Headers) > 0 {
			h := make(map[string]string, len(w.Headers))
			for k := range w.Headers {
				h[k] = "(set; not shown)"
			}
			w.Headers = h
		}
		hooks[i] = w
	}
	c.Outputs.Webhook = hooks
	return c
}
