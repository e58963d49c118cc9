package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The enforce section holds the engine's own settings and, beside them,
// the vendor enforcement points; both are checked strictly, overridable
// from the environment, and the points' secrets never appear in a dump.
func TestEnforceSectionWithBackends(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yaml")
	yaml := `data_dir: ` + dir + `
enforce:
  dry_run: false
  backends:
    edl:
      - name: ward-feed
        username: paloalto
        password: feed-secret-9
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIGIL_ENFORCE_KILL_SWITCH", "true")
	cfg, err := (&globalOptions{configFile: file}).loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Enforce.DryRun || len(cfg.Enforce.Backends.EDL) != 1 || cfg.Enforce.Backends.EDL[0].Name != "ward-feed" {
		t.Errorf("enforce section read as %+v", cfg.Enforce)
	}
	if !cfg.Enforce.KillSwitch {
		t.Errorf("VIGIL_ENFORCE_KILL_SWITCH did not reach the inline engine settings")
	}

	out, _, err := vigil(t, "--config", file, "config", "dump")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "feed-secret-9") {
		t.Errorf("config dump shows the feed password:\n%s", out)
	}
	if !strings.Contains(out, "ward-feed") || !strings.Contains(out, "dry_run: false") {
		t.Errorf("config dump lacks the enforce section:\n%s", out)
	}

	bad := strings.Replace(yaml, "dry_run: false", "dry_run: false\n  dryrun: true", 1)
	bad = strings.Replace(bad, "name: ward-feed", "name: ward-feed\n        passwrd: x", 1)
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = (&globalOptions{configFile: file}).loadConfig()
	if err == nil || !strings.Contains(err.Error(), "dryrun") || !strings.Contains(err.Error(), "passwrd") {
		t.Errorf("unknown keys in enforce and its backends: %v", err)
	}
}
