package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-health/vigil/events"
)

// Replay hands every stored event of kinds from stream to fn as the
// delivery JetStream made of it, in stream order (the JetStream sequence
// each row keeps), so that a projection rebuilt from ClickHouse sees its
// input in exactly the order the live projection saw it, with the same
// payload: the header is rebuilt from the columns (time and time_ns give
// the exact nanosecond, so the content-derived ID still matches) and the
// body is the JSON as received. Copies of an event are read once (FINAL).
//
// Order by sequence rather than event time is deliberate: live
// projections consume in stream order, and two events of one device with
// the same timestamp, or a sensor whose clock stepped back, would
// otherwise be applied in another order than live. Sequences restart
// only when a stream is deleted and declared again; a replay then needs
// the range since that moment (fromSeq).
func (q *Queries) Replay(ctx context.Context, stream string, kinds []events.Kind, fromSeq uint64, fn func(events.Delivery) error) error {
	var parts []string
	var args []any
	for _, k := range kinds {
		t, ok := tableOf[k]
		if !ok {
			return fmt.Errorf("replay: kind %q has no table", k)
		}
		parts = append(parts, fmt.Sprintf("SELECT seq, seq_index, '%s' AS kind, time, time_ns, lower(hex(id)) AS hid, source_component, source_name, source_site, body FROM %s FINAL WHERE seq >= ?", k, t))
		args = append(args, fromSeq)
	}
	if len(parts) == 0 {
		return nil
	}
	query := "SELECT seq, seq_index, kind, time, time_ns, hid, source_component, source_name, source_site, body FROM (" +
		strings.Join(parts, " UNION ALL ") + ") ORDER BY seq, seq_index"
	rows, err := q.conn.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("replay from clickhouse: %w", err)
	}
	defer rows.Close()
	// A delivery is handed on once the next row is read: whether it was
	// the last event of its message (Last) is known only then.
	var held *events.Delivery
	for rows.Next() {
		var (
			seq                 uint64
			index, ns           uint32
			kind, id, body      string
			at                  time.Time
			component, name, st string
		)
		if err := rows.Scan(&seq, &index, &kind, &at, &ns, &id, &component, &name, &st, &body); err != nil {
			return fmt.Errorf("replay from clickhouse: %w", err)
		}
		h := events.Header{
			Version: events.Version, Kind: events.Kind(kind), ID: id,
			Time:   time.Unix(at.Unix(), int64(ns)).UTC(),
			Source: events.Source{Component: component, Name: name, Site: st},
		}
		data, err := json.Marshal(struct {
			events.Header
			Body json.RawMessage `json:"body"`
		}{h, json.RawMessage(body)})
		if err != nil {
			return fmt.Errorf("replay: event %s at seq %d: %w", id, seq, err)
		}
		if held != nil {
			held.Last = held.Seq != seq
			if err := fn(*held); err != nil {
				return err
			}
		}
		held = &events.Delivery{Stream: stream, Seq: seq, Index: int(index), Header: h, Data: data}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("replay from clickhouse: %w", err)
	}
	if held != nil {
		held.Last = true
		return fn(*held)
	}
	return nil
}
