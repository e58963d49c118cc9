package edl

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
)

// clock is a settable wall clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

func newFeed(t *testing.T, mod func(*Configuration)) (*Feed, *clock, *httptest.Server) {
	t.Helper()
	cfg := DefaultConfiguration()
	cfg.Username, cfg.Password = "firewall", "s3cret"
	cfg.BearerToken = "tok-123"
	if mod != nil {
		mod(&cfg)
	}
	clk := &clock{t: t0}
	f, err := New(cfg, Dependencies{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Stop(context.Background()) })
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return f, clk, srv
}

func get(t *testing.T, url string, auth func(*http.Request)) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func basic(u, p string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(u, p) }
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func entry(id, ip string) enforce.Entry {
	return enforce.Entry{ID: id, Scope: events.BlockScope{IP: ip}, Reason: "policy internet"}
}

func TestApplyServesEveryFormat(t *testing.T) {
	f, _, srv := newFeed(t, nil)
	ctx := context.Background()
	a := entry("req-a", "10.20.0.102")
	a.Expires = t0.Add(time.Hour)
	b := entry("req-b", "203.0.113.0/24")
	b.Reason = "line one\nline two"
	c := entry("req-c", "2001:db8::7")
	dup := entry("req-d", "10.20.0.102") // a second block of the same address
	if err := f.Apply(ctx, []enforce.Entry{a, b, c, dup}, nil); err != nil {
		t.Fatal(err)
	}
	// Re-adding is idempotent.
	if err := f.Apply(ctx, []enforce.Entry{a, b}, nil); err != nil {
		t.Fatal(err)
	}
	auth := basic("firewall", "s3cret")
	code, plain := get(t, srv.URL+"/edl/plain.txt", auth)
	if code != 200 {
		t.Fatalf("plain: %d %s", code, plain)
	}
	if want := "10.20.0.102\n203.0.113.0/24\n2001:db8::7\n"; plain != want {
		t.Errorf("plain.txt = %q, want %q", plain, want)
	}
	_, forti := get(t, srv.URL+"/edl/fortigate.txt", auth)
	if forti != plain {
		t.Errorf("fortigate.txt = %q, want the plain list", forti)
	}
	_, panos := get(t, srv.URL+"/edl/panos.txt", auth)
	want := "10.20.0.102 vigil id=req-a expires=2026-01-05T09:00:00Z reason=policy internet\n" +
		"10.20.0.102 vigil id=req-d reason=policy internet\n" +
		"203.0.113.0/24 vigil id=req-b reason=line one line two\n" +
		"2001:db8::7 vigil id=req-c reason=policy internet\n"
	if panos != want {
		t.Errorf("panos.txt:\n%s\nwant:\n%s", panos, want)
	}
	_, cp := get(t, srv.URL+"/edl/checkpoint.json", auth)
	var doc gdc
	dec := json.NewDecoder(strings.NewReader(cp))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("checkpoint.json: %v\n%s", err, cp)
	}
	if doc.Version != "1.0" || len(doc.Objects) != 1 || doc.Objects[0].Name != "vigil-block" {
		t.Fatalf("checkpoint.json envelope: %+v", doc)
	}
	if diff := cmp.Diff([]string{"10.20.0.102", "203.0.113.0/24", "2001:db8::7"}, doc.Objects[0].Ranges); diff != "" {
		t.Errorf("checkpoint ranges (-want +got):\n%s", diff)
	}
	if id := doc.Objects[0].ID; id != objectUUID("vigil-block") || len(id) != 36 || id[14] != '5' {
		t.Errorf("checkpoint object id %q is not a stable version-5 UUID", id)
	}

	got, err := f.Actual(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.Reason = "line one line two" // a comment is one line
	wantEntries := []enforce.Entry{a, dup, b, c}
	if diff := cmp.Diff(wantEntries, got); diff != "" {
		t.Errorf("Actual (-want +got):\n%s", diff)
	}

	// Remove, and removing again, leave only the others.
	for range 2 {
		if err := f.Apply(ctx, nil, []enforce.Entry{a, b}); err != nil {
			t.Fatal(err)
		}
	}
	got, err = f.Actual(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]enforce.Entry{dup, c}, got); diff != "" {
		t.Errorf("Actual after remove (-want +got):\n%s", diff)
	}
	_, plain = get(t, srv.URL+"/edl/plain.txt", auth)
	if want := "10.20.0.102\n2001:db8::7\n"; plain != want {
		t.Errorf("plain.txt after remove = %q, want %q (the address stays blocked by req-d)", plain, want)
	}
}

func TestApplyRejectsWhatAFeedCannotHold(t *testing.T) {
	f, _, _ := newFeed(t, nil)
	cases := map[string]enforce.Entry{
		"port":          {ID: "x", Scope: events.BlockScope{IP: "10.0.0.1", Port: 443, Transport: "tcp"}},
		"peer":          {ID: "x", Scope: events.BlockScope{IP: "10.0.0.1", PeerIP: "10.0.0.2"}},
		"mac":           {ID: "x", Scope: events.BlockScope{MAC: "00:11:22:33:44:55"}},
		"not canonical": {ID: "x", Scope: events.BlockScope{IP: "10.0.0.1/24"}},
		"hostname":      {ID: "x", Scope: events.BlockScope{IP: "evil.example"}},
		"id with space": {ID: "a b", Scope: events.BlockScope{IP: "10.0.0.1"}},
		"injection":     {ID: "x", Scope: events.BlockScope{IP: "10.0.0.1\n0.0.0.0/0"}},
	}
	for name, e := range cases {
		t.Run(name, func(t *testing.T) {
			if f.Supports(e.Scope) && name != "id with space" {
				t.Errorf("Supports(%+v) = true", e.Scope)
			}
			err := f.Apply(context.Background(), []enforce.Entry{entry("ok", "10.9.9.9"), e}, nil)
			if err == nil {
				t.Fatal("Apply accepted it")
			}
			t.Log(err)
			got, _ := f.Actual(context.Background())
			if len(got) != 0 {
				t.Errorf("a rejected Apply changed the list: %v", got)
			}
		})
	}
	for _, ok := range []events.BlockScope{{IP: "10.0.0.1"}, {IP: "10.0.0.0/8"}, {IP: "2001:db8::/32"}} {
		if !f.Supports(ok) {
			t.Errorf("Supports(%+v) = false", ok)
		}
	}
}

func TestAuthentication(t *testing.T) {
	f, _, srv := newFeed(t, nil)
	url := srv.URL + "/edl/plain.txt"
	for name, tc := range map[string]struct {
		auth func(*http.Request)
		code int
	}{
		"none":           {nil, 401},
		"wrong password": {basic("firewall", "wrong"), 401},
		"wrong user":     {basic("admin", "s3cret"), 401},
		"wrong token":    {bearer("tok-12"), 401},
		"basic":          {basic("firewall", "s3cret"), 200},
		"bearer":         {bearer("tok-123"), 200},
	} {
		t.Run(name, func(t *testing.T) {
			if code, body := get(t, url, tc.auth); code != tc.code {
				t.Errorf("status %d, want %d (%s)", code, tc.code, body)
			}
		})
	}
	if n := f.AuthFailures(); n != 4 {
		t.Errorf("AuthFailures = %d, want 4", n)
	}
	if code, _ := get(t, srv.URL+"/edl/other.txt", basic("firewall", "s3cret")); code != 404 {
		t.Errorf("unknown file: status %d, want 404", code)
	}
}

func TestLastPolledShowsAFirewallThatStopped(t *testing.T) {
	f, clk, srv := newFeed(t, nil)
	if got := f.LastPolled(); len(got) != 0 {
		t.Fatalf("polls before any fetch: %v", got)
	}
	get(t, srv.URL+"/edl/panos.txt", basic("firewall", "s3cret"))
	clk.Add(5 * time.Minute)
	get(t, srv.URL+"/edl/panos.txt", basic("firewall", "s3cret"))
	get(t, srv.URL+"/edl/fortigate.txt", bearer("tok-123"))
	get(t, srv.URL+"/edl/fortigate.txt", basic("firewall", "nope")) // refused: not a poll
	clk.Add(time.Hour)                                              // nobody polls for an hour
	got := f.LastPolled()
	want := []Poll{
		{Client: "127.0.0.1", User: "bearer", File: FileFortiGate, Last: t0.Add(5 * time.Minute), Requests: 1},
		{Client: "127.0.0.1", User: "firewall", File: FilePANOS, Last: t0.Add(5 * time.Minute), Requests: 2},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Poll{}, "UserAgent")); diff != "" {
		t.Errorf("LastPolled (-want +got):\n%s", diff)
	}
	if stale := clk.Now().Sub(got[1].Last); stale != time.Hour {
		t.Errorf("staleness %s, want 1h", stale)
	}
}

func TestExpiredEntriesAreNotServed(t *testing.T) {
	f, clk, srv := newFeed(t, nil)
	a := entry("a", "10.0.0.1")
	a.Expires = t0.Add(10 * time.Minute)
	b := entry("b", "10.0.0.2")
	if err := f.Apply(context.Background(), []enforce.Entry{a, b}, nil); err != nil {
		t.Fatal(err)
	}
	_, before := get(t, srv.URL+"/edl/plain.txt", bearer("tok-123"))
	clk.Add(10 * time.Minute)
	_, after := get(t, srv.URL+"/edl/plain.txt", bearer("tok-123"))
	if before != "10.0.0.1\n10.0.0.2\n" || after != "10.0.0.2\n" {
		t.Errorf("before expiry %q, after %q", before, after)
	}
	got, _ := f.Actual(context.Background())
	if diff := cmp.Diff([]enforce.Entry{b}, got); diff != "" {
		t.Errorf("Actual after expiry (-want +got):\n%s", diff)
	}
}

func TestConditionalFetch(t *testing.T) {
	f, _, srv := newFeed(t, nil)
	f.Apply(context.Background(), []enforce.Entry{entry("a", "10.0.0.1")}, nil)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/edl/plain.txt", nil)
	req.SetBasicAuth("firewall", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("same ETag: status %d, want 304", resp.StatusCode)
	}
	f.Apply(context.Background(), []enforce.Entry{entry("b", "10.0.0.2")}, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("changed list: status %d, want 200", resp.StatusCode)
	}
}

func TestStateFileSurvivesRestart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "edl.txt")
	f, _, _ := newFeed(t, func(c *Configuration) { c.StateFile = state })
	a := entry("a", "10.0.0.1")
	a.Expires = t0.Add(time.Hour)
	if err := f.Apply(context.Background(), []enforce.Entry{a, entry("b", "192.0.2.0/24")}, nil); err != nil {
		t.Fatal(err)
	}
	want, _ := f.Actual(context.Background())

	g, _, srv := newFeed(t, func(c *Configuration) { c.StateFile = state })
	got, err := g.Actual(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" || len(got) != 2 {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
	if _, plain := get(t, srv.URL+"/edl/plain.txt", bearer("tok-123")); plain != "10.0.0.1\n192.0.2.0/24\n" {
		t.Errorf("served after restart: %q", plain)
	}

	// A damaged state file stops the start instead of serving nothing.
	os.WriteFile(state, []byte("10.0.0.1 vigil id=a\nnot-an-address vigil id=b\n"), 0o600)
	h, err := New(f.cfg, Dependencies{})
	if err != nil {
		t.Fatal(err)
	}
	err = h.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), `line 2: "not-an-address" is not an IP address, CIDR or range`) {
		t.Errorf("damaged state file: %v", err)
	}
}

func TestStateFileWriteFailureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	f, _, _ := newFeed(t, func(c *Configuration) { c.StateFile = filepath.Join(dir, "gone", "edl.txt") })
	err := f.Apply(context.Background(), []enforce.Entry{entry("a", "10.0.0.1")}, nil)
	if err == nil || !strings.Contains(err.Error(), "state file") {
		t.Fatalf("Apply with an unwritable state file: %v", err)
	}
	if got, _ := f.Actual(context.Background()); len(got) != 0 {
		t.Errorf("served %v although the state was not saved", got)
	}
}

func TestOwnListenerWithTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir)
	f, _, _ := newFeed(t, func(c *Configuration) {
		c.Listen, c.TLSCert, c.TLSKey = "127.0.0.1:0", cert, key
	})
	f.Apply(context.Background(), []enforce.Entry{entry("a", "10.0.0.1")}, nil)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodGet, f.URL("https://"+f.Addr(), FilePlain), nil)
	req.SetBasicAuth("firewall", "s3cret")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "10.0.0.1\n" || resp.TLS == nil {
		t.Errorf("HTTPS fetch: %d %q", resp.StatusCode, b)
	}
	if err := f.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", f.Addr(), time.Second); err == nil {
		t.Error("still listening after Stop")
	}
}

func TestConfigurationValidate(t *testing.T) {
	if errs := DefaultConfiguration().Validate(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "allow_anonymous") {
		t.Errorf("default without credentials: %v", errs)
	}
	c := DefaultConfiguration()
	c.Path, c.Username, c.TLSCert, c.Listen = "edl", "a:b", "x.pem", "nohost"
	errs := c.Validate()
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"listen:", "path:", "tls_cert, tls_key", "username, password", "username: must not contain"} {
		if !strings.Contains(all, want) {
			t.Errorf("no error about %q in:\n%s", want, all)
		}
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "vigil-edl-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}

func TestParseListVendorExample(t *testing.T) {
	// The example list of the PAN-OS formatting guidelines, one entry a line.
	list := "192.168.20.10/32\n2001:db8:123:1::1 #test IPv6 address\n192.168.20.0/24 ; test internal subnet\n" +
		"2001:db8:123:1::/64 test internal IPv6 range\n192.168.20.40-192.168.20.50\n\n"
	lines, err := ParseList(strings.NewReader(list))
	if err != nil {
		t.Fatal(err)
	}
	want := []Line{
		{1, "192.168.20.10/32", ""},
		{2, "2001:db8:123:1::1", "#test IPv6 address"},
		{3, "192.168.20.0/24", "; test internal subnet"},
		{4, "2001:db8:123:1::/64", "test internal IPv6 range"},
		{5, "192.168.20.40-192.168.20.50", ""},
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("ParseList (-want +got):\n%s", diff)
	}
	es, err := Entries(lines)
	if err != nil || len(es) != 0 {
		t.Errorf("Entries of a list that is not Vigil's = %v, %v", es, err)
	}
	for _, bad := range []string{"10.0.0.5-10.0.0.1\n", "10.0.0.1/33\n", "example.com\n", "10.0.0.1 vigil id=a expires=soon\n", "10.0.0.1 vigil color=red\n"} {
		lines, err := ParseList(strings.NewReader(bad))
		if err == nil {
			_, err = Entries(lines)
		}
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else {
			t.Log(err)
		}
	}
}

func FuzzParseList(f *testing.F) {
	for _, s := range []string{
		"10.20.0.102 vigil id=req-a expires=2026-01-05T09:00:00Z reason=policy internet\n",
		"2001:db8::7 vigil id=req-c\n203.0.113.0/24 vigil id=req-b reason=x y\n",
		"192.168.20.40-192.168.20.50\n192.168.20.0/24 ; test\r\n",
		"\t10.0.0.1\tcomment\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines, err := ParseList(strings.NewReader(s))
		if err != nil {
			return
		}
		es, err := Entries(lines)
		if err != nil {
			return
		}
		for i := range es {
			es[i].Reason = cleanComment(es[i].Reason) // a rendered reason is cleaned
		}
		// What was read renders back to lines that read the same.
		var b strings.Builder
		for _, e := range es {
			b.WriteString(annotate(e) + "\n")
		}
		lines2, err := ParseList(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("re-read %q: %v", b.String(), err)
		}
		es2, err := Entries(lines2)
		if err != nil {
			t.Fatalf("re-read entries %q: %v", b.String(), err)
		}
		if diff := cmp.Diff(es, es2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

func BenchmarkApply10k(b *testing.B) {
	f, err := New(Configuration{Name: "edl", Path: "/edl/", ObjectName: "o", AllowAnonymous: true}, Dependencies{})
	if err != nil {
		b.Fatal(err)
	}
	add := make([]enforce.Entry, 10_000)
	for i := range add {
		add[i] = enforce.Entry{ID: fmt.Sprintf("req-%05d", i), Scope: events.BlockScope{IP: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}, Reason: "bench"}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := f.Apply(ctx, add, nil); err != nil {
			b.Fatal(err)
		}
		if err := f.Apply(ctx, nil, add); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2/1e6, "ms/apply")
}

func TestListenFailureIsNamed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := DefaultConfiguration()
	cfg.AllowAnonymous, cfg.Listen = true, ln.Addr().String()
	f, err := New(cfg, Dependencies{})
	if err != nil {
		t.Fatal(err)
	}
	err = f.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "edl: listen:") || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("listen on a taken address: %v", err)
	}
}

// TestFetchDuringApplyIsAtomic: a firewall fetching while Vigil applies
// gets the old list or the new one, never a mix.
func TestFetchDuringApplyIsAtomic(t *testing.T) {
	f, _, srv := newFeed(t, nil)
	var a, b []enforce.Entry
	for i := range 200 {
		a = append(a, entry(fmt.Sprintf("a%d", i), fmt.Sprintf("10.1.%d.%d", i/256, i%256)))
		b = append(b, entry(fmt.Sprintf("b%d", i), fmt.Sprintf("10.2.%d.%d", i/256, i%256)))
	}
	render := func(es []enforce.Entry) string {
		es = append([]enforce.Entry(nil), es...)
		sortEntries(es)
		var sb strings.Builder
		for _, e := range es {
			sb.WriteString(e.Scope.IP + "\n")
		}
		return sb.String()
	}
	ctx := context.Background()
	if err := f.Apply(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	wantA, wantB := render(a), render(b)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				_, body := get(t, srv.URL+"/edl/plain.txt", bearer("tok-123"))
				if body != wantA && body != wantB {
					t.Errorf("fetched a list that is neither the old nor the new one (%d bytes)", len(body))
					return
				}
			}
		})
	}
	for i := range 50 {
		var err error
		if i%2 == 0 {
			err = f.Apply(ctx, b, a)
		} else {
			err = f.Apply(ctx, a, b)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
}
