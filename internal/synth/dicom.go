package synth

import (
	"encoding/binary"
	"strconv"
)

// DICOM Upper Layer (PS3.8) and DIMSE (PS3.7) encoding, enough for a
// modality to verify and store an image. Command sets and the dataset use
// the Implicit VR Little Endian transfer syntax.

// DICOM unique identifiers the exchange uses.
const (
	uidAppContext       = "1.2.840.10008.3.1.1.1"
	uidVerification     = "1.2.840.10008.1.1"
	uidCTImageStorage   = "1.2.840.10008.5.1.4.1.1.2"
	uidImplicitVRLittle = "1.2.840.10008.1.2"
	// uidSyntheticRoot is the UUID-derived root (PS3.5 B.2) of the
	// instance and implementation UIDs this package makes up.
	uidSyntheticRoot = "2.25."
)

// DICOM Upper Layer PDU types.
const (
	pduAssociateRQ = 0x01
	pduAssociateAC = 0x02
	pduPData       = 0x04
	pduReleaseRQ   = 0x05
	pduReleaseRP   = 0x06
)

// DIMSE command fields.
const (
	cmdCStoreRQ  = 0x0001
	cmdCStoreRSP = 0x8001
	cmdCEchoRQ   = 0x0030
	cmdCEchoRSP  = 0x8030
)

// Presentation context IDs the modality proposes (odd, PS3.8 9.3.2.2).
const (
	pcVerification = 1
	pcCTStorage    = 3
)

// aeTitle returns s as a 16-byte, space-padded AE title.
func aeTitle(s string) []byte {
	b := []byte("                ")
	copy(b, s)
	return b
}

// pduItem appends a variable item: type, reserved byte, 16-bit length.
func pduItem(b *wbuf, typ uint8, body func()) {
	b.u8(typ)
	b.u8(0)
	b.len16(body)
}

// associateRQ returns an A-ASSOCIATE-RQ from calling to called proposing
// Verification and CT Image Storage with Implicit VR Little Endian.
func associateRQ(called, calling, implUID, implVersion string) []byte {
	return associate(pduAssociateRQ, called, calling, implUID, implVersion, func(b *wbuf) {
		for _, pc := range []struct {
			id       uint8
			abstract string
		}{{pcVerification, uidVerification}, {pcCTStorage, uidCTImageStorage}} {
			pduItem(b, 0x20, func() {
				b.u8(pc.id)
				b.raw([]byte{0, 0, 0})
				pduItem(b, 0x30, func() { b.str(pc.abstract) })
				pduItem(b, 0x40, func() { b.str(uidImplicitVRLittle) })
			})
		}
	})
}

// associateAC returns the A-ASSOCIATE-AC accepting both contexts of
// associateRQ. The AE title fields echo the request, as PS3.8 asks.
func associateAC(called, calling, implUID, implVersion string) []byte {
	return associate(pduAssociateAC, called, calling, implUID, implVersion, func(b *wbuf) {
		for _, id := range []uint8{pcVerification, pcCTStorage} {
			pduItem(b, 0x21, func() {
				b.u8(id)
				b.u8(0)
				b.u8(0) // result: acceptance
				b.u8(0)
				pduItem(b, 0x40, func() { b.str(uidImplicitVRLittle) })
			})
		}
	})
}

// associate returns an A-ASSOCIATE PDU of type typ: the fixed fields, the
// application context, the presentation context items contexts writes,
// and the user information.
func associate(typ uint8, called, calling, implUID, implVersion string, contexts func(b *wbuf)) []byte {
	var b wbuf
	b.u8(typ)
	b.u8(0)
	b.len32(func() {
		b.u16(1) // protocol version
		b.u16(0)
		b.raw(aeTitle(called))
		b.raw(aeTitle(calling))
		b.raw(make([]byte, 32))
		pduItem(&b, 0x10, func() { b.str(uidAppContext) })
		contexts(&b)
		userInfo(&b, implUID, implVersion)
	})
	return b
}

// userInfo appends the user information item: maximum PDU length,
// implementation class UID and implementation version name.
func userInfo(b *wbuf, implUID, implVersion string) {
	pduItem(b, 0x50, func() {
		pduItem(b, 0x51, func() { b.u32(16384) })
		pduItem(b, 0x52, func() { b.str(implUID) })
		pduItem(b, 0x55, func() { b.str(implVersion) })
	})
}

// pData returns a P-DATA-TF PDU with one presentation data value: data on
// context id, a command set or a dataset, always the last fragment.
func pData(id uint8, command bool, data []byte) []byte {
	var b wbuf
	b.u8(pduPData)
	b.u8(0)
	b.len32(func() {
		b.len32(func() {
			b.u8(id)
			ctl := uint8(0x02) // last fragment
			if command {
				ctl |= 0x01
			}
			b.u8(ctl)
			b.raw(data)
		})
	})
	return b
}

// releasePDU returns an A-RELEASE-RQ or A-RELEASE-RP.
func releasePDU(typ uint8) []byte {
	return []byte{typ, 0, 0, 0, 0, 4, 0, 0, 0, 0}
}

// element is one data element in Implicit VR Little Endian.
type element struct {
	group, elem uint16
	value       []byte
}

// dcmUID pads a UID value to even length with a NUL, as PS3.5 requires.
func dcmUID(s string) []byte { return padEven(s, 0) }

// dcmString pads a character value to even length with a space.
func dcmString(s string) []byte { return padEven(s, ' ') }

// padEven returns s as bytes, pad appended when its length is odd.
func padEven(s string, pad byte) []byte {
	b := []byte(s)
	if len(b)%2 == 1 {
		b = append(b, pad)
	}
	return b
}

// dcmUS encodes an unsigned short value.
func dcmUS(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }

// encodeElements writes elements, which must be in ascending tag order.
func encodeElements(els []element) []byte {
	var b []byte
	for _, e := range els {
		b = binary.LittleEndian.AppendUint16(b, e.group)
		b = binary.LittleEndian.AppendUint16(b, e.elem)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(e.value)))
		b = append(b, e.value...)
	}
	return b
}

// commandSet returns a group 0000 command set, prefixed with its
// CommandGroupLength (0000,0000).
func commandSet(els ...element) []byte {
	body := encodeElements(els)
	gl := binary.LittleEndian.AppendUint32(nil, uint32(len(body)))
	return append(encodeElements([]element{{0x0000, 0x0000, gl}}), body...)
}

// dataSetAbsent and dataSetPresent are CommandDataSetType values.
const (
	dataSetAbsent  = 0x0101
	dataSetPresent = 0x0000
)

func cEchoRQ(msgID uint16) []byte {
	return commandSet(
		element{0x0000, 0x0002, dcmUID(uidVerification)},
		element{0x0000, 0x0100, dcmUS(cmdCEchoRQ)},
		element{0x0000, 0x0110, dcmUS(msgID)},
		element{0x0000, 0x0800, dcmUS(dataSetAbsent)},
	)
}

func cEchoRSP(msgID uint16) []byte {
	return commandSet(
		element{0x0000, 0x0002, dcmUID(uidVerification)},
		element{0x0000, 0x0100, dcmUS(cmdCEchoRSP)},
		element{0x0000, 0x0120, dcmUS(msgID)},
		element{0x0000, 0x0800, dcmUS(dataSetAbsent)},
		element{0x0000, 0x0900, dcmUS(0)},
	)
}

func cStoreRQ(msgID uint16, instance string) []byte {
	return commandSet(
		element{0x0000, 0x0002, dcmUID(uidCTImageStorage)},
		element{0x0000, 0x0100, dcmUS(cmdCStoreRQ)},
		element{0x0000, 0x0110, dcmUS(msgID)},
		element{0x0000, 0x0700, dcmUS(0)}, // priority: medium
		element{0x0000, 0x0800, dcmUS(dataSetPresent)},
		element{0x0000, 0x1000, dcmUID(instance)},
	)
}

func cStoreRSP(msgID uint16, instance string) []byte {
	return commandSet(
		element{0x0000, 0x0002, dcmUID(uidCTImageStorage)},
		element{0x0000, 0x0100, dcmUS(cmdCStoreRSP)},
		element{0x0000, 0x0120, dcmUS(msgID)},
		element{0x0000, 0x0800, dcmUS(dataSetAbsent)},
		element{0x0000, 0x0900, dcmUS(0)}, // success
		element{0x0000, 0x1000, dcmUID(instance)},
	)
}

// equipment is what a modality says about itself inside the objects it
// stores: the attributes a passive inventory fingerprints it by.
type equipment struct {
	manufacturer, model, serial, software, station string
}

// ctDataset returns a small CT image dataset holding the equipment
// attributes and an obviously synthetic patient, and no pixel data.
func ctDataset(eq equipment, instance string) []byte {
	return encodeElements([]element{
		{0x0008, 0x0016, dcmUID(uidCTImageStorage)},
		{0x0008, 0x0018, dcmUID(instance)},
		{0x0008, 0x0060, dcmString("CT")},
		{0x0008, 0x0070, dcmString(eq.manufacturer)},
		{0x0008, 0x1010, dcmString(eq.station)},
		{0x0008, 0x1090, dcmString(eq.model)},
		{0x0010, 0x0010, dcmString(SyntheticPatientName)},
		{0x0010, 0x0020, dcmString("SYN0001")},
		{0x0018, 0x1000, dcmString(eq.serial)},
		{0x0018, 0x1020, dcmString(eq.software)},
	})
}

// syntheticUID returns a fresh UID under the UUID-derived root.
func (g *gen) syntheticUID() string {
	return uidSyntheticRoot + strconv.FormatUint(g.rng.Uint64(), 10) + strconv.FormatUint(g.rng.Uint64()%1e9, 10)
}
