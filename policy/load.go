package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/vigil-health/vigil/rego"
)

// builtinPrefix starts the name of every file of the shipped library, so
// that an error message says where the file came from.
const builtinPrefix = "builtin:"

// source is one Rego file.
type source struct {
	// name is "builtin:vigil/main.rego" for the shipped library, else the
	// path under the configured directory, as given.
	name string
	data []byte
}

// isTestFile reports whether a file holds Rego unit tests.
func isTestFile(name string) bool { return strings.HasSuffix(name, "_test.rego") }

// libraryRules is the folder of the shipped rules, loaded only when the
// configuration asks for the builtin library. The rest of the library (the
// vigil.main entry point and the vigil.lib helpers) is always loaded: it is
// the frame site policies plug into.
const libraryRules = "vigil/rules/"

// fixturesFile holds the test helpers of data.vigil.fixtures.
const fixturesFile = "vigil/fixtures_test.rego"

// readSources reads the .rego files of the shipped library and of dirs,
// sorted by name. The shipped rules are included only when builtin; test
// files only when tests (the library's own tests only with its rules).
func readSources(builtin bool, dirs []string, tests bool) ([]source, error) {
	lib, err := librarySources(builtin, tests)
	if err != nil {
		return nil, err
	}
	return withDirSources(lib, dirs, tests)
}

// keepFile reports whether a file is loaded: Rego, and not a test unless
// tests.
func keepFile(name string, tests bool) bool {
	return strings.HasSuffix(name, ".rego") && (tests || !isTestFile(name))
}

// librarySources reads the shipped library (see readSources), in walk
// order.
func librarySources(builtin, tests bool) ([]source, error) {
	var out []source
	lib := rego.Library()
	err := fs.WalkDir(lib, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !keepFile(p, tests) {
			return err
		}
		if !builtin && (strings.HasPrefix(p, libraryRules) || (isTestFile(p) && p != fixturesFile)) {
			return nil
		}
		b, err := fs.ReadFile(lib, p)
		if err != nil {
			return err
		}
		out = append(out, source{name: builtinPrefix + path.Clean(p), data: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read shipped policies: %w", err)
	}
	return out, nil
}

// withDirSources returns lib followed by the .rego files under dirs
// (hidden directories skipped), sorted by name. lib is not modified.
func withDirSources(lib []source, dirs []string, tests bool) ([]source, error) {
	out := slices.Clone(lib)
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != dir && strings.HasPrefix(d.Name(), ".") {
					return fs.SkipDir
				}
				return nil
			}
			if !keepFile(d.Name(), tests) {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out = append(out, source{name: p, data: b})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read policy dir: %w", err)
		}
	}
	slices.SortFunc(out, func(a, b source) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// revision hashes the file names, their contents and the settings document:
// the short hex SHA-256 that every decision records.
func revision(srcs []source, settings []byte) string {
	h := sha256.New()
	for _, s := range srcs {
		fmt.Fprintf(h, "%s\x00%d\x00", s.name, len(s.data))
		h.Write(s.data)
	}
	fmt.Fprintf(h, "settings\x00%d\x00", len(settings))
	h.Write(settings)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// canonicalSettings returns the configured settings as canonical JSON
// (map keys sorted, numbers kept exact): hashed into the revision and
// loaded into OPA's store. Nil settings give nil.
func canonicalSettings(settings map[string]any) ([]byte, error) {
	if settings == nil {
		return nil, nil
	}
	b, err := json.Marshal(settings)
	if err != nil {
		return nil, fmt.Errorf("encode settings: %w", err)
	}
	doc, err := decodeSettings(b)
	if err != nil {
		return nil, err
	}
	// Marshalling the decoded document sorts map keys: canonical bytes.
	canon, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode settings: %w", err)
	}
	return canon, nil
}

// decodeSettings decodes settings JSON into the document OPA's store
// takes, numbers kept exact.
func decodeSettings(b []byte) (any, error) {
	var doc any
	if err := util.UnmarshalJSON(b, &doc); err != nil {
		return nil, fmt.Errorf("decode settings: %w", err)
	}
	return doc, nil
}

// deniedBuiltins are removed from the capabilities in addition to every
// builtin OPA marks non-deterministic (http.send, net.lookup_ip_addr,
// opa.runtime, time.now_ns, rand.intn, uuid.rfc4122, JWT verification ...).
// Certificate verification depends on the wall clock.
var deniedBuiltins = map[string]bool{
	"http.send":          true,
	"net.lookup_ip_addr": true,
	"opa.runtime":        true,
	"time.now_ns":        true,
	"rand.intn":          true,
	"uuid.rfc4122":       true,
	"crypto.x509.parse_and_verify_certificates":              true,
	"crypto.x509.parse_and_verify_certificates_with_options": true,
}

// Capabilities returns the OPA capabilities Vigil policies are compiled
// with: every builtin of this OPA version except those that reach the
// network or whose result is not a function of their arguments (see
// RestrictedBuiltins), and no network access for the compiler itself.
// Decisions made with them can be replayed byte for byte.
func Capabilities() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(slices.Clone(c.Builtins), func(b *ast.Builtin) bool {
		return b.Nondeterministic || deniedBuiltins[b.Name]
	})
	c.AllowNet = []string{}
	return c
}

// RestrictedBuiltins lists the names of the OPA builtins Vigil policies may
// not call, sorted.
func RestrictedBuiltins() []string {
	var out []string
	for _, b := range ast.CapabilitiesForThisVersion().Builtins {
		if b.Nondeterministic || deniedBuiltins[b.Name] {
			out = append(out, b.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Error is one problem in a policy file.
type Error struct {
	File    string
	Row     int
	Col     int
	Message string
}

// Error formats the problem as file:row:col: message.
func (e Error) Error() string {
	if e.File == "" {
		return e.Message
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Row, e.Col, e.Message)
}

// Errors is every problem found while loading a policy set, sorted by file
// and position.
type Errors []Error

// Error lists the problems one per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, x := range e {
		lines[i] = x.Error()
	}
	if len(e) == 1 {
		return "invalid policy: " + lines[0]
	}
	return fmt.Sprintf("invalid policy: %d errors:\n%s", len(e), strings.Join(lines, "\n"))
}

// convertErrors turns OPA errors into Errors, explaining restricted
// builtins instead of calling them undefined.
func convertErrors(err error) Errors {
	var astErrs ast.Errors
	if !errors.As(err, &astErrs) {
		return Errors{{Message: err.Error()}}
	}
	restricted := RestrictedBuiltins()
	out := make(Errors, 0, len(astErrs))
	for _, e := range astErrs {
		msg := e.Message
		if name, ok := strings.CutPrefix(msg, "undefined function "); ok {
			if _, found := slices.BinarySearch(restricted, name); found {
				msg = fmt.Sprintf("builtin %s is not allowed in Vigil policies: policies must not reach the network or depend on the clock or randomness, so that decisions can be replayed", name)
			}
		}
		x := Error{Message: e.Code + ": " + msg}
		if e.Location != nil {
			x.File, x.Row, x.Col = e.Location.File, e.Location.Row, e.Location.Col
		}
		out = append(out, x)
	}
	slices.SortStableFunc(out, func(a, b Error) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Row != b.Row {
			return a.Row - b.Row
		}
		return a.Col - b.Col
	})
	return out
}

// parseSources parses every file as Rego v1, collecting all errors.
func parseSources(srcs []source) (map[string]*ast.Module, error) {
	modules := make(map[string]*ast.Module, len(srcs))
	var errs Errors
	opts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
	for _, s := range srcs {
		m, err := ast.ParseModuleWithOpts(s.name, string(s.data), opts)
		if err != nil {
			errs = append(errs, convertErrors(err)...)
			continue
		}
		if m == nil {
			errs = append(errs, Error{File: s.name, Row: 1, Col: 1, Message: "empty module: a policy file needs a package"})
			continue
		}
		modules[s.name] = m
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return modules, nil
}

// newCompiler returns a compiler with Vigil's capabilities and no error
// limit, so that every problem is reported at once.
func newCompiler(print bool) *ast.Compiler {
	return ast.NewCompiler().
		WithCapabilities(Capabilities()).
		WithEnablePrintStatements(print).
		WithDefaultRegoVersion(ast.RegoV1).
		SetErrorLimit(0)
}
