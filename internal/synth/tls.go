package synth

import "time"

// TLS 1.3 as a passive sensor sees it: a cleartext ClientHello (with the
// server name), a cleartext ServerHello, and opaque application-data
// records after that. The records are well formed; their encrypted
// contents are random bytes.

const (
	tlsHandshake        = 0x16
	tlsChangeCipherSpec = 0x14
	tlsApplicationData  = 0x17
)

// tlsRecord wraps body in a TLS record header of the given content type.
func tlsRecord(typ uint8, legacy uint16, body []byte) []byte {
	var b wbuf
	b.u8(typ)
	b.u16(legacy)
	b.len16(func() { b.raw(body) })
	return b
}

// clientHello returns a TLS 1.3 ClientHello record for server name sni
// with session id sid.
func (g *gen) clientHello(sni string, sid []byte) []byte {
	var h wbuf
	h.u8(1) // client_hello
	h.len24(func() {
		h.u16(0x0303)
		h.raw(g.random(32))
		h.u8(uint8(len(sid)))
		h.raw(sid)
		h.len16(func() {
			for _, cs := range []uint16{0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030} {
				h.u16(cs)
			}
		})
		h.u8(1) // compression methods
		h.u8(0)
		h.len16(func() {
			h.u16(0x0000) // server_name
			h.len16(func() {
				h.len16(func() {
					h.u8(0) // host_name
					h.len16(func() { h.str(sni) })
				})
			})
			h.u16(0x000a) // supported_groups
			h.len16(func() { h.len16(func() { h.u16(0x001d); h.u16(0x0017) }) })
			h.u16(0x000d) // signature_algorithms
			h.len16(func() {
				h.len16(func() {
					for _, s := range []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501} {
						h.u16(s)
					}
				})
			})
			h.u16(0x002b) // supported_versions
			h.len16(func() { h.u8(4); h.u16(0x0304); h.u16(0x0303) })
			h.u16(0x0033) // key_share
			h.len16(func() {
				h.len16(func() {
					h.u16(0x001d)
					h.len16(func() { h.raw(g.random(32)) })
				})
			})
		})
	})
	return tlsRecord(tlsHandshake, 0x0301, h)
}

// serverFlight returns what a TLS 1.3 server sends after a ClientHello: a
// ServerHello echoing sid, the compatibility ChangeCipherSpec, and one
// opaque record of certLen bytes standing for the encrypted extensions,
// certificate, verify and finished messages.
func (g *gen) serverFlight(sid []byte, certLen int) []byte {
	var h wbuf
	h.u8(2) // server_hello
	h.len24(func() {
		h.u16(0x0303)
		h.raw(g.random(32))
		h.u8(uint8(len(sid)))
		h.raw(sid)
		h.u16(0x1302) // TLS_AES_256_GCM_SHA384
		h.u8(0)
		h.len16(func() {
			h.u16(0x002b)
			h.len16(func() { h.u16(0x0304) })
			h.u16(0x0033)
			h.len16(func() {
				h.u16(0x001d)
				h.len16(func() { h.raw(g.random(32)) })
			})
		})
	})
	out := tlsRecord(tlsHandshake, 0x0303, h)
	out = append(out, tlsRecord(tlsChangeCipherSpec, 0x0303, []byte{1})...)
	return append(out, g.appData(certLen)...)
}

// appData returns one application-data record of n opaque bytes.
func (g *gen) appData(n int) []byte {
	return tlsRecord(tlsApplicationData, 0x0303, g.random(n))
}

// tlsSession runs one short HTTPS-like exchange on an open connection:
// handshake, one request of reqLen bytes, one response of respLen bytes,
// and a close_notify, leaving the connection open for the caller to close.
func (g *gen) tlsSession(c *tcpConn, sni string, reqLen, respLen int) {
	sid := g.random(32)
	c.send(true, g.clientHello(sni, sid))
	c.wait(g.between(500*time.Microsecond, 2*time.Millisecond)) // key exchange
	c.send(false, g.serverFlight(sid, 900+g.rng.IntN(400)))
	finished := tlsRecord(tlsChangeCipherSpec, 0x0303, []byte{1})
	finished = append(finished, g.appData(53)...) // client Finished
	finished = append(finished, g.appData(reqLen)...)
	c.send(true, finished)
	c.wait(g.between(time.Millisecond, 15*time.Millisecond)) // application
	c.send(false, g.appData(respLen))
	c.ack(true)
	c.send(true, g.appData(19)) // close_notify alert, encrypted
}
