package dpi

// ProtoTelnet is the application protocol name of Telnet (RFC 854).
const ProtoTelnet = "telnet"

// Telnet recognises Telnet on TCP port 23: a payload that opens with an
// IAC command (0xFF followed by a command byte, as option negotiation
// does) or with printable text (a server that skips negotiation and
// prints its banner). Telnet has no signature of its own, so the port
// gate is what keeps other text protocols out.
type Telnet struct{}

// Name implements Identifier.
func (Telnet) Name() string { return ProtoTelnet }

// Identify implements Identifier.
func (Telnet) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != TCP || !p.HasPort(23) || len(b) == 0 {
		return false
	}
	if b[0] == 0xff {
		return len(b) >= 2 && b[1] >= 0xf0
	}
	if len(b) > 32 {
		b = b[:32]
	}
	for _, c := range b {
		if (c < 0x20 || c > 0x7e) && c != '\r' && c != '\n' && c != '\t' && c != 0 && c != 0xff {
			return false
		}
	}
	return true
}
