package build

import (
	"bytes"
	"compress/gzip"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.tsv")

func fixture() Sources {
	return Sources{
		IEEEDir:    filepath.Join("testdata", "ieee-data"),
		Manuf:      filepath.Join("testdata", "manuf"),
		DpkgStatus: filepath.Join("testdata", "status"),
	}
}

func generate(t *testing.T, src Sources) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Generate(&buf, src); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGenerateGolden covers the fixture's quirks: a quoted name with a
// comma and a double space, a name led by a tab, a prefix assigned three
// times, lower-case hex, and manuf rows that ieee-data has (ignored), lacks
// (added), or that carry no long name or an unused mask (skipped).
func TestGenerateGolden(t *testing.T) {
	gz := generate(t, fixture())
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header has name %q, time %v: want neither", zr.Name, zr.ModTime)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden.tsv")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")); diff != "" {
		t.Errorf("generated data (-golden +got), go test -update to accept:\n%s", diff)
	}
}

func TestGenerateDeterministic(t *testing.T) {
	a, b := generate(t, fixture()), generate(t, fixture())
	if !bytes.Equal(a, b) {
		t.Error("two runs on the same input gave different bytes")
	}
}

func TestGenerateWithoutManufOrStatus(t *testing.T) {
	src := fixture()
	src.Manuf, src.DpkgStatus = "", ""
	header, err := Header(generate(t, src))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(header, "\n")
	if strings.Contains(text, "libwireshark-data") || !strings.Contains(text, "ieee-data version unknown, registry snapshot 2022-08-27") {
		t.Errorf("header:\n%s", text)
	}
	if n := len(InputSums(header)); n != 4 {
		t.Errorf("%d sha256 lines, want 4", n)
	}
}

func TestGenerateErrors(t *testing.T) {
	for name, tc := range map[string]struct{ file, content string }{
		"missing file":    {"iab.csv", ""},
		"bad header":      {"oui.csv", "Reg,Assignment,Organization Name\n"},
		"wrong registry":  {"oui.csv", "Registry,Assignment,Organization Name,Organization Address\nMA-M,0012210,X,\n"},
		"wrong length":    {"oui36.csv", "Registry,Assignment,Organization Name,Organization Address\nMA-S,70B3D553,X,\n"},
		"not hex":         {"oui.csv", "Registry,Assignment,Organization Name,Organization Address\nMA-L,00122G,X,\n"},
		"no organization": {"mam.csv", "Registry,Assignment,Organization Name,Organization Address\nMA-M,0012210, ,\n"},
		"short record":    {"mam.csv", "Registry,Assignment,Organization Name,Organization Address\nMA-M,0012210\n"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range Files {
				b, err := os.ReadFile(filepath.Join("testdata", "ieee-data", f.Name))
				if err != nil {
					t.Fatal(err)
				}
				if f.Name == tc.file {
					if tc.content == "" {
						continue
					}
					b = []byte(tc.content)
				}
				if err := os.WriteFile(filepath.Join(dir, f.Name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := Generate(io.Discard, Sources{IEEEDir: dir}); err == nil {
				t.Error("Generate succeeded")
			}
		})
	}
	src := fixture()
	src.Manuf = filepath.Join(t.TempDir(), "manuf")
	if err := os.WriteFile(src.Manuf, []byte("zz:12:21\tX\tX Corp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Generate(io.Discard, src); err == nil {
		t.Error("Generate succeeded on a bad manuf prefix")
	}
}

func TestManufPrefix(t *testing.T) {
	for in, want := range map[string]struct {
		prefix string
		bits   int
	}{
		"00:12:21":             {"001221", 24},
		"c0:22:f1:e0:00:00/28": {"C022F1E", 28},
		"8C:1F:64:30:00:00/36": {"8C1F64300", 36},
		"01:00:5E:00:00:00/25": {"", 0},
		"00:00:5E:00:01/40":    {"", 0},
	} {
		p, bits, err := manufPrefix(in)
		if err != nil || p != want.prefix || bits != want.bits {
			t.Errorf("manufPrefix(%q) = %q %d %v, want %q %d", in, p, bits, err, want.prefix, want.bits)
		}
	}
	for _, in := range []string{"", "00:12", "00:12:21/x", "00:12:21/28", "xx:12:21"} {
		if _, bits, err := manufPrefix(in); err == nil && bits != 0 {
			t.Errorf("manufPrefix(%q) succeeded", in)
		}
	}
}
