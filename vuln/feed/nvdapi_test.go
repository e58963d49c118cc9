package feed_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/feed"
)

// fakeClock is a clock that sleeps by moving forward: the test double
// and the client share it, so rate limits are tested without waiting.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.slept += d
	c.mu.Unlock()
	return ctx.Err()
}

// nvdDouble serves the 38 CVEs of the shared full page as the CVE API
// 2.0 does: resultsPerPage and startIndex, the apiKey header, and 403
// when more than budget requests come in 30 s (of the shared clock).
type nvdDouble struct {
	t      *testing.T
	clock  *fakeClock
	key    string
	budget int
	vulns  []json.RawMessage
	// failFirst answers the first n requests with 503.
	failFirst int
	// corruptAt serves a broken page at this startIndex (-1: never).
	corruptAt int

	mu       sync.Mutex
	requests []time.Time
	queries  []string
}

func newNVDDouble(t *testing.T, clock *fakeClock) *nvdDouble {
	var page struct {
		Vulnerabilities []json.RawMessage `json:"vulnerabilities"`
	}
	if err := json.Unmarshal(readSample(t, "nvd/api2-full-page.json"), &page); err != nil {
		t.Fatal(err)
	}
	return &nvdDouble{t: t, clock: clock, key: "test-key", budget: 50, vulns: page.Vulnerabilities, corruptAt: -1}
}

func (d *nvdDouble) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	d.queries = append(d.queries, r.URL.RawQuery)
	var recent []time.Time
	for _, t := range d.requests {
		if now.Sub(t) < 30*time.Second {
			recent = append(recent, t)
		}
	}
	d.requests = append(recent, now)
	if r.Header.Get("apiKey") != d.key {
		w.Header().Set("message", "Invalid apiKey")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if len(d.requests) > d.budget {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if d.failFirst > 0 {
		d.failFirst--
		w.Header().Set("Retry-After", "10")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	q := r.URL.Query()
	start, err1 := strconv.Atoi(q.Get("startIndex"))
	size, err2 := strconv.Atoi(q.Get("resultsPerPage"))
	if err1 != nil || err2 != nil || size > 2000 || start < 0 {
		w.Header().Set("message", "Invalid startIndex or resultsPerPage")
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	end := min(start+size, len(d.vulns))
	start = min(start, end)
	body := map[string]any{
		"resultsPerPage": end - start, "startIndex": start, "totalResults": len(d.vulns),
		"format": "NVD_CVE", "version": "2.0", "timestamp": "2023-10-18T18:04:18.493",
		"vulnerabilities": d.vulns[start:end],
	}
	if start == d.corruptAt {
		body["vulnerabilities"] = []any{map[string]any{"cve": map[string]any{"id": "CVE-2023-XYZ"}}}
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(body); err != nil {
		d.t.Error(err)
	}
}

func TestNVDClientPages(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)}
	double := newNVDDouble(t, clock)
	double.budget = 2 // stricter than NVD, to exercise the limiter
	srv := httptest.NewServer(double)
	defer srv.Close()

	cl := &feed.NVDClient{BaseURL: srv.URL, APIKey: "test-key", HTTP: srv.Client(), PageSize: 10,
		Requests: 2, Window: 30 * time.Second, Clock: clock}
	q := feed.NVDQuery{
		LastModStart: time.Date(2023, 10, 1, 0, 0, 0, 0, time.UTC),
		LastModEnd:   time.Date(2023, 10, 18, 0, 0, 0, 0, time.UTC),
		NoRejected:   true,
	}
	var starts []int
	err := cl.Pages(context.Background(), q, func(_ *vuln.Batch, _ []feed.Problem, p feed.PageInfo) error {
		starts = append(starts, p.StartIndex)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 10, 20, 30}; !equalInts(starts, want) {
		t.Errorf("pages at %v, want %v", starts, want)
	}
	// 4 requests, 2 per 30 s: the client waited one window, and the
	// double never had to refuse.
	if clock.slept != 30*time.Second {
		t.Errorf("slept %s, want 30s", clock.slept)
	}
	for _, q := range double.queries {
		for _, want := range []string{"lastModStartDate=2023-10-01T00%3A00%3A00.000Z", "lastModEndDate=2023-10-18T00%3A00%3A00.000Z",
			"&noRejected&", "resultsPerPage=10"} {
			if !strings.Contains(q, want) {
				t.Errorf("query %q lacks %q", q, want)
			}
		}
	}

	// Fetch and import: the 38 CVEs in one batch.
	im, s := newImporter()
	res, err := im.ImportNVD(context.Background(), cl, q)
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.CVEsAdded != 38 || s.Stats().CVEs != 38 {
		t.Errorf("imported %+v; store %+v", res.Summary, s.Stats())
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNVDClientBacksOff(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)}
	double := newNVDDouble(t, clock)
	double.failFirst = 2
	double.budget = 3 // NVD's budget is smaller than the client thinks
	srv := httptest.NewServer(double)
	defer srv.Close()
	cl := &feed.NVDClient{BaseURL: srv.URL, APIKey: "test-key", HTTP: srv.Client(), PageSize: 20,
		Requests: 50, Window: 30 * time.Second, Backoff: 6 * time.Second, Clock: clock}
	b, _, err := cl.Fetch(context.Background(), feed.NVDQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.CVEs) != 38 {
		t.Errorf("%d CVEs, want 38", len(b.CVEs))
	}
	// Two 503s with Retry-After 10 (pauses 10 s, 12 s), then 403s from
	// the budget, each retried after a longer pause.
	if clock.slept < 22*time.Second {
		t.Errorf("slept %s: the client did not back off", clock.slept)
	}
}

func TestNVDClientErrors(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)}
	double := newNVDDouble(t, clock)
	srv := httptest.NewServer(double)
	defer srv.Close()

	// A wrong key is not retried: NVD says why.
	cl := &feed.NVDClient{BaseURL: srv.URL, APIKey: "wrong", HTTP: srv.Client(), Clock: clock}
	_, _, err := cl.Fetch(context.Background(), feed.NVDQuery{})
	var he *feed.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusNotFound || !strings.Contains(err.Error(), "Invalid apiKey") || len(double.queries) != 1 {
		t.Errorf("wrong key: %v after %d requests", err, len(double.queries))
	}

	// A broken page stops the run: nothing of it is applied.
	double.corruptAt = 20
	im, s := newImporter()
	cl = &feed.NVDClient{BaseURL: srv.URL, APIKey: "test-key", HTTP: srv.Client(), PageSize: 10, Clock: clock}
	_, err = im.ImportNVD(context.Background(), cl, feed.NVDQuery{})
	if err == nil || !strings.Contains(err.Error(), "NVD page at startIndex 20") ||
		!strings.Contains(err.Error(), `$.vulnerabilities[0].cve.id: "CVE-2023-XYZ" is not a CVE ID`) {
		t.Errorf("broken page: %v", err)
	}
	if s.Stats().CVEs != 0 {
		t.Errorf("a failed run applied %d CVEs", s.Stats().CVEs)
	}

	// Queries NVD would refuse are refused before asking.
	for _, q := range []feed.NVDQuery{
		{LastModStart: time.Now()},
		{PubStart: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), PubEnd: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)},
		{CVEID: "CVE-1"},
	} {
		if _, _, err := cl.Fetch(context.Background(), q); err == nil {
			t.Errorf("query %+v accepted", q)
		}
	}

	// A cancelled context stops the waits.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := cl.Fetch(ctx, feed.NVDQuery{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
