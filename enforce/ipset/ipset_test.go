package ipset

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/events"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

func newScript(t testing.TB, mod func(*Configuration)) (*Script, *clock) {
	t.Helper()
	cfg := DefaultConfiguration()
	cfg.Path = filepath.Join(t.TempDir(), "vigil.sh")
	if mod != nil {
		mod(&cfg)
	}
	clk := &clock{t: t0}
	s, err := New(cfg, Dependencies{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s, clk
}

var (
	host = enforce.Entry{ID: "host", Scope: events.BlockScope{IP: "10.20.0.102"}, Expires: t0.Add(time.Hour), Reason: `pump "talks" to the internet`}
	cidr = enforce.Entry{ID: "net", Scope: events.BlockScope{IP: "203.0.113.0/24"}}
	pair = enforce.Entry{ID: "pair", Scope: events.BlockScope{IP: "10.20.0.17", PeerIP: "203.0.113.7"}}
	port = enforce.Entry{ID: "port", Scope: events.BlockScope{IP: "10.20.0.18", Port: 23, Transport: "tcp"}}
	flow = enforce.Entry{ID: "flow", Scope: events.BlockScope{IP: "10.20.0.17", PeerIP: "203.0.113.7", Port: 443, Transport: "tcp"}, Expires: t0.Add(90 * time.Second)}
	v6   = enforce.Entry{ID: "v6", Scope: events.BlockScope{IP: "2001:db8::7", PeerIP: "2001:db8::/64", Port: 53, Transport: "udp"}}
)

func read(t *testing.T, s *Script) []enforce.Entry {
	t.Helper()
	got, err := s.Actual(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

var byID = cmpopts.SortSlices(func(a, b enforce.Entry) bool { return a.ID < b.ID })

func TestAddReAddRemoveReadBack(t *testing.T) {
	s, clk := newScript(t, nil)
	ctx := context.Background()
	if got := read(t, s); len(got) != 0 {
		t.Fatalf("no file yet, Actual = %v", got)
	}
	all := []enforce.Entry{host, cidr, pair, port, flow, v6}
	if err := s.Apply(ctx, all, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, all, nil); err != nil {
		t.Fatalf("re-add: %v", err)
	}
	want := append([]enforce.Entry(nil), all...)
	want[0].Reason = "pump  talks  to the internet" // quotes cannot be in an ipset comment
	if diff := cmp.Diff(want, read(t, s), byID); diff != "" {
		t.Errorf("Actual (-want +got):\n%s", diff)
	}
	script, _ := os.ReadFile(s.cfg.Path)
	for _, line := range []string{
		`add vigil-net4-t 10.20.0.102 timeout 3600 comment "vigil id=host expires=2026-01-05T09:00:00Z reason=pump  talks  to the internet"`,
		`add vigil-net4-t 203.0.113.0/24 comment "vigil id=net"`,
		`add vigil-pair4-t 10.20.0.17,203.0.113.7 comment "vigil id=pair"`,
		`add vigil-port4-t 10.20.0.18,tcp:23 comment "vigil id=port"`,
		`add vigil-flow4-t 10.20.0.17,tcp:443,203.0.113.7 timeout 90 comment "vigil id=flow expires=2026-01-05T08:01:30Z"`,
		`add vigil-flow6-t 2001:db8::7,udp:53,2001:db8::/64 comment "vigil id=v6"`,
		`-A vigil-block -m set --match-set vigil-flow4 src,dst,dst -j DROP`,
		`iptables -w -C FORWARD -j vigil-block 2>/dev/null || iptables -w -I FORWARD 1 -j vigil-block`,
		`ip6tables -w -C FORWARD -j vigil-block 2>/dev/null || ip6tables -w -I FORWARD 1 -j vigil-block`,
	} {
		if !bytes.Contains(script, []byte(line+"\n")) {
			t.Errorf("script lacks %q", line)
		}
	}
	if st, _ := os.Stat(s.cfg.Path); st.Mode().Perm() != 0o750 {
		t.Errorf("script mode %v", st.Mode())
	}

	// Removing twice; an expired entry is dropped at the next write.
	for range 2 {
		if err := s.Apply(ctx, nil, []enforce.Entry{pair, v6}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(2 * time.Minute)
	if err := s.Apply(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]enforce.Entry{want[0], cidr, port}, read(t, s), byID); diff != "" {
		t.Errorf("Actual after remove and expiry (-want +got):\n%s", diff)
	}
	if script, _ := os.ReadFile(s.cfg.Path); !bytes.Contains(script, []byte("timeout 3480 comment")) {
		t.Errorf("the remaining timeout of host was not recomputed:\n%s", script)
	}
}

func TestDriftIsDetected(t *testing.T) {
	s, _ := newScript(t, nil)
	if err := s.Apply(context.Background(), []enforce.Entry{cidr, port}, nil); err != nil {
		t.Fatal(err)
	}
	// Someone deletes a line by hand.
	script, _ := os.ReadFile(s.cfg.Path)
	var kept []string
	for l := range strings.SplitSeq(string(script), "\n") {
		if !strings.Contains(l, "id=port") {
			kept = append(kept, l)
		}
	}
	os.WriteFile(s.cfg.Path, []byte(strings.Join(kept, "\n")), 0o750)
	if diff := cmp.Diff([]enforce.Entry{cidr}, read(t, s)); diff != "" {
		t.Errorf("Actual after a line was deleted (-want +got):\n%s", diff)
	}
	// Someone writes something else there: a clear error, and no overwrite.
	os.WriteFile(s.cfg.Path, []byte("#!/bin/sh\nipset flush\n"), 0o750)
	_, err := s.Actual(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not a script Vigil can read back") {
		t.Errorf("foreign file: %v", err)
	}
	if err := s.Apply(context.Background(), []enforce.Entry{cidr}, nil); err == nil {
		t.Error("Apply overwrote a file it cannot read")
	}
}

func TestUnwritable(t *testing.T) {
	s, _ := newScript(t, func(c *Configuration) { c.Path = "/nonexistent-dir/vigil.sh" })
	err := s.Apply(context.Background(), []enforce.Entry{cidr}, nil)
	if err == nil || !strings.Contains(err.Error(), "ipset ipset: write /nonexistent-dir/vigil.sh") {
		t.Errorf("unwritable path: %v", err)
	}
}

func TestRunFailureIsReported(t *testing.T) {
	s, _ := newScript(t, func(c *Configuration) {
		c.Run = []string{"/bin/sh", "-c", `echo "ipset v7: Kernel error" >&2; exit 3`, "sh"}
	})
	err := s.Apply(context.Background(), []enforce.Entry{cidr}, nil)
	if err == nil || !strings.Contains(err.Error(), "exit status 3: ipset v7: Kernel error") {
		t.Errorf("failing run: %v", err)
	}
}

func TestSupports(t *testing.T) {
	s, _ := newScript(t, func(c *Configuration) { c.IPv6 = false })
	for _, e := range []enforce.Entry{host, cidr, pair, port, flow} {
		if !s.Supports(e.Scope) {
			t.Errorf("Supports(%+v) = false", e.Scope)
		}
	}
	for _, sc := range []events.BlockScope{
		v6.Scope, // IPv6 off
		{MAC: "00:11:22:33:44:55"},
		{IP: "10.0.0.1", Port: 80},
		{IP: "10.0.0.1", Port: 80, Transport: "icmp"},
		{IP: "10.0.0.1", PeerIP: "2001:db8::1"},
		{IP: "10.0.0.0/0"},
		{IP: "10.0.0.1/24"},
		{IP: "::ffff:10.0.0.1"},
	} {
		if s.Supports(sc) {
			t.Errorf("Supports(%+v) = true", sc)
		}
		if err := s.Apply(context.Background(), []enforce.Entry{{ID: "x", Scope: sc}}, nil); err == nil {
			t.Errorf("Apply(%+v) accepted", sc)
		}
	}
	if err := s.Apply(context.Background(), []enforce.Entry{{ID: `a" ; rm -rf /`, Scope: cidr.Scope}}, nil); err == nil {
		t.Error("an ID that would break out of the comment was accepted")
	}
}

func TestMaxElements(t *testing.T) {
	s, _ := newScript(t, func(c *Configuration) { c.MaxElements = 2 })
	var es []enforce.Entry
	for i := range 3 {
		es = append(es, enforce.Entry{ID: fmt.Sprint(i), Scope: events.BlockScope{IP: fmt.Sprintf("10.0.0.%d", i)}})
	}
	err := s.Apply(context.Background(), es, nil)
	if err == nil || !strings.Contains(err.Error(), "3 entries for set vigil-net4, more than max_elements 2") {
		t.Errorf("too many: %v", err)
	}
}

func TestConfigurationValidate(t *testing.T) {
	c := DefaultConfiguration()
	c.Path, c.SetPrefix, c.Chains = "rel.sh", "a-very-long-prefix-name", []string{"PREROUTING"}
	var all []string
	for _, e := range c.Validate() {
		all = append(all, e.Error())
	}
	msg := strings.Join(all, "\n")
	for _, want := range []string{"path:", "set_prefix:", "chains[0]:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("no error about %s in:\n%s", want, msg)
		}
	}
}

// TestRealIPSet applies the script with the real ipset and iptables in a
// network namespace of its own, and checks that a blocked connection is
// dropped and flows again once the block is removed.
func TestRealIPSet(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace, ipset and iptables")
	}
	for _, bin := range []string{"ip", "ipset", "iptables", "iptables-restore", "ip6tables-restore"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (Debian packages iproute2, ipset, iptables; rig/install-deps.sh)", bin)
		}
	}
	ns := fmt.Sprintf("vigil-ipset-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	inNS := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	inNS("ip", "link", "set", "lo", "up")

	s, _ := newScript(t, func(c *Configuration) {
		c.Chains = []string{"OUTPUT", "FORWARD"}
		c.Run = []string{"ip", "netns", "exec", ns, "/bin/sh"}
	})
	ctx := context.Background()
	// Loopback traffic from 127.0.0.1 to 127.0.0.2:8080 passes OUTPUT.
	block := enforce.Entry{ID: "lo-flow", Scope: events.BlockScope{IP: "127.0.0.1", PeerIP: "127.0.0.2", Port: 8080, Transport: "tcp"}}
	all := []enforce.Entry{host, cidr, port, flow, v6, block}
	pairs := exec.Command("ip", "netns", "exec", ns, "ipset", "create", "probe", "hash:net,net").Run() == nil
	if pairs {
		all = append(all, pair)
	} else {
		// This kernel lacks hash:net,net: a pair block fails with the
		// kernel's reason, and the file goes back to what is enforced.
		err := s.Apply(ctx, append(all, pair), nil)
		if err == nil || !strings.Contains(err.Error(), "set type not supported") {
			t.Fatalf("pair block on a kernel without hash:net,net: %v", err)
		}
		t.Logf("kernel without hash:net,net: %v", err)
		if got := read(t, s); len(got) != 0 {
			t.Fatalf("Actual after a failed run: %v", got)
		}
	}
	if err := s.Apply(ctx, all, nil); err != nil {
		t.Fatal(err)
	}
	save := inNS("ipset", "save")
	for _, want := range []string{
		"add vigil-net4 10.20.0.102 timeout ",
		`add vigil-flow4 10.20.0.17,tcp:443,203.0.113.7 timeout `,
		`add vigil-port4 10.20.0.18,tcp:23 timeout 0 comment "vigil id=port"`,
		`add vigil-flow6 2001:db8::7,udp:53,2001:db8::/64 timeout 0 comment "vigil id=v6"`,
		`add vigil-flow4 127.0.0.1,tcp:8080,127.0.0.2 timeout 0 comment "vigil id=lo-flow"`,
	} {
		if !strings.Contains(save, want) {
			t.Errorf("ipset save lacks %q:\n%s", want, save)
		}
	}
	connect := func() string {
		t.Helper()
		if _, err := exec.LookPath("python3"); err != nil {
			t.Skip("python3 not installed: the traffic check needs it")
		}
		return strings.TrimSpace(inNS("python3", "-c", `
import socket
s = socket.socket()
s.settimeout(1)
s.bind(("127.0.0.1", 0))
try:
    s.connect(("127.0.0.2", 8080))
    print("open")
except socket.timeout:
    print("dropped")
except ConnectionRefusedError:
    print("refused")
`))
	}
	if got := connect(); got != "dropped" {
		t.Errorf("blocked connection: %s, want dropped", got)
	}

	// Apply again: the sets are replaced, the rules not duplicated.
	if err := s.Apply(ctx, nil, []enforce.Entry{block, pair}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	save = inNS("ipset", "save")
	if strings.Contains(save, "id=lo-flow") || strings.Contains(save, "id=pair") || strings.Contains(save, "-t ") {
		t.Errorf("removed entries or temporary sets remain:\n%s", save)
	}
	rules := inNS("iptables", "-S")
	if n := strings.Count(rules, "-A OUTPUT -j vigil-block"); n != 1 {
		t.Errorf("%d jumps from OUTPUT, want 1:\n%s", n, rules)
	}
	// net 2, port 4, flow 4: the pair set is no longer matched.
	if n := strings.Count(rules, "-A vigil-block "); n != 10 {
		t.Errorf("%d rules in vigil-block, want 10:\n%s", n, rules)
	}
	if got := connect(); got != "refused" {
		t.Errorf("unblocked connection: %s, want refused (nothing listens, but packets flow)", got)
	}
	if diff := cmp.Diff([]string{"flow", "host", "net", "port", "v6"}, ids(read(t, s))); diff != "" {
		t.Errorf("Actual (-want +got):\n%s", diff)
	}
}

func ids(es []enforce.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	sort.Strings(out)
	return out
}

func FuzzParseScript(f *testing.F) {
	cfg := DefaultConfiguration()
	lines := []line{}
	for _, e := range []enforce.Entry{host, cidr, pair, port, flow, v6} {
		el, _ := elementOf(e.Scope)
		lines = append(lines, line{el: el, timeout: 60, comment: comment(e)})
	}
	f.Add(render(cfg, lines))
	f.Add([]byte(ipsetBegin + "\nadd vigil-net4-t 10.0.0.1 comment \"vigil id=a\"\n" + ipsetEnd + "\n"))
	f.Add([]byte(ipsetBegin + "\nadd vigil-port6-t 2001:db8::1,tcp:22 timeout 5 comment \"vigil id=b reason=x\"\n" + ipsetEnd + "\n"))
	f.Add([]byte("#!/bin/sh\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := ParseScript(bytes.NewReader(b), "vigil")
		if err != nil {
			return
		}
		// Everything read back can be written again and reads the same.
		var ls []line
		for _, e := range es {
			el, err := elementOf(e.Scope)
			if err != nil {
				t.Fatalf("read back an entry it cannot write: %+v: %v", e, err)
			}
			e.Reason = cleanReason(e.Reason)
			ls = append(ls, line{el: el, comment: comment(e)})
		}
		cfg := DefaultConfiguration()
		es2, err := ParseScript(bytes.NewReader(render(cfg, ls)), "vigil")
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if len(es2) != len(es) {
			t.Fatalf("%d entries re-read as %d", len(es), len(es2))
		}
	})
}

func BenchmarkApply10k(b *testing.B) {
	s, _ := newScript(b, nil)
	add := make([]enforce.Entry, 10_000)
	for i := range add {
		add[i] = enforce.Entry{ID: fmt.Sprintf("req-%05d", i), Scope: events.BlockScope{IP: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), PeerIP: "203.0.113.7", Port: 443, Transport: "tcp"}, Expires: t0.Add(time.Hour), Reason: "bench"}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Apply(ctx, add, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(s.cfg.Path)
		b.StartTimer()
	}
}
