package panos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/enforce/panos/panostest"
	"github.com/vigil-health/vigil/events"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

func setup(t testing.TB, mod func(*Configuration)) (*Client, *panostest.Server, *clock) {
	t.Helper()
	clk := &clock{t: t0}
	fw := panostest.New(panostest.Options{Username: "vigil", Password: "pw", Key: "KEY-1", Now: clk.Now})
	t.Cleanup(fw.Close)
	cfg := DefaultConfiguration()
	cfg.URL = fw.URL
	cfg.Username, cfg.Password = "vigil", "pw"
	cfg.Timeout = 5 * time.Second
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg, Dependencies{HTTPClient: fw.Client(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return c, fw, clk
}

func entry(id, ip string) enforce.Entry {
	return enforce.Entry{ID: id, Scope: events.BlockScope{IP: ip}, Reason: "r"}
}

func bare(id, ip string) enforce.Entry {
	return enforce.Entry{ID: id, Scope: events.BlockScope{IP: ip}}
}

func actual(t *testing.T, c *Client) []enforce.Entry {
	t.Helper()
	got, err := c.Actual(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestAddReAddRemoveReadBack(t *testing.T) {
	c, fw, clk := setup(t, nil)
	ctx := context.Background()
	fw.Register("10.20.0.5", "quarantine-by-admin") // not Vigil's: never read or touched

	a := entry("req-a", "10.20.0.102")
	a.Expires = t0.Add(time.Hour)
	b := entry("req-b", "2001:db8::7")
	d := entry("req-d", "10.20.0.102") // a second block of the same address
	if err := c.Apply(ctx, []enforce.Entry{a, b, d}, nil); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"10.20.0.102": {"vigil-block", "vigil-id-req-a", "vigil-id-req-d"},
		"2001:db8::7": {"vigil-block", "vigil-id-req-b"},
		"10.20.0.5":   {"quarantine-by-admin"},
	}
	if diff := cmp.Diff(want, fw.Tags()); diff != "" {
		t.Errorf("firewall table (-want +got):\n%s", diff)
	}
	if exp, _ := fw.Timeout("10.20.0.102", "vigil-id-req-a"); !exp.Equal(t0.Add(time.Hour)) {
		t.Errorf("req-a expires on the firewall at %s, want %s", exp, t0.Add(time.Hour))
	}
	if exp, ok := fw.Timeout("2001:db8::7", "vigil-id-req-b"); !ok || !exp.IsZero() {
		t.Errorf("req-b (no expiry) has timeout %s, %v", exp, ok)
	}
	// Re-adding is not an error (the firewall says "already exists, ignore").
	if err := c.Apply(ctx, []enforce.Entry{a, b, d}, nil); err != nil {
		t.Fatalf("re-add: %v", err)
	}
	readBack := []enforce.Entry{bare("req-a", "10.20.0.102"), bare("req-d", "10.20.0.102"), bare("req-b", "2001:db8::7")}
	if diff := cmp.Diff(readBack, actual(t, c)); diff != "" {
		t.Errorf("Actual (-want +got):\n%s", diff)
	}

	// Removing req-a keeps the address blocked by req-d.
	if err := c.Apply(ctx, nil, []enforce.Entry{a}); err != nil {
		t.Fatal(err)
	}
	if got := fw.Tags()["10.20.0.102"]; !cmp.Equal(got, []string{"vigil-block", "vigil-id-req-d"}) {
		t.Errorf("after removing req-a: %v", got)
	}
	// Removing the rest, twice, unblocks and is idempotent.
	for range 2 {
		if err := c.Apply(ctx, nil, []enforce.Entry{d, b, a}); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(map[string][]string{"10.20.0.5": {"quarantine-by-admin"}}, fw.Tags()); diff != "" {
		t.Errorf("after removing all (-want +got):\n%s", diff)
	}
	if got := actual(t, c); len(got) != 0 {
		t.Errorf("Actual after removing all: %v", got)
	}

	// The firewall expires a tag itself; Actual shows it gone.
	if err := c.Apply(ctx, []enforce.Entry{a}, nil); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	if got := actual(t, c); len(got) != 0 {
		t.Errorf("Actual after the timeout: %v", got)
	}
	// An entry already expired is not registered.
	if err := c.Apply(ctx, []enforce.Entry{a}, nil); err != nil || len(actual(t, c)) != 0 {
		t.Errorf("expired entry: err %v, actual %v", err, actual(t, c))
	}
}

func TestDriftIsDetected(t *testing.T) {
	c, fw, _ := setup(t, nil)
	ctx := context.Background()
	es := []enforce.Entry{entry("a", "10.0.0.1"), entry("b", "10.0.0.2"), entry("c", "10.0.0.3")}
	if err := c.Apply(ctx, es, nil); err != nil {
		t.Fatal(err)
	}
	fw.Unregister("10.0.0.2", "vigil-block") // the group no longer matches it
	fw.Unregister("10.0.0.3", "vigil-id-c")  // blocked, but by what?
	fw.Register("10.0.0.4", "vigil-block")   // an administrator used Vigil's tag
	got := actual(t, c)
	want := []enforce.Entry{bare("a", "10.0.0.1"), bare("untracked:10.0.0.3", "10.0.0.3"), bare("untracked:10.0.0.4", "10.0.0.4")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Actual after drift (-want +got):\n%s", diff)
	}
	// The reconciler re-applies: b is blocked again; the untracked blocks
	// are removed.
	if err := c.Apply(ctx, []enforce.Entry{es[1]}, want[1:]); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]enforce.Entry{bare("a", "10.0.0.1"), bare("b", "10.0.0.2")}, actual(t, c)); diff != "" {
		t.Errorf("Actual after repair (-want +got):\n%s", diff)
	}
}

func TestScopeChange(t *testing.T) {
	c, fw, _ := setup(t, nil)
	ctx := context.Background()
	old, moved := entry("a", "10.0.0.1"), entry("a", "10.0.0.2")
	if err := c.Apply(ctx, []enforce.Entry{old}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(ctx, []enforce.Entry{moved}, []enforce.Entry{old}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{"10.0.0.2": {"vigil-block", "vigil-id-a"}}, fw.Tags()); diff != "" {
		t.Errorf("firewall table (-want +got):\n%s", diff)
	}
}

func TestUnreachable(t *testing.T) {
	c, fw, _ := setup(t, nil)
	fw.SetUnreachable(true)
	err := c.Apply(context.Background(), []enforce.Entry{entry("a", "10.0.0.1")}, nil)
	if err == nil || !strings.Contains(err.Error(), `panos panos: register 1 addresses: keygen for user "vigil": firewall unreachable`) || !strings.Contains(err.Error(), "firewall unreachable") {
		t.Errorf("Apply to a dropped connection: %v", err)
	}
	_, err = c.Actual(context.Background())
	if err == nil || !strings.Contains(err.Error(), "firewall unreachable") {
		t.Errorf("Actual of a dropped connection: %v", err)
	}
	fw.SetUnreachable(false)
	if err := c.Apply(context.Background(), []enforce.Entry{entry("a", "10.0.0.1")}, nil); err != nil {
		t.Errorf("after the firewall is back: %v", err)
	}

	// Nothing listening at all.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	gone, _ := New(Configuration{Name: "gone", URL: "https://" + addr, APIKey: "k", Vsys: "vsys1", TagPrefix: "vigil-", BlockTag: "vigil-block", BatchSize: 10, Timeout: time.Second}, Dependencies{})
	_, err = gone.Actual(context.Background())
	if err == nil || !strings.Contains(err.Error(), "panos gone: show registered-ip: firewall unreachable") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Actual with nothing listening: %v", err)
	}
}

func TestAuthentication(t *testing.T) {
	t.Run("wrong password", func(t *testing.T) {
		c, _, _ := setup(t, func(c *Configuration) { c.Password = "wrong" })
		err := c.Apply(context.Background(), []enforce.Entry{entry("a", "10.0.0.1")}, nil)
		var apiErr *APIError
		if !errors.As(err, &apiErr) || !apiErr.Unauthorized() || !strings.Contains(err.Error(), `keygen for user "vigil": PAN-OS error (HTTP 403, code 403): Invalid Credential`) {
			t.Errorf("keygen with a wrong password: %v", err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		c, _, _ := setup(t, func(c *Configuration) { c.APIKey = "stale" })
		_, err := c.Actual(context.Background())
		if err == nil || !strings.Contains(err.Error(), "PAN-OS error (HTTP 403, code 403): Invalid Credential") {
			t.Errorf("a wrong API key: %v", err)
		}
	})
	t.Run("key regenerated on the firewall", func(t *testing.T) {
		c, fw, _ := setup(t, nil)
		if _, err := c.Actual(context.Background()); err != nil {
			t.Fatal(err)
		}
		fw.SetKey("KEY-2")
		if _, err := c.Actual(context.Background()); err != nil {
			t.Errorf("after the key changed, the client should get a new one: %v", err)
		}
		if n := fw.Requests()["keygen"]; n != 2 {
			t.Errorf("%d keygen requests, want 2", n)
		}
	})
}

func TestRejectsWhatTagsCannotHold(t *testing.T) {
	c, fw, _ := setup(t, nil)
	for name, e := range map[string]enforce.Entry{
		"cidr":      {ID: "x", Scope: events.BlockScope{IP: "10.0.0.0/24"}},
		"port":      {ID: "x", Scope: events.BlockScope{IP: "10.0.0.1", Port: 22, Transport: "tcp"}},
		"peer":      {ID: "x", Scope: events.BlockScope{IP: "10.0.0.1", PeerIP: "10.0.0.2"}},
		"mac":       {ID: "x", Scope: events.BlockScope{MAC: "00:11:22:33:44:55"}},
		"injection": {ID: "x", Scope: events.BlockScope{IP: `1.1.1.1"><tag><member>x</member></tag></entry></register></payload><payload><unregister>`}},
		"bad id":    {ID: `x"/><x`, Scope: events.BlockScope{IP: "10.0.0.1"}},
		"long id":   {ID: strings.Repeat("a", 120), Scope: events.BlockScope{IP: "10.0.0.1"}},
		"no id":     {Scope: events.BlockScope{IP: "10.0.0.1"}},
	} {
		t.Run(name, func(t *testing.T) {
			err := c.Apply(context.Background(), []enforce.Entry{entry("ok", "10.9.9.9"), e}, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			t.Log(err)
		})
	}
	if got := fw.Tags(); len(got) != 0 {
		t.Errorf("a rejected Apply changed the firewall: %v", got)
	}
	if n := fw.Requests()["user-id"]; n != 0 {
		t.Errorf("%d user-id requests for rejected input", n)
	}
}

func TestDoubleRejectsInjectedXML(t *testing.T) {
	// The double must refuse what a real firewall refuses, or the tests
	// above would prove nothing about escaping.
	_, fw, _ := setup(t, nil)
	cmd := `<uid-message><version>2.0</version><type>update</type><payload><register><entry ip="1.1.1.1"><tag><member>x</member></tag></entry></register></payload></uid-message><uid-message/>`
	req, _ := http.NewRequest(http.MethodPost, fw.URL+"/api/?type=user-id&cmd="+strings.ReplaceAll(cmd, "&", "%26"), nil)
	req.Header.Set("X-PAN-KEY", "KEY-1")
	res, err := fw.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if len(fw.Tags()) != 0 {
		t.Errorf("the double applied an injected document: %v", fw.Tags())
	}
}

func TestErrorOfTheFirewallIsNamed(t *testing.T) {
	c, _, _ := setup(t, func(c *Configuration) { c.Vsys = "vsys9" })
	err := c.Apply(context.Background(), []enforce.Entry{entry("a", "10.0.0.1")}, nil)
	if err == nil || !strings.Contains(err.Error(), "panos panos: register 1 addresses: PAN-OS error (HTTP 200, code 12): vsys vsys9 does not exist") {
		t.Errorf("unknown vsys: %v", err)
	}
}

func TestPaging(t *testing.T) {
	c, fw, _ := setup(t, func(c *Configuration) { c.BatchSize = 300 })
	var es []enforce.Entry
	for i := range 1234 {
		es = append(es, entry(fmt.Sprintf("r%d", i), fmt.Sprintf("10.1.%d.%d", i/256, i%256)))
	}
	if err := c.Apply(context.Background(), es, nil); err != nil {
		t.Fatal(err)
	}
	if got := len(actual(t, c)); got != 1234 {
		t.Errorf("Actual read %d entries, want 1234", got)
	}
	if n := fw.Requests()["user-id"]; n != 5 {
		t.Errorf("%d uid-messages for 1234 addresses in batches of 300, want 5", n)
	}
	if n := fw.Requests()["op"]; n != 3 {
		t.Errorf("%d pages for 1234 addresses, want 3", n)
	}
}

func TestFirewallWithoutPaging(t *testing.T) {
	clk := &clock{t: t0}
	fw := panostest.New(panostest.Options{Key: "K", Now: clk.Now, IgnorePaging: true})
	defer fw.Close()
	cfg := DefaultConfiguration()
	cfg.URL, cfg.APIKey = fw.URL, "K"
	c, err := New(cfg, Dependencies{HTTPClient: fw.Client(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	var es []enforce.Entry
	for i := range 600 {
		es = append(es, entry(fmt.Sprint(i), fmt.Sprintf("10.2.%d.%d", i/256, i%256)))
	}
	if err := c.Apply(context.Background(), es, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.Actual(context.Background())
	if err == nil || !strings.Contains(err.Error(), "start-point not supported") {
		t.Errorf("a firewall that ignores start-point: %v", err)
	}
}

func TestConfigurationValidate(t *testing.T) {
	c := DefaultConfiguration()
	c.URL, c.BlockTag, c.BatchSize = "firewall", "block", 0
	var all []string
	for _, e := range c.Validate() {
		all = append(all, e.Error())
	}
	msg := strings.Join(all, "\n")
	for _, want := range []string{"url:", "api_key:", "block_tag:", "batch_size:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("no error about %s in:\n%s", want, msg)
		}
	}
	c = DefaultConfiguration()
	c.URL, c.APIKey, c.BlockTag = "https://fw", "k", "vigil-id-x"
	if errs := c.Validate(); len(errs) != 1 {
		t.Errorf("a block tag that looks like an ID tag: %v", errs)
	}
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		`<response status="success"><result><key>LUFRPT1</key></result></response>`,
		`<response status = 'error' code = '403'><result><msg>Invalid Credential</msg></result></response>`,
		`<response status="success"><result><entry ip="10.0.0.1" from_agent="0" persistent="1"><tag><member>vigil-block</member><member timeout="60">vigil-id-a</member></tag></entry><count>1</count></result></response>`,
		`<response status="error"><msg><line><uid-response><version>2.0</version><payload><register><entry ip="10.0.0.1" message="tag vigil-block already exists, ignore"/></register></payload></uid-response></line></msg></response>`,
		`<response status="error" code="17"><msg><line>Invalid command</line></msg></response>`,
		`<html>502 Bad Gateway</html>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err != nil {
			return
		}
		if r.Status != "success" && r.Status != "error" {
			t.Fatalf("status %q accepted", r.Status)
		}
		r.Messages()
		onlyIgnorable(r)
		for _, e := range r.Result.Entries {
			_ = e.IP
		}
	})
}

func BenchmarkApply10k(b *testing.B) {
	c, fw, _ := setup(b, nil)
	add := make([]enforce.Entry, 10_000)
	for i := range add {
		add[i] = entry(fmt.Sprintf("req-%05d", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Apply(ctx, add, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := c.Apply(ctx, nil, add); err != nil {
			b.Fatal(err)
		}
		if n := len(fw.Tags()); n != 0 {
			b.Fatalf("%d addresses left", n)
		}
		b.StartTimer()
	}
}

func BenchmarkRemove10k(b *testing.B) {
	c, _, _ := setup(b, nil)
	add := make([]enforce.Entry, 10_000)
	for i := range add {
		add[i] = entry(fmt.Sprintf("req-%05d", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		if err := c.Apply(ctx, add, nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := c.Apply(ctx, nil, add); err != nil {
			b.Fatal(err)
		}
	}
}
