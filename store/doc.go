// Package store is Vigil's ClickHouse sink: the schema and its
// migrations, the batched writer that copies every v1 event from
// JetStream into ClickHouse, and the history queries of the API and
// dashboard. README.md shows the flow through it.
//
// The SQL runs unchanged on the ClickHouse that Debian installs (18.16)
// and on current releases (checked against 26.7 through chDB, see
// testdata/current-clickhouse). The decisions below are the ones a reader
// would otherwise have to rediscover.
//
// # Why the writer does not use events.Bus.Consume
//
// events.Bus.Consume hands one message at a time to a handler and
// acknowledges it when the handler returns; it fetches the next message
// only then. A handler that blocks until "its" batch is inserted would
// therefore make batches of one event, one INSERT per event; a handler
// that returns before the insert would acknowledge events that are not
// stored, which the design forbids. Running several Consume calls on one
// durable consumer does not help either: Consume skips a sequence lower
// than the last it handled as already done, and a redelivery handed to
// another puller is exactly that, so events would be acknowledged unseen.
//
// So the writer pulls batches itself, through the bus's JetStream handle
// (Bus is the one-method interface it needs), with the same guarantees:
// a durable consumer "store" on each of the four streams, explicit
// acknowledgement of each message only after the batch's insert
// succeeded, and MaxAckPending large enough for the batches in hand. Per
// stream, one goroutine fetches up to MaxRows messages for at most
// FlushInterval (jetstream.Consumer.Fetch does both thresholds) and
// decodes them, while another inserts the previous batch and acknowledges
// it. The loop is self-contained so that it can move into events as a
// ConsumeBatch beside Consume when a second batch consumer appears.
//
// # A redelivered event never appears twice
//
// Three layers, each covering what the previous one cannot:
//
//  1. JetStream drops a publish whose Nats-Msg-Id (the event ID) it saw
//     within the duplicate window (2 h).
//  2. The writer inserts an event only if its ID is not stored yet: before
//     each table's insert it looks the batch's IDs up in that table
//     (an external table of IDs, and the batch's time range so that the
//     (time, id) primary key reads a few granules), and drops stored IDs
//     and copies within the batch. This covers the copies JetStream keeps
//     (a capture re-read after the window), redeliveries (an
//     acknowledgement lost, a writer that died after its insert) and an
//     insert that failed after the server took it (retried). Because no
//     copy is inserted, the rollup views stay exact: a materialized view
//     sees every inserted row and cannot tell a copy.
//  3. Event tables are ReplacingMergeTree ordered by (time, id), and
//     queries read them with FINAL (the fastest way on 18.16: see
//     Queries). A copy that slips past
//     the look-up (two writers inserting the same redelivered batch at
//     the same moment) is invisible in event queries and merged away. It
//     would be counted twice by the traffic rollups; rebuilding a time
//     range of them from flows FINAL repairs that (not written yet).
//
// Measured and rejected: insert_deduplicate works on Replicated tables
// only and needs the same block, which a batch of other boundaries is
// not; non_replicated_deduplication_window does not exist before 20.x;
// relying on FINAL alone leaves the rollups counting every copy.
//
// # What 18.16 lacks, and what the schema does instead
//
//   - DateTime64: times are DateTime (seconds, UTC) plus time_ns, the
//     nanoseconds within the second, so an event rebuilt from its row has
//     its exact time and therefore its ID (the replay from ClickHouse
//     needs that). Milliseconds are intDiv(time_ns, 1000000).
//   - LowCardinality (experimental, behind a setting), IPv4/IPv6, Map,
//     SimpleAggregateFunction, column codecs, TTL: strings are String,
//     addresses their text, counters UInt64 sums in SummingMergeTree,
//     retention a DROP PARTITION of the daily (flows) or monthly
//     partitions.
//   - ADD COLUMN IF NOT EXISTS: a migration that is run again treats the
//     server's "already exists" answers as done.
//   - INSERT ... VALUES as a plain query: 18.16 waits for a data block
//     that clickhouse-go does not send; every insert is a native batch.
//   - Server-side query parameters, toStartOfInterval, WITH FILL: queries
//     bind numbers client-side (toDateTime(n)), bucket with intDiv, and
//     fill empty buckets in Go.
//   - A materialized view does not fire on rows another view inserted, so
//     the minute and hour rollups both read flows.
//   - The HTTP interface is not used: clickhouse-go speaks the native
//     protocol, which 18.16 and current servers both accept.
//
// # Flow counters are totals
//
// A flow event carries totals since the flow began, and long flows are
// reported every active timeout before their end. The rollups count only
// the final report (phase "end"): a flow's traffic lands in the minute it
// ended, and a flow still open is not in them yet. Delta counters in the
// flow body would let updates count too.
//
// # Failures
//
// A message that cannot be an event row (not JSON, another version, an ID
// that is not 32 hex digits, a time DateTime cannot hold, a body of the
// wrong shape, an unknown kind) is stored in rejected_events with the
// reason, counted, and acknowledged with its batch: it neither blocks the
// stream nor vanishes. A failed insert is counted and retried with
// backoff (100ms doubling to MaxBackoff) until it works or Stop gives up;
// meanwhile the writer tells JetStream it is still working on the batch,
// and the next events wait in JetStream. (The one batch already fetched
// behind it gets no such heartbeat: after AckWait JetStream may deliver
// it again, and the copies are then found stored and dropped.) Stop stops fetching, flushes the
// batches in hand, and returns when they are acknowledged or its context
// ends, leaving them unacknowledged for the next writer.
package store
