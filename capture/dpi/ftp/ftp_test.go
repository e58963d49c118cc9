package ftp

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

type seg struct {
	client bool
	data   string
}

func c(d string) seg { return seg{true, d} }
func s(d string) seg { return seg{false, d} }

var conn = dpitest.Conn{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:21")}

// run feeds segments as the pipeline does and returns the output (with
// End's unless the stream stopped) and the error that stopped it.
func run(t *testing.T, segs ...seg) (dpi.Output, error) {
	t.Helper()
	f := dpitest.NewFeeder(t, New().NewStream(conn.Packet(segs[0].client, []byte(segs[0].data))), conn.Packet)
	for _, sg := range segs {
		f.Data(sg.client, []byte(sg.data))
	}
	f.End()
	return f.Out, f.Err
}

type fact struct{ IP, Attr, Value string }

func TestSessions(t *testing.T) {
	insecure := []fact{{"10.0.0.1", dpi.AttrInsecureProtocol, "ftp"}, {"10.0.0.2", dpi.AttrInsecureProtocol, "ftp"}}
	cred := []fact{{"10.0.0.1", dpi.AttrCleartextCredential, "ftp login"}, {"10.0.0.2", dpi.AttrCleartextCredential, "ftp login"}}
	banner := func(v string) []fact { return []fact{{"10.0.0.2", dpi.AttrFTPBanner, v}} }
	join := func(fs ...[]fact) []fact {
		var out []fact
		for _, f := range fs {
			out = append(out, f...)
		}
		return out
	}
	auth := func(principal string, r events.AuthResult, reason string) events.Auth {
		return events.Auth{Client: events.Endpoint{IP: "10.0.0.1", Port: 40000}, Server: events.Endpoint{IP: "10.0.0.2", Port: 21},
			Protocol: "ftp", Method: "password", Principal: principal, Result: r, Reason: reason, FlowID: "f1"}
	}
	cases := []struct {
		name  string
		segs  []seg
		facts []fact
		auths []events.Auth
		err   error
	}{
		{"login, split lines",
			[]seg{s("220 ProFTPD 1.3.8 Server (Debian) [::ffff:10.0.0.2]\r"), s("\n"), c("US"), c("ER nurse\r\n"),
				s("331 Password required for nurse\r\n"), c("PASS hunter2\r\n"), s("230 User nurse logged in\r\n"), c("LIST\r\n")},
			join(banner("ProFTPD 1.3.8 Server (Debian) [::ffff:10.0.0.2]"), insecure, cred),
			[]events.Auth{auth("", events.AuthSuccess, "")}, dpi.ErrStreamDone},
		{"failures then success, one credential pair",
			[]seg{s("220 x\r\n"), c("USER a\r\n"), s("331 ok\r\n"), c("PASS b\r\n"), s("530 Login incorrect.\r\n"),
				c("USER a\r\n"), s("331 ok\r\n"), c("PASS c\r\n"), s("230 ok\r\n")},
			join(banner("x"), insecure, cred),
			[]events.Auth{auth("", events.AuthFailure, "530"), auth("", events.AuthSuccess, "")}, dpi.ErrStreamDone},
		{"anonymous is no credential",
			[]seg{s("220 x\r\n"), c("user FTP\r\n"), s("331 send e-mail\r\n"), c("pass guest@\r\n"), s("230-Welcome\r\n230-\r\n230 Logged in\r\n")},
			join(banner("x"), insecure),
			[]events.Auth{auth("anonymous", events.AuthSuccess, "")}, dpi.ErrStreamDone},
		{"multi-line greeting with an empty first line",
			[]seg{s("220-\r\n220-FileZilla Server 0.9.60 beta\r\n220 Please visit\r\n"), c("QUIT\r\n"), s("221 Goodbye\r\n")},
			join(banner("FileZilla Server 0.9.60 beta"), insecure), nil, nil},
		{"AUTH TLS accepted before login",
			[]seg{s("220 (vsFTPd 3.0.5)\r\n"), c("FEAT\r\n"), s("211-Features:\r\n AUTH TLS\r\n211 End\r\n"), c("AUTH TLS\r\n"), s("234 Proceed with negotiation.\r\n"), c("\x16\x03\x01\x02\x00\x01")},
			banner("(vsFTPd 3.0.5)"), nil, dpi.ErrStreamDone},
		{"AUTH refused, login in clear",
			[]seg{s("220 x\r\n"), c("AUTH TLS\r\n"), s("502 not implemented\r\n"), c("USER a\r\n"), s("331 ok\r\n"), c("PASS b\r\n")},
			join(banner("x"), insecure, cred),
			[]events.Auth{auth("", events.AuthUnknown, "")}, nil},
		{"ACCT after 332",
			[]seg{s("220 x\r\n"), c("USER a\r\n"), s("331 ok\r\n"), c("PASS b\r\n"), s("332 need account\r\n"), c("ACCT c\r\n"), s("530 no\r\n")},
			join(banner("x"), insecure, cred),
			[]events.Auth{auth("", events.AuthFailure, "530")}, nil},
		{"USER refused without a password",
			[]seg{s("220 (vsFTPd 3.0.3)\r\n"), c("USER hello\r\n"), s("530 This FTP server is anonymous only.\r\n"), c("QUIT\r\n")},
			join(banner("(vsFTPd 3.0.3)"), insecure),
			[]events.Auth{auth("", events.AuthFailure, "530")}, nil},
		{"preliminary reply is no verdict",
			[]seg{s("120 wait\r\n220 x\r\n"), c("USER a\r\n"), s("331 ok\r\n"), c("PASS b\r\n"), s("150 hmm\r\n")},
			join(insecure, cred),
			[]events.Auth{auth("", events.AuthUnknown, "")}, nil},
		{"telnet IAC before a command",
			[]seg{s("220 x\r\n"), c("\xff\xf4\xff\xf2ABOR\r\n"), s("226 ok\r\n")},
			join(banner("x"), insecure), nil, nil},
		{"not FTP", []seg{s("220 x\r\n"), s("SSH-2.0-OpenSSH_9.2\r\n")}, banner("x"), nil, ErrNotFTP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, tc.segs...)
			if err != tc.err {
				t.Errorf("error %v, want %v", err, tc.err)
			}
			if diff := cmp.Diff(tc.facts, dpitest.Facts[fact](out.Observations)); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.auths, out.Auths); diff != "" {
				t.Errorf("auths (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLongLineSkipped(t *testing.T) {
	out, err := run(t, s("220 x\r\n"), c(strings.Repeat("A", maxLine+10)), c("BBB\r\nUSER a\r\n"), s("331 ok\r\n"), c("PASS b\r\n"), s("230 ok\r\n"))
	if err != dpi.ErrStreamDone || len(out.Auths) != 1 || out.Auths[0].Result != events.AuthSuccess {
		t.Errorf("err %v auths %+v", err, out.Auths)
	}
}

func TestGapResynchronises(t *testing.T) {
	st := New().NewStream(conn.Packet(false, []byte("220 x\r\n")))
	var out dpi.Output
	for _, sg := range []seg{s("220 x\r\n"), c("USER a\r\n"), s("331 ok\r\n"), c("PASS b\r\n")} {
		st.Data(conn.Packet(sg.client, []byte(sg.data)), []byte(sg.data), &out)
	}
	st.Gap(false)
	// The rest of a line cut by the gap is not taken for a reply.
	if _, err := st.Data(conn.Packet(false, nil), []byte("garbage\r\n530 no\r\n"), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Auths) != 1 || out.Auths[0].Result != events.AuthFailure {
		t.Errorf("auths %+v", out.Auths)
	}
}

func FuzzStream(f *testing.F) {
	// Lines of zeek ftp/ipv4.pcap and Pure-FTPd's from filezilla-ftp-leakage.pcap.
	f.Add([]byte("220 ftp.NetBSD.org FTP server (NetBSD-ftpd 20100320) ready.\r\nUSER anonymous\r\n331 Guest login ok, type your name as password.\r\nPASS test\r\n230-\r\n230 Guest login ok\r\n"), []byte{0x7a, 0x21, 0x5b, 0x13, 0x2f})
	f.Add([]byte("220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------\r\n220-You are user number 1 of 50 allowed.\r\n220 x\r\nUSER sean\r\n331 User sean OK. Password required\r\nPASS x\r\n530 Login authentication failed\r\n"), []byte{0xa0, 0x11, 0x40, 0xff, 0x13})
	f.Add([]byte("220 (vsFTPd 3.0.5)\r\nAUTH TLS\r\n234 Proceed with negotiation.\r\n"), []byte{0x26, 0x13, 0x42})
	f.Fuzz(func(t *testing.T, data, ctrl []byte) {
		fd := dpitest.NewFeeder(t, New().NewStream(conn.Packet(false, data)), conn.Packet)
		fd.Split(data, ctrl)
		fd.End()
		for _, o := range fd.Out.Observations {
			if len(o.Value) > dpi.MaxValue || !utf8.ValidString(o.Value) {
				t.Fatalf("bad value %q", o.Value)
			}
		}
		if len(fd.Out.Auths) > maxLines {
			t.Fatalf("%d auths", len(fd.Out.Auths))
		}
	})
}
