package capture

import "sync"

// ballast is a never-touched allocation that counts as live heap, so the
// collector's heap goal (live heap × (1 + GOGC/100)) starts from it: with a
// sensor's small live heap (about 10 MB when reading files) and the
// garbage of events, the default goal made a collection every 9 MB of
// allocation, 48 per 1.5 million packets, about 12% of the sensor's CPU.
// A large allocation from fresh spans is neither zeroed nor touched, so
// the ballast itself is usually not resident (sensorbench: 93 MB resident
// with 64 MiB of headroom, 30 MB without); what it costs is the garbage
// it lets accumulate between collections, at most its size, and its own
// size again in the worst case, when the runtime hands it reused pages
// that it must zero. Rejected: GOGC=400, which multiplies the heap (a
// full table of a million flows is 720 MB live) where this adds a
// constant; GOGC=off with GOMEMLIMIT, which collects nothing until the
// limit and then collects constantly (docs/sensor.md, Performance).
var ballast struct {
	sync.Mutex
	b []byte
}

// reserveGCHeadroom makes the process's ballast at least mb MiB (never
// smaller: several sensors in one process share it). It is kept for the
// process's life.
func reserveGCHeadroom(mb int) {
	if mb <= 0 {
		return
	}
	ballast.Lock()
	defer ballast.Unlock()
	if len(ballast.b) < mb<<20 {
		ballast.b = make([]byte, mb<<20)
	}
}
