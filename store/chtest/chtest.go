// Package chtest runs real ClickHouse servers for tests, with
// store/clickhouse-test-server.sh: free ports, a temporary data directory,
// stopped by PID. A machine without clickhouse-server skips the tests that
// need one, except in CI (CI=true), where a missing server is a failure
// rather than a silent green.
package chtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Server is one ClickHouse server started by the script.
type Server struct {
	// Dir holds the server's configuration, data and logs.
	Dir string
	// Addr is the native protocol address, 127.0.0.1:<port>.
	Addr string

	script string
}

// Start starts a server for one test; it is stopped and its directory
// removed when the test ends. Tests that stop and restart ClickHouse use
// their own server.
func Start(t testing.TB) *Server {
	t.Helper()
	script := requireServer(t)
	s := &Server{Dir: t.TempDir(), script: script}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop() })
	return s
}

var (
	shared     *Server
	sharedErr  error
	sharedOnce sync.Once
)

// Shared returns the server shared by every test of the binary, started on
// first use. Run stops it; give each test its own database (Database).
func Shared(t testing.TB) *Server {
	t.Helper()
	script := requireServer(t)
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-clickhouse-")
		if err != nil {
			sharedErr = err
			return
		}
		s := &Server{Dir: dir, script: script}
		if sharedErr = s.start(); sharedErr == nil {
			shared = s
		} else {
			os.RemoveAll(dir)
		}
	})
	if sharedErr != nil {
		t.Fatalf("shared clickhouse server: %v", sharedErr)
	}
	return shared
}

// Run runs the tests of a package and then stops the shared server, if
// one was started: call it from TestMain.
func Run(m *testing.M) int {
	code := m.Run()
	Shutdown()
	return code
}

// Shutdown stops the shared server, if one was started, and removes its
// directory (for a TestMain that runs the tests itself, as goleak's does).
func Shutdown() {
	if shared != nil {
		shared.stop()
		os.RemoveAll(shared.Dir)
		shared = nil
	}
}

var dbCounter atomic.Int64

var notIdent = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// Database returns the name of a database for this test, unique in the
// server, dropped when the test ends. It is not created: store.Open
// creates it.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	name := strings.ToLower(notIdent.ReplaceAllString(t.Name(), "_"))
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("t%d_%s", dbCounter.Add(1), name)
	t.Cleanup(func() {
		if err := s.Exec("DROP DATABASE IF EXISTS " + name); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	return name
}

// Exec runs one statement in the default database.
func (s *Server) Exec(query string) error {
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.Addr}, DialTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return conn.Exec(ctx, query)
}

// Stop stops the server, keeping its data; Restart starts it again on the
// same ports and data.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

// Restart starts a stopped server again.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

// CPUTime is the processor time the server has used (user and system),
// for benchmarks that report CPU per row: on a shared machine it varies
// less than wall time.
func (s *Server) CPUTime() (time.Duration, error) {
	pid, err := os.ReadFile(filepath.Join(s.Dir, "pid"))
	if err != nil {
		return 0, err
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) in ")": state
	// is the first, utime the 12th and stime the 13th, in clock ticks of
	// 1/100 s (USER_HZ on Linux).
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat for clickhouse-server")
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

func (s *Server) start() error {
	out, err := s.run("start", s.Dir)
	if err != nil {
		return err
	}
	port := strings.TrimSpace(out)
	if port == "" {
		return errors.New("clickhouse-test-server.sh printed no port")
	}
	s.Addr = "127.0.0.1:" + port
	return nil
}

func (s *Server) stop() error {
	_, err := s.run("stop", s.Dir)
	return err
}

func (s *Server) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{s.script}, args...)...)
	// The script stops the server when this process ends, cleanly or not.
	cmd.Env = append(os.Environ(), fmt.Sprintf("CLICKHOUSE_TEST_PARENT=%d", os.Getpid()))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("clickhouse-test-server.sh %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// requireServer returns the script's path, or skips the test when
// clickhouse-server is not installed (fails under CI=true).
func requireServer(t testing.TB) string {
	t.Helper()
	script, err := scriptPath()
	if err == nil {
		err = serverInstalled()
	}
	if err == nil {
		return script
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%v (CI=true: ClickHouse is required; make test-deps installs it)", err)
	}
	t.Skipf("%v: tests on a real ClickHouse are skipped", err)
	return ""
}

func serverInstalled() error {
	if p := os.Getenv("CLICKHOUSE_SERVER"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("CLICKHOUSE_SERVER: %w", err)
		}
		return nil
	}
	if _, err := exec.LookPath("clickhouse-server"); err == nil {
		return nil
	}
	if _, err := os.Stat("/usr/sbin/clickhouse-server"); err == nil {
		return nil
	}
	return errors.New("clickhouse-server is not installed (apt-get install clickhouse-server clickhouse-client)")
}

// scriptPath finds store/clickhouse-test-server.sh beside this package.
func scriptPath() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if ok {
		p := filepath.Join(filepath.Dir(file), "..", "clickhouse-test-server.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "store", "clickhouse-test-server.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("store/clickhouse-test-server.sh not found")
		}
		dir = parent
	}
}
