package oui

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/inventory/oui/internal/build"
)

// TestGeneratorReproducesCommittedFile regenerates registry.tsv.gz from
// the installed Debian packages and compares it byte for byte. It skips
// when they are not installed (fails in CI, which installs them), and
// when they are other versions than the committed file came from (its
// header's sha256 lines): then the data is due a refresh, not broken.
func TestGeneratorReproducesCommittedFile(t *testing.T) {
	src := build.DefaultSources()
	for _, p := range []string{src.IEEEDir, src.Manuf} {
		if _, err := os.Stat(p); err != nil {
			msg := p + " is missing: apt-get install -y ieee-data libwireshark-data"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg + " (CI=true: the generator check is required)")
			}
			t.Skip(msg + " to check the committed registry.tsv.gz against the generator")
		}
	}
	var buf bytes.Buffer
	if err := build.Generate(&buf, src); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(buf.Bytes(), registryGz) {
		return
	}
	committed, err := build.Header(registryGz)
	if err != nil {
		t.Fatal(err)
	}
	installed, err := build.Header(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(build.InputSums(committed), build.InputSums(installed)) {
		t.Skipf("the installed packages are not those registry.tsv.gz came from; to refresh: "+
			"go generate ./inventory/oui, review, commit.\ncommitted:\n%s\ninstalled:\n%s",
			strings.Join(committed, "\n"), strings.Join(installed, "\n"))
	}
	want, got := gunzip(t, registryGz), gunzip(t, buf.Bytes())
	t.Fatalf("same inputs, different bytes: the generator changed or registry.tsv.gz was edited; "+
		"run go generate ./inventory/oui (-committed +generated):\n%s",
		cmp.Diff(strings.Split(want, "\n"), strings.Split(got, "\n")))
}

func gunzip(t *testing.T, gz []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
