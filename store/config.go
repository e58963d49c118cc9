package store

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/vigil-health/vigil/events"
)

// Configuration of the ClickHouse store.
type Configuration struct {
	// Addresses are the host:port of ClickHouse servers' native protocol
	// (port 9000 by default). Empty means no store: history is then only
	// what the JetStream streams keep.
	Addresses []string `yaml:"addresses"`
	// Database holds Vigil's tables; it is created when missing.
	Database string `yaml:"database"`
	// Username and Password authenticate to ClickHouse.
	// The password may also come from PasswordFile (its content without
	// the final newline) or the environment (VIGIL_STORE_PASSWORD); it is
	// never logged or dumped.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// TLS encrypts the native protocol (ClickHouse's tcp_port_secure,
	// 9440 by default) and verifies the server against tls.ca_file.
	TLS events.TLSConfiguration `yaml:"tls"`
	// DialTimeout bounds one connection attempt, ReadTimeout one read
	// from the server (a server that hangs fails the insert, which is
	// retried, instead of blocking the writer).
	DialTimeout time.Duration `yaml:"dial_timeout"`
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// Compression of the native protocol: "lz4", "none", or "auto" (the
	// default): none when every address is a loopback one, lz4 otherwise.
	// LZ4 halves what crosses the network for the JSON bodies, but on the
	// same machine it only costs CPU on both sides: about 3 µs per event
	// of the 15 to 20 the whole insert costs (BenchmarkInsert).
	Compression string `yaml:"compression"`
	// MaxRows is the largest batch, in events: a batch is inserted when
	// it holds MaxRows events or FlushInterval after it was started,
	// whichever comes first.
	MaxRows int `yaml:"max_rows"`
	// FlushInterval bounds how long an event waits in a batch.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// InsertWorkers is how many batches are inserted at once, per stream.
	// ClickHouse takes an INSERT on one core; two let it use two.
	InsertWorkers int `yaml:"insert_workers"`
	// MaxBackoff caps the pause between retries of a failed insert; the
	// first pause is 100ms and doubles.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// AckWait is how long JetStream waits for the acknowledgement of a
	// delivered event before it delivers it again. While an insert is
	// retried the writer tells JetStream it is still working on its batch,
	// so this only matters when the writer dies.
	AckWait time.Duration `yaml:"ack_wait"`
	// Migrate applies the schema migrations on start.
	Migrate bool `yaml:"migrate"`
}

// DefaultConfiguration batches up to 50,000 events or one second:
// ClickHouse spends half the CPU per row on batches of 50,000 that it
// spends on batches of 10,000 (BenchmarkWriter).
func DefaultConfiguration() Configuration {
	return Configuration{
		Database:      "vigil",
		Username:      "default",
		DialTimeout:   5 * time.Second,
		ReadTimeout:   30 * time.Second,
		Compression:   "auto",
		MaxRows:       50_000,
		FlushInterval: time.Second,
		InsertWorkers: 2,
		MaxBackoff:    10 * time.Second,
		AckWait:       time.Minute,
		Migrate:       true,
	}
}

// identifier is what Vigil accepts as a database name: it is written into
// DDL unquoted.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Validate reports every problem, naming fields within the section.
func (c Configuration) Validate() []error {
	var errs []error
	for i, a := range c.Addresses {
		host, port, err := net.SplitHostPort(a)
		if err == nil && host == "" {
			err = fmt.Errorf("missing host")
		}
		if err == nil {
			if p, perr := strconv.Atoi(port); perr != nil || p < 1 || p > 65535 {
				err = fmt.Errorf("port %q is not 1-65535", port)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("addresses[%d]: %q is not host:port: %v", i, a, err))
		}
	}
	if c.Password != "" && c.PasswordFile != "" {
		errs = append(errs, fmt.Errorf("password and password_file: give one, not both"))
	}
	if c.PasswordFile != "" {
		if _, err := os.Stat(c.PasswordFile); err != nil {
			errs = append(errs, fmt.Errorf("password_file: %v", err))
		}
	}
	for _, e := range c.TLS.Validate() {
		errs = append(errs, fmt.Errorf("tls.%w", e))
	}
	if !identifier.MatchString(c.Database) {
		errs = append(errs, fmt.Errorf("database: %q is not a plain identifier (letters, digits, _)", c.Database))
	}
	if c.DialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("dial_timeout: must be positive, got %s", c.DialTimeout))
	}
	if c.ReadTimeout <= 0 {
		errs = append(errs, fmt.Errorf("read_timeout: must be positive, got %s", c.ReadTimeout))
	}
	if c.InsertWorkers < 1 || c.InsertWorkers > 16 {
		errs = append(errs, fmt.Errorf("insert_workers: must be between 1 and 16, got %d", c.InsertWorkers))
	}
	if c.Compression != "auto" && c.Compression != "lz4" && c.Compression != "none" {
		errs = append(errs, fmt.Errorf("compression: %q is not auto, lz4 or none", c.Compression))
	}
	if c.MaxRows < 1 || c.MaxRows > 1_000_000 {
		errs = append(errs, fmt.Errorf("max_rows: must be between 1 and 1000000, got %d", c.MaxRows))
	}
	flushOK := c.FlushInterval >= 10*time.Millisecond && c.FlushInterval <= time.Minute
	if !flushOK {
		errs = append(errs, fmt.Errorf("flush_interval: must be between 10ms and 1m, got %s", c.FlushInterval))
	}
	if c.MaxBackoff < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("max_backoff: must be at least 100ms, got %s", c.MaxBackoff))
	}
	if c.AckWait < time.Second {
		errs = append(errs, fmt.Errorf("ack_wait: must be at least 1s, got %s", c.AckWait))
	} else if flushOK && c.AckWait <= 2*c.FlushInterval {
		errs = append(errs, fmt.Errorf("ack_wait: %s must exceed twice flush_interval (%s)", c.AckWait, c.FlushInterval))
	}
	return errs
}

// Enabled says whether a ClickHouse server is configured.
func (c Configuration) Enabled() bool { return len(c.Addresses) > 0 }

// Redacted returns a copy without the password, for dumps.
func (c Configuration) Redacted() Configuration {
	if c.Password != "" {
		c.Password = "(set; not shown)"
	}
	return c
}
