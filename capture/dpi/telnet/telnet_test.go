package telnet

import (
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
)

var conn = dpitest.Conn{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:23")}

// seg is one segment: from the client (c) or the server (s).
type seg struct {
	client bool
	data   string
}

func c(d string) seg { return seg{true, d} }
func s(d string) seg { return seg{false, d} }

// run feeds segments as the pipeline does and returns the output,
// including End's. The stream must consume every byte it is offered.
func run(t *testing.T, segs ...seg) dpi.Output {
	t.Helper()
	f := dpitest.NewFeeder(t, New().NewStream(conn.Packet(segs[0].client, []byte(segs[0].data))), conn.Packet)
	for _, sg := range segs {
		f.Data(sg.client, []byte(sg.data))
	}
	f.End()
	if err := f.Failed(); err != nil {
		t.Fatalf("Data: %v", err)
	}
	if f.MaxKept != 0 {
		t.Fatalf("%d bytes left unconsumed", f.MaxKept)
	}
	return f.Out
}

type fact struct{ IP, Attr, Value string }

func factsOf(out dpi.Output) []fact {
	var fs []fact
	for _, o := range out.Observations {
		if o.Attribute != dpi.AttrInsecureProtocol {
			fs = append(fs, fact{o.IP, o.Attribute, o.Value})
		}
	}
	return fs
}

func resultsOf(out dpi.Output) []string {
	var rs []string
	for _, a := range out.Auths {
		rs = append(rs, string(a.Result)+"/"+a.Reason)
	}
	return rs
}

var cred = []fact{
	{"10.0.0.1", dpi.AttrCleartextCredential, "telnet login"},
	{"10.0.0.2", dpi.AttrCleartextCredential, "telnet login"},
}

func banner(v string) fact { return fact{"10.0.0.2", dpi.AttrTelnetBanner, v} }

func TestLogin(t *testing.T) {
	negotiation := s("\xff\xfd\x18\xff\xfd\x20\xff\xfb\x01")
	cases := []struct {
		name    string
		segs    []seg
		facts   []fact
		results []string
	}{
		{"character mode with echo, shell prompt",
			[]seg{negotiation, c("\xff\xfc\x01"), s("\r\nDebian GNU/Linux 12\r\n\r\nhost1 log"), s("in: "),
				c("b"), s("b"), c("o"), s("o"), c("b"), s("b"), c("\r\x00"), s("\r\n"),
				s("Password: "), c("h"), c("u"), c("n"), c("t"), c("e"), c("r"), c("2"), c("\r\x00"),
				s("\r\n"), s("\x1b[01;32mbob@host1\x1b[00m:~$ "), c("l"), s("l")},
			append([]fact{banner("Debian GNU/Linux 12 host1")}, cred...), []string{"success/"}},
		{"line mode, Last login is not a prompt",
			[]seg{s("login: "), c("bob\r\n"), s("Password:"), c("secret\r\n"),
				s("\r\nLast login: Mon from x\r\n"), s("$ ")},
			cred, []string{"success/"}},
		{"failure then re-prompt then success",
			[]seg{s("login: "), c("bob\r\n"), s("Password: "), c("nope\r\n"),
				s("\r\nLogin incorrect\r\nlogin: "), c("bob\r\n"), s("Password: "), c("secret\r\n"),
				s("\r\n# "), c("id\r\n")},
			cred, []string{"failure/login incorrect", "success/"}},
		{"silent re-prompt is a failure",
			[]seg{s("Username: "), c("admin\r"), s("\r\nPassword: "), c("x\r"), s("\r\n\r\nUsername: "), c("admin\r")},
			cred, []string{"failure/login prompt repeated"}},
		{"password only prompt (device line password)",
			[]seg{s("\r\nUser Access Verification\r\n\r\nPassword: "), c("cisco\r"), s("\r\nRouter>"), c("en\r")},
			append([]fact{banner("User Access Verification")}, cred...), []string{"success/"}},
		{"unanswered attempt is unknown at end",
			[]seg{s("login: "), c("bob\r\n"), s("Password: "), c("x\r\n"), s("\r\n")},
			cred, []string{"unknown/"}},
		{"re-prompt at end is a failure",
			[]seg{s("login: "), c("bob\r\n"), s("Password: "), c("x\r\n"), s("\r\nlogin: ")},
			cred, []string{"failure/login prompt repeated"}},
		{"no password line, no attempt",
			[]seg{s("login: "), c("bob\r\n"), s("\r\n")},
			nil, nil},
		{"IAC split across segments and escaped 0xff",
			[]seg{s("Welcome \xff"), s("\xff\xff"), s("\xfb\x01 to X\r\nlog"), s("\xff\xfa\x18\x01\xff"), s("\xf0in: "),
				c("u\r\n"), s("Password: "), c("\xff\xfb\x01p\r\n"), s("Access denied\r\n")},
			append([]fact{banner("Welcome ÿ to X")}, cred...), []string{"failure/access denied"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := run(t, tc.segs...)
			if diff := cmp.Diff(tc.facts, factsOf(out)); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.results, resultsOf(out)); diff != "" {
				t.Errorf("auth results (-want +got):\n%s", diff)
			}
			for _, a := range out.Auths {
				want := events.Auth{Client: events.Endpoint{IP: "10.0.0.1", Port: 40000}, Server: events.Endpoint{IP: "10.0.0.2", Port: 23},
					Protocol: "telnet", Method: "password", Result: a.Result, Reason: a.Reason, FlowID: "f1"}
				if diff := cmp.Diff(want, a); diff != "" {
					t.Errorf("auth (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestInsecureBothEnds(t *testing.T) {
	out := run(t, s("login: "))
	var got []fact
	for _, o := range out.Observations {
		got = append(got, fact{o.IP, o.Attribute, o.Value})
	}
	want := []fact{{"10.0.0.2", dpi.AttrInsecureProtocol, "telnet"}, {"10.0.0.1", dpi.AttrInsecureProtocol, "telnet"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestNothingTypedKept proves the stream holds no typed byte: after a
// user name is typed and echoed, no field of the state contains it.
func TestNothingTypedKept(t *testing.T) {
	st := New().NewStream(conn.Packet(false, nil)).(*stream)
	var out dpi.Output
	for _, sg := range []seg{s("banner\r\nlogin: "), c("zq"), s("zq"), c("xj"), s("xj"), c("\r\n"), s("\r\nPassword: "), c("kw"), c("vy")} {
		st.Data(conn.Packet(sg.client, []byte(sg.data)), []byte(sg.data), &out)
	}
	if st.banner != nil {
		t.Errorf("banner buffer kept after the prompt: %q", st.banner)
	}
	for _, o := range out.Observations {
		if strings.ContainsAny(o.Value, "zqxjkwvy") && o.Attribute != dpi.AttrTelnetBanner {
			t.Errorf("typed text in %+v", o)
		}
	}
}

func TestBannerBounded(t *testing.T) {
	out := run(t, s(strings.Repeat("Welcome to the infusion pump gateway ", 100)+"\r\nlogin: "))
	fs := factsOf(out)
	if len(fs) != 1 || len(fs[0].Value) > dpi.MaxValue || !strings.HasPrefix(fs[0].Value, "Welcome to the") {
		t.Errorf("banner %+v", fs)
	}
}

func TestPreambleLimit(t *testing.T) {
	st := New().NewStream(conn.Packet(false, nil))
	var out dpi.Output
	chunk := []byte(strings.Repeat("no prompt here ", 1000))
	for i := 0; ; i++ {
		_, err := st.Data(conn.Packet(false, chunk), chunk, &out)
		if err == dpi.ErrStreamDone {
			break
		}
		if i > 10 {
			t.Fatal("stream never gave up without a prompt")
		}
	}
}

func FuzzStream(f *testing.F) {
	f.Add([]byte("\xff\xfd\x18login: bob\r\nPassword: x\r\n$ ls\r\n"), []byte{0x0e, 0x07, 0x10, 0x05})
	f.Add([]byte("\r\nOpenBSD/i386 (oof) (ttyp2)\r\n\r\nlogin: fake\r\nPassword:user\r\nLogin incorrect\r\nlogin: "), []byte{0x3a, 0x09, 0x13, 0x11, 0x1e, 0x0b, 0x22})
	f.Add([]byte("\xff\xfa\x18\x01\xff\xf0\x1b[1mUsername:\x1b[0m a\r\rPassword: \r\r# "), []byte{0xff, 0x20, 0x03})
	f.Fuzz(func(t *testing.T, data, ctrl []byte) {
		fd := dpitest.NewFeeder(t, New().NewStream(conn.Packet(false, nil)), conn.Packet)
		fd.Split(data, ctrl)
		fd.End()
		for _, o := range fd.Out.Observations {
			if len(o.Value) > dpi.MaxValue || !utf8.ValidString(o.Value) {
				t.Fatalf("bad value %q", o.Value)
			}
		}
	})
}
