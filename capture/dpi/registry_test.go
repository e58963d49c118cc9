package dpi_test

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/protocols"
)

// TestDissectorsFor: For and StreamsFor give, for every protocol, the
// dissectors that name it, in registration order, whatever the order of
// the lookups (the registry remembers the last protocol looked up), and
// nothing for a protocol without dissectors; several goroutines may look
// up at once (run with -race).
func TestDissectorsFor(t *testing.T) {
	all := protocols.Dissectors()
	r, err := dpi.NewDissectors(all...)
	if err != nil {
		t.Fatal(err)
	}
	wantPacket := map[string][]dpi.Dissector{}
	wantStreams := map[string][]dpi.StreamDissector{}
	for _, d := range all {
		if pd, ok := d.(dpi.Dissector); ok {
			for _, p := range pd.Protocols() {
				wantPacket[p] = append(wantPacket[p], pd)
			}
		}
		if sd, ok := d.(dpi.StreamDissector); ok {
			for _, p := range sd.Protocols() {
				wantStreams[p] = append(wantStreams[p], sd)
			}
		}
	}
	names := []string{"", "no-such-protocol"}
	for p := range wantPacket {
		names = append(names, p)
	}
	for p := range wantStreams {
		names = append(names, p)
	}
	if len(names) < 10 {
		t.Fatalf("only %d protocols: the registry is not exercised", len(names))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 1))
			for range 5000 {
				p := names[rnd.IntN(len(names))]
				if rnd.IntN(2) == 0 {
					if got := r.For(p); !slices.Equal(got, wantPacket[p]) {
						t.Errorf("For(%q) = %v, want %v", p, got, wantPacket[p])
						return
					}
				} else if got := r.StreamsFor(p); !slices.Equal(got, wantStreams[p]) {
					t.Errorf("StreamsFor(%q) = %v, want %v", p, got, wantStreams[p])
					return
				}
			}
		})
	}
	wg.Wait()
	var none *dpi.Dissectors
	if none.For("http") != nil || none.StreamsFor("http") != nil {
		t.Error("a nil registry gives dissectors")
	}
}
