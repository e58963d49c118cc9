package panos

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// Response is the envelope of every PAN-OS XML API answer:
// <response status="success|error" code="..."> with a result or a msg.
type Response struct {
	XMLName xml.Name `xml:"response"`
	Status  string   `xml:"status,attr"`
	Code    string   `xml:"code,attr"`
	Result  Result   `xml:"result"`
	Msg     Msg      `xml:"msg"`
}

// Result holds what the commands Vigil sends answer: a key (keygen), the
// registered addresses (show object registered-ip), a message (errors).
type Result struct {
	Key     string         `xml:"key"`
	Entries []RegisteredIP `xml:"entry"`
	Count   string         `xml:"count"`
	Msg     Msg            `xml:"msg"`
	UID     *UIDResponse   `xml:"uid-response"`
}

// RegisteredIP is one address of the registered-ip table with its tags.
type RegisteredIP struct {
	IP   string      `xml:"ip,attr"`
	Tags []TagMember `xml:"tag>member"`
}

// TagMember is one tag; Timeout is in seconds when the firewall shows it.
type TagMember struct {
	Timeout string `xml:"timeout,attr"`
	Name    string `xml:",chardata"`
}

// Msg is a message: text, or lines of text, or lines holding the
// per-entry answer of a User-ID update.
type Msg struct {
	Text  string    `xml:",chardata"`
	Lines []MsgLine `xml:"line"`
}

// MsgLine is one line of a message.
type MsgLine struct {
	Text string       `xml:",chardata"`
	UID  *UIDResponse `xml:"uid-response"`
}

// UIDResponse is the answer to a uid-message: an entry per address the
// firewall had something to say about.
type UIDResponse struct {
	Register   []UIDEntry `xml:"payload>register>entry"`
	Unregister []UIDEntry `xml:"payload>unregister>entry"`
}

// UIDEntry is the firewall's message about one address of an update.
type UIDEntry struct {
	IP      string `xml:"ip,attr"`
	Message string `xml:"message,attr"`
}

// ParseResponse decodes a PAN-OS XML API response. It fails on anything
// that is not a <response> document.
func ParseResponse(b []byte) (*Response, error) {
	var r Response
	dec := xml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("not a PAN-OS XML API response: %w (%s)", err, snippet(b))
	}
	if r.Status != "success" && r.Status != "error" {
		return nil, fmt.Errorf("PAN-OS response status %q is neither success nor error (%s)", r.Status, snippet(b))
	}
	return &r, nil
}

// Messages returns every text the firewall put in the response, the
// per-entry User-ID messages included, in document order.
func (r *Response) Messages() []string {
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	uid := func(u *UIDResponse) {
		if u == nil {
			return
		}
		for _, e := range u.Register {
			add(e.IP + ": " + e.Message)
		}
		for _, e := range u.Unregister {
			add(e.IP + ": " + e.Message)
		}
	}
	for _, m := range []Msg{r.Msg, r.Result.Msg} {
		add(m.Text)
		for _, l := range m.Lines {
			add(l.Text)
			uid(l.UID)
		}
	}
	uid(r.Result.UID)
	return out
}

// UIDEntries returns the per-address answers of a User-ID update,
// wherever in the response the firewall put them.
func (r *Response) UIDEntries() []UIDEntry {
	var out []UIDEntry
	uid := func(u *UIDResponse) {
		if u != nil {
			out = append(out, u.Register...)
			out = append(out, u.Unregister...)
		}
	}
	for _, m := range []Msg{r.Msg, r.Result.Msg} {
		for _, l := range m.Lines {
			uid(l.UID)
		}
	}
	uid(r.Result.UID)
	return out
}

// ignorable are the suffixes of User-ID messages that mean "already the
// way you want it": registering a tag an address has, unregistering one
// it does not (the messages pan-os-python also treats as success).
var ignorable = []string{"already exists, ignore", "does not exist, ignore unreg"}

func isIgnorable(msg string) bool {
	for _, s := range ignorable {
		if strings.HasSuffix(strings.TrimSpace(msg), s) {
			return true
		}
	}
	return false
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// uidMessage builds a uid-message document updating tags. Addresses and
// tags are validated before they get here; they are escaped anyway.
type uidMessage struct {
	register, unregister []uidOp
}

type uidOp struct {
	ip      string
	tags    []string
	timeout int // seconds; -1 leaves the attribute out (unregister)
}

func (m uidMessage) String() string {
	var b strings.Builder
	b.WriteString("<uid-message><version>2.0</version><type>update</type><payload>")
	section := func(name string, ops []uidOp) {
		if len(ops) == 0 {
			return
		}
		b.WriteString("<" + name + ">")
		for _, op := range ops {
			b.WriteString(`<entry ip="`)
			xml.EscapeText(&b, []byte(op.ip))
			b.WriteString(`"><tag>`)
			for _, t := range op.tags {
				if op.timeout >= 0 {
					fmt.Fprintf(&b, `<member timeout="%d">`, op.timeout)
				} else {
					b.WriteString("<member>")
				}
				xml.EscapeText(&b, []byte(t))
				b.WriteString("</member>")
			}
			b.WriteString("</tag></entry>")
		}
		b.WriteString("</" + name + ">")
	}
	section("register", m.register)
	section("unregister", m.unregister)
	b.WriteString("</payload></uid-message>")
	return b.String()
}

// showRegistered is the op command listing the addresses carrying tag,
// one page at a time (PAN-OS 8.0 and later page with limit/start-point;
// start-point counts from 1).
func showRegistered(tag string, start, limit int) string {
	var b strings.Builder
	b.WriteString(`<show><object><registered-ip><tag><entry name="`)
	xml.EscapeText(&b, []byte(tag))
	fmt.Fprintf(&b, `"/></tag><limit>%d</limit><start-point>%d</start-point></registered-ip></object></show>`, limit, start)
	return b.String()
}
