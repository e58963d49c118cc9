// Package edl serves Vigil's blocklist as external dynamic lists: plain
// text files of addresses that PAN-OS, FortiGate and Check Point poll over
// HTTP(S). Apply swaps the served lists atomically; Actual reads back what
// is being served; LastPolled says when each firewall last fetched, so
// that a firewall that stopped polling is visible.
//
// A feed is pulled, not pushed: what Actual reports is what Vigil offers.
// Whether a firewall enforces it depends on it polling, which is why every
// fetch is recorded.
package edl

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/atomicfile"
)

// Configuration of one feed.
type Configuration struct {
	// Name identifies the feed as an enforcement point ("edl").
	Name string `yaml:"name"`
	// Listen is an address of its own (for example 0.0.0.0:8443); empty
	// means the feed is only mounted on Vigil's web server at Path.
	Listen string `yaml:"listen"`
	// Path is the URL path the files are served under, with slashes at
	// both ends: Path + "panos.txt" is what a firewall is given.
	Path string `yaml:"path"`
	// TLSCert and TLSKey are PEM files; with both set, Listen serves HTTPS.
	// Firewalls should fetch over HTTPS: the list says which devices are
	// blocked.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// Username and Password are HTTP basic credentials firewalls present.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// BearerToken is accepted as "Authorization: Bearer <token>" (for
	// clients that send a token instead of basic credentials).
	BearerToken string `yaml:"bearer_token"`
	// AllowAnonymous serves the lists without authentication; it must be
	// set explicitly when no credentials are configured.
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// StateFile keeps the served list across restarts, so that a firewall
	// polling right after Vigil restarts does not get an empty list and
	// unblock everything before the reconciler has re-applied. Empty
	// means memory only.
	StateFile string `yaml:"state_file"`
	// ObjectName names the Check Point Generic Data Center object.
	ObjectName string `yaml:"object_name"`
}

// DefaultConfiguration serves under /edl/ on Vigil's own server.
func DefaultConfiguration() Configuration {
	return Configuration{Name: "edl", Path: "/edl/", ObjectName: "vigil-block"}
}

// Validate reports every problem, naming fields within the section.
func (c Configuration) Validate() []error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name: must not be empty"))
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("listen: %q is not host:port", c.Listen))
		}
	}
	if !strings.HasPrefix(c.Path, "/") || !strings.HasSuffix(c.Path, "/") || strings.ContainsAny(c.Path, " {}") {
		errs = append(errs, fmt.Errorf("path: %q must start and end with / and hold no spaces or braces", c.Path))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls_cert, tls_key: set both or neither"))
	}
	if c.TLSCert != "" && c.Listen == "" {
		errs = append(errs, errors.New("tls_cert: only used with listen (mounted on Vigil's server, the server's TLS applies)"))
	}
	if (c.Username == "") != (c.Password == "") {
		errs = append(errs, errors.New("username, password: set both or neither"))
	}
	if strings.Contains(c.Username, ":") {
		errs = append(errs, errors.New("username: must not contain ':' (HTTP basic authentication)"))
	}
	authenticated := c.Username != "" || c.BearerToken != ""
	if !authenticated && !c.AllowAnonymous {
		errs = append(errs, errors.New("username, bearer_token: no credentials configured; set them, or allow_anonymous: true to serve the blocklist to anyone"))
	}
	if authenticated && c.AllowAnonymous {
		errs = append(errs, errors.New("allow_anonymous: contradicts the configured credentials"))
	}
	if c.ObjectName == "" {
		errs = append(errs, errors.New("object_name: must not be empty"))
	}
	return errs
}

// Dependencies of a feed.
type Dependencies struct {
	Logger *slog.Logger
	// Now is the wall clock, for expiry of served entries and poll times.
	Now func() time.Time
}

// Poll is what the feed knows of one client fetching one file.
type Poll struct {
	// Client is the remote address (host only) of the request.
	Client string `json:"client"`
	// User is the basic-auth user, "bearer" for a token, empty without
	// authentication.
	User string `json:"user,omitempty"`
	File string `json:"file"`
	// Last is when the client last fetched the file successfully.
	Last      time.Time `json:"last"`
	Requests  uint64    `json:"requests"`
	UserAgent string    `json:"user_agent,omitempty"`
}

// Feed is the blocklist feed: an enforcement point and an HTTP handler.
type Feed struct {
	cfg  Configuration
	deps Dependencies
	mux  *http.ServeMux

	// mu serialises writers of cur; readers load cur without locking.
	mu  sync.Mutex
	cur atomic.Pointer[snapshot]

	pollMu sync.Mutex
	polls  map[pollKey]*Poll
	// authFailures counts refused requests.
	authFailures atomic.Uint64

	server *http.Server
	addr   string
	done   chan error
}

var _ enforce.Backend = (*Feed)(nil)

type pollKey struct{ client, user, file string }

// snapshot is one immutable version of the served lists.
type snapshot struct {
	byID     map[string]enforce.Entry
	sorted   []enforce.Entry
	bodies   map[string][]byte
	etags    map[string]string
	modified time.Time
	// nextExpiry is the earliest expiry among the entries, zero if none.
	nextExpiry time.Time
}

// New returns an inert feed serving an empty list.
func New(cfg Configuration, deps Dependencies) (*Feed, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("edl: %w", errors.Join(errs...))
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	f := &Feed{cfg: cfg, deps: deps, polls: map[pollKey]*Poll{}}
	f.cur.Store(f.build(map[string]enforce.Entry{}, time.Time{}))
	f.mux = http.NewServeMux()
	for _, name := range files {
		f.mux.HandleFunc("GET "+cfg.Path+name, f.serveFile(name))
	}
	return f, nil
}

// Name implements enforce.Backend.
func (f *Feed) Name() string { return f.cfg.Name }

// Supports implements enforce.Backend: a feed lists addresses, so only
// scopes of one IP address or CIDR (canonical form), nothing with a peer,
// a port or a MAC.
func (f *Feed) Supports(s events.BlockScope) bool { return supports(s) }

// Path is where Handler expects to be mounted.
func (f *Feed) Path() string { return f.cfg.Path }

// Handler serves the files under Path; mount it on Vigil's server with
// mux.Handle(feed.Path(), feed.Handler()), or let Start listen on its own.
func (f *Feed) Handler() http.Handler { return f.mux }

// URL is the address of one file for a firewall, given the server's base
// URL (for example https://vigil.example:8443).
func (f *Feed) URL(base, file string) string {
	return strings.TrimSuffix(base, "/") + f.cfg.Path + file
}

// Start loads the state file, if any, and listens on its own address, if
// configured.
func (f *Feed) Start(ctx context.Context) error {
	if f.cfg.StateFile != "" {
		if err := f.load(); err != nil {
			return err
		}
	}
	if f.cfg.Listen == "" {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", f.cfg.Listen)
	if err != nil {
		return fmt.Errorf("edl: listen: %w", err)
	}
	f.server = &http.Server{Handler: f.mux, ReadHeaderTimeout: 10 * time.Second}
	f.addr = ln.Addr().String()
	f.done = make(chan error, 1)
	f.deps.Logger.Info("blocklist feed listening", "addr", ln.Addr().String(), "path", f.cfg.Path, "tls", f.cfg.TLSCert != "")
	go func() {
		var err error
		if f.cfg.TLSCert != "" {
			err = f.server.ServeTLS(ln, f.cfg.TLSCert, f.cfg.TLSKey)
		} else {
			err = f.server.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		f.done <- err
	}()
	return nil
}

// Addr is the address Start listens on, empty when mounted only.
func (f *Feed) Addr() string { return f.addr }

// Stop closes the listener, if any, letting running requests finish
// within ctx.
func (f *Feed) Stop(ctx context.Context) error {
	if f.server == nil {
		return nil
	}
	srv := f.server
	f.server = nil
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("edl: shutdown: %w", err)
	}
	return <-f.done
}

// Apply implements enforce.Backend. The new lists replace the served ones
// in one step: a firewall fetching during Apply gets either the old list or
// the new one. With a state file, the file is written first; if that
// fails nothing changes.
func (f *Feed) Apply(ctx context.Context, add, remove []enforce.Entry) error {
	for _, e := range add {
		if err := checkEntry(e); err != nil {
			return fmt.Errorf("edl %s: %w", f.cfg.Name, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.cur.Load()
	next := make(map[string]enforce.Entry, len(old.byID)+len(add))
	for id, e := range old.byID {
		next[id] = e
	}
	for _, e := range remove {
		delete(next, e.ID)
	}
	for _, e := range add {
		e.Expires = e.Expires.UTC()
		next[e.ID] = e
	}
	s := f.build(next, f.deps.Now())
	if f.cfg.StateFile != "" {
		if err := atomicfile.Write(f.cfg.StateFile, s.bodies[FilePANOS], 0o600); err != nil {
			return fmt.Errorf("edl %s: state file: %w", f.cfg.Name, err)
		}
	}
	f.cur.Store(s)
	return nil
}

// Actual implements enforce.Backend: it reads Vigil's entries back from the
// PAN-OS list being served (the one whose comments carry the IDs), so that
// it reports the bytes firewalls get, not a separate record.
func (f *Feed) Actual(ctx context.Context) ([]enforce.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := f.current()
	lines, err := ParseList(bytes.NewReader(s.bodies[FilePANOS]))
	if err != nil {
		return nil, fmt.Errorf("edl %s: served list unreadable: %w", f.cfg.Name, err)
	}
	es, err := Entries(lines)
	if err != nil {
		return nil, fmt.Errorf("edl %s: served list unreadable: %w", f.cfg.Name, err)
	}
	return es, nil
}

// LastPolled returns every client that fetched a file, with when it last
// did, sorted by client and file. A firewall missing here, or with an old
// Last, no longer enforces the list.
func (f *Feed) LastPolled() []Poll {
	f.pollMu.Lock()
	out := make([]Poll, 0, len(f.polls))
	for _, p := range f.polls {
		out = append(out, *p)
	}
	f.pollMu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Client != out[j].Client {
			return out[i].Client < out[j].Client
		}
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].User < out[j].User
	})
	return out
}

// AuthFailures is the number of requests refused for bad or missing
// credentials.
func (f *Feed) AuthFailures() uint64 { return f.authFailures.Load() }

// current returns the snapshot to serve, first dropping entries whose
// expiry has passed: a block must end on time even if the reconciler that
// would remove it is stuck.
func (f *Feed) current() *snapshot {
	s := f.cur.Load()
	now := f.deps.Now()
	if s.nextExpiry.IsZero() || now.Before(s.nextExpiry) {
		return s
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s = f.cur.Load()
	if s.nextExpiry.IsZero() || now.Before(s.nextExpiry) {
		return s
	}
	next := make(map[string]enforce.Entry, len(s.byID))
	for id, e := range s.byID {
		if e.Expires.IsZero() || now.Before(e.Expires) {
			next[id] = e
		}
	}
	s = f.build(next, now)
	f.cur.Store(s)
	return s
}

func (f *Feed) build(byID map[string]enforce.Entry, modified time.Time) *snapshot {
	s := &snapshot{byID: byID, modified: modified, etags: map[string]string{}}
	s.sorted = make([]enforce.Entry, 0, len(byID))
	for _, e := range byID {
		s.sorted = append(s.sorted, e)
		if !e.Expires.IsZero() && (s.nextExpiry.IsZero() || e.Expires.Before(s.nextExpiry)) {
			s.nextExpiry = e.Expires
		}
	}
	sortEntries(s.sorted)
	s.bodies = render(s.sorted, f.cfg.ObjectName)
	for name, b := range s.bodies {
		sum := sha256.Sum256(b)
		s.etags[name] = `"` + hex.EncodeToString(sum[:12]) + `"`
	}
	return s
}

// load reads the state file written by Apply; a missing file is an empty
// list, an unreadable one an error (serving nothing would unblock all).
func (f *Feed) load() error {
	data, err := os.ReadFile(f.cfg.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("edl %s: state file: %w", f.cfg.Name, err)
	}
	lines, err := ParseList(bytes.NewReader(data))
	if err == nil {
		var es []enforce.Entry
		es, err = Entries(lines)
		if err == nil {
			f.mu.Lock()
			byID := make(map[string]enforce.Entry, len(es))
			for _, e := range es {
				byID[e.ID] = e
			}
			f.cur.Store(f.build(byID, f.deps.Now()))
			f.mu.Unlock()
			f.deps.Logger.Info("blocklist feed restored", "entries", len(es), "file", f.cfg.StateFile)
			return nil
		}
	}
	return fmt.Errorf("edl %s: state file %s: %w", f.cfg.Name, f.cfg.StateFile, err)
}

func (f *Feed) serveFile(name string) http.HandlerFunc {
	contentType := "text/plain; charset=utf-8"
	if strings.HasSuffix(name, ".json") {
		contentType = "application/json"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		user, ok := f.authenticate(r)
		if !ok {
			f.authFailures.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="vigil-edl", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		s := f.current()
		f.record(r, user, name)
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("ETag", s.etags[name])
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "", s.modified, bytes.NewReader(s.bodies[name]))
	}
}

// authenticate checks the credentials in constant time (comparing hashes,
// so the length of a secret does not show either).
func (f *Feed) authenticate(r *http.Request) (string, bool) {
	if f.cfg.AllowAnonymous {
		return "", true
	}
	if f.cfg.BearerToken != "" {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && equal(tok, f.cfg.BearerToken) {
			return "bearer", true
		}
	}
	if f.cfg.Username != "" {
		if u, p, ok := r.BasicAuth(); ok {
			userOK := equal(u, f.cfg.Username)
			passOK := equal(p, f.cfg.Password)
			if userOK && passOK {
				return u, true
			}
		}
	}
	return "", false
}

func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

func (f *Feed) record(r *http.Request, user, file string) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	k := pollKey{client: host, user: user, file: file}
	now := f.deps.Now().UTC()
	f.pollMu.Lock()
	defer f.pollMu.Unlock()
	p := f.polls[k]
	if p == nil {
		p = &Poll{Client: host, User: user, File: file}
		f.polls[k] = p
	}
	p.Last = now
	p.Requests++
	p.UserAgent = r.UserAgent()
}
