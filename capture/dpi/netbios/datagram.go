package netbios

import (
	"bytes"
	"encoding/binary"
	"strconv"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Datagram message types carrying a source name (RFC 1002 4.4.1).
const (
	dgmDirectUnique = 0x10
	dgmDirectGroup  = 0x11
	dgmBroadcast    = 0x12
)

// Browser protocol opcodes (MS-BRWS 2.2).
const (
	brHostAnnouncement        = 0x01
	brDomainAnnouncement      = 0x0c
	brLocalMasterAnnouncement = 0x0f
)

// Server type bits (MS-BRWS 2.2.1 / MS-RAP SV_TYPE_*).
const (
	svTypeUnix     = 0x00000800
	svTypeNT       = 0x00001000
	svTypeNTServer = 0x00008000
)

// serverTypes names the stable role bits of a server type; the browser
// roles (potential, backup, master browser) change with elections and
// are left out.
var serverTypes = []struct {
	bit  uint32
	name string
}{
	{0x00000001, "workstation"}, {0x00000002, "server"}, {0x00000004, "sql"},
	{0x00000008, "domain_controller"}, {0x00000010, "backup_controller"},
	{0x00000020, "time_source"}, {0x00000040, "apple"}, {0x00000080, "novell"},
	{0x00000100, "domain_member"}, {0x00000200, "print"}, {0x00000400, "dialin"},
	{0x00000800, "unix"}, {0x00001000, "nt"}, {0x00002000, "wfw"},
	{0x00008000, "nt_server"}, {0x00100000, "osf"}, {0x00200000, "vms"},
	{0x00400000, "windows95"}, {0x00800000, "dfs"},
}

var (
	smbMagic       = []byte{0xff, 'S', 'M', 'B'}
	mailslotBrowse = []byte(`\MAILSLOT\BROWSE`)
)

// datagram reads a NetBIOS datagram: its source name, and a browser
// announcement in it.
func (d *Dissector) datagram(p *dpi.Packet, out *dpi.Output, b []byte) error {
	if b[0] != dgmDirectUnique && b[0] != dgmDirectGroup && b[0] != dgmBroadcast {
		return nil // errors and name queries of the datagram service
	}
	if len(b) < 14 {
		return ErrShort
	}
	if !isSender(p, b[4:8]) {
		return nil // relayed by a datagram distribution server
	}
	if binary.BigEndian.Uint16(b[12:14]) != 0 {
		return nil // a later fragment
	}
	src, off, err := decodeName(b, 14)
	if err != nil {
		return err
	}
	dst, off, err := decodeName(b, off)
	if err != nil {
		return err
	}
	d.name(p, out, &src, false, "NetBIOS datagram source name")
	msg, err := browseMailslot(b[off:])
	if err != nil || len(msg) < 1 {
		return err
	}
	switch msg[0] {
	case brHostAnnouncement, brLocalMasterAnnouncement, brDomainAnnouncement:
	default:
		return nil
	}
	if len(msg) < 32 {
		return ErrShort
	}
	out.Count(CounterAnnouncements, 1)
	server := cString(msg[6:22])
	if msg[0] == brDomainAnnouncement {
		// The server name field holds the workgroup; the comment, the
		// master browser's name.
		d.observe(p, out, dpi.AttrNetBIOSGroup, server, confName, "Browser domain announcement workgroup")
		return nil
	}
	ev := &hostAnnouncement
	if msg[0] == brLocalMasterAnnouncement {
		ev = &localMasterAnnouncement
	}
	if len(server) > 0 {
		d.observe(p, out, dpi.AttrNetBIOSName, server, confName, ev.server)
		d.observe(p, out, dpi.AttrHostname, server, confHostname, ev.server)
	}
	// A host announcement goes to the workgroup's <1d> (master browser)
	// or <1e> (browser election) name.
	if dst[15] == 0x1d || dst[15] == 0x1e {
		if wg := trimName(dst[:15]); len(wg) > 0 && wg[0] >= 0x20 {
			d.observe(p, out, dpi.AttrNetBIOSGroup, wg, confName, ev.workgroup)
		}
	}
	major, minor := msg[22], msg[23]
	stype := binary.LittleEndian.Uint32(msg[24:28])
	if stype&(svTypeNT|svTypeNTServer) != 0 && stype&svTypeUnix == 0 {
		// Samba sets the Unix bit and announces its own "announce
		// version"; Windows 9x and printers imitating it announce 4.0
		// without the NT bits.
		d.buf = append(d.buf[:0], "Windows "...)
		d.buf = strconv.AppendUint(d.buf, uint64(major), 10)
		d.buf = append(d.buf, '.')
		d.buf = strconv.AppendUint(d.buf, uint64(minor), 10)
		d.observe(p, out, dpi.AttrOS, d.buf, confOS, ev.os)
	}
	d.buf = d.buf[:0]
	for _, t := range serverTypes {
		if stype&t.bit != 0 {
			if len(d.buf) > 0 {
				d.buf = append(d.buf, ',')
			}
			d.buf = append(d.buf, t.name...)
		}
	}
	if len(d.buf) > 0 {
		d.observe(p, out, AttrServerType, d.buf, confName, ev.serverType)
	}
	// The server comment (msg[32:]) is free text an administrator typed,
	// which may name a person or a patient room: it is never read.
	return nil
}

// announcementEvidence names the fields of an announcement.
type announcementEvidence struct{ server, workgroup, os, serverType, comment string }

var (
	hostAnnouncement = announcementEvidence{
		"Browser host announcement server name",
		"Browser host announcement destination name",
		"Browser host announcement OS version",
		"Browser host announcement server type",
		"Browser host announcement comment",
	}
	localMasterAnnouncement = announcementEvidence{
		"Browser local master announcement server name",
		"Browser local master announcement destination name",
		"Browser local master announcement OS version",
		"Browser local master announcement server type",
		"Browser local master announcement comment",
	}
)

// browseMailslot returns the data of an SMB Transaction request that
// writes to \MAILSLOT\BROWSE (MS-CIFS 2.2.4.33.1, MS-MAIL 2.2.1), or nil
// for other datagrams.
func browseMailslot(smb []byte) ([]byte, error) {
	const header = 32
	if len(smb) < header+1 || !bytes.Equal(smb[:4], smbMagic) || smb[4] != 0x25 {
		return nil, nil
	}
	wc := int(smb[header])
	words := smb[header+1:]
	if wc < 14 || len(words) < 2*wc+2 {
		return nil, ErrShort
	}
	dataCount := int(binary.LittleEndian.Uint16(words[22:24]))
	dataOffset := int(binary.LittleEndian.Uint16(words[24:26]))
	byteCount := int(binary.LittleEndian.Uint16(words[2*wc:]))
	bytesStart := header + 1 + 2*wc + 2
	if bytesStart+byteCount > len(smb) {
		byteCount = len(smb) - bytesStart
	}
	name := cString(smb[bytesStart : bytesStart+byteCount])
	if !bytes.EqualFold(name, mailslotBrowse) {
		return nil, nil
	}
	if dataOffset < bytesStart || dataOffset+dataCount > len(smb) {
		return nil, ErrShort
	}
	return smb[dataOffset : dataOffset+dataCount], nil
}

// cString returns b up to its first NUL.
func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}
