//go:build linux

package nft

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
)

func newBackend(t testing.TB, l *lab) *Backend {
	t.Helper()
	cfg := enforce.DefaultConfiguration().NFTables
	cfg.Enabled, cfg.NetNS = true, l.fwPath
	b, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestElementsRoundTrip(t *testing.T) {
	for _, s := range []events.BlockScope{
		{IP: "10.0.0.1"},
		{IP: "2001:db8::1"},
		{IP: "10.0.0.1", PeerIP: "203.0.113.9"},
		{IP: "2001:db8::1", PeerIP: "2001:db8::2"},
		{IP: "10.0.0.1", Port: 23, Transport: "tcp"},
		{IP: "2001:db8::1", Port: 161, Transport: "udp"},
		{IP: "10.0.0.1", PeerIP: "203.0.113.9", Port: 443, Transport: "tcp"},
		{IP: "2001:db8::1", PeerIP: "2001:db8::2", Port: 2575, Transport: "sctp"},
		{MAC: "00:12:21:4e:0a:12"},
	} {
		els, err := elements(s)
		if err != nil || len(els) != 1 {
			t.Fatalf("%+v: %v %v", s, els, err)
		}
		got, err := decode(els[0].set, els[0].key)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(s, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	// A port without transport is both tcp and udp.
	els, err := elements(events.BlockScope{IP: "10.0.0.1", Port: 53})
	if err != nil || len(els) != 2 {
		t.Fatalf("port without transport: %v %v", els, err)
	}
	if _, err := elements(events.BlockScope{IP: "10.0.0.1", PeerIP: "2001:db8::1"}); err == nil {
		t.Error("a mixed-family pair was encoded")
	}
	if _, err := decode(setP4, []byte{1, 2, 3}); err == nil {
		t.Error("a short key was decoded")
	}
}

// TestBackendReadsBack installs one entry of every kind in Vigil's own
// table and reads them back, leaves another table alone, re-applies
// idempotently, reports an element added by hand, and rebuilds a table
// whose rules were flushed behind its back.
func TestBackendReadsBack(t *testing.T) {
	l := newLab(t)
	b := newBackend(t, l)
	ctx := context.Background()
	l.nft(t, "add", "table", "inet", "other")
	l.nft(t, "add", "chain", "inet", "other", "c")

	exp := time.Now().Add(time.Hour)
	want := []enforce.Entry{
		{ID: "req-0000000000000001", Scope: events.BlockScope{IP: "10.0.0.1"}},
		{ID: "req-0000000000000002", Scope: events.BlockScope{IP: "2001:db8::1", PeerIP: "2001:db8::2"}},
		{ID: "req-0000000000000003", Scope: events.BlockScope{IP: "10.0.0.1", Port: 53}},
		{ID: "req-0000000000000004", Scope: events.BlockScope{IP: "10.0.0.1", PeerIP: "203.0.113.9", Port: 443, Transport: "tcp"}},
		{ID: "req-0000000000000005", Scope: events.BlockScope{MAC: "00:12:21:4e:0a:12"}},
	}
	for i := range want {
		want[i].Expires = exp
	}
	if err := b.Apply(ctx, want, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(ctx, want, nil); err != nil { // idempotent
		t.Fatal(err)
	}
	got, err := b.Actual(ctx)
	if err != nil {
		t.Fatal(err)
	}
	strip := func(es []enforce.Entry) []enforce.Entry {
		out := make([]enforce.Entry, len(es))
		for i, e := range es {
			out[i] = enforce.Entry{ID: e.ID, Scope: e.Scope}
		}
		return out
	}
	if diff := cmp.Diff(strip(want), got); diff != "" {
		t.Fatalf("actual (-want +got):\n%s", diff)
	}
	if out := l.nft(t, "list", "set", "inet", "vigil", "f4"); !strings.Contains(out, "timeout") || !strings.Contains(out, `comment "req-0000000000000004"`) {
		t.Errorf("f4 lacks timeout or label:\n%s", out)
	}

	// An element added by hand is reported under an unlabelled ID.
	l.nft(t, "add", "element", "inet", "vigil", "a4", "{ 192.0.2.7 }")
	got, err = b.Actual(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var hand *enforce.Entry
	for i := range got {
		if strings.HasPrefix(got[i].ID, "unlabelled:") {
			hand = &got[i]
		}
	}
	if hand == nil || hand.Scope.IP != "192.0.2.7" {
		t.Fatalf("hand-added element not reported: %+v", got)
	}
	if err := b.Apply(ctx, nil, []enforce.Entry{*hand, want[0], want[0]}); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(ctx, nil, []enforce.Entry{want[0]}); err != nil { // already gone
		t.Fatal(err)
	}
	got, _ = b.Actual(ctx)
	if diff := cmp.Diff(strip(want[1:]), got); diff != "" {
		t.Fatalf("after removal (-want +got):\n%s", diff)
	}

	// Rules flushed by hand: nothing is enforced, so nothing is reported,
	// and the next Apply rebuilds the table.
	l.nft(t, "flush", "chain", "inet", "vigil", "block")
	if got, _ := b.Actual(ctx); len(got) != 0 {
		t.Fatalf("a table without rules reports %d entries", len(got))
	}
	if err := b.Apply(ctx, want[1:], nil); err != nil {
		t.Fatal(err)
	}
	got, _ = b.Actual(ctx)
	if diff := cmp.Diff(strip(want[1:]), got); diff != "" {
		t.Fatalf("after rebuild (-want +got):\n%s", diff)
	}
	if out := l.nft(t, "list", "tables"); !strings.Contains(out, "table inet other") {
		t.Fatalf("the other table was touched:\n%s", out)
	}
	if err := b.Remove(); err != nil {
		t.Fatal(err)
	}
	if out := l.nft(t, "list", "tables"); strings.Contains(out, "vigil") || !strings.Contains(out, "other") {
		t.Fatalf("remove: %s", out)
	}
}

// TestBackendDropsTraffic checks that each kind of scope drops what it
// names and nothing else, in the forward path of fw.
func TestBackendDropsTraffic(t *testing.T) {
	l := newLab(t)
	b := newBackend(t, l)
	ctx := context.Background()
	if c80, c443, p := l.connects(t, 80), l.connects(t, 443), l.pings(t); !c80 || !c443 || !p {
		t.Fatalf("A and B do not talk before any block: tcp/80 %v, tcp/443 %v, ping %v", c80, c443, p)
	}
	exp := time.Now().Add(time.Hour)
	flow := enforce.Entry{ID: "req-00000000000000f1", Scope: events.BlockScope{IP: addrA, PeerIP: addrB, Port: 443, Transport: "tcp"}, Expires: exp}
	if err := b.Apply(ctx, []enforce.Entry{flow}, nil); err != nil {
		t.Fatal(err)
	}
	if l.connects(t, 443) {
		t.Error("flow block: A still reaches B:443")
	}
	if !l.connects(t, 80) || !l.pings(t) {
		t.Error("flow block: A no longer reaches B:80 or B's ping (too wide)")
	}
	pair := enforce.Entry{ID: "req-00000000000000f2", Scope: events.BlockScope{IP: addrB, PeerIP: addrA}, Expires: exp}
	if err := b.Apply(ctx, []enforce.Entry{pair}, []enforce.Entry{flow}); err != nil {
		t.Fatal(err)
	}
	if l.connects(t, 80) || l.pings(t) {
		t.Error("pair block (reversed order): A still reaches B")
	}
	if err := b.Apply(ctx, nil, []enforce.Entry{pair}); err != nil {
		t.Fatal(err)
	}
	if !l.connects(t, 443) || !l.pings(t) {
		t.Error("after removal: A does not reach B")
	}
	svc := enforce.Entry{ID: "req-00000000000000f3", Scope: events.BlockScope{IP: addrB, Port: 80}, Expires: exp}
	if err := b.Apply(ctx, []enforce.Entry{svc}, nil); err != nil {
		t.Fatal(err)
	}
	if l.connects(t, 80) || !l.connects(t, 443) {
		t.Error("service block: want B:80 blocked and B:443 open")
	}
	if err := b.Apply(ctx, nil, []enforce.Entry{svc}); err != nil {
		t.Fatal(err)
	}

	// A MAC block drops the frames of A's interface arriving at fw.
	out, err := exec.Command("ip", "netns", "exec", l.a, "cat", "/sys/class/net/va/address").Output()
	if err != nil {
		t.Fatal(err)
	}
	mac := enforce.Entry{ID: "req-00000000000000f4", Scope: events.BlockScope{MAC: strings.TrimSpace(string(out))}, Expires: exp}
	if err := b.Apply(ctx, []enforce.Entry{mac}, nil); err != nil {
		t.Fatal(err)
	}
	if l.connects(t, 443) || l.pings(t) {
		t.Error("MAC block: A still reaches B")
	}
	if err := b.Apply(ctx, nil, []enforce.Entry{mac}); err != nil {
		t.Fatal(err)
	}
	if !l.connects(t, 443) {
		t.Error("after the MAC block: A does not reach B")
	}

	// IPv6: a flow block in f6 drops A's TCP to B:443 over IPv6 only.
	if !l.connects6(t, 443) {
		t.Fatal("A does not reach B over IPv6 before any block")
	}
	flow6 := enforce.Entry{ID: "req-00000000000000f6", Scope: events.BlockScope{IP: addrA6, PeerIP: addrB6, Port: 443, Transport: "tcp"}, Expires: exp}
	if err := b.Apply(ctx, []enforce.Entry{flow6}, nil); err != nil {
		t.Fatal(err)
	}
	if l.connects6(t, 443) {
		t.Error("IPv6 flow block: A still reaches B:443 over IPv6")
	}
	if !l.connects(t, 443) {
		t.Error("IPv6 flow block also drops IPv4")
	}
	addr6 := enforce.Entry{ID: "req-00000000000000f7", Scope: events.BlockScope{IP: addrB6}, Expires: exp}
	if err := b.Apply(ctx, []enforce.Entry{addr6}, []enforce.Entry{flow6}); err != nil {
		t.Fatal(err)
	}
	if l.connects6(t, 443) {
		t.Error("IPv6 address block: A still reaches B over IPv6")
	}
	if err := b.Apply(ctx, nil, []enforce.Entry{addr6}); err != nil {
		t.Fatal(err)
	}
	if !l.connects6(t, 443) {
		t.Error("after the IPv6 blocks: A does not reach B over IPv6")
	}
}
