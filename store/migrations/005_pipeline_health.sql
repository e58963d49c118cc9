-- 005: the pipeline's health in the health table.
--
-- A health event is either a sensor's report (the columns of 001) or, with
-- a "pipeline" object in its body, the report of a pipeline process (an
-- engine, or vigil run): the lag of every durable consumer, the process's
-- bus counters and its ClickHouse writer's (events.PipelineHealth). Both
-- stay one kind in one table, as every kind is (replay and the event
-- counts read one table per kind); a row of one sort has the other's
-- columns empty: process = '' on a sensor's row, sensor = '' on a
-- process's.
--
-- Consumers are parallel arrays, one element per durable consumer in the
-- same order, read with ARRAY JOIN (which also skips the sensors' rows,
-- whose arrays are empty):
--
--   SELECT time, source_name, stream, durable, pending, oldest_ns / 1e9
--   FROM health FINAL
--   ARRAY JOIN consumer_stream AS stream, consumer_durable AS durable,
--              consumer_pending AS pending, consumer_oldest_unacked_ns AS oldest_ns
--   WHERE time >= now() - 3600
--
-- Plain arrays, not Nested: they read the same on 18.16 and current
-- servers and insert as ordinary Array columns. One ALTER with every
-- column: the server applies it whole, and a repeated run answers
-- "already exists", which the migration runner counts as done (18.16 has
-- no ADD COLUMN IF NOT EXISTS).

ALTER TABLE health
    ADD COLUMN process String,
    ADD COLUMN consumers_error String,
    ADD COLUMN consumer_stream Array(String),
    ADD COLUMN consumer_durable Array(String),
    ADD COLUMN consumer_pending Array(UInt64),
    ADD COLUMN consumer_ack_pending Array(UInt64),
    ADD COLUMN consumer_redelivered Array(UInt64),
    ADD COLUMN consumer_ack_floor Array(UInt64),
    ADD COLUMN consumer_oldest_unacked_ns Array(UInt64),
    ADD COLUMN bus_published UInt64,
    ADD COLUMN bus_duplicates UInt64,
    ADD COLUMN bus_publish_errors UInt64,
    ADD COLUMN bus_delivered UInt64,
    ADD COLUMN bus_redelivered UInt64,
    ADD COLUMN bus_retries UInt64,
    ADD COLUMN bus_poison UInt64,
    ADD COLUMN store_writer UInt8,
    ADD COLUMN store_received UInt64,
    ADD COLUMN store_inserted UInt64,
    ADD COLUMN store_duplicates UInt64,
    ADD COLUMN store_rejected UInt64,
    ADD COLUMN store_insert_errors UInt64,
    ADD COLUMN store_batches UInt64,
    ADD COLUMN store_ack_errors UInt64;
