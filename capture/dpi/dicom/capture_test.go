package dicom

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
)

// The captures in testdata were recorded on loopback with dcmtk 3.6.7
// (testdata/record.sh, testdata/README.md). Every value below was checked
// with tshark 4.0.17, for example:
//
//	tshark -r testdata/store-explicit.pcap -d tcp.port==41104,dicom -Y dicom -T fields \
//	  -e dicom.pdu.type -e dicom.assoc.ae.called -e dicom.assoc.ae.calling \
//	  -e dicom.userinfo.uid -e dicom.userinfo.version \
//	  -e dicom.assoc.reject.result -e dicom.assoc.reject.source -e dicom.assoc.reject.reason
//	tshark -r testdata/store-explicit.pcap -d tcp.port==41104,dicom -V | grep -E 'Command Field|Status|\((0008,0060|0008,0070|0008,0080|0008,1010|0008,1090|0018,1000|0018,1020)\)'
//
// (port 41105 for find, get and reject). tshark shows the same AE
// titles, implementation class UID 1.2.276.0.7230010.3.0.3.6.7 and
// version OFFIS_DCMTK_367 on both sides, the command fields counted
// below, and the equipment elements of each stored object.

const (
	dcmtkUID     = "1.2.276.0.7230010.3.0.3.6.7"
	dcmtkVersion = "OFFIS_DCMTK_367"
)

// requestLines is what every A-ASSOCIATE-RQ of dcmtk yields.
func requestLines(calling string) []string {
	return []string{
		"dicom.ae_title=" + calling + " 0.9 A-ASSOCIATE-RQ calling AE title",
		"dicom.role=scu 0.8 A-ASSOCIATE-RQ sender (association requester)",
		"dicom.implementation_class_uid=" + dcmtkUID + " 0.95 A-ASSOCIATE-RQ implementation class UID",
		"dicom.implementation_version=" + dcmtkVersion + " 0.95 A-ASSOCIATE-RQ implementation version name",
	}
}

func acceptLines(called string) []string {
	return []string{
		"dicom.ae_title=" + called + " 0.8 A-ASSOCIATE-AC called AE title",
		"dicom.role=scp 0.8 A-ASSOCIATE-AC sender (association acceptor)",
		"dicom.implementation_class_uid=" + dcmtkUID + " 0.95 A-ASSOCIATE-AC implementation class UID",
		"dicom.implementation_version=" + dcmtkVersion + " 0.95 A-ASSOCIATE-AC implementation version name",
	}
}

// proposalLines is a narrow proposal of one storage class.
func proposalLines(uid, name, modality string) []string {
	return []string{
		"dicom.sop_class=" + uid + " 0.6 A-ASSOCIATE-RQ proposed abstract syntax " + name,
		"dicom.modality=" + modality + " 0.6 A-ASSOCIATE-RQ proposed " + name,
	}
}

func storeLines(uid, name, modality string) []string {
	return []string{
		"dicom.sop_class=" + uid + " 0.8 C-STORE-RQ affected SOP class UID (" + name + ")",
		"dicom.modality=" + modality + " 0.6 C-STORE-RQ affected SOP class " + name,
	}
}

// equipmentLines are the equipment elements of a stored object, as
// tshark shows them (trailing padding removed).
func equipmentLines(modality, vendor, institution, station, model, serial, software string) []string {
	const ev = " 0.8 C-STORE-RQ data set "
	const from = ", from the stored object's header"
	return []string{
		"dicom.modality=" + modality + ev + "Modality (0008,0060)" + from,
		"vendor=" + vendor + ev + "Manufacturer (0008,0070)" + from,
		"dicom.institution_name=" + institution + ev + "Institution Name (0008,0080)" + from,
		"dicom.station_name=" + station + ev + "Station Name (0008,1010)" + from,
		"model=" + model + ev + "Manufacturer's Model Name (0008,1090)" + from,
		"serial=" + serial + ev + "Device Serial Number (0018,1000)" + from,
		"software_version=" + software + ev + "Software Versions (0018,1020)" + from,
	}
}

var (
	ctEquipmentLines = equipmentLines("CT", "VigilTest Medical", "Vigil Test Hospital", "VTCT01",
		"VT-CT 64", "VTCT-0001", "VT 1.2.3")
	mrEquipmentLines = equipmentLines("MR", "VigilTest MR Systems", "Vigil Test Hospital", "VTMR01",
		"VT-MR 3T", "VTMR-0042", `MRSW 7.1\PATCH 2`)
)

func lines(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func obsLines(obs []events.Observation) []string {
	var out []string
	for _, o := range obs {
		out = append(out, fmt.Sprintf("%s=%s %v %s", o.Attribute, o.Value, o.Confidence, o.Evidence))
	}
	return out
}

func authLines(auths []events.Auth) []string {
	var out []string
	for _, a := range auths {
		out = append(out, fmt.Sprintf("%s:%d->%s:%d %s %s %s %s %q", a.Client.IP, a.Client.Port, a.Server.IP, a.Server.Port,
			a.Protocol, a.Method, a.Principal, a.Result, a.Reason))
	}
	return out
}

func TestCaptures(t *testing.T) {
	cases := []struct {
		file     string
		obs      []string
		auths    []string
		counters map[string]uint64
	}{
		{
			// storescu -R -aet VT_CT_SCANNER -aec PACS, two CT objects,
			// explicit VR little endian accepted.
			file: "store-explicit.pcap",
			obs: lines(requestLines("VT_CT_SCANNER"), proposalLines(ctStorage, "CT Image Storage", "CT"),
				acceptLines("PACS"), storeLines(ctStorage, "CT Image Storage", "CT"), ctEquipmentLines),
			auths: []string{`127.0.0.1:49430->127.0.0.1:41104 dicom ae-title VT_CT_SCANNER success ""`},
			counters: map[string]uint64{"dicom.associate_rq": 1, "dicom.associations": 1,
				"dicom.c_store_rq": 2, "dicom.c_store_rsp": 2, "dicom.release_rq": 1, "dicom.release_rp": 1},
		},
		{
			// storescu's default proposal (128 storage classes: too broad
			// to publish) to storescp +xi: implicit VR little endian.
			file: "store-implicit.pcap",
			obs: lines(requestLines("VT_MR_SCANNER"), acceptLines("PACS"),
				storeLines(mrStorage, "MR Image Storage", "MR"), mrEquipmentLines),
			auths: []string{`127.0.0.1:49438->127.0.0.1:41104 dicom ae-title VT_MR_SCANNER success ""`},
			counters: map[string]uint64{"dicom.associate_rq": 1, "dicom.associations": 1,
				"dicom.c_store_rq": 1, "dicom.c_store_rsp": 1, "dicom.release_rq": 1, "dicom.release_rp": 1},
		},
		{
			// storescu -R -xb to storescp +xb: explicit VR big endian.
			file: "store-bigendian.pcap",
			obs: lines(requestLines("VT_MR_SCANNER"), proposalLines(mrStorage, "MR Image Storage", "MR"),
				acceptLines("PACS"), storeLines(mrStorage, "MR Image Storage", "MR"), mrEquipmentLines),
			auths: []string{`127.0.0.1:39840->127.0.0.1:41104 dicom ae-title VT_MR_SCANNER success ""`},
			counters: map[string]uint64{"dicom.associate_rq": 1, "dicom.associations": 1,
				"dicom.c_store_rq": 1, "dicom.c_store_rsp": 1, "dicom.release_rq": 1, "dicom.release_rp": 1},
		},
		{
			// storescp --abort-after: A-ABORT (source 0, reason 0) after
			// the C-STORE-RQ, no response.
			file: "abort.pcap",
			obs: lines(requestLines("VT_MR_SCANNER"), proposalLines(mrStorage, "MR Image Storage", "MR"),
				acceptLines("PACS"), storeLines(mrStorage, "MR Image Storage", "MR"), mrEquipmentLines),
			auths: []string{`127.0.0.1:39854->127.0.0.1:41104 dicom ae-title VT_MR_SCANNER success ""`},
			counters: map[string]uint64{"dicom.associate_rq": 1, "dicom.associations": 1,
				"dicom.c_store_rq": 1, "dicom.aborts": 1},
		},
		{
			file: "echo.pcap",
			obs: lines(requestLines("VT_ECHO"),
				[]string{"dicom.sop_class=1.2.840.10008.1.1 0.6 A-ASSOCIATE-RQ proposed abstract syntax Verification SOP Class"},
				acceptLines("PACS"),
				[]string{"dicom.sop_class=1.2.840.10008.1.1 0.8 C-ECHO-RQ affected SOP class UID (Verification SOP Class)"}),
			auths: []string{`127.0.0.1:49432->127.0.0.1:41104 dicom ae-title VT_ECHO success ""`},
			counters: map[string]uint64{"dicom.associate_rq": 1, "dicom.associations": 1,
				"dicom.c_echo_rq": 1, "dicom.c_echo_rsp": 1, "dicom.release_rq": 1, "dicom.release_rp": 1},
		},
		{
			// findscu -S: the C-FIND-RSP data set holds the synthetic
			// patient; it is never read.
			file: "find.pcap",
			obs: lines(requestLines("VT_WORKSTATION"),
				[]string{"dicom.sop_class=1.2.840.10008.5.1.4.1.2.2.1 0.6 A-ASSOCIATE-RQ proposed abstract syntax Study Root Query/Retrieve Information Model - FIND"},
				acceptLines("ARCHIVE"),
				[]string{"dicom.sop_class=1.2.840.10008.5.1.4.1.2.2.1 0.8 C-FIND-RQ affected SOP class UID (Study Root Query/Retrieve Information Model - FIND)"}),
			auths: []string{`127.0.0.1:37324->127.0.0.1:41105 dicom ae-title VT_WORKSTATION success ""`},
			counters: map[string]uint64{"dicom.associate_rq": 1, "dicom.associations": 1,
				"dicom.c_find_rq": 1, "dicom.c_find_rsp": 2, "dicom.release_rq": 1, "dicom.release_rp": 1},
		},
		{
			// getscu -S: 121 presentation contexts (storage ones with the
			// SCP role); the CT object comes back in a C-STORE sent by the
			// archive, which did not make it: no equipment, no modality.
			file: "get.pcap",
			obs: lines(requestLines("VT_WORKSTATION"), acceptLines("ARCHIVE"), []string{
				"dicom.sop_class=1.2.840.10008.5.1.4.1.2.2.3 0.8 C-GET-RQ affected SOP class UID (Study Root Query/Retrieve Information Model - GET)",
				"dicom.sop_class=" + ctStorage + " 0.8 C-STORE-RQ affected SOP class UID (CT Image Storage)",
			}),
			auths: []string{`127.0.0.1:37328->127.0.0.1:41105 dicom ae-title VT_WORKSTATION success ""`},
			counters: map[string]uint64{"dicom.associate_rq": 1, "dicom.associations": 1,
				"dicom.c_get_rq": 1, "dicom.c_get_rsp": 2, "dicom.c_store_rq": 1, "dicom.c_store_rsp": 1,
				"dicom.release_rq": 1, "dicom.release_rp": 1},
		},
		{
			// echoscu -aec WRONG_AE to dcmqrscp: A-ASSOCIATE-RJ result 1,
			// source 1, reason 7. The called AE title is not the
			// acceptor's, so it is not published.
			file: "reject.pcap",
			obs: lines(requestLines("VT_ECHO"),
				[]string{"dicom.sop_class=1.2.840.10008.1.1 0.6 A-ASSOCIATE-RQ proposed abstract syntax Verification SOP Class"}),
			auths:    []string{`127.0.0.1:37344->127.0.0.1:41105 dicom ae-title VT_ECHO failure "called AE title not recognized"`},
			counters: map[string]uint64{"dicom.associate_rq": 1, "dicom.rejections": 1},
		},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			r := dpitest.Run(t, []string{filepath.Join("testdata", c.file)}, New())
			if diff := cmp.Diff(c.obs, obsLines(r.Observations)); diff != "" {
				t.Errorf("observations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.auths, authLines(r.Auths)); diff != "" {
				t.Errorf("auths (-want +got):\n%s", diff)
			}
			if len(r.Flows) != 1 || r.Flows[0].AppProto != "dicom" {
				t.Fatalf("flows: %+v", r.Flows)
			}
			if diff := cmp.Diff(c.counters, r.Flows[0].App); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
			if r.Stats.DissectErrors != 0 {
				t.Errorf("%d dissector errors", r.Stats.DissectErrors)
			}
		})
	}
}

// TestNoPatientData checks that the synthetic patient content of the
// captures (patient name and ID set by record.sh, the sample files' own
// names and IDs) comes out nowhere, although the captures carry it.
func TestNoPatientData(t *testing.T) {
	files, err := filepath.Glob("testdata/*.pcap")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	carried := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte("ZZTEST^PATIENT")) {
			carried++
		}
	}
	// store-explicit, store-implicit, store-bigendian, abort, find, get.
	if carried != 6 {
		t.Fatalf("%d captures carry the patient marker, want 6", carried)
	}
	r := dpitest.Run(t, files, New())
	if len(r.Observations) == 0 || len(r.Auths) == 0 {
		t.Fatal("no output")
	}
	var all []string
	for _, o := range r.Observations {
		all = append(all, o.Value, o.Evidence)
	}
	for _, a := range r.Auths {
		all = append(all, a.Principal, a.Reason)
	}
	for _, s := range all {
		for _, m := range patientMarkers {
			if strings.Contains(s, m) {
				t.Errorf("output %q carries patient marker %q", s, m)
			}
		}
	}
}

// TestSegmentedCaptures replays the recorded payloads in small segments,
// as on a network with a 1500-byte MTU or worse, and expects what the
// whole segments give.
func TestSegmentedCaptures(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.pcap")
	for _, file := range files {
		segs := dpitest.Segments(t, file)
		whole := replay(t, segs)
		if whole.Err != nil {
			t.Fatalf("%s: %v", file, whole.Err)
		}
		for _, size := range []int{1, 5, 1448} {
			f := newFeeder(t, segs[0].FromOrig)
			f.Play(segs, func(int) int { return size })
			f.End()
			if f.Err != nil {
				t.Errorf("%s in %d-byte segments: %v", file, size, f.Err)
			}
			if diff := cmp.Diff(obsLines(whole.Out.Observations), obsLines(f.Out.Observations)); diff != "" {
				t.Errorf("%s in %d-byte segments: observations (-whole +cut):\n%s", file, size, diff)
			}
			if diff := cmp.Diff(whole.Counters(), f.Counters()); diff != "" {
				t.Errorf("%s in %d-byte segments: counters (-whole +cut):\n%s", file, size, diff)
			}
		}
	}
}
