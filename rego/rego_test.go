package rego_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/vigil-health/vigil/policy"
	"github.com/vigil-health/vigil/rego"
)

// TestRegoUnitTests runs every *_test.rego of the shipped library through
// OPA's tester, with the engine's restricted capabilities, one Go subtest
// per Rego test.
func TestRegoUnitTests(t *testing.T) {
	results, err := policy.Test(context.Background(), policy.TestOptions{Builtin: true})
	if err != nil {
		t.Fatalf("Test() error: %v", err)
	}
	if len(results) < 30 {
		t.Fatalf("Test() ran %d Rego tests, want at least 30", len(results))
	}
	for _, r := range results {
		t.Run(strings.TrimPrefix(r.Package, "data.")+"."+r.Name, func(t *testing.T) {
			if r.Outcome != policy.TestPass {
				t.Errorf("%s\n%s", r, r.Output)
			}
		})
	}
}

// TestEveryRuleHasTests checks that each rule file ships with a test file.
func TestEveryRuleHasTests(t *testing.T) {
	lib := rego.Library()
	rules, err := fs.Glob(lib, "vigil/rules/*.rego")
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) == 0 {
		t.Fatal("no rule files embedded")
	}
	for _, r := range rules {
		if strings.HasSuffix(r, "_test.rego") {
			continue
		}
		test := strings.TrimSuffix(r, ".rego") + "_test.rego"
		if _, err := fs.Stat(lib, test); err != nil {
			t.Errorf("%s has no test file %s", r, test)
		}
	}
}
