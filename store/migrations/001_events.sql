-- 001: one table per v1 event kind.
--
-- Every table starts with the same columns: the event time as DateTime
-- (seconds) plus time_ns (nanoseconds within that second: DateTime64 does
-- not exist before ClickHouse 20.1), the event ID as 16 raw bytes, the
-- JetStream stream sequence, the source, and the JSON body as received
-- (everything the typed columns leave out). The typed columns are what
-- queries filter and group on.
--
-- ReplacingMergeTree keyed by (time, id): a redelivered event has the same
-- ID and time, so merges keep one copy, and queries that must not count a
-- copy twice read with FINAL or count uniqExact(id). Partitions are
-- monthly (daily for flows, the big one), so retention is a DROP
-- PARTITION: 18.16 has no TTL.
--
-- Strings with few values (phase, transport, severity...) are String, not
-- LowCardinality(String): that type is experimental before 19.x and needs
-- a setting there.

CREATE TABLE IF NOT EXISTS flows (
    time DateTime('UTC'),
    time_ns UInt32,
    id FixedString(16),
    seq UInt64,
    source_component String,
    source_name String,
    source_site String,
    flow_id String,
    phase String,
    start DateTime('UTC'),
    duration_ms UInt64,
    transport String,
    vlan UInt16,
    inner_vlan UInt16,
    orig_device String,
    orig_mac String,
    orig_ip String,
    orig_port UInt16,
    resp_device String,
    resp_mac String,
    resp_ip String,
    resp_port UInt16,
    orig_packets UInt64,
    resp_packets UInt64,
    orig_bytes UInt64,
    resp_bytes UInt64,
    orig_payload UInt64,
    resp_payload UInt64,
    state String,
    history String,
    app_proto String,
    body String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(time)
ORDER BY (time, id);

CREATE TABLE IF NOT EXISTS observations (
    time DateTime('UTC'),
    time_ns UInt32,
    id FixedString(16),
    seq UInt64,
    source_component String,
    source_name String,
    source_site String,
    device String,
    mac String,
    ip String,
    vlan UInt16,
    attribute String,
    value String,
    protocol String,
    confidence Float32,
    evidence String,
    flow_id String,
    body String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, id);

CREATE TABLE IF NOT EXISTS auth (
    time DateTime('UTC'),
    time_ns UInt32,
    id FixedString(16),
    seq UInt64,
    source_component String,
    source_name String,
    source_site String,
    client_device String,
    client_mac String,
    client_ip String,
    client_port UInt16,
    server_mac String,
    server_ip String,
    server_port UInt16,
    vlan UInt16,
    protocol String,
    method String,
    principal String,
    result String,
    reason String,
    flow_id String,
    body String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, id);

CREATE TABLE IF NOT EXISTS health (
    time DateTime('UTC'),
    time_ns UInt32,
    id FixedString(16),
    seq UInt64,
    source_component String,
    source_name String,
    source_site String,
    sensor String,
    interface String,
    interval_ms UInt64,
    packets UInt64,
    bytes UInt64,
    kernel_drops UInt64,
    decode_errors UInt64,
    truncated UInt64,
    active_flows UInt64,
    flow_evictions UInt64,
    publish_errors UInt64,
    silent UInt8,
    final UInt8,
    body String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, id);

CREATE TABLE IF NOT EXISTS deviations (
    time DateTime('UTC'),
    time_ns UInt32,
    id FixedString(16),
    seq UInt64,
    source_component String,
    source_name String,
    source_site String,
    type String,
    device String,
    device_id String,
    device_mac String,
    category String,
    medical UInt8,
    criticality String,
    site String,
    department String,
    direction String,
    peer_mac String,
    peer_ip String,
    peer_port UInt16,
    transport String,
    port UInt16,
    app_proto String,
    count UInt64,
    summary String,
    baseline_ready UInt8,
    body String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, id);

CREATE TABLE IF NOT EXISTS device_changes (
    time DateTime('UTC'),
    time_ns UInt32,
    id FixedString(16),
    seq UInt64,
    source_component String,
    source_name String,
    source_site String,
    device String,
    device_id String,
    device_mac String,
    change String,
    attribute String,
    old_value String,
    new_value String,
    summary String,
    body String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, id);

CREATE TABLE IF NOT EXISTS decisions (
    time DateTime('UTC'),
    time_ns UInt32,
    id FixedString(16),
    seq UInt64,
    source_component String,
    source_name String,
    source_site String,
    query String,
    revision String,
    input_kind String,
    input_id String,
    input_hash String,
    device String,
    alerts UInt32,
    enforce UInt32,
    error String,
    body String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, id);

CREATE TABLE IF NOT EXISTS alerts (
    time DateTime('UTC'),
    time_ns UInt32,
    id FixedString(16),
    seq UInt64,
    source_component String,
    source_name String,
    source_site String,
    rule String,
    severity String,
    title String,
    device String,
    device_id String,
    device_mac String,
    category String,
    criticality String,
    peer_ip String,
    peer_port UInt16,
    tags Array(String),
    deviation_id String,
    decision_id String,
    policy_revision String,
    body String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, id);

CREATE TABLE IF NOT EXISTS enforcements (
    time DateTime('UTC'),
    time_ns UInt32,
    id FixedString(16),
    seq UInt64,
    source_component String,
    source_name String,
    source_site String,
    step String,
    request_id String,
    device String,
    scope_ip String,
    scope_peer_ip String,
    scope_port UInt16,
    scope_transport String,
    scope_mac String,
    duration_s Int64,
    backend String,
    dry_run UInt8,
    reason String,
    alert_id String,
    decision_id String,
    body String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, id);
