//go:build linux

package capture

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/sys/unix"

	"github.com/vigil-health/vigil/capture/protocols"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

// netns is a network namespace with a veth pair "cap" <-> "inj" in it:
// the sensor listens on cap, the test injects frames into inj.
type netns struct {
	name string
	path string
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("live capture tests need root (CI runs as root)")
		}
		t.Skip("live capture tests need root: run as root to test AF_PACKET")
	}
	n := &netns{name: fmt.Sprintf("vigil-cap-%d", os.Getpid())}
	n.path = "/var/run/netns/" + n.name
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	_ = exec.Command("ip", "netns", "del", n.name).Run()
	run("ip", "netns", "add", n.name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.name).Run() })
	in := func(args ...string) { run(append([]string{"ip", "netns", "exec", n.name}, args...)...) }
	in("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	in("ip", "link", "add", "cap", "type", "veth", "peer", "name", "inj")
	in("ip", "link", "set", "cap", "up")
	in("ip", "link", "set", "inj", "up")
	return n
}

// do runs fn on an OS thread switched into the namespace. The thread is
// never switched back: it ends with the goroutine.
func (n *netns) do(t *testing.T, fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // not unlocked: the thread dies with the goroutine
		fd, err := unix.Open(n.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Errorf("open %s: %v", n.path, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			t.Errorf("setns: %v", err)
			return
		}
		fn()
	}()
	<-done
}

// inject writes every frame of the captures into inj, in order.
func (n *netns) inject(t *testing.T, files []string) int {
	sent := 0
	n.do(t, func() {
		tp, err := afpacket.NewTPacket(afpacket.OptInterface("inj"))
		if err != nil {
			t.Errorf("injector: %v", err)
			return
		}
		defer tp.Close()
		src, err := NewFileSource(files)
		if err != nil {
			t.Error(err)
			return
		}
		defer src.Close()
		var p Packet
		for src.Next(&p) == nil {
			if err := tp.WritePacketData(p.Data); err != nil {
				t.Errorf("inject: %v", err)
				return
			}
			sent++
			if sent%64 == 0 {
				time.Sleep(time.Millisecond) // let the capture side keep up, as a mirror port paces frames
			}
		}
	})
	return sent
}

type syncRecorder struct {
	mu   sync.Mutex
	msgs []events.Message
}

func (r *syncRecorder) Publish(_ context.Context, m events.Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	return nil
}

// flowKeys summarises flows without times (live timestamps differ from
// the file's).
func flowKeys(msgs []events.Message) []string {
	var out []string
	for _, m := range msgs {
		if e, ok := m.(events.Event[events.Flow]); ok && e.Body.Phase == events.FlowEnd {
			f := e.Body
			out = append(out, fmt.Sprintf("%s %s:%d>%s:%d pkts=%d/%d bytes=%d/%d %s %s %s",
				f.Transport, f.Orig.IP, f.Orig.Port, f.Resp.IP, f.Resp.Port, f.OrigPackets, f.RespPackets,
				f.OrigBytes, f.RespBytes, f.State, f.History, f.AppProto))
		}
		if e, ok := m.(events.Event[events.Observation]); ok {
			o := e.Body
			out = append(out, fmt.Sprintf("obs %s %s=%s", o.Device, o.Attribute, o.Value))
		}
	}
	slices.Sort(out)
	return out
}

// TestLiveCaptureMatchesFiles replays real captures into a veth pair and
// captures them live with two fanout workers: the flows and observations
// must be those of reading the files (flows never split between workers),
// and a capture filter must drop what it excludes.
func TestLiveCaptureMatchesFiles(t *testing.T) {
	ns := newNetns(t)
	files := []string{
		testshared.Pcap(t, "ntop_nDPI/tests/cfgs/default/pcap/hl7.pcap"),
		testshared.Pcap(t, "zeek_zeek/testing/btest/Traces/dhcp/dhcp.pcap"),
		testshared.Pcap(t, "ntop_nDPI/tests/cfgs/default/pcap/443-curl.pcap"),
		testshared.Pcap(t, "chrissanders_packets/arppoison.pcapng"),
	}
	fileRec := &syncRecorder{}
	cfg := DefaultConfiguration()
	cfg.Files = files
	fc, err := New(cfg, Dependencies{Publisher: fileRec, Dissectors: protocols.Dissectors})
	if err != nil {
		t.Fatal(err)
	}
	if err := fc.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := flowKeys(fileRec.msgs)

	for _, c := range []struct{ name, filter string }{
		{"all", ""},
		{"filtered", "not tcp port 443"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := &syncRecorder{}
			lcfg := DefaultConfiguration()
			lcfg.Interface, lcfg.Workers, lcfg.Filter = "cap", 2, c.filter
			lcfg.HealthInterval, lcfg.SilentAfter, lcfg.PollInterval = time.Second, time.Second, 100*time.Millisecond
			lc, err := New(lcfg, Dependencies{Publisher: rec, Dissectors: protocols.Dissectors})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			runErr := make(chan error, 1)
			ready := make(chan struct{})
			go ns.do(t, func() {
				// Run opens the sockets in the namespace, then workers read
				// them from any thread.
				close(ready)
				runErr <- lc.Run(ctx)
			})
			<-ready
			time.Sleep(300 * time.Millisecond) // sockets bound
			sent := ns.inject(t, files)
			deadline := time.Now().Add(20 * time.Second)
			for lc.Stats().Packets < uint64(sent) && c.filter == "" && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(2500 * time.Millisecond) // silence: the port goes quiet
			cancel()
			if err := <-runErr; err != nil {
				t.Fatal(err)
			}
			st := lc.Stats()
			if st.KernelDrops != 0 {
				t.Logf("kernel dropped %d packets", st.KernelDrops)
			}
			got := flowKeys(rec.msgs)
			exp := want
			if c.filter != "" {
				exp = nil
				for _, k := range want {
					// The filter drops the TLS connection, and with it
					// the facts its handshake carried.
					if !containsPort443(k) && !strings.Contains(k, " tls.") {
						exp = append(exp, k)
					}
				}
			}
			if diff := cmp.Diff(exp, got); diff != "" {
				t.Errorf("live capture (-files +live), %d sent, stats %+v:\n%s", sent, st, diff)
			}
			silent := false
			for _, m := range rec.msgs {
				if h, ok := m.(events.Event[events.Health]); ok && h.Body.Silent && h.Body.Interface == "cap" {
					silent = true
				}
			}
			if !silent {
				t.Error("no health event reported the silent port")
			}
		})
	}
}

// containsPort443 tells whether a flow key is a TCP flow on port 443.
func containsPort443(k string) bool {
	return strings.HasPrefix(k, "tcp ") && (strings.Contains(k, ":443>") || strings.Contains(k, ":443 "))
}
