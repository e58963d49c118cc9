// Package ipset writes Vigil's blocks as a shell script for Linux hosts
// that filter with iptables: an `ipset restore` section that fills Vigil's
// sets (replacing their contents atomically with ipset swap) and the
// iptables rules that drop traffic matching them, in a chain of Vigil's
// own. The file is the enforcement point: Apply rewrites it atomically and
// Actual reads it back. Running it is the host's job (a systemd path
// unit, a cron entry) unless Run is configured, in which case Apply runs
// it.
//
// Four set types cover every IP scope: hash:net (an address or CIDR),
// hash:net,net (an address and a peer), hash:net,port (an address's traffic
// on one port), hash:net,port,net (an address, a port and a peer).
package ipset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/atomicfile"
)

// Configuration of the script.
type Configuration struct {
	// Name identifies the enforcement point ("ipset").
	Name string `yaml:"name"`
	// Path is the script file.
	Path string `yaml:"path"`
	// SetPrefix starts the names of Vigil's sets (vigil-net4, ...) and its
	// chain (vigil-block); at most 16 characters (ipset names hold 31).
	SetPrefix string `yaml:"set_prefix"`
	// Chains jump to Vigil's chain: FORWARD on a router or firewall,
	// INPUT and OUTPUT to protect the host itself.
	Chains []string `yaml:"chains"`
	// IPv6 also writes the inet6 sets and ip6tables rules.
	IPv6 bool `yaml:"ipv6"`
	// MaxElements is each set's maxelem.
	MaxElements int `yaml:"max_elements"`
	// Run, when set, is a command Apply runs with the script's path as its
	// last argument after writing it, for example ["/bin/sh"]. Its failure
	// fails Apply, with the command's output.
	Run []string `yaml:"run"`
	// RunTimeout bounds Run.
	RunTimeout time.Duration `yaml:"run_timeout"`
}

// DefaultConfiguration writes /var/lib/vigil/enforce-ipset.sh with IPv4
// and IPv6 sets jumped to from FORWARD.
func DefaultConfiguration() Configuration {
	return Configuration{
		Name:        "ipset",
		Path:        "/var/lib/vigil/enforce-ipset.sh",
		SetPrefix:   "vigil",
		Chains:      []string{"FORWARD"},
		IPv6:        true,
		MaxElements: 65536,
		RunTimeout:  time.Minute,
	}
}

var (
	validPrefix = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,15}$`)
	validID     = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	validChains = map[string]bool{"INPUT": true, "FORWARD": true, "OUTPUT": true}
)

// Validate reports every problem, naming fields within the section.
func (c Configuration) Validate() []error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name: must not be empty"))
	}
	if c.Path == "" || !filepath.IsAbs(c.Path) {
		errs = append(errs, fmt.Errorf("path: %q must be an absolute file path", c.Path))
	}
	if !validPrefix.MatchString(c.SetPrefix) {
		errs = append(errs, fmt.Errorf("set_prefix: %q must be a letter then up to 15 of A-Z a-z 0-9 _", c.SetPrefix))
	}
	if len(c.Chains) == 0 {
		errs = append(errs, errors.New("chains: at least one of INPUT, FORWARD, OUTPUT"))
	}
	for i, ch := range c.Chains {
		if !validChains[ch] {
			errs = append(errs, fmt.Errorf("chains[%d]: %q is not INPUT, FORWARD or OUTPUT", i, ch))
		}
	}
	if c.MaxElements < 1 || c.MaxElements > 1<<24 {
		errs = append(errs, fmt.Errorf("max_elements: must be 1-16777216, got %d", c.MaxElements))
	}
	if len(c.Run) > 0 && c.RunTimeout <= 0 {
		errs = append(errs, fmt.Errorf("run_timeout: must be positive with run, got %s", c.RunTimeout))
	}
	return errs
}

// Dependencies of the script backend.
type Dependencies struct {
	Logger *slog.Logger
	// Now is the wall clock element timeouts are computed from.
	Now func() time.Time
}

// Script is the enforcement point.
type Script struct {
	cfg  Configuration
	deps Dependencies
	mu   sync.Mutex
}

var _ enforce.Backend = (*Script)(nil)

// New returns the backend; it touches no file.
func New(cfg Configuration, deps Dependencies) (*Script, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("ipset: %w", errors.Join(errs...))
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Script{cfg: cfg, deps: deps}, nil
}

// Name implements enforce.Backend.
func (s *Script) Name() string { return s.cfg.Name }

// Supports implements enforce.Backend: every IP scope (an address or CIDR,
// with a peer, a transport and port, or both), IPv6 only when enabled;
// not MACs.
func (s *Script) Supports(scope events.BlockScope) bool {
	e, err := elementOf(scope)
	return err == nil && (!e.v6 || s.cfg.IPv6)
}

// Actual implements enforce.Backend: the entries in the script file. A
// missing file holds nothing.
func (s *Script) Actual(ctx context.Context) ([]enforce.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read()
}

func (s *Script) read() ([]enforce.Entry, error) {
	data, err := os.ReadFile(s.cfg.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ipset %s: %w", s.cfg.Name, err)
	}
	es, err := ParseScript(bytes.NewReader(data), s.cfg.SetPrefix)
	if err != nil {
		return nil, fmt.Errorf("ipset %s: %s is not a script Vigil can read back (delete it and Vigil writes it anew): %w", s.cfg.Name, s.cfg.Path, err)
	}
	return es, nil
}

// Apply implements enforce.Backend: it reads the file, changes the
// entries by ID, writes the file atomically (a reader sees the old script
// or the new one) and, with Run, runs it; if that fails, the previous
// script is put back and run again. Entries already expired are
// dropped; the others carry the time left as their element timeout, so the
// kernel ends a block on time even if Vigil stops.
func (s *Script) Apply(ctx context.Context, add, remove []enforce.Entry) error {
	for _, e := range add {
		if err := s.check(e); err != nil {
			return fmt.Errorf("ipset %s: %w", s.cfg.Name, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.read()
	if err != nil {
		return err
	}
	byID := make(map[string]enforce.Entry, len(cur)+len(add))
	for _, e := range cur {
		byID[e.ID] = e
	}
	for _, e := range remove {
		delete(byID, e.ID)
	}
	for _, e := range add {
		byID[e.ID] = e
	}
	now := s.deps.Now()
	lines := make([]line, 0, len(byID))
	count := map[[2]int]int{}
	for _, e := range byID {
		timeout := 0
		if !e.Expires.IsZero() {
			left := e.Expires.Sub(now)
			if left <= 0 {
				continue
			}
			timeout = min(int((left+time.Second-1)/time.Second), maxTimeout)
		}
		el, _ := elementOf(e.Scope) // checked when it was added
		v6 := 0
		if el.v6 {
			v6 = 1
		}
		count[[2]int{int(el.kind), v6}]++
		lines = append(lines, line{el: el, timeout: timeout, comment: comment(e)})
	}
	for k, n := range count {
		if n > s.cfg.MaxElements {
			return fmt.Errorf("ipset %s: %d entries for set %s, more than max_elements %d", s.cfg.Name, n, names{s.cfg.SetPrefix}.set(kind(k[0]), k[1] == 1), s.cfg.MaxElements)
		}
	}
	sort.Slice(lines, func(i, j int) bool {
		if lines[i].el.text != lines[j].el.text {
			return lines[i].el.text < lines[j].el.text
		}
		return lines[i].comment < lines[j].comment
	})
	prev, err := os.ReadFile(s.cfg.Path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ipset %s: %w", s.cfg.Name, err)
	}
	if err := atomicfile.Write(s.cfg.Path, render(s.cfg, lines), 0o750); err != nil {
		return fmt.Errorf("ipset %s: write %s: %w", s.cfg.Name, s.cfg.Path, err)
	}
	runErr := s.run(ctx)
	if runErr == nil {
		return nil
	}
	// The new script failed: the file goes back to what was enforced
	// before, and runs again, so that Actual does not claim blocks the
	// kernel refused.
	if prev == nil {
		if err := os.Remove(s.cfg.Path); err != nil {
			return fmt.Errorf("%w; removing the failed script: %v", runErr, err)
		}
		return runErr
	}
	if err := atomicfile.Write(s.cfg.Path, prev, 0o750); err != nil {
		return fmt.Errorf("%w; restoring the previous script: %v", runErr, err)
	}
	if err := s.run(ctx); err != nil {
		return fmt.Errorf("%w; running the previous script again: %v", runErr, err)
	}
	return runErr
}

func (s *Script) check(e enforce.Entry) error {
	if !validID.MatchString(e.ID) {
		return fmt.Errorf("entry ID %q: want 1-128 of A-Z a-z 0-9 . _ : -", e.ID)
	}
	el, err := elementOf(e.Scope)
	if err != nil {
		return fmt.Errorf("entry %s: %w", e.ID, err)
	}
	if el.v6 && !s.cfg.IPv6 {
		return fmt.Errorf("entry %s: IPv6 scope %+v but ipv6 is off", e.ID, e.Scope)
	}
	return nil
}

func (s *Script) run(ctx context.Context) error {
	if len(s.cfg.Run) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RunTimeout)
	defer cancel()
	args := append(append([]string(nil), s.cfg.Run[1:]...), s.cfg.Path)
	out, err := exec.CommandContext(ctx, s.cfg.Run[0], args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ipset %s: run %s %s: %w: %s", s.cfg.Name, s.cfg.Run[0], strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
