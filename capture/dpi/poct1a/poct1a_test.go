package poct1a

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

type fact struct {
	IP, Attr, Value string
	Conf            float64
	Evidence        string
}

func facts(obs []events.Observation) []fact {
	var out []fact
	for _, o := range obs {
		if o.Protocol == Protocol {
			out = append(out, fact{o.IP, o.Attribute, o.Value, o.Confidence, o.Evidence})
		}
	}
	return out
}

// TestCapture reads a real DCA Vantage conversation. The expected DEV
// values were read with
//
//	tshark -r standash_poct1-a_server/pcaps/dca_basic_conversation_flow.pcapng -qz follow,tcp,ascii,0
//
// (frame 4, HEL.R01 from 192.168.2.111). The conversation holds 10
// messages: HEL, ACK, DST, ACK, REQ, OBS, ACK, EOT, DTV, ACK.
func TestCapture(t *testing.T) {
	file := testshared.Pcap(t, "standash_poct1-a_server/pcaps/dca_basic_conversation_flow.pcapng")
	res := dpitest.Run(t, []string{file}, dpi.POCT1A{}, New())
	const dev = "192.168.2.111"
	want := []fact{
		{dev, AttrVendorID, "SIEM", 0.95, "HEL.R01 DEV.vendor_id"},
		{dev, dpi.AttrModel, "DCA Vantage", 0.95, "HEL.R01 DEV.model_id"},
		{dev, dpi.AttrSerial, "S013023", 0.95, "HEL.R01 DEV.serial_id"},
		{dev, dpi.AttrVendor, "Siemens Healthcare Diagnostics", 0.95, "HEL.R01 DEV.manufacturer_name"},
		{dev, dpi.AttrHardwareVersion, "1", 0.95, "HEL.R01 DEV.hw_version"},
		{dev, dpi.AttrSoftwareVersion, "4.4.0.0", 0.95, "HEL.R01 DEV.sw_version"},
	}
	if diff := cmp.Diff(want, facts(res.Observations)); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}
	for _, o := range res.Observations {
		if o.MAC == "" {
			t.Errorf("%s not keyed by MAC", o.Attribute)
		}
	}
	for name, n := range map[string]uint64{CounterMessages: 10, CounterObservations: 1} {
		if got := res.Counter(name); got != n {
			t.Errorf("counter %s = %d, want %d", name, got, n)
		}
	}
	// From OBS.R01 (frame 13): results, units, reagent lot, notes.
	dpitest.NoLeak(t, res.Observations, "HbA1c", "mmol/mol", "eAG", "mg/dL", "Slope", "0852", "2018-07-26", "IFCC")
	if res.Stats.DissectErrors != 0 {
		t.Errorf("%d dissect errors", res.Stats.DissectErrors)
	}
}

var conn = dpitest.Conn{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:3001")}

func newFeeder(t testing.TB) *dpitest.Feeder {
	return dpitest.NewFeeder(t, New().NewStream(conn.Packet(true, nil)), conn.Packet)
}

// values maps the attributes observed to their last values.
func values(f *dpitest.Feeder) map[string]string {
	m := map[string]string{}
	for _, o := range f.Out.Observations {
		m[o.Attribute] = o.Value
	}
	return m
}

const decl = `<?xml version="1.0" encoding="utf-8"?>`

// Messages after the capture's, with synthetic patient content.
const (
	hel = decl + `<HEL.R01><HDR><HDR.message_type V="HEL.R01" /><HDR.control_id V="10014" /></HDR>` +
		`<DEV><DEV.device_id V="SIEM^DCA Vantage^S013023" /><DEV.vendor_id V="SIEM" /><DEV.model_id V="DCA Vantage" />` +
		`<DEV.serial_id V="S013023" /><DEV.manufacturer_name V="Siemens Healthcare Diagnostics" /><DEV.hw_version V="1" />` +
		`<DEV.sw_version V="4.4.0.0" /><DEV.device_name V="ED &amp; ICU meter 3" /><DCP><DCP.application_timeout V="60" /></DCP>` +
		`<DSC><DSC.max_message_sz V="16000" /></DSC></DEV></HEL.R01>`
	ackMsg = decl + `<ACK.R01><HDR><HDR.message_type V="ACK.R01" /></HDR><ACK><ACK.type_cd V="AA"/></ACK></ACK.R01>`
	obs    = decl + `<OBS.R01 xmlns:x="urn:x"><HDR><HDR.message_type V="OBS.R01" /></HDR><SVC><PT><PT.patient_id V="ZZTESTPATIENT" />` +
		`<PT.name><FAMILY V="ZZTESTPATIENT" /></PT.name><OBS><OBS.observation_id V="HbA1c" /><OBS.value V="ZZRESULT 64" U="mmol/mol" />` +
		`<NTE><NTE.text V="a &lt;/OBS.R01&gt; in text, </OBS.R01x> and </OBS.R0" /></NTE></OBS></PT>` +
		`<DEV><DEV.model_id V="ZZLEAK" /></DEV></SVC></OBS.R01 >`
	eot = decl + "\n<EOT.R01/>\n"
)

func TestStream(t *testing.T) {
	f := newFeeder(t)
	f.Data(true, []byte(hel+obs+eot))
	f.Data(false, []byte(ackMsg))
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	want := map[string]string{
		AttrVendorID:            "SIEM",
		dpi.AttrModel:           "DCA Vantage",
		dpi.AttrSerial:          "S013023",
		dpi.AttrVendor:          "Siemens Healthcare Diagnostics",
		dpi.AttrHardwareVersion: "1",
		dpi.AttrSoftwareVersion: "4.4.0.0",
		AttrDeviceName:          "ED & ICU meter 3",
	}
	if diff := cmp.Diff(want, values(f)); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	for _, o := range f.Out.Observations {
		if o.IP != "10.0.0.1" {
			t.Errorf("%s about %s, want the device 10.0.0.1", o.Attribute, o.IP)
		}
	}
	if f.Counters()[CounterMessages] != 4 || f.Counters()[CounterObservations] != 1 {
		t.Errorf("counters %v", f.Out.Counters)
	}
	dpitest.NoLeak(t, f.Out.Observations, "ZZTESTPATIENT", "ZZRESULT", "ZZLEAK", "HbA1c")
}

// TestSplits cuts the conversation at every byte: the results must not
// depend on where segments end, and an OBS is never buffered.
func TestSplits(t *testing.T) {
	conv := []byte(hel + obs + eot + obs + hel)
	f := dpitest.CheckSplits(t, func() *dpitest.Feeder { return newFeeder(t) }, true, conv)
	if f.Counters()[CounterMessages] != 5 || f.Counters()[CounterObservations] != 2 {
		t.Errorf("counters %v", f.Out.Counters)
	}
	// Only a hello is kept whole; OBS bytes are consumed as they come.
	f = newFeeder(t)
	for i := range obs {
		f.Data(true, []byte(obs[i:i+1]))
	}
	if f.MaxKept > 16 {
		t.Errorf("kept %d bytes of an OBS", f.MaxKept)
	}
}

// TestOtherMessages covers vendor messages (Nova's NOVA.* topics) and
// patient lists: counted, never read.
func TestOtherMessages(t *testing.T) {
	f := newFeeder(t)
	f.Data(false, []byte(decl+`<NOVA.STATSTRIP.SETUP><DEV><DEV.model_id V="ZZLEAK"/></DEV></NOVA.STATSTRIP.SETUP>`+
		`<NOVA.PHYS.R01 a="1"/>`+decl+`<PTL.R01><PT><PT.patient_id V="ZZTESTPATIENT"/><HEL.R01>x</HEL.R01></PT></PTL.R01>`+
		`<HDR><Nova.x/><A.></A.><ACK.R01/>`))
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	if len(f.Out.Observations) != 0 {
		t.Errorf("observations %v", f.Out.Observations)
	}
	if f.Counters()[CounterMessages] != 4 || f.Counters()[CounterObservations] != 0 {
		t.Errorf("counters %v", f.Out.Counters)
	}
}

func TestLargeObservation(t *testing.T) {
	big := decl + `<OBS.R01><SVC>` + strings.Repeat(`<OBS><OBS.value V="ZZRESULT 64" /></OBS>`, 50000) + `</SVC></OBS.R01>`
	f := newFeeder(t)
	for i := 0; i < len(big); i += 1460 {
		f.Data(true, []byte(big[i:min(i+1460, len(big))]))
	}
	f.Data(true, []byte(hel))
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	if f.MaxKept > 1460 {
		t.Errorf("kept %d bytes", f.MaxKept)
	}
	if f.Counters()[CounterMessages] != 2 || values(f)[dpi.AttrModel] != "DCA Vantage" {
		t.Errorf("counters %v, values %v", f.Out.Counters, values(f))
	}
}

func TestResync(t *testing.T) {
	f := newFeeder(t)
	f.Data(true, []byte(obs[:300]))
	f.Gap(true)
	f.Data(true, []byte(obs[350:])) // rest of an OBS, without its start
	f.Data(true, []byte(hel[:200]))
	f.Gap(true) // the hello is lost
	f.Data(true, []byte(hel[400:]))
	f.Data(true, []byte(ackMsg))
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	if len(f.Out.Observations) != 0 {
		t.Errorf("observations from partial messages: %v", f.Out.Observations)
	}
	// OBS, HEL, ACK.
	if f.Counters()[CounterMessages] != 3 {
		t.Errorf("counters %v", f.Out.Counters)
	}
	f.Data(true, []byte(hel))
	if values(f)[dpi.AttrSerial] != "S013023" {
		t.Errorf("no resync: %v", values(f))
	}
}

func TestHello(t *testing.T) {
	cases := []struct {
		name, msg string
		want      map[string]string
	}{
		{"vendor code only", `<HEL.R01><DEV><DEV.vendor_id V="ACME" /></DEV></HEL.R01>`,
			map[string]string{AttrVendorID: "ACME", dpi.AttrVendor: "ACME"}},
		{"latin-1", "<HEL.R01><DEV><DEV.device_name V=\"Gl\xfccose 1\" /></DEV></HEL.R01>",
			map[string]string{AttrDeviceName: "Glücose 1"}},
		{"control characters", "<HEL.R01><DEV><DEV.model_id V=\"A\u009fB\tC\" /></DEV></HEL.R01>",
			map[string]string{dpi.AttrModel: "AB C"}},
		{"nested DEV ignored", `<HEL.R01><X><DEV><DEV.model_id V="NO" /></DEV></X><DEV><DEV.model_id V="YES"/></DEV></HEL.R01>`,
			map[string]string{dpi.AttrModel: "YES"}},
		{"value in text ignored", `<HEL.R01><DEV><DEV.model_id>NO</DEV.model_id></DEV></HEL.R01>`, map[string]string{}},
		{"empty value", `<HEL.R01><DEV><DEV.model_id V=" " /></DEV></HEL.R01>`, map[string]string{}},
		{"self-closing", `<HEL.R01 />`, map[string]string{}},
		{"attribute with >", `<HEL.R01 a="x>y"><DEV><DEV.model_id V="M" /></DEV></HEL.R01>`, map[string]string{dpi.AttrModel: "M"}},
		{"long value", `<HEL.R01><DEV><DEV.model_id V="` + strings.Repeat("M", 1000) + `" /></DEV></HEL.R01>`,
			map[string]string{dpi.AttrModel: strings.Repeat("M", dpi.MaxValue)}},
		{"too long to decode", `<HEL.R01><DEV><DEV.model_id V="M" />` + strings.Repeat("<DSC/>", maxHello/6) + `</DEV></HEL.R01>`,
			map[string]string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFeeder(t)
			f.Data(true, []byte(c.msg))
			f.Data(true, []byte(ackMsg))
			if f.Err != nil {
				t.Fatal(f.Err)
			}
			if diff := cmp.Diff(c.want, values(f)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if f.Counters()[CounterMessages] != 2 {
				t.Errorf("counters %v", f.Out.Counters)
			}
		})
	}
}

func TestMalformedHello(t *testing.T) {
	for name, msg := range map[string]string{
		"mismatched tags": `<HEL.R01><DEV><DEV.model_id V="M"></DEV></HEL.R01>`,
		"unknown entity":  `<HEL.R01><DEV><DEV.model_id V="&zz;" /></DEV></HEL.R01>`,
		"unquoted":        `<HEL.R01><DEV><DEV.model_id V=M /></DEV></HEL.R01>`,
		"control entity":  `<HEL.R01><DEV><DEV.model_id V="&#x7;" /></DEV></HEL.R01>`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFeeder(t)
			f.Data(true, []byte(msg))
			if f.Err == nil {
				t.Fatal("no error")
			}
			if len(f.Out.Observations) != 0 {
				t.Errorf("observations from a malformed hello: %v", f.Out.Observations)
			}
		})
	}
}

// FuzzStream feeds b to a stream in the segments ctrl describes
// (dpitest.Feeder.Split).
func FuzzStream(f *testing.F) {
	f.Add([]byte(hel+obs+eot), []byte{50, 200, 3})
	f.Add([]byte(ackMsg+hel), []byte{})
	f.Add([]byte(`<HEL.R01 a='>'><DEV><DEV.serial_id V="1"/></DEV></HEL.R01  ><OBS.R02/>`), []byte{7, 7})
	f.Fuzz(func(t *testing.T, b []byte, ctrl []byte) {
		fd := newFeeder(t)
		fd.Split(b, ctrl)
		fd.End()
		if fd.MaxKept > maxHello+256 {
			t.Fatalf("kept %d bytes", fd.MaxKept)
		}
		dpitest.CheckValues(t, fd.Out.Observations)
		for _, o := range fd.Out.Observations {
			if strings.ContainsFunc(o.Value, func(r rune) bool { return r < ' ' || r == 0x7f }) {
				t.Fatalf("control character in %q", o.Value)
			}
		}
		for _, c := range fd.Out.Counters {
			if c.Name != CounterMessages && c.Name != CounterObservations {
				t.Fatalf("counter %q", c.Name)
			}
		}
	})
}
