package capture

import (
	"errors"
	"io"
	"testing"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

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
