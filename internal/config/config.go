// Package config loads Vigil's one configuration file: defaults in code,
// then the YAML file (strict: an unknown key is an error), then environment
// overrides (VIGIL_<SECTION>_<FIELD>), then validation. Every error names
// its field, and all errors are reported at once.
//
// The package knows nothing of the sections it loads: the caller passes a
// struct of sections whose defaults are already set, each optionally with
// a Validate() []error method.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "VIGIL_"

// Validator is implemented by sections that check themselves. Errors name
// fields relative to the section; Load prefixes the section's path.
type Validator interface {
	Validate() []error
}

// Load reads path (if not empty) into cfg, which must be a pointer to a
// struct holding defaults, applies environment overrides from env (use
// os.Environ()), and validates. The returned error joins every problem.
func Load(path string, cfg any, env []string) error {
	var errs []error
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read configuration: %w", err)
		}
		errs = append(errs, decode(path, data, cfg)...)
	}
	errs = append(errs, applyEnv(cfg, env)...)
	errs = append(errs, Validate(cfg)...)
	return errors.Join(errs...)
}

// decode reads strict YAML and rewrites the decoder's messages so that they
// name the file, the line and the section path of the field.
func decode(path string, data []byte, cfg any) []error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []error{fmt.Errorf("%s: %w", path, err)}
	}
	paths := typePaths(reflect.TypeOf(cfg).Elem(), "")
	var errs []error
	for _, msg := range te.Errors {
		errs = append(errs, fmt.Errorf("%s: %s", path, rewrite(msg, paths)))
	}
	return errs
}

var (
	unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)
	badValue     = regexp.MustCompile(`^line (\d+): cannot unmarshal (.+) into (\S+)$`)
)

func rewrite(msg string, paths map[string]string) string {
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		where := paths[m[3]]
		if where == "" {
			return fmt.Sprintf("line %s: unknown key %q", m[1], m[2])
		}
		return fmt.Sprintf("line %s: unknown key %q in %s", m[1], m[2], where)
	}
	if m := badValue.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("line %s: cannot read %s as %s", m[1], m[2], m[3])
	}
	return msg
}

// typePaths maps Go struct type names to the YAML path of the section they
// configure, so "type events.Configuration" becomes "events".
func typePaths(t reflect.Type, prefix string) map[string]string {
	out := map[string]string{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		if t.Kind() != reflect.Struct || t == reflect.TypeOf(time.Time{}) {
			return
		}
		name := t.String()
		if _, seen := out[name]; !seen {
			if prefix == "" {
				out[name] = "the top level"
			} else {
				out[name] = "section " + prefix
			}
		}
		for i := range t.NumField() {
			f := t.Field(i)
			key := yamlKey(f)
			if key == "" {
				continue
			}
			walk(f.Type, join(prefix, key))
		}
	}
	walk(t, prefix)
	return out
}

// inlineKey is what yamlKey returns for an embedded struct whose fields
// YAML reads as the parent's own (`yaml:",inline"`); walkers recurse into
// it with the parent's path.
const inlineKey = "\x00inline"

func yamlKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag := f.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" && f.Anonymous && slices.Contains(strings.Split(opts, ","), "inline") {
		return inlineKey
	}
	if name == "-" {
		return ""
	}
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

func join(prefix, key string) string {
	if key == inlineKey {
		return prefix
	}
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// EnvName is the environment variable that overrides a YAML path, for
// example "events.url" → VIGIL_EVENTS_URL.
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(path))
}

var durationType = reflect.TypeOf(time.Duration(0))

// applyEnv sets every field whose environment variable is present.
func applyEnv(cfg any, env []string) []error {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			vars[k] = v
		}
	}
	if len(vars) == 0 {
		return nil
	}
	known := map[string]bool{}
	var errs []error
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			key := yamlKey(f)
			if key == "" {
				continue
			}
			fv := v.Field(i)
			p := join(path, key)
			if fv.Kind() == reflect.Struct && fv.Type() != durationType {
				walk(fv, p)
				continue
			}
			name := EnvName(p)
			known[name] = true
			raw, ok := vars[name]
			if !ok {
				continue
			}
			if err := setFromString(fv, raw); err != nil {
				errs = append(errs, fmt.Errorf("%s (environment, %s): %w", name, p, err))
			}
		}
	}
	walk(reflect.ValueOf(cfg).Elem(), "")
	for name := range vars {
		if !known[name] && !ignoredEnv[name] {
			errs = append(errs, fmt.Errorf("%s (environment): no such setting", name))
		}
	}
	return errs
}

// ignoredEnv are VIGIL_ variables that are not settings.
var ignoredEnv = map[string]bool{"VIGIL_CONFIG": true}

func setFromString(v reflect.Value, raw string) error {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("not a duration: %q", raw)
		}
		v.SetInt(int64(d))
		return nil
	case v.Kind() == reflect.String:
		v.SetString(raw)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", raw)
		}
		v.SetBool(b)
	case v.CanInt():
		n, err := strconv.ParseInt(raw, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("not an integer: %q", raw)
		}
		v.SetInt(n)
	case v.CanUint():
		n, err := strconv.ParseUint(raw, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("not an unsigned integer: %q", raw)
		}
		v.SetUint(n)
	case v.CanFloat():
		n, err := strconv.ParseFloat(raw, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("not a number: %q", raw)
		}
		v.SetFloat(n)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var parts []string
		for p := range strings.SplitSeq(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts).Convert(v.Type()))
	default:
		return fmt.Errorf("cannot be set from the environment (type %s)", v.Type())
	}
	return nil
}

// Validate calls Validate on every section (a struct field implementing
// Validator, at any depth) and prefixes each error with its path.
func Validate(cfg any) []error {
	var errs []error
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		if path != "" {
			if sectionErrs, ok := validate(v.Interface()); ok {
				for _, err := range sectionErrs {
					errs = append(errs, fmt.Errorf("%s.%w", path, err))
				}
				return
			}
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			key := yamlKey(f)
			if key == "" || v.Field(i).Kind() != reflect.Struct {
				continue
			}
			walk(v.Field(i), join(path, key))
		}
	}
	v := reflect.ValueOf(cfg)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if rootErrs, ok := validate(v.Interface()); ok {
		errs = append(errs, rootErrs...)
	}
	walk(v, "")
	return errs
}

// validate calls a section's Validate, accepting both the []error form and
// the single (joined) error form.
func validate(section any) ([]error, bool) {
	switch val := section.(type) {
	case Validator:
		return val.Validate(), true
	case interface{ Validate() error }:
		err := val.Validate()
		if err == nil {
			return nil, true
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			return j.Unwrap(), true
		}
		return []error{err}, true
	}
	return nil, false
}

// Dump writes cfg as YAML.
func Dump(w io.Writer, cfg any) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return fmt.Errorf("encode configuration: %w", err)
	}
	return enc.Close()
}
