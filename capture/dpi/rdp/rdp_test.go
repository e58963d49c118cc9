package rdp

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
)

// PDUs of zeek rdp/rdp-x509.pcap (tshark -q -z follow,tcp,raw,0): the
// Connection Request (cookie "JOHN-PC  ", standard security requested),
// the Connection Confirm (standard security selected) and the MCS Connect
// Initial (clientName JOHN-PC-LAPTOP, clientBuild 9600).
var (
	x509CR = dpitest.MustHex(nil, "0300002f2ae00000000000436f6f6b69653a206d737473686173683d4a4f484e2d504320200d0a0100080000000000")
	x509CC = dpitest.MustHex(nil, "030000130ed000001234000200080000000000")
	x509CI = dpitest.MustHex(nil, `
030001be02f0807f658201b20401010401010101ff30190201220201020201000201010201000201010202ffff0201023019
02010102010102010102010102010002010102020420020102301c0202ffff0202fc170202ffff0201010201000201010202
ffff02010204820151000500147c00018148000800100001c00044756361813a01c0ea00040008008007380401ca03aa0904
0000802500004a004f0048004e002d00500043002d004c004100500054004f0050000000000004000000000000000c000000
0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
000000000000000000000000000001ca01000000000010000f00ad07330063003500370031006500640030002d0033003400
310035002d0034003700340062002d0061006500390034002d00370034006500310035003100620000000700000000000000
0000000000000000000000000000000004c00c00150000000000000002c00c001b0000000000000003c03800040000007264
70647200000000008080726470736e640000000000c0636c6970726472000000a0c0647264796e766300000080c0`)
)

var conn = dpitest.Conn{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:3389")}

type seg struct {
	client bool
	data   []byte
}

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

// cr builds a Connection Request with an optional cookie line and an
// RDP_NEG_REQ for protocols (none if protocols < 0).
func cr(cookie string, protocols int) []byte {
	v := []byte(cookie)
	if protocols >= 0 {
		v = append(v, 0x01, 0x00, 0x08, 0x00, byte(protocols), 0, 0, 0)
	}
	n := 11 + len(v)
	return append([]byte{0x03, 0x00, byte(n >> 8), byte(n), byte(n - 5), 0xe0, 0, 0, 0, 0, 0}, v...)
}

func cc(typ byte, value byte) []byte {
	return []byte{0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, typ, 0x00, 0x08, 0x00, value, 0, 0, 0}
}

func TestConnections(t *testing.T) {
	client := func(attr, v string) fact { return fact{"10.0.0.1", attr, v} }
	standard := []fact{
		client(dpi.AttrInsecureProtocol, "rdp-standard-security"),
		{"10.0.0.2", dpi.AttrInsecureProtocol, "rdp-standard-security"},
	}
	core := []fact{
		client(dpi.AttrRDPClientBuild, "9600"),
		client(dpi.AttrRDPClientName, "JOHN-PC-LAPTOP"),
		client(dpi.AttrHostname, "JOHN-PC-LAPTOP"),
	}
	cases := []struct {
		name  string
		segs  []seg
		facts []fact
		err   error
	}{
		{"standard security, split PDUs", []seg{{true, x509CR[:10]}, {true, x509CR[10:]}, {false, x509CC}, {true, x509CI[:100]}, {true, x509CI[100:]}},
			append(append([]fact{}, standard...), core...), dpi.ErrStreamDone},
		{"TLS selected", []seg{{true, cr("Cookie: mstshash=AWAKECODI\r\n", 3)}, {false, cc(negResponse, 2)}}, nil, dpi.ErrStreamDone},
		{"negotiation failure", []seg{{true, cr("", 1)}, {false, cc(negFailure, 2)}}, nil, dpi.ErrStreamDone},
		{"legacy client and server", []seg{{true, cr("Cookie: mstshash=A70067\r\n", -1)}, {false, x509CC[:11:11]}, {true, x509CI}},
			append(append([]fact{}, standard...), core...), dpi.ErrStreamDone},
		{"confirm missed, connect initial in clear", []seg{{true, cr("", 3)}, {true, x509CI}},
			append(append([]fact{}, standard...), core...), dpi.ErrStreamDone},
		{"not tpkt", []seg{{true, cr("", 3)}, {false, []byte("\x16\x03\x01\x00\x30")}}, nil, ErrNotTPKT},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "legacy client and server" {
				// A Connection Confirm without RDP_NEG_RSP.
				tc.segs[1].data = []byte{0x03, 0x00, 0x00, 0x0b, 0x06, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00}
			}
			out, err := run(t, tc.segs...)
			if err != tc.err {
				t.Errorf("error %v, want %v", err, tc.err)
			}
			if diff := cmp.Diff(tc.facts, dpitest.Facts[fact](out.Observations)); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
			for _, o := range out.Observations {
				if strings.Contains(o.Value, "mstshash") || strings.Contains(o.Value, "JOHN-PC ") || strings.Contains(o.Value, "AWAKECODI") {
					t.Errorf("cookie published: %+v", o)
				}
			}
		})
	}
}

func TestLargePDUSkipped(t *testing.T) {
	big := make([]byte, 40000)
	copy(big, []byte{0x03, 0x00, byte(len(big) >> 8), byte(len(big)), 0x02, 0xf0, 0x80})
	st := New().NewStream(conn.Packet(true, x509CR))
	var out dpi.Output
	n, err := st.Data(conn.Packet(false, big[:1000]), big[:1000], &out)
	if err != nil || n != len(big) {
		t.Errorf("consumed %d, err %v; want the whole PDU skipped", n, err)
	}
}

func TestTruncatedCoreData(t *testing.T) {
	// Cut the user data inside clientName: the build still comes out,
	// nothing reads past the end.
	i := bytes.Index(x509CI, []byte("Duca"))
	ci := append([]byte(nil), x509CI[:i+4+2+4+30]...)
	ci[2], ci[3] = byte(len(ci)>>8), byte(len(ci))
	out, _ := run(t, seg{true, x509CR}, seg{false, x509CC}, seg{true, ci})
	want := []fact{
		{"10.0.0.1", dpi.AttrInsecureProtocol, "rdp-standard-security"},
		{"10.0.0.2", dpi.AttrInsecureProtocol, "rdp-standard-security"},
		{"10.0.0.1", dpi.AttrRDPClientBuild, "9600"},
	}
	if diff := cmp.Diff(want, dpitest.Facts[fact](out.Observations)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestGap(t *testing.T) {
	st := New().NewStream(conn.Packet(true, x509CR))
	var out dpi.Output
	st.Gap(true)
	if _, err := st.Data(conn.Packet(true, x509CI[100:]), x509CI[100:], &out); err != dpi.ErrStreamDone {
		t.Errorf("mid-PDU data after a gap: err %v", err)
	}
	st = New().NewStream(conn.Packet(true, x509CR))
	st.Gap(true)
	if _, err := st.Data(conn.Packet(true, x509CR), x509CR, &out); err != nil {
		t.Errorf("a TPKT after a gap: err %v", err)
	}
}

// FuzzStream is seeded with the rdp-x509 exchange here and with real
// connections replayed from shared captures in testdata/fuzz/FuzzStream.
func FuzzStream(f *testing.F) {
	f.Add(append(append(append([]byte(nil), x509CR...), x509CC...), x509CI...), []byte{0x5c, 0x25, 0x7e})
	f.Fuzz(func(t *testing.T, data, ctrl []byte) {
		fd := dpitest.NewFeeder(t, New().NewStream(conn.Packet(true, data)), conn.Packet)
		fd.Split(data, ctrl)
		fd.End()
		for _, o := range fd.Out.Observations {
			if len(o.Value) > dpi.MaxValue || !utf8.ValidString(o.Value) {
				t.Fatalf("bad value %q", o.Value)
			}
		}
	})
}
