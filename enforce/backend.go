package enforce

import (
	"context"
	"errors"
	"time"

	"github.com/vigil-health/vigil/events"
)

// Entry is one block of the desired set as an enforcement point sees it.
type Entry struct {
	// ID is the block's request ID, stable across its life; backends that
	// can label what they install (a comment, a tag, an object name) use it
	// to recognise Vigil's own entries.
	ID    string            `json:"id"`
	Scope events.BlockScope `json:"scope"`
	// Expires is when the block ends; zero means it has no expiry.
	Expires time.Time `json:"expires,omitzero"`
	Reason  string    `json:"reason"`
}

// Backend is one enforcement point: nftables, a firewall's API, a
// blocklist feed. The reconciler reads what it actually holds, compares
// that with the desired set and applies the difference.
type Backend interface {
	// Name identifies the enforcement point in events, metrics and logs.
	Name() string
	// Supports reports whether the backend can enforce a scope (a feed of
	// addresses cannot block a port; a NAC backend blocks only MACs).
	Supports(events.BlockScope) bool
	// Actual returns Vigil's entries that the enforcement point holds now,
	// never anything it did not install. A backend that cannot read back
	// returns ErrActualUnknown.
	Actual(ctx context.Context) ([]Entry, error)
	// Apply installs add and removes remove. It is idempotent: adding an
	// entry already present or removing one already gone is not an error.
	Apply(ctx context.Context, add, remove []Entry) error
}

// ErrActualUnknown is returned by backends that cannot read back what they
// hold (a webhook); the reconciler then trusts its own record of what it
// applied and cannot detect drift there.
var ErrActualUnknown = errors.New("enforcement point cannot report what it holds")
