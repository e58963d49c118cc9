// Package rdp reads the clear-text start of Remote Desktop connections
// (MS-RDPBCGR 1.3.1.1): the security protocols the client requests in
// its X.224 Connection Request and the one the server selects, and, when
// the session uses standard RDP security (no TLS), the client's name and
// build from the MCS Connect Initial's clientCoreData. With TLS or
// CredSSP the rest is encrypted and the dissector stops.
//
// The Connection Request's "Cookie: mstshash=" carries a user name; no
// verdict on it is ever visible in clear, so it is neither published nor
// kept.
package rdp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"unicode/utf16"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Protocol is the Observation protocol name.
const Protocol = "rdp"

// Limits.
const (
	// maxPDU is the largest TPKT the dissector waits for; the Connect
	// Initial is well under it.
	maxPDU = 16 << 10
	// maxPDUs stops the dissection after this many PDUs per direction.
	maxPDUs = 16
)

// Security protocol flags (MS-RDPBCGR 2.2.1.1.1).
const (
	protocolRDP = 0x00000000
)

// X.224 TPDU codes and RDP negotiation types.
const (
	x224ConnectionRequest = 0xe0
	x224ConnectionConfirm = 0xd0
	x224Data              = 0xf0

	negRequest  = 0x01
	negResponse = 0x02
	negFailure  = 0x03

	csCore = 0xc001
)

// ErrNotTPKT is returned when a direction sends something other than a
// TPKT during the clear-text connection phase.
var ErrNotTPKT = errors.New("rdp: not a TPKT")

// Dissector creates the state of RDP connections.
type Dissector struct{}

var _ dpi.StreamDissector = (*Dissector)(nil)

// New returns an RDP dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.StreamDissector.
func (*Dissector) Name() string { return "rdp" }

// Protocols implements dpi.StreamDissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoRDP} }

// NewStream implements dpi.StreamDissector. The identifying packet is the
// client's Connection Request.
func (*Dissector) NewStream(p *dpi.Packet) dpi.Stream {
	return &stream{clientOrig: p.FromOrig}
}

type stream struct {
	clientOrig bool
	pdus       [2]int  // 0 client, 1 server
	insecure   [2]bool // standard security published: client, server
	broken     [2]bool // a gap since the last data
}

// Data implements dpi.Stream.
func (s *stream) Data(p *dpi.Packet, data []byte, out *dpi.Output) (int, error) {
	fromClient := p.FromOrig == s.clientOrig
	d := 1
	if fromClient {
		d = 0
	}
	if s.broken[d] {
		// After a gap, go on only if the data starts with a TPKT.
		if len(data) < 2 || data[0] != 0x03 || data[1] != 0x00 {
			return len(data), dpi.ErrStreamDone
		}
		s.broken[d] = false
	}
	used := 0
	for {
		rest := data[used:]
		if len(rest) < 4 {
			return used, nil
		}
		if rest[0] != 0x03 || rest[1] != 0x00 {
			// Fast-path PDUs (standard security after the connection
			// phase) or garbage: the clear-text start is over.
			return used, ErrNotTPKT
		}
		n := int(binary.BigEndian.Uint16(rest[2:4]))
		if n < 7 {
			return used, ErrNotTPKT
		}
		if len(rest) < n {
			if n > maxPDU {
				return used + n, nil
			}
			return used, nil
		}
		used += n
		s.pdus[d]++
		done := s.pdu(p, fromClient, rest[4:n], out)
		if done || s.pdus[d] >= maxPDUs {
			return used, dpi.ErrStreamDone
		}
	}
}

// Gap implements dpi.Stream: the direction goes on only if its next data
// starts with a TPKT header.
func (s *stream) Gap(fromOrig bool) {
	if fromOrig == s.clientOrig {
		s.broken[0] = true
	} else {
		s.broken[1] = true
	}
}

// End implements dpi.Stream.
func (s *stream) End(*dpi.Output) {}

// pdu reads one X.224 TPDU and reports whether the dissection is over.
func (s *stream) pdu(p *dpi.Packet, fromClient bool, x []byte, out *dpi.Output) bool {
	li := int(x[0])
	if li+1 > len(x) || li < 2 {
		return true
	}
	switch code := x[1] & 0xf0; {
	case code == x224ConnectionRequest && fromClient && li >= 6:
		s.connectionRequest(p, x[7:li+1], out)
	case code == x224ConnectionConfirm && !fromClient && li >= 6:
		return s.connectionConfirm(p, x[7:li+1], out)
	case code == x224Data && fromClient:
		// The first data PDU in clear is the MCS Connect Initial: the
		// session uses standard RDP security.
		s.standardSecurity(p, true, "MCS Connect Initial in clear", out)
		s.connectInitial(p, x[li+1:], out)
		return true
	case code == x224Data:
		return true
	}
	return false
}

// connectionRequest reads the CR's variable part: an optional cookie or
// routing token ending in CRLF, then an optional RDP_NEG_REQ. Without
// one, the client offers standard RDP security only.
func (s *stream) connectionRequest(p *dpi.Packet, v []byte, out *dpi.Output) {
	if i := bytes.Index(v, []byte("\r\n")); i >= 0 {
		v = v[i+2:] // the cookie is a user name: skipped, never kept
	}
	requested := uint32(protocolRDP)
	if len(v) >= 8 && v[0] == negRequest && binary.LittleEndian.Uint16(v[2:4]) == 8 {
		requested = binary.LittleEndian.Uint32(v[4:8])
	}
	if requested == protocolRDP {
		s.observeInsecure(p, dpi.Sender, 0, "X.224 Connection Request offers only standard RDP security", out)
	}
}

// connectionConfirm reads the server's RDP_NEG_RSP (or its absence, from
// a server too old to negotiate) and reports whether the rest is
// encrypted by TLS or CredSSP, or the negotiation failed.
func (s *stream) connectionConfirm(p *dpi.Packet, v []byte, out *dpi.Output) bool {
	if len(v) >= 8 && binary.LittleEndian.Uint16(v[2:4]) == 8 {
		switch v[0] {
		case negResponse:
			if binary.LittleEndian.Uint32(v[4:8]) != protocolRDP {
				return true // TLS, CredSSP or RDSTLS: encrypted from here
			}
		case negFailure:
			return true
		}
	}
	s.standardSecurity(p, false, "X.224 Connection Confirm selected standard RDP security", out)
	return false
}

// standardSecurity publishes, once per end, that the session uses
// standard RDP security. p is from the client if fromClient.
func (s *stream) standardSecurity(p *dpi.Packet, fromClient bool, evidence string, out *dpi.Output) {
	client, server := dpi.Sender, dpi.Receiver
	if !fromClient {
		client, server = dpi.Receiver, dpi.Sender
	}
	s.observeInsecure(p, client, 0, evidence, out)
	s.observeInsecure(p, server, 1, evidence, out)
}

func (s *stream) observeInsecure(p *dpi.Packet, side dpi.Side, i int, evidence string, out *dpi.Output) {
	if s.insecure[i] {
		return
	}
	s.insecure[i] = true
	out.Observe(p, side, dpi.AttrInsecureProtocol, "rdp-standard-security", Protocol, 0.9, evidence)
}

// connectInitial finds the GCC Conference Create Request's user data
// (after the H.221 key "Duca", T.124) in an MCS Connect Initial and reads
// the client core data block (MS-RDPBCGR 2.2.1.3.2).
func (s *stream) connectInitial(p *dpi.Packet, mcs []byte, out *dpi.Output) {
	i := bytes.Index(mcs, []byte("Duca"))
	if i < 0 {
		return
	}
	b := mcs[i+4:]
	// PER length determinant.
	if len(b) < 1 {
		return
	}
	n := int(b[0])
	b = b[1:]
	if n&0x80 != 0 {
		if len(b) < 1 {
			return
		}
		n = (n&0x3f)<<8 | int(b[0])
		b = b[1:]
	}
	b = b[:min(n, len(b))]
	for range 16 {
		if len(b) < 4 {
			return
		}
		typ, l := binary.LittleEndian.Uint16(b[0:2]), int(binary.LittleEndian.Uint16(b[2:4]))
		if l < 4 {
			return
		}
		l = min(l, len(b)) // a block cut short: read what is there
		if typ == csCore {
			s.clientCore(p, b[:l], out)
			return
		}
		b = b[l:]
	}
}

// clientCore reads TS_UD_CS_CORE: header 0, version 4, desktop size 8,
// colour depth 12, SAS sequence 14, keyboard layout 16, clientBuild 20,
// clientName 24 (32 bytes of UTF-16LE).
func (s *stream) clientCore(p *dpi.Packet, b []byte, out *dpi.Output) {
	if len(b) < 24 {
		return
	}
	if build := binary.LittleEndian.Uint32(b[20:24]); build != 0 {
		out.Observe(p, dpi.Sender, dpi.AttrRDPClientBuild, strconv.FormatUint(uint64(build), 10), Protocol, 0.9, "MCS Connect Initial clientCoreData clientBuild")
	}
	if len(b) < 56 {
		return
	}
	if name := utf16z(b[24:56]); name != "" {
		out.Observe(p, dpi.Sender, dpi.AttrRDPClientName, name, Protocol, 0.9, "MCS Connect Initial clientCoreData clientName")
		out.Observe(p, dpi.Sender, dpi.AttrHostname, name, Protocol, 0.8, "MCS Connect Initial clientCoreData clientName")
	}
}

// utf16z decodes NUL-terminated UTF-16LE text into a bounded value.
func utf16z(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return dpi.Text([]byte(string(utf16.Decode(u))))
}
