package feed_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/feed"
)

// FuzzParse feeds any bytes to format detection and every parser, seeded
// with the shared samples (the small ones) and the test data. A parse
// that succeeds must apply to an empty store, and the store must write a
// snapshot that reads back.
func FuzzParse(f *testing.F) {
	dir := vulndata(f)
	for _, rel := range []string{
		"nvd/api2-single-entry.json", "kev/vunnel-valid-catalog-1.json", "epss/vunnel-example-1.csv",
		"epss/vunnel-invalid-header.csv", "epss/vunnel-missing-date.csv", "csaf/icsma/icsma-22-174-01.json",
		"csaf/icsma/icsma-24-151-02.json", "csaf/oasis-examples/bsi-2022-0001.json",
		"csaf/oasis-examples/2022-evd-uc-01-na-001.json", "csaf/oasis-examples/provider-metadata-example-01.json",
		"sbom/cyclonedx/vex-affected.json",
	} {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, name := range []string{"spdx-04-SBOMwSecurity.json", "acme-ct-2.1.cdx.json", "acme-ct-2.0-vex.cdx.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, _, err := feed.Parse("fuzz", data, feed.Options{})
		if err != nil {
			if b != nil {
				t.Fatalf("an error and a batch: %v", err)
			}
			return
		}
		s := vuln.NewStore()
		if _, err := s.Apply(b); err != nil {
			t.Fatalf("a parsed batch does not apply to an empty store: %v", err)
		}
		var snap bytes.Buffer
		if err := s.WriteSnapshot(&snap); err != nil {
			t.Fatal(err)
		}
		if err := vuln.NewStore().ReadSnapshot(&snap); err != nil {
			t.Fatalf("the snapshot does not read back: %v", err)
		}
	})
}
