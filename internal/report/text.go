package report

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes a short human summary: what was read, the devices, the
// deviations and the alerts.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, c := range r.Captures {
		fmt.Fprintf(&b, "Capture %s: %d packets, %d bytes", c.Source, c.Packets, c.Bytes)
		if c.DecodeErrors > 0 || c.Truncated > 0 {
			fmt.Fprintf(&b, " (%d undecodable, %d truncated)", c.DecodeErrors, c.Truncated)
		}
		b.WriteString("\n")
	}
	if !r.Window.Start.IsZero() {
		fmt.Fprintf(&b, "Event time %s to %s; learning until %s\n", ts(r.Window.Start), ts(r.Window.End), ts(r.Window.LearningEnd))
	}
	fmt.Fprintf(&b, "Flows: %d (%s)\n\n", r.Flows.Count, counts(r.Flows.ByAppProto))

	fmt.Fprintf(&b, "Devices (%d)\n", len(r.Devices))
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tMAC\tIP\tNAME\tCATEGORY\tCRITICALITY\tVENDOR\tPROTOCOLS")
	for _, d := range r.Devices {
		name := d.Attributes["hostname"]
		if d.Gateway {
			name = strings.TrimSpace(name + " (gateway)")
		}
		category := d.Category
		if d.Medical {
			category += " (medical)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, dash(d.MAC), dash(strings.Join(d.IPs, ",")), dash(name),
			category, d.Criticality, dash(d.Vendor), dash(strings.Join(d.Protocols, ",")))
	}
	tw.Flush()

	fmt.Fprintf(&b, "\nDeviations (%d)\n", len(r.Deviations))
	for _, d := range r.Deviations {
		fmt.Fprintf(&b, "  %s  %-12s %s\n", ts(d.Time), d.Type, d.Summary)
	}
	fmt.Fprintf(&b, "\nAlerts (%d)\n", len(r.Alerts))
	for _, a := range r.Alerts {
		fmt.Fprintf(&b, "  %s  %-8s %s  [%s, %s]\n", ts(a.Time), strings.ToUpper(string(a.Severity)), a.Title, a.Rule, a.Device)
	}
	if r.Policy.Errors > 0 {
		fmt.Fprintf(&b, "\nPolicy errors: %d of %d decisions failed (see the decision events)\n", r.Policy.Errors, r.Policy.Decisions)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func counts(m map[string]uint64) string {
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int { return cmp.Compare(m[b], m[a]) })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
