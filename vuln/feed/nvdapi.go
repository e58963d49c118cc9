package feed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-health/vigil/vuln"
)

// NVDBaseURL is the CVE API 2.0 endpoint.
const NVDBaseURL = "https://services.nvd.nist.gov/rest/json/cves/2.0"

// NVD's limits: results per page, and the longest date window of one
// query.
const (
	NVDMaxPageSize = 2000
	NVDMaxWindow   = 120 * 24 * time.Hour
)

// Clock is the time an NVD client waits on; tests replace it.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// NVDClient reads the NVD CVE API 2.0 page by page, within NVD's rate
// limit: at most Requests requests in any Window (NVD allows 50 per 30 s
// with an API key, 5 without). A refused or failed request (403, 429,
// 5xx, a network error) is retried after a growing pause, honouring
// Retry-After. The zero value is usable.
type NVDClient struct {
	// BaseURL defaults to NVDBaseURL.
	BaseURL string
	// APIKey is sent in the apiKey header when set.
	APIKey string
	HTTP   *http.Client
	// PageSize is resultsPerPage; defaults to NVDMaxPageSize.
	PageSize int
	// Requests per Window; default 50 per 30 s with a key, 5 without.
	Requests int
	Window   time.Duration
	// Retries of one request; default 5. Backoff is the first pause,
	// doubled each time up to two minutes; default 6 s (NVD's advice).
	Retries int
	Backoff time.Duration
	// MaxBytes bounds one response; default DefaultMaxBytes.
	MaxBytes int64
	Clock    Clock

	mu   sync.Mutex
	sent []time.Time
}

// NVDQuery selects CVEs. Date windows need both ends and span at most
// 120 days; zero fields are left out.
type NVDQuery struct {
	CVEID         string
	CPEName       string
	KeywordSearch string
	LastModStart  time.Time
	LastModEnd    time.Time
	PubStart      time.Time
	PubEnd        time.Time
	HasKEV        bool
	NoRejected    bool
}

func (q NVDQuery) encode() (string, error) {
	v := url.Values{}
	if q.CVEID != "" {
		if !cveID.MatchString(q.CVEID) {
			return "", fmt.Errorf("NVD query: %q is not a CVE ID", q.CVEID)
		}
		v.Set("cveId", q.CVEID)
	}
	if q.CPEName != "" {
		v.Set("cpeName", q.CPEName)
	}
	if q.KeywordSearch != "" {
		v.Set("keywordSearch", q.KeywordSearch)
	}
	for _, w := range []struct {
		name       string
		start, end time.Time
	}{{"lastMod", q.LastModStart, q.LastModEnd}, {"pub", q.PubStart, q.PubEnd}} {
		if w.start.IsZero() && w.end.IsZero() {
			continue
		}
		if w.start.IsZero() || w.end.IsZero() {
			return "", fmt.Errorf("NVD query: %sStartDate and %sEndDate go together", w.name, w.name)
		}
		if w.end.Before(w.start) || w.end.Sub(w.start) > NVDMaxWindow {
			return "", fmt.Errorf("NVD query: the %s window %s to %s is not 0 to 120 days", w.name,
				w.start.Format(time.RFC3339), w.end.Format(time.RFC3339))
		}
		const layout = "2006-01-02T15:04:05.000Z07:00"
		v.Set(w.name+"StartDate", w.start.UTC().Format(layout))
		v.Set(w.name+"EndDate", w.end.UTC().Format(layout))
	}
	s := v.Encode()
	// NVD's flags take no value.
	for _, f := range []struct {
		on   bool
		name string
	}{{q.HasKEV, "hasKev"}, {q.NoRejected, "noRejected"}} {
		if f.on {
			if s != "" {
				s += "&"
			}
			s += f.name
		}
	}
	return s, nil
}

// PageInfo says where a page lies in the result set.
type PageInfo struct {
	StartIndex   int
	Results      int
	TotalResults int
	URL          string
}

func (cl *NVDClient) clock() Clock {
	if cl.Clock == nil {
		return realClock{}
	}
	return cl.Clock
}

func (cl *NVDClient) limits() (int, time.Duration) {
	n, w := cl.Requests, cl.Window
	if n <= 0 {
		n = 5
		if cl.APIKey != "" {
			n = 50
		}
	}
	if w <= 0 {
		w = 30 * time.Second
	}
	return n, w
}

// wait blocks until a request fits in the rate limit, and counts it.
func (cl *NVDClient) wait(ctx context.Context) error {
	limit, window := cl.limits()
	clk := cl.clock()
	for {
		cl.mu.Lock()
		now := clk.Now()
		keep := cl.sent[:0]
		for _, t := range cl.sent {
			if now.Sub(t) < window {
				keep = append(keep, t)
			}
		}
		cl.sent = keep
		if len(cl.sent) < limit {
			cl.sent = append(cl.sent, now)
			cl.mu.Unlock()
			return nil
		}
		pause := cl.sent[0].Add(window).Sub(now)
		cl.mu.Unlock()
		if err := clk.Sleep(ctx, pause); err != nil {
			return err
		}
	}
}

// Pages fetches every page of a query and hands each, parsed and
// validated, to fn, in order. It stops at the first error: a page that
// fails validation is reported with its URL and start index.
func (cl *NVDClient) Pages(ctx context.Context, q NVDQuery, fn func(*vuln.Batch, []Problem, PageInfo) error) error {
	query, err := q.encode()
	if err != nil {
		return err
	}
	base := cl.BaseURL
	if base == "" {
		base = NVDBaseURL
	}
	size := cl.PageSize
	if size <= 0 || size > NVDMaxPageSize {
		size = NVDMaxPageSize
	}
	start := 0
	for {
		u := base + "?" + query
		if query != "" {
			u += "&"
		}
		u += "resultsPerPage=" + strconv.Itoa(size) + "&startIndex=" + strconv.Itoa(start)
		body, err := cl.get(ctx, u)
		if err != nil {
			return err
		}
		b, warns, info, err := parseNVDPage(u, body)
		if err != nil {
			return fmt.Errorf("NVD page at startIndex %d: %w", start, err)
		}
		if info.start != start {
			return fmt.Errorf("NVD page at startIndex %d: the response says startIndex %d", start, info.start)
		}
		pi := PageInfo{StartIndex: start, Results: info.count, TotalResults: info.total, URL: u}
		if err := fn(b, warns, pi); err != nil {
			return err
		}
		start += info.count
		if info.count == 0 || start >= info.total {
			return nil
		}
	}
}

// Fetch gathers every page of a query into one batch: a run is applied
// whole or not at all, like a file. A CVE met twice (NVD's data moving
// while pages are read) keeps its latest record. Keep windows small
// enough to hold in memory (NVD allows 120 days per query anyway).
func (cl *NVDClient) Fetch(ctx context.Context, q NVDQuery) (*vuln.Batch, []Problem, error) {
	out := &vuln.Batch{}
	var warns []Problem
	at := map[string]int{}
	err := cl.Pages(ctx, q, func(b *vuln.Batch, w []Problem, _ PageInfo) error {
		warns = append(warns, w...)
		for _, c := range b.CVEs {
			if i, ok := at[c.ID]; ok {
				if c.LastModified.After(out.CVEs[i].LastModified) {
					out.CVEs[i] = c
				}
				continue
			}
			at[c.ID] = len(out.CVEs)
			out.CVEs = append(out.CVEs, c)
		}
		return nil
	})
	if err != nil {
		return nil, warns, err
	}
	return out, warns, nil
}

// ImportNVD fetches a query and applies it to the store whole.
func (im *Importer) ImportNVD(ctx context.Context, cl *NVDClient, q NVDQuery) (Result, error) {
	b, warns, err := cl.Fetch(ctx, q)
	if err != nil {
		return Result{Warnings: warns}, err
	}
	base := cl.BaseURL
	if base == "" {
		base = NVDBaseURL
	}
	query, _ := q.encode()
	b.Source = vuln.Source{Path: base + "?" + query, Format: string(FormatNVD), ImportedAt: im.now()}
	sum, err := im.Store.Apply(b)
	if err != nil {
		return Result{Warnings: warns}, err
	}
	return Result{Summary: sum, Warnings: warns}, nil
}

// HTTPError is a response NVD refused to serve.
type HTTPError struct {
	URL    string
	Status int
	// Message is NVD's explanation (its "message" header), if any.
	Message string
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("NVD %s: HTTP %d", e.URL, e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

func retryable(status int) bool {
	return status == http.StatusForbidden || status == http.StatusTooManyRequests || status >= 500
}

// get fetches one URL within the rate limit, retrying what can be
// retried.
func (cl *NVDClient) get(ctx context.Context, u string) ([]byte, error) {
	retries := cl.Retries
	if retries <= 0 {
		retries = 5
	}
	pause := cl.Backoff
	if pause <= 0 {
		pause = 6 * time.Second
	}
	hc := cl.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	var last error
	for attempt := 0; ; attempt++ {
		if err := cl.wait(ctx); err != nil {
			return nil, err
		}
		body, retryAfter, err := cl.do(ctx, hc, u)
		if err == nil {
			return body, nil
		}
		last = err
		var he *HTTPError
		var fe *Error
		if errors.As(err, &he) && !retryable(he.Status) || errors.As(err, &fe) || ctx.Err() != nil {
			return nil, err
		}
		if attempt >= retries {
			return nil, fmt.Errorf("after %d attempts: %w", attempt+1, last)
		}
		wait := max(pause, retryAfter)
		if err := cl.clock().Sleep(ctx, wait); err != nil {
			return nil, err
		}
		pause = min(2*pause, 2*time.Minute)
	}
}

func (cl *NVDClient) do(ctx context.Context, hc *http.Client, u string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("NVD request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if cl.APIKey != "" {
		req.Header.Set("apiKey", cl.APIKey)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("NVD %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		var after time.Duration
		if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
			after = time.Duration(s) * time.Second
		}
		return nil, after, &HTTPError{URL: u, Status: resp.StatusCode, Message: resp.Header.Get("message")}
	}
	max := cl.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	body, err := readAll(u, resp.Body, max)
	if err != nil {
		return nil, 0, err
	}
	return body, 0, nil
}
