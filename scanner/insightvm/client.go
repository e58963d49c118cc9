// Package insightvm is a client of the Rapid7 InsightVM (Nexpose) Security
// Console API v3: sites and their excluded targets, assets and their
// vulnerabilities, the vulnerability catalogue, tags. It follows the
// console's published API description (Swagger 2.0, console 6.6.55): HTTP
// Basic authentication, zero-based paging of at most 500, error bodies
// {"status", "message", "links"}. Requests that got 429 or a 5xx are
// retried with backoff, bounded by the context.
package insightvm

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
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigil-health/vigil/internal/tlsfile"
)

// maxPages bounds a paged listing: 500 per page, 5 million resources.
const maxPages = 10_000

// Client talks to one console. It is safe for concurrent use.
type Client struct {
	cfg      Configuration
	base     *url.URL
	http     *http.Client
	user     string
	password string
	logger   *slog.Logger

	requests, retries, failures atomic.Uint64
}

// Stats counts the client's requests.
type Stats struct {
	Requests uint64 `json:"requests"`
	Retries  uint64 `json:"retries"`
	Failures uint64 `json:"failures"`
}

// New returns a client; it sends nothing yet.
func New(cfg Configuration, logger *slog.Logger) (*Client, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("insightvm configuration: %w", errors.Join(errs...))
	}
	if !cfg.Enabled() {
		return nil, errors.New("insightvm: no url configured")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	base, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil {
		return nil, fmt.Errorf("insightvm url: %w", err)
	}
	base.Path = strings.TrimSuffix(base.Path, "/api/3") + "/api/3"
	pw, err := cfg.password()
	if err != nil {
		return nil, err
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pool, err := tlsfile.CertPool(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("insightvm ca_file: %w", err)
		}
		tlsCfg.RootCAs = pool
	}
	if cfg.InsecureSkipVerify {
		tlsCfg.InsecureSkipVerify = true
		logger.Warn("insightvm: TLS certificate verification is off (insecure_skip_verify); set ca_file instead")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	return &Client{
		cfg: cfg, base: base, user: cfg.User, password: pw, logger: logger.With("scanner", "insightvm"),
		http: &http.Client{Transport: tr, Timeout: cfg.Timeout},
	}, nil
}

// Stats returns the request counters.
func (c *Client) Stats() Stats {
	return Stats{Requests: c.requests.Load(), Retries: c.retries.Load(), Failures: c.failures.Load()}
}

// CloseIdleConnections closes the kept-alive connections to the console
// (for a client that is no longer used).
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// BaseURL is the API base (…/api/3).
func (c *Client) BaseURL() string { return c.base.String() }

// do sends one request, retrying 429, 5xx and transport errors, and
// decodes a 2xx body into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("insightvm %s %s: encode body: %w", method, path, err)
		}
	}
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	backoff := c.cfg.RetryBackoff
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, method, u.String(), path, payload, out)
		if err == nil {
			return nil
		}
		var retry *retryable
		if !errors.As(err, &retry) || attempt >= c.cfg.Retries || ctx.Err() != nil {
			c.failures.Add(1)
			if retry != nil {
				return retry.err
			}
			return err
		}
		wait := backoff
		if retry.after > 0 {
			wait = retry.after
		}
		wait = min(wait, 30*time.Second)
		c.retries.Add(1)
		c.logger.Warn("insightvm request failed; retrying", "method", method, "path", path, "attempt", attempt+1, "wait", wait, "err", retry.err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			c.failures.Add(1)
			return fmt.Errorf("%w (gave up: %w)", retry.err, ctx.Err())
		case <-t.C:
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// retryable wraps an error worth another attempt.
type retryable struct {
	err   error
	after time.Duration // Retry-After, when the console sent one
}

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

func (c *Client) once(ctx context.Context, method, full, path string, payload []byte, out any) error {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, full, rd)
	if err != nil {
		return fmt.Errorf("insightvm %s %s: %w", method, path, err)
	}
	req.SetBasicAuth(c.user, c.password)
	if c.cfg.Token != "" {
		req.Header.Set("Token", c.cfg.Token)
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		e := fmt.Errorf("insightvm %s %s: %w", method, path, err)
		if ctx.Err() != nil {
			return e
		}
		return &retryable{err: e}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return &retryable{err: fmt.Errorf("insightvm %s %s: read response: %w", method, path, err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr := &APIError{Method: method, Path: path, StatusCode: resp.StatusCode, Message: errorMessage(data)}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			return &retryable{err: apiErr, after: retryAfter(resp.Header.Get("Retry-After"))}
		}
		return apiErr
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("insightvm %s %s: response is not the documented JSON: %w", method, path, err)
	}
	return nil
}

// errorMessage extracts the message of an error body, or a short excerpt
// of a body that is not the documented shape (a proxy's HTML page).
func errorMessage(data []byte) string {
	var eb errorBody
	if json.Unmarshal(data, &eb) == nil && eb.Message != "" {
		return eb.Message
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "empty response"
	}
	return "unexpected response: " + s
}

func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return time.Until(t)
	}
	return 0
}

// list reads every page of a paged resource.
func list[T any](ctx context.Context, c *Client, method, path string, query url.Values, body any) ([]T, error) {
	if query == nil {
		query = url.Values{}
	}
	var all []T
	for page := 0; page < maxPages; page++ {
		query.Set("page", strconv.Itoa(page))
		query.Set("size", strconv.Itoa(c.cfg.PageSize))
		var p Page[T]
		err := c.do(ctx, method, path, query, body, &p)
		var apiErr *APIError
		if page > 0 && errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
			// "Requests outside the boundaries of the pageable will
			// result in a 404": the set shrank while it was read.
			return all, nil
		}
		if err != nil {
			return all, err
		}
		all = append(all, p.Resources...)
		if !p.next() || len(p.Resources) == 0 {
			return all, nil
		}
	}
	return all, fmt.Errorf("insightvm %s %s: more than %d pages", method, path, maxPages)
}

// Sites lists every site.
func (c *Client) Sites(ctx context.Context) ([]Site, error) {
	return list[Site](ctx, c, http.MethodGet, "/sites", nil, nil)
}

// ExcludedTargets returns a site's excluded addresses.
func (c *Client) ExcludedTargets(ctx context.Context, site int) ([]string, error) {
	var t ScanTargets
	if err := c.do(ctx, http.MethodGet, fmt.Sprintf("/sites/%d/excluded_targets", site), nil, nil, &t); err != nil {
		return nil, err
	}
	return t.Addresses, nil
}

// SetExcludedTargets replaces a site's excluded addresses (PUT).
func (c *Client) SetExcludedTargets(ctx context.Context, site int, addrs []string) error {
	return c.do(ctx, http.MethodPut, fmt.Sprintf("/sites/%d/excluded_targets", site), nil, nonNil(addrs), nil)
}

// AddExcludedTargets adds addresses to a site's exclusions (POST).
func (c *Client) AddExcludedTargets(ctx context.Context, site int, addrs []string) error {
	if len(addrs) == 0 {
		return nil
	}
	return c.do(ctx, http.MethodPost, fmt.Sprintf("/sites/%d/excluded_targets", site), nil, addrs, nil)
}

// RemoveExcludedTargets removes addresses from a site's exclusions
// (DELETE with the addresses in the request body, as the API describes).
func (c *Client) RemoveExcludedTargets(ctx context.Context, site int, addrs []string) error {
	if len(addrs) == 0 {
		return nil
	}
	return c.do(ctx, http.MethodDelete, fmt.Sprintf("/sites/%d/excluded_targets", site), nil, addrs, nil)
}

// Assets lists every asset.
func (c *Client) Assets(ctx context.Context) ([]Asset, error) {
	return list[Asset](ctx, c, http.MethodGet, "/assets", nil, nil)
}

// SearchAssets lists the assets that match the criteria.
func (c *Client) SearchAssets(ctx context.Context, sc SearchCriteria) ([]Asset, error) {
	return list[Asset](ctx, c, http.MethodPost, "/assets/search", nil, sc)
}

// AssetVulnerabilities lists an asset's findings.
func (c *Client) AssetVulnerabilities(ctx context.Context, asset int64) ([]VulnerabilityFinding, error) {
	return list[VulnerabilityFinding](ctx, c, http.MethodGet, fmt.Sprintf("/assets/%d/vulnerabilities", asset), nil, nil)
}

// Vulnerability returns one entry of the vulnerability catalogue.
func (c *Client) Vulnerability(ctx context.Context, id string) (Vulnerability, error) {
	var v Vulnerability
	err := c.do(ctx, http.MethodGet, "/vulnerabilities/"+url.PathEscape(id), nil, nil, &v)
	return v, err
}

// Tags lists the tags whose name contains name (all when empty).
func (c *Client) Tags(ctx context.Context, name string) ([]Tag, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	return list[Tag](ctx, c, http.MethodGet, "/tags", q, nil)
}

// CreateTag creates a tag and returns its ID.
func (c *Client) CreateTag(ctx context.Context, t Tag) (int, error) {
	var ref Reference
	if err := c.do(ctx, http.MethodPost, "/tags", nil, t, &ref); err != nil {
		return 0, err
	}
	id, err := ref.ID.Int64()
	if err != nil {
		return 0, fmt.Errorf("insightvm POST /tags: created tag has no numeric id: %q", ref.ID)
	}
	return int(id), nil
}

// TagAssets lists the IDs of the assets a tag is applied to.
func (c *Client) TagAssets(ctx context.Context, tag int) ([]int64, error) {
	var r References
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/tags/%d/assets", tag), nil, nil, &r)
	return r.Resources, err
}

// AssetTags lists the tags applied to an asset.
func (c *Client) AssetTags(ctx context.Context, asset int64) ([]Tag, error) {
	var r Resources[Tag]
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/assets/%d/tags", asset), nil, nil, &r)
	return r.Resources, err
}

// TagAsset applies a tag to an asset.
func (c *Client) TagAsset(ctx context.Context, asset int64, tag int) error {
	return c.do(ctx, http.MethodPut, fmt.Sprintf("/assets/%d/tags/%d", asset, tag), nil, nil, nil)
}

// UntagAsset removes a tag from an asset.
func (c *Client) UntagAsset(ctx context.Context, asset int64, tag int) error {
	return c.do(ctx, http.MethodDelete, fmt.Sprintf("/assets/%d/tags/%d", asset, tag), nil, nil, nil)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
