// Package fortigate blocks addresses on Fortinet FortiGate firewalls
// through the FortiOS REST API v2: each block is an address object named
// with Vigil's prefix and the block's ID, and a member of one configured
// address group that a deny policy uses. Changes to address objects and
// groups take effect without a commit.
//
// Vigil only creates, changes and deletes objects whose name starts with
// its prefix, and only changes its own members of the group: members put
// there by an administrator stay.
package fortigate

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
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

// Configuration of one FortiGate (one VDOM).
type Configuration struct {
	// Name identifies the enforcement point ("fortigate").
	Name string `yaml:"name"`
	// URL is the management address, https://fortigate.example.
	URL string `yaml:"url"`
	// Token is the REST API administrator's token (Authorization: Bearer).
	Token string `yaml:"token"`
	// VDOM is the virtual domain of the objects.
	VDOM string `yaml:"vdom"`
	// Group is the address group Vigil's objects are members of; it must
	// exist and be used by a deny policy.
	Group string `yaml:"group"`
	// Group6 is the IPv6 address group (addrgrp6) for IPv6 blocks; empty
	// means IPv6 scopes are not supported.
	Group6 string `yaml:"group6"`
	// Prefix starts the name of every address object Vigil creates.
	Prefix string `yaml:"prefix"`
	// Parallel is how many requests are in flight at once.
	Parallel int `yaml:"parallel"`
	// Timeout bounds one API request.
	Timeout time.Duration `yaml:"timeout"`
	// CAFile verifies the FortiGate's certificate; InsecureSkipVerify
	// turns verification off (labs only).
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// DefaultConfiguration uses VDOM root, group VIGIL_BLOCK and objects named
// vigil-<ID>, four requests at a time.
func DefaultConfiguration() Configuration {
	return Configuration{
		Name:     "fortigate",
		VDOM:     "root",
		Group:    "VIGIL_BLOCK",
		Prefix:   "vigil-",
		Parallel: 4,
		Timeout:  30 * time.Second,
	}
}

// maxName is the longest FortiOS address object name.
const maxName = 79

var validName = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

// Validate reports every problem, naming fields within the section.
func (c Configuration) Validate() []error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name: must not be empty"))
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: %q is not an http(s) URL of the FortiGate", c.URL))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("token: the REST API administrator's token is required"))
	}
	if c.VDOM == "" {
		errs = append(errs, errors.New("vdom: must not be empty (root without VDOMs)"))
	}
	if c.Group == "" || len(c.Group) > maxName || strings.ContainsAny(c.Group, "/?#%\"") {
		errs = append(errs, fmt.Errorf("group: %q must be a FortiOS object name (1-79 characters, no / ? # %% \")", c.Group))
	}
	if c.Group6 != "" && (len(c.Group6) > maxName || strings.ContainsAny(c.Group6, "/?#%\"")) {
		errs = append(errs, fmt.Errorf("group6: %q must be a FortiOS object name (1-79 characters, no / ? # %% \")", c.Group6))
	}
	if c.Prefix == "" || len(c.Prefix) > 32 || !validName.MatchString(c.Prefix) {
		errs = append(errs, fmt.Errorf("prefix: %q must be 1-32 of A-Z a-z 0-9 . _ : -", c.Prefix))
	}
	if c.Parallel < 1 || c.Parallel > 64 {
		errs = append(errs, fmt.Errorf("parallel: must be 1-64, got %d", c.Parallel))
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
}

// Client is a FortiGate enforcement point.
type Client struct {
	cfg  Configuration
	deps Dependencies
	http *http.Client
	base string
}

var _ enforce.Backend = (*Client)(nil)

// New returns a client; it does not contact the FortiGate.
func New(cfg Configuration, deps Dependencies) (*Client, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("fortigate: %w", errors.Join(errs...))
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	hc := deps.HTTPClient
	if hc == nil {
		tlsCfg := &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify}
		if cfg.CAFile != "" {
			pool, err := tlsfile.CertPool(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("fortigate: ca_file: %w", err)
			}
			tlsCfg.RootCAs = pool
		}
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: cfg.Parallel}}
	}
	return &Client{cfg: cfg, deps: deps, http: hc, base: strings.TrimSuffix(cfg.URL, "/") + "/api/v2/cmdb/firewall/"}, nil
}

// Name implements enforce.Backend.
func (c *Client) Name() string { return c.cfg.Name }

// Supports implements enforce.Backend: an address object holds one
// address or subnet (canonical form): IPv4 always, IPv6 when group6 is
// configured.
func (c *Client) Supports(s events.BlockScope) bool {
	p, err := prefixOf(s)
	return err == nil && (p.Addr().Is4() || c.cfg.Group6 != "")
}

func prefixOf(s events.BlockScope) (netip.Prefix, error) {
	if s.PeerIP != "" || s.Port != 0 || s.Transport != "" || s.MAC != "" {
		return netip.Prefix{}, fmt.Errorf("FortiGate address objects hold addresses, not scope %+v", s)
	}
	if strings.Contains(s.IP, "/") {
		p, err := netip.ParsePrefix(s.IP)
		if err != nil || p.Masked() != p || p.String() != s.IP || p.Addr().Is4In6() {
			return netip.Prefix{}, fmt.Errorf("%q is not a canonical CIDR", s.IP)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s.IP)
	if err != nil || a.Zone() != "" || a.String() != s.IP || a.Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q is not a canonical IP address", s.IP)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// family is where objects of one address family live: firewall/address
// and addrgrp for IPv4, address6 and addrgrp6 for IPv6.
type family struct {
	v6                  bool
	addrPath, groupPath string
	group               string
	// what names the group in errors.
	what string
}

func (c *Client) families() []family {
	fs := []family{{addrPath: "address", groupPath: "addrgrp", group: c.cfg.Group, what: "address group"}}
	if c.cfg.Group6 != "" {
		fs = append(fs, family{v6: true, addrPath: "address6", groupPath: "addrgrp6", group: c.cfg.Group6, what: "IPv6 address group (addrgrp6)"})
	}
	return fs
}

// object is the address object of an entry and whether it is IPv6.
func (c *Client) object(e enforce.Entry) (Address, bool, error) {
	p, err := prefixOf(e.Scope)
	if err != nil {
		return Address{}, false, fmt.Errorf("entry %s: %w", e.ID, err)
	}
	if p.Addr().Is6() && c.cfg.Group6 == "" {
		return Address{}, false, fmt.Errorf("entry %s: IPv6 scope %s needs group6 (an addrgrp6) configured", e.ID, e.Scope.IP)
	}
	name := c.cfg.Prefix + e.ID
	if e.ID == "" || len(name) > maxName || !validName.MatchString(e.ID) {
		return Address{}, false, fmt.Errorf("entry ID %q: the object name %q must be at most %d of A-Z a-z 0-9 . _ : -", e.ID, name, maxName)
	}
	if p.Addr().Is6() {
		return Address{Name: name, Type: "ipprefix", IP6: p.String(), Comment: comment(e)}, true, nil
	}
	return Address{Name: name, Type: "ipmask", Subnet: subnetOf(p), Comment: comment(e)}, false, nil
}

// comment records what FortiOS has no field for: the block's expiry and
// reason, read back by Actual. FortiOS comments hold 255 characters.
func comment(e enforce.Entry) string {
	var b strings.Builder
	b.WriteString("vigil")
	if !e.Expires.IsZero() {
		b.WriteString(" expires=" + e.Expires.UTC().Format(time.RFC3339Nano))
	}
	if e.Reason != "" {
		r := strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, e.Reason)
		b.WriteString(" reason=" + r)
	}
	s := b.String()
	for len(s) > 255 {
		_, size := lastRune(s)
		s = s[:len(s)-size]
	}
	return s
}

func lastRune(s string) (rune, int) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i]&0xc0 != 0x80 {
			return rune(s[i]), len(s) - i
		}
	}
	return 0, 1
}

// parseComment reads expiry and reason back from a comment Vigil wrote.
func parseComment(s string) (time.Time, string) {
	rest, ok := strings.CutPrefix(s, "vigil")
	if !ok {
		return time.Time{}, ""
	}
	var exp time.Time
	rest = strings.TrimPrefix(rest, " ")
	if v, ok := strings.CutPrefix(rest, "expires="); ok {
		field, after, _ := strings.Cut(v, " ")
		if t, err := time.Parse(time.RFC3339Nano, field); err == nil {
			exp = t.UTC()
		}
		rest = after
	}
	reason, _ := strings.CutPrefix(rest, "reason=")
	return exp, reason
}

// Actual implements enforce.Backend: the groups' members that are Vigil's
// objects, with the address each holds. An object of Vigil's whose type or
// address was changed by hand to something Vigil did not write is left out
// (it no longer blocks what Vigil asked for), so the reconciler adds the
// entry again and Apply overwrites the object.
func (c *Client) Actual(ctx context.Context) ([]enforce.Entry, error) {
	var out []enforce.Entry
	for _, f := range c.families() {
		g, err := c.group(ctx, f)
		if err != nil {
			return nil, err
		}
		q := url.Values{"filter": {"name=@" + c.cfg.Prefix}}
		resp, err := c.do(ctx, http.MethodGet, f.addrPath, q, nil)
		if err != nil {
			return nil, fmt.Errorf("fortigate %s: list %s objects: %w", c.cfg.Name, f.addrPath, err)
		}
		addrs, err := resp.Addresses()
		if err != nil {
			return nil, fmt.Errorf("fortigate %s: list %s objects: %w", c.cfg.Name, f.addrPath, err)
		}
		byName := make(map[string]Address, len(addrs))
		for _, a := range addrs {
			byName[a.Name] = a
		}
		for _, m := range g.Member {
			id, ok := strings.CutPrefix(m.Name, c.cfg.Prefix)
			if !ok {
				continue
			}
			a, ok := byName[m.Name]
			if !ok {
				c.deps.Logger.Warn("group member is not a listed address object", "backend", c.cfg.Name, "member", m.Name)
				continue
			}
			ip, err := scopeOfObject(a, f.v6)
			if err != nil {
				c.deps.Logger.Warn("address object changed outside Vigil", "backend", c.cfg.Name, "object", a.Name, "err", err)
				continue
			}
			exp, reason := parseComment(a.Comment)
			out = append(out, enforce.Entry{ID: id, Scope: events.BlockScope{IP: ip}, Expires: exp, Reason: reason})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// scopeOfObject reads the address an object Vigil wrote holds.
func scopeOfObject(a Address, v6 bool) (string, error) {
	if !v6 {
		if a.Type != "" && a.Type != "ipmask" {
			return "", fmt.Errorf("type %q is not ipmask", a.Type)
		}
		return ParseSubnet(a.Subnet)
	}
	if a.Type != "" && a.Type != "ipprefix" {
		return "", fmt.Errorf("type %q is not ipprefix", a.Type)
	}
	return ParseIP6(a.IP6)
}

func (c *Client) group(ctx context.Context, f family) (Group, error) {
	resp, err := c.do(ctx, http.MethodGet, f.groupPath+"/"+url.PathEscape(f.group), nil, nil)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.HTTPStatus == http.StatusNotFound {
		return Group{}, fmt.Errorf("fortigate %s: %s %q does not exist in vdom %s: create it and use it in a deny policy: %w", c.cfg.Name, f.what, f.group, c.cfg.VDOM, err)
	}
	if err != nil {
		return Group{}, fmt.Errorf("fortigate %s: read %s %q: %w", c.cfg.Name, f.what, f.group, err)
	}
	g, err := resp.Group()
	if err != nil {
		return Group{}, fmt.Errorf("fortigate %s: read %s %q: %w", c.cfg.Name, f.what, f.group, err)
	}
	return g, nil
}

// Apply implements enforce.Backend: for each address family it creates
// (or overwrites) the objects of add, sets the group's members to its
// current members plus add minus remove in one PUT, then deletes the
// objects of remove. An object that exists already is overwritten, one
// that is gone is not an error.
func (c *Client) Apply(ctx context.Context, add, remove []enforce.Entry) error {
	objs := map[bool][]Address{}
	adding := map[bool]map[string]bool{false: {}, true: {}}
	for _, e := range add {
		o, v6, err := c.object(e)
		if err != nil {
			return fmt.Errorf("fortigate %s: %w", c.cfg.Name, err)
		}
		objs[v6] = append(objs[v6], o)
		adding[v6][o.Name] = true
	}
	gone := map[bool][]string{}
	for _, e := range remove {
		o, v6, err := c.object(e)
		if err != nil {
			return fmt.Errorf("fortigate %s: %w", c.cfg.Name, err)
		}
		// An entry both removed and added in the same family (its
		// scope changed) keeps its object: writing it replaces the
		// address.
		if !adding[v6][o.Name] {
			gone[v6] = append(gone[v6], o.Name)
		}
	}
	// Additions of both families first, removals after: an entry moved
	// from one family to the other is never missing in between.
	for _, f := range c.families() {
		if err := c.applyFamily(ctx, f, objs[f.v6], nil); err != nil {
			return err
		}
	}
	for _, f := range c.families() {
		if err := c.applyFamily(ctx, f, nil, gone[f.v6]); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) applyFamily(ctx context.Context, f family, objs []Address, gone []string) error {
	if len(objs) == 0 && len(gone) == 0 {
		return nil
	}
	err := c.parallel(ctx, len(objs), func(ctx context.Context, i int) error {
		return c.put(ctx, f, objs[i])
	})
	if err != nil {
		return err
	}
	g, err := c.group(ctx, f)
	if err != nil {
		return err
	}
	members := make([]Member, 0, len(g.Member)+len(objs))
	have := make(map[string]bool, len(g.Member))
	drop := make(map[string]bool, len(gone))
	for _, n := range gone {
		drop[n] = true
	}
	changed := false
	for _, m := range g.Member {
		if drop[m.Name] {
			changed = true
			continue
		}
		have[m.Name] = true
		members = append(members, Member{Name: m.Name})
	}
	for _, o := range objs {
		if !have[o.Name] {
			have[o.Name] = true
			members = append(members, Member{Name: o.Name})
			changed = true
		}
	}
	if changed {
		body, _ := json.Marshal(Group{Name: f.group, Member: members})
		if _, err := c.do(ctx, http.MethodPut, f.groupPath+"/"+url.PathEscape(f.group), nil, body); err != nil {
			return fmt.Errorf("fortigate %s: set members of %s %q (%d members): %w", c.cfg.Name, f.what, f.group, len(members), err)
		}
	}
	return c.parallel(ctx, len(gone), func(ctx context.Context, i int) error {
		_, err := c.do(ctx, http.MethodDelete, f.addrPath+"/"+url.PathEscape(gone[i]), nil, nil)
		var apiErr *APIError
		if errors.As(err, &apiErr) && (apiErr.HTTPStatus == http.StatusNotFound || apiErr.Code == -3) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("fortigate %s: delete %s object %s: %w", c.cfg.Name, f.addrPath, gone[i], err)
		}
		return nil
	})
}

// put creates an address object, or overwrites it when it exists.
func (c *Client) put(ctx context.Context, f family, o Address) error {
	body, _ := json.Marshal(o)
	_, err := c.do(ctx, http.MethodPost, f.addrPath, nil, body)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Code == -5 {
		_, err = c.do(ctx, http.MethodPut, f.addrPath+"/"+url.PathEscape(o.Name), nil, body)
	}
	if err != nil {
		return fmt.Errorf("fortigate %s: write %s object %s (%s%s): %w", c.cfg.Name, f.addrPath, o.Name, o.Subnet, o.IP6, err)
	}
	return nil
}

// parallel runs f for 0..n-1 with at most Parallel at once; the first
// error cancels the rest and is returned.
func (c *Client) parallel(ctx context.Context, n int, f func(context.Context, int) error) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	next := make(chan int)
	for range min(c.cfg.Parallel, n) {
		wg.Go(func() {
			for i := range next {
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// APIError is an error the FortiGate answered with.
type APIError struct {
	Method     string
	Path       string
	HTTPStatus int
	// Code is the FortiOS error code (negative), 0 when none was given.
	Code int
	Text string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "FortiOS %s %s: HTTP %d", e.Method, e.Path, e.HTTPStatus)
	switch e.HTTPStatus {
	case http.StatusUnauthorized:
		b.WriteString(" (the API token was refused)")
	case http.StatusForbidden:
		b.WriteString(" (the API administrator's profile or trusted hosts do not allow this)")
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, ", error %d", e.Code)
		if t, ok := errorTexts[e.Code]; ok {
			b.WriteString(" (" + t + ")")
		}
	}
	if e.Text != "" {
		b.WriteString(": " + e.Text)
	}
	return b.String()
}

const maxBody = 64 << 20

// do sends one request and decodes the envelope; an error status becomes
// an *APIError naming the FortiOS code.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if q == nil {
		q = url.Values{}
	}
	q.Set("vdom", c.cfg.VDOM)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path+"?"+q.Encode(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("FortiGate unreachable: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	where := "/api/v2/cmdb/firewall/" + path
	resp, perr := ParseResponse(b)
	if perr != nil {
		if res.StatusCode != http.StatusOK {
			text := ""
			if len(bytes.TrimSpace(b)) > 0 {
				text = snippet(b)
			}
			return nil, &APIError{Method: method, Path: where, HTTPStatus: res.StatusCode, Text: text}
		}
		return nil, fmt.Errorf("FortiOS %s %s: %w", method, where, perr)
	}
	if resp.Status != "success" || res.StatusCode != http.StatusOK {
		e := &APIError{Method: method, Path: where, HTTPStatus: res.StatusCode, Text: resp.CLIError}
		if resp.HTTPStatus != 0 {
			e.HTTPStatus = resp.HTTPStatus
		}
		if resp.Error != nil {
			e.Code = *resp.Error
		}
		return resp, e
	}
	return resp, nil
}
