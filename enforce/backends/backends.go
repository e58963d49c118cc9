// Package backends builds the enforcement points the configuration
// enables: the blocklist feed (edl), PAN-OS, FortiGate, the webhook and the
// ipset script. It is the registry of backends that cmd/vigil wires into
// the enforce engine; the nftables backend is the engine's own.
package backends

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-health/vigil/enforce"
	"github.com/vigil-health/vigil/enforce/edl"
	"github.com/vigil-health/vigil/enforce/fortigate"
	"github.com/vigil-health/vigil/enforce/ipset"
	"github.com/vigil-health/vigil/enforce/panos"
	"github.com/vigil-health/vigil/enforce/webhook"
)

// Configuration lists the enabled backends by kind; each list may hold
// several (two firewalls, a feed per site). Every backend's name must be
// unique: it is how events, metrics and the reconciler tell them apart.
// Each entry starts from its kind's defaults, so only what differs needs
// to be written.
type Configuration struct {
	EDL       []EDL       `yaml:"edl"`
	PANOS     []PANOS     `yaml:"panos"`
	FortiGate []FortiGate `yaml:"fortigate"`
	Webhook   []Webhook   `yaml:"webhook"`
	IPSet     []IPSet     `yaml:"ipset"`
}

// DefaultConfiguration enables nothing: enforcement points are chosen by
// the operator.
func DefaultConfiguration() Configuration { return Configuration{} }

// EDL configures a blocklist feed (see edl.Configuration).
type EDL struct {
	edl.Configuration `yaml:",inline"`
}

// PANOS configures a PAN-OS firewall (see panos.Configuration).
type PANOS struct {
	panos.Configuration `yaml:",inline"`
}

// FortiGate configures a FortiGate (see fortigate.Configuration).
type FortiGate struct {
	fortigate.Configuration `yaml:",inline"`
}

// Webhook configures a webhook (see webhook.Configuration).
type Webhook struct {
	webhook.Configuration `yaml:",inline"`
}

// IPSet configures an ipset script (see ipset.Configuration).
type IPSet struct {
	ipset.Configuration `yaml:",inline"`
}

// UnmarshalYAML starts from the feed defaults; unknown keys are errors.
func (c *EDL) UnmarshalYAML(n *yaml.Node) error {
	return decodeStrict(n, "edl", &c.Configuration, edl.DefaultConfiguration())
}

// UnmarshalYAML starts from the PAN-OS defaults; unknown keys are errors.
func (c *PANOS) UnmarshalYAML(n *yaml.Node) error {
	return decodeStrict(n, "panos", &c.Configuration, panos.DefaultConfiguration())
}

// UnmarshalYAML starts from the FortiGate defaults; unknown keys are errors.
func (c *FortiGate) UnmarshalYAML(n *yaml.Node) error {
	return decodeStrict(n, "fortigate", &c.Configuration, fortigate.DefaultConfiguration())
}

// UnmarshalYAML starts from the webhook defaults; unknown keys are errors.
func (c *Webhook) UnmarshalYAML(n *yaml.Node) error {
	return decodeStrict(n, "webhook", &c.Configuration, webhook.DefaultConfiguration())
}

// UnmarshalYAML starts from the ipset defaults; unknown keys are errors.
func (c *IPSet) UnmarshalYAML(n *yaml.Node) error {
	return decodeStrict(n, "ipset", &c.Configuration, ipset.DefaultConfiguration())
}

// decodeStrict decodes a mapping over defaults. The configuration loader's
// decoder rejects unknown keys, but a custom unmarshaler decodes with a
// fresh, lenient decoder, so the keys are checked here.
func decodeStrict[T any](n *yaml.Node, kind string, dst *T, defaults T) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: an enforcement backend of kind %s must be a mapping of settings", n.Line, kind)
	}
	known := map[string]bool{}
	t := reflect.TypeOf(defaults)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			known[name] = true
		}
	}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !known[k.Value] {
			errs = append(errs, fmt.Errorf("line %d: unknown key %q in an enforcement backend of kind %s", k.Line, k.Value, kind))
		}
	}
	if len(errs) > 0 {
		// A *yaml.TypeError lets the decoder go on and report the other
		// problems of the file too, all at once.
		te := &yaml.TypeError{}
		for _, e := range errs {
			te.Errors = append(te.Errors, e.Error())
		}
		return te
	}
	v := defaults
	if err := n.Decode(&v); err != nil {
		return err
	}
	*dst = v
	return nil
}

// Validate reports every problem, naming fields within the section
// (edl[0].listen, ...), and names used twice.
func (c Configuration) Validate() []error {
	var errs []error
	seen := map[string]string{}
	each := func(kind string, i int, name string, fieldErrs []error) {
		where := fmt.Sprintf("%s[%d]", kind, i)
		for _, e := range fieldErrs {
			errs = append(errs, fmt.Errorf("%s.%w", where, e))
		}
		if name == "" {
			return
		}
		if other, dup := seen[name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q is already the name of %s; give each backend its own", where, name, other))
			return
		}
		seen[name] = where
	}
	for i, b := range c.EDL {
		each("edl", i, b.Name, b.Validate())
	}
	for i, b := range c.PANOS {
		each("panos", i, b.Name, b.Validate())
	}
	for i, b := range c.FortiGate {
		each("fortigate", i, b.Name, b.Validate())
	}
	for i, b := range c.Webhook {
		each("webhook", i, b.Name, b.Validate())
	}
	for i, b := range c.IPSet {
		each("ipset", i, b.Name, b.Validate())
	}
	return errs
}

// Redacted returns the configuration with every secret replaced, for
// `vigil config dump`.
func (c Configuration) Redacted() Configuration {
	const hidden = "(set; not shown)"
	hide := func(s *string) {
		if *s != "" {
			*s = hidden
		}
	}
	out := Configuration{
		EDL:       append([]EDL(nil), c.EDL...),
		PANOS:     append([]PANOS(nil), c.PANOS...),
		FortiGate: append([]FortiGate(nil), c.FortiGate...),
		Webhook:   append([]Webhook(nil), c.Webhook...),
		IPSet:     append([]IPSet(nil), c.IPSet...),
	}
	for i := range out.EDL {
		hide(&out.EDL[i].Password)
		hide(&out.EDL[i].BearerToken)
	}
	for i := range out.PANOS {
		hide(&out.PANOS[i].APIKey)
		hide(&out.PANOS[i].Password)
	}
	for i := range out.FortiGate {
		hide(&out.FortiGate[i].Token)
	}
	for i := range out.Webhook {
		hide(&out.Webhook[i].Secret)
	}
	return out
}

// Dependencies of the backends.
type Dependencies struct {
	Logger *slog.Logger
	// Now is the wall clock for timeouts on enforcement points.
	Now func() time.Time
}

// Component is a backend that runs something and must be started before
// use and stopped after (the feed: its state file and its own listener).
type Component interface {
	Start(context.Context) error
	Stop(context.Context) error
}

// Mountable is a backend that serves HTTP and can be mounted on Vigil's
// own server: mux.Handle(b.Path(), b.Handler()).
type Mountable interface {
	Path() string
	Handler() http.Handler
}

var (
	_ Component = (*edl.Feed)(nil)
	_ Mountable = (*edl.Feed)(nil)
)

// New builds the configured backends, in the order of the configuration
// (feeds, PAN-OS, FortiGate, webhooks, ipset scripts). It contacts no
// enforcement point and starts nothing: start the ones that are a
// Component, mount the ones that are Mountable.
func New(cfg Configuration, deps Dependencies) ([]enforce.Backend, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("enforcement backends: %w", errors.Join(errs...))
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	var out []enforce.Backend
	add := func(b enforce.Backend, err error) error {
		if err != nil {
			return err
		}
		out = append(out, b)
		return nil
	}
	log := func(kind, name string) *slog.Logger {
		return deps.Logger.With("backend", name, "kind", kind)
	}
	for _, c := range cfg.EDL {
		if err := add(edl.New(c.Configuration, edl.Dependencies{Logger: log("edl", c.Name), Now: deps.Now})); err != nil {
			return nil, err
		}
	}
	for _, c := range cfg.PANOS {
		if err := add(panos.New(c.Configuration, panos.Dependencies{Logger: log("panos", c.Name), Now: deps.Now})); err != nil {
			return nil, err
		}
	}
	for _, c := range cfg.FortiGate {
		if err := add(fortigate.New(c.Configuration, fortigate.Dependencies{Logger: log("fortigate", c.Name)})); err != nil {
			return nil, err
		}
	}
	for _, c := range cfg.Webhook {
		if err := add(webhook.New(c.Configuration, webhook.Dependencies{Logger: log("webhook", c.Name), Now: deps.Now})); err != nil {
			return nil, err
		}
	}
	for _, c := range cfg.IPSet {
		if err := add(ipset.New(c.Configuration, ipset.Dependencies{Logger: log("ipset", c.Name), Now: deps.Now})); err != nil {
			return nil, err
		}
	}
	return out, nil
}
