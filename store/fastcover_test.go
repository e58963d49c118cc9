package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-health/vigil/capture"
	"github.com/vigil-health/vigil/capture/protocols"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/synth"
	"github.com/vigil-health/vigil/internal/testshared"
)

// fastShare runs the sensor on files and reports, per kind, how many of
// the events it publishes and how many of them the writer's fast path
// decodes.
type fastShare struct{ all, fast map[events.Kind]int }

func (s *fastShare) Publish(_ context.Context, m events.Message) error {
	data, err := m.Encode()
	if err != nil {
		return err
	}
	k := m.Meta().Kind
	s.all[k]++
	env, ok := decodeEnvelopeFast(data)
	if !ok {
		return nil
	}
	var f events.Flow
	var o events.Observation
	switch {
	case k == events.KindFlow && decodeFlowFast(env.Body, &f),
		k == events.KindObservation && decodeObservationFast(env.Body, &o):
		s.fast[k]++
	}
	return nil
}

func sensorFastShare(t *testing.T, files ...string) *fastShare {
	t.Helper()
	s := &fastShare{all: map[events.Kind]int{}, fast: map[events.Kind]int{}}
	cc := capture.DefaultConfiguration()
	cc.Files = files
	sn, err := capture.New(cc, capture.Dependencies{Publisher: s, Dissectors: protocols.Dissectors})
	if err != nil {
		t.Fatal(err)
	}
	if err := sn.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFastDecodeCoversTheSensorsEvents: what the sensor publishes for a
// ward takes the fast path, every flow and observation of it; a change of
// the encoder that moved them to the general decoder would only show as
// a slower writer.
func TestFastDecodeCoversTheSensorsEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ward.pcap")
	if err := synth.Ward(synth.DefaultOptions()).WritePCAPFile(path); err != nil {
		t.Fatal(err)
	}
	s := sensorFastShare(t, path)
	for _, k := range []events.Kind{events.KindFlow, events.KindObservation} {
		t.Logf("%s: %d of %d by the fast path", k, s.fast[k], s.all[k])
		if s.all[k] == 0 || s.fast[k] != s.all[k] {
			t.Errorf("%s: %d of %d events take the fast path, want all", k, s.fast[k], s.all[k])
		}
	}
}

// TestFastDecodeShareOfSharedCaptures reports the share on the shared
// captures of real traffic, where names and banners may hold escapes or
// text outside ASCII (the general decoder's work).
func TestFastDecodeShareOfSharedCaptures(t *testing.T) {
	if testing.Short() {
		t.Skip("reads every shared capture")
	}
	dir := testshared.Pcaps(t)
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng")) {
			files = append(files, p)
		}
		return nil
	})
	total, fast := 0, 0
	for _, f := range files {
		s := sensorFastShare(t, f)
		for _, k := range []events.Kind{events.KindFlow, events.KindObservation} {
			total += s.all[k]
			fast += s.fast[k]
		}
	}
	t.Logf("%d captures: %d of %d flows and observations by the fast path (%.1f%%)", len(files), fast, total, 100*float64(fast)/float64(max(total, 1)))
	if total == 0 || float64(fast) < 0.95*float64(total) {
		t.Errorf("%d of %d flows and observations take the fast path, want at least 95%%", fast, total)
	}
}
