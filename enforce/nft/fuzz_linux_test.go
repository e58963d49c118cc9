//go:build linux

package nft

import (
	"bytes"
	"testing"
)

// FuzzDecode: whatever the kernel hands back in Vigil's sets, decoding
// never panics, and a key that decodes into a scope Vigil can write is
// written back as the same key.
func FuzzDecode(f *testing.F) {
	for _, sp := range setSpecs {
		f.Add(sp.name, make([]byte, sp.key.Bytes))
	}
	f.Add(setF4, []byte{10, 0, 0, 1, 203, 0, 113, 45, 6, 0, 0, 0, 1, 187, 0, 0})
	f.Add(setS6, append(bytes.Repeat([]byte{0x20}, 16), 17, 0, 0, 0, 0, 53, 0, 0))
	f.Fuzz(func(t *testing.T, set string, key []byte) {
		s, err := decode(set, key)
		if err != nil {
			return
		}
		els, err := elements(s)
		if err != nil {
			return // an address Vigil never writes (unspecified, a protocol without ports)
		}
		for _, el := range els {
			if el.set == set && bytes.Equal(el.key, key) {
				return
			}
		}
		if len(els) == 1 {
			t.Fatalf("%s %x decodes to %+v, which encodes as %s %x", set, key, s, els[0].set, els[0].key)
		}
	})
}
