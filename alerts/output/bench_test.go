package output

import (
	"testing"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/events"
)

// BenchmarkSyslogCEF is the formatting cost of one syslog message with its
// CEF payload.
func BenchmarkSyslogCEF(b *testing.B) {
	s, err := newSyslog(alerts.SyslogConfiguration{Name: "b", Network: "tcp", Address: "127.0.0.1:1", Facility: "local0",
		AppName: "vigil", Hostname: "h", SDID: "vigil@32473"}, Product{Vendor: "Vigil", Name: "Vigil", Version: "1"})
	if err != nil {
		b.Fatal(err)
	}
	rec := record(3, events.SeverityHigh)
	var buf []byte
	b.ReportAllocs()
	for range b.N {
		buf = s.Message(rec).Append(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkOCSF is the cost of one OCSF Detection Finding document.
func BenchmarkOCSF(b *testing.B) {
	rec := record(3, events.SeverityHigh)
	p := Product{Vendor: "Vigil", Name: "Vigil", Version: "1"}
	b.ReportAllocs()
	for range b.N {
		if _, err := Body(alerts.FormatOCSF, rec, p); err != nil {
			b.Fatal(err)
		}
	}
}
