package output

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/tlsfile"
)

// SyslogMessage is one RFC 5424 message.
type SyslogMessage struct {
	// Facility (0-23) and Severity (0-7) make the PRI.
	Facility, Severity int
	Timestamp          time.Time
	Hostname, AppName  string
	ProcID, MsgID      string
	// SD is the structured data; empty writes the NILVALUE.
	SD []SDElement
	// Msg is the free-form message (MSG-ANY: no BOM).
	Msg string
}

// SDElement is one structured-data element.
type SDElement struct {
	ID     string
	Params []KV
}

// SyslogSeverity maps alert severities to syslog's: critical 2 (crit),
// high 3 (err), medium 4 (warning), low 5 (notice), info 6
// (informational).
func SyslogSeverity(s events.Severity) int {
	switch s {
	case events.SeverityCritical:
		return 2
	case events.SeverityHigh:
		return 3
	case events.SeverityMedium:
		return 4
	case events.SeverityLow:
		return 5
	}
	return 6
}

// header writes an RFC 5424 header field: printable US-ASCII only (other
// bytes become '_'), at most max bytes, "-" when empty.
func header(b []byte, s string, max int) []byte {
	if s == "" {
		return append(b, '-')
	}
	for i := 0; i < len(s) && i < max; i++ {
		c := s[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// sdName writes an SD-ID or PARAM-NAME: printable US-ASCII except '=',
// space, ']' and '"', at most 32 bytes.
func sdName(b []byte, s string) []byte {
	for i := 0; i < len(s) && i < 32; i++ {
		c := s[i]
		if c < 33 || c > 126 || c == '=' || c == ']' || c == '"' {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// Append writes the message: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID
// MSGID STRUCTURED-DATA [SP MSG]. The timestamp is UTC with microseconds
// (RFC 5424 allows at most six fractional digits); PARAM-VALUEs escape
// '"', '\' and ']'.
func (m SyslogMessage) Append(b []byte) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(m.Facility*8+m.Severity), 10)
	b = append(b, ">1 "...)
	if m.Timestamp.IsZero() {
		b = append(b, '-')
	} else {
		b = m.Timestamp.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	}
	b = append(b, ' ')
	b = header(b, m.Hostname, 255)
	b = append(b, ' ')
	b = header(b, m.AppName, 48)
	b = append(b, ' ')
	b = header(b, m.ProcID, 128)
	b = append(b, ' ')
	b = header(b, m.MsgID, 32)
	b = append(b, ' ')
	if len(m.SD) == 0 {
		b = append(b, '-')
	}
	for _, e := range m.SD {
		b = append(b, '[')
		b = sdName(b, e.ID)
		for _, p := range e.Params {
			b = append(b, ' ')
			b = sdName(b, p.Key)
			b = append(b, '=', '"')
			for i := 0; i < len(p.Value); i++ {
				if c := p.Value[i]; c == '"' || c == '\\' || c == ']' {
					b = append(b, '\\')
				}
				b = append(b, p.Value[i])
			}
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	if m.Msg != "" {
		b = append(b, ' ')
		b = append(b, m.Msg...)
	}
	return b
}

// syslogOutput sends records as RFC 5424 messages with a CEF payload over
// UDP (one datagram each, RFC 5426), TCP (octet counting, RFC 6587) or TLS
// (RFC 5425, the same framing).
type syslogOutput struct {
	cfg      alerts.SyslogConfiguration
	product  Product
	facility int
	hostname string
	tls      *tls.Config
	conn     net.Conn
	buf      []byte
}

func newSyslog(cfg alerts.SyslogConfiguration, p Product) (*syslogOutput, error) {
	s := &syslogOutput{cfg: cfg, product: p, facility: alerts.Facilities[cfg.Facility], hostname: cfg.Hostname}
	if s.hostname == "" {
		s.hostname, _ = os.Hostname()
	}
	if cfg.Network == "tls" {
		tc, err := tlsConfig(cfg.TLS, cfg.Address)
		if err != nil {
			return nil, fmt.Errorf("syslog output %s: %w", cfg.Name, err)
		}
		s.tls = tc
	}
	return s, nil
}

func tlsConfig(c alerts.TLSConfiguration, addr string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if tc.ServerName == "" {
		tc.ServerName, _, _ = net.SplitHostPort(addr)
	}
	if c.CAFile != "" {
		pool, err := tlsfile.CertPool(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Message builds the syslog message of a record.
func (s *syslogOutput) Message(rec alerts.Record) SyslogMessage {
	m := SyslogMessage{
		Facility: s.facility, Severity: SyslogSeverity(rec.Alert.Body.Severity), Timestamp: rec.Alert.Time,
		Hostname: s.hostname, AppName: s.cfg.AppName, MsgID: "alert",
		Msg: RecordCEF(rec, s.product).String(),
	}
	if t := rec.Transition; t != nil {
		m.Severity, m.Timestamp, m.MsgID = SyslogSeverity(rec.Incident.Severity), t.Time, "incident"
	}
	if s.cfg.SDID != "" {
		m.SD = []SDElement{{ID: s.cfg.SDID, Params: []KV{
			{"incident", rec.Incident.ID}, {"rule", rec.Alert.Body.Rule}, {"device", rec.Alert.Body.Device.Key},
			{"alert", rec.Alert.ID},
		}}}
		if t := rec.Transition; t != nil {
			m.SD[0].Params = append(m.SD[0].Params, KV{"action", string(t.Action)}, KV{"actor", t.Actor})
		}
	}
	return m
}

// maxUDP is the largest UDP payload over IPv4.
const maxUDP = 65507

func (s *syslogOutput) Send(ctx context.Context, rec alerts.Record) error {
	msg := s.Message(rec).Append(s.buf[:0])
	s.buf = msg
	if s.cfg.Network == "udp" && len(msg) > maxUDP {
		return permanent(fmt.Errorf("message of %d bytes does not fit a UDP datagram", len(msg)))
	}
	if s.conn == nil {
		if err := s.dial(ctx); err != nil {
			return err
		}
	}
	frame := msg
	if s.cfg.Network != "udp" {
		frame = append(strconv.AppendInt(make([]byte, 0, len(msg)+8), int64(len(msg)), 10), ' ')
		frame = append(frame, msg...)
	}
	deadline := time.Now().Add(s.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = s.conn.SetWriteDeadline(deadline)
	if _, err := s.conn.Write(frame); err != nil {
		s.conn.Close()
		s.conn = nil
		return fmt.Errorf("write to %s %s: %w", s.cfg.Network, s.cfg.Address, err)
	}
	return nil
}

func (s *syslogOutput) dial(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	network := s.cfg.Network
	if network == "tls" {
		network = "tcp"
	}
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, network, s.cfg.Address)
	if err != nil {
		return fmt.Errorf("connect to %s %s: %w", s.cfg.Network, s.cfg.Address, err)
	}
	if s.tls != nil {
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("tls handshake with %s: %w", s.cfg.Address, err)
		}
		conn = tc
	}
	s.conn = conn
	return nil
}

func (s *syslogOutput) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
