// Package rig gives tests the project's recording of real peers
// (rig/record.sh): a capture of real software (dnsmasq, DCMTK,
// python3-hl7, lldpd, snmpd, OpenSSH, busybox telnetd, nginx, curl,
// avahi, ...) playing a small hospital network in network namespaces, and
// the identity each device was configured with, checked against that
// capture. Tests assert that the sensor extracts that identity and none of
// the synthetic patient data.
//
// Recording needs root and the packages of rig/install-deps.sh. Without
// them the tests that need a recording are skipped with a message saying
// so, except in CI (CI=true), where that is a failure rather than a silent
// green, as with the shared corpus (internal/testshared).
//
// A recording is made once and shared: by every test in a binary, and by
// every test binary through a cache directory keyed by a hash of the rig's
// scripts, so that packages tested in parallel record once.
//
// DetectionDir gives the detection recording (rig/detect.sh: a normal
// phase, then injected anomalies, described in detect.json), cached the
// same way under detect-<key>; bench/detection reads it.
package rig

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Recording is one run of the rig.
type Recording struct {
	// Dir holds the files of the recording.
	Dir string
	// Pcap is the path of the capture (Ethernet, full packets).
	Pcap string
	// Truth is the parsed truth.json.
	Truth Truth
}

// Environment variables.
const (
	// EnvDir names the cache directory for recordings (default
	// os.UserCacheDir()/vigil-rig).
	EnvDir = "VIGIL_RIG_DIR"
	// exitUnsupported is record.sh's status for "this machine cannot run
	// the rig" (not root, a tool missing).
	exitUnsupported = 77
	// recordTimeout bounds one recording, lock waits included; record.sh
	// bounds itself more tightly.
	recordTimeout = 6 * time.Minute
)

var (
	once    sync.Once
	shared  *Recording
	skipMsg string
	failErr error
)

// Record returns the rig's recording, making it if no cached one matches
// the rig's scripts. It skips the test when the machine cannot record
// (fails it when CI=true) and fails it when the recording itself fails.
func Record(t testing.TB) *Recording {
	t.Helper()
	once.Do(func() { shared, skipMsg, failErr = load() })
	if skipMsg != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("rig: %s (CI=true: the rig is required; make test-deps installs it)", skipMsg)
		}
		t.Skipf("rig: %s: tests on the rig's recording are skipped", skipMsg)
	}
	if failErr != nil {
		t.Fatalf("rig: %v", failErr)
	}
	return shared
}

// DetectionDir returns the directory of the rig's detection recording
// (rig/detect.sh: a normal phase, then injected anomalies; detect.json
// says which and when), making it if no cached one matches the rig's
// scripts. It skips and fails as Record does.
func DetectionDir(t testing.TB) string {
	t.Helper()
	detectOnce.Do(func() { detectDir, detectSkip, detectErr = loadDetection() })
	if detectSkip != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("rig: %s (CI=true: the rig is required; make test-deps installs it)", detectSkip)
		}
		t.Skipf("rig: %s: tests on the rig's detection recording are skipped", detectSkip)
	}
	if detectErr != nil {
		t.Fatalf("rig: %v", detectErr)
	}
	return detectDir
}

var (
	detectOnce sync.Once
	detectDir  string
	detectSkip string
	detectErr  error
)

// detectPrefix starts the cache directory name of a detection recording.
const detectPrefix = "detect-"

// loadDetection finds or makes the detection recording, as load does for
// the main one.
func loadDetection() (string, string, error) {
	rigDir, err := findRigDir()
	if err != nil {
		return "", err.Error(), nil
	}
	key, err := scriptsHash(rigDir)
	if err != nil {
		return "", "", fmt.Errorf("hash rig scripts: %w", err)
	}
	root, skip := cacheRoot()
	if skip != "" {
		return "", skip, nil
	}
	unlock, err := lockDir(root)
	if err != nil {
		return "", "", err
	}
	defer unlock()
	dir := filepath.Join(root, detectPrefix+key)
	if _, err := os.Stat(filepath.Join(dir, "detect.json")); err == nil {
		return dir, "", nil
	}
	if os.Geteuid() != 0 {
		return "", "recording needs root (network namespaces, bridges, tcpdump)", nil
	}
	tmp, err := os.MkdirTemp(root, detectPrefix+key+".tmp-")
	if err != nil {
		return "", "", fmt.Errorf("record detection: %w", err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(rigDir, "detect.sh"), tmp)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == exitUnsupported:
		return "", strings.TrimSpace(lastLines(out.String(), 3)), nil
	case err != nil:
		return "", "", fmt.Errorf("rig/detect.sh: %w\n%s", err, lastLines(out.String(), 40))
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return "", "", fmt.Errorf("record detection: %w", err)
	}
	for _, e := range entries {
		if name, ok := strings.CutPrefix(e.Name(), detectPrefix); ok && e.IsDir() && isKey(name) {
			os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", "", fmt.Errorf("record detection: %w", err)
	}
	return dir, "", nil
}

// cacheRoot returns the cache directory of recordings, created, or a
// reason to skip.
func cacheRoot() (string, string) {
	root := os.Getenv(EnvDir)
	if root == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Sprintf("no cache directory (%v): set %s", err, EnvDir)
		}
		root = filepath.Join(cache, "vigil-rig")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Sprintf("cache directory: %v", err)
	}
	return root, ""
}

// load finds or makes the recording. It returns a skip reason or an
// error, not both.
func load() (*Recording, string, error) {
	rigDir, err := findRigDir()
	if err != nil {
		return nil, err.Error(), nil
	}
	key, err := scriptsHash(rigDir, detectScript)
	if err != nil {
		return nil, "", fmt.Errorf("hash rig scripts: %w", err)
	}
	root := os.Getenv(EnvDir)
	if root == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Sprintf("no cache directory (%v): set %s", err, EnvDir), nil
		}
		root = filepath.Join(cache, "vigil-rig")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Sprintf("cache directory: %v", err), nil
	}

	unlock, err := lockDir(root)
	if err != nil {
		return nil, "", err
	}
	defer unlock()

	dir := filepath.Join(root, key)
	if rec, err := open(dir); err == nil {
		return rec, "", nil
	}
	if os.Geteuid() != 0 {
		return nil, "recording needs root (network namespaces, bridges, tcpdump)", nil
	}
	skip, err := record(rigDir, root, key)
	if skip != "" || err != nil {
		return nil, skip, err
	}
	rec, err := open(dir)
	if err != nil {
		return nil, "", err
	}
	return rec, "", nil
}

// record runs record.sh into a fresh directory and moves it into place
// as root/key, removing recordings of other script versions.
func record(rigDir, root, key string) (string, error) {
	tmp, err := os.MkdirTemp(root, key+".tmp-")
	if err != nil {
		return "", fmt.Errorf("record: %w", err)
	}
	defer os.RemoveAll(tmp)

	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(rigDir, "record.sh"), tmp)
	cmd.Stdout, cmd.Stderr = &out, &out
	// On timeout, TERM: record.sh (as timeout(1)) passes it on and tears
	// its namespaces down; KILL only if that takes longer than WaitDelay.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == exitUnsupported:
		return strings.TrimSpace(lastLines(out.String(), 3)), nil
	case err != nil:
		return "", fmt.Errorf("rig/record.sh: %w\n%s", err, lastLines(out.String(), 40))
	}

	entries, err := os.ReadDir(root)
	if err != nil {
		return "", fmt.Errorf("record: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() != filepath.Base(tmp) && isKey(e.Name()) {
			os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
	if err := os.Rename(tmp, filepath.Join(root, key)); err != nil {
		return "", fmt.Errorf("record: %w", err)
	}
	return "", nil
}

// open reads a finished recording.
func open(dir string) (*Recording, error) {
	b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		return nil, err
	}
	var truth Truth
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&truth); err != nil {
		return nil, fmt.Errorf("truth.json: %w", err)
	}
	if truth.Schema != 1 {
		return nil, fmt.Errorf("truth.json: schema %d, want 1", truth.Schema)
	}
	pcap := filepath.Join(dir, truth.Capture)
	if _, err := os.Stat(pcap); err != nil {
		return nil, err
	}
	return &Recording{Dir: dir, Pcap: pcap, Truth: truth}, nil
}

// findRigDir walks up from the working directory to the module root and
// returns its rig directory.
func findRigDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rig := filepath.Join(dir, "rig")
			if _, err := os.Stat(filepath.Join(rig, "record.sh")); err != nil {
				return "", fmt.Errorf("rig/record.sh not found beside %s", filepath.Join(dir, "go.mod"))
			}
			return rig, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("module root not found above the working directory")
		}
		dir = parent
	}
}

// detectScript is the detection recording's script: it has no part in
// the identity recording, so it is left out of that recording's key.
const detectScript = "detect.sh"

// scriptsHash hashes the names and contents of the rig's files (not its
// README, nor the files in skip): a change to any script makes a new
// recording.
func scriptsHash(rigDir string, skip ...string) (string, error) {
	entries, err := os.ReadDir(rigDir)
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && e.Name() != "README.md" && !slices.Contains(skip, e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(rigDir, n))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func isKey(name string) bool {
	if len(name) != 16 {
		return false
	}
	_, err := hex.DecodeString(name)
	return err == nil
}

// lockDir takes an exclusive lock on root/lock, waiting for other test
// binaries that are recording.
func lockDir(root string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(root, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock: %w", err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
