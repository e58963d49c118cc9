package http

import (
	"encoding/base64"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
)

var conn = dpitest.Conn{Client: netip.MustParseAddrPort("10.0.0.5:50000"), Server: netip.MustParseAddrPort("10.0.0.9:80")}

func newFeeder(t testing.TB, first []byte, fromClient bool) *dpitest.Feeder {
	return dpitest.NewFeeder(t, New().NewStream(conn.Packet(fromClient, first)), conn.Packet)
}

// exchange is one write of a conversation.
type exchange struct {
	fromClient bool
	data       string
}

// play feeds a conversation, each write cut at random points when rng is
// set, and ends the stream.
func play(t testing.TB, conv []exchange, rng *mrand.Rand) *dpitest.Feeder {
	f := newFeeder(t, []byte(conv[0].data), conv[0].fromClient)
	var writes []dpitest.Write
	for _, e := range conv {
		writes = append(writes, dpitest.Write{FromOrig: e.fromClient, Data: []byte(e.data)})
	}
	f.Play(writes, dpitest.RandomCut(rng, 0))
	f.End()
	return f
}

type fact struct {
	IP, Attr, Value string
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
				f := play(t, c.conv, rng)
				if err := f.Failed(); err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				if diff := cmp.Diff(c.facts, dpitest.Facts[fact](f.Out.Observations)); diff != "" {
					t.Fatalf("seed %d: facts (-want +got):\n%s", seed, diff)
				}
				if diff := cmp.Diff(c.auths, attempts(&f.Out)); diff != "" {
					t.Fatalf("seed %d: auths (-want +got):\n%s", seed, diff)
				}
				for _, o := range f.Out.Observations {
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
			f := newFeeder(t, client, true)
			// All requests, then all responses: pipelining as the
			// pairing sees it.
			f.Play([]dpitest.Write{{FromOrig: true, Data: client}, {FromOrig: false, Data: server}}, dpitest.RandomCut(rng, 200))
			f.End()
			if err := f.Failed(); err != nil {
				t.Fatalf("%s seed %d: %v", c.name, seed, err)
			}
			if diff := cmp.Diff(c.auths, attempts(&f.Out)); diff != "" {
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
	f := newFeeder(t, []byte(req), true)
	for i := range maxRequests + 5 {
		f.Data(true, []byte(req))
		if i < maxRequests && f.Err != nil {
			t.Fatalf("done after %d requests", i+1)
		}
	}
	for range maxRequests {
		f.Data(false, []byte(resp))
	}
	if f.Err == nil || f.Failed() != nil {
		t.Errorf("err %v after %d responses, want %v", f.Err, maxRequests, dpi.ErrStreamDone)
	}
}

// TestGap: after a gap, the pending attempt's outcome is unknown and the
// direction resynchronises on the next request.
func TestGap(t *testing.T) {
	req := "GET / HTTP/1.1\r\n" + hdrs + "Authorization: " + basic("a:b") + "\r\n\r\n"
	f := newFeeder(t, []byte(req), true)
	f.Data(true, []byte(req))
	f.Data(true, []byte("GET /x HTTP/1.1\r\nHo"))
	f.Gap(true)
	f.Data(true, []byte("ent: x\r\n\r\nGET / HTTP/1.1\r\nUser-Agent: after-gap\r\n\r\n"))
	f.Data(false, []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	f.End()
	if diff := cmp.Diff([]attempt{{"basic", events.AuthUnknown, ""}}, attempts(&f.Out)); diff != "" {
		t.Errorf("auths (-want +got):\n%s", diff)
	}
	got := dpitest.Facts[fact](f.Out.Observations)
	if want := (fact{"10.0.0.5", dpi.AttrHTTPUserAgent, "after-gap"}); got[len(got)-1] != want {
		t.Errorf("last fact %v, want %v", got[len(got)-1], want)
	}
}

func TestNotHTTP(t *testing.T) {
	f := newFeeder(t, []byte("GET / HTTP/1.1\r\n"), true)
	f.Data(true, []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"))
	f.Data(false, []byte("SSH-2.0-OpenSSH_9.2\r\n"))
	if f.Failed() == nil {
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
		fd := newFeeder(t, client, true)
		fd.Interleave(client, server, mrand.New(mrand.NewPCG(seed, 2)), 50)
		fd.End()
		dpitest.CheckValues(t, fd.Out.Observations)
		for _, a := range fd.Out.Auths {
			if a.Principal != "" || a.Method == "" {
				t.Fatalf("auth %+v", a)
			}
		}
	})
}
