package feed_test

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-health/vigil/vuln/feed"
)

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestProviderROLIE mirrors the OASIS example provider (its metadata
// verbatim) with a ROLIE feed listing ICSMA advisories: one with a
// correct .sha512, one relative, one damaged (its .sha256 disagrees), one
// not mirrored.
func TestProviderROLIE(t *testing.T) {
	root := filepath.Join(t.TempDir(), "www.example.com")
	csafDir := filepath.Join(root, ".well-known", "csaf")
	write(t, filepath.Join(csafDir, "provider-metadata.json"), readSample(t, "csaf/oasis-examples/provider-metadata-example-01.json"))
	write(t, filepath.Join(csafDir, "feed-tlp-white.json"), []byte(`{"feed": {
  "id": "example-csaf-feed-tlp-white", "title": "Example CSAF feed (TLP:WHITE)",
  "link": [{"rel": "self", "href": "https://www.example.com/.well-known/csaf/feed-tlp-white.json"}],
  "category": [{"scheme": "urn:ietf:params:rolie:category:information-type", "term": "csaf"}],
  "updated": "2024-06-01T00:00:00Z",
  "entry": [
    {"id": "ICSMA-22-174-01", "title": "OFFIS DCMTK",
     "link": [{"rel": "self", "href": "https://www.example.com/.well-known/csaf/white/2022/icsma-22-174-01.json"},
              {"rel": "hash", "href": "https://www.example.com/.well-known/csaf/white/2022/icsma-22-174-01.json.sha512"}],
     "published": "2022-06-23T00:00:00Z", "updated": "2022-06-23T00:00:00Z",
     "content": {"type": "application/json", "src": "https://www.example.com/.well-known/csaf/white/2022/icsma-22-174-01.json"},
     "format": {"schema": "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json", "version": "2.0"}},
    {"id": "ICSMA-19-022-01", "title": "Draeger Infinity Delta",
     "link": [{"rel": "self", "href": "white/2019/icsma-19-022-01.json"}],
     "published": "2019-01-22T00:00:00Z", "updated": "2019-01-22T00:00:00Z"},
    {"id": "ICSMA-24-151-02", "title": "Baxter Welch Allyn Connex Spot Monitor",
     "link": [{"rel": "self", "href": "https://www.example.com/.well-known/csaf/white/2024/icsma-24-151-02.json"}],
     "published": "2024-05-30T00:00:00Z", "updated": "2024-05-30T00:00:00Z",
     "content": {"type": "application/json", "src": "https://www.example.com/.well-known/csaf/white/2024/icsma-24-151-02.json"}},
    {"id": "ICSMA-99-999-99", "title": "Not mirrored",
     "link": [{"rel": "self", "href": "https://www.example.com/.well-known/csaf/white/2099/icsma-99-999-99.json"}],
     "published": "2099-01-01T00:00:00Z", "updated": "2099-01-01T00:00:00Z"}
  ]}}`))
	dcmtk := readSample(t, "csaf/icsma/icsma-22-174-01.json")
	write(t, filepath.Join(csafDir, "white", "2022", "icsma-22-174-01.json"), dcmtk)
	sum512 := sha512.Sum512(dcmtk)
	write(t, filepath.Join(csafDir, "white", "2022", "icsma-22-174-01.json.sha512"), []byte(hex.EncodeToString(sum512[:])+"  icsma-22-174-01.json\n"))
	write(t, filepath.Join(csafDir, "white", "2019", "icsma-19-022-01.json"), readSample(t, "csaf/icsma/icsma-19-022-01.json"))
	csm := readSample(t, "csaf/icsma/icsma-24-151-02.json")
	write(t, filepath.Join(csafDir, "white", "2024", "icsma-24-151-02.json"), csm)
	other := sha256.Sum256([]byte("another file"))
	write(t, filepath.Join(csafDir, "white", "2024", "icsma-24-151-02.json.sha256"), []byte(hex.EncodeToString(other[:])+"  icsma-24-151-02.json\n"))

	im, s := newImporter()
	res, err := im.ImportProvider(filepath.Join(csafDir, "provider-metadata.json"), feed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Discovery; d.Publisher != "Example Company ProductCERT" || d.Role != "csaf_trusted_provider" || len(d.Files) != 4 || d.Files[0].TLP != "WHITE" {
		t.Errorf("discovery: %+v", d)
	}
	var ids []string
	for _, a := range s.Advisories() {
		ids = append(ids, a.ID)
	}
	if want := []string{"ICSMA-19-022-01", "ICSMA-22-174-01"}; !slices.Equal(ids, want) {
		t.Errorf("imported %v, want %v", ids, want)
	}
	var msgs []string
	for _, e := range res.Failed {
		msgs = append(msgs, e.Error())
	}
	joined := strings.Join(msgs, "\n")
	for _, want := range []string{
		"icsma-24-151-02.json (CSAF 2.0): its sha256 digest",
		"the file is damaged or was altered",
		"icsma-99-999-99.json: no such file",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("failures %q do not say %q", joined, want)
		}
	}
	if len(res.Failed) != 2 || len(res.Imported) != 2 {
		t.Errorf("%d imported, %d failed", len(res.Imported), len(res.Failed))
	}
}

// TestProviderDirectory follows a directory distribution through its
// index.txt.
func TestProviderDirectory(t *testing.T) {
	root := filepath.Join(t.TempDir(), "psirt.example.org")
	write(t, filepath.Join(root, ".well-known", "csaf", "provider-metadata.json"), []byte(`{
  "canonical_url": "https://psirt.example.org/.well-known/csaf/provider-metadata.json",
  "distributions": [{"directory_url": "https://psirt.example.org/advisories/csaf/white/"}],
  "last_updated": "2024-06-01T00:00:00Z",
  "list_on_CSAF_aggregators": true,
  "metadata_version": "2.0",
  "mirror_on_CSAF_aggregators": true,
  "publisher": {"category": "vendor", "name": "Example Medical PSIRT", "namespace": "https://psirt.example.org"},
  "role": "csaf_provider"
}`))
	dir := filepath.Join(root, "advisories", "csaf", "white")
	write(t, filepath.Join(dir, "index.txt"), []byte("2022/icsma-22-174-01.json\n2023/icsma-23-194-01.json\n"))
	write(t, filepath.Join(dir, "2022", "icsma-22-174-01.json"), readSample(t, "csaf/icsma/icsma-22-174-01.json"))
	write(t, filepath.Join(dir, "2023", "icsma-23-194-01.json"), readSample(t, "csaf/icsma/icsma-23-194-01.json"))
	write(t, filepath.Join(dir, "2023", "not-indexed.json"), []byte("{}"))

	im, s := newImporter()
	res, err := im.ImportProvider(filepath.Join(root, ".well-known", "csaf", "provider-metadata.json"), feed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 0 || len(res.Imported) != 2 || s.Stats().Advisories != 2 {
		t.Errorf("imported %d, failed %v, store %+v", len(res.Imported), res.Failed, s.Stats())
	}
	if got := res.Discovery.Files[1].URL; got != "https://psirt.example.org/advisories/csaf/white/2023/icsma-23-194-01.json" {
		t.Errorf("URL %q", got)
	}
}

// TestProviderSharedExample reads the OASIS example where it lies: the
// metadata is valid, its feed is not there.
func TestProviderSharedExample(t *testing.T) {
	d, err := feed.DiscoverProvider(filepath.Join(vulndata(t), "csaf/oasis-examples/provider-metadata-example-01.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Files) != 0 || len(d.Errors) != 1 ||
		!strings.Contains(d.Errors[0].Error(), "ROLIE feed https://www.example.com/.well-known/csaf/feed-tlp-white.json: not mirrored") {
		t.Errorf("discovery: %+v %v", d, d.Errors)
	}
}

func TestProviderInvalid(t *testing.T) {
	p := filepath.Join(t.TempDir(), "provider-metadata.json")
	write(t, p, []byte(`{"canonical_url": "http://example.com/provider-metadata.json", "metadata_version": "2.0",
  "role": "csaf_vendor", "last_updated": "yesterday", "distributions": []}`))
	_, err := feed.DiscoverProvider(p)
	var fe *feed.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v", err)
	}
	for _, want := range []string{
		`$.canonical_url: "http://example.com/provider-metadata.json" is not an https URL`,
		`$.last_updated: "yesterday" is not an RFC 3339 date`,
		"$.list_on_CSAF_aggregators: missing",
		`$.role: is "csaf_vendor"`,
		"$.publisher: missing",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
