package smb

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
)

var conn = dpitest.Conn{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:445")}

func le16(v int) []byte    { return binary.LittleEndian.AppendUint16(nil, uint16(v)) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func ucs2(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// nbss wraps messages in a NetBIOS session message.
func nbss(msg []byte) []byte {
	return cat([]byte{0, byte(len(msg) >> 16), byte(len(msg) >> 8), byte(len(msg))}, msg)
}

// smb2 builds an SMB2 message with a 64-byte header.
func smb2(command uint16, response bool, status uint32, body []byte) []byte {
	h := make([]byte, smb2HeaderLen)
	copy(h, "\xfeSMB")
	binary.LittleEndian.PutUint16(h[4:], 64)
	binary.LittleEndian.PutUint32(h[8:], status)
	binary.LittleEndian.PutUint16(h[12:], command)
	if response {
		h[16] = smb2FlagResponse
	}
	return cat(h, body)
}

func negotiateResponse(dialect int) []byte {
	return smb2(smb2Negotiate, true, 0, cat(le16(65), le16(1), le16(dialect), make([]byte, 58)))
}

// sessionSetup builds an SMB2 SESSION_SETUP request or response around
// a security blob.
func sessionSetup(response bool, status uint32, flags int, blob []byte) []byte {
	if response {
		return smb2(smb2SessionSetup, true, status, cat(le16(9), le16(flags), le16(smb2HeaderLen+8), le16(len(blob)), blob))
	}
	return smb2(smb2SessionSetup, false, 0, cat(le16(25), []byte{0, 1}, le32(0), le32(0), le16(smb2HeaderLen+24), le16(len(blob)), make([]byte, 8), blob))
}

// spnego imitates a SPNEGO wrapper around an NTLMSSP token.
func spnego(token []byte) []byte {
	return cat([]byte{0xa1, 0x81, 0xff, 0x30, 0x81, 0xfc, 0xa2, 0x81, 0xf9, 0x04, 0x81, 0xf6}, token)
}

type av struct {
	id    int
	value string
}

func challenge(version []byte, avs ...av) []byte {
	var info []byte
	for _, a := range avs {
		v := ucs2(a.value)
		info = cat(info, le16(a.id), le16(len(v)), v)
	}
	info = cat(info, le16(0), le16(0))
	flags := uint32(ntlmFlagUnicode)
	fixed := 48
	if version != nil {
		flags |= ntlmFlagVersion
		fixed = 56
	}
	return cat([]byte("NTLMSSP\x00"), le32(ntlmChallenge), le16(0), le16(0), le32(uint32(fixed)), le32(flags),
		[]byte("CHALLNGE"), make([]byte, 8), le16(len(info)), le16(len(info)), le32(uint32(fixed)), version, info)
}

// authenticate builds an AUTHENTICATE message whose responses carry a
// recognisable secret.
func authenticate(unicode bool, domain, user, workstation string, version []byte) []byte {
	enc := func(s string) []byte {
		if unicode {
			return ucs2(s)
		}
		return []byte(s)
	}
	lm, nt := []byte("SECRETLMRESPONSE"), []byte("SECRETNTRESPONSE-SECRETNTRESPONSE")
	d, u, w, key := enc(domain), enc(user), enc(workstation), []byte("SECRETSESSIONKEY")
	fixed := 64
	flags := uint32(0)
	if unicode {
		flags |= ntlmFlagUnicode
	}
	if version != nil {
		flags |= ntlmFlagVersion
		fixed = 72
	}
	off := fixed
	fieldOf := func(b []byte) []byte {
		f := cat(le16(len(b)), le16(len(b)), le32(uint32(off)))
		off += len(b)
		return f
	}
	return cat([]byte("NTLMSSP\x00"), le32(ntlmAuthenticate), fieldOf(lm), fieldOf(nt), fieldOf(d), fieldOf(u), fieldOf(w), fieldOf(key),
		le32(flags), version, lm, nt, d, u, w, key)
}

var win10 = []byte{10, 0, 0x61, 0x4a, 0, 0, 0, 15} // 10.0 build 19041

type seg struct {
	client bool
	data   []byte
}

func c(b ...[]byte) seg { return seg{true, cat(b...)} }
func s(b ...[]byte) seg { return seg{false, cat(b...)} }

// run feeds segments as the pipeline does and returns the output (with
// End's unless the stream stopped) and the error that stopped it.
func run(t *testing.T, segs ...seg) (dpi.Output, error) {
	t.Helper()
	f := dpitest.NewFeeder(t, New().NewStream(conn.Packet(segs[0].client, segs[0].data)), conn.Packet)
	for _, sg := range segs {
		f.Data(sg.client, sg.data)
	}
	f.End()
	return f.Out, f.Err
}

type fact struct{ IP, Attr, Value string }

func TestSMB2Login(t *testing.T) {
	serverFacts := []fact{
		{"10.0.0.2", dpi.AttrSMBDialect, "SMB 3.1.1"},
		{"10.0.0.2", dpi.AttrNTLMHost, "PACS01"},
		{"10.0.0.2", dpi.AttrNTLMDomain, "RADIOLOGY"},
		{"10.0.0.2", dpi.AttrHostname, "pacs01.radiology.example"},
		{"10.0.0.2", dpi.AttrOS, "Windows 10.0 build 19041"},
	}
	clientFacts := []fact{
		{"10.0.0.1", dpi.AttrNTLMHost, "US-CART-3"},
		{"10.0.0.1", dpi.AttrHostname, "US-CART-3"},
		{"10.0.0.1", dpi.AttrNTLMDomain, "RADIOLOGY"},
		{"10.0.0.1", dpi.AttrOS, "Windows 10.0 build 19041"},
	}
	chal := challenge(win10, av{avNbDomainName, "RADIOLOGY"}, av{avNbComputerName, "PACS01"}, av{avDNSComputerName, "pacs01.radiology.example"}, av{7, "\x01\x02\x03\x04"})
	exchange := []seg{
		c(nbss(smb2(smb2Negotiate, false, 0, cat(le16(36), le16(2), make([]byte, 32), le16(0x0300), le16(0x0311))))),
		s(nbss(negotiateResponse(0x0311))),
		c(nbss(sessionSetup(false, 0, 0, spnego([]byte("NTLMSSP\x00\x01\x00\x00\x00\x07\x82\x08\xa2"))))),
		s(nbss(sessionSetup(true, statusMoreProcessingRequired, 0, spnego(chal)))),
		c(nbss(sessionSetup(false, 0, 0, spnego(authenticate(true, "RADIOLOGY", "svc_modality", "US-CART-3", win10))))),
	}
	auth := func(r events.AuthResult, reason string) []events.Auth {
		return []events.Auth{{Client: events.Endpoint{IP: "10.0.0.1", Port: 40000}, Server: events.Endpoint{IP: "10.0.0.2", Port: 445},
			Protocol: "smb", Method: "ntlm", Principal: `RADIOLOGY\svc_modality`, Result: r, Reason: reason, FlowID: "f1"}}
	}
	cases := []struct {
		name  string
		final []seg
		auths []events.Auth
		err   error
	}{
		{"success", []seg{s(nbss(sessionSetup(true, 0, 0, nil)))}, auth(events.AuthSuccess, ""), dpi.ErrStreamDone},
		{"guest", []seg{s(nbss(sessionSetup(true, 0, smb2SessionGuest, nil)))}, auth(events.AuthSuccess, "guest"), dpi.ErrStreamDone},
		{"logon failure", []seg{s(nbss(sessionSetup(true, statusLogonFailure, 0, nil)))}, auth(events.AuthFailure, "STATUS_LOGON_FAILURE"), nil},
		{"other failure", []seg{s(nbss(sessionSetup(true, 0xc00000cc, 0, nil)))}, auth(events.AuthFailure, "0xc00000cc"), nil},
		{"no answer", nil, auth(events.AuthUnknown, ""), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, append(append([]seg{}, exchange...), tc.final...)...)
			if err != tc.err {
				t.Errorf("error %v, want %v", err, tc.err)
			}
			if diff := cmp.Diff(append(append([]fact{}, serverFacts...), clientFacts...), dpitest.Facts[fact](out.Observations)); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.auths, out.Auths); diff != "" {
				t.Errorf("auths (-want +got):\n%s", diff)
			}
			for _, o := range out.Observations {
				if strings.Contains(o.Value, "SECRET") || strings.Contains(o.Value, "CHALLNGE") {
					t.Errorf("secret material in %+v", o)
				}
			}
		})
	}
}

func TestSMB2WildcardThenDialect(t *testing.T) {
	smb1Negotiate := nbss(cat([]byte("\xffSMB\x72"), make([]byte, 27), []byte{0}, le16(22), []byte("\x02NT LM 0.12\x00\x02SMB 2.???\x00")))
	out, err := run(t, c(smb1Negotiate), s(nbss(negotiateResponse(smb2WildcardDialect))),
		c(nbss(smb2(smb2Negotiate, false, 0, cat(le16(36), le16(1), make([]byte, 32), le16(0x0210))))),
		s(nbss(negotiateResponse(0x0210))))
	if err != nil {
		t.Fatal(err)
	}
	want := []fact{{"10.0.0.2", dpi.AttrSMBDialect, "SMB 2.1"}}
	if diff := cmp.Diff(want, dpitest.Facts[fact](out.Observations)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// smb1 builds an SMB1 message.
func smb1(command byte, reply bool, status uint32, flags2 uint16, words, data []byte) []byte {
	h := make([]byte, smb1HeaderLen)
	copy(h, "\xffSMB")
	h[4] = command
	binary.LittleEndian.PutUint32(h[5:], status)
	if reply {
		h[9] = smb1FlagReply
	}
	binary.LittleEndian.PutUint16(h[10:], flags2)
	return cat(h, []byte{byte(len(words) / 2)}, words, le16(len(data)), data)
}

func TestSMB1PlaintextPassword(t *testing.T) {
	const flags2 = smb1Flags2NTStatus // ASCII strings
	dialects := []byte("\x02PC NETWORK PROGRAM 1.0\x00\x02LANMAN1.0\x00\x02NT LM 0.12\x00")
	// NT LM 0.12 response: DialectIndex 2, SecurityMode 0 (share level,
	// plaintext passwords).
	negResp := cat(le16(2), []byte{0x00}, make([]byte, 31))
	setupWords := cat([]byte{0xff, 0, 0, 0}, le16(4356), le16(10), le16(0), le32(0), le16(7), le16(0), le32(0), le32(0))
	setupData := []byte("hunter2" + "nurse\x00" + "WARD3\x00" + "Windows CE 6.0\x00" + "CE LanMan\x00")
	respWords := cat([]byte{0xff, 0, 0, 0}, le16(0))
	out, err := run(t,
		c(nbss(smb1(smb1Negotiate, false, 0, flags2, nil, dialects))),
		s(nbss(smb1(smb1Negotiate, true, 0, flags2, negResp, nil))),
		c(nbss(smb1(smb1SessionSetup, false, 0, flags2, setupWords, setupData))),
		s(nbss(smb1(smb1SessionSetup, true, 0, flags2, respWords, []byte("Windows Server 2003 3790\x00Windows Server 2003 5.2\x00WARD3\x00")))),
	)
	if err != dpi.ErrStreamDone {
		t.Errorf("error %v", err)
	}
	want := []fact{
		{"10.0.0.2", dpi.AttrInsecureProtocol, "smb1"},
		{"10.0.0.1", dpi.AttrInsecureProtocol, "smb1"},
		{"10.0.0.2", dpi.AttrSMBDialect, "NT LM 0.12"},
		{"10.0.0.1", dpi.AttrOS, "Windows CE 6.0"},
		{"10.0.0.1", dpi.AttrCleartextCredential, "smb plaintext password"},
		{"10.0.0.2", dpi.AttrCleartextCredential, "smb plaintext password"},
		{"10.0.0.2", dpi.AttrOS, "Windows Server 2003 3790"},
	}
	if diff := cmp.Diff(want, dpitest.Facts[fact](out.Observations)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if len(out.Auths) != 1 || out.Auths[0].Principal != `WARD3\nurse` || out.Auths[0].Method != "plaintext" || out.Auths[0].Result != events.AuthSuccess {
		t.Errorf("auths %+v", out.Auths)
	}
	for _, o := range out.Observations {
		if strings.Contains(o.Value, "hunter2") {
			t.Errorf("password in %+v", o)
		}
	}
}

func TestSMB1UnicodeNullSession(t *testing.T) {
	const flags2 = smb1Flags2NTStatus | smb1Flags2Unicode
	setupWords := cat([]byte{0xff, 0, 0, 0}, le16(4356), le16(10), le16(0), le32(0), le16(1), le16(0), le32(0), le32(0))
	// One password byte, then (pad to even) empty account and domain, NativeOS.
	setupData := cat([]byte{0}, ucs2("\x00\x00Windows 2000 2195\x00"))
	out, _ := run(t, c(nbss(smb1(smb1SessionSetup, false, 0, flags2, setupWords, setupData))),
		s(nbss(smb1(smb1SessionSetup, true, statusAccessDenied, flags2, cat([]byte{0xff, 0, 0, 0}, le16(0)), nil))))
	want := []fact{
		{"10.0.0.1", dpi.AttrInsecureProtocol, "smb1"},
		{"10.0.0.2", dpi.AttrInsecureProtocol, "smb1"},
		{"10.0.0.1", dpi.AttrOS, "Windows 2000 2195"},
	}
	if diff := cmp.Diff(want, dpitest.Facts[fact](out.Observations)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if len(out.Auths) != 1 || out.Auths[0].Principal != "anonymous" || out.Auths[0].Result != events.AuthFailure || out.Auths[0].Reason != "STATUS_ACCESS_DENIED" {
		t.Errorf("auths %+v", out.Auths)
	}
}

func TestNTLMOEMAuthenticate(t *testing.T) {
	m, err := parseNTLM(authenticate(false, "LAB", "tech", "ECG-7", nil))
	if err != nil {
		t.Fatal(err)
	}
	if m.domain != "LAB" || m.user != "tech" || m.workstation != "ECG-7" || m.os != "" {
		t.Errorf("%+v", m)
	}
	if _, err := parseNTLM(authenticate(true, "LAB", "tech", "ECG-7", win10)[:70]); err == nil {
		t.Error("no error for fields beyond a cut message")
	}
}

func TestFraming(t *testing.T) {
	big := nbss(smb2(0x08, true, 0, make([]byte, 100<<10))) // a READ response
	t.Run("split, skipped and keepalive messages", func(t *testing.T) {
		neg := nbss(negotiateResponse(0x0302))
		out, err := run(t, s(big[:1000]), s(big[1000:50000]), s(big[50000:], []byte{0x85, 0, 0, 0}, neg[:10]), s(neg[10:]))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]fact{{"10.0.0.2", dpi.AttrSMBDialect, "SMB 3.0.2"}}, dpitest.Facts[fact](out.Observations)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("not netbios", func(t *testing.T) {
		if _, err := run(t, s([]byte("HTTP/1.1 200 OK\r\n"))); err != ErrNotNetBIOS {
			t.Errorf("error %v", err)
		}
	})
	t.Run("not smb", func(t *testing.T) {
		if _, err := run(t, s(nbss([]byte("hello, world")))); err != ErrNotSMB {
			t.Errorf("error %v", err)
		}
	})
	t.Run("gap", func(t *testing.T) {
		st := New().NewStream(conn.Packet(false, nil))
		var out dpi.Output
		st.Gap(false)
		neg := nbss(negotiateResponse(0x0311))
		if _, err := st.Data(conn.Packet(false, neg), neg, &out); err != nil || len(out.Observations) != 1 {
			t.Errorf("after a gap, a whole message: err %v, %d observations", err, len(out.Observations))
		}
		st.Gap(false)
		if _, err := st.Data(conn.Packet(false, big[5000:6000]), big[5000:6000], &out); err != dpi.ErrStreamDone {
			t.Errorf("after a gap, mid-message data: err %v", err)
		}
	})
	t.Run("message limit", func(t *testing.T) {
		echo := nbss(smb2(0x0d, false, 0, cat(le16(4), le16(0))))
		var segs []seg
		for range maxMessages + 1 {
			segs = append(segs, c(echo))
		}
		if _, err := run(t, segs...); err != dpi.ErrStreamDone {
			t.Errorf("error %v", err)
		}
	})
}

func TestCompound(t *testing.T) {
	first := smb2(0x0d, true, 0, cat(le16(4), le16(0), make([]byte, 4)))
	binary.LittleEndian.PutUint32(first[20:], uint32(len(first)))
	out, err := run(t, s(nbss(cat(first, negotiateResponse(0x0300)))))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]fact{{"10.0.0.2", dpi.AttrSMBDialect, "SMB 3.0"}}, dpitest.Facts[fact](out.Observations)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// FuzzStream is seeded with synthetic exchanges here and with real
// connections replayed from shared captures in testdata/fuzz/FuzzStream
// (see testdata/README.md).
func FuzzStream(f *testing.F) {
	chal := challenge(win10, av{avNbComputerName, "PACS01"}, av{avDNSComputerName, "pacs01"})
	f.Add(cat(nbss(negotiateResponse(0x0311)), nbss(sessionSetup(true, statusMoreProcessingRequired, 0, spnego(chal)))), []byte{0x21, 0x7f, 0x31})
	f.Add(cat(nbss(sessionSetup(false, 0, 0, spnego(authenticate(true, "D", "u", "W", win10)))), nbss(sessionSetup(true, 0, 0, nil))), []byte{0x40, 0x7e, 0x21})
	f.Fuzz(func(t *testing.T, data, ctrl []byte) {
		fd := dpitest.NewFeeder(t, New().NewStream(conn.Packet(true, data)), conn.Packet)
		fd.Split(data, ctrl)
		fd.End()
		for _, o := range fd.Out.Observations {
			if len(o.Value) > dpi.MaxValue || !utf8.ValidString(o.Value) {
				t.Fatalf("bad value %q", o.Value)
			}
		}
		for _, a := range fd.Out.Auths {
			if len(a.Principal) > 2*dpi.MaxValue+1 || !utf8.ValidString(a.Principal) {
				t.Fatalf("bad principal %q", a.Principal)
			}
		}
	})
}
