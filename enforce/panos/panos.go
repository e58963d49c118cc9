// Package panos blocks addresses on Palo Alto Networks firewalls through
// the PAN-OS XML API, by registering IP tags with the User-ID API
// (type=user-id). A dynamic address group whose match expression is the
// block tag, used in a deny rule, then holds every blocked address; no
// configuration commit is needed, so a block takes effect in seconds.
//
// Each block registers two tags on its address: the block tag the group
// matches ("vigil-block") and an ID tag ("vigil-id-<entry ID>") that lets
// Actual say which block put the address there, and lets two blocks of one
// address end independently. Vigil only reads and touches tags that start
// with its prefix.
package panos

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/tlsfile"
)

// MaxTimeout is the longest tag timeout PAN-OS accepts, 30 days in seconds.
const MaxTimeout = 2_592_000

// Configuration of one firewall (or Panorama).
type Configuration struct {
	// Name identifies the enforcement point ("panos").
	Name string `yaml:"name"`
	// URL is the management address, https://firewall.example.
	URL string `yaml:"url"`
	// APIKey authenticates requests (X-PAN-KEY). Without it, Username and
	// Password get a key from type=keygen on first use, and again when the
	// firewall refuses the key.
	APIKey   string `yaml:"api_key"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Vsys is the virtual system the tags live in.
	Vsys string `yaml:"vsys"`
	// TagPrefix starts every tag Vigil registers; tags without it are
	// never read or changed.
	TagPrefix string `yaml:"tag_prefix"`
	// BlockTag is the tag the dynamic address group matches. It must
	// start with TagPrefix.
	BlockTag string `yaml:"block_tag"`
	// BatchSize is how many addresses one uid-message carries.
	BatchSize int `yaml:"batch_size"`
	// Timeout bounds one API request.
	Timeout time.Duration `yaml:"timeout"`
	// CAFile is a PEM bundle to verify the firewall's certificate
	// (firewalls usually have a private CA); InsecureSkipVerify turns
	// verification off and is for labs only.
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// DefaultConfiguration registers tags "vigil-block" and "vigil-id-..." in
// vsys1, 500 addresses a request (the page size PAN-OS uses itself).
func DefaultConfiguration() Configuration {
	return Configuration{
		Name:      "panos",
		Vsys:      "vsys1",
		TagPrefix: "vigil-",
		BlockTag:  "vigil-block",
		BatchSize: 500,
		Timeout:   30 * time.Second,
	}
}

// validTag is what Vigil puts in a tag: PAN-OS tags are up to 127
// characters; Vigil keeps to characters that need no escaping anywhere.
var validTag = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,127}$`)

// Validate reports every problem, naming fields within the section.
func (c Configuration) Validate() []error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name: must not be empty"))
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: %q is not an http(s) URL of the firewall", c.URL))
	}
	if c.APIKey == "" && (c.Username == "" || c.Password == "") {
		errs = append(errs, errors.New("api_key: set it, or username and password to generate one"))
	}
	if c.Vsys == "" {
		errs = append(errs, errors.New("vsys: must not be empty (vsys1 on a single-vsys firewall)"))
	}
	if !validTag.MatchString(c.TagPrefix) {
		errs = append(errs, fmt.Errorf("tag_prefix: %q must be 1-127 of A-Z a-z 0-9 . _ : -", c.TagPrefix))
	}
	if !validTag.MatchString(c.BlockTag) || !strings.HasPrefix(c.BlockTag, c.TagPrefix) {
		errs = append(errs, fmt.Errorf("block_tag: %q must start with tag_prefix %q and use A-Z a-z 0-9 . _ : -", c.BlockTag, c.TagPrefix))
	} else if strings.HasPrefix(c.BlockTag, c.TagPrefix+"id-") {
		errs = append(errs, fmt.Errorf("block_tag: %q must not start with %q, which names ID tags", c.BlockTag, c.TagPrefix+"id-"))
	}
	if c.BatchSize < 1 || c.BatchSize > 10_000 {
		errs = append(errs, fmt.Errorf("batch_size: must be 1-10000, got %d", c.BatchSize))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %s", c.Timeout))
	}
	return errs
}

// Dependencies of the client.
type Dependencies struct {
	Logger *slog.Logger
	// HTTPClient overrides the client built from the configuration (tests).
	HTTPClient *http.Client
	// Now is the wall clock tag timeouts are computed from.
	Now func() time.Time
}

// Client is a PAN-OS enforcement point.
type Client struct {
	cfg      Configuration
	deps     Dependencies
	http     *http.Client
	endpoint string
	idPrefix string

	keyMu sync.Mutex
	key   string
}

var _ enforce.Backend = (*Client)(nil)

// New returns a client; it does not contact the firewall.
func New(cfg Configuration, deps Dependencies) (*Client, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("panos: %w", errors.Join(errs...))
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	hc := deps.HTTPClient
	if hc == nil {
		tlsCfg := &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify}
		if cfg.CAFile != "" {
			pool, err := tlsfile.CertPool(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("panos: ca_file: %w", err)
			}
			tlsCfg.RootCAs = pool
		}
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}}
	}
	return &Client{
		cfg:      cfg,
		deps:     deps,
		http:     hc,
		endpoint: strings.TrimSuffix(cfg.URL, "/") + "/api/",
		idPrefix: cfg.TagPrefix + "id-",
		key:      cfg.APIKey,
	}, nil
}

// Name implements enforce.Backend.
func (c *Client) Name() string { return c.cfg.Name }

// Supports implements enforce.Backend: tags are registered on single
// addresses, so only scopes of one IP address (canonical form).
func (c *Client) Supports(s events.BlockScope) bool {
	if s.PeerIP != "" || s.Port != 0 || s.Transport != "" || s.MAC != "" {
		return false
	}
	a, err := netip.ParseAddr(s.IP)
	return err == nil && a.Zone() == "" && a.String() == s.IP
}

func (c *Client) check(e enforce.Entry) error {
	if !c.Supports(e.Scope) {
		return fmt.Errorf("entry %s: PAN-OS tags block single addresses, not scope %+v", e.ID, e.Scope)
	}
	if e.ID != "" && !validTag.MatchString(c.idPrefix+e.ID) {
		return fmt.Errorf("entry ID %q: the tag %q must be at most 127 of A-Z a-z 0-9 . _ : -", e.ID, c.idPrefix+e.ID)
	}
	return nil
}

// UntrackedPrefix starts the ID Actual gives an address that carries the
// block tag but no ID tag (its ID tag was removed by hand, or an
// administrator registered the block tag): "untracked:10.20.0.5". The
// reconciler does not know the ID, so it removes the block; removing it
// unregisters the block tag once no ID tag holds the address.
const UntrackedPrefix = "untracked:"

// Actual implements enforce.Backend: the addresses registered with the
// block tag, one entry per ID tag on each, and one untracked entry for an
// address with the block tag and no ID tag (see UntrackedPrefix). Reason is
// not kept by the firewall; Expires neither (the firewall keeps a timeout
// but the registered-ip listing does not show it on every version).
func (c *Client) Actual(ctx context.Context) ([]enforce.Entry, error) {
	regs, err := c.registered(ctx)
	if err != nil {
		return nil, err
	}
	var out []enforce.Entry
	for _, r := range regs {
		n := 0
		for _, t := range r.tags {
			if id, ok := strings.CutPrefix(t, c.idPrefix); ok {
				out = append(out, enforce.Entry{ID: id, Scope: events.BlockScope{IP: r.ip}})
				n++
			}
		}
		if n == 0 {
			out = append(out, enforce.Entry{ID: UntrackedPrefix + r.ip, Scope: events.BlockScope{IP: r.ip}})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Scope.IP != out[j].Scope.IP {
			return out[i].Scope.IP < out[j].Scope.IP
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

type registration struct {
	ip   string
	tags []string // Vigil's tags only
}

// registered reads every address carrying the block tag, page by page.
func (c *Client) registered(ctx context.Context) ([]registration, error) {
	const limit = 500
	var out []registration
	prevFirst := ""
	for start := 1; ; {
		resp, err := c.call(ctx, url.Values{"type": {"op"}, "cmd": {showRegistered(c.cfg.BlockTag, start, limit)}, "vsys": {c.cfg.Vsys}})
		if err != nil {
			return nil, fmt.Errorf("panos %s: show registered-ip: %w", c.cfg.Name, err)
		}
		if n := resp.Result.Entries; len(n) > 0 {
			// A firewall that ignores start-point would page forever.
			if start > 1 && n[0].IP == prevFirst {
				return nil, fmt.Errorf("panos %s: show registered-ip: page at %d repeats the previous one (start-point not supported: PAN-OS 8.0 or later is needed)", c.cfg.Name, start)
			}
			prevFirst = n[0].IP
		}
		for _, e := range resp.Result.Entries {
			r := registration{ip: e.IP}
			block := false
			for _, t := range e.Tags {
				name := strings.TrimSpace(t.Name)
				if name == c.cfg.BlockTag {
					block = true
				}
				if strings.HasPrefix(name, c.cfg.TagPrefix) {
					r.tags = append(r.tags, name)
				}
			}
			// The firewall filters by tag; checking again costs nothing
			// and keeps a firewall that ignores the filter from making
			// Vigil report addresses it did not block.
			if block {
				out = append(out, r)
			}
		}
		if len(resp.Result.Entries) < limit {
			return out, nil
		}
		start += len(resp.Result.Entries)
	}
}

// Apply implements enforce.Backend. Additions register the block tag and
// the entry's ID tag with a timeout of the time left to Expires (at most
// 30 days; the reconciler registers again before that runs out). Removals
// unregister the ID tag, then the block tag from every address no other
// ID tag holds. Entries already expired are not registered.
func (c *Client) Apply(ctx context.Context, add, remove []enforce.Entry) error {
	for _, e := range add {
		if err := c.check(e); err != nil {
			return fmt.Errorf("panos %s: %w", c.cfg.Name, err)
		}
		if e.ID == "" {
			return fmt.Errorf("panos %s: entry for %s has no ID", c.cfg.Name, e.Scope.IP)
		}
	}
	for _, e := range remove {
		if err := c.check(e); err != nil {
			return fmt.Errorf("panos %s: %w", c.cfg.Name, err)
		}
	}
	now := c.deps.Now()
	var reg []uidOp
	for _, e := range add {
		timeout := 0
		if !e.Expires.IsZero() {
			left := e.Expires.Sub(now)
			if left <= 0 {
				continue
			}
			timeout = int((left + time.Second - 1) / time.Second)
			timeout = min(timeout, MaxTimeout)
		}
		reg = append(reg, uidOp{ip: e.Scope.IP, tags: []string{c.cfg.BlockTag, c.idPrefix + e.ID}, timeout: timeout})
	}
	if err := c.send(ctx, "register", reg); err != nil {
		return err
	}
	if len(remove) == 0 {
		return nil
	}
	var unreg []uidOp
	for _, e := range remove {
		if e.ID != "" {
			unreg = append(unreg, uidOp{ip: e.Scope.IP, tags: []string{c.idPrefix + e.ID}, timeout: -1})
		}
	}
	if err := c.send(ctx, "unregister", unreg); err != nil {
		return err
	}
	// The block tag goes only where no block holds the address any more.
	regs, err := c.registered(ctx)
	if err != nil {
		return err
	}
	held := make(map[string]bool, len(regs))
	present := make(map[string]bool, len(regs))
	for _, r := range regs {
		present[r.ip] = true
		for _, t := range r.tags {
			if strings.HasPrefix(t, c.idPrefix) {
				held[r.ip] = true
			}
		}
	}
	var unblock []uidOp
	done := map[string]bool{}
	for _, e := range remove {
		ip := e.Scope.IP
		if present[ip] && !held[ip] && !done[ip] {
			done[ip] = true
			unblock = append(unblock, uidOp{ip: ip, tags: []string{c.cfg.BlockTag}, timeout: -1})
		}
	}
	return c.send(ctx, "unregister", unblock)
}

// send posts uid-messages of at most BatchSize addresses each.
func (c *Client) send(ctx context.Context, what string, ops []uidOp) error {
	for len(ops) > 0 {
		n := min(len(ops), c.cfg.BatchSize)
		batch := ops[:n]
		ops = ops[n:]
		var m uidMessage
		if what == "register" {
			m.register = batch
		} else {
			m.unregister = batch
		}
		resp, err := c.call(ctx, url.Values{"type": {"user-id"}, "cmd": {m.String()}, "vsys": {c.cfg.Vsys}})
		if err == nil {
			continue
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) && resp != nil && onlyIgnorable(resp) {
			continue
		}
		return fmt.Errorf("panos %s: %s %d addresses: %w", c.cfg.Name, what, len(batch), err)
	}
	return nil
}

// onlyIgnorable says whether an error response only reports entries that
// were already as wanted.
func onlyIgnorable(r *Response) bool {
	entries := r.UIDEntries()
	if len(entries) == 0 {
		return false
	}
	for _, e := range entries {
		if !isIgnorable(e.Message) {
			return false
		}
	}
	return true
}

// APIError is an error the firewall answered with.
type APIError struct {
	HTTPStatus int
	Code       string
	Messages   []string
}

func (e *APIError) Error() string {
	msg := strings.Join(e.Messages, "; ")
	if len(msg) > 500 {
		msg = msg[:500] + "..."
	}
	if msg == "" {
		msg = "no message"
	}
	if e.Code != "" {
		return fmt.Sprintf("PAN-OS error (HTTP %d, code %s): %s", e.HTTPStatus, e.Code, msg)
	}
	return fmt.Sprintf("PAN-OS error (HTTP %d): %s", e.HTTPStatus, msg)
}

// Unauthorized says whether the firewall refused the credentials.
func (e *APIError) Unauthorized() bool {
	return e.HTTPStatus == http.StatusForbidden || e.HTTPStatus == http.StatusUnauthorized || e.Code == "403" || e.Code == "16"
}

// call sends one request with the API key, getting a key first if needed
// and once more if the firewall refuses a generated one (keys are revoked
// when the admin's password changes). On an API error it returns the
// parsed response too.
func (c *Client) call(ctx context.Context, form url.Values) (*Response, error) {
	for attempt := 0; ; attempt++ {
		key, generated, err := c.apiKey(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := c.post(ctx, form, key)
		var apiErr *APIError
		if generated && attempt == 0 && errors.As(err, &apiErr) && apiErr.Unauthorized() {
			c.keyMu.Lock()
			if c.key == key {
				c.key = ""
			}
			c.keyMu.Unlock()
			continue
		}
		return resp, err
	}
}

func (c *Client) apiKey(ctx context.Context) (key string, generated bool, err error) {
	if c.cfg.APIKey != "" {
		return c.cfg.APIKey, false, nil
	}
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	if c.key != "" {
		return c.key, true, nil
	}
	resp, err := c.post(ctx, url.Values{"type": {"keygen"}, "user": {c.cfg.Username}, "password": {c.cfg.Password}}, "")
	if err != nil {
		return "", false, fmt.Errorf("keygen for user %q: %w", c.cfg.Username, err)
	}
	if resp.Result.Key == "" {
		return "", false, fmt.Errorf("keygen for user %q: the firewall answered success without a key", c.cfg.Username)
	}
	c.key = strings.TrimSpace(resp.Result.Key)
	return c.key, true, nil
}

// maxBody bounds a response: a registered-ip page of 500 addresses with a
// few tags each is well under a megabyte.
const maxBody = 32 << 20

// post sends a form to /api/ (POST keeps the key and the password out of
// URLs and logs) and decodes the answer.
func (c *Client) post(ctx context.Context, form url.Values, key string) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if key != "" {
		req.Header.Set("X-PAN-KEY", key)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("firewall unreachable: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	resp, perr := ParseResponse(body)
	if perr != nil {
		if res.StatusCode != http.StatusOK {
			return nil, &APIError{HTTPStatus: res.StatusCode, Messages: []string{snippet(body)}}
		}
		return nil, perr
	}
	if resp.Status != "success" || res.StatusCode != http.StatusOK {
		return resp, &APIError{HTTPStatus: res.StatusCode, Code: resp.Code, Messages: resp.Messages()}
	}
	return resp, nil
}
