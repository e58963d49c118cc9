package dicom

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/vigil-health/vigil/capture/dpi"
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

// feeder drives a Stream as the capture pipeline does (capture/stream.go):
// unconsumed bytes are offered again with the next segment's appended, a
// count past the data skips stream bytes, a buffer over max is a gap, and
// an error stops the stream. Output accumulates.
type feeder struct {
	t    testing.TB
	s    dpi.Stream
	buf  [2][]byte
	skip [2]int
	max  int
	done bool
	err  error
	out  dpi.Output
}

func newFeeder(t testing.TB, first *dpi.Packet) *feeder {
	return &feeder{t: t, s: New().NewStream(first), max: 64 << 10}
}

func dirOf(p *dpi.Packet) int {
	if p.FromOrig {
		return 0
	}
	return 1
}

// data offers one segment.
func (f *feeder) data(p *dpi.Packet, b []byte) {
	if f.done || len(b) == 0 {
		return
	}
	dir := dirOf(p)
	if f.skip[dir] > 0 {
		if f.skip[dir] >= len(b) {
			f.skip[dir] -= len(b)
			return
		}
		b = b[f.skip[dir]:]
		f.skip[dir] = 0
	}
	view := b
	if len(f.buf[dir]) > 0 {
		view = append(f.buf[dir], b...)
	}
	p.Payload = b
	n, err := f.s.Data(p, view, &f.out)
	if err != nil {
		f.done, f.err = true, err
		return
	}
	if n < 0 {
		f.t.Fatalf("Data returned %d", n)
	}
	if n >= len(view) {
		f.skip[dir] = n - len(view)
		f.buf[dir] = nil
		return
	}
	rest := view[n:]
	if len(rest) > f.max {
		f.buf[dir] = nil
		f.s.Gap(dir == 0)
		return
	}
	f.buf[dir] = append([]byte(nil), rest...)
}

// chunks offers b in segments of n bytes.
func (f *feeder) chunks(p *dpi.Packet, b []byte, n int) {
	for len(b) > 0 {
		k := min(n, len(b))
		f.data(p, b[:k])
		b = b[k:]
	}
}

// gap reports lost bytes in a direction.
func (f *feeder) gap(p *dpi.Packet) {
	dir := dirOf(p)
	f.buf[dir], f.skip[dir] = nil, 0
	if !f.done {
		f.s.Gap(dir == 0)
	}
}

func (f *feeder) end() {
	if !f.done {
		f.s.End(&f.out)
	}
}

func (f *feeder) counters() map[string]uint64 {
	m := map[string]uint64{}
	for _, c := range f.out.Counters {
		m[c.Name] += c.N
	}
	return m
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

// segment is one TCP payload of a capture.
type segment struct {
	fromOrig bool
	payload  []byte
}

// segments reads the TCP payloads of a capture with one connection, in
// capture order; the originator is the sender of the SYN.
func segments(t testing.TB, file string) []segment {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []segment
	var origPort uint16
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pkt := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok {
			continue
		}
		if tcp.SYN && !tcp.ACK {
			origPort = uint16(tcp.SrcPort)
		}
		if len(tcp.Payload) > 0 {
			out = append(out, segment{fromOrig: uint16(tcp.SrcPort) == origPort, payload: tcp.Payload})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no TCP payload", file)
	}
	return out
}

// replay feeds the segments of a capture to a new stream.
func replay(t testing.TB, segs []segment) *feeder {
	orig, resp := fromModality(), fromPACS()
	first := resp
	if segs[0].fromOrig {
		first = orig
	}
	f := newFeeder(t, first)
	for _, s := range segs {
		p := resp
		if s.fromOrig {
			p = orig
		}
		f.data(p, s.payload)
	}
	f.end()
	return f
}
