// Package dpitest is the test support of dissectors. Run runs them over
// capture files through the real sensor pipeline (decoder, flow table,
// identifiers, stream reassembly); Feeder feeds a stream dissector as that
// pipeline does, segment by segment; Payloads and Frames read fuzz seeds
// and frames from captures; Facts and Summary reduce observations to what
// tests compare.
package dpitest

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/vigil-health/vigil/capture"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// Result is what the pipeline published.
type Result struct {
	Observations []events.Observation
	Auths        []events.Auth
	// Flows are the flow end events.
	Flows []events.Flow
	Stats capture.Stats
}

// Run reads files through the sensor pipeline with the given dissectors
// (dpi.Dissector, dpi.StreamDissector or dpi.FrameDissector values) and
// returns what it published. Values that are dpi.Identifier are tried
// before the default identifiers (a protocol not yet registered there).
// A file that cannot be read fails the test.
func Run(t testing.TB, files []string, ds ...any) Result {
	t.Helper()
	var extra []dpi.Identifier
	var diss []any
	for _, d := range ds {
		if id, ok := d.(dpi.Identifier); ok {
			extra = append(extra, id)
			continue
		}
		diss = append(diss, d)
	}
	ids := dpi.DefaultIdentifiers()
	if len(extra) > 0 {
		all := slices.Clone(extra)
		have := map[string]bool{}
		for _, id := range extra {
			have[id.Name()] = true
		}
		for _, name := range ids.Names() {
			if !have[name] {
				all = append(all, ids.Get(name))
			}
		}
		var err error
		if ids, err = dpi.NewIdentifiers(all...); err != nil {
			t.Fatal(err)
		}
	}
	cfg := capture.DefaultConfiguration()
	cfg.Files = files
	col := &collector{}
	c, err := capture.New(cfg, capture.Dependencies{
		Publisher: col, Identifiers: ids,
		Dissectors: func() []any { return diss },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(context.Background()); err != nil {
		t.Fatalf("capture: %v", err)
	}
	col.res.Stats = c.Stats()
	return col.res
}

type collector struct {
	mu  sync.Mutex
	res Result
}

func (c *collector) Publish(_ context.Context, m events.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e := m.(type) {
	case events.Event[events.Observation]:
		c.res.Observations = append(c.res.Observations, e.Body)
	case events.Event[events.Auth]:
		c.res.Auths = append(c.res.Auths, e.Body)
	case events.Event[events.Flow]:
		if e.Body.Phase == events.FlowEnd {
			c.res.Flows = append(c.res.Flows, e.Body)
		}
	}
	return nil
}

// Values returns the distinct values of attribute attr, in order of
// first appearance.
func (r Result) Values(attr string) []string {
	var out []string
	for _, o := range r.Observations {
		if o.Attribute == attr && !slices.Contains(out, o.Value) {
			out = append(out, o.Value)
		}
	}
	return out
}

// Counter sums an application counter over all flows.
func (r Result) Counter(name string) uint64 {
	var n uint64
	for _, f := range r.Flows {
		n += f.App[name]
	}
	return n
}
