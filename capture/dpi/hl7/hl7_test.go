package hl7

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

// fact is the part of an observation the tests compare.
type fact struct {
	IP, Attr, Value string
	Conf            float64
}

func facts(obs []events.Observation) []fact {
	var out []fact
	for _, o := range obs {
		if o.Protocol != Protocol {
			continue
		}
		out = append(out, fact{o.IP, o.Attribute, o.Value, o.Confidence})
	}
	return out
}

// assertNoLeak fails if a marker appears in any value or evidence.
func assertNoLeak(t *testing.T, obs []events.Observation, markers ...string) {
	t.Helper()
	for _, o := range obs {
		for _, m := range markers {
			if strings.Contains(o.Value, m) || strings.Contains(o.Evidence, m) || strings.Contains(o.Attribute, m) {
				t.Errorf("observation %s=%q (%s) leaks %q", o.Attribute, o.Value, o.Evidence, m)
			}
		}
	}
}

// TestNDPICapture reads nDPI's hl7.pcap: one ADT^A01 and its ACK. The
// expected MSH values were read with
//
//	tshark -r ntop_nDPI/tests/cfgs/default/pcap/hl7.pcap -d tcp.port==6661,hl7 -V -Y hl7
//
// (tshark numbers MSH fields as HL7 does: its "field 3" is MSH-3; for MSA
// its "field 2" is MSA-1).
func TestNDPICapture(t *testing.T) {
	file := testshared.Pcap(t, "ntop_nDPI/tests/cfgs/default/pcap/hl7.pcap")
	res := dpitest.Run(t, []string{file}, New())
	const client, server = "10.0.0.155", "10.0.0.126"
	want := []fact{
		// Frame 4, ADT^A01 from the client.
		{client, dpi.AttrHL7SendingApplication, "SENDING_APPLICATION", 0.9},
		{client, dpi.AttrHL7SendingFacility, "SENDING_FACILITY", 0.9},
		{server, dpi.AttrHL7ReceivingApplication, "RECEIVING_APPLICATION", 0.6},
		{server, dpi.AttrHL7ReceivingFacility, "RECEIVING_FACILITY", 0.6},
		{client, dpi.AttrHL7MessageType, "ADT^A01", 0.9},
		{client, dpi.AttrHL7Version, "2.3", 0.9},
		// Frame 5, the ACK (MSA-1 AA).
		{server, dpi.AttrHL7SendingApplication, "RECEIVING_APPLICATION", 0.9},
		{server, dpi.AttrHL7SendingFacility, "RECEIVING_FACILITY", 0.9},
		{client, dpi.AttrHL7ReceivingApplication, "SENDING_APPLICATION", 0.6},
		{client, dpi.AttrHL7ReceivingFacility, "SENDING_FACILITY", 0.6},
		{server, dpi.AttrHL7MessageType, "ACK", 0.9},
		{server, dpi.AttrHL7Version, "2.3", 0.9},
	}
	if diff := cmp.Diff(want, facts(res.Observations)); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}
	for name, n := range map[string]uint64{CounterMessages: 2, CounterAcks: 1, CounterNacks: 0} {
		if got := res.Counter(name); got != n {
			t.Errorf("counter %s = %d, want %d", name, got, n)
		}
	}
	// PID, NK1 and AL1 of the ADT message.
	assertNoLeak(t, res.Observations, "MOUSE", "MICKEY", "MINNIE", "135769", "19281118",
		"Main St", "notdisney", "Penicillin", "Anaphylactic", "934576120110613083617")
	if res.Stats.DissectErrors != 0 {
		t.Errorf("%d dissect errors", res.Stats.DissectErrors)
	}
}

// TestRecordedCapture reads testdata/mllp.pcap (see testdata/README.md).
// The expected values were read with
//
//	tshark -r testdata/mllp.pcap -d tcp.port==2575,hl7 -V -Y hl7
//
// Each fact is reported once per connection, so repeated messages add
// counters, not observations.
func TestRecordedCapture(t *testing.T) {
	res := dpitest.Run(t, []string{"testdata/mllp.pcap"}, New())
	const lo = "127.0.0.1"
	lab, labFac := "ZZLAB^1.2.840.99999.1", "ZZHOSP&WEST" // MSH-3 ZZLAB^1.2.840.99999.1^ISO, MSH-4 ZZHOSP\T\WEST
	pump, pumpFac := "ZZPUMP", "^2.16.840.1.999.7"        // MSH-4 ^2.16.840.1.999.7^ISO
	want := []fact{
		// Connection 1 (mllp_send): ADT^A01 CTRL-1 and its ACK.
		{lo, dpi.AttrHL7SendingApplication, lab, 0.9},
		{lo, dpi.AttrHL7SendingFacility, labFac, 0.9},
		{lo, dpi.AttrHL7ReceivingApplication, "VIGILRIS", 0.6},
		{lo, dpi.AttrHL7ReceivingFacility, "VIGILFAC", 0.6},
		{lo, dpi.AttrHL7MessageType, "ADT^A01", 0.9},
		{lo, dpi.AttrHL7Version, "2.5.1", 0.9},
		{lo, dpi.AttrHL7SendingApplication, "VIGILRIS", 0.9},
		{lo, dpi.AttrHL7SendingFacility, "VIGILFAC", 0.9},
		{lo, dpi.AttrHL7ReceivingApplication, lab, 0.6},
		{lo, dpi.AttrHL7ReceivingFacility, labFac, 0.6},
		{lo, dpi.AttrHL7MessageType, "ACK^A01", 0.9},
		{lo, dpi.AttrHL7Version, "2.5.1", 0.9},
		// ORU^R01 CTRL-2, ACK AA; ADT^A08 ERR-1, ACK AE; ORU^R01 REJ-1, ACK AR.
		{lo, dpi.AttrHL7MessageType, "ORU^R01", 0.9},
		{lo, dpi.AttrHL7MessageType, "ACK^R01", 0.9},
		{lo, dpi.AttrHL7MessageType, "ADT^A08", 0.9},
		{lo, dpi.AttrHL7MessageType, "ACK^A08", 0.9},
		// Connection 2: ORU^R01 BIG-1 (2.7, in 46 segments) and its ACK.
		{lo, dpi.AttrHL7SendingApplication, pump, 0.9},
		{lo, dpi.AttrHL7SendingFacility, pumpFac, 0.9},
		{lo, dpi.AttrHL7ReceivingApplication, "VIGILRIS", 0.6},
		{lo, dpi.AttrHL7ReceivingFacility, "VIGILFAC", 0.6},
		{lo, dpi.AttrHL7MessageType, "ORU^R01", 0.9},
		{lo, dpi.AttrHL7Version, "2.7", 0.9},
		{lo, dpi.AttrHL7SendingApplication, "VIGILRIS", 0.9},
		{lo, dpi.AttrHL7SendingFacility, "VIGILFAC", 0.9},
		{lo, dpi.AttrHL7ReceivingApplication, pump, 0.6},
		{lo, dpi.AttrHL7ReceivingFacility, pumpFac, 0.6},
		{lo, dpi.AttrHL7MessageType, "ACK^R01", 0.9},
		{lo, dpi.AttrHL7Version, "2.7", 0.9},
		// ADT^A04 (2.3) and ORM^O01 (2.4) in one segment, then their ACKs.
		{lo, dpi.AttrHL7MessageType, "ADT^A04", 0.9},
		{lo, dpi.AttrHL7Version, "2.3", 0.9},
		{lo, dpi.AttrHL7MessageType, "ORM^O01", 0.9},
		{lo, dpi.AttrHL7Version, "2.4", 0.9},
		{lo, dpi.AttrHL7MessageType, "ACK^A04", 0.9},
		{lo, dpi.AttrHL7Version, "2.3", 0.9},
		{lo, dpi.AttrHL7MessageType, "ACK^O01", 0.9},
		{lo, dpi.AttrHL7Version, "2.4", 0.9},
	}
	if diff := cmp.Diff(want, facts(res.Observations)); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}
	// 7 messages and 7 ACKs; MSA-1: 5 AA, 1 AE, 1 AR.
	for name, n := range map[string]uint64{CounterMessages: 14, CounterAcks: 5, CounterNacks: 2} {
		if got := res.Counter(name); got != n {
			t.Errorf("counter %s = %d, want %d", name, got, n)
		}
	}
	assertNoLeak(t, res.Observations, "ZZTESTPATIENT", "ZZRESULT", "ZZ0001", "ZZ0002", "Glucose", "CTRL-", "BIG-1")
	for _, f := range res.Flows {
		for name := range f.App {
			if name != CounterMessages && name != CounterAcks && name != CounterNacks {
				t.Errorf("unexpected counter %q", name)
			}
		}
	}
	if res.Stats.DissectErrors != 0 {
		t.Errorf("%d dissect errors", res.Stats.DissectErrors)
	}
}

// feeder drives a Stream as the capture pipeline does: unconsumed bytes are
// offered again with the next chunk, a count past the data skips bytes.
type feeder struct {
	t      testing.TB
	s      dpi.Stream
	buf    [2][]byte
	skip   [2]int
	out    dpi.Output
	err    error
	maxBuf int // the most bytes left unconsumed at once
}

func newFeeder(t testing.TB) *feeder {
	return &feeder{t: t, s: New().NewStream(&dpi.Packet{})}
}

func (f *feeder) feed(fromOrig bool, chunk []byte) {
	if f.err != nil {
		return
	}
	d := 1
	if fromOrig {
		d = 0
	}
	if f.skip[d] >= len(chunk) {
		f.skip[d] -= len(chunk)
		return
	}
	chunk = chunk[f.skip[d]:]
	f.skip[d] = 0
	view := append(f.buf[d], chunk...)
	p := &dpi.Packet{FromOrig: fromOrig, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
		Payload: chunk}
	if !fromOrig {
		p.Src, p.Dst = p.Dst, p.Src
	}
	n, err := f.s.Data(p, view, &f.out)
	if err != nil {
		f.err = err
		return
	}
	if n < 0 || n > len(view) && n-len(view) > 1<<30 {
		f.t.Fatalf("consumed %d of %d", n, len(view))
	}
	if n >= len(view) {
		f.skip[d] = n - len(view)
		f.buf[d] = f.buf[d][:0]
		return
	}
	f.buf[d] = append(f.buf[d][:0], view[n:]...)
	f.maxBuf = max(f.maxBuf, len(f.buf[d]))
}

func (f *feeder) gap(fromOrig bool) {
	d := 1
	if fromOrig {
		d = 0
	}
	f.buf[d], f.skip[d] = f.buf[d][:0], 0
	f.s.Gap(fromOrig)
}

func (f *feeder) count(name string) uint64 {
	var n uint64
	for _, c := range f.out.Counters {
		if c.Name == name {
			n += c.N
		}
	}
	return n
}

func (f *feeder) values(attr string) []string {
	var out []string
	for _, o := range f.out.Observations {
		if o.Attribute == attr {
			out = append(out, o.Value)
		}
	}
	return out
}

func mllp(segments ...string) []byte {
	return []byte("\x0b" + strings.Join(segments, "\r") + "\r\x1c\r")
}

var (
	adt = mllp(`MSH|^~\&|ADT1^1.2.3^ISO|GOOD HEALTH\F\HOSP|RIS|RAD\E\X|198808181126|SECURITY|ADT^A01^ADT_A01|MSG00001|P|2.5.1`,
		"EVN|A01|198808181123", "PID|1||PATID1234^5^M11||ZZTESTPATIENT^WILLIAM^A^III||19610615|M",
		"OBX|1|NM|GLU||ZZRESULT|mg/dl", "NTE|1||ZZRESULT free text")
	ack = mllp(`MSH|^~\&|RIS|RAD|ADT1|GOOD HEALTH|198808181127||ACK^A01^ACK|ACK00001|P|2.5.1`, "MSA|AE|MSG00001|ZZRESULT")
)

func TestStream(t *testing.T) {
	f := newFeeder(t)
	f.feed(true, adt)
	f.feed(false, ack)
	if f.err != nil {
		t.Fatal(f.err)
	}
	got := map[string][]string{}
	for _, attr := range []string{dpi.AttrHL7SendingApplication, dpi.AttrHL7SendingFacility,
		dpi.AttrHL7ReceivingApplication, dpi.AttrHL7ReceivingFacility, dpi.AttrHL7MessageType, dpi.AttrHL7Version} {
		got[attr] = f.values(attr)
	}
	want := map[string][]string{
		dpi.AttrHL7SendingApplication:   {"ADT1^1.2.3", "RIS"},
		dpi.AttrHL7SendingFacility:      {"GOOD HEALTH|HOSP", "RAD"},
		dpi.AttrHL7ReceivingApplication: {"RIS", "ADT1"},
		dpi.AttrHL7ReceivingFacility:    {`RAD\X`, "GOOD HEALTH"},
		dpi.AttrHL7MessageType:          {"ADT^A01", "ACK^A01"},
		dpi.AttrHL7Version:              {"2.5.1", "2.5.1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if f.count(CounterMessages) != 2 || f.count(CounterAcks) != 0 || f.count(CounterNacks) != 1 {
		t.Errorf("counters %v", f.out.Counters)
	}
	assertNoLeak(t, f.out.Observations, "ZZTESTPATIENT", "ZZRESULT", "PATID1234", "MSG00001", "SECURITY")
}

func TestSides(t *testing.T) {
	f := newFeeder(t)
	f.feed(true, adt)
	for _, o := range f.out.Observations {
		wantIP := "10.0.0.1"
		if o.Attribute == dpi.AttrHL7ReceivingApplication || o.Attribute == dpi.AttrHL7ReceivingFacility {
			wantIP = "10.0.0.2"
		}
		if o.IP != wantIP {
			t.Errorf("%s about %s, want %s", o.Attribute, o.IP, wantIP)
		}
	}
}

// TestSplits feeds a conversation cut at every byte and in one piece: the
// results must not depend on where segments end.
func TestSplits(t *testing.T) {
	whole := newFeeder(t)
	stream := append(append(append([]byte{}, adt...), adt...), ack...)
	whole.feed(true, stream)
	if whole.err != nil {
		t.Fatal(whole.err)
	}
	for cut := 1; cut < len(stream); cut++ {
		f := newFeeder(t)
		f.feed(true, stream[:cut])
		f.feed(true, stream[cut:])
		if f.err != nil {
			t.Fatalf("cut %d: %v", cut, f.err)
		}
		if diff := cmp.Diff(whole.out, f.out); diff != "" {
			t.Fatalf("cut %d (-whole +split):\n%s", cut, diff)
		}
	}
	// Byte by byte.
	f := newFeeder(t)
	for i := range stream {
		f.feed(true, stream[i:i+1])
	}
	if diff := cmp.Diff(whole.out, f.out); diff != "" {
		t.Fatalf("byte by byte (-whole +split):\n%s", diff)
	}
	if f.count(CounterMessages) != 3 || f.count(CounterNacks) != 1 {
		t.Errorf("counters %v", f.out.Counters)
	}
}

// TestLargeMessage checks a message of 1 MB is scanned, not buffered.
func TestLargeMessage(t *testing.T) {
	obx := "OBX|1|ED|WAVE||" + strings.Repeat("ZZRESULT", 1<<17)
	msg := mllp(`MSH|^~\&|MON|ICU|||||ORU^R01|1|P|2.6`, "PID|1||ZZTESTPATIENT", obx)
	f := newFeeder(t)
	for i := 0; i < len(msg); i += 1448 {
		f.feed(true, msg[i:min(i+1448, len(msg))])
	}
	f.feed(true, adt)
	if f.err != nil {
		t.Fatal(f.err)
	}
	if f.maxBuf > 1448 {
		t.Errorf("kept %d bytes unconsumed", f.maxBuf)
	}
	if got := f.values(dpi.AttrHL7MessageType); !cmp.Equal(got, []string{"ORU^R01", "ADT^A01"}) {
		t.Errorf("message types %q", got)
	}
	if f.count(CounterMessages) != 2 {
		t.Errorf("counters %v", f.out.Counters)
	}
}

// TestResync covers gaps: mid-message pickup, loss inside a message, and
// bytes without MLLP framing.
func TestResync(t *testing.T) {
	f := newFeeder(t)
	f.gap(true)
	f.feed(true, adt[40:])  // picked up mid-message: skipped
	f.feed(true, adt[:140]) // MSH complete
	f.gap(true)             // the rest of that message is lost
	f.feed(true, adt[160:]) // tail without framing: ignored
	f.feed(true, []byte("MSH|^~\\&|NOFRAME|X|||||ADT^A01|1|P|2.5\rPID|1||ZZTESTPATIENT\r"))
	f.feed(true, []byte("garbage \x0bPID|no\x1c\r"))
	f.feed(true, mllp(`MSH|^~\&|SYNCED|FAC|||||ORU^R01|2|P|2.5`, "OBX|1|ST|X||ZZRESULT"))
	if f.err != nil {
		t.Fatal(f.err)
	}
	if got := f.values(dpi.AttrHL7SendingApplication); !cmp.Equal(got, []string{"ADT1^1.2.3", "SYNCED"}) {
		t.Errorf("sending applications %q", got)
	}
	if f.count(CounterMessages) != 2 {
		t.Errorf("counters %v", f.out.Counters)
	}
	assertNoLeak(t, f.out.Observations, "ZZTESTPATIENT", "ZZRESULT", "NOFRAME")
}

func TestValues(t *testing.T) {
	cases := []struct {
		name, msh string
		attr      string
		want      []string
	}{
		{"type keeps code and trigger only", `MSH|^~\&|A|B|||||ORU^R01^ORU_R01|1|P|2.5`, dpi.AttrHL7MessageType, []string{"ORU^R01"}},
		{"type lower case", `MSH|^~\&|A|B|||||adt^a08|1|P|2.5`, dpi.AttrHL7MessageType, []string{"ADT^A08"}},
		{"type free text dropped", `MSH|^~\&|A|B|||||PATIENT SMITH^A01|1|P|2.5`, dpi.AttrHL7MessageType, nil},
		{"trigger free text dropped", `MSH|^~\&|A|B|||||ADT^JOHN SMITH|1|P|2.5`, dpi.AttrHL7MessageType, []string{"ADT"}},
		{"version", `MSH|^~\&|A|B|||||ADT^A01|1|P|2.5.1^USA`, dpi.AttrHL7Version, []string{"2.5.1"}},
		{"version free text", `MSH|^~\&|A|B|||||ADT^A01|1|P|v2 SMITH`, dpi.AttrHL7Version, nil},
		{"hd repetitions", `MSH|^~\&|APP1~APP2|B|||||ADT^A01|1|P|2.5`, dpi.AttrHL7SendingApplication, []string{"APP1"}},
		{"hd subcomponents", `MSH|^~\&|APP&SUB^1.2&X^ISO|B|||||ADT^A01|1|P|2.5`, dpi.AttrHL7SendingApplication, []string{"APP^1.2"}},
		{"hd escapes", `MSH|^~\&|A\S\B\R\C\T\D\E\\H\x\N\\X0D0A\\.br\\Zx\|B|||||ADT^A01|1|P|2.5`, dpi.AttrHL7SendingApplication, []string{`A^B~C&D\x`}},
		{"unterminated escape", `MSH|^~\&|AB\C|B|||||ADT^A01|1|P|2.5`, dpi.AttrHL7SendingApplication, []string{"AB"}},
		{"control characters", "MSH|^~\\&|A\x07B\x1bC|B|||||ADT^A01|1|P|2.5", dpi.AttrHL7SendingApplication, []string{"ABC"}},
		{"other delimiters", `MSH#$%!@#APP$1.2#FAC#####ADT$A01#1#P#2.4`, dpi.AttrHL7SendingApplication, []string{"APP^1.2"}},
		{"other delimiters type", `MSH#$%!@#APP$1.2#FAC#####ADT$A01#1#P#2.4`, dpi.AttrHL7MessageType, []string{"ADT^A01"}},
		{"short MSH", `MSH|^~\&|APP`, dpi.AttrHL7SendingApplication, []string{"APP"}},
		{"long value bounded", `MSH|^~\&|` + strings.Repeat("A", 300) + `^1.2|B|||||ADT^A01|1|P|2.5`, dpi.AttrHL7SendingApplication, []string{strings.Repeat("A", 255)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFeeder(t)
			f.feed(true, mllp(c.msh))
			if f.err != nil {
				t.Fatal(f.err)
			}
			if diff := cmp.Diff(c.want, f.values(c.attr)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"letter as separator":  mllp(`MSHA^~\&A`),
		"duplicate delimiters": mllp(`MSH|^^\&|A`),
		"no encoding chars":    mllp(`MSH||A|B`),
		"long segment":         append([]byte("\x0bMSH|^~\\&|"), bytes.Repeat([]byte("A"), maxSegment+10)...),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFeeder(t)
			f.feed(true, b)
			if f.err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(f.err, ErrBadMSH) && !errors.Is(f.err, ErrSegmentTooLong) {
				t.Errorf("error %v", f.err)
			}
		})
	}
}

// TestDedupe checks a long connection reports each fact once.
func TestDedupe(t *testing.T) {
	f := newFeeder(t)
	for range 100 {
		f.feed(true, adt)
	}
	if n := len(f.out.Observations); n != 6 {
		t.Errorf("%d observations for 100 identical messages", n)
	}
	if f.count(CounterMessages) != 100 {
		t.Errorf("counters %v", f.out.Counters)
	}
}

func FuzzStream(f *testing.F) {
	stream := append(append(append([]byte{}, adt...), ack...), mllp(`MSH#$%!@#APP$1.2#FAC#####ADT$A01#1#P#2.4`)...)
	f.Add(stream, []byte{10, 200, 3})
	f.Add(adt, []byte{1})
	f.Add(ack, []byte{})
	f.Add([]byte("\x0bMSH|^~\\&|A\\X41\\|B\\F\\|C|D|||ACK|1|P|2.5\rMSA|AA\r\x1c\r"), []byte{5, 5})
	f.Fuzz(func(t *testing.T, b []byte, cuts []byte) {
		fd := newFeeder(t)
		fromOrig := true
		for len(b) > 0 {
			n := len(b)
			if len(cuts) > 0 {
				n = min(n, int(cuts[0])+1)
				if cuts[0]&0x80 != 0 {
					fromOrig = !fromOrig
				}
				if cuts[0] == 0xff {
					fd.gap(fromOrig)
				}
				cuts = cuts[1:]
			}
			fd.feed(fromOrig, b[:n])
			b = b[n:]
		}
		if fd.maxBuf > maxSegment+256 {
			t.Fatalf("kept %d bytes", fd.maxBuf)
		}
		for _, o := range fd.out.Observations {
			if len(o.Value) > dpi.MaxValue || o.Value == "" {
				t.Fatalf("value %q", o.Value)
			}
			for _, r := range o.Value {
				if r < ' ' || r == 0x7f {
					t.Fatalf("control character in %q", o.Value)
				}
			}
		}
		for _, c := range fd.out.Counters {
			if c.Name != CounterMessages && c.Name != CounterAcks && c.Name != CounterNacks {
				t.Fatalf("counter %q", c.Name)
			}
		}
	})
}
