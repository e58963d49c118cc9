package policy

import (
	"context"
	"fmt"
)

// CheckOptions selects the policy set Check compiles.
type CheckOptions struct {
	// Builtin adds the shipped rules (the library frame is always loaded).
	Builtin bool
	// Dirs are site policy directories (*_test.rego files are skipped).
	Dirs []string
	// Query is the package whose alerts set must exist; empty means
	// DefaultQuery.
	Query string
	// Settings are data.vigil.settings, part of the revision.
	Settings map[string]any
}

// CheckResult describes a policy set that compiles.
type CheckResult struct {
	Revision string
	Files    []string
}

// Check reads, parses and compiles a policy set exactly as the engine
// does when it loads or reloads one (same capabilities, same query), and
// prepares the query, without evaluating anything. An invalid set is an
// Errors naming every file:row:col.
func Check(ctx context.Context, opts CheckOptions) (CheckResult, error) {
	query := opts.Query
	if query == "" {
		query = DefaultQuery
	}
	if _, err := queryRef(query); err != nil {
		return CheckResult{}, fmt.Errorf("query: %w", err)
	}
	settings, err := canonicalSettings(opts.Settings)
	if err != nil {
		return CheckResult{}, fmt.Errorf("settings: %w", err)
	}
	srcs, err := readSources(opts.Builtin, opts.Dirs, false)
	if err != nil {
		return CheckResult{}, err
	}
	rev := revision(srcs, settings)
	set, err := compile(ctx, query, srcs, settings, rev)
	if err != nil {
		return CheckResult{}, err
	}
	return CheckResult{Revision: set.revision, Files: set.files}, nil
}
