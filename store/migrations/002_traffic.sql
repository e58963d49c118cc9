-- 002: traffic per device and peer, per minute and per hour.
--
-- Materialized views fill SummingMergeTree tables from the flows inserted.
-- Each flow is counted once per side: a row for the originator
-- (outbound = 1, bytes_out = orig_bytes) and one for the responder
-- (outbound = 0, bytes_out = resp_bytes), so "device" is either end.
-- Counters of a flow event are totals since the flow began, so only the
-- final report (phase 'end') is counted: a flow's traffic lands in the
-- minute it ended.
--
-- A view sees every inserted row, copies included: the writer inserts an
-- event only when its ID is not already stored (see doc.go), which is what
-- keeps these sums exact. Rows of one key are summed by merges, and not
-- yet merged rows by queries: always read with sum() ... GROUP BY.

CREATE TABLE IF NOT EXISTS traffic_1m (
    time DateTime('UTC'),
    device String,
    ip String,
    peer_device String,
    peer_ip String,
    outbound UInt8,
    transport String,
    port UInt16,
    app_proto String,
    flows UInt64,
    packets_out UInt64,
    packets_in UInt64,
    bytes_out UInt64,
    bytes_in UInt64
) ENGINE = SummingMergeTree((flows, packets_out, packets_in, bytes_out, bytes_in))
PARTITION BY toYYYYMMDD(time)
ORDER BY (device, time, peer_ip, peer_device, ip, outbound, transport, port, app_proto);

CREATE MATERIALIZED VIEW IF NOT EXISTS traffic_1m_mv TO traffic_1m AS
SELECT
    toStartOfMinute(time) AS time,
    if(side = 1, orig_device, resp_device) AS device,
    if(side = 1, orig_ip, resp_ip) AS ip,
    if(side = 1, resp_device, orig_device) AS peer_device,
    if(side = 1, resp_ip, orig_ip) AS peer_ip,
    side AS outbound,
    transport,
    resp_port AS port,
    app_proto,
    count() AS flows,
    sum(if(side = 1, orig_packets, resp_packets)) AS packets_out,
    sum(if(side = 1, resp_packets, orig_packets)) AS packets_in,
    sum(if(side = 1, orig_bytes, resp_bytes)) AS bytes_out,
    sum(if(side = 1, resp_bytes, orig_bytes)) AS bytes_in
FROM flows
ARRAY JOIN [toUInt8(1), toUInt8(0)] AS side
WHERE phase = 'end'
GROUP BY time, device, ip, peer_device, peer_ip, outbound, transport, port, app_proto;

CREATE TABLE IF NOT EXISTS traffic_1h (
    time DateTime('UTC'),
    device String,
    ip String,
    peer_device String,
    peer_ip String,
    outbound UInt8,
    transport String,
    port UInt16,
    app_proto String,
    flows UInt64,
    packets_out UInt64,
    packets_in UInt64,
    bytes_out UInt64,
    bytes_in UInt64
) ENGINE = SummingMergeTree((flows, packets_out, packets_in, bytes_out, bytes_in))
PARTITION BY toYYYYMM(time)
ORDER BY (device, time, peer_ip, peer_device, ip, outbound, transport, port, app_proto);

CREATE MATERIALIZED VIEW IF NOT EXISTS traffic_1h_mv TO traffic_1h AS
SELECT
    toStartOfHour(time) AS time,
    if(side = 1, orig_device, resp_device) AS device,
    if(side = 1, orig_ip, resp_ip) AS ip,
    if(side = 1, resp_device, orig_device) AS peer_device,
    if(side = 1, resp_ip, orig_ip) AS peer_ip,
    side AS outbound,
    transport,
    resp_port AS port,
    app_proto,
    count() AS flows,
    sum(if(side = 1, orig_packets, resp_packets)) AS packets_out,
    sum(if(side = 1, resp_packets, orig_packets)) AS packets_in,
    sum(if(side = 1, orig_bytes, resp_bytes)) AS bytes_out,
    sum(if(side = 1, resp_bytes, orig_bytes)) AS bytes_in
FROM flows
ARRAY JOIN [toUInt8(1), toUInt8(0)] AS side
WHERE phase = 'end'
GROUP BY time, device, ip, peer_device, peer_ip, outbound, transport, port, app_proto;
