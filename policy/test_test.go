package policy

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRunSiteTests(t *testing.T) {
	dir := writePolicies(t, map[string]string{
		"site.rego": `package vigil.rules.site

import data.vigil.lib

alerts contains {"rule": "site", "severity": lib.escalate("low"), "title": "t"} if lib.deviation("new_device")
`,
		"site_test.rego": `package vigil.rules.site_test

import data.vigil.fixtures
import data.vigil.main

test_passes if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("new_device", {})
	a.severity == "medium"
}

test_fails if {
	print("looking")
	count(main.alerts) == 2 with input as fixtures.deviation("new_device", {})
}

test_errors if {
	x := 1 / 0
	x == 1
}

todo_test_later if false
`,
	})
	results, err := Test(context.Background(), TestOptions{Dirs: []string{dir}})
	if err != nil {
		t.Fatalf("Test() error: %v", err)
	}
	got := map[string]Outcome{}
	for _, r := range results {
		got[r.Name] = r.Outcome
		if r.Name == "test_fails" && !strings.Contains(r.Output, "looking") {
			t.Errorf("print output not captured: %q", r.Output)
		}
	}
	want := map[string]Outcome{"test_passes": TestPass, "test_fails": TestFail, "test_errors": TestError, "todo_test_later": TestSkip}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}

func TestRunTestsWithBuiltinLibrary(t *testing.T) {
	results, err := Test(context.Background(), TestOptions{Builtin: true, Filter: "scan"})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("filter matched no test")
	}
	for _, r := range results {
		// The filter matches the package path too (scan_test, scanner_test).
		if !strings.Contains(r.Package+"."+r.Name, "scan") || r.Outcome != TestPass {
			t.Errorf("unexpected result %s", r)
		}
	}
}

func TestRunTestsInvalidFile(t *testing.T) {
	dir := writePolicies(t, map[string]string{"bad_test.rego": "package x\n\ntest_a if {\n\ttime.now_ns() > 0\n}\n"})
	_, err := Test(context.Background(), TestOptions{Dirs: []string{dir}})
	if err == nil || !strings.Contains(err.Error(), "bad_test.rego:4:") || !strings.Contains(err.Error(), "time.now_ns is not allowed") {
		t.Errorf("Test() error = %v", err)
	}
}

// TestReadmeExample keeps the rule and test of rego/README.md working.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../rego/README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```rego\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) != 2 {
		t.Fatalf("found %d rego blocks in the README, want 2", len(blocks))
	}
	dir := writePolicies(t, map[string]string{"pacs_only.rego": blocks[0][1], "pacs_only_test.rego": blocks[1][1]})
	for _, builtin := range []bool{false, true} {
		results, err := Test(context.Background(), TestOptions{Builtin: builtin, Dirs: []string{dir}, Filter: "pacs_only"})
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != 2 || results[0].Outcome != TestPass || results[1].Outcome != TestPass {
			t.Errorf("builtin %v: results = %v", builtin, results)
		}
	}
}
