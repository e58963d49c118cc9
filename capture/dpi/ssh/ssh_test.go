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
	"github.com/vigil-health/vigil/capture/dpitest"
)

var conn = dpitest.Conn{Client: netip.MustParseAddrPort("10.0.0.5:50000"), Server: netip.MustParseAddrPort("10.0.0.9:22")}

func newFeeder(t testing.TB) *dpitest.Feeder {
	return dpitest.NewFeeder(t, New().NewStream(conn.Packet(false, nil)), conn.Packet)
}

type fact struct {
	IP, Attr, Value string
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
		f := newFeeder(t)
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
			f.Data(fromClient, (*src)[:n])
			*src = (*src)[n:]
		}
		if err := f.Failed(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if f.Err == nil {
			t.Fatalf("seed %d: stream not done after both KEXINITs", seed)
		}
		// The order of the two sides depends on the interleaving.
		got := dpitest.Facts[fact](f.Out.Observations)
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
			f := newFeeder(t)
			f.Data(false, []byte(c.server))
			if c.client != "" {
				f.Data(true, []byte(c.client))
			}
			if err := f.Failed(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, dpitest.Facts[fact](f.Out.Observations)); diff != "" {
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
			s := New().NewStream(conn.Packet(false, nil))
			_, err := s.Data(conn.Packet(false, nil), c.data, &dpi.Output{})
			if err == nil || errors.Is(err, dpi.ErrStreamDone) {
				t.Errorf("err = %v, want a malformed-stream error", err)
			}
		})
	}
}

// TestGap: a gap finishes its direction; the stream ends when both are.
func TestGap(t *testing.T) {
	s := New().NewStream(conn.Packet(false, nil))
	var out dpi.Output
	if _, err := s.Data(conn.Packet(false, nil), []byte("SSH-2.0-a\r\n"), &out); err != nil {
		t.Fatal(err)
	}
	s.Gap(true)
	if _, err := s.Data(conn.Packet(true, nil), []byte("x"), &out); err != nil {
		t.Fatal(err)
	}
	s.Gap(false)
	if _, err := s.Data(conn.Packet(false, nil), []byte("x"), &out); !errors.Is(err, dpi.ErrStreamDone) {
		t.Errorf("err = %v, want ErrStreamDone", err)
	}
}

// FuzzStream feeds random bytes, cut at random points, to both directions.
func FuzzStream(f *testing.F) {
	f.Add(readFile(f, "testdata/openssh-client.bin"), readFile(f, "testdata/openssh-server.bin"), uint64(1))
	f.Add([]byte("SSH-1.5-x\r\n"), []byte("hello\r\nSSH-1.99-y\r\n"), uint64(2))
	f.Fuzz(func(t *testing.T, client, server []byte, seed uint64) {
		fd := newFeeder(t)
		fd.Interleave(client, server, mrand.New(mrand.NewPCG(seed, 2)), 50)
		fd.End()
		dpitest.CheckValues(t, fd.Out.Observations)
	})
}
