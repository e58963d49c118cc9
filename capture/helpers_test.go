package capture

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// pcapsDir finds shared/pcaps next to the repository root by walking up
// from the test's working directory. Without it the test is skipped, but
// in CI (CI=true) a missing corpus is a failure.
func pcapsDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		for _, candidate := range []string{
			filepath.Join(dir, "shared", "pcaps"),
			filepath.Join(dir, "..", "shared", "pcaps"),
		} {
			if st, err := os.Stat(filepath.Join(candidate, "MANIFEST.tsv")); err == nil && !st.IsDir() {
				return filepath.Clean(candidate)
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("../shared/pcaps not found above the working directory")
	}
	t.Skip("../shared/pcaps not found above the working directory")
	return ""
}

// flowsOf runs a capture file through decoder and flow table and returns
// the flow events in emission order, and the source error if any.
func flowsOf(t testing.TB, cfg FlowTableConfig, paths ...string) ([]events.Flow, error) {
	t.Helper()
	src, err := NewFileSource(paths)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	var out []events.Flow
	table := NewFlowTable(cfg, dpi.DefaultIdentifiers(), func(f events.Flow) { out = append(out, f) })
	dec := NewDecoder()
	var d Decoded
	var pkt Packet
	var errs []error
	for {
		err := src.Next(&pkt)
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if dec.Decode(pkt.LinkType, pkt.Data, pkt.Info, &d) == DecodeOK {
			table.Packet(&d)
		}
	}
	table.Flush()
	return out, errors.Join(errs...)
}

func defaultTableConfig() FlowTableConfig {
	return DefaultConfiguration().flowTableConfig()
}
