package events

import (
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// jsonAppender is implemented by the bodies the sensor produces per
// packet (flows, observations): a hand-written encoder whose output is,
// byte for byte, what encoding/json gives (TestFastJSON checks it on
// random values), at a fraction of the cost of reflection.
type jsonAppender interface {
	appendJSON(b []byte) []byte
}

func (f Flow) appendJSON(b []byte) []byte {
	b = append(b, `{"flow_id":`...)
	b = appendString(b, f.FlowID)
	b = append(b, `,"phase":`...)
	b = appendString(b, string(f.Phase))
	b = append(b, `,"start":`...)
	b = appendTime(b, f.Start)
	b = append(b, `,"last":`...)
	b = appendTime(b, f.Last)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendInt(b, f.DurationMS, 10)
	b = append(b, `,"transport":`...)
	b = appendString(b, f.Transport)
	b = append(b, `,"orig":`...)
	b = f.Orig.appendJSON(b)
	b = append(b, `,"resp":`...)
	b = f.Resp.appendJSON(b)
	if f.VLAN != 0 {
		b = append(b, `,"vlan":`...)
		b = strconv.AppendUint(b, uint64(f.VLAN), 10)
	}
	if f.InnerVLAN != 0 {
		b = append(b, `,"inner_vlan":`...)
		b = strconv.AppendUint(b, uint64(f.InnerVLAN), 10)
	}
	for _, n := range [...]struct {
		name string
		v    uint64
	}{{`,"orig_packets":`, f.OrigPackets}, {`,"resp_packets":`, f.RespPackets}, {`,"orig_bytes":`, f.OrigBytes},
		{`,"resp_bytes":`, f.RespBytes}, {`,"orig_payload":`, f.OrigPayload}, {`,"resp_payload":`, f.RespPayload}} {
		b = append(b, n.name...)
		b = strconv.AppendUint(b, n.v, 10)
	}
	for _, s := range [...]struct{ name, v string }{{`,"state":`, f.State}, {`,"history":`, f.History}, {`,"app_proto":`, f.AppProto}} {
		if s.v != "" {
			b = append(b, s.name...)
			b = appendString(b, s.v)
		}
	}
	if len(f.App) > 0 {
		b = append(b, `,"app":{`...)
		keys := make([]string, 0, len(f.App))
		for k := range f.App {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = strconv.AppendUint(b, f.App[k], 10)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func (e Endpoint) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if e.MAC != "" {
		b = append(b, `"mac":`...)
		b = appendString(b, e.MAC)
		b = append(b, ',')
	}
	b = append(b, `"ip":`...)
	b = appendString(b, e.IP)
	if e.Port != 0 {
		b = append(b, `,"port":`...)
		b = strconv.AppendUint(b, uint64(e.Port), 10)
	}
	return append(b, '}')
}

func (o Observation) appendJSON(b []byte) []byte {
	b = append(b, `{"device":`...)
	b = appendString(b, o.Device)
	if o.MAC != "" {
		b = append(b, `,"mac":`...)
		b = appendString(b, o.MAC)
	}
	if o.IP != "" {
		b = append(b, `,"ip":`...)
		b = appendString(b, o.IP)
	}
	if o.VLAN != 0 {
		b = append(b, `,"vlan":`...)
		b = strconv.AppendUint(b, uint64(o.VLAN), 10)
	}
	b = append(b, `,"attribute":`...)
	b = appendString(b, o.Attribute)
	b = append(b, `,"value":`...)
	b = appendString(b, o.Value)
	b = append(b, `,"protocol":`...)
	b = appendString(b, o.Protocol)
	b = append(b, `,"confidence":`...)
	b = appendFloat(b, o.Confidence)
	b = append(b, `,"evidence":`...)
	b = appendString(b, o.Evidence)
	if o.FlowID != "" {
		b = append(b, `,"flow_id":`...)
		b = appendString(b, o.FlowID)
	}
	return append(b, '}')
}

// appendTime writes t as encoding/json does (RFC 3339 with nanoseconds).
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendFloat writes f as encoding/json does for a float64.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string exactly as encoding/json does with
// HTML escaping (its default): <, > and & as \u003c..., control characters
// as short or \u00XX escapes, invalid UTF-8 as \ufffd, U+2028 and U+2029
// escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSON writes the header's fields as encoding/json does, without
// the closing brace, so that Encode can add the body.
func (h Header) appendOpenJSON(b []byte) []byte {
	b = append(b, `{"version":`...)
	b = appendString(b, h.Version)
	b = append(b, `,"kind":`...)
	b = appendString(b, string(h.Kind))
	b = append(b, `,"id":`...)
	b = appendString(b, h.ID)
	b = append(b, `,"time":`...)
	b = appendTime(b, h.Time)
	b = append(b, `,"source":{"component":`...)
	b = appendString(b, h.Source.Component)
	if h.Source.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, h.Source.Name)
	}
	if h.Source.Site != "" {
		b = append(b, `,"site":`...)
		b = appendString(b, h.Source.Site)
	}
	return append(b, '}')
}
