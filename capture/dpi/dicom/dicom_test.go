package dicom

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
)

const (
	tsImplicit = "1.2.840.10008.1.2"
	tsExplicit = "1.2.840.10008.1.2.1"
	tsBig      = "1.2.840.10008.1.2.2"
	tsDeflate  = "1.2.840.10008.1.2.1.99"
	scStorage  = "1.2.840.10008.5.1.4.1.1.7"
)

// handshake is an accepted association: CT storage on presentation
// context 1 in transfer syntax ts, verification on 3.
func handshake(ts string) (rq, ac []byte) {
	rq = associate(pduAssociateRQ, "PACS", "CT_ROOM2",
		pcRQ(1, ctStorage, tsExplicit, tsImplicit, tsBig),
		pcRQ(3, "1.2.840.10008.1.1", tsImplicit),
		userInfo("1.2.826.0.1.3680043.2.1143.107", "ACME_CT_7"))
	ac = associate(pduAssociateAC, "PACS", "CT_ROOM2",
		pcAC(1, 0, ts), pcAC(3, 0, tsImplicit),
		userInfo("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367"))
	return rq, ac
}

// store is a C-STORE-RQ of obj on presentation context 1 and its
// response, the object split into PDVs of at most frag bytes.
func store(obj []byte, frag int, status uint16) (rq, rsp []byte) {
	rq = pdata(pdv(1, 0x03, storeRQ(ctStorage)))
	for len(obj) > 0 {
		k := min(frag, len(obj))
		mch := byte(0x00)
		if k == len(obj) {
			mch = 0x02
		}
		rq = append(rq, pdata(pdv(1, mch, obj[:k]))...)
		obj = obj[k:]
	}
	return rq, pdata(pdv(1, 0x03, storeRSP(status)))
}

var release = pdu(pduReleaseRQ, make([]byte, 4))
var releaseRP = pdu(pduReleaseRP, make([]byte, 4))

// converse feeds a whole association in segments of size bytes.
func converse(t *testing.T, ts string, obj []byte, size int) *dpitest.Feeder {
	t.Helper()
	rq, ac := handshake(ts)
	srq, srsp := store(obj, 1000, 0)
	f := newFeeder(t, modality)
	chunks(f, modality, rq, size)
	chunks(f, pacs, ac, size)
	chunks(f, modality, srq, size)
	chunks(f, pacs, srsp, size)
	chunks(f, modality, release, size)
	chunks(f, pacs, releaseRP, size)
	f.End()
	return f
}

func values(obs []events.Observation, attrs ...string) []string {
	var out []string
	for _, o := range obs {
		if len(attrs) == 0 || slices.Contains(attrs, o.Attribute) {
			out = append(out, o.Attribute+"="+o.Value)
		}
	}
	return out
}

// equipmentFrom keeps the observations that come from a data set.
func equipmentFrom(obs []events.Observation) []string {
	var out []string
	for _, o := range obs {
		if strings.HasPrefix(o.Evidence, "C-STORE-RQ data set") {
			out = append(out, o.Attribute+"="+o.Value)
		}
	}
	return out
}

func TestAssociationSides(t *testing.T) {
	f := converse(t, tsExplicit, ctObject(explicitLE), 1<<20)
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	modality := events.DeviceKey("00:1b:21:00:00:07", "10.20.0.7", 12)
	pacs := events.DeviceKey("00:1b:21:00:00:02", "10.20.0.2", 12)
	type fact struct{ Device, Attr, Value string }
	var got []fact
	for _, o := range f.Out.Observations {
		if o.Protocol != "dicom" || o.FlowID != "flow-1" {
			t.Errorf("observation %+v", o)
		}
		got = append(got, fact{o.Device, o.Attribute, o.Value})
	}
	want := []fact{
		{modality, dpi.AttrDICOMAETitle, "CT_ROOM2"},
		{modality, dpi.AttrDICOMRole, "scu"},
		{modality, dpi.AttrDICOMImplClassUID, "1.2.826.0.1.3680043.2.1143.107"},
		{modality, dpi.AttrDICOMImplVersion, "ACME_CT_7"},
		{modality, dpi.AttrDICOMSOPClass, ctStorage},
		{modality, dpi.AttrDICOMSOPClass, "1.2.840.10008.1.1"},
		{modality, dpi.AttrDICOMModality, "CT"},
		{pacs, dpi.AttrDICOMAETitle, "PACS"},
		{pacs, dpi.AttrDICOMRole, "scp"},
		{pacs, dpi.AttrDICOMImplClassUID, "1.2.276.0.7230010.3.0.3.6.7"},
		{pacs, dpi.AttrDICOMImplVersion, "OFFIS_DCMTK_367"},
		{modality, dpi.AttrDICOMSOPClass, ctStorage},
		{modality, dpi.AttrDICOMModality, "CT"},
	}
	for _, e := range ctEquipment {
		attr, value, _ := strings.Cut(e, "=")
		want = append(want, fact{modality, attr, value})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("facts (-want +got):\n%s", diff)
	}
	wantAuth := []events.Auth{{
		Client:   events.Endpoint{MAC: "00:1b:21:00:00:07", IP: "10.20.0.7", Port: 40100},
		Server:   events.Endpoint{MAC: "00:1b:21:00:00:02", IP: "10.20.0.2", Port: 104},
		VLAN:     12,
		Protocol: "dicom", Method: "ae-title", Principal: "CT_ROOM2", Result: events.AuthSuccess, FlowID: "flow-1",
	}}
	if diff := cmp.Diff(wantAuth, f.Out.Auths); diff != "" {
		t.Errorf("auths (-want +got):\n%s", diff)
	}
	wantCounters := map[string]uint64{"dicom.associate_rq": 1, "dicom.associations": 1, "dicom.c_store_rq": 1,
		"dicom.c_store_rsp": 1, "dicom.release_rq": 1, "dicom.release_rp": 1}
	if diff := cmp.Diff(wantCounters, f.Counters()); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	dpitest.NoLeak(t, f.Out.Observations, patientMarkers...)
}

// TestEncodingsAndSegments reads the same object in each transfer syntax,
// delivered in segments from 1 byte up.
func TestEncodingsAndSegments(t *testing.T) {
	encs := []struct {
		name string
		ts   string
		enc  enc
	}{
		{"implicit", tsImplicit, implicitLE},
		{"explicit", tsExplicit, explicitLE},
		{"big endian", tsBig, explicitBE},
		{"JPEG lossless", "1.2.840.10008.1.2.4.70", explicitLE},
	}
	for _, e := range encs {
		for _, size := range []int{1, 2, 3, 7, 64, 1500, 1 << 20} {
			f := converse(t, e.ts, ctObject(e.enc), size)
			if f.Err != nil {
				t.Fatalf("%s in %d-byte segments: %v", e.name, size, f.Err)
			}
			if diff := cmp.Diff(ctEquipment, equipmentFrom(f.Out.Observations)); diff != "" {
				t.Errorf("%s in %d-byte segments (-want +got):\n%s", e.name, size, diff)
			}
			dpitest.NoLeak(t, f.Out.Observations, patientMarkers...)
		}
	}
}

// TestDataSetFragments splits the object into two PDVs, in two PDUs, at
// every offset: element headers and values straddle the boundary.
func TestDataSetFragments(t *testing.T) {
	for _, e := range []enc{implicitLE, explicitLE, explicitBE} {
		ts := map[enc]string{implicitLE: tsImplicit, explicitLE: tsExplicit, explicitBE: tsBig}[e]
		obj := ctObject(e)[:400] // the header; the pixel data adds nothing here
		rq, ac := handshake(ts)
		for k := 1; k < len(obj); k++ {
			f := newFeeder(t, modality)
			f.Data(modality, rq)
			f.Data(pacs, ac)
			f.Data(modality, pdata(pdv(1, 0x01, storeRQ(ctStorage)[:20])))
			f.Data(modality, pdata(pdv(1, 0x03, storeRQ(ctStorage)[20:]), pdv(1, 0x00, obj[:k])))
			f.Data(modality, pdata(pdv(1, 0x02, obj[k:])))
			if f.Err != nil {
				t.Fatalf("enc %d split at %d: %v", e, k, f.Err)
			}
			if diff := cmp.Diff(ctEquipment, equipmentFrom(f.Out.Observations)); diff != "" {
				t.Fatalf("enc %d split at %d (-want +got):\n%s", e, k, diff)
			}
		}
	}
}

func TestUnknownTransferSyntaxDetected(t *testing.T) {
	// The capture started after the A-ASSOCIATE-AC: the encoding of each
	// object is detected from its first element.
	for _, e := range []enc{implicitLE, explicitLE, explicitBE} {
		f := newFeeder(t, modality)
		srq, _ := store(ctObject(e), 512, 0)
		f.Data(modality, srq)
		if f.Err != nil {
			t.Fatal(f.Err)
		}
		if diff := cmp.Diff(ctEquipment, equipmentFrom(f.Out.Observations)); diff != "" {
			t.Errorf("enc %d (-want +got):\n%s", e, diff)
		}
	}
}

func TestObjectsNotRead(t *testing.T) {
	cases := []struct {
		name string
		ts   string
		cmd  []byte
	}{
		{"deflated", tsDeflate, storeRQ(ctStorage)},
		{"private transfer syntax", "1.3.6.1.4.1.9999.1", storeRQ(ctStorage)},
		{"C-MOVE sub-operation", tsExplicit, storeRQ(ctStorage, cmdElem(0x1030, []byte("WORKSTATION ")))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rq, ac := handshake(c.ts)
			f := newFeeder(t, modality)
			f.Data(modality, rq)
			f.Data(pacs, ac)
			f.Data(modality, cat(pdata(pdv(1, 0x03, c.cmd)), pdata(pdv(1, 0x02, ctObject(explicitLE)))))
			if f.Err != nil {
				t.Fatal(f.Err)
			}
			if got := equipmentFrom(f.Out.Observations); len(got) > 0 {
				t.Errorf("read %v", got)
			}
			if f.Counters()["dicom.c_store_rq"] != 1 {
				t.Errorf("counters %v", f.Counters())
			}
		})
	}
	// A C-STORE sent by the acceptor (C-GET sub-operation).
	rq, ac := handshake(tsExplicit)
	f := newFeeder(t, modality)
	f.Data(modality, rq)
	f.Data(pacs, ac)
	f.Data(pacs, cat(pdata(pdv(1, 0x03, storeRQ(ctStorage))), pdata(pdv(1, 0x02, ctObject(explicitLE)))))
	if got := equipmentFrom(f.Out.Observations); len(got) > 0 || f.Err != nil {
		t.Errorf("C-GET sub-operation: read %v, error %v", got, f.Err)
	}
	if got := values(f.Out.Observations, dpi.AttrDICOMModality); len(got) != 1 {
		t.Errorf("modalities %v, want only the proposal's", got)
	}
}

func TestSeriesPublishedOnce(t *testing.T) {
	rq, ac := handshake(tsExplicit)
	f := newFeeder(t, modality)
	f.Data(modality, rq)
	f.Data(pacs, ac)
	for range 5 {
		srq, srsp := store(ctObject(explicitLE), 16384, 0)
		f.Data(modality, srq)
		f.Data(pacs, srsp)
	}
	if diff := cmp.Diff(ctEquipment, equipmentFrom(f.Out.Observations)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if n := f.Counters()["dicom.c_store_rq"]; n != 5 {
		t.Errorf("%d C-STORE-RQ", n)
	}
}

func TestBounds(t *testing.T) {
	e := explicitLE
	var private []byte
	for i := range 10000 {
		private = append(private, e.el(0x0009, uint16(0x1000+i), "SH", []byte("xx"))...)
	}
	cases := []struct {
		name string
		obj  []byte
		want []string
	}{
		{"examined bytes", cat(e.el(0x0008, 0x0070, "LO", []byte("Acme")), private,
			e.el(0x0018, 0x1000, "LO", []byte("SN1"))), []string{"vendor=Acme"}},
		{"walked bytes", cat(e.el(0x0008, 0x0070, "LO", []byte("Acme")),
			e.el(0x0009, 0x1000, "OB", make([]byte, 5<<20)),
			e.el(0x0018, 0x1000, "LO", []byte("SN1"))), []string{"vendor=Acme"}},
		{"long value", e.el(0x0008, 0x0070, "LO", []byte(strings.Repeat("A", 1000))),
			[]string{"vendor=" + strings.Repeat("A", dpi.MaxValue)}},
		{"out of order", cat(e.el(0x0008, 0x0070, "LO", []byte("Acme")), e.el(0x0008, 0x0060, "CS", []byte("CT"))),
			[]string{"vendor=Acme"}},
		{"item at top level", cat(e.elLen(0xFFFE, 0xE000, "", 0, nil), e.el(0x0008, 0x0070, "LO", []byte("Acme"))), nil},
		{"undefined UN", cat(e.elLen(0x0008, 0x0001, "UN", undefinedLength, nil), e.el(0x0008, 0x0070, "LO", []byte("Acme"))), nil},
		{"bad VR", cat(e.el(0x0008, 0x0005, "zz", []byte("xx")), e.el(0x0008, 0x0070, "LO", []byte("Acme"))), nil},
		{"empty and blank values", cat(e.el(0x0008, 0x0060, "CS", nil), e.el(0x0008, 0x0070, "LO", []byte("  "))), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rq, ac := handshake(tsExplicit)
			srq, _ := store(c.obj, 16384, 0)
			f := newFeeder(t, modality)
			f.Data(modality, rq)
			f.Data(pacs, ac)
			chunks(f, modality, srq, 1<<16)
			if f.Err != nil {
				t.Fatal(f.Err)
			}
			if diff := cmp.Diff(c.want, equipmentFrom(f.Out.Observations)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// Deeply nested sequences stop the walk.
	var deep []byte
	for range maxDepth + 1 {
		deep = cat(deep, e.elLen(0x0008, 0x1032, "SQ", undefinedLength, nil), e.elLen(0xFFFE, 0xE000, "", undefinedLength, nil))
	}
	var ds dataset
	ds.reset(tsExplicitLE)
	ds.feed(deep, &stream{}, fromModality(), &dpi.Output{})
	if !ds.done {
		t.Error("no stop at depth", ds.depth)
	}
}

func TestProposals(t *testing.T) {
	role := func(uid string, scu, scp byte) []byte {
		return item(0x54, be16(len(uid)), []byte(uid), []byte{scu, scp})
	}
	many := make([][]byte, 0, 20)
	for i := range 17 {
		many = append(many, pcRQ(byte(2*i+1), "1.2.840.10008.5.1.4.1.1."+string(rune('a'+i)), tsImplicit))
	}
	cases := []struct {
		name string
		rq   []byte
		want []string
	}{
		{"narrow", associate(pduAssociateRQ, "PACS", "US1", pcRQ(1, "1.2.840.10008.5.1.4.1.1.6.1", tsImplicit),
			pcRQ(3, scStorage, tsImplicit), userInfo("1.2.3", "V1")),
			[]string{"dicom.sop_class=1.2.840.10008.5.1.4.1.1.6.1", "dicom.sop_class=" + scStorage, "dicom.modality=US", "dicom.modality=SC"}},
		{"receiver role", associate(pduAssociateRQ, "PACS", "WS1", pcRQ(1, ctStorage, tsImplicit),
			userInfo("1.2.3", "V1", role(ctStorage, 0, 1))),
			[]string{"dicom.sop_class=" + ctStorage}},
		{"three modalities", associate(pduAssociateRQ, "PACS", "WS1", pcRQ(1, ctStorage, tsImplicit),
			pcRQ(3, mrStorage, tsImplicit), pcRQ(5, "1.2.840.10008.5.1.4.1.1.20", tsImplicit), userInfo("1.2.3", "V1")),
			[]string{"dicom.sop_class=" + ctStorage, "dicom.sop_class=" + mrStorage, "dicom.sop_class=1.2.840.10008.5.1.4.1.1.20"}},
		{"broad", associate(pduAssociateRQ, "PACS", "GW", cat(many...), userInfo("1.2.3", "V1")), nil},
		{"repeated", associate(pduAssociateRQ, "PACS", "CT1", pcRQ(1, ctStorage, tsImplicit),
			pcRQ(3, ctStorage, tsExplicit), pcRQ(5, "1.2.840.10008.5.1.4.1.1.2.1", tsExplicit), userInfo("1.2.3", "V1")),
			[]string{"dicom.sop_class=" + ctStorage, "dicom.sop_class=1.2.840.10008.5.1.4.1.1.2.1", "dicom.modality=CT"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFeeder(t, modality)
			f.Data(modality, c.rq)
			if f.Err != nil {
				t.Fatal(f.Err)
			}
			if diff := cmp.Diff(c.want, values(f.Out.Observations, dpi.AttrDICOMSOPClass, dpi.AttrDICOMModality)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	var sc events.Observation
	f := newFeeder(t, modality)
	f.Data(modality, cases[0].rq)
	for _, o := range f.Out.Observations {
		if o.Attribute == dpi.AttrDICOMModality && o.Value == "SC" {
			sc = o
		}
	}
	if sc.Confidence != 0.4 || sc.Evidence != "A-ASSOCIATE-RQ proposed Secondary Capture Image Storage" {
		t.Errorf("SC hint %+v", sc)
	}
}

func TestUserIdentity(t *testing.T) {
	secret := "s3cr3t-passcode"
	ui := item(0x58, []byte{2, 0}, be16(len("radtech")), []byte("radtech"), be16(len(secret)), []byte(secret))
	rq := associate(pduAssociateRQ, "PACS", "CT1", pcRQ(1, ctStorage, tsImplicit), userInfo("1.2.3", "V1", ui))
	f := newFeeder(t, modality)
	f.Data(modality, rq)
	got := values(f.Out.Observations, dpi.AttrCleartextCredential)
	if diff := cmp.Diff([]string{"cleartext_credential=dicom user identity username and passcode"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, o := range f.Out.Observations {
		if strings.Contains(o.Value, secret) || strings.Contains(o.Value, "radtech") {
			t.Errorf("credential published: %+v", o)
		}
	}
}

func TestOutcomes(t *testing.T) {
	rq, ac := handshake(tsExplicit)
	rj := func(result, source, reason byte) []byte {
		return pdu(pduAssociateRJ, []byte{0, result, source, reason})
	}
	abort := func(source, reason byte) []byte { return pdu(pduAbort, []byte{0, 0, source, reason}) }
	type step struct {
		fromPACS bool
		b        []byte
	}
	cases := []struct {
		name    string
		steps   []step
		auth    string
		called  bool // the RQ's called AE title published about the PACS
		counter string
	}{
		{"accepted", []step{{false, rq}, {true, ac}}, `success ""`, false, "dicom.associations"},
		{"called AE title rejected", []step{{false, rq}, {true, rj(1, 1, 7)}}, `failure "called AE title not recognized"`, false, "dicom.rejections"},
		{"calling AE title rejected", []step{{false, rq}, {true, rj(1, 1, 3)}}, `failure "calling AE title not recognized"`, true, "dicom.rejections"},
		{"congestion", []step{{false, rq}, {true, rj(2, 3, 1)}}, `failure "temporary congestion (transient)"`, true, "dicom.rejections"},
		{"odd reason", []step{{false, rq}, {true, rj(1, 2, 9)}}, `failure "source 2 reason 9"`, true, "dicom.rejections"},
		{"aborted by acceptor", []step{{false, rq}, {true, abort(2, 1)}}, `failure "A-ABORT by the service provider: unrecognized PDU"`, true, "dicom.aborts"},
		{"aborted by requester", []step{{false, rq}, {false, abort(0, 0)}}, `unknown "A-ABORT by the service user"`, true, "dicom.aborts"},
		{"no answer", []step{{false, rq}}, `unknown "no A-ASSOCIATE response seen"`, true, "dicom.associate_rq"},
		{"abort after acceptance", []step{{false, rq}, {true, ac}, {false, abort(0, 0)}}, `success ""`, false, "dicom.aborts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFeeder(t, modality)
			for _, s := range c.steps {
				if s.fromPACS {
					f.Data(pacs, s.b)
				} else {
					f.Data(modality, s.b)
				}
			}
			f.End()
			if f.Err != nil {
				t.Fatal(f.Err)
			}
			if len(f.Out.Auths) != 1 {
				t.Fatalf("auths %+v", f.Out.Auths)
			}
			a := f.Out.Auths[0]
			if got := string(a.Result) + " " + `"` + a.Reason + `"`; got != c.auth {
				t.Errorf("auth %s, want %s", got, c.auth)
			}
			if a.Client.IP != "10.20.0.7" || a.Client.Port != 40100 || a.Server.IP != "10.20.0.2" || a.Server.Port != 104 ||
				a.Principal != "CT_ROOM2" || a.Method != "ae-title" || a.FlowID != "flow-1" || a.VLAN != 12 {
				t.Errorf("auth %+v", a)
			}
			called := false
			for _, o := range f.Out.Observations {
				if o.Evidence == "A-ASSOCIATE-RQ called AE title" {
					called = o.IP == "10.20.0.2" && o.Value == "PACS" && o.Confidence == 0.6
				}
			}
			if called != c.called {
				t.Errorf("called AE title published: %v", called)
			}
			if f.Counters()[c.counter] != 1 {
				t.Errorf("counters %v", f.Counters())
			}
		})
	}
}

func TestCommands(t *testing.T) {
	rq, ac := handshake(tsExplicit)
	cmd := func(field uint16, status int) []byte {
		b := cat(cmdElem(0x0002, uid("1.2.840.10008.5.1.4.1.2.2.1")), cmdElem(0x0100, le16(field)), cmdElem(0x0800, le16(noDataSet)))
		if status >= 0 {
			b = cat(b, cmdElem(0x0900, le16(uint16(status))))
		}
		return pdata(pdv(3, 0x03, b))
	}
	f := newFeeder(t, modality)
	f.Data(modality, rq)
	f.Data(pacs, ac)
	// A command set in three fragments, one empty, in two PDUs.
	c := storeRQ(ctStorage)
	f.Data(modality, pdata(pdv(1, 0x01, c[:10]), pdv(1, 0x01, nil)))
	f.Data(modality, pdata(pdv(1, 0x03, c[10:]), pdv(1, 0x02, ctObject(implicitLE)[:0])))
	f.Data(pacs, pdata(pdv(1, 0x03, storeRSP(0xA700))))
	f.Data(pacs, pdata(pdv(1, 0x03, storeRSP(0xB000))))
	f.Data(pacs, pdata(pdv(1, 0x03, storeRSP(0xC123))))
	f.Data(modality, cmd(0x0020, -1))
	f.Data(pacs, cmd(0x8020, 0xFF00))
	f.Data(modality, cmd(0x0FFF, -1))
	f.Data(pacs, cmd(0x8020, 0xFE00))
	f.Data(modality, cmd(0x0021, -1))
	f.Data(pacs, cmd(0x8021, 0x0000))
	f.Data(modality, cmd(0x0130, -1))
	f.Data(modality, cmd(0x0777, -1))
	f.Data(modality, pdata(pdv(3, 0x03, echoRQ())))
	// An N-GET-RQ longer than maxCommand: read as far as kept.
	f.Data(modality, pdata(pdv(3, 0x01, cat(cmdElem(0x0100, le16(0x0110)), cmdElem(0x0800, le16(noDataSet)),
		cmdElem(0x1005, make([]byte, maxCommand))))))
	f.Data(modality, pdata(pdv(3, 0x03, nil)))
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	want := map[string]uint64{
		"dicom.associate_rq": 1, "dicom.associations": 1,
		"dicom.c_store_rq": 1, "dicom.c_store_rsp": 3, "dicom.c_store_failed": 2, "dicom.c_store_warning": 1,
		"dicom.c_find_rq": 1, "dicom.c_find_rsp": 2, "dicom.c_cancel_rq": 1, "dicom.c_move_rq": 1, "dicom.c_move_rsp": 1,
		"dicom.n_action_rq": 1, "dicom.other_commands": 1, "dicom.c_echo_rq": 1, "dicom.n_get_rq": 1,
	}
	if diff := cmp.Diff(want, f.Counters()); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func TestUnknownItems(t *testing.T) {
	rq := associate(pduAssociateRQ, "PACS", "CT1",
		item(0x99, []byte("future item")),
		pcRQ(1, ctStorage, tsImplicit),
		userInfo("1.2.3.4", "V1", item(0x77, []byte("future sub-item")), item(0x53, be16(1), be16(1))))
	// An item larger than maxItem is skipped unread, even when it ends
	// the PDU.
	big := associate(pduAssociateRQ, "PACS", "CT2", userInfo("1.2.3.5", "V2"), item(0x98, make([]byte, maxItem)))
	f := newFeeder(t, modality)
	f.Data(modality, rq)
	f.Data(modality, big)
	f.Data(modality, release)
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	want := []string{"dicom.ae_title=CT1", "dicom.implementation_class_uid=1.2.3.4", "dicom.ae_title=CT2", "dicom.implementation_class_uid=1.2.3.5"}
	if diff := cmp.Diff(want, values(f.Out.Observations, dpi.AttrDICOMAETitle, dpi.AttrDICOMImplClassUID)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if f.Counters()["dicom.release_rq"] != 1 {
		t.Errorf("counters %v", f.Counters())
	}
}

func TestMalformed(t *testing.T) {
	rq, _ := handshake(tsExplicit)
	cases := []struct {
		name string
		b    []byte
	}{
		{"unknown PDU type", pdu(0x09, make([]byte, 4))},
		{"short A-ASSOCIATE-RQ", pdu(pduAssociateRQ, make([]byte, 10))},
		{"long A-ASSOCIATE-RJ", pdu(pduAssociateRJ, make([]byte, 5))},
		{"short release", pdu(pduReleaseRQ, make([]byte, 2))},
		{"item overruns PDU", func() []byte {
			b := associate(pduAssociateRQ, "A", "B", item(0x50, item(0x52, []byte("1.2"))))
			b[len(b)-9]++ // the user information item length
			return b
		}()},
		{"item header cut", pdu(pduAssociateRQ, associate(pduAssociateRQ, "A", "B")[6:], []byte{0x20, 0, 0})},
		{"sub-item overruns item", associate(pduAssociateRQ, "A", "B", item(0x50, []byte{0x52, 0, 0, 9, '1'}))},
		{"short presentation context", associate(pduAssociateRQ, "A", "B", item(0x20, []byte{1, 0}))},
		{"bad role selection", associate(pduAssociateRQ, "A", "B", item(0x50, item(0x54, be16(40), []byte("1.2"))))},
		{"empty P-DATA-TF", pdu(pduPData)},
		{"PDV overruns PDU", pdu(pduPData, be32(100), []byte{1, 3}, make([]byte, 10))},
		{"PDV of 1 byte", pdu(pduPData, be32(1), []byte{1}, make([]byte, 4))},
		{"PDV header cut", pdu(pduPData, pdv(1, 3, echoRQ()), []byte{0, 0, 0})},
		{"command not group 0000", pdata(pdv(1, 3, []byte{8, 0, 0x70, 0, 2, 0, 0, 0, 'A', 'B'}))},
		{"command without field", pdata(pdv(1, 3, cmdElem(0x0002, uid("1.2"))))},
		{"command field of 4 bytes", pdata(pdv(1, 3, cmdElem(0x0100, []byte{1, 0, 0, 0})))},
		{"command element overrun", pdata(pdv(1, 3, cat(cmdElem(0x0100, le16(1)), []byte{0, 0, 0, 8, 50, 0, 0, 0})))},
		{"command header cut", pdata(pdv(1, 3, cat(cmdElem(0x0100, le16(1)), []byte{0, 0, 0})))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFeeder(t, modality)
			f.Data(modality, c.b)
			f.Data(modality, rq)
			if !errors.Is(f.Err, ErrMalformed) {
				t.Fatalf("error %v", f.Err)
			}
			for _, v := range values(f.Out.Observations, dpi.AttrDICOMAETitle) {
				if v == "dicom.ae_title=CT_ROOM2" {
					t.Error("data read after the error")
				}
			}
		})
	}
}

func TestGap(t *testing.T) {
	rq, ac := handshake(tsExplicit)
	obj := ctObject(explicitLE)
	srq, srsp := store(obj, 1000, 0)
	echo := pdata(pdv(3, 0x03, echoRQ()))

	t.Run("resynchronised at the next PDU", func(t *testing.T) {
		f := newFeeder(t, modality)
		f.Data(modality, rq)
		f.Data(pacs, ac)
		// Lose the first 300 bytes of the store: the command and the
		// object's header. What follows starts mid-PDU.
		f.Gap(modality)
		f.Data(modality, srq[300:])
		f.Data(pacs, srsp)
		f.Data(modality, echo)
		f.Data(modality, release)
		f.End()
		if f.Err != nil {
			t.Fatal(f.Err)
		}
		want := map[string]uint64{"dicom.associate_rq": 1, "dicom.associations": 1, "dicom.c_store_rsp": 1,
			"dicom.c_echo_rq": 1, "dicom.release_rq": 1}
		if diff := cmp.Diff(want, f.Counters()); diff != "" {
			t.Errorf("counters (-want +got):\n%s", diff)
		}
		if got := equipmentFrom(f.Out.Observations); len(got) > 0 {
			t.Errorf("read an object whose start was lost: %v", got)
		}
	})
	t.Run("gap inside a data set", func(t *testing.T) {
		f := newFeeder(t, modality)
		f.Data(modality, rq)
		f.Data(pacs, ac)
		f.Data(modality, srq[:200])
		f.Gap(modality)
		f.Data(modality, cat(srq[1500:], echo))
		if f.Err != nil {
			t.Fatal(f.Err)
		}
		if f.Counters()["dicom.c_echo_rq"] != 1 {
			t.Errorf("counters %v", f.Counters())
		}
	})
	t.Run("nothing recognisable", func(t *testing.T) {
		f := newFeeder(t, modality)
		f.Data(modality, rq)
		f.Gap(modality)
		noise := make([]byte, 64<<10)
		for i := range noise {
			noise[i] = byte(i*7 + i>>8)
		}
		for range maxResync/len(noise) + 2 {
			f.Data(modality, noise)
		}
		if !errors.Is(f.Err, dpi.ErrStreamDone) {
			t.Fatalf("error %v", f.Err)
		}
	})
	t.Run("capture started at the A-ASSOCIATE-AC", func(t *testing.T) {
		f := newFeeder(t, pacs)
		f.Data(pacs, ac)
		f.Data(modality, srq[len(srq)-700:]) // the end of a PDU of the requester
		f.Data(modality, echo)
		if f.Err != nil {
			t.Fatal(f.Err)
		}
		if f.Counters()["dicom.c_echo_rq"] != 1 || len(f.Out.Auths) != 1 || f.Out.Auths[0].Principal != "CT_ROOM2" {
			t.Errorf("counters %v, auths %+v", f.Counters(), f.Out.Auths)
		}
	})
}

func TestPlausibleHeader(t *testing.T) {
	rq, ac := handshake(tsExplicit)
	for _, b := range [][]byte{rq, ac, release, releaseRP, pdu(pduAbort, []byte{0, 0, 2, 1}),
		pdu(pduAssociateRJ, []byte{0, 1, 1, 7}), pdata(pdv(1, 3, echoRQ()))} {
		if !plausibleHeader(b) {
			t.Errorf("% x not plausible", b[:12])
		}
	}
	for _, b := range [][]byte{make([]byte, 12), pdu(pduReleaseRQ, []byte{1, 0, 0, 0}), pdu(pduPData, be32(100), []byte{1, 3}),
		pdu(pduPData, be32(4), []byte{2, 3}), pdu(pduAbort, []byte{0, 0, 1, 0})} {
		if len(b) < 12 {
			b = append(b, make([]byte, 12-len(b))...)
		}
		if plausibleHeader(b) {
			t.Errorf("% x plausible", b[:12])
		}
	}
}
