package events

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-health/vigil/internal/tlsfile"
)

// SecurityConfiguration authenticates and encrypts the connection to an
// external NATS. Secrets are never written in the file itself when it can
// be avoided: a credentials file, an nkey seed file or a password file is
// read at start, and the password may also come from the environment
// (VIGIL_EVENTS_SECURITY_PASSWORD). Nothing here is logged or dumped.
type SecurityConfiguration struct {
	// TLS verifies the server against CAFile (the system roots when
	// empty) and presents CertFile/KeyFile when the server asks for a
	// client certificate.
	TLS TLSConfiguration `yaml:"tls"`
	// CredentialsFile is a NATS credentials file (user JWT and nkey seed,
	// as `nsc` writes it), for servers in operator mode.
	CredentialsFile string `yaml:"credentials_file"`
	// NkeySeedFile holds a user nkey seed (SU...), for servers that list
	// nkeys in their accounts.
	NkeySeedFile string `yaml:"nkey_seed_file"`
	// User and Password (or PasswordFile, whose content with the final
	// newline removed is the password) for servers with user lists.
	User         string `yaml:"user"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// TLSConfiguration is a TLS client setup shared by the NATS and ClickHouse
// connections.
type TLSConfiguration struct {
	// Enabled turns TLS on; it is implied by any file below.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the CAs that sign the server's
	// certificate; empty uses the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate and its key (PEM),
	// for servers that verify clients.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the server's certificate
	// (when servers are reached by address).
	ServerName string `yaml:"server_name"`
}

// On says whether TLS is configured.
func (t TLSConfiguration) On() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != ""
}

// Validate reports every problem, naming fields relative to the tls
// section.
func (t TLSConfiguration) Validate() []error {
	var errs []error
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("cert_file and key_file: give both or neither"))
	}
	for _, f := range []struct{ name, path string }{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", f.name, err))
		}
	}
	return errs
}

// Config builds the client's tls.Config; nil when TLS is off.
func (t TLSConfiguration) Config() (*tls.Config, error) {
	if !t.On() {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pool, err := tlsfile.CertPool(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca_file: %w", err)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls cert_file/key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// validate reports every problem, naming fields relative to the events
// section.
func (s SecurityConfiguration) validate() []error {
	var errs []error
	for _, e := range s.TLS.Validate() {
		errs = append(errs, fmt.Errorf("security.tls.%w", e))
	}
	methods := 0
	for _, set := range []bool{s.CredentialsFile != "", s.NkeySeedFile != "", s.User != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		errs = append(errs, errors.New("security: give one of credentials_file, nkey_seed_file or user, not several"))
	}
	if s.Password != "" && s.PasswordFile != "" {
		errs = append(errs, errors.New("security.password and security.password_file: give one, not both"))
	}
	if (s.Password != "" || s.PasswordFile != "") && s.User == "" {
		errs = append(errs, errors.New("security.user: a password needs a user"))
	}
	for _, f := range []struct{ name, path string }{
		{"credentials_file", s.CredentialsFile}, {"nkey_seed_file", s.NkeySeedFile}, {"password_file", s.PasswordFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			errs = append(errs, fmt.Errorf("security.%s: %v", f.name, err))
		}
	}
	return errs
}

// Redacted returns a copy with the password replaced, for dumps.
func (s SecurityConfiguration) Redacted() SecurityConfiguration {
	if s.Password != "" {
		s.Password = "(set; not shown)"
	}
	return s
}

// ReadSecretFile reads a secret from a file: its content without the
// trailing newline. The error names the file, never the content.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// options returns the NATS client options of the security section.
func (s SecurityConfiguration) options() ([]nats.Option, error) {
	var opts []nats.Option
	tc, err := s.TLS.Config()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, nats.Secure(tc))
	}
	switch {
	case s.CredentialsFile != "":
		opts = append(opts, nats.UserCredentials(s.CredentialsFile))
	case s.NkeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(s.NkeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("security.nkey_seed_file %s: %w", s.NkeySeedFile, err)
		}
		opts = append(opts, o)
	case s.User != "":
		pw := s.Password
		if s.PasswordFile != "" {
			if pw, err = ReadSecretFile(s.PasswordFile); err != nil {
				return nil, fmt.Errorf("security.password_file: %w", err)
			}
		}
		opts = append(opts, nats.UserInfo(s.User, pw))
	}
	return opts, nil
}

// RedactURL removes passwords and tokens from NATS URLs (comma separated)
// before they are logged or returned in an error.
func RedactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "redacted")
		} else {
			u.User = url.User("redacted") // a token
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// streamUpToDate says whether the stream exists with the settings Vigil
// declares, so that a process whose NATS role may only read stream
// information (a sensor) starts against streams an engine declared.
func streamUpToDate(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) bool {
	st, err := js.Stream(ctx, want.Name)
	if err != nil {
		return false
	}
	got := st.CachedInfo().Config
	return slices.Equal(got.Subjects, want.Subjects) && got.Replicas == want.Replicas &&
		got.MaxAge == want.MaxAge && got.MaxBytes == want.MaxBytes && got.Duplicates == want.Duplicates &&
		got.Description == want.Description && got.Retention == want.Retention && got.Storage == want.Storage &&
		got.Discard == want.Discard
}
