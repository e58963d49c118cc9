package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type section struct {
	URL      string        `yaml:"url"`
	Window   time.Duration `yaml:"window"`
	Count    int           `yaml:"count"`
	Files    []string      `yaml:"files"`
	Enabled  bool          `yaml:"enabled"`
	Children child         `yaml:"child"`
}

type child struct {
	Ratio float64 `yaml:"ratio"`
}

func (s section) Validate() []error {
	var errs []error
	if s.Count < 1 {
		errs = append(errs, fmt.Errorf("count: must be positive, got %d", s.Count))
	}
	if s.Window <= 0 {
		errs = append(errs, errors.New("window: must be positive"))
	}
	return errs
}

type root struct {
	DataDir string  `yaml:"data_dir"`
	Events  section `yaml:"events"`
}

func defaults() root {
	return root{DataDir: "/var/lib/vigil", Events: section{Window: time.Minute, Count: 3}}
}

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadLayersDefaultsFileAndEnvironment(t *testing.T) {
	cfg := defaults()
	p := write(t, "events:\n  url: nats://a:4222\n  window: 90s\n")
	err := Load(p, &cfg, []string{"VIGIL_EVENTS_COUNT=7", "VIGIL_EVENTS_FILES=a.pcap, b.pcap", "VIGIL_EVENTS_CHILD_RATIO=0.5", "HOME=/root"})
	if err != nil {
		t.Fatal(err)
	}
	want := root{DataDir: "/var/lib/vigil", Events: section{URL: "nats://a:4222", Window: 90 * time.Second, Count: 7,
		Files: []string{"a.pcap", "b.pcap"}, Children: child{Ratio: 0.5}}}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Fatalf("config (-want +got):\n%s", diff)
	}
}

func TestLoadReportsEveryErrorWithItsField(t *testing.T) {
	cfg := defaults()
	p := write(t, "data_dirr: /tmp\nevents:\n  count: 0\n  window: soon\n  colour: blue\n")
	err := Load(p, &cfg, []string{"VIGIL_EVENTS_ENABLED=maybe", "VIGIL_NOPE=1"})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		`line 1: unknown key "data_dirr" in the top level`,
		`line 5: unknown key "colour" in section events`,
		`line 4: cannot read`,
		`VIGIL_EVENTS_ENABLED (environment, events.enabled): not a boolean: "maybe"`,
		`VIGIL_NOPE (environment): no such setting`,
		`events.count: must be positive, got 0`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not contain %q:\n%s", want, msg)
		}
	}
}

func TestDumpRoundTrips(t *testing.T) {
	cfg := defaults()
	cfg.Events.Files = []string{"x.pcap"}
	var b strings.Builder
	if err := Dump(&b, cfg); err != nil {
		t.Fatal(err)
	}
	back := defaults()
	if err := Load(write(t, b.String()), &back, nil); err != nil {
		t.Fatalf("dumped configuration does not load: %v\n%s", err, b.String())
	}
	if diff := cmp.Diff(cfg, back); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
}
