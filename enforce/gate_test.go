package enforce

import (
	"testing"

	"github.com/vigil-health/vigil/events"
)

// FuzzCanonicalScope: a scope from policy output never panics the gate,
// and a scope it accepts is canonical (accepting it again changes
// nothing) and names something to block.
func FuzzCanonicalScope(f *testing.F) {
	f.Add("10.20.0.102", "203.0.113.45", uint16(443), "tcp", "")
	f.Add("", "2001:DB8::1", uint16(0), "", "")
	f.Add("::ffff:10.0.0.1", "10.0.0.2", uint16(53), "", "")
	f.Add("", "", uint16(0), "", "00:12:21:4E:0A:12")
	f.Add("10.0.0.1%eth0", "", uint16(0), "", "")
	f.Add("10.0.0.1", "2001:db8::1", uint16(1), "UDP", "")
	f.Fuzz(func(t *testing.T, ip, peer string, port uint16, transport, mac string) {
		s, err := CanonicalScope(events.BlockScope{IP: ip, PeerIP: peer, Port: port, Transport: transport, MAC: mac})
		if err != nil {
			return
		}
		again, err := CanonicalScope(s)
		if err != nil || again != s {
			t.Fatalf("not canonical: %+v -> %+v (%v)", s, again, err)
		}
		if ScopeKind(s) == "" {
			t.Fatalf("accepted scope names nothing: %+v", s)
		}
	})
}
