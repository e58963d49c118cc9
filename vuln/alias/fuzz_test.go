package alias_test

import (
	"os"
	"testing"

	"github.com/vigil-health/vigil/vuln/alias"
)

// FuzzParse: a site alias file is external input; whatever its bytes,
// Parse returns a table or an error, never panics, and a table it returns
// identifies devices without panicking.
func FuzzParse(f *testing.F) {
	shipped, err := os.ReadFile("aliases.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(shipped)
	f.Add([]byte("vendors:\n  - id: x\n    name: X\n    match: ['x']\n    csaf: [X]\n    products:\n      - {id: p, name: P, type: clinical, match: [{attribute: model, regex: 'p'}], version: [{attribute: fw, regex: '(\\d)(\\d)', join: '.'}]}\n"))
	f.Add([]byte("vendors: [{id: x, match: ['(']}]"))
	f.Add([]byte("vendors:\n  - null\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := alias.Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		tab.Identify(map[string]string{"vendor": "X", "model": "p", "fw": "12", "firmware_version": "1"})
		tab.VendorByCSAF("X")
	})
}
