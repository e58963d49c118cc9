package dicom

import "bytes"

// sopClass is what the dissector knows of a SOP class: its name, for
// evidence, and for image storage classes the modality its objects
// usually come from.
type sopClass struct {
	name     string
	modality string
}

// sopClasses holds the SOP classes named in evidence. The UIDs and names
// are those of DICOM PS3.6 Annex A (Registry of DICOM Unique
// Identifiers); the storage classes are from PS3.4 Annex B.5 (Standard
// SOP Classes), and their modality is the Modality (0008,0060) defined
// term of the image IOD (PS3.3 C.7.3.1.1.1). Checked against pydicom
// 2.3's UID dictionary. Keep it small: a UID missing here is still
// published, only without a name or a modality hint.
var sopClasses = map[string]sopClass{
	"1.2.840.10008.1.1": {"Verification SOP Class", ""},

	"1.2.840.10008.5.1.4.1.1.1":      {"Computed Radiography Image Storage", "CR"},
	"1.2.840.10008.5.1.4.1.1.1.1":    {"Digital X-Ray Image Storage - For Presentation", "DX"},
	"1.2.840.10008.5.1.4.1.1.1.1.1":  {"Digital X-Ray Image Storage - For Processing", "DX"},
	"1.2.840.10008.5.1.4.1.1.1.2":    {"Digital Mammography X-Ray Image Storage - For Presentation", "MG"},
	"1.2.840.10008.5.1.4.1.1.1.2.1":  {"Digital Mammography X-Ray Image Storage - For Processing", "MG"},
	"1.2.840.10008.5.1.4.1.1.1.3":    {"Digital Intra-Oral X-Ray Image Storage - For Presentation", "IO"},
	"1.2.840.10008.5.1.4.1.1.1.3.1":  {"Digital Intra-Oral X-Ray Image Storage - For Processing", "IO"},
	"1.2.840.10008.5.1.4.1.1.2":      {"CT Image Storage", "CT"},
	"1.2.840.10008.5.1.4.1.1.2.1":    {"Enhanced CT Image Storage", "CT"},
	"1.2.840.10008.5.1.4.1.1.3.1":    {"Ultrasound Multi-frame Image Storage", "US"},
	"1.2.840.10008.5.1.4.1.1.4":      {"MR Image Storage", "MR"},
	"1.2.840.10008.5.1.4.1.1.4.1":    {"Enhanced MR Image Storage", "MR"},
	"1.2.840.10008.5.1.4.1.1.6.1":    {"Ultrasound Image Storage", "US"},
	"1.2.840.10008.5.1.4.1.1.7":      {"Secondary Capture Image Storage", "SC"},
	"1.2.840.10008.5.1.4.1.1.12.1":   {"X-Ray Angiographic Image Storage", "XA"},
	"1.2.840.10008.5.1.4.1.1.12.1.1": {"Enhanced XA Image Storage", "XA"},
	"1.2.840.10008.5.1.4.1.1.12.2":   {"X-Ray Radiofluoroscopic Image Storage", "RF"},
	"1.2.840.10008.5.1.4.1.1.12.2.1": {"Enhanced XRF Image Storage", "RF"},
	"1.2.840.10008.5.1.4.1.1.13.1.3": {"Breast Tomosynthesis Image Storage", "MG"},
	"1.2.840.10008.5.1.4.1.1.20":     {"Nuclear Medicine Image Storage", "NM"},
	"1.2.840.10008.5.1.4.1.1.128":    {"Positron Emission Tomography Image Storage", "PT"},
	"1.2.840.10008.5.1.4.1.1.130":    {"Enhanced PET Image Storage", "PT"},
	"1.2.840.10008.5.1.4.1.2.1.1":    {"Patient Root Query/Retrieve Information Model - FIND", ""},
	"1.2.840.10008.5.1.4.1.2.1.2":    {"Patient Root Query/Retrieve Information Model - MOVE", ""},
	"1.2.840.10008.5.1.4.1.2.1.3":    {"Patient Root Query/Retrieve Information Model - GET", ""},
	"1.2.840.10008.5.1.4.1.2.2.1":    {"Study Root Query/Retrieve Information Model - FIND", ""},
	"1.2.840.10008.5.1.4.1.2.2.2":    {"Study Root Query/Retrieve Information Model - MOVE", ""},
	"1.2.840.10008.5.1.4.1.2.2.3":    {"Study Root Query/Retrieve Information Model - GET", ""},
	"1.2.840.10008.5.1.4.31":         {"Modality Worklist Information Model - FIND", ""},
	"1.2.840.10008.3.1.2.3.3":        {"Modality Performed Procedure Step SOP Class", ""},
	"1.2.840.10008.1.20.1":           {"Storage Commitment Push Model SOP Class", ""},
}

// weakModality marks modality hints that say little about the device:
// any workstation can make a secondary capture.
func weakModality(m string) bool { return m == "SC" }

// tsKind is how a data set is encoded (PS3.5 section 10 and Annex A).
type tsKind uint8

const (
	// tsUnknown: no A-ASSOCIATE-AC was read for the presentation
	// context; the encoding is detected from the first element.
	tsUnknown tsKind = iota
	tsImplicitLE
	tsExplicitLE
	tsExplicitBE
	// tsDeflated data sets are compressed as a whole: not read.
	tsDeflated
	// tsOther is a transfer syntax this dissector does not know: not read.
	tsOther
)

var encapsulatedPrefix = []byte("1.2.840.10008.1.2.4.")

// transferSyntax classifies a transfer syntax UID (PS3.6 Annex A). The
// encapsulated (compressed pixel data) syntaxes encode the data set in
// explicit VR little endian (PS3.5 A.4).
func transferSyntax(uid []byte) tsKind {
	switch string(uid) {
	case "1.2.840.10008.1.2":
		return tsImplicitLE
	case "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.98":
		return tsExplicitLE
	case "1.2.840.10008.1.2.2":
		return tsExplicitBE
	case "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.95":
		return tsDeflated
	case "1.2.840.10008.1.2.5":
		return tsExplicitLE
	}
	if bytes.HasPrefix(uid, encapsulatedPrefix) {
		return tsExplicitLE
	}
	return tsOther
}
