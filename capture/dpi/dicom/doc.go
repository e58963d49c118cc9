// Package dicom reads device facts, association outcomes and DIMSE
// message counts from DICOM connections (a dpi.StreamDissector for
// dpi.ProtoDICOM).
//
// # What is read
//
// The upper layer PDUs of DICOM PS3.8 section 9.3:
//
//   - A-ASSOCIATE-RQ: the calling AE title (about the requester, role
//     "scu"), the called AE title (about the acceptor, at lower
//     confidence: the requester only names it), the implementation class
//     UID and version name user information sub-items (0x52, 0x55), the
//     proposed abstract syntaxes (published with the modality their
//     storage class hints at, PS3.4 Annex B, unless the request proposes
//     more than 16 classes or hints at more than two modalities: such a
//     requester is a generic sender) and the SCP/SCU role selection that
//     tells which classes it will receive rather than send. A user
//     identity sub-item (PS3.7 D.3.3.7) becomes a cleartext credential
//     observation naming its type, never its value.
//   - A-ASSOCIATE-AC: the acceptor's AE title, role "scp",
//     implementation class UID and version, the accepted transfer syntax
//     of each presentation context, and an events.Auth (method
//     "ae-title", principal the calling AE title) that succeeded.
//   - A-ASSOCIATE-RJ: an events.Auth that failed, with the PS3.8 reason
//     ("called AE title not recognized"). A request answered by an
//     A-ABORT fails with the abort reason; one never answered is
//     reported with an unknown result when the connection ends.
//   - A-RELEASE-RQ/RP and A-ABORT are counted.
//   - P-DATA-TF: each DIMSE command set (PS3.7 section 9.3, 10.3; group
//     0000, implicit VR little endian) is counted by its command field
//     ("dicom.c_store_rq", "dicom.c_find_rsp", ...), C-STORE responses by
//     status category ("dicom.c_store_failed", "dicom.c_store_warning"),
//     and the affected SOP class of requests is published.
//
// The data set of a C-STORE-RQ sent by the association requester, not on
// behalf of a C-MOVE (no Move Originator), is walked from its start in
// the transfer syntax accepted for its presentation context (implicit VR
// little endian, explicit VR little or big endian; deflated and unknown
// syntaxes are not read) until the first element past group 0018, for at
// most 64 KiB of headers. Only seven elements are read: Modality
// (0008,0060), Manufacturer (0008,0070), Institution Name (0008,0080),
// Station Name (0008,1010), Manufacturer's Model Name (0008,1090), Device
// Serial Number (0018,1000) and Software Versions (0018,1020) (PS3.3
// C.7.5.1, C.7.3.1). They describe the device that made the object, so
// they are published about the sender at confidence 0.8, with evidence
// saying they come from a stored object's header.
//
// # What is never read
//
// Every other value: patient and study elements (groups 0010, 0020,
// 0032, 0038, 0040 and the rest of 0008), sequences, private elements,
// pixel data, the data sets of C-FIND, C-GET, C-MOVE and N- messages and
// of C-STOREs that forward retrieved objects. Their bytes are skipped by
// length (often by telling the pipeline to skip them unseen); nothing of
// them is copied, kept or published.
//
// # Robustness
//
// A PDU that breaks PS3.8 (unknown type, inconsistent lengths, a command
// set that is not group 0000) is an error, which stops the stream. After
// a gap a direction scans for a PDU header whose fixed fields are
// plausible and resumes there, or gives up (dpi.ErrStreamDone) after
// 1 MiB. Buffering is bounded: PDU and PDV headers, one A-ASSOCIATE item
// (larger ones are skipped), 4 KiB of command set, and one element
// header or equipment value of a data set.
package dicom
