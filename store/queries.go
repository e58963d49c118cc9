package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/vigil-health/vigil/events"
)

// Queries answers the history questions of the API and the dashboard.
// Every answer counts an event once, however often it was delivered: the
// traffic rollups are exact because the writer never inserts a stored ID
// again, and event tables are read with FINAL, which collapses rows of the
// same (time, id). On 18.16, over 2 million flows with 1% copies, FINAL
// counted in 0.35s where uniqExact(id) took 1.8s, GROUP BY id 0.9s and
// LIMIT 1 BY id 0.8s; grouped by device, FINAL took 0.32s and an argMax
// style GROUP BY id subquery 1.3s.
//
// Time ranges are half-open, [from, to), in event time; the traffic
// rollups have a resolution of one minute, so from and to are truncated
// to the minute.
type Queries struct {
	conn driver.Conn
}

// NewQueries returns queries over the database of conn (see Open).
func NewQueries(conn driver.Conn) *Queries { return &Queries{conn: conn} }

// PeerTraffic is what a device exchanged with one peer.
type PeerTraffic struct {
	PeerIP     string
	PeerDevice string // the peer's device key, as the sensor saw it
	Flows      uint64
	BytesOut   uint64 // sent by the device to the peer
	BytesIn    uint64 // received by the device from the peer
	PacketsOut uint64
	PacketsIn  uint64
}

// TopPeers returns the peers a device exchanged the most bytes with
// (both directions) in [from, to), at most limit of them.
func (q *Queries) TopPeers(ctx context.Context, device string, from, to time.Time, limit int) ([]PeerTraffic, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("top peers: limit must be positive, got %d", limit)
	}
	if !from.Truncate(time.Minute).Before(to.Truncate(time.Minute)) {
		return nil, fmt.Errorf("top peers: empty range %s to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	src, args := rollupSource(from, to, "device = ?", []any{device},
		"peer_ip, peer_device, flows, bytes_out, bytes_in, packets_out, packets_in")
	query := `SELECT peer_ip, peer_device, sum(flows) AS f, sum(bytes_out) AS bo, sum(bytes_in) AS bi,
		sum(packets_out) AS po, sum(packets_in) AS pi
	FROM (` + src + `)
	GROUP BY peer_ip, peer_device
	ORDER BY bo + bi DESC, peer_ip, peer_device
	LIMIT ?`
	rows, err := q.conn.Query(ctx, query, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("top peers of %s: %w", device, err)
	}
	defer rows.Close()
	var out []PeerTraffic
	for rows.Next() {
		var p PeerTraffic
		if err := rows.Scan(&p.PeerIP, &p.PeerDevice, &p.Flows, &p.BytesOut, &p.BytesIn, &p.PacketsOut, &p.PacketsIn); err != nil {
			return nil, fmt.Errorf("top peers of %s: %w", device, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("top peers of %s: %w", device, err)
	}
	return out, nil
}

// TrafficPoint is the traffic of one time bucket.
type TrafficPoint struct {
	Time       time.Time // start of the bucket
	Flows      uint64
	BytesOut   uint64
	BytesIn    uint64
	PacketsOut uint64
	PacketsIn  uint64
}

// Traffic returns a device's traffic in [from, to) in buckets of step
// (a whole number of minutes), starting at from, one point per bucket
// with zeros where nothing was seen. An empty device means the whole
// network: each flow is then counted once, on its originator's side, and
// In and Out are the responders' and originators' bytes.
func (q *Queries) Traffic(ctx context.Context, device string, from, to time.Time, step time.Duration) ([]TrafficPoint, error) {
	from, to = from.UTC().Truncate(time.Minute), to.UTC().Truncate(time.Minute)
	if step%time.Minute != 0 {
		return nil, fmt.Errorf("traffic: step %s is not a whole number of minutes", step)
	}
	n, err := buckets(from, to, step)
	if err != nil {
		return nil, fmt.Errorf("traffic: %w", err)
	}
	where, args := "device = ?", []any{device}
	if device == "" {
		where, args = "outbound = 1", nil
	}
	cols := "time, flows, bytes_out, bytes_in, packets_out, packets_in"
	var src string
	var srcArgs []any
	if step%time.Hour == 0 && from.Equal(from.Truncate(time.Hour)) {
		// Hour rows fall whole into hour-aligned buckets.
		src, srcArgs = rollupSource(from, to, where, args, cols)
	} else {
		src, srcArgs = rangeSource("traffic_1m", from, to, where, args, cols)
	}
	query := `SELECT intDiv(toUInt32(time) - ?, ?) AS b, sum(flows), sum(bytes_out), sum(bytes_in),
		sum(packets_out), sum(packets_in)
	FROM (` + src + `)
	GROUP BY b`
	rows, err := q.conn.Query(ctx, query, append([]any{unix(from), uint32(step / time.Second)}, srcArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("traffic of %q: %w", device, err)
	}
	defer rows.Close()
	out := make([]TrafficPoint, n)
	for i := range out {
		out[i].Time = from.Add(time.Duration(i) * step)
	}
	for rows.Next() {
		var b int64
		var p TrafficPoint
		if err := rows.Scan(&b, &p.Flows, &p.BytesOut, &p.BytesIn, &p.PacketsOut, &p.PacketsIn); err != nil {
			return nil, fmt.Errorf("traffic of %q: %w", device, err)
		}
		if b >= 0 && b < int64(n) {
			p.Time = out[b].Time
			out[b] = p
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("traffic of %q: %w", device, err)
	}
	return out, nil
}

// AlertPoint counts the alerts of one time bucket.
type AlertPoint struct {
	Time       time.Time // start of the bucket
	Total      uint64
	BySeverity map[events.Severity]uint64
}

// AlertsOverTime counts alerts in [from, to) in buckets of step (a whole
// number of seconds) starting at from, by severity; device, when not
// empty, keeps only that device's alerts.
func (q *Queries) AlertsOverTime(ctx context.Context, device string, from, to time.Time, step time.Duration) ([]AlertPoint, error) {
	from, to = from.UTC().Truncate(time.Second), to.UTC().Truncate(time.Second)
	n, err := buckets(from, to, step)
	if err != nil {
		return nil, fmt.Errorf("alerts over time: %w", err)
	}
	query := `SELECT intDiv(toUInt32(time) - ?, ?) AS b, severity, count()
	FROM alerts FINAL
	WHERE time >= toDateTime(?) AND time < toDateTime(?)`
	args := []any{unix(from), uint32(step / time.Second), unix(from), unix(to)}
	if device != "" {
		query += " AND device = ?"
		args = append(args, device)
	}
	query += " GROUP BY b, severity"
	rows, err := q.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("alerts over time: %w", err)
	}
	defer rows.Close()
	out := make([]AlertPoint, n)
	for i := range out {
		out[i] = AlertPoint{Time: from.Add(time.Duration(i) * step), BySeverity: map[events.Severity]uint64{}}
	}
	for rows.Next() {
		var b int64
		var sev string
		var c uint64
		if err := rows.Scan(&b, &sev, &c); err != nil {
			return nil, fmt.Errorf("alerts over time: %w", err)
		}
		if b >= 0 && b < int64(n) {
			out[b].BySeverity[events.Severity(sev)] += c
			out[b].Total += c
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("alerts over time: %w", err)
	}
	return out, nil
}

// CountEvents counts the distinct events of a kind in [from, to): the
// number to compare with what was published.
func (q *Queries) CountEvents(ctx context.Context, kind events.Kind, from, to time.Time) (uint64, error) {
	t, ok := tableOf[kind]
	if !ok {
		return 0, fmt.Errorf("count events: unknown kind %q", kind)
	}
	var n uint64
	err := q.conn.QueryRow(ctx, "SELECT count() FROM "+t+" FINAL WHERE time >= toDateTime(?) AND time < toDateTime(?)",
		unix(from), unix(to)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s events: %w", kind, err)
	}
	return n, nil
}

// tableOf names the table of each kind.
var tableOf = func() map[events.Kind]string {
	m := map[events.Kind]string{}
	for k, r := range newKindRows() {
		m[k] = r.table()
	}
	return m
}()

// rollupSource is a UNION ALL over the traffic rollups covering [from, to)
// exactly: the whole hours inside the range from traffic_1h, the minutes
// before and after them from traffic_1m.
func rollupSource(from, to time.Time, where string, args []any, cols string) (string, []any) {
	from, to = from.UTC().Truncate(time.Minute), to.UTC().Truncate(time.Minute)
	h1 := from.Truncate(time.Hour)
	if h1.Before(from) {
		h1 = h1.Add(time.Hour)
	}
	h2 := to.Truncate(time.Hour)
	if !h1.Before(h2) {
		return rangeSource("traffic_1m", from, to, where, args, cols)
	}
	var parts []string
	var all []any
	add := func(table string, a, b time.Time) {
		if !a.Before(b) {
			return
		}
		s, sa := rangeSource(table, a, b, where, args, cols)
		parts = append(parts, s)
		all = append(all, sa...)
	}
	add("traffic_1m", from, h1)
	add("traffic_1h", h1, h2)
	add("traffic_1m", h2, to)
	return strings.Join(parts, "\n\tUNION ALL\n\t"), all
}

func rangeSource(table string, from, to time.Time, where string, args []any, cols string) (string, []any) {
	s := "SELECT " + cols + " FROM " + table + " WHERE " + where + " AND time >= toDateTime(?) AND time < toDateTime(?)"
	return s, append(append([]any{}, args...), unix(from), unix(to))
}

func buckets(from, to time.Time, step time.Duration) (int, error) {
	if step <= 0 || step%time.Second != 0 {
		return 0, fmt.Errorf("step %s is not a positive whole number of seconds", step)
	}
	if !from.Before(to) {
		return 0, fmt.Errorf("empty range %s to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	n := int((to.Sub(from) + step - 1) / step)
	if n > 100_000 {
		return 0, fmt.Errorf("%d buckets of %s: use a larger step", n, step)
	}
	return n, nil
}

// unix is a time as DateTime's seconds, clamped to its range; it is bound
// as a number (toDateTime(n)), which every server version reads the same.
func unix(t time.Time) uint32 {
	return uint32(clampTime(t).Unix())
}
