// Package netbios reads what Windows hosts, Samba servers and the
// printers and embedded devices that imitate them say about themselves
// in the NetBIOS name and datagram services over UDP (RFC 1001/1002):
//
//   - name service (UDP 137): the names a host registers or refreshes
//     for its own address, the names of positive name query responses
//     that carry the sender's address, and the name table of a node
//     status response. Unique names with the suffix 0x00 (workstation)
//     or 0x20 (server) are the host's NetBIOS name; group names with the
//     suffix 0x00 its workgroup or domain. Other suffixes are skipped:
//     0x03 (messenger) names are often user names.
//   - datagram service (UDP 138): the source name of a datagram, and
//     the browser announcements (MS-BRWS) that SMB mailslot
//     \MAILSLOT\BROWSE carries: server name, OS version, server type,
//     comment and workgroup.
//
// Facts are only taken when the address a message states for the name
// is the sender's: a WINS server's answers and relayed datagrams name
// other hosts.
package netbios

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Protocol is the Observation protocol name.
const Protocol = "netbios"

// Attributes this package adds to the dpi vocabulary.
const (
	// AttrServerType lists the roles of a browser announcement's server
	// type ("workstation,server,nt,print").
	AttrServerType = "netbios.server_type"
)

// Counters kept per flow.
const (
	CounterNameService   = "netbios.ns_messages"
	CounterDatagrams     = "netbios.datagrams"
	CounterAnnouncements = "netbios.browser_announcements"
)

// Confidences: names a host registers for itself are self-identification;
// a NetBIOS name is a host name by convention; the OS version of a
// browser announcement is a Windows version only by convention too.
const (
	confName     = 0.9
	confHostname = 0.8
	confOS       = 0.6
)

// Dissector reads NetBIOS name and datagram service messages. Its only
// state is the bounded record of facts already reported (hosts refresh
// and announce every few minutes); each capture worker needs its own.
type Dissector struct {
	seen *dpi.Recent
	buf  []byte
}

var _ dpi.Dissector = (*Dissector)(nil)

// New returns a NetBIOS dissector.
func New() *Dissector { return &Dissector{seen: dpi.NewRecent(8192), buf: make([]byte, 0, 128)} }

// Name implements dpi.Dissector.
func (*Dissector) Name() string { return "netbios" }

// Protocols implements dpi.Dissector.
func (*Dissector) Protocols() []string {
	return []string{dpi.ProtoNetBIOSNS, dpi.ProtoNetBIOSDGM}
}

// Errors for malformed messages.
var (
	ErrShort   = errors.New("netbios: message too short")
	ErrName    = errors.New("netbios: malformed encoded name")
	ErrUnknown = errors.New("netbios: neither a name service nor a datagram message")
)

// Dissect implements dpi.Dissector.
func (d *Dissector) Dissect(p *dpi.Packet, out *dpi.Output) error {
	b := p.Payload
	switch {
	case p.HasPort(138) && len(b) > 0 && b[0] >= 0x10 && b[0] <= 0x16:
		out.Count(CounterDatagrams, 1)
		return d.datagram(p, out, b)
	case p.HasPort(137):
		out.Count(CounterNameService, 1)
		return d.nameService(p, out, b)
	}
	return ErrUnknown
}

// Name service opcodes (RFC 1002 4.2.1.1; 9 is the refresh opcode that
// Windows sends, 15 the multi-homed registration of RFC 1002 errata).
const (
	opQuery        = 0
	opRegistration = 5
	opRefresh      = 8
	opRefreshAlt   = 9
	opMultiHomed   = 15
)

// Resource record types.
const (
	typeNB     = 0x0020
	typeNBSTAT = 0x0021
)

// Name flags (RFC 1002 4.2.1.3 NB_FLAGS and 4.2.18 NAME_FLAGS).
const (
	flagGroup       = 0x8000
	flagDeregister  = 0x1000
	flagConflict    = 0x0800
	nodeStatusEntry = 18
)

// nameService reads a name service message.
func (d *Dissector) nameService(p *dpi.Packet, out *dpi.Output, b []byte) error {
	if len(b) < 12 {
		return ErrShort
	}
	flags := binary.BigEndian.Uint16(b[2:4])
	response := flags&0x8000 != 0
	opcode := (flags >> 11) & 0x0f
	rcode := flags & 0x0f
	qd := int(binary.BigEndian.Uint16(b[4:6]))
	an := int(binary.BigEndian.Uint16(b[6:8]))
	ar := int(binary.BigEndian.Uint16(b[10:12]))
	off := 12

	switch {
	case !response && qd == 1 && ar == 1 &&
		(opcode == opRegistration || opcode == opRefresh || opcode == opRefreshAlt || opcode == opMultiHomed):
		name, next, err := decodeName(b, off)
		if err != nil {
			return err
		}
		off = next + 4 // QUESTION_TYPE, QUESTION_CLASS
		for i := 0; i < int(binary.BigEndian.Uint16(b[8:10])); i++ {
			if off, err = skipRR(b, off); err != nil {
				return err
			}
		}
		typ, rdata, _, err := readRR(b, off)
		if err != nil {
			return err
		}
		if typ != typeNB || len(rdata) < 6 || !isSender(p, rdata[2:6]) {
			return nil
		}
		evidence := "NBNS name registration"
		if opcode == opRefresh || opcode == opRefreshAlt {
			evidence = "NBNS name refresh"
		}
		d.name(p, out, &name, binary.BigEndian.Uint16(rdata[0:2])&flagGroup != 0, evidence)
	case response && opcode == opQuery && rcode == 0 && an == 1:
		for i := 0; i < qd; i++ {
			_, next, err := decodeName(b, off)
			if err != nil {
				return err
			}
			off = next + 4
		}
		if off > len(b) {
			return ErrShort
		}
		name, _, err := decodeName(b, off)
		if err != nil {
			return err
		}
		typ, rdata, _, err := readRR(b, off)
		if err != nil {
			return err
		}
		switch typ {
		case typeNB:
			// One NB_FLAGS and NB_ADDRESS per address of the name.
			for ; len(rdata) >= 6; rdata = rdata[6:] {
				if isSender(p, rdata[2:6]) {
					group := binary.BigEndian.Uint16(rdata[0:2])&flagGroup != 0
					d.name(p, out, &name, group, "NBNS positive name query response")
					break
				}
			}
		case typeNBSTAT:
			return d.nodeStatus(p, out, rdata)
		}
	}
	return nil
}

// nodeStatus reads the name table of a node status response (RFC 1002
// 4.2.18): the responder's own names.
func (d *Dissector) nodeStatus(p *dpi.Packet, out *dpi.Output, rdata []byte) error {
	if len(rdata) < 1 {
		return ErrShort
	}
	n := int(rdata[0])
	rdata = rdata[1:]
	if len(rdata) < n*nodeStatusEntry {
		return ErrShort
	}
	for i := 0; i < n; i++ {
		e := rdata[i*nodeStatusEntry : (i+1)*nodeStatusEntry]
		var name [16]byte
		copy(name[:], e[:16])
		flags := binary.BigEndian.Uint16(e[16:18])
		if flags&(flagDeregister|flagConflict) != 0 {
			continue
		}
		d.name(p, out, &name, flags&flagGroup != 0, "NBNS node status response")
	}
	return nil
}

// name reports a NetBIOS name of the sender: a unique workstation or
// server name is its NetBIOS name and host name, a group workstation
// name its workgroup.
func (d *Dissector) name(p *dpi.Packet, out *dpi.Output, name *[16]byte, group bool, evidence string) {
	suffix := name[15]
	base := trimName(name[:15])
	if len(base) == 0 || base[0] == '*' || base[0] < 0x20 {
		return // the wildcard name, or the browsers' "\x01\x02__MSBROWSE__\x02"
	}
	switch {
	case !group && (suffix == 0x00 || suffix == 0x20):
		d.observe(p, out, dpi.AttrNetBIOSName, base, confName, evidence)
		d.observe(p, out, dpi.AttrHostname, base, confHostname, evidence)
	case group && suffix == 0x00:
		d.observe(p, out, dpi.AttrNetBIOSGroup, base, confName, evidence)
	}
}

// observe reports a fact not reported lately.
func (d *Dissector) observe(p *dpi.Packet, out *dpi.Output, attr string, value []byte, confidence float64, evidence string) {
	if !d.seen.Fresh(p, attr, value) {
		return
	}
	if v := dpi.Text(value); v != "" {
		out.Observe(p, dpi.Sender, attr, v, Protocol, confidence, evidence)
	}
}

// isSender tells whether the 4-byte address a is the sender's.
func isSender(p *dpi.Packet, a []byte) bool {
	return p.Src.Unmap() == netip.AddrFrom4([4]byte(a))
}

// decodeName reads the first-level encoded NetBIOS name at off (RFC 1001
// 14.1: 32 bytes 'A'-'P', two per byte of the 16-byte name) and skips its
// scope labels, or follows a compression pointer to such a name. It
// returns the name and the offset after it.
func decodeName(b []byte, off int) (name [16]byte, next int, err error) {
	if off+2 <= len(b) && b[off]&0xc0 == 0xc0 {
		ptr := int(binary.BigEndian.Uint16(b[off:]) & 0x3fff)
		if ptr >= off {
			return name, 0, ErrName // only backward pointers: no loops
		}
		name, _, err = decodeName(b, ptr)
		return name, off + 2, err
	}
	if off+34 > len(b) || b[off] != 0x20 {
		return name, 0, ErrName
	}
	enc := b[off+1 : off+33]
	for i := range name {
		hi, lo := enc[2*i]-'A', enc[2*i+1]-'A'
		if hi > 15 || lo > 15 {
			return name, 0, ErrName
		}
		name[i] = hi<<4 | lo
	}
	off += 33
	// Scope labels, up to the root label or a pointer.
	for {
		if off >= len(b) {
			return name, 0, ErrName
		}
		n := int(b[off])
		switch {
		case n == 0:
			return name, off + 1, nil
		case n&0xc0 == 0xc0:
			if off+2 > len(b) {
				return name, 0, ErrName
			}
			return name, off + 2, nil
		case n > 63:
			return name, 0, ErrName
		}
		off += 1 + n
	}
}

// readRR reads the resource record at off: its type, its data and the
// offset after it.
func readRR(b []byte, off int) (typ uint16, rdata []byte, next int, err error) {
	_, off, err = decodeName(b, off)
	if err != nil {
		return 0, nil, 0, err
	}
	if off+10 > len(b) {
		return 0, nil, 0, ErrShort
	}
	typ = binary.BigEndian.Uint16(b[off:])
	n := int(binary.BigEndian.Uint16(b[off+8:]))
	off += 10
	if off+n > len(b) {
		return 0, nil, 0, ErrShort
	}
	return typ, b[off : off+n], off + n, nil
}

func skipRR(b []byte, off int) (int, error) {
	_, _, next, err := readRR(b, off)
	return next, err
}

// trimName strips the space (and NUL) padding of a NetBIOS name.
func trimName(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	return b
}
