package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
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
	// Coverage measures which lines of the policies the tests evaluated
	// (OPA's cover package); see TestReport.
	Coverage bool
}

// TestReport is the outcome of a test run.
type TestReport struct {
	Results []TestResult
	// Coverage is set when TestOptions.Coverage asked for it.
	Coverage *Coverage
}

// Coverage says which lines of the policy files (not the test files) the
// tests evaluated.
type Coverage struct {
	// Files are sorted by name.
	Files []FileCoverage
	// CoveredLines, NotCoveredLines and Percent total the files.
	CoveredLines    int
	NotCoveredLines int
	Percent         float64
}

// FileCoverage is the coverage of one policy file.
type FileCoverage struct {
	File            string
	CoveredLines    int
	NotCoveredLines int
	Percent         float64
	// NotCovered lists the line ranges no test reached, "12" or "12-14".
	NotCovered []string
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
	opts.Coverage = false
	rep, err := RunTests(ctx, opts)
	return rep.Results, err
}

// RunTests is Test, with coverage when opts.Coverage is set.
func RunTests(ctx context.Context, opts TestOptions) (TestReport, error) {
	out, cov, err := runTests(ctx, opts)
	return TestReport{Results: out, Coverage: cov}, err
}

func runTests(ctx context.Context, opts TestOptions) ([]TestResult, *Coverage, error) {
	srcs, err := readSources(opts.Builtin, opts.Dirs, true)
	if err != nil {
		return nil, nil, err
	}
	modules, err := parseSources(srcs)
	if err != nil {
		return nil, nil, err
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
	var cov *cover.Cover
	if opts.Coverage {
		cov = cover.New()
		// The supplementary passes (index and early exit disabled) only
		// explain why a line was missed; one pass says whether it was.
		runner = runner.SetCoverageQueryTracer(cov).SetCoverageRuns([]cover.Kind{})
	}
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		if errs := convertErrors(err); len(errs) > 0 && errs[0].File != "" {
			return nil, nil, errs
		}
		return nil, nil, fmt.Errorf("run policy tests: %w", err)
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
		return out, nil, fmt.Errorf("run policy tests: %w", err)
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
	if cov == nil {
		return out, nil, nil
	}
	return out, coverage(cov, modules), nil
}

// coverage summarises OPA's report over the policy files, leaving the
// test files out (they are all "covered" by running).
func coverage(cov *cover.Cover, modules map[string]*ast.Module) *Coverage {
	policies := map[string]*ast.Module{}
	for name, m := range modules {
		if !isTestFile(name) {
			policies[name] = m
		}
	}
	rep := cov.Report(policies)
	c := &Coverage{}
	for name, fr := range rep.Files {
		if !strings.HasSuffix(name, ".rego") || isTestFile(name) {
			continue
		}
		f := FileCoverage{File: name, CoveredLines: fr.CoveredLines, NotCoveredLines: fr.NotCoveredLines}
		if n := fr.CoveredLines + fr.NotCoveredLines; n > 0 {
			f.Percent = 100 * float64(fr.CoveredLines) / float64(n)
		}
		for _, r := range fr.NotCovered {
			if r.Start.Row == r.End.Row {
				f.NotCovered = append(f.NotCovered, fmt.Sprint(r.Start.Row))
			} else {
				f.NotCovered = append(f.NotCovered, fmt.Sprintf("%d-%d", r.Start.Row, r.End.Row))
			}
		}
		c.Files = append(c.Files, f)
		c.CoveredLines += f.CoveredLines
		c.NotCoveredLines += f.NotCoveredLines
	}
	slices.SortFunc(c.Files, func(a, b FileCoverage) int { return strings.Compare(a.File, b.File) })
	if n := c.CoveredLines + c.NotCoveredLines; n > 0 {
		c.Percent = 100 * float64(c.CoveredLines) / float64(n)
	}
	return c
}
