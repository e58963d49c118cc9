package fortigate

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/enforce/fortigate/fortigatetest"
	"github.com/vigil-health/vigil/events"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

func setup(t testing.TB, mod func(*Configuration)) (*Client, *fortigatetest.Server) {
	t.Helper()
	fg := fortigatetest.New(fortigatetest.Options{Token: "tok-1", VDOMs: []string{"root", "ward"}})
	t.Cleanup(fg.Close)
	fg.CreateAddress("root", fortigatetest.Address{Name: "pacs", Type: "ipmask", Subnet: "10.30.0.10 255.255.255.255"})
	fg.CreateGroup("root", "VIGIL_BLOCK", false, "pacs") // an administrator's member: must stay
	cfg := DefaultConfiguration()
	cfg.URL, cfg.Token, cfg.Timeout = fg.URL, "tok-1", 5*time.Second
	if mod != nil {
		mod(&cfg)
	}
	// The double's client, with as many idle connections as requests in
	// flight, as the client New builds has.
	tr := fg.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = cfg.Parallel
	t.Cleanup(tr.CloseIdleConnections)
	c, err := New(cfg, Dependencies{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	return c, fg
}

func entry(id, ip string) enforce.Entry {
	return enforce.Entry{ID: id, Scope: events.BlockScope{IP: ip}, Reason: "policy internet"}
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
	c, fg := setup(t, nil)
	ctx := context.Background()
	a := entry("req-a", "10.20.0.102")
	a.Expires = t0.Add(90 * time.Minute)
	b := entry("req-b", "203.0.113.0/24")
	b.Reason = "scan from\nthe internet"
	if err := c.Apply(ctx, []enforce.Entry{a, b}, nil); err != nil {
		t.Fatal(err)
	}
	addrs := fg.Addresses("root", false)
	if got := addrs["vigil-req-a"]; got.Subnet != "10.20.0.102 255.255.255.255" || got.Comment != "vigil expires=2026-01-05T09:30:00Z reason=policy internet" {
		t.Errorf("object of req-a: %+v", got)
	}
	if got := addrs["vigil-req-b"].Subnet; got != "203.0.113.0 255.255.255.0" {
		t.Errorf("object of req-b: subnet %q", got)
	}
	if diff := cmp.Diff([]string{"pacs", "vigil-req-a", "vigil-req-b"}, fg.Members("root", "VIGIL_BLOCK", false)); diff != "" {
		t.Errorf("group members (-want +got):\n%s", diff)
	}
	// Re-adding (a reconciler after a restart) changes nothing and fails
	// nothing; a changed reason is written.
	a.Reason = "policy internet (renewed)"
	if err := c.Apply(ctx, []enforce.Entry{a, b}, nil); err != nil {
		t.Fatalf("re-add: %v", err)
	}
	if diff := cmp.Diff([]string{"pacs", "vigil-req-a", "vigil-req-b"}, fg.Members("root", "VIGIL_BLOCK", false)); diff != "" {
		t.Errorf("group members after re-add (-want +got):\n%s", diff)
	}
	b.Reason = "scan from the internet"
	if diff := cmp.Diff([]enforce.Entry{a, b}, actual(t, c)); diff != "" {
		t.Errorf("Actual (-want +got):\n%s", diff)
	}
	for range 2 {
		if err := c.Apply(ctx, nil, []enforce.Entry{a}); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"pacs", "vigil-req-b"}, fg.Members("root", "VIGIL_BLOCK", false)); diff != "" {
		t.Errorf("group members after remove (-want +got):\n%s", diff)
	}
	if _, ok := fg.Addresses("root", false)["vigil-req-a"]; ok {
		t.Error("the address object of a removed entry is still there")
	}
	if diff := cmp.Diff([]enforce.Entry{b}, actual(t, c)); diff != "" {
		t.Errorf("Actual after remove (-want +got):\n%s", diff)
	}
}

func TestDriftIsDetectedAndRepaired(t *testing.T) {
	c, fg := setup(t, nil)
	ctx := context.Background()
	es := []enforce.Entry{entry("a", "10.0.0.1"), entry("b", "10.0.0.2"), entry("c", "10.0.0.3")}
	if err := c.Apply(ctx, es, nil); err != nil {
		t.Fatal(err)
	}
	fg.RemoveMember("root", "VIGIL_BLOCK", false, "vigil-b")  // no longer blocked
	fg.SetSubnet("root", "vigil-c", "10.0.0.0 255.255.0.255") // nonsense mask: not what Vigil wrote
	fg.CreateAddress("root", fortigatetest.Address{Name: "vigil-orphan", Type: "ipmask", Subnet: "10.0.0.9 255.255.255.255"})
	if diff := cmp.Diff([]enforce.Entry{es[0]}, actual(t, c)); diff != "" {
		t.Errorf("Actual after drift (-want +got):\n%s", diff)
	}
	if err := c.Apply(ctx, es[1:], nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(es, actual(t, c)); diff != "" {
		t.Errorf("Actual after repair (-want +got):\n%s", diff)
	}
}

func TestScopeChange(t *testing.T) {
	// The reconciler replaces an entry whose scope changed by removing
	// the old and adding the new, in one Apply.
	c, fg := setup(t, nil)
	ctx := context.Background()
	old := entry("a", "10.0.0.1")
	if err := c.Apply(ctx, []enforce.Entry{old}, nil); err != nil {
		t.Fatal(err)
	}
	moved := entry("a", "10.0.0.0/30")
	if err := c.Apply(ctx, []enforce.Entry{moved}, []enforce.Entry{old}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]enforce.Entry{moved}, actual(t, c)); diff != "" {
		t.Errorf("Actual (-want +got):\n%s", diff)
	}
	if got := fg.Addresses("root", false)["vigil-a"].Subnet; got != "10.0.0.0 255.255.255.252" {
		t.Errorf("subnet %q", got)
	}
}

func TestIPv6(t *testing.T) {
	c, fg := setup(t, func(c *Configuration) { c.Group6 = "VIGIL_BLOCK6" })
	ctx := context.Background()
	v6 := entry("six", "2001:db8::7")
	net6 := entry("net6", "2001:db8:1::/48")
	v4 := entry("four", "10.0.0.1")
	if err := c.Apply(ctx, []enforce.Entry{v6, net6, v4}, nil); err == nil || !strings.Contains(err.Error(), `IPv6 address group (addrgrp6) "VIGIL_BLOCK6" does not exist`) {
		t.Errorf("without the IPv6 group: %v", err)
	}
	fg.CreateGroup("root", "VIGIL_BLOCK6", true)
	if err := c.Apply(ctx, []enforce.Entry{v6, net6, v4}, nil); err != nil {
		t.Fatal(err)
	}
	if got := fg.Addresses("root", true)["vigil-six"]; got.IP6 != "2001:db8::7/128" || got.Type != "ipprefix" {
		t.Errorf("address6 object: %+v", got)
	}
	if got := fg.Members("root", "VIGIL_BLOCK6", true); !cmp.Equal(got, []string{"vigil-net6", "vigil-six"}) && !cmp.Equal(got, []string{"vigil-six", "vigil-net6"}) {
		t.Errorf("addrgrp6 members %v", got)
	}
	if got := fg.Members("root", "VIGIL_BLOCK", false); !cmp.Equal(got, []string{"pacs", "vigil-four"}) {
		t.Errorf("addrgrp members %v", got)
	}
	if diff := cmp.Diff([]enforce.Entry{v4, net6, v6}, actual(t, c)); diff != "" {
		t.Errorf("Actual (-want +got):\n%s", diff)
	}
	// Drift in the IPv6 group is seen too.
	fg.RemoveMember("root", "VIGIL_BLOCK6", true, "vigil-six")
	if diff := cmp.Diff([]enforce.Entry{v4, net6}, actual(t, c)); diff != "" {
		t.Errorf("Actual after drift (-want +got):\n%s", diff)
	}
	// An entry moving from IPv4 to IPv6 keeps its ID.
	moved := entry("four", "2001:db8::4")
	if err := c.Apply(ctx, []enforce.Entry{moved, v6}, []enforce.Entry{v4}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]enforce.Entry{moved, net6, v6}, actual(t, c)); diff != "" {
		t.Errorf("Actual after the move (-want +got):\n%s", diff)
	}
	if _, ok := fg.Addresses("root", false)["vigil-four"]; ok {
		t.Error("the IPv4 object of the moved entry is still there")
	}
	if err := c.Apply(ctx, nil, []enforce.Entry{moved, v6, net6}); err != nil {
		t.Fatal(err)
	}
	if got := actual(t, c); len(got) != 0 || len(fg.Addresses("root", true)) != 0 {
		t.Errorf("after removing all: %v, objects %v", got, fg.Addresses("root", true))
	}
}

func TestVDOM(t *testing.T) {
	c, fg := setup(t, func(c *Configuration) { c.VDOM = "ward" })
	err := c.Apply(context.Background(), []enforce.Entry{entry("a", "10.0.0.1")}, nil)
	if err == nil || !strings.Contains(err.Error(), `address group "VIGIL_BLOCK" does not exist in vdom ward`) {
		t.Errorf("missing group: %v", err)
	}
	fg.CreateGroup("ward", "VIGIL_BLOCK", false)
	if err := c.Apply(context.Background(), []enforce.Entry{entry("a", "10.0.0.1")}, nil); err != nil {
		t.Fatal(err)
	}
	if got := fg.Members("ward", "VIGIL_BLOCK", false); !cmp.Equal(got, []string{"vigil-a"}) {
		t.Errorf("ward members %v", got)
	}
	if got := fg.Members("root", "VIGIL_BLOCK", false); !cmp.Equal(got, []string{"pacs"}) {
		t.Errorf("root members changed: %v", got)
	}
}

func TestUnreachable(t *testing.T) {
	c, fg := setup(t, nil)
	fg.SetUnreachable(true)
	err := c.Apply(context.Background(), []enforce.Entry{entry("a", "10.0.0.1")}, nil)
	if err == nil || !strings.Contains(err.Error(), "fortigate fortigate: write address object vigil-a (10.0.0.1 255.255.255.255): FortiGate unreachable") {
		t.Errorf("Apply, connection dropped: %v", err)
	}
	if _, err := c.Actual(context.Background()); err == nil || !strings.Contains(err.Error(), "FortiGate unreachable") {
		t.Errorf("Actual, connection dropped: %v", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cfg := DefaultConfiguration()
	cfg.URL, cfg.Token = "https://"+addr, "x"
	gone, _ := New(cfg, Dependencies{})
	if _, err := gone.Actual(context.Background()); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("nothing listening: %v", err)
	}
}

func TestAuthentication(t *testing.T) {
	c, fg := setup(t, func(c *Configuration) { c.Token = "wrong" })
	err := c.Apply(context.Background(), []enforce.Entry{entry("a", "10.0.0.1")}, nil)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401 (the API token was refused)") {
		t.Errorf("wrong token: %v", err)
	}
	if len(fg.Addresses("root", false)) != 1 {
		t.Error("a refused request changed the FortiGate")
	}
}

func TestVendorErrorIsNamed(t *testing.T) {
	c, fg := setup(t, nil)
	// An administrator made Vigil's object a member of another group too:
	// FortiOS refuses to delete an object in use.
	if err := c.Apply(context.Background(), []enforce.Entry{entry("a", "10.0.0.1")}, nil); err != nil {
		t.Fatal(err)
	}
	fg.CreateGroup("root", "OTHER", false, "vigil-a")
	err := c.Apply(context.Background(), nil, []enforce.Entry{entry("a", "10.0.0.1")})
	want := "fortigate fortigate: delete address object vigil-a: FortiOS DELETE /api/v2/cmdb/firewall/address/vigil-a: HTTP 500, error -23 (entry is in use)"
	if err == nil || err.Error() != want {
		t.Errorf("delete of an object in use:\n got %v\nwant %s", err, want)
	}
	// It is out of Vigil's group all the same: no longer blocked by Vigil.
	if got := actual(t, c); len(got) != 0 {
		t.Errorf("Actual: %v", got)
	}
}

func TestSupports(t *testing.T) {
	c, _ := setup(t, nil)
	for _, s := range []events.BlockScope{{IP: "10.0.0.1"}, {IP: "10.0.0.0/8"}, {IP: "0.0.0.0/0"}} {
		if !c.Supports(s) {
			t.Errorf("Supports(%+v) = false", s)
		}
	}
	for _, s := range []events.BlockScope{{IP: "2001:db8::1"}, {IP: "10.0.0.1/8"}, {IP: "10.0.0.1", Port: 80, Transport: "tcp"}, {IP: "10.0.0.1", PeerIP: "10.0.0.2"}, {MAC: "00:11:22:33:44:55"}, {}} {
		if c.Supports(s) {
			t.Errorf("Supports(%+v) = true", s)
		}
	}
	err := c.Apply(context.Background(), []enforce.Entry{{ID: strings.Repeat("x", 80), Scope: events.BlockScope{IP: "10.0.0.1"}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "at most 79") {
		t.Errorf("too long an ID: %v", err)
	}
}

func TestSubnetRoundTrip(t *testing.T) {
	for _, s := range []string{"10.0.0.1", "10.0.0.0/8", "192.168.1.128/25", "0.0.0.0/0"} {
		p, err := prefixOf(events.BlockScope{IP: s})
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseSubnet(subnetOf(p))
		if err != nil || got != s {
			t.Errorf("%s → %q → %q, %v", s, subnetOf(p), got, err)
		}
	}
	for _, bad := range []string{"10.0.0.1 255.0.255.0", "10.0.0.1", "x 255.255.255.0", "2001:db8::1 ffff::"} {
		if _, err := ParseSubnet(bad); err == nil {
			t.Errorf("ParseSubnet(%q) accepted", bad)
		}
	}
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		`{"http_method":"GET","results":[{"name":"vigil-a","q_origin_key":"vigil-a","type":"ipmask","subnet":"10.0.0.1 255.255.255.255","comment":"vigil expires=2026-01-05T09:30:00Z reason=x"}],"vdom":"root","path":"firewall","name":"address","status":"success","http_status":200,"serial":"FGVM","version":"v7.2.8","build":1639}`,
		`{"http_method":"GET","results":[{"name":"VIGIL_BLOCK","member":[{"name":"pacs","q_origin_key":"pacs"}]}],"status":"success","http_status":200}`,
		`{"http_method":"POST","status":"error","http_status":424,"error":-5,"vdom":"root"}`,
		`{"http_method":"DELETE","status":"error","http_status":500,"error":-23,"cli_error":"entry is used"}`,
		`<html>401</html>`,
	} {
		f.Add([]byte(s))
	}
	f.Add([]byte("2001:db8::/32"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if ip, err := ParseIP6(string(b)); err == nil {
			if _, err := prefixOf(events.BlockScope{IP: ip}); err != nil {
				t.Fatalf("ParseIP6(%q) = %q, which is not a canonical scope: %v", b, ip, err)
			}
		}
		r, err := ParseResponse(b)
		if err != nil {
			return
		}
		if as, err := r.Addresses(); err == nil {
			for _, a := range as {
				if ip, err := ParseSubnet(a.Subnet); err == nil {
					if _, err := prefixOf(events.BlockScope{IP: ip}); err != nil {
						t.Fatalf("ParseSubnet(%q) = %q, which is not a canonical scope: %v", a.Subnet, ip, err)
					}
				}
				parseComment(a.Comment)
			}
		}
		r.Group()
	})
}

func FuzzComment(f *testing.F) {
	f.Add("policy internet", int64(0))
	f.Add("ünïcode reason that is long enough", int64(1767600000123456789))
	f.Fuzz(func(t *testing.T, reason string, ns int64) {
		e := enforce.Entry{ID: "x", Reason: reason}
		if ns > 0 {
			e.Expires = time.Unix(0, ns).UTC()
		}
		c := comment(e)
		if len(c) > 255 {
			t.Fatalf("comment of %d bytes", len(c))
		}
		exp, _ := parseComment(c)
		if len(c) < 255 && !exp.Equal(e.Expires) {
			t.Fatalf("expiry %s read back as %s from %q", e.Expires, exp, c)
		}
	})
}

func BenchmarkApply10k(b *testing.B) {
	c, fg := setup(b, nil)
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
		if n := len(fg.Members("root", "VIGIL_BLOCK", false)); n != 1 {
			b.Fatalf("%d members left", n)
		}
		b.StartTimer()
	}
}
