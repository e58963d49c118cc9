package dpi

// ProtoSMB is the application protocol name of SMB (MS-CIFS, MS-SMB2)
// over TCP, on port 445 directly or 139 over a NetBIOS session.
const ProtoSMB = "smb"

// SMB recognises a NetBIOS session message (type 0, RFC 1002 4.3.6)
// carrying an SMB1 ("\xffSMB") or SMB2/3 ("\xfeSMB") header: eight bytes
// that do not occur by chance, so no port gate is needed (139 and 445 are
// the usual ports, but SMB also runs behind port forwards). The length
// must cover at least an SMB1 header.
type SMB struct{}

// Name implements Identifier.
func (SMB) Name() string { return ProtoSMB }

// Identify implements Identifier.
func (SMB) Identify(p *Packet) bool {
	b := p.Payload
	if p.Transport != TCP || len(b) < 8 || b[0] != 0 {
		return false
	}
	n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	return n >= 32 && (b[4] == 0xff || b[4] == 0xfe) && b[5] == 'S' && b[6] == 'M' && b[7] == 'B'
}
