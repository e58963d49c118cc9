package dicom

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
)

// Packets of a hand-built connection: a modality (requester) and a PACS.
var (
	modalityIP  = netip.MustParseAddr("10.20.0.7")
	pacsIP      = netip.MustParseAddr("10.20.0.2")
	modalityMAC = [6]byte{0x00, 0x1b, 0x21, 0x00, 0x00, 0x07}
	pacsMAC     = [6]byte{0x00, 0x1b, 0x21, 0x00, 0x00, 0x02}
)

func fromModality() *dpi.Packet {
	return &dpi.Packet{Transport: dpi.TCP, Src: modalityIP, Dst: pacsIP, SrcPort: 40100, DstPort: 104,
		HasMAC: true, SrcMAC: modalityMAC, DstMAC: pacsMAC, FromOrig: true, FlowID: "flow-1", VLAN: 12}
}

func fromPACS() *dpi.Packet {
	return &dpi.Packet{Transport: dpi.TCP, Src: pacsIP, Dst: modalityIP, SrcPort: 104, DstPort: 40100,
		HasMAC: true, SrcMAC: pacsMAC, DstMAC: modalityMAC, FromOrig: false, FlowID: "flow-1", VLAN: 12}
}

// Directions of a segment: from the modality (the requester, the flow's
// originator) or from the PACS.
const modality, pacs = true, false

// newFeeder returns a feeder of a new stream whose first segment comes
// from the modality or the PACS. Its two packets are reused, as the
// pipeline reuses its own.
func newFeeder(t testing.TB, first bool) *dpitest.Feeder {
	m, p := fromModality(), fromPACS()
	packet := func(fromModality bool, payload []byte) *dpi.Packet {
		pk := p
		if fromModality {
			pk = m
		}
		pk.Payload = payload
		return pk
	}
	return dpitest.NewFeeder(t, New().NewStream(packet(first, nil)), packet)
}

// chunks feeds b in segments of n bytes.
func chunks(f *dpitest.Feeder, fromModality bool, b []byte, n int) {
	f.Play([]dpitest.Write{{FromOrig: fromModality, Data: b}}, func(int) int { return n })
}

// PDU builders (PS3.8 9.3).

func be16(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
func be32(v int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func pdu(typ byte, body ...[]byte) []byte {
	b := cat(body...)
	return cat([]byte{typ, 0}, be32(len(b)), b)
}

func item(typ byte, body ...[]byte) []byte {
	b := cat(body...)
	return cat([]byte{typ, 0}, be16(len(b)), b)
}

func aeField(s string) []byte {
	b := []byte(s + "                ")
	return b[:16]
}

func associate(typ byte, called, calling string, items ...[]byte) []byte {
	return pdu(typ, be16(1), []byte{0, 0}, aeField(called), aeField(calling), make([]byte, 32),
		item(0x10, []byte("1.2.840.10008.3.1.1.1")), cat(items...))
}

func pcRQ(id byte, abstract string, ts ...string) []byte {
	parts := [][]byte{{id, 0, 0, 0}, item(0x30, []byte(abstract))}
	for _, t := range ts {
		parts = append(parts, item(0x40, []byte(t)))
	}
	return item(0x20, parts...)
}

func pcAC(id, result byte, ts string) []byte {
	return item(0x21, []byte{id, 0, result, 0}, item(0x40, []byte(ts)))
}

func userInfo(uid, version string, more ...[]byte) []byte {
	return item(0x50, item(0x51, be32(16384)), item(0x52, []byte(uid)), item(0x55, []byte(version)), cat(more...))
}

func pdv(pc, mch byte, b []byte) []byte { return cat(be32(len(b)+2), []byte{pc, mch}, b) }

func pdata(pdvs ...[]byte) []byte { return pdu(0x04, pdvs...) }

// Command sets: implicit VR little endian group 0000 (PS3.7 E.1).

func cmdElem(elem uint16, v []byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, 0)
	b = binary.LittleEndian.AppendUint16(b, elem)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }

func uid(s string) []byte {
	if len(s)%2 == 1 {
		s += "\x00"
	}
	return []byte(s)
}

func storeRQ(sopClass string, extra ...[]byte) []byte {
	return cat(cmdElem(0x0002, uid(sopClass)), cmdElem(0x0100, le16(0x0001)), cmdElem(0x0110, le16(1)),
		cmdElem(0x0700, le16(0)), cmdElem(0x0800, le16(0x0000)), cat(extra...),
		cmdElem(0x1000, uid("1.2.3.4.5.6")))
}

func storeRSP(status uint16) []byte {
	return cat(cmdElem(0x0002, uid(ctStorage)), cmdElem(0x0100, le16(0x8001)), cmdElem(0x0120, le16(1)),
		cmdElem(0x0800, le16(noDataSet)), cmdElem(0x0900, le16(status)))
}

func echoRQ() []byte {
	return cat(cmdElem(0x0002, uid("1.2.840.10008.1.1")), cmdElem(0x0100, le16(0x0030)),
		cmdElem(0x0110, le16(2)), cmdElem(0x0800, le16(noDataSet)))
}

// Data sets (PS3.5 7.1).

type enc uint8

const (
	implicitLE enc = iota
	explicitLE
	explicitBE
)

func (e enc) u16(v uint16) []byte {
	if e == explicitBE {
		return binary.BigEndian.AppendUint16(nil, v)
	}
	return binary.LittleEndian.AppendUint16(nil, v)
}

func (e enc) u32(v uint32) []byte {
	if e == explicitBE {
		return binary.BigEndian.AppendUint32(nil, v)
	}
	return binary.LittleEndian.AppendUint32(nil, v)
}

// el encodes an element with a defined length.
func (e enc) el(group, elem uint16, vr string, v []byte) []byte {
	return e.elLen(group, elem, vr, uint32(len(v)), v)
}

// elLen encodes an element header with the given length, then v.
func (e enc) elLen(group, elem uint16, vr string, length uint32, v []byte) []byte {
	b := cat(e.u16(group), e.u16(elem))
	switch {
	case e == implicitLE || group == 0xFFFE:
		b = cat(b, e.u32(length))
	case longVR(vr[0], vr[1]):
		b = cat(b, []byte(vr), []byte{0, 0}, e.u32(length))
	default:
		b = cat(b, []byte(vr), e.u16(uint16(length)))
	}
	return append(b, v...)
}

// Markers that stand for patient content in test data: they must never
// come out.
var patientMarkers = []string{"ZZTEST", "ZZTESTID01", "CompressedSamples", "ABCD1234", "1234ABCD"}

const (
	ctStorage = "1.2.840.10008.5.1.4.1.1.2"
	mrStorage = "1.2.840.10008.5.1.4.1.1.4"
)

// ctObject is the start of a CT object with the equipment elements, a
// referring physician, a sequence that holds a Manufacturer (not the
// device's: never read), patient elements and pixel data.
func ctObject(e enc) []byte {
	return cat(
		e.el(0x0008, 0x0005, "CS", []byte("ISO_IR 100")),
		e.el(0x0008, 0x0016, "UI", uid(ctStorage)),
		e.el(0x0008, 0x0060, "CS", []byte("CT")),
		e.el(0x0008, 0x0070, "LO", []byte("Acme Imaging ")),
		e.el(0x0008, 0x0080, "LO", []byte("General Hospital")),
		e.el(0x0008, 0x0090, "PN", []byte("ZZTEST^REFERRER")),
		e.el(0x0008, 0x1010, "SH", []byte("CTROOM2 ")),
		// A sequence of undefined length: an undefined item with an
		// element named like Manufacturer, then a defined item.
		e.elLen(0x0008, 0x1032, "SQ", undefinedLength, nil),
		e.elLen(0xFFFE, 0xE000, "", undefinedLength, nil),
		e.el(0x0008, 0x0070, "LO", []byte("ZZTEST NESTED")),
		e.el(0x0010, 0x0010, "PN", []byte("ZZTEST^NESTED")),
		e.elLen(0xFFFE, 0xE00D, "", 0, nil),
		e.el(0xFFFE, 0xE000, "", e.el(0x0008, 0x0100, "SH", []byte("ZZTEST"))),
		e.elLen(0xFFFE, 0xE0DD, "", 0, nil),
		e.el(0x0008, 0x1090, "LO", []byte("Acme CT 128")),
		e.el(0x0009, 0x0010, "LO", []byte("ACME PRIVATE")),
		e.el(0x0010, 0x0010, "PN", []byte("ZZTEST^PATIENT")),
		e.el(0x0010, 0x0020, "LO", []byte("ZZTESTID01")),
		e.el(0x0018, 0x0050, "DS", []byte("1.25")),
		e.el(0x0018, 0x1000, "LO", []byte("SN-12345")),
		// Odd length, as some devices send.
		e.el(0x0018, 0x1020, "LO", []byte("4.5.6")),
		e.el(0x0020, 0x000D, "UI", uid("1.2.3.ZZTEST")),
		e.el(0x0028, 0x0010, "US", e.u16(512)),
		e.el(0x7FE0, 0x0010, "OW", make([]byte, 4096)),
	)
}

// ctEquipment is what ctObject yields, in order.
var ctEquipment = []string{
	"dicom.modality=CT", "vendor=Acme Imaging", "dicom.institution_name=General Hospital",
	"dicom.station_name=CTROOM2", "model=Acme CT 128", "serial=SN-12345", "software_version=4.5.6",
}

// replay feeds the segments of a capture to a new stream and ends it.
func replay(t testing.TB, segs []dpitest.Write) *dpitest.Feeder {
	f := newFeeder(t, segs[0].FromOrig)
	f.Play(segs, nil)
	f.End()
	return f
}
