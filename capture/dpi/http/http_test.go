package http

import (
	"encoding/base64"
	"errors"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

var (
	clientIP = netip.MustParseAddr("10.0.0.5")
	serverIP = netip.MustParseAddr("10.0.0.9")
)

func packet(fromClient bool, payload []byte) *dpi.Packet {
	p := &dpi.Packet{Transport: dpi.TCP, FromOrig: fromClient, FlowID: "f1",
		Src: clientIP, Dst: serverIP, SrcPort: 50000, DstPort: 80, Payload: payload}
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

func newFeeder(first []byte, fromClient bool) *feeder {
	return &feeder{s: New().NewStream(packet(fromClient, first))}
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
	n, err := f.s.Data(packet(fromClient, piece), f.buf[d], &f.out)
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

// exchange is one write of a conversation.
type exchange struct {
	fromClient bool
	data       string
}

// play feeds a conversation, each write cut at random points when rng is
// set, and ends the stream.
func play(conv []exchange, rng *mrand.Rand) *feeder {
	f := newFeeder([]byte(conv[0].data), conv[0].fromClient)
	for _, e := range conv {
		data := []byte(e.data)
		for len(data) > 0 {
			n := len(data)
			if rng != nil {
				n = 1 + rng.IntN(len(data))
			}
			f.feed(e.fromClient, data[:n])
			data = data[n:]
		}
	}
	if !f.done {
		f.s.End(&f.out)
	}
	return f
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

type attempt struct {
	Method string
	Result events.AuthResult
	Reason string
}

func attempts(out *dpi.Output) []attempt {
	var as []attempt
	for _, a := range out.Auths {
		as = append(as, attempt{a.Method, a.Result, a.Reason})
	}
	return as
}

func basic(userPass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass))
}

func ntlmToken(typ byte) string {
	msg := append([]byte("NTLMSSP\x00"), typ, 0, 0, 0)
	msg = append(msg, make([]byte, 20)...)
	return base64.StdEncoding.EncodeToString(msg)
}

var (
	ua     = fact{"10.0.0.5", dpi.AttrHTTPUserAgent, "curl/7.88.1"}
	host   = fact{"10.0.0.5", dpi.AttrHTTPHost, "pump.example:8080"}
	served = fact{"10.0.0.9", dpi.AttrHTTPHost, "pump.example:8080"}
	server = fact{"10.0.0.9", dpi.AttrHTTPServer, "lighttpd/1.4.69"}
	credC  = fact{"10.0.0.5", dpi.AttrCleartextCredential, "http basic"}
	credS  = fact{"10.0.0.9", dpi.AttrCleartextCredential, "http basic"}
	formC  = fact{"10.0.0.5", dpi.AttrCleartextCredential, "http form"}
	formS  = fact{"10.0.0.9", dpi.AttrCleartextCredential, "http form"}
	hdrs   = "Host: pump.example:8080\r\nUser-Agent: curl/7.88.1\r\n"
)

func TestConversations(t *testing.T) {
	cases := []struct {
		name  string
		conv  []exchange
		facts []fact
		auths []attempt
	}{
		{"pipelined, bodies and chunks", []exchange{
			{true, "GET /a?patient=123 HTTP/1.1\r\n" + hdrs + "Cookie: session=abc\r\n\r\n" +
				"POST /b HTTP/1.1\r\n" + hdrs + "Content-Length: 11\r\n\r\nhello world" +
				"HEAD /c HTTP/1.1\r\n" + hdrs + "\r\n" +
				"PUT /d HTTP/1.1\r\n" + hdrs + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
			{false, "HTTP/1.1 200 OK\r\nServer: lighttpd/1.4.69\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"4;ext=1\r\nabcd\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\n" +
				"HTTP/1.1 100 Continue\r\n\r\n" +
				"HTTP/1.1 201 Created\r\nServer: lighttpd/1.4.69\r\nContent-Length: 4\r\n\r\nDone" +
				"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + // HEAD: no body follows
				"HTTP/1.1 204 No Content\r\nServer: other/1\r\n\r\n"},
		}, []fact{host, served, ua, server, {"10.0.0.9", dpi.AttrHTTPServer, "other/1"}}, nil},
		{"basic accepted", []exchange{
			{true, "GET /admin HTTP/1.1\r\n" + hdrs + "Authorization: " + basic("admin:s3cret") + "\r\n\r\n"},
			{false, "HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n"},
		}, []fact{host, served, ua, credC, credS}, []attempt{{"basic", events.AuthSuccess, ""}}},
		{"basic refused then accepted", []exchange{
			{true, "GET / HTTP/1.1\r\n" + hdrs + "Authorization:  " + basic("a:b") + "\r\n\r\n" +
				"GET / HTTP/1.1\r\n" + hdrs + "authorization: basic " + base64.StdEncoding.EncodeToString([]byte("a:c")) + "\r\n\r\n"},
			{false, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 3\r\n\r\nno\n" +
				"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"},
		}, []fact{host, served, ua, credC, credS}, []attempt{{"basic", events.AuthFailure, "401"}, {"basic", events.AuthSuccess, ""}}},
		{"ntlm handshake", []exchange{
			{true, "GET / HTTP/1.1\r\n" + hdrs + "Authorization: NTLM " + ntlmToken(1) + "\r\n\r\n"},
			{false, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM " + ntlmToken(2) + "\r\nContent-Length: 0\r\n\r\n"},
			{true, "GET / HTTP/1.1\r\n" + hdrs + "Authorization: NTLM " + ntlmToken(3) + "\r\n\r\n"},
			{false, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
		}, []fact{host, served, ua}, []attempt{{"ntlm", events.AuthSuccess, ""}}},
		{"negotiate refused, digest unanswered", []exchange{
			{true, "GET / HTTP/1.1\r\n" + hdrs + "Authorization: Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnag\r\n\r\n"},
			{false, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"},
			{true, "GET / HTTP/1.1\r\n" + hdrs + "Authorization: Digest username=\"nurse\", realm=\"x\"\r\n\r\n"},
		}, []fact{host, served, ua}, []attempt{{"negotiate", events.AuthFailure, "403"}, {"digest", events.AuthUnknown, ""}}},
		{"login form", []exchange{
			{true, "POST /login HTTP/1.1\r\n" + hdrs + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 35\r\n\r\n" +
				"username=nurse&password=Secret!%40x"},
			{false, "HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n"},
		}, []fact{host, served, ua, formC, formS}, []attempt{{"form", events.AuthUnknown, ""}}},
		{"form without password", []exchange{
			{true, "POST /search HTTP/1.1\r\n" + hdrs + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 13\r\n\r\n" +
				"q=x&password="},
			{false, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
		}, []fact{host, served, ua}, nil},
		{"upgrade ends the stream", []exchange{
			{true, "GET /ws HTTP/1.1\r\n" + hdrs + "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"},
			{false, "HTTP/1.1 101 Switching Protocols\r\nServer: lighttpd/1.4.69\r\n\r\n\x81\x05hello"},
			{true, "\x81\x85garbage"},
		}, []fact{host, served, ua, server}, nil},
		{"http/1.0 body until close", []exchange{
			{true, "GET / HTTP/1.0\r\n" + hdrs + "\r\n"},
			{false, "HTTP/1.0 200 OK\r\nServer: lighttpd/1.4.69\r\n\r\nHTTP/1.1 200 OK\r\nServer: fake\r\n\r\n"},
		}, []fact{host, served, ua, server}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for seed := range uint64(100) {
				var rng *mrand.Rand
				if seed > 0 {
					rng = mrand.New(mrand.NewPCG(seed, 4))
				}
				f := play(c.conv, rng)
				if f.err != nil {
					t.Fatalf("seed %d: %v", seed, f.err)
				}
				if diff := cmp.Diff(c.facts, facts(&f.out)); diff != "" {
					t.Fatalf("seed %d: facts (-want +got):\n%s", seed, diff)
				}
				if diff := cmp.Diff(c.auths, attempts(&f.out)); diff != "" {
					t.Fatalf("seed %d: auths (-want +got):\n%s", seed, diff)
				}
				for _, o := range f.out.Observations {
					for _, secret := range []string{"s3cret", "patient", "session", "Secret", "nurse"} {
						if strings.Contains(o.Value, secret) {
							t.Fatalf("value %q leaks %q", o.Value, secret)
						}
					}
				}
			}
		})
	}
}

// TestRealSplit plays the nDPI http_auth and webdav connections (testdata,
// extracted with tshark -z follow,tcp,raw) cut at random points.
func TestRealSplit(t *testing.T) {
	for _, c := range []struct {
		name  string
		auths []attempt
	}{
		{"basic-401", []attempt{{"basic", events.AuthFailure, "401"}}},
		{"ntlm", []attempt{{"ntlm", events.AuthUnknown, ""}}}, // type 3 answered 405
	} {
		client, err := os.ReadFile("testdata/" + c.name + "-client.bin")
		if err != nil {
			t.Fatal(err)
		}
		server, err := os.ReadFile("testdata/" + c.name + "-server.bin")
		if err != nil {
			t.Fatal(err)
		}
		for seed := range uint64(100) {
			rng := mrand.New(mrand.NewPCG(seed, 5))
			f := newFeeder(client, true)
			// All requests, then all responses: pipelining as the
			// pairing sees it.
			for _, dir := range []struct {
				fromClient bool
				data       []byte
			}{{true, client}, {false, server}} {
				for data := dir.data; len(data) > 0; {
					n := 1 + rng.IntN(min(len(data), 200))
					f.feed(dir.fromClient, data[:n])
					data = data[n:]
				}
			}
			f.s.End(&f.out)
			if f.err != nil {
				t.Fatalf("%s seed %d: %v", c.name, seed, f.err)
			}
			if diff := cmp.Diff(c.auths, attempts(&f.out)); diff != "" {
				t.Fatalf("%s seed %d: auths (-want +got):\n%s", c.name, seed, diff)
			}
		}
	}
}

// TestMaxRequests: the stream stops once the responses to the first
// maxRequests requests are read.
func TestMaxRequests(t *testing.T) {
	req := "GET / HTTP/1.1\r\n" + hdrs + "\r\n"
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	f := newFeeder([]byte(req), true)
	for i := range maxRequests + 5 {
		f.feed(true, []byte(req))
		if i < maxRequests && f.done {
			t.Fatalf("done after %d requests", i+1)
		}
	}
	for range maxRequests {
		f.feed(false, []byte(resp))
	}
	if !f.done || f.err != nil {
		t.Errorf("done %v, err %v after %d responses", f.done, f.err, maxRequests)
	}
}

// TestGap: after a gap, the pending attempt's outcome is unknown and the
// direction resynchronises on the next request.
func TestGap(t *testing.T) {
	req := "GET / HTTP/1.1\r\n" + hdrs + "Authorization: " + basic("a:b") + "\r\n\r\n"
	f := newFeeder([]byte(req), true)
	f.feed(true, []byte(req))
	f.feed(true, []byte("GET /x HTTP/1.1\r\nHo"))
	f.s.Gap(true)
	f.buf[0] = nil
	f.feed(true, []byte("ent: x\r\n\r\nGET / HTTP/1.1\r\nUser-Agent: after-gap\r\n\r\n"))
	f.feed(false, []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	f.s.End(&f.out)
	if diff := cmp.Diff([]attempt{{"basic", events.AuthUnknown, ""}}, attempts(&f.out)); diff != "" {
		t.Errorf("auths (-want +got):\n%s", diff)
	}
	got := facts(&f.out)
	if want := (fact{"10.0.0.5", dpi.AttrHTTPUserAgent, "after-gap"}); got[len(got)-1] != want {
		t.Errorf("last fact %v, want %v", got[len(got)-1], want)
	}
}

func TestNotHTTP(t *testing.T) {
	f := newFeeder([]byte("GET / HTTP/1.1\r\n"), true)
	f.feed(true, []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"))
	f.feed(false, []byte("SSH-2.0-OpenSSH_9.2\r\n"))
	if f.err == nil {
		t.Error("no error when neither direction speaks HTTP")
	}
}

// FuzzStream feeds random bytes, cut at random points, to both directions.
func FuzzStream(f *testing.F) {
	for _, name := range []string{"basic-401", "ntlm"} {
		client, err := os.ReadFile("testdata/" + name + "-client.bin")
		if err != nil {
			f.Fatal(err)
		}
		server, err := os.ReadFile("testdata/" + name + "-server.bin")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(client, server, uint64(1))
	}
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\n\r\npw=1&"),
		[]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"), uint64(2))
	f.Fuzz(func(t *testing.T, client, server []byte, seed uint64) {
		rng := mrand.New(mrand.NewPCG(seed, 2))
		fd := newFeeder(client, true)
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
				fd.buf[0], fd.buf[1], fd.skip = nil, nil, [2]int{}
			}
		}
		fd.s.End(&fd.out)
		for _, o := range fd.out.Observations {
			if len(o.Value) > dpi.MaxValue || o.Value == "" {
				t.Fatalf("value %q", o.Value)
			}
		}
		for _, a := range fd.out.Auths {
			if a.Principal != "" || a.Method == "" {
				t.Fatalf("auth %+v", a)
			}
		}
	})
}
