package output

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/events"
)

// parsed5424 is a message as a strict RFC 5424 parser reads it.
type parsed5424 struct {
	Pri                                   int
	Timestamp                             time.Time
	Hostname, AppName, ProcID, MsgID, Msg string
	SD                                    []SDElement
}

// parse5424 reads one message by the ABNF of RFC 5424 section 6, refusing
// anything it does not allow.
func parse5424(s string) (parsed5424, error) {
	var p parsed5424
	if !strings.HasPrefix(s, "<") {
		return p, errors.New("no PRI")
	}
	end := strings.IndexByte(s, '>')
	if end < 2 || end > 4 {
		return p, errors.New("PRI is not 1-3 digits")
	}
	pri, err := strconv.Atoi(s[1:end])
	if err != nil || pri > 191 || (len(s[1:end]) > 1 && s[1] == '0') {
		return p, fmt.Errorf("PRI %q", s[1:end])
	}
	p.Pri = pri
	rest, ok := strings.CutPrefix(s[end+1:], "1 ")
	if !ok {
		return p, errors.New("VERSION is not 1")
	}
	field := func(name string, max int) (string, error) {
		i := strings.IndexByte(rest, ' ')
		if i < 0 {
			return "", fmt.Errorf("%s: no space after it", name)
		}
		f := rest[:i]
		rest = rest[i+1:]
		if f == "" || len(f) > max {
			return "", fmt.Errorf("%s %q: 1-%d characters", name, f, max)
		}
		for _, c := range []byte(f) {
			if c < 33 || c > 126 {
				return "", fmt.Errorf("%s %q: not PRINTUSASCII", name, f)
			}
		}
		return f, nil
	}
	ts, err := field("TIMESTAMP", 32)
	if err != nil {
		return p, err
	}
	if ts != "-" {
		if p.Timestamp, err = time.Parse(time.RFC3339Nano, ts); err != nil {
			return p, fmt.Errorf("TIMESTAMP %q: %v", ts, err)
		}
		if dot := strings.IndexByte(ts, '.'); dot >= 0 {
			frac := strings.TrimRight(ts[dot+1:], "Z+-0123456789:")
			digits := strings.IndexAny(ts[dot+1:], "Z+-")
			if frac != "" || digits > 6 || digits < 1 {
				return p, fmt.Errorf("TIMESTAMP %q: TIME-SECFRAC has 1-6 digits", ts)
			}
		}
	}
	for _, f := range []struct {
		name string
		max  int
		dst  *string
	}{{"HOSTNAME", 255, &p.Hostname}, {"APP-NAME", 48, &p.AppName}, {"PROCID", 128, &p.ProcID}, {"MSGID", 32, &p.MsgID}} {
		if *f.dst, err = field(f.name, f.max); err != nil {
			return p, err
		}
	}
	// STRUCTURED-DATA
	if strings.HasPrefix(rest, "-") {
		rest = rest[1:]
	} else {
		if !strings.HasPrefix(rest, "[") {
			return p, errors.New("STRUCTURED-DATA is neither - nor [")
		}
		for strings.HasPrefix(rest, "[") {
			rest = rest[1:]
			var e SDElement
			name := func() (string, error) {
				i := strings.IndexAny(rest, " =]\"")
				if i < 1 || i > 32 {
					return "", fmt.Errorf("SD-NAME at %q", rest)
				}
				n := rest[:i]
				rest = rest[i:]
				return n, nil
			}
			if e.ID, err = name(); err != nil {
				return p, err
			}
			for strings.HasPrefix(rest, " ") {
				rest = rest[1:]
				k, err := name()
				if err != nil {
					return p, err
				}
				if !strings.HasPrefix(rest, `="`) {
					return p, fmt.Errorf("SD-PARAM %s without =\"", k)
				}
				rest = rest[2:]
				var v strings.Builder
				for {
					if rest == "" {
						return p, fmt.Errorf("SD-PARAM %s not closed", k)
					}
					c := rest[0]
					if c == '\\' && len(rest) > 1 && strings.IndexByte(`"\]`, rest[1]) >= 0 {
						v.WriteByte(rest[1])
						rest = rest[2:]
						continue
					}
					if c == ']' {
						return p, fmt.Errorf("SD-PARAM %s has an unescaped ]", k)
					}
					rest = rest[1:]
					if c == '"' {
						break
					}
					v.WriteByte(c)
				}
				e.Params = append(e.Params, KV{k, v.String()})
			}
			if !strings.HasPrefix(rest, "]") {
				return p, fmt.Errorf("SD-ELEMENT %s not closed at %q", e.ID, rest)
			}
			rest = rest[1:]
			p.SD = append(p.SD, e)
		}
	}
	if rest != "" {
		msg, ok := strings.CutPrefix(rest, " ")
		if !ok {
			return p, errors.New("no space before MSG")
		}
		p.Msg = msg
	}
	return p, nil
}

// syslogServer receives messages on UDP, TCP or TLS (octet counting) and
// parses them strictly.
type syslogServer struct {
	addr string
	mu   sync.Mutex
	msgs []parsed5424
	errs []error
}

func (s *syslogServer) add(raw string) {
	p, err := parse5424(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("%w in %q", err, raw))
		return
	}
	s.msgs = append(s.msgs, p)
}

func (s *syslogServer) received() ([]parsed5424, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]parsed5424(nil), s.msgs...), append([]error(nil), s.errs...)
}

func listenSyslog(t *testing.T, network string, tc *tls.Config) *syslogServer {
	t.Helper()
	s := &syslogServer{}
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		s.addr = pc.LocalAddr().String()
		go func() {
			buf := make([]byte, 65536)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				s.add(string(buf[:n]))
			}
		}()
		return s
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	t.Cleanup(func() { ln.Close() })
	s.addr = ln.Addr().String()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					// RFC 6587 octet counting: MSG-LEN SP SYSLOG-MSG.
					lenStr, err := r.ReadString(' ')
					if err != nil {
						if !errors.Is(err, io.EOF) {
							s.add("read: " + err.Error())
						}
						return
					}
					n, err := strconv.Atoi(strings.TrimSuffix(lenStr, " "))
					if err != nil || n <= 0 || lenStr[0] == '0' {
						s.add("bad MSG-LEN " + lenStr)
						return
					}
					buf := make([]byte, n)
					if _, err := io.ReadFull(r, buf); err != nil {
						s.add("short frame: " + err.Error())
						return
					}
					s.add(string(buf))
				}
			}()
		}
	}()
	return s
}

func TestSyslogOutputs(t *testing.T) {
	serverTLS, ca := selfSigned(t)
	for _, network := range []string{"udp", "tcp", "tls"} {
		t.Run(network, func(t *testing.T) {
			var tc *tls.Config
			if network == "tls" {
				tc = serverTLS
			}
			srv := listenSyslog(t, network, tc)
			b := newBus(t)
			out := startOutputs(t, b, alerts.OutputsConfiguration{Syslog: []alerts.SyslogConfiguration{{
				Name: "siem", Enabled: true, MinSeverity: events.SeverityHigh, Network: network, Address: srv.addr,
				Facility: "local4", Hostname: "vigil-1", SDID: "vigil@32473", TLS: alerts.TLSConfiguration{CAFile: ca},
			}}})
			publish(t, b, record(0, events.SeverityHigh), record(1, events.SeverityMedium), record(2, events.SeverityCritical))
			eventually(t, "two messages", func() bool { m, e := srv.received(); return len(m)+len(e) >= 2 })
			msgs, errs := srv.received()
			for _, err := range errs {
				t.Error(err)
			}
			if len(msgs) != 2 {
				t.Fatalf("%d messages, want 2 (medium is below the output's minimum)", len(msgs))
			}
			// local4 (20) * 8 + err (3), then crit (2).
			if msgs[0].Pri != 163 || msgs[1].Pri != 162 {
				t.Errorf("PRI %d and %d, want 163 and 162", msgs[0].Pri, msgs[1].Pri)
			}
			m := msgs[0]
			if !m.Timestamp.Equal(t0) || m.Hostname != "vigil-1" || m.AppName != "vigil" || m.ProcID != "-" || m.MsgID != "alert" {
				t.Errorf("header %+v", m)
			}
			rec := record(0, events.SeverityHigh)
			wantSD := []SDElement{{ID: "vigil@32473", Params: []KV{
				{"incident", rec.Incident.ID}, {"rule", "internet_communication"}, {"device", "mac:00:12:21:4e:0a:12/20"}, {"alert", rec.Alert.ID},
			}}}
			if diff := cmp.Diff(wantSD, m.SD); diff != "" {
				t.Errorf("structured data (-want +got):\n%s", diff)
			}
			cef, err := ParseCEF(m.Msg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(RecordCEF(rec, Product{Vendor: "Vigil", Name: "Vigil", Version: "test"}), cef); diff != "" {
				t.Errorf("CEF payload (-sent +received):\n%s", diff)
			}
			if s := out.Stats()["siem"]; s.Delivered != 2 || s.DeadLettered != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// TestSyslogRetriesUntilTheServerIsBack: a TCP SIEM that is down delays
// only its output; the record is delivered once it listens again.
func TestSyslogRetriesUntilTheServerIsBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens
	b := newBus(t)
	out := startOutputs(t, b, alerts.OutputsConfiguration{Syslog: []alerts.SyslogConfiguration{{
		Name: "down", Enabled: true, Network: "tcp", Address: addr,
		Retry: alerts.RetryConfiguration{InitialBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
	}}})
	publish(t, b, record(0, events.SeverityHigh))
	eventually(t, "retries", func() bool { return out.Stats()["down"].Retries >= 2 })
	if s := out.Stats()["down"]; s.Delivered != 0 || s.LastError == "" {
		t.Errorf("stats while down %+v", s)
	}
	back := listenSyslogAt(t, addr)
	eventually(t, "delivery after the server came back", func() bool { m, _ := back.received(); return len(m) == 1 })
	if s := out.Stats()["down"]; s.Delivered != 1 || s.DeadLettered != 0 {
		t.Errorf("stats %+v", s)
	}
}

// listenSyslogAt is listenSyslog for TCP on a given address.
func listenSyslogAt(t *testing.T, addr string) *syslogServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &syslogServer{addr: addr}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					lenStr, err := r.ReadString(' ')
					if err != nil {
						return
					}
					n, _ := strconv.Atoi(strings.TrimSuffix(lenStr, " "))
					buf := make([]byte, n)
					if _, err := io.ReadFull(r, buf); err != nil {
						return
					}
					s.add(string(buf))
				}
			}()
		}
	}()
	return s
}

func TestSyslogMessageFormat(t *testing.T) {
	m := SyslogMessage{Facility: 16, Severity: 3, Timestamp: time.Date(2026, 1, 5, 9, 33, 0, 181182999, time.FixedZone("CET", 3600)),
		Hostname: "host with space", AppName: "vigil", MsgID: "alert",
		SD: []SDElement{{ID: "x@32473", Params: []KV{{"k", `a"b\c]d`}}}}, Msg: "CEF:0|..."}
	got := string(m.Append(nil))
	want := `<131>1 2026-01-05T08:33:00.181182Z host_with_space vigil - alert [x@32473 k="a\"b\\c\]d"] CEF:0|...`
	if got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	if _, err := parse5424(got); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{
		"<999>1 - - - - - -", "<13>2 - - - - - -", "<13>1 2026-01-05T08:33:00.1234567Z h a - - -",
		"<13>1 - h a - - [x k=\"v]", "<13>1 - h a - - [x k=\"v\"]x", "<13>1 - h a - -",
	} {
		if _, err := parse5424(bad); err == nil {
			t.Errorf("strict parser accepted %q", bad)
		}
	}
}
