package dicom

import (
	"bytes"
	"encoding/binary"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Bounds on the reading of a stored object's header.
const (
	// maxExamine bounds the bytes of an object read (element headers
	// and the values of the equipment elements).
	maxExamine = 64 << 10
	// maxWalk bounds the bytes of an object walked, skipped values
	// included.
	maxWalk = 4 << 20
	// maxDepth bounds the nesting of undefined-length sequences.
	maxDepth = 8
	// maxGroup is the last group read: the equipment elements are in
	// groups 0008 and 0018.
	maxGroup = 0x0018
)

const undefinedLength = 0xFFFFFFFF

// equipment lists the only data set elements ever read: the General
// Equipment module (PS3.3 C.7.5.1) and Modality (C.7.3.1). Sorted by tag.
var equipment = [...]struct {
	tag      uint32
	attr     string
	evidence string
}{
	{0x00080060, dpi.AttrDICOMModality, "C-STORE-RQ data set Modality (0008,0060), from the stored object's header"},
	{0x00080070, dpi.AttrVendor, "C-STORE-RQ data set Manufacturer (0008,0070), from the stored object's header"},
	{0x00080080, dpi.AttrDICOMInstitutionName, "C-STORE-RQ data set Institution Name (0008,0080), from the stored object's header"},
	{0x00081010, dpi.AttrDICOMStationName, "C-STORE-RQ data set Station Name (0008,1010), from the stored object's header"},
	{0x00081090, dpi.AttrModel, "C-STORE-RQ data set Manufacturer's Model Name (0008,1090), from the stored object's header"},
	{0x00181000, dpi.AttrSerial, "C-STORE-RQ data set Device Serial Number (0018,1000), from the stored object's header"},
	{0x00181020, dpi.AttrSoftwareVersion, "C-STORE-RQ data set Software Versions (0018,1020), from the stored object's header"},
}

// equipmentConfidence: the object describes the device that made it,
// which is the sender only as far as the sender made what it stores.
const equipmentConfidence = 0.8

func equipmentField(tag uint32) int {
	for i := range equipment {
		if equipment[i].tag == tag {
			return i
		}
	}
	return -1
}

// dataset walks the start of a stored object's data set (PS3.5 section
// 7), pushed in fragments, and reads the equipment elements. Other
// values are skipped by their length, never copied; only element headers
// and equipment values are buffered.
type dataset struct {
	ts               tsKind
	examined, walked int
	skip             int64
	hdr              [12]byte
	nhdr             int
	field            int // equipment index of the value being collected, or -1
	val              [dpi.MaxValue + 1]byte
	nval, want       int
	after            int64 // bytes to skip after the collected value
	depth            int
	last             uint32 // last top-level tag
	done             bool
}

// reset starts a new object encoded in ts.
func (ds *dataset) reset(ts tsKind) {
	*ds = dataset{ts: ts, field: -1, done: ts == tsDeflated || ts == tsOther}
}

// feed walks the next bytes of the object.
func (ds *dataset) feed(b []byte, s *stream, p *dpi.Packet, out *dpi.Output) {
	for len(b) > 0 && !ds.done {
		if ds.skip > 0 {
			n := min(ds.skip, int64(len(b)))
			ds.skip -= n
			ds.walked += int(n)
			b = b[n:]
			continue
		}
		if ds.field >= 0 {
			n := copy(ds.val[ds.nval:ds.want], b)
			ds.nval += n
			ds.examined += n
			ds.walked += n
			b = b[n:]
			if ds.nval == ds.want {
				s.equipment(p, ds.field, ds.val[:ds.nval], out)
				ds.field = -1
				ds.skipValue(uint32(ds.after))
			}
			continue
		}
		need := 8
		if ds.nhdr >= 8 {
			need = ds.headerLen()
		}
		n := copy(ds.hdr[ds.nhdr:need], b)
		ds.nhdr += n
		ds.examined += n
		ds.walked += n
		b = b[n:]
		if ds.nhdr < need {
			continue
		}
		if need == 8 {
			if ds.ts == tsUnknown {
				ds.detect()
			}
			if ds.headerLen() > 8 {
				continue
			}
		}
		ds.nhdr = 0
		ds.element()
		if ds.examined > maxExamine || ds.walked > maxWalk {
			ds.done = true
		}
	}
}

// detect guesses the encoding of an object whose transfer syntax was not
// seen negotiated, from its first element, as PS3.10 readers do: a valid
// VR after the tag means explicit VR.
func (ds *dataset) detect() {
	h := &ds.hdr
	switch {
	case validVR(h[4], h[5]) && h[0] == 0 && h[1] != 0:
		ds.ts = tsExplicitBE
	case validVR(h[4], h[5]):
		ds.ts = tsExplicitLE
	default:
		ds.ts = tsImplicitLE
	}
}

func (ds *dataset) u16(b []byte) uint16 {
	if ds.ts == tsExplicitBE {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (ds *dataset) u32(b []byte) uint32 {
	if ds.ts == tsExplicitBE {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// headerLen is the length of the element header in hdr (at least 8
// bytes read): 12 for explicit VRs with a 4-byte length.
func (ds *dataset) headerLen() int {
	if ds.ts == tsImplicitLE || ds.u16(ds.hdr[0:2]) == 0xFFFE {
		return 8
	}
	if longVR(ds.hdr[4], ds.hdr[5]) {
		return 12
	}
	return 8
}

// element acts on the element header in hdr.
func (ds *dataset) element() {
	h := ds.hdr[:]
	group, elem := ds.u16(h[0:2]), ds.u16(h[2:4])
	tag := uint32(group)<<16 | uint32(elem)
	var length uint32
	sq := false
	switch {
	case group == 0xFFFE || ds.ts == tsImplicitLE:
		length = ds.u32(h[4:8])
		sq = ds.ts == tsImplicitLE
	case !validVR(h[4], h[5]):
		ds.done = true
		return
	case longVR(h[4], h[5]):
		length = ds.u32(h[8:12])
		sq = h[4] == 'S' && h[5] == 'Q'
	default:
		length = uint32(ds.u16(h[6:8]))
	}

	if group == 0xFFFE {
		// Items and delimiters (PS3.5 7.5) only occur inside sequences.
		if ds.depth == 0 {
			ds.done = true
			return
		}
		switch elem {
		case 0xE000:
			if length == undefinedLength {
				ds.enter()
			} else {
				ds.skipValue(length)
			}
		case 0xE00D, 0xE0DD:
			ds.depth--
		default:
			ds.done = true
		}
		return
	}
	if ds.depth == 0 {
		// Top-level elements come in ascending tag order (PS3.5 7.1);
		// past group 0018 there is nothing to read.
		if tag <= ds.last || group > maxGroup {
			ds.done = true
			return
		}
		ds.last = tag
	}
	if length == undefinedLength {
		// Only a sequence can be followed through; an undefined-length
		// UN holds implicit VR content, and pixel data is past group
		// 0018.
		if !sq {
			ds.done = true
			return
		}
		ds.enter()
		return
	}
	if ds.depth == 0 {
		if f := equipmentField(tag); f >= 0 && length > 0 {
			ds.field = f
			ds.want = int(min(length, uint32(len(ds.val))))
			ds.nval = 0
			ds.after = int64(length) - int64(ds.want)
			return
		}
	}
	ds.skipValue(length)
}

// skipValue skips a value, or stops the walk if the value ends past
// maxWalk.
func (ds *dataset) skipValue(length uint32) {
	if int64(ds.walked)+int64(length) > maxWalk {
		ds.done = true
		return
	}
	ds.skip = int64(length)
}

func (ds *dataset) enter() {
	ds.depth++
	if ds.depth > maxDepth {
		ds.done = true
	}
}

// VRs of PS3.5 table 6.2-1, and those with a reserved field and a
// 4-byte length in explicit VR encoding (PS3.5 7.1.2).
const (
	allVRs  = "AEASATCSDADSDTFDFLISLOLTOBODOFOLOVOWPNSHSLSQSSSTSVTMUCUIULUNURUSUTUV"
	longVRs = "OBODOFOLOVOWSQSVUCUNURUTUV"
)

func hasVR(list string, a, b byte) bool {
	for i := 0; i+1 < len(list); i += 2 {
		if list[i] == a && list[i+1] == b {
			return true
		}
	}
	return false
}

// validVR tells whether a and b form a known VR.
func validVR(a, b byte) bool { return hasVR(allVRs, a, b) }

// longVR tells whether a VR has a 4-byte length in explicit VR encoding.
func longVR(a, b byte) bool { return hasVR(longVRs, a, b) }

// equipment publishes an equipment value about the sender of the object,
// once per value and direction.
func (s *stream) equipment(p *dpi.Packet, f int, raw []byte, out *dpi.Output) {
	k := dirIndex(p.FromOrig)
	last := &s.lastEquip[k][f]
	if bytes.Equal(*last, raw) && *last != nil {
		return
	}
	*last = append((*last)[:0], raw...)
	v := dpi.Text(raw)
	if v == "" {
		return
	}
	out.Observe(p, dpi.Sender, equipment[f].attr, v, Protocol, equipmentConfidence, equipment[f].evidence)
}
