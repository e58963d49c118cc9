package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vigil-health/vigil/bench/detection"
	"github.com/vigil-health/vigil/internal/rig"
	"github.com/vigil-health/vigil/internal/testshared"
)

// The detection quality measured for docs/detection.md. The tests fail
// when recall drops below it or when normal traffic after learning
// raises an alert.
const (
	minPublicRecall = 1.0
	minSynthRecall  = 1.0
	minRigRecall    = 1.0
)

// checkDetection runs the cases and fails on a recall below min or any
// false alert, printing what was missed.
func checkDetection(t *testing.T, cases []detection.Case, min float64) []detection.Result {
	t.Helper()
	results, err := runDetection(context.Background(), defaultConfig(), slog.New(slog.DiscardHandler), cases)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sum := detection.Summarize(results)
	if err := writeDetection(&out, results, sum); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	if sum.Recall < min {
		t.Errorf("recall %.2f (%d of %d anomalies), measured %.2f", sum.Recall, sum.Detected, sum.Anomalies, min)
	}
	if sum.FalseAlerts > 0 {
		t.Errorf("%d false alert(s) on normal traffic after learning", sum.FalseAlerts)
	}
	return results
}

// TestDetectionPublicCaptures: Zeek's FTP and SSH brute-force traces
// (the alert must be on the client Zeek's notice names) and nmap SYN
// scans of the shared corpus.
func TestDetectionPublicCaptures(t *testing.T) {
	checkDetection(t, detection.PublicCases(testshared.Pcaps(t)), minPublicRecall)
}

// TestDetectionSyntheticWard: the demo's ward, learning 30 minutes then
// 15 minutes of normal traffic with three anomalies injected.
func TestDetectionSyntheticWard(t *testing.T) {
	c, err := detection.SynthCase(t.TempDir(), 30*time.Minute, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	res := checkDetection(t, []detection.Case{c}, minSynthRecall)
	if res[0].DeviceDays == 0 {
		t.Error("no normal traffic was judged")
	}
}

// TestDetectionRig: the rig's detection recording (rig/detect.sh, real
// daemons: a normal phase twice the learning window, then an internet
// contact from the patient monitor, an nmap scan, a new peer on a new
// port and an HTTP Basic brute force). Needs root to record.
func TestDetectionRig(t *testing.T) {
	c, err := detection.RigCase(rig.DetectionDir(t))
	if err != nil {
		t.Fatal(err)
	}
	res := checkDetection(t, []detection.Case{c}, minRigRecall)
	if res[0].DeviceDays == 0 {
		t.Error("no normal traffic was judged")
	}
}

// TestDetectCommandReportsMisses: with a scan threshold no scan reaches,
// `vigil detect` prints the miss and exits 1.
func TestDetectCommandReportsMisses(t *testing.T) {
	t.Setenv("VIGIL_BASELINE_SCAN_THRESHOLD", "100000")
	out, _, err := vigil(t, "detect", "--synth-learning", "30m", "--synth-detection", "15m")
	var exit exitError
	if !errors.As(err, &exit) || exit.code != 1 {
		t.Fatalf("err = %v, want exit status 1\n%s", err, out)
	}
	if !strings.Contains(out, "MISSED   workstation ws-nurse-01 SYN-scans 100 TCP ports of the PACS") ||
		!strings.Contains(out, "total") || !strings.Contains(out, "0.67") {
		t.Errorf("output:\n%s", out)
	}
}
