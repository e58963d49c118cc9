package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/tester"
)

// TestOptions selects the Rego unit tests Test runs.
type TestOptions struct {
	// Builtin adds the shipped rules and the library's tests. The library
	// frame (vigil.main, vigil.lib) and the data.vigil.fixtures test helpers
	// are always loaded.
	Builtin bool
	// Dirs are directories of policies and their *_test.rego files.
	Dirs []string
	// Filter is a regular expression on test names; empty runs all.
	Filter string
	// Timeout bounds each test; 0 means 5 seconds.
	Timeout time.Duration
}

// Outcome is the result of one Rego test.
type Outcome string

// Test outcomes.
const (
	TestPass  Outcome = "PASS"
	TestFail  Outcome = "FAIL"
	TestError Outcome = "ERROR"
	TestSkip  Outcome = "SKIPPED"
)

// TestResult is one Rego test's result.
type TestResult struct {
	// Package is the Rego package ("data.vigil.rules.scan_test"), Name the
	// test rule ("test_scan_is_high").
	Package string
	Name    string
	// File and Row locate the test.
	File    string
	Row     int
	Outcome Outcome
	// Err is the evaluation error of an ERROR outcome.
	Err string
	// Output is what the test printed with print().
	Output   string
	Duration time.Duration
}

// String is one line: "PASS data.vigil.rules.scan_test.test_scan_is_high (file:row)".
func (r TestResult) String() string {
	s := fmt.Sprintf("%s %s.%s (%s:%d)", r.Outcome, r.Package, r.Name, r.File, r.Row)
	if r.Err != "" {
		s += ": " + r.Err
	}
	return s
}

// Test compiles the policies and tests of opts with the engine's
// capabilities and runs the tests with OPA's tester. The error is set when
// the files do not load (an Errors listing every problem) or the run could
// not start; failing tests are results, not errors. Results are sorted by
// file and row.
func Test(ctx context.Context, opts TestOptions) ([]TestResult, error) {
	srcs, err := readSources(opts.Builtin, opts.Dirs, true)
	if err != nil {
		return nil, err
	}
	modules, err := parseSources(srcs)
	if err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	runner := tester.NewRunner().
		SetCompiler(newCompiler(true)).
		SetModules(modules).
		CapturePrintOutput(true).
		RaiseBuiltinErrors(true).
		SetTimeout(timeout).
		Filter(opts.Filter)
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		if errs := convertErrors(err); len(errs) > 0 && errs[0].File != "" {
			return nil, errs
		}
		return nil, fmt.Errorf("run policy tests: %w", err)
	}
	var out []TestResult
	for r := range ch {
		tr := TestResult{
			Package:  r.Package,
			Name:     r.Name,
			Output:   string(r.Output),
			Duration: r.Duration,
		}
		if r.Location != nil {
			tr.File, tr.Row = r.Location.File, r.Location.Row
		}
		switch {
		case r.Skip:
			tr.Outcome = TestSkip
		case r.Error != nil:
			tr.Outcome, tr.Err = TestError, r.Error.Error()
		case r.Fail:
			tr.Outcome = TestFail
		default:
			tr.Outcome = TestPass
		}
		out = append(out, tr)
	}
	if err := ctx.Err(); err != nil {
		return out, fmt.Errorf("run policy tests: %w", err)
	}
	slices.SortFunc(out, func(a, b TestResult) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Row != b.Row {
			return a.Row - b.Row
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}
