// Package ntp reads device facts from NTP packets (RFC 5905, and the
// mode 6 control and mode 7 private messages of ntpd):
//
//   - a client (mode 3, or a symmetric-active peer, mode 1) uses the
//     server it sends to: ntp.server about the client;
//   - a server (mode 4, or broadcast mode 5) states its stratum and
//     reference ID: ntp.stratum and ntp.reference_id about the server,
//     and ntp.server about the client it answers;
//   - mode 6 and 7 queries are reconnaissance and, answered, an
//     amplification vector (monlist, CVE-2013-5211): ntp.control about
//     both the querier and the responder, and insecure_protocol "ntp mode
//     7" about a server that answers mode 7;
//   - a mode 6 READVAR response for the system variables gives the
//     server's software version and operating system ("ntpd 4.2.8p10...",
//     "Linux/4.4.79-18.26-default").
//
// Every packet also gives ntp.version about its sender.
package ntp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Protocol is the Observation protocol name.
const Protocol = "ntp"

// Attribute names this package adds to the dpi vocabulary.
const (
	AttrVersion     = "ntp.version"
	AttrStratum     = "ntp.stratum"
	AttrReferenceID = "ntp.reference_id"
	// AttrControl says that a device sent or answered mode 6/7 queries
	// ("mode 6 readvar request", "mode 7 monlist response").
	AttrControl = "ntp.control"
)

// CounterControl counts the mode 6 and 7 messages of a flow.
const CounterControl = "ntp.control"

// NTP modes.
const (
	modeSymmetricActive = 1
	modeClient          = 3
	modeServer          = 4
	modeBroadcast       = 5
	modeControl         = 6
	modePrivate         = 7
)

// Errors returned for packets too short for their mode.
var (
	ErrShort   = errors.New("ntp: packet shorter than its header")
	ErrVersion = errors.New("ntp: version is not 1 to 4")
	ErrMode    = errors.New("ntp: reserved mode 0")
)

// Dissector reads NTP packets. It keeps no state; it is safe to share.
type Dissector struct{}

var _ dpi.Dissector = Dissector{}

// New returns an NTP dissector.
func New() Dissector { return Dissector{} }

// Name implements dpi.Dissector.
func (Dissector) Name() string { return "ntp" }

// Protocols implements dpi.Dissector.
func (Dissector) Protocols() []string { return []string{dpi.ProtoNTP} }

// Dissect implements dpi.Dissector.
func (Dissector) Dissect(p *dpi.Packet, out *dpi.Output) error {
	b := p.Payload
	if len(b) < 1 {
		return ErrShort
	}
	version, mode := (b[0]>>3)&0x07, b[0]&0x07
	if version < 1 || version > 4 {
		return ErrVersion
	}
	switch mode {
	case 0:
		return ErrMode
	case modeControl:
		return control(p, out, b, version)
	case modePrivate:
		return private(p, out, b, version)
	}
	if len(b) < 48 {
		return ErrShort
	}
	v := strconv.Itoa(int(version))
	observe(out, p, dpi.Sender, AttrVersion, v, 0.9, "NTPv"+v+" "+modeName(mode))
	switch mode {
	case modeClient, modeSymmetricActive:
		if server := address(p.Dst); server != "" {
			conf := 0.8
			if mode == modeSymmetricActive {
				conf = 0.6 // a peer is a time source, not always the one chosen
			}
			observe(out, p, dpi.Sender, dpi.AttrNTPServer, server, conf, "NTP "+modeName(mode)+" destination")
		}
	case modeServer, modeBroadcast:
		stratum := b[1]
		if stratum == 0 || stratum > 16 {
			return nil // a kiss-o'-death or an invalid stratum says nothing stable
		}
		evidence := "NTP " + modeName(mode)
		observe(out, p, dpi.Sender, AttrStratum, strconv.Itoa(int(stratum)), 0.9, evidence+" stratum")
		if ref := referenceID(stratum, b[12:16]); ref != "" {
			observe(out, p, dpi.Sender, AttrReferenceID, ref, 0.9, evidence+" reference ID")
		}
		if mode == modeServer {
			if server := address(p.Src); server != "" {
				observe(out, p, dpi.Receiver, dpi.AttrNTPServer, server, 0.8, "NTP server reply source")
			}
		}
	}
	return nil
}

// control reads a mode 6 message: LI/VN/mode, R/E/M/opcode, sequence,
// status, association ID, offset, count, then count bytes of data.
func control(p *dpi.Packet, out *dpi.Output, b []byte, version byte) error {
	if len(b) < 12 {
		return ErrShort
	}
	out.Count(CounterControl, 1)
	response := b[1]&0x80 != 0
	opcode := b[1] & 0x1f
	what := "mode 6 " + controlOp(opcode)
	evidence := "NTPv" + strconv.Itoa(int(version)) + " control message"
	if !response {
		observe(out, p, dpi.Sender, AttrControl, what+" request", 0.9, evidence)
		return nil
	}
	observe(out, p, dpi.Sender, AttrControl, what+" response", 0.9, evidence)
	assoc := binary.BigEndian.Uint16(b[6:])
	offset := binary.BigEndian.Uint16(b[8:])
	count := int(binary.BigEndian.Uint16(b[10:]))
	if opcode != 2 || assoc != 0 || offset != 0 || b[1]&0x40 != 0 {
		return nil // only the first fragment of the system variables
	}
	data := b[12:min(len(b), 12+count)]
	if v := variable(data, "version"); v != "" {
		observe(out, p, dpi.Sender, dpi.AttrSoftwareVersion, v, 0.9, "NTP mode 6 READVAR response version")
	}
	if v := variable(data, "system"); v != "" {
		observe(out, p, dpi.Sender, dpi.AttrOS, v, 0.8, "NTP mode 6 READVAR response system")
	}
	return nil
}

// private reads a mode 7 message: R/M/VN/mode, A/sequence,
// implementation, request code.
func private(p *dpi.Packet, out *dpi.Output, b []byte, version byte) error {
	if len(b) < 4 {
		return ErrShort
	}
	out.Count(CounterControl, 1)
	what := "mode 7 request code " + strconv.Itoa(int(b[3]))
	if b[3] == 20 || b[3] == 42 { // REQ_MON_GETLIST, REQ_MON_GETLIST_1
		what = "mode 7 monlist"
	}
	evidence := "NTPv" + strconv.Itoa(int(version)) + " private message"
	if b[0]&0x80 == 0 {
		observe(out, p, dpi.Sender, AttrControl, what+" request", 0.9, evidence)
		return nil
	}
	observe(out, p, dpi.Sender, AttrControl, what+" response", 0.9, evidence)
	observe(out, p, dpi.Sender, dpi.AttrInsecureProtocol, "ntp mode 7", 0.95, evidence+" response")
	return nil
}

// variable returns the value of name in a mode 6 variable list
// (`version="ntpd 4.2.8p10@1.3728-o ...", processor="x86_64", ...`), or "".
func variable(data []byte, name string) string {
	for len(data) > 0 {
		// one "name=value" item, up to the next comma outside quotes
		end, quoted := len(data), false
		for i, c := range data {
			if c == '"' {
				quoted = !quoted
			} else if c == ',' && !quoted {
				end = i
				break
			}
		}
		item := bytes.TrimSpace(data[:end])
		if end < len(data) {
			data = data[end+1:]
		} else {
			data = nil
		}
		k, v, ok := bytes.Cut(item, []byte{'='})
		if !ok || string(bytes.TrimSpace(k)) != name {
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return dpi.Text(v)
	}
	return ""
}

// referenceID formats the reference ID of a server: four ASCII
// characters naming a reference clock at stratum 1 ("GPS", "PPS"), the
// IPv4 address of the upstream server (or a hash of its IPv6 address)
// above.
func referenceID(stratum byte, id []byte) string {
	if stratum == 1 {
		return dpi.Text(bytes.TrimRight(id, "\x00"))
	}
	a := netip.AddrFrom4([4]byte(id))
	if a.IsUnspecified() {
		return ""
	}
	return a.String()
}

// address returns the text of a unicast address, "" for others.
func address(a netip.Addr) string {
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return ""
	}
	return a.String()
}

func modeName(mode byte) string {
	switch mode {
	case modeSymmetricActive:
		return "symmetric active"
	case 2:
		return "symmetric passive"
	case modeClient:
		return "client"
	case modeServer:
		return "server"
	case modeBroadcast:
		return "broadcast"
	}
	return "mode " + strconv.Itoa(int(mode))
}

// controlOp names a mode 6 opcode (ntpd's ntp_control.h).
func controlOp(op byte) string {
	switch op {
	case 1:
		return "readstat"
	case 2:
		return "readvar"
	case 3:
		return "writevar"
	case 4:
		return "readclock"
	case 5:
		return "writeclock"
	case 6:
		return "setrap"
	case 7:
		return "asyncmsg"
	case 8:
		return "configure"
	case 9:
		return "saveconfig"
	case 10:
		return "readmru"
	case 11:
		return "readordlist"
	case 12:
		return "reqnonce"
	case 31:
		return "unsettrap"
	}
	return "opcode " + strconv.Itoa(int(op))
}

// observe is out.Observe, except that a device with a public address is
// keyed by that address alone: its packets reach the mirror port through
// a router and carry the router's MAC, which must not collect its facts.
// An all-zero source MAC (loopback captures, some test traces) keys
// nothing either.
func observe(out *dpi.Output, p *dpi.Packet, side dpi.Side, attr, value string, confidence float64, evidence string) {
	addr, mac := p.Src, p.SrcMAC
	if side == dpi.Receiver {
		addr, mac = p.Dst, p.DstMAC
	}
	if p.HasMAC && (public(addr) || mac == [6]byte{}) {
		q := *p
		q.HasMAC = false
		p = &q
	}
	out.Observe(p, side, attr, value, Protocol, confidence, evidence)
}

// cgnat is the shared address space of RFC 6598, private in practice.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// public reports whether a is a global unicast address outside the
// private (RFC 1918, RFC 4193) and shared ranges.
func public(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsGlobalUnicast() && !a.IsPrivate() && !cgnat.Contains(a)
}
