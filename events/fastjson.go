package events

import (
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendBody appends the JSON of the bodies the sensor produces per
// packet (flows, observations) with their hand-written encoders, whose
// output is, byte for byte, what encoding/json gives (TestFastJSON checks
// it on random values), at a fraction of the cost of reflection. It
// reports false for other bodies. A type switch rather than an interface
// method: the body is not boxed on the heap.
func appendBody(b []byte, body any) ([]byte, bool) {
	switch v := body.(type) {
	case Flow:
		return v.appendJSON(b), true
	case Observation:
		return v.appendJSON(b), true
	case Health:
		if v.Pipeline != nil {
			// A pipeline process's report (one per process and health
			// interval, off the sensor's path): encoding/json.
			return b, false
		}
		return v.appendJSON(b), true
	}
	return b, false
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

// appendJSON encodes a sensor's report; appendBody leaves a report with
// Pipeline to encoding/json.
func (h Health) appendJSON(b []byte) []byte {
	b = append(b, `{"sensor":`...)
	b = appendString(b, h.Sensor)
	b = append(b, `,"interface":`...)
	b = appendString(b, h.Interface)
	b = append(b, `,"interval_ms":`...)
	b = strconv.AppendInt(b, h.IntervalMS, 10)
	for _, n := range [...]struct {
		name string
		v    uint64
	}{{`,"packets":`, h.Packets}, {`,"bytes":`, h.Bytes}, {`,"kernel_drops":`, h.KernelDrops},
		{`,"decode_errors":`, h.DecodeErrors}, {`,"truncated":`, h.Truncated}, {`,"active_flows":`, h.ActiveFlows},
		{`,"flow_evictions":`, h.FlowEvictions}, {`,"publish_errors":`, h.PublishErrors}} {
		b = append(b, n.name...)
		b = strconv.AppendUint(b, n.v, 10)
	}
	b = append(b, `,"silent":`...)
	b = strconv.AppendBool(b, h.Silent)
	if h.SilentAfterMS != 0 {
		b = append(b, `,"silent_after_ms":`...)
		b = strconv.AppendInt(b, h.SilentAfterMS, 10)
	}
	if h.Final {
		b = append(b, `,"final":true`...)
	}
	return append(b, '}')
}

// appendTime writes t as encoding/json does (RFC 3339 with nanoseconds).
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	if t.Location() == time.UTC {
		if out, ok := appendUTC(b, t); ok {
			return append(out, '"')
		}
	}
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendUTC is t.AppendFormat(b, time.RFC3339Nano) for a UTC time of
// the years 0 to 9999, from the Unix time with the civil-from-days
// algorithm (Howard Hinnant's): the general formatter was a twentieth of
// the sensor's encoding time, three times per flow event. It reports
// false for other years. TestAppendUTC holds it to AppendFormat.
func appendUTC(b []byte, t time.Time) ([]byte, bool) {
	sec := t.Unix()
	days := sec / 86400
	rem := sec % 86400
	if rem < 0 {
		days, rem = days-1, rem+86400
	}
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	year := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	month := mp + 3
	if mp >= 10 {
		month = mp - 9
	}
	if month <= 2 {
		year++
	}
	if year < 0 || year > 9999 {
		return b, false
	}
	var x [30]byte
	two := func(i int, v int64) { x[i], x[i+1] = digits2[2*v], digits2[2*v+1] }
	two(0, year/100)
	two(2, year%100)
	x[4] = '-'
	two(5, month)
	x[7] = '-'
	two(8, day)
	x[10] = 'T'
	two(11, rem/3600)
	x[13] = ':'
	two(14, rem/60%60)
	x[16] = ':'
	two(17, rem%60)
	n := 19
	if ns := int64(t.Nanosecond()); ns != 0 {
		x[19] = '.'
		two(20, ns/10000000)
		two(22, ns/100000%100)
		two(24, ns/1000%100)
		two(26, ns/10%100)
		x[28] = byte('0' + ns%10)
		n = 29
		for x[n-1] == '0' {
			n--
		}
	}
	b = append(b, x[:n]...)
	return append(b, 'Z'), true
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

// digits2 holds "00" to "99".
const digits2 = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// jsonPlain marks the ASCII bytes a JSON string holds as they are: one
// table lookup per byte instead of six comparisons (strings are most of
// what the sensor encodes).
var jsonPlain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString writes s as a JSON string exactly as encoding/json does with
// HTML escaping (its default): <, > and & as \u003c..., control characters
// as short or \u00XX escapes, invalid UTF-8 as \ufffd, U+2028 and U+2029
// escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf && jsonPlain[s[i]] {
		i++
	}
	if i == len(s) { // the common case: nothing to escape
		b = append(b, s...)
		return append(b, '"')
	}
	start := 0
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonPlain[c] {
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
