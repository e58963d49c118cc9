package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	capturepkg "github.com/vigil-health/vigil/capture"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/synth"
	"github.com/vigil-health/vigil/store"
	"github.com/vigil-health/vigil/store/chtest"
)

// TestRunWritesToClickHouse runs `vigil run` with a store configured
// against a real ClickHouse server: every flow of the capture ends up as a
// row, once.
func TestRunWritesToClickHouse(t *testing.T) {
	srv := chtest.Start(t)
	db := srv.Database(t)
	capture, _ := wardCapture(t, synth.Options{})
	want := flowEventsIn(t, capture)

	cfgFile := filepath.Join(t.TempDir(), "vigil.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("store:\n  addresses: [%q]\n  database: %s\n  flush_interval: 200ms\n", srv.Addr, db)), 0o600)
	t.Setenv("VIGIL_CONFIG", "")
	cmd := newRootCommand()
	var out, errOut syncBuffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"run", "--config", cfgFile, "--pcap", capture, "--data", t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	scfg := store.DefaultConfiguration()
	scfg.Addresses, scfg.Database = []string{srv.Addr}, db
	var got uint64
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if conn, err := store.Open(context.Background(), scfg); err == nil {
			got, err = store.NewQueries(conn).CountEvents(context.Background(), events.KindFlow, time.Time{}, time.Now().AddDate(10, 0, 0))
			conn.Close()
			if err == nil && got >= uint64(want) {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	if got != uint64(want) {
		t.Errorf("%d flow rows in ClickHouse, the sensor publishes %d flow events", got, want)
	}
}

type allFlows struct{ n int }

func (c *allFlows) Publish(_ context.Context, m events.Message) error {
	if _, ok := m.(events.Event[events.Flow]); ok {
		c.n++
	}
	return nil
}

// flowEventsIn counts the flow events (updates and ends) the sensor
// publishes for a file.
func flowEventsIn(t *testing.T, file string) int {
	cfg := capturepkg.DefaultConfiguration()
	cfg.Files = []string{file}
	c := &allFlows{}
	s, err := capturepkg.New(cfg, capturepkg.Dependencies{Publisher: c})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c.n
}
