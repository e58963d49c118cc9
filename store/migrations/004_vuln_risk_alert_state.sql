-- 004: the kinds added after 001: vulnerability findings and risk scores
-- (analytics stream) and alert state changes (alerts stream).
--
-- Same shape as 001: the common columns, the typed columns queries filter
-- on, the body as received; ReplacingMergeTree keyed by (time, id).
-- Lists (advisories, evidence) stay in the body; CVSS, EPSS and scores
-- are Float64 because the bodies carry them so.

CREATE TABLE IF NOT EXISTS vulnerabilities (
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
    category String,
    medical UInt8,
    criticality String,
    status String,
    vuln_id String,
    type String,
    confidence String,
    product String,
    version String,
    cvss Float64,
    epss Float64,
    kev UInt8,
    fixed_in String,
    detected_at DateTime('UTC'),
    days_open Int32,
    summary String,
    body String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, id);

CREATE TABLE IF NOT EXISTS risks (
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
    category String,
    medical UInt8,
    criticality String,
    formula String,
    score Float64,
    previous Float64,
    level String,
    likelihood Float64,
    impact Float64,
    summary String,
    body String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, id);

CREATE TABLE IF NOT EXISTS alert_states (
    time DateTime('UTC'),
    time_ns UInt32,
    id FixedString(16),
    seq UInt64,
    source_component String,
    source_name String,
    source_site String,
    action String,
    incident String,
    device String,
    actor String,
    note String,
    alert_id String,
    suppression_id String,
    body String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, id);
