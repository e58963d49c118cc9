// Command gen regenerates inventory/oui's data file from Debian's
// ieee-data files and Wireshark's manuf file:
//
//	apt-get install -y ieee-data libwireshark-data
//	go generate ./inventory/oui
//
// It writes registry.tsv.gz (the -out flag) atomically; the same inputs
// give the same bytes.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vigil-health/vigil/inventory/oui/internal/build"
)

func main() {
	src := build.DefaultSources()
	flag.StringVar(&src.IEEEDir, "ieee-data", src.IEEEDir, "directory of the IEEE CSV files (Debian package ieee-data)")
	flag.StringVar(&src.Manuf, "manuf", src.Manuf, "Wireshark's manuf file (Debian package libwireshark-data); empty to leave it out")
	flag.StringVar(&src.DpkgStatus, "dpkg-status", src.DpkgStatus, "dpkg status file, to name package versions in the header")
	out := flag.String("out", "registry.tsv.gz", "output file")
	flag.Parse()
	if err := run(src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(src build.Sources, out string) error {
	var buf bytes.Buffer
	if err := build.Generate(&buf, src); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".registry-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	fmt.Printf("wrote %s (%d bytes)\n", out, buf.Len())
	return nil
}
