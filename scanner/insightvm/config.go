package insightvm

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Configuration of the connection to an InsightVM (Nexpose) Security
// Console. The password is never written in the file when it can be
// avoided: PasswordFile is read at start, and VIGIL_SCANNER_INSIGHTVM_PASSWORD
// overrides it from the environment.
type Configuration struct {
	// URL is the console, for example https://insightvm.example.org:3780
	// (the /api/3 base is added). Empty disables the integration.
	URL string `yaml:"url"`
	// User and Password (or PasswordFile: its content without the final
	// newline) authenticate with HTTP Basic. Token is the two-factor token
	// when the account requires one.
	User         string `yaml:"user"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	Token        string `yaml:"token"`
	// CAFile is a PEM bundle of the CA that signed the console's
	// certificate (consoles usually have a self-signed one); empty uses
	// the system roots. InsecureSkipVerify turns verification off: only
	// for a first test, it is logged as a warning at every start.
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	// Timeout bounds one request; Retries is how often a request that got
	// 429 or a 5xx (or no answer) is tried again, with backoff from
	// RetryBackoff doubling up to 30 s.
	Timeout      time.Duration `yaml:"timeout"`
	Retries      int           `yaml:"retries"`
	RetryBackoff time.Duration `yaml:"retry_backoff"`
	// PageSize is the page size of list requests (the API's maximum is
	// 500).
	PageSize int `yaml:"page_size"`
}

// DefaultConfiguration has the integration off.
func DefaultConfiguration() Configuration {
	return Configuration{Timeout: 30 * time.Second, Retries: 4, RetryBackoff: time.Second, PageSize: 500}
}

// Enabled says whether a console is configured.
func (c Configuration) Enabled() bool { return c.URL != "" }

// Validate reports every problem, naming fields relative to the section.
func (c Configuration) Validate() []error {
	var errs []error
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("url: %v", err))
		case u.Scheme != "https" && u.Scheme != "http":
			errs = append(errs, fmt.Errorf("url: %q: want https://host:port", c.URL))
		case u.Host == "":
			errs = append(errs, fmt.Errorf("url: %q has no host", c.URL))
		}
		if c.User == "" {
			errs = append(errs, errors.New("user: required with url (the API uses HTTP Basic authentication)"))
		}
		if c.Password == "" && c.PasswordFile == "" {
			errs = append(errs, errors.New("password_file: required with url (or password, or VIGIL_SCANNER_INSIGHTVM_PASSWORD)"))
		}
	}
	if c.Password != "" && c.PasswordFile != "" {
		errs = append(errs, errors.New("password and password_file: give one, not both"))
	}
	for _, f := range []struct{ name, path string }{{"password_file", c.PasswordFile}, {"ca_file", c.CAFile}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", f.name, err))
			}
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %s", c.Timeout))
	}
	if c.Retries < 0 || c.Retries > 20 {
		errs = append(errs, fmt.Errorf("retries: must be 0-20, got %d", c.Retries))
	}
	if c.RetryBackoff <= 0 {
		errs = append(errs, fmt.Errorf("retry_backoff: must be positive, got %s", c.RetryBackoff))
	}
	if c.PageSize < 1 || c.PageSize > 500 {
		errs = append(errs, fmt.Errorf("page_size: must be 1-500 (the API's maximum), got %d", c.PageSize))
	}
	return errs
}

// Redacted returns a copy without secrets, for dumps.
func (c Configuration) Redacted() Configuration {
	if c.Password != "" {
		c.Password = "(set; not shown)"
	}
	if c.Token != "" {
		c.Token = "(set; not shown)"
	}
	return c
}

// password returns the configured password, reading PasswordFile.
func (c Configuration) password() (string, error) {
	if c.PasswordFile == "" {
		return c.Password, nil
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("insightvm password_file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
