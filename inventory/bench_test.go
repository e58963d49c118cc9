package inventory_test

import (
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/vigil-health/vigil/inventory"
)

// BenchmarkRebuild rebuilds the inventory of a generated hospital (see
// scale_test.go) from its day of events, as the component does after
// losing its checkpoint: each JSON payload read from the log file, its
// header decoded, then its event, then fed to a fresh Model with the
// shipped classification rules and a vendor lookup. Generating the log
// is not timed. The log is read from a file, not held in memory, so the
// garbage collector paces against the projection alone, as in a real
// rebuild.
//
// Besides ns/op (one whole rebuild) it reports events/s and the live heap
// the projection holds per device (after a collection). The 10 000-device
// variant is for quick runs:
//
//	go test -run '^$' -bench 'Rebuild/devices=10000$' -benchmem -count 6 ./inventory/
//
// The 100 000-device one needs minutes per run and some gigabytes (the
// generation's, freed before the timed part); -short skips it.
func BenchmarkRebuild(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run("devices="+strconv.Itoa(n), func(b *testing.B) {
			if n > 10_000 && testing.Short() {
				b.Skip("100 000 devices take minutes per run; drop -short to run it")
			}
			h, lg := writeHospitalLog(b, filepath.Join(b.TempDir(), "log"), n)
			cfg := scaleConfig(h)
			b.ReportAllocs()
			b.ResetTimer()
			var m *inventory.Model
			var base uint64
			var changes int
			for range b.N {
				b.StopTimer()
				m = nil
				// Fresh rules: their fingerprint cache starts cold, as after
				// a restart.
				opt := scaleOptions(b, h)
				base = heapAlloc()
				b.StartTimer()
				m = inventory.NewModel(cfg, sensor, opt)
				var evs int
				evs, changes = replay(b, lg.path, m)
				if evs != lg.events {
					b.Fatalf("replayed %d events, want %d", evs, lg.events)
				}
			}
			b.StopTimer()
			heap := int64(heapAlloc()) - int64(base)
			st := m.Stats()
			if st.Devices != n {
				b.Fatalf("%d devices, want %d", st.Devices, n)
			}
			b.ReportMetric(float64(lg.events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(heap)/float64(st.Devices), "bytes/device")
			b.ReportMetric(float64(lg.events)/float64(st.Devices), "events/device")
			b.ReportMetric(float64(changes)/float64(lg.events), "changes/event")
			runtime.KeepAlive(m)
		})
	}
}
