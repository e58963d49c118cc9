package output

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/events"
)

// CEF is one ArcSight Common Event Format event:
// CEF:Version|Device Vendor|Device Product|Device Version|Device Event Class ID|Name|Severity|Extension
type CEF struct {
	Version       int
	Vendor        string
	Product       string
	DeviceVersion string
	// SignatureID is the Device Event Class ID: the policy rule.
	SignatureID string
	Name        string
	// Severity is 0 (lowest) to 10.
	Severity  int
	Extension []KV
}

// KV is one extension field, in the order written.
type KV struct{ Key, Value string }

// CEFSeverity maps Vigil severities to CEF's 0-10: info 1, low 3,
// medium 5, high 8, critical 10 (CEF reads 0-3 as Low, 4-6 Medium, 7-8
// High, 9-10 Very-High).
func CEFSeverity(s events.Severity) int {
	switch s {
	case events.SeverityLow:
		return 3
	case events.SeverityMedium:
		return 5
	case events.SeverityHigh:
		return 8
	case events.SeverityCritical:
		return 10
	}
	return 1
}

// String formats the event, escaping as CEF requires: in the header a
// backslash and a pipe are escaped with a backslash, and line breaks
// (which a header cannot hold) become spaces; invalid UTF-8 becomes
// U+FFFD; in extension values a
// backslash and an equals sign are escaped, and line breaks are written
// \n and \r.
func (c CEF) String() string {
	var b strings.Builder
	b.WriteString("CEF:")
	b.WriteString(strconv.Itoa(c.Version))
	for _, f := range []string{c.Vendor, c.Product, c.DeviceVersion, c.SignatureID, c.Name} {
		b.WriteByte('|')
		escapeHeader(&b, f)
	}
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(c.Severity))
	b.WriteByte('|')
	for i, kv := range c.Extension {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(kv.Key)
		b.WriteByte('=')
		escapeExtension(&b, kv.Value)
	}
	return b.String()
}

// CEF is UTF-8: a run of invalid bytes becomes one U+FFFD.
func escapeHeader(b *strings.Builder, s string) {
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch r {
		case '\\', '|':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n', '\r':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
}

func escapeExtension(b *strings.Builder, s string) {
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch r {
		case '\\', '=':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteRune(r)
		}
	}
}

// validKey reports whether k can be an extension key (letters, digits and
// underscore, as the CEF dictionary's keys are).
func validKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// ParseCEF reads a CEF event (a syslog message's payload), undoing the
// escapes String writes. Receivers of Vigil's syslog use it in tests; it
// accepts any CEF a conforming producer writes.
func ParseCEF(s string) (CEF, error) {
	rest, ok := strings.CutPrefix(s, "CEF:")
	if !ok {
		return CEF{}, errors.New("cef: does not start with CEF:")
	}
	var fields []string
	var cur strings.Builder
	i := 0
	for i < len(rest) && len(fields) < 7 {
		ch := rest[i]
		switch {
		case ch == '\\' && i+1 < len(rest) && (rest[i+1] == '\\' || rest[i+1] == '|'):
			cur.WriteByte(rest[i+1])
			i += 2
		case ch == '|':
			fields = append(fields, cur.String())
			cur.Reset()
			i++
		default:
			cur.WriteByte(ch)
			i++
		}
	}
	if len(fields) < 7 {
		return CEF{}, fmt.Errorf("cef: header has %d of 7 fields", len(fields))
	}
	var c CEF
	var err error
	if c.Version, err = strconv.Atoi(fields[0]); err != nil {
		return CEF{}, fmt.Errorf("cef: version %q is not a number", fields[0])
	}
	c.Vendor, c.Product, c.DeviceVersion, c.SignatureID, c.Name = fields[1], fields[2], fields[3], fields[4], fields[5]
	if c.Severity, err = strconv.Atoi(fields[6]); err != nil || c.Severity < 0 || c.Severity > 10 {
		return CEF{}, fmt.Errorf("cef: severity %q is not 0-10", fields[6])
	}
	c.Extension, err = parseExtension(rest[i:])
	if err != nil {
		return CEF{}, err
	}
	return c, nil
}

// parseExtension splits "k1=v1 k2=v2 ..." where values may hold spaces: an
// unescaped '=' ends a key, and the key is the word before it.
func parseExtension(s string) ([]KV, error) {
	if s == "" {
		return nil, nil
	}
	// Positions of unescaped '='.
	var eqs []int
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '=':
			eqs = append(eqs, i)
		}
	}
	if len(eqs) == 0 {
		return nil, fmt.Errorf("cef: extension %q has no key=value", truncate(s, 40))
	}
	var out []KV
	keyStart := 0
	for n, eq := range eqs {
		key := s[keyStart:eq]
		if !validKey(key) {
			return nil, fmt.Errorf("cef: extension key %q is not a key", truncate(key, 40))
		}
		valEnd := len(s)
		nextKey := len(s)
		if n+1 < len(eqs) {
			sp := strings.LastIndexByte(s[eq+1:eqs[n+1]], ' ')
			if sp < 0 {
				return nil, fmt.Errorf("cef: extension key %q is not preceded by a space", truncate(s[eq+1:eqs[n+1]], 40))
			}
			valEnd, nextKey = eq+1+sp, eq+1+sp+1
		}
		v, err := unescapeExtension(s[eq+1 : valEnd])
		if err != nil {
			return nil, err
		}
		out = append(out, KV{key, v})
		keyStart = nextKey
	}
	return out, nil
}

func unescapeExtension(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", errors.New("cef: extension value ends with a lone backslash")
		}
		i++
		switch s[i] {
		case '\\', '=':
			b.WriteByte(s[i])
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			// Producers escape other characters (a pipe) needlessly;
			// the character stands for itself.
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Product names Vigil in the outputs.
type Product struct {
	Vendor, Name, Version string
}

// RecordCEF maps a SOC record to CEF (docs/alerts.md has the table). A
// lifecycle record has the signature ID incident_<action>, the incident's
// severity, and the action, actor and note in act, suser and reason.
func RecordCEF(rec alerts.Record, p Product) CEF {
	a := rec.Alert.Body
	c := CEF{
		Vendor: p.Vendor, Product: p.Name, DeviceVersion: p.Version,
		SignatureID: a.Rule, Name: a.Title, Severity: CEFSeverity(a.Severity),
	}
	add := func(k, v string) {
		if v != "" {
			c.Extension = append(c.Extension, KV{k, v})
		}
	}
	at, id := rec.Alert.Time, rec.Alert.ID
	if t := rec.Transition; t != nil {
		c.SignatureID = "incident_" + string(t.Action)
		c.Name = fmt.Sprintf("Incident %s -> %s: %s", t.From, t.To, a.Title)
		c.Severity = CEFSeverity(rec.Incident.Severity)
		at, id = t.Time, t.EventID
	}
	add("rt", strconv.FormatInt(at.UnixMilli(), 10))
	add("cat", a.Device.Category)
	if len(a.Device.IPs) > 0 {
		add("src", a.Device.IPs[0])
	}
	add("smac", a.Device.MAC)
	add("shost", a.Device.Attributes["hostname"])
	if a.Peer != nil {
		add("dst", a.Peer.IP)
		add("dmac", a.Peer.MAC)
		if a.Peer.Port != 0 {
			add("dpt", strconv.Itoa(int(a.Peer.Port)))
		}
	}
	add("msg", a.Description)
	add("externalId", id)
	if t := rec.Transition; t != nil {
		add("act", string(t.Action))
		add("suser", t.Actor)
		add("reason", t.Note)
	}
	add("deviceExternalId", a.Device.ID)
	add("cs1Label", "incident")
	add("cs1", rec.Incident.ID)
	add("cs2Label", "deviceKey")
	add("cs2", a.Device.Key)
	if len(a.Tags) > 0 {
		add("cs3Label", "tags")
		add("cs3", strings.Join(a.Tags, ","))
	}
	if len(rec.Incident.MITRE) > 0 {
		add("cs4Label", "mitreTechniques")
		add("cs4", strings.Join(rec.Incident.MITRE, ","))
	}
	if a.Device.Criticality != "" {
		add("cs5Label", "criticality")
		add("cs5", a.Device.Criticality)
	}
	add("cs6Label", "policyRevision")
	add("cs6", a.PolicyRevision)
	add("cn1Label", "incidentCount")
	add("cn1", strconv.FormatUint(rec.Incident.Count, 10))
	add("outcome", string(rec.Incident.State))
	return c
}
