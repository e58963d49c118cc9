// Package testshared finds the shared test corpus (../shared beside the
// checkout) for tests. A fresh clone has no corpus: tests that need it are
// skipped with a message saying so, except in CI (CI=true), where a
// missing corpus is a failure rather than a silent green.
package testshared

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the shared directory, or skips (fails in CI).
func Dir(t testing.TB) string {
	t.Helper()
	if d := find(); d != "" {
		return d
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("../shared not found beside the checkout (CI=true: the corpus is required)")
	}
	t.Skip("../shared not found beside the checkout: tests on real captures are skipped")
	return ""
}

// Pcaps returns the shared capture directory.
func Pcaps(t testing.TB) string {
	t.Helper()
	return filepath.Join(Dir(t), "pcaps")
}

// Pcap returns the path of one shared capture, given relative to pcaps/.
func Pcap(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Pcaps(t), rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("shared capture %s: %v", rel, err)
	}
	return p
}

// find walks up from the working directory to a directory holding
// shared/pcaps/MANIFEST.tsv.
func find() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		candidate := filepath.Join(dir, "shared")
		if st, err := os.Stat(filepath.Join(candidate, "pcaps", "MANIFEST.tsv")); err == nil && !st.IsDir() {
			return candidate
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
