package risk

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the components leave no goroutine behind (the
// reload loop, the consumers).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded server and the nats client keep a few process-wide
		// goroutines after Shutdown (as in package events).
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreTopFunction("time.Sleep"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).syncBlocks"),
		// nats.go's watcher of a JetStream context's async replies, when
		// the connection closed before it started (a nil status channel).
		goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"),
	)
}
