package dpi

import "bytes"

// ProtoPOCT1A is the application protocol name of POCT1-A (CLSI POCT1-A2:
// point-of-care device messages in XML over TCP, usually to port 3001).
const ProtoPOCT1A = "poct1a"

// POCT1A recognises a POCT1-A message: an optional XML declaration
// followed by a root element named like a POCT1-A message ("HEL.R01",
// "ACK.R01", "OBS.R02": three capitals, ".R", two digits). A segment
// holding only an XML declaration (the root follows in the next segment)
// is accepted on port 3001 only.
type POCT1A struct{}

// Name implements Identifier.
func (POCT1A) Name() string { return ProtoPOCT1A }

var (
	xmlDecl    = []byte("<?xml")
	xmlDeclEnd = []byte("?>")
	utf8BOM    = []byte("\xef\xbb\xbf")
)

// Identify implements Identifier.
func (POCT1A) Identify(p *Packet) bool {
	if p.Transport != TCP {
		return false
	}
	b := bytes.TrimPrefix(p.Payload, utf8BOM)
	b = trimXMLSpace(b)
	if bytes.HasPrefix(b, xmlDecl) {
		i := bytes.Index(b, xmlDeclEnd)
		if i < 0 {
			return false
		}
		b = trimXMLSpace(b[i+len(xmlDeclEnd):])
		if len(b) == 0 {
			return p.HasPort(3001)
		}
	}
	return isPOCT1ARoot(b)
}

// isPOCT1ARoot tells whether b starts with the start tag of a POCT1-A
// message root element: "<" three capitals ".R" and two digits, then a
// space, "/" or ">".
func isPOCT1ARoot(b []byte) bool {
	if len(b) < 9 || b[0] != '<' || b[4] != '.' || b[5] != 'R' {
		return false
	}
	for _, c := range b[1:4] {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	if b[6] < '0' || b[6] > '9' || b[7] < '0' || b[7] > '9' {
		return false
	}
	switch b[8] {
	case '>', '/', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

func trimXMLSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	return b
}
