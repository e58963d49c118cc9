// Package ssh reads device facts from the clear-text start of SSH
// connections (RFC 4253): the identification string of each side, the
// operating system its comment names, the HASSH fingerprints of the
// client's and the server's KEXINIT (Salesforce HASSH: md5 of
// "kex;encryption;mac;compression" for the direction the side sends), and
// the use of protocol 1.
//
// Everything after the key exchange is encrypted: each direction is
// finished after its KEXINIT (or its banner, on protocol 1), and the
// stream ends when both are.
package ssh

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Protocol is the Observation protocol name.
const Protocol = "ssh"

// Limits.
const (
	// maxLine bounds an identification line or a line before it; RFC 4253
	// 4.2 allows 255 bytes, some servers send longer pre-banner lines.
	maxLine = 1024
	// maxPreLines bounds the lines a server may send before its
	// identification string.
	maxPreLines = 32
	// maxPacket bounds a binary packet read whole (a KEXINIT is 1-3 KB).
	maxPacket = 64 << 10
	// maxPackets is how many packets before KEXINIT are tolerated.
	maxPackets = 4
)

// SSH message numbers (RFC 4250 4.1.2).
const msgKexInit = 20

// Errors of malformed streams.
var (
	errNoBanner     = errors.New("ssh: no identification string")
	errPacketLength = errors.New("ssh: bad binary packet length")
	errKexInit      = errors.New("ssh: malformed KEXINIT")
)

// Dissector creates the state of SSH connections.
type Dissector struct{}

var _ dpi.StreamDissector = (*Dissector)(nil)

// New returns an SSH dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.StreamDissector.
func (*Dissector) Name() string { return "ssh" }

// Protocols implements dpi.StreamDissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoSSH} }

// NewStream implements dpi.StreamDissector.
func (*Dissector) NewStream(*dpi.Packet) dpi.Stream { return &stream{} }

type phase uint8

const (
	banner phase = iota
	packets
	finished
)

// direction is the state of one direction: index 0 is the originator
// (the client), 1 the responder (the server).
type direction struct {
	phase   phase
	lines   int     // lines before the identification string
	packets int     // binary packets before KEXINIT
	version string  // protocol version of the identification string
	ssh1    float64 // confidence of the ssh1 observation published about this side
}

type stream struct {
	dir [2]direction
}

func index(fromOrig bool) int {
	if fromOrig {
		return 0
	}
	return 1
}

// Data implements dpi.Stream.
func (s *stream) Data(p *dpi.Packet, data []byte, out *dpi.Output) (int, error) {
	i := index(p.FromOrig)
	d := &s.dir[i]
	n := 0
	for d.phase != finished {
		var used int
		var err error
		if d.phase == banner {
			used, err = s.line(p, i, data[n:], out)
		} else {
			used, err = s.packet(p, i, data[n:], out)
		}
		if err != nil {
			return n, err
		}
		if used == 0 {
			break // the rest is in the next segments
		}
		n += used
	}
	if s.dir[0].phase == finished && s.dir[1].phase == finished {
		return len(data), dpi.ErrStreamDone
	}
	if d.phase == finished {
		return len(data), nil
	}
	return n, nil
}

// Gap implements dpi.Stream: without packet boundaries nothing more can
// be read in that direction.
func (s *stream) Gap(fromOrig bool) { s.dir[index(fromOrig)].phase = finished }

// End implements dpi.Stream.
func (*stream) End(*dpi.Output) {}

// line reads one line of the banner phase. It returns 0 when the line is
// not complete yet.
func (s *stream) line(p *dpi.Packet, i int, data []byte, out *dpi.Output) (int, error) {
	d := &s.dir[i]
	end := bytes.IndexByte(data[:min(len(data), maxLine)], '\n')
	if end < 0 {
		if len(data) >= maxLine {
			return 0, errNoBanner
		}
		return 0, nil
	}
	line := bytes.TrimSuffix(data[:end], []byte{'\r'})
	if !bytes.HasPrefix(line, []byte("SSH-")) {
		// RFC 4253 4.2: the server may send other lines first.
		if d.lines++; d.lines > maxPreLines {
			return 0, errNoBanner
		}
		return end + 1, nil
	}
	s.identification(p, i, line, out)
	return end + 1, nil
}

// identification publishes what an identification string
// ("SSH-protoversion-softwareversion SP comments") tells.
func (s *stream) identification(p *dpi.Packet, i int, line []byte, out *dpi.Output) {
	d := &s.dir[i]
	d.phase = packets
	if v := dpi.Text(line); v != "" {
		out.Observe(p, dpi.Sender, dpi.AttrSSHBanner, v, Protocol, 0.95, "SSH identification string")
	}
	rest := string(line[len("SSH-"):])
	version, software, _ := strings.Cut(rest, "-")
	d.version = version
	if os := osName(software); os != "" {
		out.Observe(p, dpi.Sender, dpi.AttrOS, os, Protocol, 0.5, "SSH identification string comment")
	}

	peer := &s.dir[1-i]
	switch {
	case version == "1.99":
		// Protocol 2 with protocol 1 still accepted.
		s.insecure(p, i, dpi.Sender, 0.6, "SSH-1.99 identification string (protocol 1 accepted)", out)
	case strings.HasPrefix(version, "1."):
		// Protocol 1 only: what follows is not the SSH-2 packet format.
		d.phase = finished
		s.insecure(p, i, dpi.Sender, 0.9, "SSH-"+dpi.Text([]byte(version))+" identification string", out)
	}
	// A connection where one side speaks only protocol 1 and the other
	// accepts it uses protocol 1: that is a fact about both ends.
	if isSSH1(version) && isSSH1Capable(peer.version) || isSSH1(peer.version) && isSSH1Capable(version) {
		d.phase, peer.phase = finished, finished
		s.insecure(p, i, dpi.Sender, 0.9, "SSH protocol 1 connection", out)
		s.insecure(p, i, dpi.Receiver, 0.9, "SSH protocol 1 connection", out)
	}
}

// insecure publishes that a side uses protocol 1, unless it was already
// said with at least that confidence.
func (s *stream) insecure(p *dpi.Packet, i int, side dpi.Side, confidence float64, evidence string, out *dpi.Output) {
	if side == dpi.Receiver {
		i = 1 - i
	}
	if s.dir[i].ssh1 >= confidence {
		return
	}
	s.dir[i].ssh1 = confidence
	out.Observe(p, side, dpi.AttrInsecureProtocol, "ssh1", Protocol, confidence, evidence)
}

func isSSH1(v string) bool        { return strings.HasPrefix(v, "1.") && v != "1.99" }
func isSSH1Capable(v string) bool { return strings.HasPrefix(v, "1.") }

// osName names the operating system an identification string gives
// away: distribution builds of OpenSSH append their name and package
// version to the comment ("OpenSSH_8.9p1 Ubuntu-3ubuntu0.1"; Ubuntu's
// older builds say "Debian-5ubuntu1.1"), the Windows port says so in its
// software version.
func osName(software string) string {
	if strings.HasPrefix(software, "OpenSSH_for_Windows") {
		return "Windows"
	}
	_, comment, ok := strings.Cut(software, " ")
	if !ok {
		return ""
	}
	comment = strings.ToLower(comment)
	switch {
	case strings.Contains(comment, "ubuntu"):
		return "Ubuntu"
	case strings.HasPrefix(comment, "raspbian"):
		return "Raspbian"
	case strings.HasPrefix(comment, "debian"):
		return "Debian"
	case strings.HasPrefix(comment, "freebsd"):
		return "FreeBSD"
	case strings.HasPrefix(comment, "netbsd"):
		return "NetBSD"
	}
	return ""
}

// packet reads one binary packet (RFC 4253 6) of the key exchange. It
// returns 0 when the packet is not complete yet.
func (s *stream) packet(p *dpi.Packet, i int, data []byte, out *dpi.Output) (int, error) {
	d := &s.dir[i]
	if len(data) < 6 {
		return 0, nil
	}
	length := binary.BigEndian.Uint32(data)
	if length < 2 || length > maxPacket {
		return 0, errPacketLength
	}
	total := 4 + int(length)
	if len(data) < total {
		return 0, nil
	}
	padding := int(data[4])
	if padding+1 > int(length)-1 {
		return 0, errPacketLength
	}
	payload := data[5 : total-padding]
	if payload[0] != msgKexInit {
		if d.packets++; d.packets >= maxPackets {
			d.phase = finished
		}
		return total, nil
	}
	lists, ok := kexInitLists(payload)
	if !ok {
		return 0, errKexInit
	}
	d.phase = finished
	// HASSH: the client's lists for client to server, the server's for
	// server to client.
	attr, evidence := dpi.AttrSSHHASSH, "client KEXINIT (HASSH)"
	enc, mac, cmp := lists[2], lists[4], lists[6]
	if i == 1 {
		attr, evidence = dpi.AttrSSHHASSHServer, "server KEXINIT (HASSHServer)"
		enc, mac, cmp = lists[3], lists[5], lists[7]
	}
	out.Observe(p, dpi.Sender, attr, hassh(lists[0], enc, mac, cmp), Protocol, 0.9, evidence)
	return total, nil
}

// kexInitLists returns the first eight name-lists of a KEXINIT payload
// (RFC 4253 7.1): kex, host key, encryption c2s/s2c, mac c2s/s2c,
// compression c2s/s2c. They point into payload.
func kexInitLists(payload []byte) (lists [8][]byte, ok bool) {
	b := payload[1:]
	if len(b) < 16 {
		return lists, false
	}
	b = b[16:] // cookie
	for k := range lists {
		if len(b) < 4 {
			return lists, false
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return lists, false
		}
		lists[k] = b[4 : 4+n]
		b = b[4+n:]
	}
	return lists, true
}

// hassh is the md5 hex of "kex;enc;mac;cmp".
func hassh(kex, enc, mac, cmp []byte) string {
	h := md5.New()
	h.Write(kex)
	h.Write([]byte{';'})
	h.Write(enc)
	h.Write([]byte{';'})
	h.Write(mac)
	h.Write([]byte{';'})
	h.Write(cmp)
	return hex.EncodeToString(h.Sum(nil))
}
