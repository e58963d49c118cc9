package ssdp

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
)

func packet(src string, payload []byte) *dpi.Packet {
	return &dpi.Packet{
		Time:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Transport: dpi.UDP, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("239.255.255.250"),
		SrcPort: 40000, DstPort: 1900, FlowID: "f1", Payload: payload,
	}
}

type obs struct {
	Attr, Value string
	Confidence  float64
	Evidence    string
}

// The expected values were read with tshark from the frames named in
// payloads_test.go:
//
//	tshark -r FILE -Y ssdp -T fields -e ip.src -e http.request.method \
//	    -e http.response.code -e http.server -e http.location \
//	    -e http.user_agent -e http.unknown_header
//
// (NT, USN and ST are unknown headers to tshark; the ST and USN of the
// MiniDLNA answer, frame 29, were read from -e udp.payload.)
func TestDissect(t *testing.T) {
	const (
		tomatoServer = "UPnP/Tomato 1.28.7500 MIPSR2Toastman-RT K26 USB Ext UPnP/1.0 MiniUPnPd/1.6"
		dlnaServer   = "Debian DLNADOC/1.50 UPnP/1.0 MiniDLNA/1.3.0"
		dlnaUUID     = "4d696e69-444c-164e-9d41-3640b7df6678"
		dlnaLocation = "http://192.0.2.10:8200/rootDesc.xml"
		mediaServer  = "urn:schemas-upnp-org:device:MediaServer:1"
	)
	// A NOTIFY with the SERVER header of a Philips Hue bridge, for the
	// OS token (no shared capture has one).
	hue := bytes.Replace(dpitest.MustHex(t, notifyTomato), []byte("UPnP/Tomato 1.28.7500 MIPSR2Toastman-RT K26 USB Ext UPnP/1.0 MiniUPnPd/1.6"),
		[]byte("Linux/3.14.0 UPnP/1.0 IpBridge/1.26.0"), 1)
	cases := []struct {
		name, src string
		payload   []byte
		want      []obs
	}{
		{"notify", "192.168.1.1", dpitest.MustHex(t, notifyTomato), []obs{
			{AttrLocation, "http://192.168.1.1:7406/rootDesc.xml", 0.9, "SSDP NOTIFY LOCATION header"},
			{dpi.AttrSSDPServer, tomatoServer, 0.9, "SSDP NOTIFY SERVER header"},
			{dpi.AttrSSDPUSN, "04645c3d-e6b4-4eea-bd35-5c320c12969f", 0.9, "SSDP NOTIFY USN header"},
		}},
		{"byebye", "192.0.2.10", dpitest.MustHex(t, byebyeMiniDLNA), []obs{
			{AttrDeviceType, mediaServer, 0.9, "SSDP NOTIFY NT header"},
			{dpi.AttrSSDPUSN, dlnaUUID, 0.9, "SSDP NOTIFY USN header"},
		}},
		{"alive", "192.0.2.10", dpitest.MustHex(t, notifyMiniDLNA), []obs{
			{AttrLocation, dlnaLocation, 0.9, "SSDP NOTIFY LOCATION header"},
			{dpi.AttrSSDPServer, dlnaServer, 0.9, "SSDP NOTIFY SERVER header"},
			{AttrDeviceType, mediaServer, 0.9, "SSDP NOTIFY NT header"},
			{dpi.AttrSSDPUSN, dlnaUUID, 0.9, "SSDP NOTIFY USN header"},
		}},
		{"search response", "192.0.2.10", dpitest.MustHex(t, okMiniDLNA), []obs{
			{dpi.AttrSSDPUSN, dlnaUUID, 0.9, "SSDP search response USN header"},
			{dpi.AttrSSDPServer, dlnaServer, 0.9, "SSDP search response SERVER header"},
			{AttrLocation, dlnaLocation, 0.9, "SSDP search response LOCATION header"},
		}},
		{"search without user agent", "192.0.2.20", dpitest.MustHex(t, searchUpnpc), nil},
		{"search with user agent", "192.168.242.50", dpitest.MustHex(t, searchChrome), []obs{
			{dpi.AttrHTTPUserAgent, "Google Chrome/99.0.4844.74 Mac OS X", 0.6, "SSDP M-SEARCH USER-AGENT header"},
		}},
		{"bare search", "192.168.242.8", dpitest.MustHex(t, searchPlex), nil},
		{"os token", "192.168.1.1", hue, []obs{
			{AttrLocation, "http://192.168.1.1:7406/rootDesc.xml", 0.9, "SSDP NOTIFY LOCATION header"},
			{dpi.AttrSSDPServer, "Linux/3.14.0 UPnP/1.0 IpBridge/1.26.0", 0.9, "SSDP NOTIFY SERVER header"},
			{dpi.AttrOS, "Linux 3.14.0", 0.5, "SSDP NOTIFY SERVER header OS token"},
			{dpi.AttrSSDPUSN, "04645c3d-e6b4-4eea-bd35-5c320c12969f", 0.9, "SSDP NOTIFY USN header"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out dpi.Output
			if err := New().Dissect(packet(c.src, c.payload), &out); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, dpitest.Details[obs](out.Observations)); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOSToken reads SERVER and USER-AGENT values as products send them.
func TestOSToken(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Linux/3.14.0 UPnP/1.0 IpBridge/1.26.0", "Linux/3.14.0"},
		{"Linux/2.6.21, UPnP/1.0, Portable SDK for UPnP devices/1.6.6", "Linux/2.6.21"},
		{"Microsoft-Windows/10.0 UPnP/1.0 UPnP-Device-Host/1.0", "Microsoft-Windows/10.0"},
		{"FreeRTOS/6.0.5, UPnP/1.0, IpBridge/1.16.0", "FreeRTOS/6.0.5"},
		{"Linux/4.9 UPnP/1.1 GSSDP/1.6.2", "Linux/4.9"},
		{"Debian DLNADOC/1.50 UPnP/1.0 MiniDLNA/1.3.0", ""},
		{"UPnP/Tomato 1.28.7500 MIPSR2Toastman-RT K26 USB Ext UPnP/1.0 MiniUPnPd/1.6", ""},
		{"OS/version UPnP/1.0 product/version", ""},
		{"Custom/1.0 UPnP/1.0 Proc/Ver", ""},
		{"Linux/x.y UPnP/1.0 Avtech/1.0", ""},
		{"MiniDLNA/1.3.0", ""},
		{"Mozilla/5.0 (Windows NT 10.0) UPnP/1.0", ""},
		{"Google Chrome/99.0.4844.74 Mac OS X", ""},
		{"Linux/ UPnP/1.0", ""},
		{"/1.0 UPnP/1.0", ""},
	} {
		got, ok := osToken([]byte(c.in))
		if string(got) != c.want || ok != (c.want != "") {
			t.Errorf("osToken(%q) = %q, %v; want %q", c.in, got, ok, c.want)
		}
	}
}

func TestLocationUserinfo(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"http://192.0.2.10:8200/rootDesc.xml", "http://192.0.2.10:8200/rootDesc.xml"},
		{"http://admin:secret@192.0.2.10:8200/d.xml", "http://192.0.2.10:8200/d.xml"},
		{"http://192.0.2.10/d.xml?a=b@c", "http://192.0.2.10/d.xml?a=b@c"},
		{"http://u@h", "http://h"},
		{"not a url", "not a url"},
	} {
		if got := string(appendWithoutUserinfo(nil, []byte(c.in))); got != c.want {
			t.Errorf("appendWithoutUserinfo(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestUSN(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"uuid:04645c3d-e6b4-4eea-bd35-5c320c12969f::upnp:rootdevice", "04645c3d-e6b4-4eea-bd35-5c320c12969f"},
		{"UUID:ABC::urn:x", "ABC"},
		{"uuid:4d696e69-444c-164e-9d41-3640b7df6678", "4d696e69-444c-164e-9d41-3640b7df6678"},
		{"uuid:", ""},
		{"uuid:::x", ""},
		{"urn:x", ""},
	} {
		got, ok := usnUUID([]byte(c.in))
		if string(got) != c.want || ok != (c.want != "") {
			t.Errorf("usnUUID(%q) = %q, %v", c.in, got, ok)
		}
	}
}

// TestRepeats checks that a device's repeated announcements report each
// fact once an hour.
func TestRepeats(t *testing.T) {
	d := New()
	p := packet("192.0.2.10", dpitest.MustHex(t, notifyMiniDLNA))
	var out dpi.Output
	if err := d.Dissect(p, &out); err != nil || len(out.Observations) != 4 {
		t.Fatalf("first: %d observations, %v", len(out.Observations), err)
	}
	out.Reset()
	if err := d.Dissect(packet("192.0.2.10", dpitest.MustHex(t, okMiniDLNA)), &out); err != nil || len(out.Observations) != 0 {
		t.Fatalf("same facts in a search response: %d observations, %v", len(out.Observations), err)
	}
	out.Reset()
	p.Time = p.Time.Add(time.Hour)
	if err := d.Dissect(p, &out); err != nil || len(out.Observations) != 4 {
		t.Fatalf("an hour later: %d observations, %v", len(out.Observations), err)
	}
	if diff := cmp.Diff([]dpi.Counter{{Name: CounterNotify, N: 1}}, out.Counters); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func TestMalformed(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("GET / HTTP/1.1\r\n\r\n"), []byte("HTTP/1.1 404 Not Found\r\n\r\n"), []byte("HTTP/1.")} {
		if err := New().Dissect(packet("192.0.2.1", b), &dpi.Output{}); err == nil {
			t.Errorf("no error for %q", b)
		}
	}
	// Header lines without a colon or a value, a cut message, LF line
	// ends: read what can be read.
	var out dpi.Output
	msg := "NOTIFY * HTTP/1.1\nnonsense\nSERVER:\nUSN: uuid:abc::x\nLOCATION: http://192.0.2.1/d.xml"
	if err := New().Dissect(packet("192.0.2.1", []byte(msg)), &out); err != nil {
		t.Fatal(err)
	}
	want := []obs{
		{dpi.AttrSSDPUSN, "abc", 0.9, "SSDP NOTIFY USN header"},
		{AttrLocation, "http://192.0.2.1/d.xml", 0.9, "SSDP NOTIFY LOCATION header"},
	}
	if diff := cmp.Diff(want, dpitest.Details[obs](out.Observations)); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}
}

// TestAllocs checks that repeated announcements and searches cost no
// allocation.
func TestAllocs(t *testing.T) {
	d := New()
	var out dpi.Output
	for _, s := range []string{notifyMiniDLNA, searchChrome, okMiniDLNA} {
		p := packet("192.0.2.10", dpitest.MustHex(t, s))
		_ = d.Dissect(p, &out)
		if n := testing.AllocsPerRun(100, func() {
			out.Reset()
			_ = d.Dissect(p, &out)
		}); n != 0 {
			t.Errorf("%.40q: %v allocations", p.Payload, n)
		}
	}
}

func BenchmarkDissect(b *testing.B) {
	d := New()
	p := packet("192.0.2.10", dpitest.MustHex(b, notifyMiniDLNA))
	var out dpi.Output
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		_ = d.Dissect(p, &out)
	}
}

func FuzzDissect(f *testing.F) {
	for _, s := range []string{notifyTomato, byebyeMiniDLNA, notifyMiniDLNA, okMiniDLNA, searchUpnpc, searchChrome, searchPlex} {
		f.Add(dpitest.MustHex(f, s))
	}
	for _, b := range dpitest.Payloads(f, "testdata/minidlna.pcap", dpitest.Filter{Port: 1900}) {
		f.Add(b)
	}
	for _, c := range captures {
		if path := dpitest.SharedPcap(c.file); path != "" && !c.local {
			for _, b := range dpitest.Payloads(f, path, dpitest.Filter{Port: 1900}) {
				f.Add(b)
			}
		}
	}
	d := New()
	f.Fuzz(func(t *testing.T, b []byte) {
		var out dpi.Output
		_ = d.Dissect(packet("192.0.2.10", b), &out)
		dpitest.CheckValues(t, out.Observations)
	})
}
