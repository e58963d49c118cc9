// Package rego holds the policy library Vigil ships: Rego modules that turn
// baseline deviations into alerts and enforcement requests, with their Rego
// unit tests. The files are embedded in the binary; the policy package
// loads them (unless configured not to) beside a site's own policies.
//
// The input and output contract the modules follow is documented in
// README.md next to this file.
package rego

import (
	"embed"
	"io/fs"
)

// files holds every .rego file of the library, tests included, under
// "vigil/".
//
//go:embed vigil
var files embed.FS

// Library returns the shipped library as a read-only file system rooted so
// that paths read "vigil/main.rego", "vigil/rules/internet.rego", ...
// Files ending in _test.rego are Rego unit tests, not policy.
func Library() fs.FS { return files }
