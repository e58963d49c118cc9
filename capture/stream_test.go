package capture_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/internal/testshared"
)

// collector is a stream dissector that keeps every byte it is offered,
// consuming only whole multiples of chunk bytes when chunk > 0 (so the
// pipeline must buffer the rest), and reports the digest of each direction
// at the end of the connection.
type collector struct {
	proto string
	chunk int
}

func (c collector) Name() string        { return "collector" }
func (c collector) Protocols() []string { return []string{c.proto} }
func (c collector) NewStream(*dpi.Packet) dpi.Stream {
	return &collected{chunk: c.chunk}
}

type collected struct {
	chunk int
	bytes [2][]byte
	gaps  int
	last  *dpi.Packet
}

func (s *collected) Data(p *dpi.Packet, data []byte, out *dpi.Output) (int, error) {
	n := len(data)
	if s.chunk > 0 {
		n -= n % s.chunk
	}
	dir := 1
	if p.FromOrig {
		dir = 0
	}
	s.bytes[dir] = append(s.bytes[dir], data[:n]...)
	cp := *p
	s.last = &cp
	return n, nil
}

func (s *collected) Gap(bool) { s.gaps++ }

func (s *collected) End(out *dpi.Output) {
	for dir, b := range s.bytes {
		sum := sha256.Sum256(b)
		out.Observe(s.last, dpi.Sender, fmt.Sprintf("stream.%d", dir),
			fmt.Sprintf("%d %s gaps=%d", len(b), hex.EncodeToString(sum[:8]), s.gaps), "test", 1, "")
	}
	out.Count("test.ends", 1)
}

// TestStreamReassembly compares the bytes the pipeline hands to stream
// dissectors with tshark's reassembly of the first TCP stream
// (tshark -r FILE -qz follow,tcp,raw,0, digests of each direction).
func TestStreamReassembly(t *testing.T) {
	cases := []struct {
		file, proto string
		orig, resp  string
	}{
		// A ClientHello split over two segments.
		{"arkime_arkime/tests/pcap/tls-split-client-hello.pcap", dpi.ProtoTLS,
			"2521 7d9b0f50651fe5ac gaps=0", "10151 9d6174e1da500a24 gaps=0"},
		{"ntop_nDPI/tests/cfgs/default/pcap/hl7.pcap", dpi.ProtoHL7,
			"477 2565c53dd5b7738d gaps=0", "168 3fb7cac2476ff201 gaps=0"},
		{"ntop_nDPI/tests/cfgs/default/pcap/443-curl.pcap", dpi.ProtoTLS,
			"930 4ee297a5bf095180 gaps=0", "65886 05b484bca5535280 gaps=0"},
		{"ntop_nDPI/tests/cfgs/default/pcap/http.pcapng", dpi.ProtoHTTP,
			"74 2aafeccc33b20ec5 gaps=0", "528 0e2177d8c989a278 gaps=0"},
	}
	for _, c := range cases {
		for _, chunk := range []int{0, 1000} {
			t.Run(fmt.Sprintf("%s/chunk%d", c.file, chunk), func(t *testing.T) {
				res := dpitest.Run(t, []string{testshared.Pcap(t, c.file)}, collector{proto: c.proto, chunk: chunk})
				got := map[string]string{}
				for _, o := range res.Observations {
					if _, dup := got[o.Attribute]; !dup {
						got[o.Attribute] = o.Value // the first connection
					}
				}
				if chunk == 0 && (got["stream.0"] != c.orig || got["stream.1"] != c.resp) {
					t.Errorf("reassembled %q / %q, tshark %q / %q", got["stream.0"], got["stream.1"], c.orig, c.resp)
				}
				if chunk > 0 && (!prefixOf(got["stream.0"], c.orig, chunk) || !prefixOf(got["stream.1"], c.resp, chunk)) {
					t.Errorf("with a buffered remainder: %q / %q, tshark %q / %q", got["stream.0"], got["stream.1"], c.orig, c.resp)
				}
				if res.Counter("test.ends") == 0 {
					t.Error("no flow carries the stream's counter")
				}
			})
		}
	}
}

// prefixOf tells whether a digest line describes the whole-chunk prefix
// of want's stream: the same length rounded down to chunk, and the same
// digest when nothing was left over.
func prefixOf(got, want string, chunk int) bool {
	var gn, wn int
	var gh, wh string
	fmt.Sscanf(got, "%d %s", &gn, &gh)
	fmt.Sscanf(want, "%d %s", &wn, &wh)
	if gn != wn-wn%chunk {
		return false
	}
	return wn%chunk != 0 || gh == wh
}
