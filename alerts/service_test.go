package alerts

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/events"
)

func TestParseQuery(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Query
		err  string
	}{
		{"", Query{}, ""},
		{"state=open,acknowledged&state=resolved&min_severity=HIGH&device=dev-1&rule=r&suppressed=only&from=2026-01-05T08:00:00Z&to=2026-01-06T00:00:00%2B01:00&limit=5&offset=10",
			Query{States: []State{StateAcknowledged, StateOpen, StateResolved}, MinSeverity: events.SeverityHigh, Device: "dev-1", Rule: "r", Suppressed: "only",
				From: time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 6, 0, 0, 0, 0, time.FixedZone("", 3600)), Limit: 5, Offset: 10}, ""},
		{"state=closed", Query{}, `state "closed"`},
		{"min_severity=severe", Query{}, `severity "severe"`},
		{"suppressed=yes", Query{}, `suppressed "yes"`},
		{"from=yesterday", Query{}, `from "yesterday"`},
		{"limit=-1", Query{}, `limit "-1"`},
		{"colour=red", Query{}, `unknown parameter "colour"`},
	} {
		v, err := url.ParseQuery(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseQuery(v)
		if tc.err != "" {
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseQuery(%q) error %v, want ErrInvalid with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseQuery(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
			t.Errorf("ParseQuery(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestSuppressionMatches(t *testing.T) {
	inc := &Incident{Rule: "internet_communication", PeerKey: "203.0.113.45", Severity: events.SeverityHigh,
		Device: events.DeviceSnapshot{Key: "mac:a/1", ID: "dev-1", Category: "Infusion_Pump"}, LastSeen: t0}
	for _, tc := range []struct {
		name string
		s    events.AlertSuppression
		want bool
	}{
		{"rule", events.AlertSuppression{Rule: "internet_communication"}, true},
		{"other rule", events.AlertSuppression{Rule: "scan"}, false},
		{"device key", events.AlertSuppression{Device: "mac:a/1"}, true},
		{"device id", events.AlertSuppression{Device: "dev-1"}, true},
		{"peer", events.AlertSuppression{Peer: "203.0.113.45"}, true},
		{"other peer", events.AlertSuppression{Peer: "203.0.113.46"}, false},
		{"category ignores case", events.AlertSuppression{Category: "infusion_pump"}, true},
		{"every field must match", events.AlertSuppression{Rule: "internet_communication", Peer: "1.2.3.4"}, false},
		{"max severity below", events.AlertSuppression{Rule: "internet_communication", MaxSeverity: events.SeverityMedium}, false},
		{"min severity", events.AlertSuppression{Rule: "internet_communication", MinSeverity: events.SeverityHigh}, true},
		{"not yet expired", events.AlertSuppression{Rule: "internet_communication", Expires: t0.Add(time.Nanosecond)}, true},
		{"expired at the alert", events.AlertSuppression{Rule: "internet_communication", Expires: t0}, false},
	} {
		if got := (Suppression{AlertSuppression: tc.s}).Matches(inc); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzParseQuery: any query string is a query or an error naming the
// problem, never a panic, and what is accepted is within bounds.
func FuzzParseQuery(f *testing.F) {
	f.Add("state=open,acknowledged&min_severity=high&suppressed=include&limit=5")
	f.Add("from=2026-01-05T08:00:00Z&to=x&offset=-1&colour=red")
	f.Add("state=&state=,&limit=99999999999999999999")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		q, err := ParseQuery(v)
		if err != nil {
			if !errors.Is(err, ErrInvalid) || err.Error() == "" {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if q.Limit < 0 || q.Offset < 0 || (q.MinSeverity != "" && Rank(q.MinSeverity) == 0) {
			t.Fatalf("accepted an out-of-bounds query %+v from %q", q, s)
		}
		NewModel().Incidents(q)
	})
}
