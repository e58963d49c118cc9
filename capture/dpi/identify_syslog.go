package dpi

// ProtoSyslog is the application protocol name of syslog over UDP.
const ProtoSyslog = "syslog"

// Syslog recognises a syslog message (RFC 3164, RFC 5424) on UDP port
// 514: a "<PRI>" prefix of one to three digits without leading zero
// whose value is at most 191 (facility 23, severity 7).
type Syslog struct{}

// Name implements Identifier.
func (Syslog) Name() string { return ProtoSyslog }

// Identify implements Identifier.
func (Syslog) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != UDP || !p.HasPort(514) || len(b) < 4 || b[0] != '<' {
		return false
	}
	pri := 0
	for i := 1; i < len(b) && i <= 4; i++ {
		c := b[i]
		switch {
		case c == '>':
			return i > 1 && pri <= 191
		case c < '0' || c > '9', i == 4, i == 1 && c == '0' && b[2] != '>':
			return false
		}
		pri = pri*10 + int(c-'0')
	}
	return false
}
