// Command screenshots writes PNG screenshots of every page of the
// dashboard into a directory (make screenshots: docs/screenshots). It
// writes the demo's synthetic ward capture (internal/synth) ending a few
// minutes ago, runs it through `vigil run --pcap` (the whole pipeline, as
// in production) with an administrator configured, logs in with headless
// Chromium and takes each page at 1366x768, the laptop screen the
// dashboard is made for, and the overview and a device page whole at 1920
// pixels wide.
//
// The capture ends near now because the enforcement clock follows the
// wall clock too: the blocks of a capture from January would have expired
// before the enforcement page could show one awaiting approval.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/vigil-health/vigil/internal/synth"
	"github.com/vigil-health/vigil/web"
	"github.com/vigil-health/vigil/web/browser"
)

func main() {
	vigil := flag.String("vigil", "bin/vigil", "the vigil binary")
	out := flag.String("out", "docs/screenshots", "directory of the PNG files")
	flag.Parse()
	if err := run(*vigil, *out); err != nil {
		log.Fatalf("screenshots: %v", err)
	}
}

const user, password = "ops", "screenshots-only-password"

// organisation places the ward's devices in departments, as a hospital's
// configuration would (inventory.organisation).
const organisation = `    - {cidr: 10.20.0.96/27, site: Main, department: ICU Ward 3, location: Bed bay}
    - {cidr: 10.20.0.0/28, site: Main, department: Radiology}
    - {cidr: 10.20.0.16/28, site: Main, department: Clinical IT}
    - {cidr: 10.20.0.32/28, site: Main, department: Laboratory}
    - {cidr: 10.20.0.128/25, site: Main, department: ICU Ward 3, location: Nurse station}
`

func run(vigil, out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tmp, err := os.MkdirTemp("", "vigil-screenshots-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	hash, err := web.HashPassword(password)
	if err != nil {
		return err
	}
	opts := synth.DefaultOptions()
	opts.Start = time.Now().UTC().Add(-opts.Learning - opts.Detection - 5*time.Minute).Truncate(time.Minute)
	capture := filepath.Join(tmp, "ward.pcap")
	if err := synth.Ward(opts).WritePCAPFile(capture); err != nil {
		return err
	}
	cfgFile := filepath.Join(tmp, "vigil.yaml")
	cfg := fmt.Sprintf("site: demo\nbaseline:\n  learning: %s\ninventory:\n  organisation:\n%shttp:\n  auth:\n    users:\n      - name: %s\n        role: admin\n        password_hash: %q\n",
		opts.Learning, organisation, user, hash)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, vigil, "--config", cfgFile, "run", "--pcap", capture, "--data", filepath.Join(tmp, "data"), "--http", "127.0.0.1:0")
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", vigil, err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	base, err := dashboardURL(stderr)
	if err != nil {
		return err
	}
	log.Printf("dashboard at %s; waiting for the capture to be processed", base)
	api := newAPIClient(base)
	if err := api.wait(ctx, "/api/v1/alerts", `"total": 0,`, false); err != nil {
		return err
	}
	if err := api.wait(ctx, "/api/v1/enforcement/blocks?state=pending", "[]", false); err != nil {
		log.Printf("no block awaiting approval: %v", err)
	}
	time.Sleep(2 * time.Second) // the last consumers settle
	pump, err := deviceID(base, "INF-PUMP-02")
	if err != nil {
		return err
	}
	pages := []struct{ file, path string }{
		{"overview", "/"}, {"inventory", "/devices"}, {"device", "/devices/" + pump}, {"alerts", "/alerts"},
		{"enforcement", "/enforcement"}, {"policies", "/policies"}, {"health", "/health"},
	}
	for _, size := range []struct {
		w, h   int
		suffix string
		full   map[string]bool
	}{
		{1366, 768, "", nil},
		{1920, 1080, "-wide", map[string]bool{"overview": true, "device": true}},
	} {
		bctx, stop, err := browser.Start(ctx, size.w, size.h)
		if err != nil {
			return err
		}
		if size.suffix == "" {
			if err := browser.Screenshot(bctx, base+"/login", filepath.Join(out, "login.png"), false); err != nil {
				stop()
				return err
			}
		}
		if err := browser.Login(bctx, base, user, password); err != nil {
			stop()
			return err
		}
		for _, p := range pages {
			if size.full != nil && !size.full[p.file] {
				continue
			}
			file := filepath.Join(out, p.file+size.suffix+".png")
			if err := browser.Screenshot(bctx, base+p.path, file, size.full[p.file]); err != nil {
				stop()
				return err
			}
			log.Printf("wrote %s", file)
		}
		stop()
	}
	return nil
}

var listening = regexp.MustCompile(`dashboard on (http://[^/\s]+)/`)

// dashboardURL reads the demo's stderr until it says where it serves.
func dashboardURL(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	var last []string
	for sc.Scan() {
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, r)
			return m[1], nil
		}
		last = append(last, sc.Text())
	}
	return "", fmt.Errorf("the demo ended before serving the dashboard:\n%s", strings.Join(last, "\n"))
}

// apiClient is a logged-in client of the API.
type apiClient struct {
	base string
	c    *http.Client
}

func newAPIClient(base string) *apiClient {
	return &apiClient{base: base, c: &http.Client{Jar: newJar(), Timeout: 10 * time.Second}}
}

func (a *apiClient) get(path string) (string, error) {
	resp, err := a.c.Get(a.base + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		r, err := a.c.PostForm(a.base+"/login", map[string][]string{"user": {user}, "password": {password}})
		if err != nil {
			return "", err
		}
		r.Body.Close()
		return a.get(path)
	}
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s %s", path, resp.Status, b)
	}
	return string(b), err
}

// wait polls path until its body contains (or, with has false, no longer
// contains) text, for at most a minute.
func (a *apiClient) wait(ctx context.Context, path, text string, has bool) error {
	deadline := time.Now().Add(time.Minute)
	for {
		body, err := a.get(path)
		if err == nil && strings.Contains(body, text) == has {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GET %s: still %q after a minute (%v)", path, text, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// deviceID asks the API for a device by host name.
func deviceID(base, host string) (string, error) {
	body, err := newAPIClient(base).get("/api/v1/devices?q=" + host)
	if err != nil {
		return "", err
	}
	var page struct {
		Devices []struct{ ID string }
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil || len(page.Devices) == 0 {
		return "", errors.Join(fmt.Errorf("no device %s in the capture", host), err)
	}
	return page.Devices[0].ID, nil
}
