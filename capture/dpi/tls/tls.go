// Package tls reads device facts from the clear-text part of TLS
// handshakes: the client's server name (SNI), highest offered version and
// JA4 fingerprint from the ClientHello, the negotiated version from the
// ServerHello (an obsolete one is an insecure-protocol finding about both
// ends), and the server's leaf certificate (subject, issuer, expiry,
// self-signed) from the Certificate message of TLS 1.2 and earlier, which
// TLS 1.3 encrypts.
//
// Records are reassembled across TCP segments and handshake messages
// across records, so a ClientHello split over several segments (large
// post-quantum key shares) is read whole. A direction is finished at its
// first ChangeCipherSpec or application data record: what follows is
// encrypted. The stream ends when both directions are.
package tls

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Protocol is the Observation protocol name.
const Protocol = "tls"

// Attributes this package adds to the dpi vocabulary.
const (
	// AttrServerName is a name the server is reached by: the SNI a client
	// sent to it. It is about the server, where dpi.AttrTLSSNI is about
	// the client that asked for the name.
	AttrServerName = "tls.server_name"
	// AttrCertNotAfter is the expiry of the server's leaf certificate,
	// RFC 3339 in UTC.
	AttrCertNotAfter = "tls.cert_not_after"
	// AttrCertSelfSigned is "true" when the server's leaf certificate is
	// signed by its own key, else "false".
	AttrCertSelfSigned = "tls.cert_self_signed"
)

// Record content types (RFC 8446 5.1).
const (
	recordChangeCipherSpec = 20
	recordAlert            = 21
	recordHandshake        = 22
	recordApplicationData  = 23
	recordHeartbeat        = 24
)

// Handshake message types (RFC 8446 4).
const (
	msgClientHello = 1
	msgServerHello = 2
	msgCertificate = 11
)

// Limits.
const (
	// maxRecord is the largest record length accepted: 2^14 plus the
	// expansion TLS 1.2 allows for compressed and encrypted records.
	maxRecord = 16384 + 2048
	// maxHandshake bounds a handshake message reassembled across records.
	// Certificate chains are the largest (a few KB to ~20 KB); a bigger
	// message ends the reading of its direction.
	maxHandshake = 64 << 10
	// maxCertificate bounds the DER of the leaf certificate handed to
	// crypto/x509.
	maxCertificate = 32 << 10
)

// Errors of malformed streams.
var (
	errNotTLS       = errors.New("tls: not a TLS record")
	errRecordLength = errors.New("tls: record too long")
	errMalformed    = errors.New("tls: malformed handshake message")
)

// Dissector creates the state of TLS connections.
type Dissector struct {
	// certs is shared by the streams of this dissector (one worker's).
	certs certCache
}

var _ dpi.StreamDissector = (*Dissector)(nil)

// New returns a TLS dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.StreamDissector.
func (*Dissector) Name() string { return "tls" }

// Protocols implements dpi.StreamDissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoTLS} }

// NewStream implements dpi.StreamDissector.
func (d *Dissector) NewStream(*dpi.Packet) dpi.Stream {
	return &stream{serverDir: -1, certs: &d.certs}
}

// direction is the state of one direction of a connection.
type direction struct {
	// hs holds the start of a handshake message that continues in the
	// next record (copied: data passed to Data is not ours to keep).
	hs []byte
	// done is set once the rest of the direction is encrypted or lost.
	done bool
}

type stream struct {
	certs *certCache
	dir   [2]direction
	// serverDir is the direction (0 originator, 1 responder) that sent the
	// ServerHello, -1 before it.
	serverDir   int
	clientHello bool
	serverHello bool
	// version is the negotiated version, 0 before the ServerHello.
	version  uint16
	certRead bool
}

func dirOf(p *dpi.Packet) int {
	if p.FromOrig {
		return 0
	}
	return 1
}

// Data implements dpi.Stream: it reads whole records, leaving a partial
// one for the next call.
func (s *stream) Data(p *dpi.Packet, data []byte, out *dpi.Output) (int, error) {
	d := &s.dir[dirOf(p)]
	if s.dir[0].done && s.dir[1].done {
		return len(data), dpi.ErrStreamDone
	}
	if d.done {
		return len(data), nil
	}
	n := 0
	for !d.done && len(data)-n >= 5 {
		rec := data[n:]
		typ := rec[0]
		if typ < recordChangeCipherSpec || typ > recordHeartbeat || rec[1] != 3 {
			return n, errNotTLS
		}
		length := int(binary.BigEndian.Uint16(rec[3:5]))
		if length > maxRecord {
			return n, errRecordLength
		}
		if len(rec) < 5+length {
			break // the rest of the record is in the next segments
		}
		n += 5 + length
		switch typ {
		case recordChangeCipherSpec, recordApplicationData:
			d.done = true
		case recordHandshake:
			if err := s.handshake(p, d, rec[5:5+length], out); err != nil {
				return n, err
			}
		}
	}
	if s.dir[0].done && s.dir[1].done {
		return len(data), dpi.ErrStreamDone
	}
	if d.done {
		return len(data), nil
	}
	return n, nil
}

// Gap implements dpi.Stream: record boundaries are lost, so the direction
// is finished (TLS has no marker to resynchronise on).
func (s *stream) Gap(fromOrig bool) {
	d := 1
	if fromOrig {
		d = 0
	}
	s.dir[d].done = true
	s.dir[d].hs = nil
}

// End implements dpi.Stream.
func (*stream) End(*dpi.Output) {}

// handshake reads the handshake messages of one record's fragment,
// joined to the start of a message left by the previous record.
func (s *stream) handshake(p *dpi.Packet, d *direction, frag []byte, out *dpi.Output) error {
	buf := frag
	if len(d.hs) > 0 {
		d.hs = append(d.hs, frag...)
		buf = d.hs
	}
	for len(buf) >= 4 && !d.done {
		typ := buf[0]
		length := int(buf[1])<<16 | int(buf[2])<<8 | int(buf[3])
		if length > maxHandshake {
			d.done = true
			break
		}
		if len(buf) < 4+length {
			break
		}
		if err := s.message(p, d, typ, buf[4:4+length], out); err != nil {
			return err
		}
		buf = buf[4+length:]
	}
	if d.done || len(buf) == 0 {
		d.hs = d.hs[:0]
		return nil
	}
	// Keep the partial message (append copies; it may overlap d.hs).
	d.hs = append(d.hs[:0], buf...)
	return nil
}

func (s *stream) message(p *dpi.Packet, d *direction, typ byte, msg []byte, out *dpi.Output) error {
	switch typ {
	case msgClientHello:
		if s.clientHello {
			return nil // a second hello after a HelloRetryRequest says nothing new
		}
		s.clientHello = true
		var ch clientHello
		if !ch.parse(msg) {
			return fmt.Errorf("%w: ClientHello", errMalformed)
		}
		s.observeClientHello(p, &ch, out)
	case msgServerHello:
		if s.serverHello {
			return nil
		}
		version, retry, ok := parseServerHello(msg)
		if !ok {
			return fmt.Errorf("%w: ServerHello", errMalformed)
		}
		if retry {
			return nil // a HelloRetryRequest: the real ServerHello follows
		}
		s.serverHello, s.version, s.serverDir = true, version, dirOf(p)
		s.observeServerHello(p, version, out)
		if version >= 0x0304 {
			d.done = true // the rest of the server's handshake is encrypted
		}
	case msgCertificate:
		// Only the server's certificate: a client certificate names a
		// person or a device account, and only the server side is asked
		// for here.
		if s.certRead || s.version >= 0x0304 || s.serverDir >= 0 && s.serverDir != dirOf(p) || s.serverDir < 0 && p.FromOrig {
			return nil
		}
		s.certRead = true
		der, ok := leafCertificate(msg)
		if !ok {
			return fmt.Errorf("%w: Certificate", errMalformed)
		}
		observeCertificate(p, der, out, s.certs)
	}
	return nil
}

func (s *stream) observeClientHello(p *dpi.Packet, ch *clientHello, out *dpi.Output) {
	if sni := dpi.Text(ch.sni); sni != "" {
		out.Observe(p, dpi.Sender, dpi.AttrTLSSNI, sni, Protocol, 1.0, "ClientHello server_name extension")
		out.Observe(p, dpi.Receiver, AttrServerName, sni, Protocol, 0.7, "server_name a client asked this server for (ClientHello)")
	}
	if v := versionName(ch.highestVersion()); v != "" {
		evidence := "ClientHello supported_versions extension (highest offered)"
		if !ch.hasVersions {
			evidence = "ClientHello legacy_version"
		}
		out.Observe(p, dpi.Sender, dpi.AttrTLSVersion, v, Protocol, 0.8, evidence)
	}
	out.Observe(p, dpi.Sender, dpi.AttrTLSJA4, ch.ja4(), Protocol, 0.9, "ClientHello (JA4 fingerprint)")
}

func (s *stream) observeServerHello(p *dpi.Packet, version uint16, out *dpi.Output) {
	name := versionName(version)
	if name == "" {
		return
	}
	out.Observe(p, dpi.Sender, dpi.AttrTLSVersion, name, Protocol, 0.9, "ServerHello negotiated version")
	if insecure := insecureName(version); insecure != "" {
		out.Observe(p, dpi.Sender, dpi.AttrInsecureProtocol, insecure, Protocol, 0.9, "ServerHello negotiated "+insecure)
		out.Observe(p, dpi.Receiver, dpi.AttrInsecureProtocol, insecure, Protocol, 0.9, "ServerHello negotiated "+insecure)
	}
}

// versionName names a protocol version as the inventory shows it.
func versionName(v uint16) string {
	switch v {
	case 0x0304:
		return "1.3"
	case 0x0303:
		return "1.2"
	case 0x0302:
		return "1.1"
	case 0x0301:
		return "1.0"
	case 0x0300:
		return "ssl3"
	}
	return ""
}

// insecureName names a negotiated version below TLS 1.2 (RFC 8996
// deprecates TLS 1.0 and 1.1; RFC 7568 SSL 3.0).
func insecureName(v uint16) string {
	switch v {
	case 0x0302:
		return "tls1.1"
	case 0x0301:
		return "tls1.0"
	case 0x0300:
		return "ssl3"
	}
	return ""
}

// parseServerHello returns the negotiated version of a ServerHello
// (supported_versions when present, RFC 8446 4.2.1) and whether it is a
// HelloRetryRequest.
func parseServerHello(msg []byte) (version uint16, retry, ok bool) {
	r := reader(msg)
	legacy, ok1 := r.u16()
	random, ok2 := r.bytes(32)
	_, ok3 := r.vec8()
	_, ok4 := r.u16() // cipher suite
	_, ok5 := r.u8()  // compression method
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return 0, false, false
	}
	version = legacy
	retry = string(random) == helloRetryRandom
	if len(r) == 0 {
		return version, retry, true // no extensions (TLS 1.0 era)
	}
	exts, ok := r.vec16()
	if !ok {
		return 0, false, false
	}
	for len(exts) > 0 {
		typ, ok1 := exts.u16()
		body, ok2 := exts.vec16()
		if !ok1 || !ok2 {
			return 0, false, false
		}
		if typ == extSupportedVersions && len(body) == 2 {
			version = binary.BigEndian.Uint16(body)
		}
	}
	return version, retry, true
}

// helloRetryRandom is the Random of a HelloRetryRequest (RFC 8446 4.1.3).
const helloRetryRandom = "\xcf\x21\xad\x74\xe5\x9a\x61\x11\xbe\x1d\x8c\x02\x1e\x65\xb8\x91" +
	"\xc2\xa2\x11\x16\x7a\xbb\x8c\x5e\x07\x9e\x09\xe2\xc8\xa8\x33\x9c"

// leafCertificate returns the DER of the first certificate of a
// Certificate message (RFC 5246 7.4.2: a 24-bit list of 24-bit vectors).
func leafCertificate(msg []byte) ([]byte, bool) {
	r := reader(msg)
	list, ok := r.vec24()
	if !ok {
		return nil, false
	}
	if len(list) == 0 {
		return nil, true // an empty chain (anonymous or a client without one)
	}
	return list.vec24()
}
