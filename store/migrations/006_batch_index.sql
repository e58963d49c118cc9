-- 006: the index of an event within its JetStream message.
--
-- The sensor publishes batches: several events in one message, so one
-- stream sequence (seq) for all of them. seq_index is the event's place
-- in its message; a replay from ClickHouse orders by (seq, seq_index),
-- the order the live projections consumed. Rows stored before batches
-- were one event per message: 0 is their right value.
--
-- One statement per table: 18.16 has no ADD COLUMN IF NOT EXISTS, and a
-- repeated run's "already exists" is counted as done.

ALTER TABLE flows ADD COLUMN seq_index UInt32;
ALTER TABLE observations ADD COLUMN seq_index UInt32;
ALTER TABLE auth ADD COLUMN seq_index UInt32;
ALTER TABLE health ADD COLUMN seq_index UInt32;
ALTER TABLE deviations ADD COLUMN seq_index UInt32;
ALTER TABLE device_changes ADD COLUMN seq_index UInt32;
ALTER TABLE decisions ADD COLUMN seq_index UInt32;
ALTER TABLE alerts ADD COLUMN seq_index UInt32;
ALTER TABLE enforcements ADD COLUMN seq_index UInt32;
ALTER TABLE vulnerabilities ADD COLUMN seq_index UInt32;
ALTER TABLE risks ADD COLUMN seq_index UInt32;
ALTER TABLE alert_states ADD COLUMN seq_index UInt32;
