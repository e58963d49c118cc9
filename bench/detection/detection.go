// Package detection measures Vigil's detection quality: it scores the
// report of one run of the whole pipeline over a capture against the
// anomalies known to be in it (recall: each anomaly raised an alert on
// the right device) and counts the alerts raised on normal traffic after
// learning (false alerts per device-day).
//
// The cases are captures with known attacks from the shared corpus (each
// expectation names its oracle: Zeek's notice.log, or what tshark shows),
// the synthetic ward, and the rig's detection recording of real daemons.
// `vigil detect` runs them; docs/detection.md reports the figures.
package detection

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigil-health/vigil/internal/report"
)

// Case is one capture and what is known to be in it.
type Case struct {
	// Name identifies the case in tables; Source says where the capture
	// comes from ("public", "rig", "synthetic").
	Name   string `json:"name"`
	Source string `json:"source"`
	// Captures are the files, read in order as one stream.
	Captures []string `json:"captures"`
	// Learn is the learning window from the first packet; 0 keeps the
	// configured one (24 h: a capture shorter than that is all learning,
	// as on the first day of a new sensor).
	Learn time.Duration `json:"learn,omitempty"`
	// AuthThreshold overrides baseline.auth_threshold when the oracle was
	// produced with another threshold; 0 keeps the configured one.
	AuthThreshold int `json:"auth_threshold,omitempty"`
	// Local overrides networks.local (CIDRs of the monitored network).
	Local []string `json:"local,omitempty"`
	// Anomalies are the alerts that must be raised.
	Anomalies []Anomaly `json:"anomalies"`
}

// Anomaly is one known attack or injected misbehaviour.
type Anomaly struct {
	Name string `json:"name"`
	// Device is the address (or MAC) of the device the alert must be
	// on: the one that misbehaves.
	Device string `json:"device"`
	// Peers are the addresses of the other devices involved (a scanned
	// server, the victim of a brute force): their alerts during the
	// anomaly are consequences, not false alerts.
	Peers []string `json:"peers,omitempty"`
	// Rules are the policy rules whose alert counts as a detection; empty
	// accepts any rule.
	Rules []string `json:"rules,omitempty"`
	// Start and End bound the anomaly in event time (zero: unbounded).
	// Alerts count from Start to End plus Slack.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Oracle says how the expectation is known.
	Oracle string `json:"oracle"`
}

// Slack is how long after an anomaly's end its alerts may come: a flow
// event is published when the connection ends or times out.
const Slack = 2 * time.Minute

// Result is the score of one case.
type Result struct {
	Case   string `json:"case"`
	Source string `json:"source"`
	// Found says, per anomaly, whether an alert was raised on the right
	// device, and which.
	Found  []Found `json:"found"`
	Recall float64 `json:"recall"`
	// FalseAlerts are the alerts after learning that match no anomaly and
	// involve no device of one during it; DeviceDays the time devices
	// were judged (each device from the end of its learning, or of the
	// global window, to the end of the capture).
	FalseAlerts          []AlertRef `json:"false_alerts"`
	DeviceDays           float64    `json:"device_days"`
	FalseAlertsPerDevDay float64    `json:"false_alerts_per_device_day"`
	// Consequences are the other alerts on devices of an anomaly during
	// it (the scanned server answering on new ports, ...).
	Consequences []AlertRef `json:"consequences,omitempty"`
	// Learning are the alerts raised while learning (weaknesses such as
	// cleartext credentials, which are raised at first sight).
	Learning []AlertRef `json:"learning,omitempty"`
	// Devices and Alerts count the report's devices and alerts.
	Devices int `json:"devices"`
	Alerts  int `json:"alerts"`
}

// Found is the outcome for one anomaly.
type Found struct {
	Anomaly  string     `json:"anomaly"`
	Device   string     `json:"device"`
	Detected bool       `json:"detected"`
	Alerts   []AlertRef `json:"alerts,omitempty"`
	// Other lists alerts on the device during the anomaly from rules the
	// anomaly does not accept (a scan also seen as a new peer, ...).
	Other []AlertRef `json:"other,omitempty"`
}

// AlertRef is an alert as a table shows it.
type AlertRef struct {
	Time     time.Time `json:"time"`
	Rule     string    `json:"rule"`
	Severity string    `json:"severity"`
	Device   string    `json:"device"` // addresses, then MAC
	Title    string    `json:"title"`
}

func (a AlertRef) String() string {
	return fmt.Sprintf("%s %s %s on %s: %s", a.Time.Format(time.RFC3339), a.Severity, a.Rule, a.Device, a.Title)
}

// Score judges a report against its case.
func Score(c Case, rep *report.Report) Result {
	res := Result{Case: c.Name, Source: c.Source, Devices: len(rep.Devices), Alerts: len(rep.Alerts)}
	devs := map[string]report.Device{}
	for _, d := range rep.Devices {
		devs[d.ID] = d
	}
	learnEnd := rep.Window.LearningEnd
	matched := make([]bool, len(rep.Alerts))
	for _, an := range c.Anomalies {
		f := Found{Anomaly: an.Name, Device: an.Device}
		for i, a := range rep.Alerts {
			d := devs[a.Device]
			if !an.during(a.Time) || !identifies(d, an.Device) {
				continue
			}
			ref := alertRef(a, d)
			if len(an.Rules) == 0 || slices.Contains(an.Rules, a.Rule) {
				f.Detected = true
				f.Alerts = append(f.Alerts, ref)
			} else {
				f.Other = append(f.Other, ref)
			}
			matched[i] = true
		}
		res.Found = append(res.Found, f)
	}
	for i, a := range rep.Alerts {
		if matched[i] {
			continue
		}
		d := devs[a.Device]
		ref := alertRef(a, d)
		switch {
		case !learnEnd.IsZero() && a.Time.Before(learnEnd):
			res.Learning = append(res.Learning, ref)
		case c.consequence(a.Time, d):
			res.Consequences = append(res.Consequences, ref)
		default:
			res.FalseAlerts = append(res.FalseAlerts, ref)
		}
	}
	detected := 0
	for _, f := range res.Found {
		if f.Detected {
			detected++
		}
	}
	if len(res.Found) > 0 {
		res.Recall = float64(detected) / float64(len(res.Found))
	}
	res.DeviceDays = deviceDays(rep)
	if res.DeviceDays > 0 {
		res.FalseAlertsPerDevDay = float64(len(res.FalseAlerts)) / res.DeviceDays
	}
	return res
}

// during says whether an alert at t can belong to the anomaly.
func (a Anomaly) during(t time.Time) bool {
	if !a.Start.IsZero() && t.Before(a.Start) {
		return false
	}
	return a.End.IsZero() || !t.After(a.End.Add(Slack))
}

// consequence says whether an alert on d at t involves a device of an
// anomaly while it happened.
func (c Case) consequence(t time.Time, d report.Device) bool {
	for _, an := range c.Anomalies {
		if !an.during(t) {
			continue
		}
		for _, who := range append([]string{an.Device}, an.Peers...) {
			if identifies(d, who) {
				return true
			}
		}
	}
	return false
}

// identifies says whether who (an address or a MAC) is device d. A
// router's MAC carries many addresses: only its own first address
// identifies it.
func identifies(d report.Device, who string) bool {
	if who == "" {
		return false
	}
	if _, err := netip.ParseAddr(who); err != nil {
		return strings.EqualFold(d.MAC, who)
	}
	if d.Gateway {
		return len(d.IPs) > 0 && d.IPs[0] == who
	}
	return slices.Contains(d.IPs, who) || slices.Contains(d.PastIPs, who)
}

func alertRef(a report.Alert, d report.Device) AlertRef {
	label := strings.Join(d.IPs, ",")
	if label == "" {
		label = d.MAC
	}
	if label == "" {
		label = a.Device
	}
	return AlertRef{Time: a.Time, Rule: a.Rule, Severity: string(a.Severity), Device: label, Title: a.Title}
}

// deviceDays sums, over the devices, the time each was judged: from the
// end of the learning window, or from its first sighting if later, to the
// end of the capture.
func deviceDays(rep *report.Report) float64 {
	end, learnEnd := rep.Window.End, rep.Window.LearningEnd
	if learnEnd.IsZero() || !end.After(learnEnd) {
		return 0
	}
	var total time.Duration
	for _, d := range rep.Devices {
		from := learnEnd
		if d.FirstSeen.After(from) {
			from = d.FirstSeen
		}
		if end.After(from) {
			total += end.Sub(from)
		}
	}
	return total.Hours() / 24
}

// Summary totals several results.
type Summary struct {
	Anomalies   int     `json:"anomalies"`
	Detected    int     `json:"detected"`
	Recall      float64 `json:"recall"`
	FalseAlerts int     `json:"false_alerts"`
	DeviceDays  float64 `json:"device_days"`
	// FalseAlertsPerDevDay is FalseAlerts / DeviceDays.
	FalseAlertsPerDevDay float64 `json:"false_alerts_per_device_day"`
}

// Summarize totals results.
func Summarize(rs []Result) Summary {
	var s Summary
	for _, r := range rs {
		for _, f := range r.Found {
			s.Anomalies++
			if f.Detected {
				s.Detected++
			}
		}
		s.FalseAlerts += len(r.FalseAlerts)
		s.DeviceDays += r.DeviceDays
	}
	if s.Anomalies > 0 {
		s.Recall = float64(s.Detected) / float64(s.Anomalies)
	}
	if s.DeviceDays > 0 {
		s.FalseAlertsPerDevDay = float64(s.FalseAlerts) / s.DeviceDays
	}
	return s
}
