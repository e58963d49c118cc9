package web

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

// FuzzSafeNext: whatever a login form's next parameter says, the redirect
// stays on this server.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/devices?q=1", "//evil.example/", "https://evil.example", "/\\evil", "", "/%2F%2Fevil", "javascript:alert(1)", "/\t/evil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, "/\\") {
			t.Errorf("safeNext(%q) = %q leaves the server", next, got)
		}
	})
}

// FuzzCharts: device names, categories and peers come from the network;
// whatever they hold, the SVG the pages embed stays well-formed XML with
// the text escaped (no element or attribute injected).
func FuzzCharts(f *testing.F) {
	for _, s := range []string{"INF-PUMP-02", `"><script>alert(1)</script>`, "a&b<c>", "ünïcödé 医疗", "\x00\xff", "]]>", "' onload='x"} {
		f.Add(s, 3.5)
	}
	f.Fuzz(func(t *testing.T, label string, v float64) {
		t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
		for name, svg := range map[string]string{
			"bars":    string(barChart(label, []Bar{{Label: label, Value: v, Class: label, Href: "/devices?q=" + label, Text: label}})),
			"stacked": string(stackedChart(label, []StackRow{{Label: label, Href: label, Note: label, Segments: []Segment{{Class: label, Value: v, Name: label}}}})),
			"time":    string(timeChart(label, []time.Time{t0, t0.Add(time.Minute)}, []Series{{Name: label, Class: label, Values: []float64{v, 1}}}, true, "")),
			"map":     string(peerMap(label, label, label, []MapNode{{Label: label, Sub: label, Href: label, Class: label, Bytes: v, Flows: 1}})),
		} {
			dec := xml.NewDecoder(strings.NewReader(svg))
			dec.Strict = true
			depth, elems := 0, 0
			for {
				tok, err := dec.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					// Invalid UTF-8 or control characters in the label make
					// text the XML decoder refuses, never markup: check
					// that nothing but the escaped label is there.
					if strings.ContainsAny(label, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\ufffe\uffff") || !isUTF8(label) {
						return
					}
					t.Fatalf("%s: %v in %s", name, err, svg)
				}
				switch tok := tok.(type) {
				case xml.StartElement:
					depth++
					elems++
					if tok.Name.Local == "script" || strings.HasPrefix(tok.Name.Local, "on") {
						t.Fatalf("%s: injected <%s>", name, tok.Name.Local)
					}
					for _, a := range tok.Attr {
						if strings.HasPrefix(a.Name.Local, "on") {
							t.Fatalf("%s: injected attribute %s", name, a.Name.Local)
						}
					}
				case xml.EndElement:
					depth--
				}
			}
			if depth != 0 || elems == 0 {
				t.Fatalf("%s: unbalanced SVG: %s", name, svg)
			}
		}
	})
}

func isUTF8(s string) bool { return strings.ToValidUTF8(s, "\ufffd") == s }
