-- 003: messages the writer could not store as events.
--
-- A payload that does not decode, a version or kind this build does not
-- know, or a time a DateTime cannot hold is kept here whole, with the
-- reason, instead of blocking the stream or vanishing: loss is data. Keyed
-- by stream and sequence, so a redelivered bad message is one row after
-- merges (read with FINAL).

CREATE TABLE IF NOT EXISTS rejected_events (
    received DateTime('UTC'),
    stream String,
    seq UInt64,
    subject String,
    kind String,
    id String,
    error String,
    data String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received)
ORDER BY (stream, seq);
