package dpitest_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/internal/testshared"
)

// recorder is a stream dissector of proto that logs every call it gets
// and consumes by a fixed policy exercising the whole contract:
// everything, part, nothing, a skip past the data, and, once the
// originator has offered 20000 bytes, nothing until a gap (the pipeline's
// buffer overflows when it sends enough). After stopAt Data calls (when
// stopAt > 0) it stops with an error.
type recorder struct {
	proto  string
	log    *[]string
	stopAt int
}

func (recorder) Name() string          { return "recorder" }
func (r recorder) Protocols() []string { return []string{r.proto} }

func (r recorder) NewStream(p *dpi.Packet) dpi.Stream {
	*r.log = append(*r.log, fmt.Sprintf("new orig=%v payload=%d", p.FromOrig, len(p.Payload)))
	return &recording{recorder: r}
}

type recording struct {
	recorder
	calls   int
	hoard   bool // keep everything, until a gap
	offered int
}

func (s *recording) Data(p *dpi.Packet, data []byte, out *dpi.Output) (int, error) {
	s.calls++
	sum := sha256.Sum256(data)
	*s.log = append(*s.log, fmt.Sprintf("data orig=%v payload=%d data=%d %x", p.FromOrig, len(p.Payload), len(data), sum[:6]))
	if s.calls == s.stopAt {
		return 0, errors.New("stop")
	}
	s.offered += len(data)
	if p.FromOrig && s.offered > 20000 && s.calls < 1000 {
		s.hoard = true
	}
	if s.hoard {
		return 0, nil
	}
	switch s.calls % 5 {
	case 0:
		return len(data) + 13, nil
	case 1:
		return len(data) / 2, nil
	case 2, 4:
		return 0, nil
	}
	return len(data), nil
}

func (s *recording) Gap(fromOrig bool) {
	s.hoard = false
	s.calls = 1000 // hoard no more
	*s.log = append(*s.log, fmt.Sprintf("gap orig=%v", fromOrig))
}

func (s *recording) End(*dpi.Output) { *s.log = append(*s.log, "end") }

// TestFeederMatchesPipeline replays captures of one connection without
// loss through the sensor pipeline and through a Feeder, with the same
// stream: both must make the same calls with the same bytes. The DICOM
// store (on loopback, large segments) overflows the buffer; the TLS
// connection (109 packets) runs the policy through many calls.
func TestFeederMatchesPipeline(t *testing.T) {
	cases := []struct {
		file, proto string
		stopAt      int
		overflow    bool
	}{
		{"../dpi/dicom/testdata/store-explicit.pcap", dpi.ProtoDICOM, 0, true},
		{"../dpi/dicom/testdata/store-explicit.pcap", dpi.ProtoDICOM, 7, false},
		{"ntop_nDPI/tests/cfgs/default/pcap/443-curl.pcap", dpi.ProtoTLS, 0, false},
		{"ntop_nDPI/tests/cfgs/default/pcap/443-curl.pcap", dpi.ProtoTLS, 33, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s stop at %d", filepath.Base(c.file), c.stopAt), func(t *testing.T) {
			path := c.file
			if !strings.HasPrefix(path, "../") {
				path = testshared.Pcap(t, path)
			}
			var piped, fed []string
			dpitest.Run(t, []string{path}, recorder{c.proto, &piped, c.stopAt})
			segs := dpitest.Segments(t, path)
			rec := recorder{c.proto, &fed, c.stopAt}
			packet := func(fromOrig bool, payload []byte) *dpi.Packet {
				return &dpi.Packet{FromOrig: fromOrig, Payload: payload}
			}
			f := dpitest.NewFeeder(t, rec.NewStream(packet(segs[0].FromOrig, segs[0].Data)), packet)
			f.Play(segs, nil)
			f.End()
			if diff := cmp.Diff(piped, fed); diff != "" {
				t.Errorf("calls (-pipeline +feeder):\n%s", diff)
			}
			if got := slices.Contains(piped, "gap orig=true"); got != c.overflow {
				t.Errorf("overflow %v, want %v", got, c.overflow)
			}
			if c.stopAt > 0 && len(piped) != c.stopAt+1 {
				t.Errorf("%d calls, want %d", len(piped), c.stopAt+1)
			}
		})
	}
}

// frames records the frames the pipeline hands to frame dissectors.
type frames struct{ got *[]dpi.Frame }

func (frames) Name() string            { return "frames" }
func (frames) Match(f *dpi.Frame) bool { return true }

func (r frames) DissectFrame(f *dpi.Frame, _ *dpi.Output) error {
	c := *f
	c.Payload = slices.Clone(f.Payload)
	*r.got = append(*r.got, c)
	return nil
}

// TestFramesMatchPipeline compares Frames with the frames the pipeline
// builds from captures with LLDP, CDP and STP (802.3 with LLC and SNAP),
// ARP, 802.1Q tags and PPPoE in QinQ.
func TestFramesMatchPipeline(t *testing.T) {
	for _, file := range []string{
		"the-tcpdump-group_tcpdump/tests/LLDP_and_CDP.pcap",
		"the-tcpdump-group_tcpdump/tests/802.1D_spanning_tree.pcap",
		"the-tcpdump-group_tcpdump/tests/lldp_8021_linkagg.pcap",
		"arkime_arkime/tests/pcap/wireshark-lldp.pcap",
		"zeek_zeek/testing/btest/Traces/cdp-v1.pcap",
		"ntop_nDPI/tests/cfgs/default/pcap/dns.pcap",
		"ControlThings-io_ct-samples/Protocols/BACnet/BACnetIP-MSTP-Mix.cap",
		"ITI_ICS-Security-Tools/pcaps/openics/EIP-FirmwareChange.pcap",
		"../dpi/lldp/testdata/lldpd-med-inventory.pcap",
	} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			path := file
			if !strings.HasPrefix(file, "../") {
				path = testshared.Pcap(t, file)
			}
			var piped []dpi.Frame
			dpitest.Run(t, []string{path}, frames{&piped})
			if len(piped) == 0 {
				t.Fatal("no frame")
			}
			if diff := cmp.Diff(piped, dpitest.Frames(t, path), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("frames (-pipeline +Frames):\n%s", diff)
			}
		})
	}
}

// TestSharedPcap checks that SharedPcap finds what testshared finds.
func TestSharedPcap(t *testing.T) {
	const rel = "zeek_zeek/testing/btest/Traces/cdp-v1.pcap"
	if got, want := dpitest.SharedPcap(rel), testshared.Pcap(t, rel); got != want {
		t.Errorf("SharedPcap = %q, want %q", got, want)
	}
}
