package store

import (
	"strconv"
	"time"
	"unsafe"

	"github.com/vigil-health/vigil/events"
)

// The writer's fast path reads the JSON that Vigil's own publishers
// write (events' appendJSON: no escapes in identifiers, addresses and
// names, times in RFC 3339 with Z): envelopes of every kind, and the
// bodies the sensor sends most, flows and observations. Decoding with
// go-json was the writer's largest cost, 3 µs of the 11 µs of Go
// processor time per flow event end to end.
//
// It accepts only a narrow form and declines everything else, which then
// goes the general way (go-json) as before: a key it does not know or
// sees twice, a string with an escape, a control character or a byte
// outside ASCII, a null, an integer with a sign, a fraction, an exponent
// or a leading zero, a fraction with an exponent or more than 17 digits,
// a time not of the form 2006-01-02T15:04:05.999999999Z. Within that
// form its result is the general decoder's, which FuzzFastDecode checks
// on every input it accepts. Strings point into the payload (the NATS
// message's data, which the batch holds until its insert ended) instead
// of being copied.

// fastDecode turns the fast path on; tests turn it off to compare.
var fastDecode = true

// scan reads JSON from b at i; any problem sets fail, and every method
// returns zero values from then on.
type scan struct {
	b    []byte
	i    int
	fail bool
}

func (s *scan) ws() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return // the usual case: no whitespace
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte_ consumes c (after whitespace), or fails.
func (s *scan) byte_(c byte) {
	s.ws()
	if s.fail || s.i >= len(s.b) || s.b[s.i] != c {
		s.fail = true
		return
	}
	s.i++
}

// peek returns the next byte after whitespace, or 0.
func (s *scan) peek() byte {
	s.ws()
	if s.fail || s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// str reads a string of printable ASCII without escapes, as a string
// sharing the payload's bytes.
func (s *scan) str() string {
	s.byte_('"')
	if s.fail {
		return ""
	}
	b, start := s.b, s.i
	for i := start; i < len(b); i++ {
		c := b[i]
		if c == '"' {
			s.i = i + 1
			if i == start {
				return ""
			}
			return unsafe.String(&b[start], i-start)
		}
		if c < 0x20 || c == '\\' || c >= 0x80 {
			break
		}
	}
	s.fail = true
	return ""
}

// uint reads a non-negative integer of at most 19 digits without a
// leading zero, at most max.
func (s *scan) uint(max uint64) uint64 {
	s.ws()
	if s.fail {
		return 0
	}
	start := s.i
	var v uint64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		v = v*10 + uint64(s.b[s.i]-'0')
		s.i++
	}
	n := s.i - start
	switch {
	case n == 0 || n > 19 || n > 1 && s.b[start] == '0' || v > max:
		s.fail = true
		return 0
	case s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E'):
		s.fail = true
		return 0
	}
	return v
}

// time reads a time of the form 2006-01-02T15:04:05[.fraction]Z, with 1
// to 9 digits of fraction, as time.Parse(time.RFC3339) would.
func (s *scan) time() time.Time {
	v := s.str()
	if s.fail {
		return time.Time{}
	}
	t, ok := parseUTC(v)
	if !ok {
		s.fail = true
	}
	return t
}

func parseUTC(v string) (time.Time, bool) {
	if len(v) < 20 || v[len(v)-1] != 'Z' || v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':' {
		return time.Time{}, false
	}
	num := func(s string) (int, bool) {
		n := 0
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			n = n*10 + int(s[i]-'0')
		}
		return n, true
	}
	year, ok1 := num(v[0:4])
	month, ok2 := num(v[5:7])
	day, ok3 := num(v[8:10])
	hour, ok4 := num(v[11:13])
	minute, ok5 := num(v[14:16])
	sec, ok6 := num(v[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	nsec := 0
	switch frac := v[19 : len(v)-1]; {
	case frac == "":
	case frac[0] == '.' && len(frac) >= 2 && len(frac) <= 10:
		n, ok := num(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		nsec = n
	default:
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // 31 April and the like, which time.Parse refuses
		return time.Time{}, false
	}
	return t, true
}

// lastValue returns the text from here to the object's closing brace,
// which must be the last byte but whitespace: the value of an object's
// last key, without reading it. The caller has it decoded as a whole,
// which fails when the object had more keys after it (the text is then
// a value followed by a comma, never one JSON value).
func (s *scan) lastValue() []byte {
	s.ws()
	end := len(s.b)
	for end > s.i && isSpace(s.b[end-1]) {
		end--
	}
	if s.fail || end-s.i < 2 || s.b[end-1] != '}' {
		s.fail = true
		return nil
	}
	end--
	for end > s.i && isSpace(s.b[end-1]) {
		end--
	}
	v := s.b[s.i:end:end]
	s.i = len(s.b)
	return v
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// object reads an object, calling field for each key; field reads the
// value. A key seen twice fails (the general decoder's rules for that
// differ between types).
func (s *scan) object(field func(key string)) {
	s.byte_('{')
	if s.peek() == '}' {
		s.i++
		return
	}
	for !s.fail {
		key := s.str()
		s.byte_(':')
		if s.fail {
			return
		}
		field(key)
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return
		default:
			s.fail = true
		}
	}
}

// end checks that only whitespace follows.
func (s *scan) end() {
	s.ws()
	if s.i != len(s.b) {
		s.fail = true
	}
}

// seen records the keys of an object, to fail on a second one.
type seen uint32

func (k *seen) once(s *scan, bit uint) {
	if *k&(1<<bit) != 0 {
		s.fail = true
	}
	*k |= 1 << bit
}

// decodeEnvelopeFast is json.Unmarshal(payload, &env) for the fast form,
// in which the body is the last key; ok is false when payload is not of
// it. The body's text is taken as it stands: the caller decodes it, and
// goes the general way for the whole payload if that fails (see
// lastValue).
func decodeEnvelopeFast(payload []byte) (env envelope, ok bool) {
	s := scan{b: payload}
	var k seen
	s.byte_('{')
	for !s.fail {
		key := s.str()
		s.byte_(':')
		switch key {
		case "version":
			k.once(&s, 0)
			env.Version = s.str()
		case "kind":
			k.once(&s, 1)
			env.Kind = events.Kind(s.str())
		case "id":
			k.once(&s, 2)
			env.ID = s.str()
		case "time":
			k.once(&s, 3)
			env.Time = s.time()
		case "source":
			k.once(&s, 4)
			var ks seen
			s.object(func(key string) {
				switch key {
				case "component":
					ks.once(&s, 0)
					env.Source.Component = s.str()
				case "name":
					ks.once(&s, 1)
					env.Source.Name = s.str()
				case "site":
					ks.once(&s, 2)
					env.Source.Site = s.str()
				default:
					s.fail = true
				}
			})
		case "body":
			env.Body = s.lastValue()
			if s.fail || len(env.Body) == 0 || env.Body[0] != '{' {
				return envelope{}, false
			}
			return env, true
		default:
			s.fail = true
		}
		s.byte_(',')
	}
	return envelope{}, false
}

// decodeFlowFast is json.Unmarshal(body, f) for the fast form, into a
// zero f; ok is false when body is not of it, and f must then be zeroed
// again before another decoder fills it.
func decodeFlowFast(body []byte, f *events.Flow) (ok bool) {
	s := scan{b: body}
	var k seen
	endpoint := func(e *events.Endpoint) {
		var ke seen
		s.object(func(key string) {
			switch key {
			case "mac":
				ke.once(&s, 0)
				e.MAC = s.str()
			case "ip":
				ke.once(&s, 1)
				e.IP = s.str()
			case "port":
				ke.once(&s, 2)
				e.Port = uint16(s.uint(1<<16 - 1))
			default:
				s.fail = true
			}
		})
	}
	s.object(func(key string) {
		switch key {
		case "flow_id":
			k.once(&s, 0)
			f.FlowID = s.str()
		case "phase":
			k.once(&s, 1)
			f.Phase = events.FlowPhase(s.str())
		case "start":
			k.once(&s, 2)
			f.Start = s.time()
		case "last":
			k.once(&s, 3)
			f.Last = s.time()
		case "duration_ms":
			k.once(&s, 4)
			f.DurationMS = int64(s.uint(1<<63 - 1))
		case "transport":
			k.once(&s, 5)
			f.Transport = s.str()
		case "orig":
			k.once(&s, 6)
			endpoint(&f.Orig)
		case "resp":
			k.once(&s, 7)
			endpoint(&f.Resp)
		case "vlan":
			k.once(&s, 8)
			f.VLAN = uint16(s.uint(1<<16 - 1))
		case "inner_vlan":
			k.once(&s, 9)
			f.InnerVLAN = uint16(s.uint(1<<16 - 1))
		case "orig_packets":
			k.once(&s, 10)
			f.OrigPackets = s.uint(1<<64 - 1)
		case "resp_packets":
			k.once(&s, 11)
			f.RespPackets = s.uint(1<<64 - 1)
		case "orig_bytes":
			k.once(&s, 12)
			f.OrigBytes = s.uint(1<<64 - 1)
		case "resp_bytes":
			k.once(&s, 13)
			f.RespBytes = s.uint(1<<64 - 1)
		case "orig_payload":
			k.once(&s, 14)
			f.OrigPayload = s.uint(1<<64 - 1)
		case "resp_payload":
			k.once(&s, 15)
			f.RespPayload = s.uint(1<<64 - 1)
		case "state":
			k.once(&s, 16)
			f.State = s.str()
		case "history":
			k.once(&s, 17)
			f.History = s.str()
		case "app_proto":
			k.once(&s, 18)
			f.AppProto = s.str()
		case "app":
			k.once(&s, 19)
			f.App = map[string]uint64{}
			s.object(func(key string) {
				if _, dup := f.App[key]; dup {
					s.fail = true
				}
				f.App[key] = s.uint(1<<64 - 1)
			})
		default:
			s.fail = true
		}
	})
	s.end()
	return !s.fail
}

// float reads a number of the form -?digits[.digits] (no exponent, at
// most 17 significant digits, which a float64 holds exactly as typed
// up to rounding both decoders share), as strconv.ParseFloat does.
func (s *scan) float() float64 {
	s.ws()
	if s.fail {
		return 0
	}
	start, i := s.i, s.i
	if i < len(s.b) && s.b[i] == '-' {
		i++
	}
	intStart := i
	for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
		i++
	}
	digits := i - intStart
	if digits == 0 || digits > 1 && s.b[intStart] == '0' {
		s.fail = true
		return 0
	}
	if i < len(s.b) && s.b[i] == '.' {
		i++
		fracStart := i
		for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
			i++
		}
		if i == fracStart {
			s.fail = true
			return 0
		}
		digits += i - fracStart
	}
	if digits > 17 || i < len(s.b) && (s.b[i] == 'e' || s.b[i] == 'E') {
		s.fail = true
		return 0
	}
	v, err := strconv.ParseFloat(unsafe.String(&s.b[start], i-start), 64)
	if err != nil {
		s.fail = true
		return 0
	}
	s.i = i
	return v
}

// decodeObservationFast is json.Unmarshal(body, o) for the fast form,
// into a zero o, like decodeFlowFast.
func decodeObservationFast(body []byte, o *events.Observation) (ok bool) {
	s := scan{b: body}
	var k seen
	s.object(func(key string) {
		switch key {
		case "device":
			k.once(&s, 0)
			o.Device = s.str()
		case "mac":
			k.once(&s, 1)
			o.MAC = s.str()
		case "ip":
			k.once(&s, 2)
			o.IP = s.str()
		case "vlan":
			k.once(&s, 3)
			o.VLAN = uint16(s.uint(1<<16 - 1))
		case "attribute":
			k.once(&s, 4)
			o.Attribute = s.str()
		case "value":
			k.once(&s, 5)
			o.Value = s.str()
		case "protocol":
			k.once(&s, 6)
			o.Protocol = s.str()
		case "confidence":
			k.once(&s, 7)
			o.Confidence = s.float()
		case "evidence":
			k.once(&s, 8)
			o.Evidence = s.str()
		case "flow_id":
			k.once(&s, 9)
			o.FlowID = s.str()
		default:
			s.fail = true
		}
	})
	s.end()
	return !s.fail
}
