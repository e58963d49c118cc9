package ssh

import (
	"errors"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
)

var (
	clientIP = netip.MustParseAddr("10.0.0.5")
	serverIP = netip.MustParseAddr("10.0.0.9")
)

func packet(fromClient bool) *dpi.Packet {
	p := &dpi.Packet{Transport: dpi.TCP, FromOrig: fromClient, FlowID: "f1",
		Src: clientIP, Dst: serverIP, SrcPort: 50000, DstPort: 22}
	if !fromClient {
		p.Src, p.Dst, p.SrcPort, p.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort
	}
	return p
}

// feeder plays bytes into a stream as the pipeline does: unconsumed bytes
// are offered again with the next piece, skips are honoured.
type feeder struct {
	s    dpi.Stream
	buf  [2][]byte
	skip [2]int
	done bool
	err  error
	out  dpi.Output
}

func (f *feeder) feed(fromClient bool, piece []byte) {
	if f.done {
		return
	}
	d := 1
	if fromClient {
		d = 0
	}
	if f.skip[d] >= len(piece) {
		f.skip[d] -= len(piece)
		return
	}
	piece = piece[f.skip[d]:]
	f.skip[d] = 0
	f.buf[d] = append(f.buf[d], piece...)
	n, err := f.s.Data(packet(fromClient), f.buf[d], &f.out)
	if err != nil {
		f.done = true
		if !errors.Is(err, dpi.ErrStreamDone) {
			f.err = err
		}
		return
	}
	if n >= len(f.buf[d]) {
		f.skip[d] = n - len(f.buf[d])
		f.buf[d] = f.buf[d][:0]
		return
	}
	f.buf[d] = append([]byte(nil), f.buf[d][max(n, 0):]...)
}

type fact struct {
	IP, Attr, Value string
}

func facts(out *dpi.Output) []fact {
	var fs []fact
	for _, o := range out.Observations {
		fs = append(fs, fact{o.IP, o.Attribute, o.Value})
	}
	return fs
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSplit plays the start of a real OpenSSH connection (testdata: the
// banners and KEXINITs of suricata-verify ssh-hassh, extracted with
// tshark -z follow,tcp,raw,1) cut at random points, directions
// interleaved.
func TestSplit(t *testing.T) {
	client := readFile(t, "testdata/openssh-client.bin")
	server := readFile(t, "testdata/openssh-server.bin")
	want := []fact{
		{"10.0.0.9", dpi.AttrSSHBanner, "SSH-2.0-OpenSSH_7.4"},
		{"10.0.0.5", dpi.AttrSSHBanner, "SSH-2.0-OpenSSH_for_Windows_7.7"},
		{"10.0.0.5", dpi.AttrOS, "Windows"},
		// suricata-verify ssh-hassh test.yaml: ssh.client.hassh.hash and
		// ssh.server.hassh.hash.
		{"10.0.0.9", dpi.AttrSSHHASSHServer, "6832f1ce43d4397c2c0a3e2f8c94334e"},
		{"10.0.0.5", dpi.AttrSSHHASSH, "2dd6531c7e89d3c925db9214711be76a"},
	}
	for seed := range uint64(200) {
		rng := mrand.New(mrand.NewPCG(seed, 3))
		f := &feeder{s: New().NewStream(packet(false))}
		// The server speaks first, then the pieces interleave.
		c, s := client, server
		first := true
		for len(c) > 0 || len(s) > 0 {
			fromClient := !first && (len(s) == 0 || len(c) > 0 && rng.IntN(2) == 0)
			first = false
			src := &s
			if fromClient {
				src = &c
			}
			n := 1 + rng.IntN(min(len(*src), 64))
			f.feed(fromClient, (*src)[:n])
			*src = (*src)[n:]
		}
		if f.err != nil {
			t.Fatalf("seed %d: %v", seed, f.err)
		}
		if !f.done {
			t.Fatalf("seed %d: stream not done after both KEXINITs", seed)
		}
		// The order of the two sides depends on the interleaving.
		got := facts(&f.out)
		if diff := cmp.Diff(sorted(want), sorted(got)); diff != "" {
			t.Fatalf("seed %d: facts (-want +got):\n%s", seed, diff)
		}
	}
}

func sorted(fs []fact) []fact {
	out := slices.Clone(fs)
	slices.SortFunc(out, func(a, b fact) int {
		return strings.Compare(a.IP+a.Attr+a.Value, b.IP+b.Attr+b.Value)
	})
	return out
}

func TestBanners(t *testing.T) {
	cases := []struct {
		name           string
		server, client string
		want           []fact
	}{
		{"pre-banner lines and distribution", "Welcome\r\nauthorised use only\r\nSSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.1\r\n", "SSH-2.0-PuTTY_Release_0.78\r\n", []fact{
			{"10.0.0.9", dpi.AttrSSHBanner, "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.1"},
			{"10.0.0.9", dpi.AttrOS, "Ubuntu"},
			{"10.0.0.5", dpi.AttrSSHBanner, "SSH-2.0-PuTTY_Release_0.78"},
		}},
		{"debian, LF only", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\n", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\n", []fact{
			{"10.0.0.9", dpi.AttrSSHBanner, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"},
			{"10.0.0.9", dpi.AttrOS, "Debian"},
			{"10.0.0.5", dpi.AttrSSHBanner, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"},
			{"10.0.0.5", dpi.AttrOS, "Debian"},
		}},
		{"freebsd", "SSH-2.0-OpenSSH_7.8 FreeBSD-20180909\r\n", "", []fact{
			{"10.0.0.9", dpi.AttrSSHBanner, "SSH-2.0-OpenSSH_7.8 FreeBSD-20180909"},
			{"10.0.0.9", dpi.AttrOS, "FreeBSD"},
		}},
		{"protocol 1 connection", "SSH-1.99-OpenSSH_3.9p1\r\n", "SSH-1.5-OpenSSH_6.2\r\n", []fact{
			{"10.0.0.9", dpi.AttrSSHBanner, "SSH-1.99-OpenSSH_3.9p1"},
			{"10.0.0.9", dpi.AttrInsecureProtocol, "ssh1"},
			{"10.0.0.5", dpi.AttrSSHBanner, "SSH-1.5-OpenSSH_6.2"},
			{"10.0.0.5", dpi.AttrInsecureProtocol, "ssh1"},
			{"10.0.0.9", dpi.AttrInsecureProtocol, "ssh1"},
		}},
		{"control characters", "SSH-2.0-evil\x1b[31m\x00\r\n", "", []fact{
			{"10.0.0.9", dpi.AttrSSHBanner, "SSH-2.0-evil[31m"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &feeder{s: New().NewStream(packet(false))}
			f.feed(false, []byte(c.server))
			if c.client != "" {
				f.feed(true, []byte(c.client))
			}
			if f.err != nil {
				t.Fatal(f.err)
			}
			if diff := cmp.Diff(c.want, facts(&f.out)); diff != "" {
				t.Errorf("facts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"no banner", append([]byte("SSH-2.0-x"), make([]byte, maxLine)...)},
		{"too many lines", []byte(strings.Repeat("hello\r\n", maxPreLines+1))},
		{"huge packet", []byte("SSH-2.0-x\r\n\x7f\xff\xff\xff\x04\x14")},
		{"bad padding", []byte("SSH-2.0-x\r\n\x00\x00\x00\x06\x09\x14\x00\x00\x00\x00")},
		{"short kexinit", []byte("SSH-2.0-x\r\n\x00\x00\x00\x0c\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New().NewStream(packet(false))
			_, err := s.Data(packet(false), c.data, &dpi.Output{})
			if err == nil || errors.Is(err, dpi.ErrStreamDone) {
				t.Errorf("err = %v, want a malformed-stream error", err)
			}
		})
	}
}

// TestGap: a gap finishes its direction; the stream ends when both are.
func TestGap(t *testing.T) {
	s := New().NewStream(packet(false))
	var out dpi.Output
	if _, err := s.Data(packet(false), []byte("SSH-2.0-a\r\n"), &out); err != nil {
		t.Fatal(err)
	}
	s.Gap(true)
	if _, err := s.Data(packet(true), []byte("x"), &out); err != nil {
		t.Fatal(err)
	}
	s.Gap(false)
	if _, err := s.Data(packet(false), []byte("x"), &out); !errors.Is(err, dpi.ErrStreamDone) {
		t.Errorf("err = %v, want ErrStreamDone", err)
	}
}

// FuzzStream feeds random bytes, cut at random points, to both directions.
func FuzzStream(f *testing.F) {
	f.Add(readFile(f, "testdata/openssh-client.bin"), readFile(f, "testdata/openssh-server.bin"), uint64(1))
	f.Add([]byte("SSH-1.5-x\r\n"), []byte("hello\r\nSSH-1.99-y\r\n"), uint64(2))
	f.Fuzz(func(t *testing.T, client, server []byte, seed uint64) {
		rng := mrand.New(mrand.NewPCG(seed, 2))
		fd := &feeder{s: New().NewStream(packet(false))}
		for len(client) > 0 || len(server) > 0 {
			fromClient := len(server) == 0 || len(client) > 0 && rng.IntN(2) == 0
			src := &server
			if fromClient {
				src = &client
			}
			n := 1 + rng.IntN(len(*src))
			fd.feed(fromClient, (*src)[:n])
			*src = (*src)[n:]
			if rng.IntN(50) == 0 {
				fd.s.Gap(fromClient)
				fd.buf[0], fd.buf[1] = nil, nil
			}
		}
		fd.s.End(&fd.out)
		for _, o := range fd.out.Observations {
			if len(o.Value) > dpi.MaxValue || o.Value == "" {
				t.Fatalf("value %q", o.Value)
			}
		}
	})
}
