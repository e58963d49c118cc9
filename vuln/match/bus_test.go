package match_test

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/vuln/match"
)

func startBus(t *testing.T) *events.Bus {
	t.Helper()
	b, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop(context.Background()) })
	return b
}

func publish(t *testing.T, b *events.Bus, msgs ...events.Message) {
	t.Helper()
	for _, m := range msgs {
		if err := b.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

func runUntilCaughtUp(t *testing.T, b *events.Bus, c *match.Component) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitCaughtUp(ctx, events.StreamAnalytics, match.Durable); err != nil {
		t.Fatal(err)
	}
}
