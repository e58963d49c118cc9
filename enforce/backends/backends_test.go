package backends

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/enforce/edl"
	"github.com/vigil-health/vigil/enforce/fortigate/fortigatetest"
	"github.com/vigil-health/vigil/enforce/panos/panostest"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/config"
)

// file is how the section sits in Vigil's configuration file.
type file struct {
	Backends Configuration `yaml:"backends"`
}

func load(t *testing.T, yml string, env ...string) (Configuration, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := file{Backends: DefaultConfiguration()}
	err := config.Load(path, &cfg, env)
	return cfg.Backends, err
}

func TestLoadAndBuildEveryKind(t *testing.T) {
	fw := panostest.New(panostest.Options{Key: "KEY"})
	defer fw.Close()
	fg := fortigatetest.New(fortigatetest.Options{Token: "TOK"})
	defer fg.Close()
	fg.CreateGroup("root", "VIGIL_BLOCK", false)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer hook.Close()
	script := filepath.Join(t.TempDir(), "vigil-ipset.sh")

	cfg, err := load(t, fmt.Sprintf(`
backends:
  edl:
    - username: firewall
      password: s3cret
  panos:
    - name: pa-core
      url: %s
      api_key: KEY
      insecure_skip_verify: true
  fortigate:
    - url: %s
      token: TOK
      insecure_skip_verify: true
  webhook:
    - url: %s
      secret: 0123456789abcdef
  ipset:
    - path: %s
      ipv6: false
`, fw.URL, fg.URL, hook.URL, script))
	if err != nil {
		t.Fatal(err)
	}
	// Defaults fill what the file leaves out.
	if c := cfg.EDL[0]; c.Name != "edl" || c.Path != "/edl/" || c.ObjectName != "vigil-block" {
		t.Errorf("edl defaults not applied: %+v", c)
	}
	if c := cfg.PANOS[0]; c.BlockTag != "vigil-block" || c.Vsys != "vsys1" || c.BatchSize != 500 || c.Timeout != 30*time.Second {
		t.Errorf("panos defaults not applied: %+v", c)
	}
	if c := cfg.IPSet[0]; c.SetPrefix != "vigil" || !cmp.Equal(c.Chains, []string{"FORWARD"}) || c.IPv6 {
		t.Errorf("ipset defaults or setting not applied: %+v", c)
	}

	bs, err := New(cfg, Dependencies{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range bs {
		names = append(names, b.Name())
	}
	if diff := cmp.Diff([]string{"edl", "pa-core", "fortigate", "webhook", "ipset"}, names); diff != "" {
		t.Fatalf("backends (-want +got):\n%s", diff)
	}
	// Each one enforces a block through its configuration.
	ctx := context.Background()
	block := enforce.Entry{ID: "req-1", Scope: events.BlockScope{IP: "10.20.0.102"}, Reason: "test"}
	for _, b := range bs {
		if c, ok := b.(Component); ok {
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer c.Stop(ctx)
		}
		if !b.Supports(block.Scope) {
			t.Errorf("%s does not support a single address", b.Name())
		}
		if err := b.Apply(ctx, []enforce.Entry{block}, nil); err != nil {
			t.Errorf("%s: %v", b.Name(), err)
			continue
		}
		got, err := b.Actual(ctx)
		if b.Name() == "webhook" {
			if err != enforce.ErrActualUnknown {
				t.Errorf("webhook Actual: %v", err)
			}
			continue
		}
		if err != nil || len(got) != 1 || got[0].ID != "req-1" || got[0].Scope != block.Scope {
			t.Errorf("%s read back %v, %v", b.Name(), got, err)
		}
	}
	m, ok := bs[0].(Mountable)
	if !ok {
		t.Fatal("the feed cannot be mounted")
	}
	mux := http.NewServeMux()
	mux.Handle(m.Path(), m.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/edl/"+edl.FilePlain, nil)
	req.SetBasicAuth("firewall", "s3cret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "10.20.0.102\n" {
		t.Errorf("mounted feed served %q", body)
	}
	if got := fw.Tags()["10.20.0.102"]; !cmp.Equal(got, []string{"vigil-block", "vigil-id-req-1"}) {
		t.Errorf("PAN-OS tags %v", got)
	}
	if got := fg.Members("root", "VIGIL_BLOCK", false); !cmp.Equal(got, []string{"vigil-req-1"}) {
		t.Errorf("FortiGate members %v", got)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	_, err := load(t, `
backends:
  edl:
    - username: a
      pasword: typo
  panos:
    - url: https://fw
      api_key: k
  ipset:
    - path: relative.sh
`)
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), `unknown key "pasword" in an enforcement backend of kind edl`) {
		t.Errorf("unknown key: %v", err)
	}

	_, err = load(t, `
backends:
  edl:
    - allow_anonymous: true
      name: block
  webhook:
    - name: block
      url: ftp://x
      secret: short
  ipset:
    - path: relative.sh
`)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`backends.webhook[0].url: "ftp://x" is not an http(s) URL`,
		"backends.webhook[0].secret: must be at least 16 bytes",
		`backends.webhook[0].name: "block" is already the name of edl[0]`,
		`backends.ipset[0].path: "relative.sh" must be an absolute file path`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no %q in:\n%v", want, err)
		}
	}
}

func TestRedacted(t *testing.T) {
	cfg, err := load(t, `
backends:
  edl:
    - username: firewall
      password: edl-password
      bearer_token: edl-token
  panos:
    - url: https://fw
      api_key: panos-key
  fortigate:
    - url: https://fg
      token: fortigate-token
  webhook:
    - url: https://hook
      secret: webhook-secret-0123
`)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := config.Dump(&b, file{Backends: cfg.Redacted()}); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"edl-password", "edl-token", "panos-key", "fortigate-token", "webhook-secret-0123"} {
		if strings.Contains(b.String(), secret) {
			t.Errorf("dump shows %q:\n%s", secret, b.String())
		}
	}
	if !strings.Contains(b.String(), "username: firewall") {
		t.Errorf("dump lost a setting that is not secret:\n%s", b.String())
	}
	if cfg.EDL[0].Password != "edl-password" {
		t.Error("Redacted changed the original")
	}
}

func TestNothingConfigured(t *testing.T) {
	bs, err := New(DefaultConfiguration(), Dependencies{})
	if err != nil || len(bs) != 0 {
		t.Errorf("empty configuration: %v, %v", bs, err)
	}
}

// TestDocumentedExample loads the example of docs/enforcement-backends.md,
// so that the page shows a configuration that is accepted.
func TestDocumentedExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/enforcement-backends.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml example in the page")
	}
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	os.WriteFile(path, []byte(example), 0o600)
	var cfg struct {
		Enforce struct {
			Backends Configuration `yaml:"backends"`
		} `yaml:"enforce"`
	}
	if err := config.Load(path, &cfg, nil); err != nil {
		t.Fatalf("the documented example is refused: %v", err)
	}
	b := cfg.Enforce.Backends
	if len(b.EDL) != 1 || len(b.PANOS) != 1 || len(b.FortiGate) != 1 || len(b.Webhook) != 1 || len(b.IPSet) != 1 {
		t.Errorf("example read as %+v", b)
	}
}
