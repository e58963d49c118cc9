package policy

import (
	"fmt"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/vigil-health/vigil/events"
)

// Configuration configures the policy engine. The zero value is not
// useful: start from DefaultConfiguration.
type Configuration struct {
	// Builtin loads the rules shipped in the binary (vigil.rules.* of
	// package vigil/rego). Set it to false to run only the rules of Dir;
	// the library's frame (the vigil.main entry point and the vigil.lib
	// helpers) is loaded either way.
	Builtin bool `yaml:"builtin"`
	// Dir is a directory of site policies (*.rego, searched recursively,
	// hidden directories skipped; *_test.rego files are tests and are not
	// loaded). Empty for none.
	Dir string `yaml:"dir"`
	// Query is the package whose "alerts" and "enforce" sets are read.
	Query string `yaml:"query"`
	// Settings is exposed to policies as data.vigil.settings (see the
	// library README for the keys the shipped rules read). It is part of
	// the policy revision.
	Settings map[string]any `yaml:"settings"`
	// ReloadInterval is how often the policy files are read again and, when
	// their content changed, recompiled and swapped in; 0 disables it
	// (Reload can still be called, for example on SIGHUP).
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// Stream and Durable name the consumer of deviations.
	Stream  string `yaml:"stream"`
	Durable string `yaml:"durable"`
	// Edges evaluates the edge policies (package vigil.edge) over the
	// sensor's flows, once per edge and policy revision. The flow
	// consumer (EdgeDurable) runs only when the policies loaded at start
	// define edge rules.
	Edges bool `yaml:"edges"`
}

// EdgeDurable is the name of the consumer of flows for edge policies.
const EdgeDurable = "policy-edges"

// DefaultConfiguration returns the default configuration: the shipped
// library only, queried at data.vigil.main, consuming deviations from the
// analytics stream.
func DefaultConfiguration() Configuration {
	return Configuration{
		Builtin:        true,
		Query:          DefaultQuery,
		ReloadInterval: 0,
		Stream:         events.StreamAnalytics,
		Durable:        DefaultDurable,
		Edges:          true,
	}
}

// DefaultQuery is the package whose alerts and enforce sets are evaluated.
const DefaultQuery = "data.vigil.main"

// DefaultDurable is the name of the policy engine's JetStream consumer.
const DefaultDurable = "policy"

// Validate returns every problem of the configuration, each naming its
// field.
func (c Configuration) Validate() []error {
	var errs []error
	if !c.Builtin && c.Dir == "" {
		errs = append(errs, fmt.Errorf("dir: required when builtin is false (no policy would be loaded)"))
	}
	if _, err := queryRef(c.Query); err != nil {
		errs = append(errs, fmt.Errorf("query: %w", err))
	}
	if c.ReloadInterval < 0 {
		errs = append(errs, fmt.Errorf("reload_interval: must not be negative, got %s", c.ReloadInterval))
	}
	if c.Stream == "" {
		errs = append(errs, fmt.Errorf("stream: required"))
	}
	if c.Durable == "" {
		errs = append(errs, fmt.Errorf("durable: required"))
	}
	if _, err := canonicalSettings(c.Settings); err != nil {
		errs = append(errs, fmt.Errorf("settings: %w", err))
	}
	return errs
}

// queryRef parses the configured query: a ground reference under data.
func queryRef(q string) (ast.Ref, error) {
	ref, err := ast.ParseRef(q)
	if err != nil {
		return nil, fmt.Errorf("%q is not a Rego reference", q)
	}
	if !ref.HasPrefix(ast.DefaultRootRef) || len(ref) < 2 || !ref.IsGround() || strings.ContainsAny(q, " \t\n") {
		return nil, fmt.Errorf("%q must be a package path under data, such as %s", q, DefaultQuery)
	}
	return ref, nil
}
