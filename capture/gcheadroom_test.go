package capture

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
)

// gcHeadroom is the collector's allowance for garbage after a full
// collection: the heap goal minus the live heap.
func gcHeadroom(t *testing.T) (headroom, live uint64) {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	for _, m := range s {
		if m.Value.Kind() != metrics.KindUint64 {
			t.Skipf("runtime metric %s is not available", m.Name)
		}
	}
	goal, live := s[0].Value.Uint64(), s[1].Value.Uint64()
	return goal - live, live
}

// TestGCHeadroom: the ballast raises the garbage allowed between
// collections by its size (GOGC=100), whatever the rest of the heap holds,
// and never shrinks. Not parallel: the heap must hold still.
func TestGCHeadroom(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	ballast.Lock()
	saved := ballast.b
	ballast.b = nil
	ballast.Unlock()
	t.Cleanup(func() {
		ballast.Lock()
		ballast.b = saved
		ballast.Unlock()
	})

	before, live := gcHeadroom(t)
	reserveGCHeadroom(64)
	reserveGCHeadroom(16) // several sensors: the largest wins
	if len(ballast.b) != 64<<20 {
		t.Fatalf("ballast is %d bytes after asking for 64 then 16 MiB, want 64 MiB", len(ballast.b))
	}
	after, _ := gcHeadroom(t)
	t.Logf("garbage allowed between collections: %d MiB without headroom, %d MiB with 64 MiB (live heap %d MiB)", before>>20, after>>20, live>>20)
	if after < before+60<<20 {
		t.Errorf("garbage allowed between collections: %d MiB without headroom, %d MiB with 64 MiB; want at least 60 MiB more", before>>20, after>>20)
	}
	reserveGCHeadroom(0)
	if len(ballast.b) != 64<<20 {
		t.Errorf("gc_headroom_mb 0 in another sensor released the ballast")
	}
}

func TestGCHeadroomValidate(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.GCHeadroomMB = -1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "gc_headroom_mb") {
		t.Errorf("gc_headroom_mb -1: got %v, want an error naming gc_headroom_mb", err)
	}
}
