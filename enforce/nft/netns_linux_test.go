//go:build linux

package nft

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// lab is three network namespaces: host A (10.77.1.2) and host B
// (10.77.2.2) talk through fw (10.77.1.1, 10.77.2.1), which forwards and
// is where Vigil enforces. B serves TCP on ports 80 and 443.
type lab struct {
	a, fw, b string
	fwPath   string
}

const (
	addrA  = "10.77.1.2"
	addrB  = "10.77.2.2"
	addrA6 = "fd77:1::2"
	addrB6 = "fd77:2::2"
)

var labSeq atomic.Int32

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("nftables tests need root (CI runs as root)")
		}
		t.Skip("nftables tests need root: run as root to test enforcement in network namespaces")
	}
}

func newLab(t testing.TB) *lab {
	t.Helper()
	requireRoot(t)
	id := fmt.Sprintf("%d-%d", os.Getpid()%100000, labSeq.Add(1))
	l := &lab{a: "vgl-a-" + id, fw: "vgl-fw-" + id, b: "vgl-b-" + id}
	l.fwPath = "/var/run/netns/" + l.fw
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{l.a, l.fw, l.b} {
		_ = exec.Command("ip", "netns", "del", ns).Run()
		run("ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	in := func(ns string, args ...string) {
		t.Helper()
		run(append([]string{"ip", "netns", "exec", ns}, args...)...)
	}
	run("ip", "link", "add", "va", "netns", l.a, "type", "veth", "peer", "name", "fa", "netns", l.fw)
	run("ip", "link", "add", "vb", "netns", l.b, "type", "veth", "peer", "name", "fb", "netns", l.fw)
	in(l.a, "ip", "addr", "add", addrA+"/24", "dev", "va")
	in(l.fw, "ip", "addr", "add", "10.77.1.1/24", "dev", "fa")
	in(l.fw, "ip", "addr", "add", "10.77.2.1/24", "dev", "fb")
	in(l.b, "ip", "addr", "add", addrB+"/24", "dev", "vb")
	for _, x := range [][2]string{{l.a, "va"}, {l.a, "lo"}, {l.fw, "fa"}, {l.fw, "fb"}, {l.fw, "lo"}, {l.b, "vb"}, {l.b, "lo"}} {
		in(x[0], "ip", "link", "set", x[1], "up")
	}
	in(l.a, "ip", "route", "add", "default", "via", "10.77.1.1")
	in(l.b, "ip", "route", "add", "default", "via", "10.77.2.1")
	in(l.fw, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	// IPv6 beside IPv4, without duplicate address detection's delay.
	in(l.a, "ip", "addr", "add", addrA6+"/64", "dev", "va", "nodad")
	in(l.fw, "ip", "addr", "add", "fd77:1::1/64", "dev", "fa", "nodad")
	in(l.fw, "ip", "addr", "add", "fd77:2::1/64", "dev", "fb", "nodad")
	in(l.b, "ip", "addr", "add", addrB6+"/64", "dev", "vb", "nodad")
	in(l.a, "ip", "-6", "route", "add", "default", "via", "fd77:1::1")
	in(l.b, "ip", "-6", "route", "add", "default", "via", "fd77:2::1")
	in(l.fw, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	for _, port := range []int{80, 443} {
		l.serve(t, "tcp4", addrB, port)
	}
	l.serve(t, "tcp6", addrB6, 443)
	return l
}

// inNS runs fn on an OS thread switched into the namespace; the thread is
// never switched back and ends with the goroutine.
func inNS(t testing.TB, ns string, fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		fd, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Errorf("open netns %s: %v", ns, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			t.Errorf("setns %s: %v", ns, err)
			return
		}
		fn()
	}()
	<-done
}

// serve accepts and closes TCP connections on B's address and port.
func (l *lab) serve(t testing.TB, network, addr string, port int) {
	var ln net.Listener
	inNS(t, l.b, func() {
		var err error
		ln, err = net.Listen(network, net.JoinHostPort(addr, fmt.Sprint(port)))
		if err != nil {
			t.Fatalf("listen in %s: %v", l.b, err)
		}
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// connects reports whether A completes a TCP handshake with B's port
// within the timeout.
func (l *lab) connects(t testing.TB, port int) bool {
	t.Helper()
	return l.dials(t, "tcp4", addrB, port)
}

// connects6 is connects over IPv6.
func (l *lab) connects6(t testing.TB, port int) bool {
	t.Helper()
	return l.dials(t, "tcp6", addrB6, port)
}

func (l *lab) dials(t testing.TB, network, addr string, port int) bool {
	t.Helper()
	ok := false
	inNS(t, l.a, func() {
		d := net.Dialer{Timeout: 400 * time.Millisecond}
		c, err := d.DialContext(context.Background(), network, net.JoinHostPort(addr, fmt.Sprint(port)))
		if err == nil {
			c.Close()
			ok = true
		}
	})
	return ok
}

// pings reports whether B answers one ICMP echo from A.
func (l *lab) pings(t testing.TB) bool {
	t.Helper()
	ok := false
	inNS(t, l.a, func() {
		c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		if err != nil {
			t.Errorf("icmp socket: %v", err)
			return
		}
		defer c.Close()
		id := os.Getpid() & 0xffff
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("vigil")}}
		b, _ := msg.Marshal(nil)
		if _, err := c.WriteTo(b, &net.IPAddr{IP: net.ParseIP(addrB)}); err != nil {
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 1500)
		for {
			n, peer, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			m, err := icmp.ParseMessage(1, buf[:n])
			if err == nil && m.Type == ipv4.ICMPTypeEchoReply && peer.String() == addrB {
				ok = true
				return
			}
		}
	})
	return ok
}

// nft runs the nft command line in fw (the hand of an administrator).
func (l *lab) nft(t testing.TB, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the nft command is missing (Debian package nftables, rig/install-deps.sh)")
		}
		t.Skip("the nft command is missing: install the Debian package nftables")
	}
	out, err := exec.Command("ip", append([]string{"netns", "exec", l.fw, "nft"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
