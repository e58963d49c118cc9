package tls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	stdtls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
)

// TestJA4Spec checks the worked example of the FoxIO specification
// (technical_details/JA4.md) and its no-signature-algorithms variant.
func TestJA4Spec(t *testing.T) {
	ch := clientHello{
		hasSNI: true, hasVersions: true, versions: []uint16{0x0304, 0x0303},
		ciphers: []uint16{0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
			0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		extensions: []uint16{0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d,
			0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015},
		alpn:    []byte("h2"),
		sigAlgs: []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601},
	}
	if got, want := ch.ja4(), "t13d1516h2_8daaf6152771_e5627efa2ab1"; got != want {
		t.Errorf("ja4 = %s, want %s", got, want)
	}
	ch.sigAlgs = nil
	if got, want := ch.ja4(), "t13d1516h2_8daaf6152771_6d807ffa2a79"; got != want {
		t.Errorf("ja4 without signature algorithms = %s, want %s", got, want)
	}
	empty := clientHello{legacyVersion: 0x0301}
	if got, want := empty.ja4(), "t10i000000_000000000000_000000000000"; got != want {
		t.Errorf("empty ja4 = %s, want %s", got, want)
	}
}

// TestJA4ALPN checks the ALPN rules of the specification, including its
// hex examples.
func TestJA4ALPN(t *testing.T) {
	cases := []struct {
		in   []byte
		want string
	}{
		{nil, "00"},
		{[]byte("h2"), "h2"},
		{[]byte("http/1.1"), "h1"},
		{[]byte("h"), "hh"},
		{[]byte{0xab}, "ab"},
		{[]byte{0xab, 0xcd}, "ad"},
		{[]byte{0x30, 0xab}, "3b"},
		{[]byte{0x30, 0x31, 0xab, 0xcd}, "3d"},
		{[]byte{0x30, 0xab, 0xcd, 0x31}, "01"},
	}
	for _, c := range cases {
		if got := ja4ALPN(c.in); got != c.want {
			t.Errorf("ja4ALPN(%x) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestGREASE(t *testing.T) {
	n := 0
	for v := range 0x10000 {
		if isGREASE(uint16(v)) {
			n++
		}
	}
	if n != 16 || !isGREASE(0x0a0a) || !isGREASE(0xfafa) || isGREASE(0x0a1a) {
		t.Errorf("isGREASE: %d values", n)
	}
}

type recorder struct {
	net.Conn
	mu         *sync.Mutex
	log        *[]dpitest.Write
	fromClient bool
}

func (r recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	*r.log = append(*r.log, dpitest.Write{FromOrig: r.fromClient, Data: append([]byte(nil), b...)})
	r.mu.Unlock()
	return r.Conn.Write(b)
}

// handshake records a real crypto/tls handshake (and one application data
// write each way) between a client asking for serverName and a server
// with a self-signed certificate.
func handshake(t testing.TB, maxVersion uint16, serverName string) []dpitest.Write {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "pump-17.ward3.example", Organization: []string{"Example Medical"}},
		NotBefore:    time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2034, 1, 1, 0, 0, 0, 0, time.UTC),
		DNSNames:     []string{"pump-17.ward3.example"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var log []dpitest.Write
	c, s := net.Pipe()
	client := stdtls.Client(recorder{c, &mu, &log, true}, &stdtls.Config{
		ServerName: serverName, InsecureSkipVerify: true, MinVersion: maxVersion, MaxVersion: maxVersion, NextProtos: []string{"h2", "http/1.1"},
	})
	server := stdtls.Server(recorder{s, &mu, &log, false}, &stdtls.Config{
		Certificates: []stdtls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   maxVersion, MaxVersion: maxVersion,
	})
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 5)
		_, err := io.ReadFull(server, buf)
		if err == nil {
			_, err = server.Write([]byte("world"))
		}
		errc <- err
	}()
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(client, buf); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// Close the pipe, not the TLS connections: their close_notify would
	// wait for a reader.
	c.Close()
	s.Close()
	mu.Lock()
	defer mu.Unlock()
	return log
}

var conn = dpitest.Conn{Client: netip.MustParseAddrPort("10.0.0.5:50000"), Server: netip.MustParseAddrPort("10.0.0.9:443")}

func newFeeder(t testing.TB) *dpitest.Feeder {
	return dpitest.NewFeeder(t, New().NewStream(conn.Packet(true, nil)), conn.Packet)
}

type fact struct {
	IP, Attr, Value string
}

// TestHandshakes dissects real crypto/tls handshakes cut at random points.
func TestHandshakes(t *testing.T) {
	const name = "pump-17.ward3.example"
	for _, c := range []struct {
		name    string
		version uint16
		want    []fact
	}{
		{"tls1.2", stdtls.VersionTLS12, []fact{
			{"10.0.0.5", dpi.AttrTLSSNI, name},
			{"10.0.0.9", AttrServerName, name},
			{"10.0.0.5", dpi.AttrTLSVersion, "1.2"},
			{"10.0.0.9", dpi.AttrTLSVersion, "1.2"},
			{"10.0.0.9", dpi.AttrTLSCertSubject, "CN=pump-17.ward3.example,O=Example Medical"},
			{"10.0.0.9", dpi.AttrTLSCertIssuer, "CN=pump-17.ward3.example,O=Example Medical"},
			{"10.0.0.9", AttrCertNotAfter, "2034-01-01T00:00:00Z"},
			{"10.0.0.9", AttrCertSelfSigned, "true"},
		}},
		{"tls1.3", stdtls.VersionTLS13, []fact{
			{"10.0.0.5", dpi.AttrTLSSNI, name},
			{"10.0.0.9", AttrServerName, name},
			{"10.0.0.5", dpi.AttrTLSVersion, "1.3"},
			{"10.0.0.9", dpi.AttrTLSVersion, "1.3"},
		}},
		{"tls1.0", stdtls.VersionTLS10, []fact{
			{"10.0.0.5", dpi.AttrTLSSNI, name},
			{"10.0.0.9", AttrServerName, name},
			{"10.0.0.5", dpi.AttrTLSVersion, "1.0"},
			{"10.0.0.9", dpi.AttrTLSVersion, "1.0"},
			{"10.0.0.9", dpi.AttrInsecureProtocol, "tls1.0"},
			{"10.0.0.5", dpi.AttrInsecureProtocol, "tls1.0"},
			{"10.0.0.9", dpi.AttrTLSCertSubject, "CN=pump-17.ward3.example,O=Example Medical"},
			{"10.0.0.9", dpi.AttrTLSCertIssuer, "CN=pump-17.ward3.example,O=Example Medical"},
			{"10.0.0.9", AttrCertNotAfter, "2034-01-01T00:00:00Z"},
			{"10.0.0.9", AttrCertSelfSigned, "true"},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			chunks := handshake(t, c.version, name)
			for seed := range uint64(50) {
				var rng *mrand.Rand
				if seed > 0 {
					rng = mrand.New(mrand.NewPCG(seed, 1))
				}
				f := newFeeder(t)
				f.Play(chunks, dpitest.RandomCut(rng, 0))
				if err := f.Failed(); err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				if f.Err == nil {
					t.Errorf("seed %d: stream not done after the handshake", seed)
				}
				var got []fact
				for _, fc := range dpitest.Facts[fact](f.Out.Observations) {
					if fc.Attr != dpi.AttrTLSJA4 {
						got = append(got, fc)
					}
				}
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Fatalf("seed %d: facts (-want +got):\n%s", seed, diff)
				}
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"not a record", []byte("GET / HTTP/1.1\r\n\r\n")},
		{"record too long", []byte{0x16, 0x03, 0x01, 0xff, 0xff, 0x01}},
		{"truncated hello", []byte{0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0x03, 0x03, 0x00, 0x00}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New().NewStream(conn.Packet(true, nil))
			_, err := s.Data(conn.Packet(true, nil), c.data, &dpi.Output{})
			if err == nil || errors.Is(err, dpi.ErrStreamDone) {
				t.Errorf("err = %v, want a malformed-stream error", err)
			}
		})
	}
}

// TestGap: a gap finishes its direction, the other one is still read,
// and the stream ends when both are finished.
func TestGap(t *testing.T) {
	chunks := handshake(t, stdtls.VersionTLS12, "a.example")
	s := New().NewStream(conn.Packet(true, nil))
	var out dpi.Output
	if _, err := s.Data(conn.Packet(true, nil), chunks[0].Data, &out); err != nil {
		t.Fatal(err)
	}
	s.Gap(true)
	if n, err := s.Data(conn.Packet(true, nil), []byte{1, 2, 3}, &out); err != nil || n != 3 {
		t.Fatalf("after a gap: %d, %v", n, err)
	}
	n, err := s.Data(conn.Packet(false, nil), chunks[1].Data, &out)
	if err != nil || n != len(chunks[1].Data) {
		t.Fatalf("server flight: %d, %v", n, err)
	}
	s.Gap(false)
	if _, err := s.Data(conn.Packet(false, nil), []byte{1}, &out); !errors.Is(err, dpi.ErrStreamDone) {
		t.Errorf("err = %v, want ErrStreamDone", err)
	}
	if len(out.Observations) == 0 {
		t.Error("no observations")
	}
}

// FuzzStream feeds random bytes, cut at random points, to both directions.
func FuzzStream(f *testing.F) {
	for _, v := range []uint16{stdtls.VersionTLS12, stdtls.VersionTLS13} {
		chunks := handshake(f, v, "seed.example")
		var client, server []byte
		for _, c := range chunks {
			if c.FromOrig {
				client = append(client, c.Data...)
			} else {
				server = append(server, c.Data...)
			}
		}
		f.Add(client, server, uint64(1))
	}
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00}, []byte{0x14, 0x03, 0x03, 0x00, 0x01, 0x01}, uint64(2))
	f.Fuzz(func(t *testing.T, client, server []byte, seed uint64) {
		fd := newFeeder(t)
		fd.Interleave(client, server, mrand.New(mrand.NewPCG(seed, 2)), 50)
		fd.End()
		dpitest.CheckValues(t, fd.Out.Observations)
	})
}
