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
	dpitest.NoLeak(t, res.Observations, "MOUSE", "MICKEY", "MINNIE", "135769", "19281118",
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
	dpitest.NoLeak(t, res.Observations, "ZZTESTPATIENT", "ZZRESULT", "ZZ0001", "ZZ0002", "Glucose", "CTRL-", "BIG-1")
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

var conn = dpitest.Conn{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:2575")}

func newFeeder(t testing.TB) *dpitest.Feeder {
	return dpitest.NewFeeder(t, New().NewStream(conn.Packet(true, nil)), conn.Packet)
}

// values returns the values of attribute attr, in order.
func values(f *dpitest.Feeder, attr string) []string {
	var out []string
	for _, o := range f.Out.Observations {
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
	f.Data(true, adt)
	f.Data(false, ack)
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	got := map[string][]string{}
	for _, attr := range []string{dpi.AttrHL7SendingApplication, dpi.AttrHL7SendingFacility,
		dpi.AttrHL7ReceivingApplication, dpi.AttrHL7ReceivingFacility, dpi.AttrHL7MessageType, dpi.AttrHL7Version} {
		got[attr] = values(f, attr)
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
	if f.Counters()[CounterMessages] != 2 || f.Counters()[CounterAcks] != 0 || f.Counters()[CounterNacks] != 1 {
		t.Errorf("counters %v", f.Out.Counters)
	}
	dpitest.NoLeak(t, f.Out.Observations, "ZZTESTPATIENT", "ZZRESULT", "PATID1234", "MSG00001", "SECURITY")
}

func TestSides(t *testing.T) {
	f := newFeeder(t)
	f.Data(true, adt)
	for _, o := range f.Out.Observations {
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
	stream := append(append(append([]byte{}, adt...), adt...), ack...)
	f := dpitest.CheckSplits(t, func() *dpitest.Feeder { return newFeeder(t) }, true, stream)
	if f.Counters()[CounterMessages] != 3 || f.Counters()[CounterNacks] != 1 {
		t.Errorf("counters %v", f.Out.Counters)
	}
}

// TestLargeMessage checks a message of 1 MB is scanned, not buffered.
func TestLargeMessage(t *testing.T) {
	obx := "OBX|1|ED|WAVE||" + strings.Repeat("ZZRESULT", 1<<17)
	msg := mllp(`MSH|^~\&|MON|ICU|||||ORU^R01|1|P|2.6`, "PID|1||ZZTESTPATIENT", obx)
	f := newFeeder(t)
	for i := 0; i < len(msg); i += 1448 {
		f.Data(true, msg[i:min(i+1448, len(msg))])
	}
	f.Data(true, adt)
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	if f.MaxKept > 1448 {
		t.Errorf("kept %d bytes unconsumed", f.MaxKept)
	}
	if got := values(f, dpi.AttrHL7MessageType); !cmp.Equal(got, []string{"ORU^R01", "ADT^A01"}) {
		t.Errorf("message types %q", got)
	}
	if f.Counters()[CounterMessages] != 2 {
		t.Errorf("counters %v", f.Out.Counters)
	}
}

// TestResync covers gaps: mid-message pickup, loss inside a message, and
// bytes without MLLP framing.
func TestResync(t *testing.T) {
	f := newFeeder(t)
	f.Gap(true)
	f.Data(true, adt[40:])  // picked up mid-message: skipped
	f.Data(true, adt[:140]) // MSH complete
	f.Gap(true)             // the rest of that message is lost
	f.Data(true, adt[160:]) // tail without framing: ignored
	f.Data(true, []byte("MSH|^~\\&|NOFRAME|X|||||ADT^A01|1|P|2.5\rPID|1||ZZTESTPATIENT\r"))
	f.Data(true, []byte("garbage \x0bPID|no\x1c\r"))
	f.Data(true, mllp(`MSH|^~\&|SYNCED|FAC|||||ORU^R01|2|P|2.5`, "OBX|1|ST|X||ZZRESULT"))
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	if got := values(f, dpi.AttrHL7SendingApplication); !cmp.Equal(got, []string{"ADT1^1.2.3", "SYNCED"}) {
		t.Errorf("sending applications %q", got)
	}
	if f.Counters()[CounterMessages] != 2 {
		t.Errorf("counters %v", f.Out.Counters)
	}
	dpitest.NoLeak(t, f.Out.Observations, "ZZTESTPATIENT", "ZZRESULT", "NOFRAME")
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
			f.Data(true, mllp(c.msh))
			if f.Err != nil {
				t.Fatal(f.Err)
			}
			if diff := cmp.Diff(c.want, values(f, c.attr)); diff != "" {
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
			f.Data(true, b)
			if f.Err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(f.Err, ErrBadMSH) && !errors.Is(f.Err, ErrSegmentTooLong) {
				t.Errorf("error %v", f.Err)
			}
		})
	}
}

// TestDedupe checks a long connection reports each fact once.
func TestDedupe(t *testing.T) {
	f := newFeeder(t)
	for range 100 {
		f.Data(true, adt)
	}
	if n := len(f.Out.Observations); n != 6 {
		t.Errorf("%d observations for 100 identical messages", n)
	}
	if f.Counters()[CounterMessages] != 100 {
		t.Errorf("counters %v", f.Out.Counters)
	}
}

// FuzzStream feeds b to a stream in the segments ctrl describes
// (dpitest.Feeder.Split).
func FuzzStream(f *testing.F) {
	stream := append(append(append([]byte{}, adt...), ack...), mllp(`MSH#$%!@#APP$1.2#FAC#####ADT$A01#1#P#2.4`)...)
	f.Add(stream, []byte{10, 200, 3})
	f.Add(adt, []byte{1})
	f.Add(ack, []byte{})
	f.Add([]byte("\x0bMSH|^~\\&|A\\X41\\|B\\F\\|C|D|||ACK|1|P|2.5\rMSA|AA\r\x1c\r"), []byte{5, 5})
	f.Fuzz(func(t *testing.T, b []byte, ctrl []byte) {
		fd := newFeeder(t)
		fd.Split(b, ctrl)
		fd.End()
		if fd.MaxKept > maxSegment+256 {
			t.Fatalf("kept %d bytes", fd.MaxKept)
		}
		dpitest.CheckValues(t, fd.Out.Observations)
		for _, o := range fd.Out.Observations {
			if strings.ContainsFunc(o.Value, func(r rune) bool { return r < ' ' || r == 0x7f }) {
				t.Fatalf("control character in %q", o.Value)
			}
		}
		for _, c := range fd.Out.Counters {
			if c.Name != CounterMessages && c.Name != CounterAcks && c.Name != CounterNacks {
				t.Fatalf("counter %q", c.Name)
			}
		}
	})
}
