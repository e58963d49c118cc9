package dpi

// ProtoFTP is the application protocol name of the FTP control
// connection (RFC 959).
const ProtoFTP = "ftp"

// FTP recognises an FTP control connection from the server's "220"
// greeting or from a client's USER command.
//
// SMTP greets with "220" too, so a greeting counts on port 21 or when
// its first line names FTP and not SMTP. A USER line counts when it has
// exactly one argument (IRC's USER has four) and is not on POP3's port
// 110, which shares the command.
type FTP struct{}

// Name implements Identifier.
func (FTP) Name() string { return ProtoFTP }

// Identify implements Identifier.
func (FTP) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != TCP || len(b) < 5 {
		return false
	}
	if b[0] == '2' && b[1] == '2' && b[2] == '0' && (b[3] == ' ' || b[3] == '-') {
		line := ftpFirstLine(b[4:])
		if p.HasPort(21) {
			return true
		}
		return ftpContainsFold(line, "ftp") && !ftpContainsFold(line, "smtp")
	}
	if (b[0] == 'U' || b[0] == 'u') && (b[1] == 'S' || b[1] == 's') && (b[2] == 'E' || b[2] == 'e') &&
		(b[3] == 'R' || b[3] == 'r') && b[4] == ' ' && !p.HasPort(110) {
		return ftpOneArgLine(b[5:])
	}
	return false
}

// ftpFirstLine returns b up to its first CR or LF.
func ftpFirstLine(b []byte) []byte {
	for i, c := range b {
		if c == '\r' || c == '\n' {
			return b[:i]
		}
	}
	return b
}

// ftpOneArgLine reports whether b is one printable word ended by CRLF or LF.
func ftpOneArgLine(b []byte) bool {
	n := 0
	for i, c := range b {
		switch {
		case c == '\r' && i+1 < len(b) && b[i+1] == '\n', c == '\n':
			return n > 0
		case c <= ' ' || c >= 0x7f:
			return false
		}
		n++
	}
	return false
}

// ftpContainsFold reports whether b contains the lower-case ASCII word w,
// ignoring case, without allocating.
func ftpContainsFold(b []byte, w string) bool {
	for i := 0; i+len(w) <= len(b); i++ {
		j := 0
		for ; j < len(w); j++ {
			c := b[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != w[j] {
				break
			}
		}
		if j == len(w) {
			return true
		}
	}
	return false
}
