package webhook

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind (a
// listener, a worker of Apply, a retry timer).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
