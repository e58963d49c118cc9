package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	json "github.com/goccy/go-json"

	"github.com/vigil-health/vigil/events"
)

// The writer decodes with github.com/goccy/go-json, a drop-in for
// encoding/json that decodes a flow event six times faster (see
// BenchmarkDecode): decoding was half the writer's CPU. A test checks it
// decodes every kind as encoding/json does, and decodeSafely turns a
// decoder panic on hostile input into a rejection.

// envelope is an event as the writer reads it: the header decoded, the
// body kept as received for the body column.
type envelope struct {
	events.Header
	Body json.RawMessage `json:"body"`
}

// meta holds the columns every event table starts with.
type meta struct {
	time time.Time // whole seconds, UTC
	ns   uint32    // nanoseconds within the second
	id   string    // 16 raw bytes
	seq  uint64
	// index is the event's place in its message (a batch of the sensor).
	index uint32
	src   events.Source
	body  string
}

// row is one event for the table of its kind.
type row[B events.Body] struct {
	meta
	b B
}

// DateTime is an unsigned 32-bit count of seconds: events outside its
// range cannot be stored (a clock at zero, a corrupt timestamp).
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Unix(1<<32-1, 0).UTC()
)

// errRejected marks a message the writer cannot store as an event; it
// goes to rejected_events instead.
var errRejected = errors.New("rejected")

func reject(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errRejected, fmt.Sprintf(format, args...))
}

// decodeSafely is decodeMeta and rows.add under a recover: bad input is
// a rejected message, never a crashed writer.
func decodeSafely(payload []byte, seq uint64, kinds map[events.Kind]batchRows) (env envelope, err error) {
	return decodeAt(payload, events.Position{Seq: seq}, kinds)
}

// decodeAt is decodeSafely for the event at position at of the stream.
//
// The fast path (fastjson.go) is tried first and used only when all of
// it succeeds: the envelope, its checks and the body. Anything else goes
// the general way from the start, so a rejection and its reason are the
// general decoder's.
func decodeAt(payload []byte, at events.Position, kinds map[events.Kind]batchRows) (env envelope, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = reject("decoder panic: %v", r)
		}
	}()
	if fastDecode {
		if env, ok := decodeEnvelopeFast(payload); ok {
			if m, err := checkMeta(env, at.Seq); err == nil {
				m.index = uint32(at.Index)
				if r, ok := kinds[env.Kind]; ok && r.add(m, env.Body) == nil {
					return env, nil
				}
			}
		}
	}
	env, m, err := decodeMeta(payload, at.Seq)
	if err != nil {
		return env, err
	}
	m.index = uint32(at.Index)
	r, ok := kinds[env.Kind]
	if !ok {
		return env, reject("kind %q is not a v1 kind this build stores", env.Kind)
	}
	return env, r.add(m, env.Body)
}

// decodeMeta reads the envelope of a payload with the general decoder
// and checks it (checkMeta).
func decodeMeta(payload []byte, seq uint64) (envelope, meta, error) {
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return env, meta{}, reject("decode event: %v", err)
	}
	m, err := checkMeta(env, seq)
	return env, m, err
}

// checkMeta checks what the columns need of an envelope: a v1 version, a
// 32-hex-digit ID, a time DateTime can hold, an object for body.
func checkMeta(env envelope, seq uint64) (meta, error) {
	if env.Version != events.Version {
		return meta{}, reject("version %q is not %q", env.Version, events.Version)
	}
	var id [16]byte
	if len(env.ID) != 32 {
		return meta{}, reject("id %q is not 32 hexadecimal digits", env.ID)
	}
	if _, err := hex.Decode(id[:], []byte(env.ID)); err != nil {
		return meta{}, reject("id %q is not 32 hexadecimal digits", env.ID)
	}
	t := env.Time.UTC()
	if t.Before(minTime) || t.After(maxTime) {
		return meta{}, reject("time %s is outside what DateTime holds (1970 to 2106)", t.Format(time.RFC3339Nano))
	}
	if len(env.Body) == 0 || env.Body[0] != '{' {
		return meta{}, reject("body is not a JSON object")
	}
	return meta{
		time: t.Truncate(time.Second), ns: uint32(t.Nanosecond()), id: string(id[:]), seq: seq,
		src: env.Source, body: bodyString(env.Body),
	}, nil
}

// bodyString is the body column's value: the body's bytes as a string
// without copying them again. They are the message's (the fast path) or
// the general decoder's copy of them, which nothing writes afterwards; a
// second copy was 450 bytes of garbage per flow event.
func bodyString(b json.RawMessage) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// clampTime fits a body's time into DateTime (a zero time becomes 1970).
func clampTime(t time.Time) time.Time {
	switch {
	case t.Before(minTime):
		return minTime
	case t.After(maxTime):
		return maxTime
	}
	return t.UTC()
}

func bit(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// column is one column of a table, and how to read it from a row.
type column[B events.Body] interface {
	name() string
	// values returns the column of rows as a typed slice, which the
	// driver appends in one call. It fills buf (a slice values returned
	// before, or nil) when it is large enough: the driver copies what it
	// appends, and a new slice per column and batch was half a kilobyte
	// of garbage per event.
	values(rows []row[B], buf any) any
	// release clears a slice values returned, so that it keeps no event
	// alive until the next batch.
	release(buf any)
}

type col[B events.Body, T any] struct {
	n   string
	get func(*row[B]) T
}

func (c col[B, T]) name() string { return c.n }

func (c col[B, T]) values(rows []row[B], buf any) any {
	out, _ := buf.([]T)
	if cap(out) < len(rows) {
		out = make([]T, len(rows))
	}
	out = out[:len(rows)]
	for i := range rows {
		out[i] = c.get(&rows[i])
	}
	return out
}

func (c col[B, T]) release(buf any) {
	if out, ok := buf.([]T); ok {
		clear(out)
	}
}

func newCol[B events.Body, T any](name string, get func(*row[B]) T) column[B] {
	return col[B, T]{n: name, get: get}
}

// table is the ClickHouse table of one event kind.
type table[B events.Body] struct {
	name    string
	columns []column[B]
}

// newTable puts the columns every event table starts with before the
// kind's own.
func newTable[B events.Body](name string, own ...column[B]) *table[B] {
	cols := []column[B]{
		newCol("time", func(r *row[B]) time.Time { return r.time }),
		newCol("time_ns", func(r *row[B]) uint32 { return r.ns }),
		newCol("id", func(r *row[B]) string { return r.id }),
		newCol("seq", func(r *row[B]) uint64 { return r.seq }),
		newCol("seq_index", func(r *row[B]) uint32 { return r.index }), // 006_batch_index.sql
		newCol("source_component", func(r *row[B]) string { return r.src.Component }),
		newCol("source_name", func(r *row[B]) string { return r.src.Name }),
		newCol("source_site", func(r *row[B]) string { return r.src.Site }),
	}
	cols = append(cols, own...)
	cols = append(cols, newCol("body", func(r *row[B]) string { return r.body }))
	return &table[B]{name: name, columns: cols}
}

func (t *table[B]) columnNames() []string {
	names := make([]string, len(t.columns))
	for i, c := range t.columns {
		names[i] = c.name()
	}
	return names
}

// insertSQL names every column: the table may have more (added by a later
// migration with a default), and the order of the DDL is not the order of
// the code.
func (t *table[B]) insertSQL() string {
	return "INSERT INTO " + t.name + " (" + strings.Join(t.columnNames(), ", ") + ")"
}

// batchRows is what the writer does with the rows of one table in a batch.
type batchRows interface {
	table() string
	columnNames() []string
	// add decodes the body of an event into a row; an error wraps
	// errRejected.
	add(m meta, body json.RawMessage) error
	len() int
	// dedupe drops rows whose ID is already in the batch or, when conn is
	// not nil, already stored; it returns how many it dropped.
	dedupe(ctx context.Context, conn driver.Conn) (int, error)
	insert(ctx context.Context, conn driver.Conn) error
	reset()
	// keep drops the rows for which keep returns false (called once per
	// row, in order) and returns how many it dropped.
	keep(keep func(id string) bool) int
	// eachID calls fn with the ID of every row.
	eachID(fn func(id string))
	// reuseColumns makes inserts take the driver's column buffers from
	// p and give them back (nil: every insert starts with empty ones).
	reuseColumns(p *columnPool)
}

type rows[B events.Body] struct {
	t    *table[B]
	rows []row[B]
	bufs []any       // per column, reused by values
	pool *columnPool // the driver's column buffers, from one insert to the next; may be nil
}

func (r *rows[B]) table() string         { return r.t.name }
func (r *rows[B]) columnNames() []string { return r.t.columnNames() }
func (r *rows[B]) len() int              { return len(r.rows) }
func (r *rows[B]) reset()                { clear(r.rows); r.rows = r.rows[:0] }

func (r *rows[B]) reuseColumns(p *columnPool) { r.pool = p }

func (r *rows[B]) keep(keep func(id string) bool) int {
	kept := r.rows[:0]
	for _, x := range r.rows {
		if keep(x.id) {
			kept = append(kept, x)
		}
	}
	dropped := len(r.rows) - len(kept)
	clear(r.rows[len(kept):])
	r.rows = kept
	return dropped
}

func (r *rows[B]) eachID(fn func(id string)) {
	for i := range r.rows {
		fn(r.rows[i].id)
	}
}

func (r *rows[B]) add(m meta, body json.RawMessage) error {
	// Decoded in place: a body decoded into a variable of its own
	// escaped to the heap, one more copy of every event.
	r.rows = append(r.rows, row[B]{meta: m})
	x := &r.rows[len(r.rows)-1]
	if fastDecode {
		switch b := any(&x.b).(type) {
		case *events.Flow:
			if decodeFlowFast(body, b) {
				return nil
			}
			*b = events.Flow{}
		case *events.Observation:
			if decodeObservationFast(body, b) {
				return nil
			}
			*b = events.Observation{}
		}
	}
	if err := json.Unmarshal(body, &x.b); err != nil {
		*x = row[B]{}
		r.rows = r.rows[:len(r.rows)-1]
		return reject("decode %s body: %v", x.b.Kind(), err)
	}
	return nil
}

func (r *rows[B]) dedupe(ctx context.Context, conn driver.Conn) (int, error) {
	if len(r.rows) == 0 {
		return 0, nil
	}
	seen := make(map[string]bool, len(r.rows))
	lo, hi := r.rows[0].time, r.rows[0].time
	for _, x := range r.rows {
		if x.time.Before(lo) {
			lo = x.time
		}
		if x.time.After(hi) {
			hi = x.time
		}
	}
	if conn != nil {
		ids, err := ext.NewTable("batch_ids", ext.Column("id", "FixedString(16)"))
		if err != nil {
			return 0, err
		}
		for _, x := range r.rows {
			if err := ids.Append(x.id); err != nil {
				return 0, err
			}
		}
		// The time range lets the primary key (time, id) skip all but
		// the granules the batch could be in.
		q := "SELECT id FROM " + r.t.name + " WHERE time >= toDateTime(?) AND time <= toDateTime(?) AND id IN batch_ids"
		res, err := conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(ids)), q, unix(lo), unix(hi))
		if err != nil {
			return 0, fmt.Errorf("look up stored ids in %s: %w", r.t.name, err)
		}
		for res.Next() {
			var id string
			if err := res.Scan(&id); err != nil {
				res.Close()
				return 0, fmt.Errorf("look up stored ids in %s: %w", r.t.name, err)
			}
			seen[id] = true
		}
		res.Close()
		if err := res.Err(); err != nil {
			return 0, fmt.Errorf("look up stored ids in %s: %w", r.t.name, err)
		}
	}
	kept := r.rows[:0]
	for _, x := range r.rows {
		if !seen[x.id] {
			seen[x.id] = true
			kept = append(kept, x)
		}
	}
	dropped := len(r.rows) - len(kept)
	clear(r.rows[len(kept):])
	r.rows = kept
	return dropped, nil
}

func (r *rows[B]) insert(ctx context.Context, conn driver.Conn) error {
	if len(r.rows) == 0 {
		return nil
	}
	batch, err := conn.PrepareBatch(ctx, r.t.insertSQL())
	if err != nil {
		return fmt.Errorf("insert into %s: %w", r.t.name, err)
	}
	cols := batch.Columns()
	r.pool.adopt(r.t.name, cols)
	defer r.pool.keep(r.t.name, cols)
	for i, c := range r.t.columns {
		if r.bufs == nil {
			r.bufs = make([]any, len(r.t.columns))
		}
		v := c.values(r.rows, r.bufs[i])
		err := batch.Column(i).Append(v)
		c.release(v)
		r.bufs[i] = v
		if err != nil {
			batch.Abort()
			return fmt.Errorf("insert into %s column %s: %w", r.t.name, c.name(), err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert into %s: %w", r.t.name, err)
	}
	return nil
}

func newRows[B events.Body](t *table[B]) batchRows { return &rows[B]{t: t} }

// The tables of the v1 kinds, in events.Kinds order. Their columns match
// migrations/001_events.sql; a test checks every one exists.
var (
	flowTable = newTable("flows",
		newCol("flow_id", func(r *row[events.Flow]) string { return r.b.FlowID }),
		newCol("phase", func(r *row[events.Flow]) string { return string(r.b.Phase) }),
		newCol("start", func(r *row[events.Flow]) time.Time { return clampTime(r.b.Start) }),
		newCol("duration_ms", func(r *row[events.Flow]) uint64 { return uint64(max(r.b.DurationMS, 0)) }),
		newCol("transport", func(r *row[events.Flow]) string { return r.b.Transport }),
		newCol("vlan", func(r *row[events.Flow]) uint16 { return r.b.VLAN }),
		newCol("inner_vlan", func(r *row[events.Flow]) uint16 { return r.b.InnerVLAN }),
		newCol("orig_device", func(r *row[events.Flow]) string { return events.DeviceKey(r.b.Orig.MAC, r.b.Orig.IP, r.b.VLAN) }),
		newCol("orig_mac", func(r *row[events.Flow]) string { return r.b.Orig.MAC }),
		newCol("orig_ip", func(r *row[events.Flow]) string { return r.b.Orig.IP }),
		newCol("orig_port", func(r *row[events.Flow]) uint16 { return r.b.Orig.Port }),
		newCol("resp_device", func(r *row[events.Flow]) string { return events.DeviceKey(r.b.Resp.MAC, r.b.Resp.IP, r.b.VLAN) }),
		newCol("resp_mac", func(r *row[events.Flow]) string { return r.b.Resp.MAC }),
		newCol("resp_ip", func(r *row[events.Flow]) string { return r.b.Resp.IP }),
		newCol("resp_port", func(r *row[events.Flow]) uint16 { return r.b.Resp.Port }),
		newCol("orig_packets", func(r *row[events.Flow]) uint64 { return r.b.OrigPackets }),
		newCol("resp_packets", func(r *row[events.Flow]) uint64 { return r.b.RespPackets }),
		newCol("orig_bytes", func(r *row[events.Flow]) uint64 { return r.b.OrigBytes }),
		newCol("resp_bytes", func(r *row[events.Flow]) uint64 { return r.b.RespBytes }),
		newCol("orig_payload", func(r *row[events.Flow]) uint64 { return r.b.OrigPayload }),
		newCol("resp_payload", func(r *row[events.Flow]) uint64 { return r.b.RespPayload }),
		newCol("state", func(r *row[events.Flow]) string { return r.b.State }),
		newCol("history", func(r *row[events.Flow]) string { return r.b.History }),
		newCol("app_proto", func(r *row[events.Flow]) string { return r.b.AppProto }),
	)
	observationTable = newTable("observations",
		newCol("device", func(r *row[events.Observation]) string { return r.b.Device }),
		newCol("mac", func(r *row[events.Observation]) string { return r.b.MAC }),
		newCol("ip", func(r *row[events.Observation]) string { return r.b.IP }),
		newCol("vlan", func(r *row[events.Observation]) uint16 { return r.b.VLAN }),
		newCol("attribute", func(r *row[events.Observation]) string { return r.b.Attribute }),
		newCol("value", func(r *row[events.Observation]) string { return r.b.Value }),
		newCol("protocol", func(r *row[events.Observation]) string { return r.b.Protocol }),
		newCol("confidence", func(r *row[events.Observation]) float32 { return float32(r.b.Confidence) }),
		newCol("evidence", func(r *row[events.Observation]) string { return r.b.Evidence }),
		newCol("flow_id", func(r *row[events.Observation]) string { return r.b.FlowID }),
	)
	authTable = newTable("auth",
		newCol("client_device", func(r *row[events.Auth]) string { return events.DeviceKey(r.b.Client.MAC, r.b.Client.IP, r.b.VLAN) }),
		newCol("client_mac", func(r *row[events.Auth]) string { return r.b.Client.MAC }),
		newCol("client_ip", func(r *row[events.Auth]) string { return r.b.Client.IP }),
		newCol("client_port", func(r *row[events.Auth]) uint16 { return r.b.Client.Port }),
		newCol("server_mac", func(r *row[events.Auth]) string { return r.b.Server.MAC }),
		newCol("server_ip", func(r *row[events.Auth]) string { return r.b.Server.IP }),
		newCol("server_port", func(r *row[events.Auth]) uint16 { return r.b.Server.Port }),
		newCol("vlan", func(r *row[events.Auth]) uint16 { return r.b.VLAN }),
		newCol("protocol", func(r *row[events.Auth]) string { return r.b.Protocol }),
		newCol("method", func(r *row[events.Auth]) string { return r.b.Method }),
		newCol("principal", func(r *row[events.Auth]) string { return r.b.Principal }),
		newCol("result", func(r *row[events.Auth]) string { return string(r.b.Result) }),
		newCol("reason", func(r *row[events.Auth]) string { return r.b.Reason }),
		newCol("flow_id", func(r *row[events.Auth]) string { return r.b.FlowID }),
	)
	healthTable = newTable("health",
		newCol("sensor", func(r *row[events.Health]) string { return r.b.Sensor }),
		newCol("interface", func(r *row[events.Health]) string { return r.b.Interface }),
		newCol("interval_ms", func(r *row[events.Health]) uint64 { return uint64(max(r.b.IntervalMS, 0)) }),
		newCol("packets", func(r *row[events.Health]) uint64 { return r.b.Packets }),
		newCol("bytes", func(r *row[events.Health]) uint64 { return r.b.Bytes }),
		newCol("kernel_drops", func(r *row[events.Health]) uint64 { return r.b.KernelDrops }),
		newCol("decode_errors", func(r *row[events.Health]) uint64 { return r.b.DecodeErrors }),
		newCol("truncated", func(r *row[events.Health]) uint64 { return r.b.Truncated }),
		newCol("active_flows", func(r *row[events.Health]) uint64 { return r.b.ActiveFlows }),
		newCol("flow_evictions", func(r *row[events.Health]) uint64 { return r.b.FlowEvictions }),
		newCol("publish_errors", func(r *row[events.Health]) uint64 { return r.b.PublishErrors }),
		newCol("silent", func(r *row[events.Health]) uint8 { return bit(r.b.Silent) }),
		newCol("final", func(r *row[events.Health]) uint8 { return bit(r.b.Final) }),
		// A pipeline process's report: migrations/005_pipeline_health.sql.
		newCol("process", func(r *row[events.Health]) string { return pipelineOf(r).Process }),
		newCol("consumers_error", func(r *row[events.Health]) string { return pipelineOf(r).ConsumersError }),
		consumerCol("consumer_stream", func(c events.ConsumerHealth) string { return c.Stream }),
		consumerCol("consumer_durable", func(c events.ConsumerHealth) string { return c.Durable }),
		consumerCol("consumer_pending", func(c events.ConsumerHealth) uint64 { return c.Pending }),
		consumerCol("consumer_ack_pending", func(c events.ConsumerHealth) uint64 { return c.AckPending }),
		consumerCol("consumer_redelivered", func(c events.ConsumerHealth) uint64 { return c.Redelivered }),
		consumerCol("consumer_ack_floor", func(c events.ConsumerHealth) uint64 { return c.AckFloor }),
		consumerCol("consumer_oldest_unacked_ns", func(c events.ConsumerHealth) uint64 { return uint64(max(c.OldestUnacked, 0)) }),
		newCol("bus_published", func(r *row[events.Health]) uint64 { return pipelineOf(r).Bus.Published }),
		newCol("bus_duplicates", func(r *row[events.Health]) uint64 { return pipelineOf(r).Bus.Duplicates }),
		newCol("bus_publish_errors", func(r *row[events.Health]) uint64 { return pipelineOf(r).Bus.PublishErrors }),
		newCol("bus_delivered", func(r *row[events.Health]) uint64 { return pipelineOf(r).Bus.Delivered }),
		newCol("bus_redelivered", func(r *row[events.Health]) uint64 { return pipelineOf(r).Bus.Redelivered }),
		newCol("bus_retries", func(r *row[events.Health]) uint64 { return pipelineOf(r).Bus.Retries }),
		newCol("bus_poison", func(r *row[events.Health]) uint64 { return pipelineOf(r).Bus.Poison }),
		newCol("store_writer", func(r *row[events.Health]) uint8 { return bit(pipelineOf(r).Store != nil) }),
		newCol("store_received", func(r *row[events.Health]) uint64 { return storeOf(r).Received }),
		newCol("store_inserted", func(r *row[events.Health]) uint64 { return storeOf(r).Inserted }),
		newCol("store_duplicates", func(r *row[events.Health]) uint64 { return storeOf(r).Duplicates }),
		newCol("store_rejected", func(r *row[events.Health]) uint64 { return storeOf(r).Rejected }),
		newCol("store_insert_errors", func(r *row[events.Health]) uint64 { return storeOf(r).InsertErrors }),
		newCol("store_batches", func(r *row[events.Health]) uint64 { return storeOf(r).Batches }),
		newCol("store_ack_errors", func(r *row[events.Health]) uint64 { return storeOf(r).AckErrors }),
	)
	deviationTable = newTable("deviations",
		newCol("type", func(r *row[events.Deviation]) string { return string(r.b.Type) }),
		newCol("device", func(r *row[events.Deviation]) string { return r.b.Device.Key }),
		newCol("device_id", func(r *row[events.Deviation]) string { return r.b.Device.ID }),
		newCol("device_mac", func(r *row[events.Deviation]) string { return r.b.Device.MAC }),
		newCol("category", func(r *row[events.Deviation]) string { return r.b.Device.Category }),
		newCol("medical", func(r *row[events.Deviation]) uint8 { return bit(r.b.Device.Medical) }),
		newCol("criticality", func(r *row[events.Deviation]) string { return r.b.Device.Criticality }),
		newCol("site", func(r *row[events.Deviation]) string { return r.b.Device.Site }),
		newCol("department", func(r *row[events.Deviation]) string { return r.b.Device.Department }),
		newCol("direction", func(r *row[events.Deviation]) string { return r.b.Direction }),
		newCol("peer_mac", func(r *row[events.Deviation]) string { return peer(r.b.Peer).MAC }),
		newCol("peer_ip", func(r *row[events.Deviation]) string { return peer(r.b.Peer).IP }),
		newCol("peer_port", func(r *row[events.Deviation]) uint16 { return peer(r.b.Peer).Port }),
		newCol("transport", func(r *row[events.Deviation]) string { return r.b.Transport }),
		newCol("port", func(r *row[events.Deviation]) uint16 { return r.b.Port }),
		newCol("app_proto", func(r *row[events.Deviation]) string { return r.b.AppProto }),
		newCol("count", func(r *row[events.Deviation]) uint64 { return uint64(max(r.b.Count, 0)) }),
		newCol("summary", func(r *row[events.Deviation]) string { return r.b.Summary }),
		newCol("baseline_ready", func(r *row[events.Deviation]) uint8 { return bit(r.b.Baseline.Ready) }),
	)
	deviceChangeTable = newTable("device_changes",
		newCol("device", func(r *row[events.DeviceChange]) string { return r.b.Device.Key }),
		newCol("device_id", func(r *row[events.DeviceChange]) string { return r.b.Device.ID }),
		newCol("device_mac", func(r *row[events.DeviceChange]) string { return r.b.Device.MAC }),
		newCol("change", func(r *row[events.DeviceChange]) string { return string(r.b.Change) }),
		newCol("attribute", func(r *row[events.DeviceChange]) string { return r.b.Attribute }),
		newCol("old_value", func(r *row[events.DeviceChange]) string { return r.b.Old }),
		newCol("new_value", func(r *row[events.DeviceChange]) string { return r.b.New }),
		newCol("summary", func(r *row[events.DeviceChange]) string { return r.b.Summary }),
	)
	decisionTable = newTable("decisions",
		newCol("query", func(r *row[events.Decision]) string { return r.b.Query }),
		newCol("revision", func(r *row[events.Decision]) string { return r.b.Revision }),
		newCol("input_kind", func(r *row[events.Decision]) string { return string(r.b.InputKind) }),
		newCol("input_id", func(r *row[events.Decision]) string { return r.b.InputID }),
		newCol("input_hash", func(r *row[events.Decision]) string { return r.b.InputHash }),
		newCol("device", func(r *row[events.Decision]) string { return r.b.Device }),
		newCol("alerts", func(r *row[events.Decision]) uint32 { return uint32(max(r.b.Alerts, 0)) }),
		newCol("enforce", func(r *row[events.Decision]) uint32 { return uint32(len(r.b.Enforce)) }),
		newCol("error", func(r *row[events.Decision]) string { return r.b.Error }),
	)
	alertTable = newTable("alerts",
		newCol("rule", func(r *row[events.Alert]) string { return r.b.Rule }),
		newCol("severity", func(r *row[events.Alert]) string { return string(r.b.Severity) }),
		newCol("title", func(r *row[events.Alert]) string { return r.b.Title }),
		newCol("device", func(r *row[events.Alert]) string { return r.b.Device.Key }),
		newCol("device_id", func(r *row[events.Alert]) string { return r.b.Device.ID }),
		newCol("device_mac", func(r *row[events.Alert]) string { return r.b.Device.MAC }),
		newCol("category", func(r *row[events.Alert]) string { return r.b.Device.Category }),
		newCol("criticality", func(r *row[events.Alert]) string { return r.b.Device.Criticality }),
		newCol("peer_ip", func(r *row[events.Alert]) string { return peer(r.b.Peer).IP }),
		newCol("peer_port", func(r *row[events.Alert]) uint16 { return peer(r.b.Peer).Port }),
		newCol("tags", func(r *row[events.Alert]) []string { return nonNil(r.b.Tags) }),
		newCol("deviation_id", func(r *row[events.Alert]) string { return r.b.DeviationID }),
		newCol("decision_id", func(r *row[events.Alert]) string { return r.b.DecisionID }),
		newCol("policy_revision", func(r *row[events.Alert]) string { return r.b.PolicyRevision }),
	)
	enforcementTable = newTable("enforcements",
		newCol("step", func(r *row[events.Enforcement]) string { return string(r.b.Step) }),
		newCol("request_id", func(r *row[events.Enforcement]) string { return r.b.RequestID }),
		newCol("device", func(r *row[events.Enforcement]) string { return r.b.Device }),
		newCol("scope_ip", func(r *row[events.Enforcement]) string { return r.b.Scope.IP }),
		newCol("scope_peer_ip", func(r *row[events.Enforcement]) string { return r.b.Scope.PeerIP }),
		newCol("scope_port", func(r *row[events.Enforcement]) uint16 { return r.b.Scope.Port }),
		newCol("scope_transport", func(r *row[events.Enforcement]) string { return r.b.Scope.Transport }),
		newCol("scope_mac", func(r *row[events.Enforcement]) string { return r.b.Scope.MAC }),
		newCol("duration_s", func(r *row[events.Enforcement]) int64 { return r.b.DurationS }),
		newCol("backend", func(r *row[events.Enforcement]) string { return r.b.Backend }),
		newCol("dry_run", func(r *row[events.Enforcement]) uint8 { return bit(r.b.DryRun) }),
		newCol("reason", func(r *row[events.Enforcement]) string { return r.b.Reason }),
		newCol("alert_id", func(r *row[events.Enforcement]) string { return r.b.AlertID }),
		newCol("decision_id", func(r *row[events.Enforcement]) string { return r.b.DecisionID }),
	)
)

// newKindRows returns empty rows for every v1 kind.
func newKindRows() map[events.Kind]batchRows {
	return map[events.Kind]batchRows{
		events.KindFlow:         newRows(flowTable),
		events.KindObservation:  newRows(observationTable),
		events.KindAuth:         newRows(authTable),
		events.KindHealth:       newRows(healthTable),
		events.KindDeviation:    newRows(deviationTable),
		events.KindDeviceChange: newRows(deviceChangeTable),
		events.KindDecision:     newRows(decisionTable),
		events.KindAlert:        newRows(alertTable),
		events.KindEnforcement:  newRows(enforcementTable),
		// 004_vuln_risk_alert_state.sql
		events.KindVulnerability: newRows(vulnerabilityTable),
		events.KindRisk:          newRows(riskTable),
		events.KindAlertState:    newRows(alertStateTable),
	}
}

// pipelineOf is the pipeline report of a health row; a sensor's report
// has none and gets the zero one (empty columns).
func pipelineOf(r *row[events.Health]) *events.PipelineHealth {
	if r.b.Pipeline == nil {
		return &events.PipelineHealth{}
	}
	return r.b.Pipeline
}

// storeOf is the writer's counters of a health row, zero without.
func storeOf(r *row[events.Health]) events.StoreHealth {
	if s := pipelineOf(r).Store; s != nil {
		return *s
	}
	return events.StoreHealth{}
}

// consumerCol is one of the parallel consumer_* arrays of the health
// table: one element per consumer of a pipeline report, none for a
// sensor's.
func consumerCol[T any](name string, get func(events.ConsumerHealth) T) column[events.Health] {
	return newCol(name, func(r *row[events.Health]) []T {
		cons := pipelineOf(r).Consumers
		out := make([]T, len(cons))
		for i, c := range cons {
			out[i] = get(c)
		}
		return out
	})
}

func peer(p *events.Endpoint) events.Endpoint {
	if p == nil {
		return events.Endpoint{}
	}
	return *p
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// rejected is a message stored in rejected_events.
type rejected struct {
	received time.Time
	stream   string
	seq      uint64
	subject  string
	kind     string
	id       string
	err      string
	data     string
}

// maxRejectedData bounds what is kept of a rejected payload.
const maxRejectedData = 64 << 10

func insertRejected(ctx context.Context, conn driver.Conn, rs []rejected) error {
	if len(rs) == 0 {
		return nil
	}
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO rejected_events (received, stream, seq, subject, kind, id, error, data)")
	if err != nil {
		return fmt.Errorf("insert into rejected_events: %w", err)
	}
	for _, r := range rs {
		if err := batch.Append(r.received, r.stream, r.seq, r.subject, r.kind, r.id, r.err, r.data); err != nil {
			batch.Abort()
			return fmt.Errorf("insert into rejected_events: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert into rejected_events: %w", err)
	}
	return nil
}

// The tables of migrations/004_vuln_risk_alert_state.sql.
var (
	vulnerabilityTable = newTable("vulnerabilities",
		newCol("device", func(r *row[events.Vulnerability]) string { return r.b.Device.Key }),
		newCol("device_id", func(r *row[events.Vulnerability]) string { return r.b.Device.ID }),
		newCol("device_mac", func(r *row[events.Vulnerability]) string { return r.b.Device.MAC }),
		newCol("category", func(r *row[events.Vulnerability]) string { return r.b.Device.Category }),
		newCol("medical", func(r *row[events.Vulnerability]) uint8 { return bit(r.b.Device.Medical) }),
		newCol("criticality", func(r *row[events.Vulnerability]) string { return r.b.Device.Criticality }),
		newCol("status", func(r *row[events.Vulnerability]) string { return string(r.b.Status) }),
		newCol("vuln_id", func(r *row[events.Vulnerability]) string { return r.b.ID }),
		newCol("type", func(r *row[events.Vulnerability]) string { return r.b.Type }),
		newCol("confidence", func(r *row[events.Vulnerability]) string { return r.b.Confidence }),
		newCol("product", func(r *row[events.Vulnerability]) string { return r.b.Product }),
		newCol("version", func(r *row[events.Vulnerability]) string { return r.b.Version }),
		newCol("cvss", func(r *row[events.Vulnerability]) float64 { return r.b.CVSS }),
		newCol("epss", func(r *row[events.Vulnerability]) float64 { return r.b.EPSS }),
		newCol("kev", func(r *row[events.Vulnerability]) uint8 { return bit(r.b.KEV) }),
		newCol("fixed_in", func(r *row[events.Vulnerability]) string { return r.b.FixedIn }),
		newCol("detected_at", func(r *row[events.Vulnerability]) time.Time { return clampTime(r.b.DetectedAt) }),
		newCol("days_open", func(r *row[events.Vulnerability]) int32 { return int32(r.b.DaysOpen) }),
		newCol("summary", func(r *row[events.Vulnerability]) string { return r.b.Summary }),
	)
	riskTable = newTable("risks",
		newCol("device", func(r *row[events.Risk]) string { return r.b.Device.Key }),
		newCol("device_id", func(r *row[events.Risk]) string { return r.b.Device.ID }),
		newCol("device_mac", func(r *row[events.Risk]) string { return r.b.Device.MAC }),
		newCol("category", func(r *row[events.Risk]) string { return r.b.Device.Category }),
		newCol("medical", func(r *row[events.Risk]) uint8 { return bit(r.b.Device.Medical) }),
		newCol("criticality", func(r *row[events.Risk]) string { return r.b.Device.Criticality }),
		newCol("formula", func(r *row[events.Risk]) string { return r.b.Formula }),
		newCol("score", func(r *row[events.Risk]) float64 { return r.b.Score }),
		newCol("previous", func(r *row[events.Risk]) float64 { return r.b.Previous }),
		newCol("level", func(r *row[events.Risk]) string { return r.b.Level }),
		newCol("likelihood", func(r *row[events.Risk]) float64 { return r.b.Likelihood }),
		newCol("impact", func(r *row[events.Risk]) float64 { return r.b.Impact }),
		newCol("summary", func(r *row[events.Risk]) string { return r.b.Summary }),
	)
	alertStateTable = newTable("alert_states",
		newCol("action", func(r *row[events.AlertState]) string { return string(r.b.Action) }),
		newCol("incident", func(r *row[events.AlertState]) string { return r.b.Incident }),
		newCol("device", func(r *row[events.AlertState]) string { return r.b.Device }),
		newCol("actor", func(r *row[events.AlertState]) string { return r.b.Actor }),
		newCol("note", func(r *row[events.AlertState]) string { return r.b.Note }),
		newCol("alert_id", func(r *row[events.AlertState]) string { return r.b.AlertID }),
		newCol("suppression_id", func(r *row[events.AlertState]) string { return r.b.SuppressionID }),
	)
)
