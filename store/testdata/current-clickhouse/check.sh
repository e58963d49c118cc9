#!/usr/bin/env bash
# check.sh runs the migrations and probe.sql on ClickHouse 18.16 (a
# throw-away server from ../../clickhouse-test-server.sh) and on chDB (a
# current ClickHouse in process, from npm), and diffs the answers. It is a
# developer's check, not part of `make test`: chDB is a 550 MB download.
#
#   npm install --prefix "$CHDB_DIR" chdb   # once; CHDB_DIR defaults to /tmp/chdbnode
#   store/testdata/current-clickhouse/check.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
store=$(cd "$here/../.." && pwd)
chdb=${CHDB_DIR:-/tmp/chdbnode}
dir=$(mktemp -d)
trap 'bash "$store/clickhouse-test-server.sh" clean "$dir/server" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
port=$(bash "$store/clickhouse-test-server.sh" start "$dir/server")
ch() { clickhouse-client --port "$port" "$@"; }
ch --query "CREATE DATABASE vigil"
ch -d vigil --query "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, checksum String, applied DateTime('UTC') DEFAULT now()) ENGINE = ReplacingMergeTree ORDER BY version"
for f in "$store"/migrations/*.sql; do
	grep -v '^\s*--' "$f" | ch -d vigil --multiquery
	base=$(basename "$f" .sql)
	ch -d vigil --query "INSERT INTO schema_migrations (version, name, checksum) VALUES (${base%%_*}, '${base#*_}', 'x')"
done
grep -v '^\s*--' "$here/probe.sql" | ch -d vigil --multiquery --format TSV >"$dir/old.tsv"
NODE_PATH="$chdb/node_modules" node "$here/check.js" >"$dir/new.tsv"
echo "ClickHouse $(ch --query 'SELECT version()') and chDB agree on $(wc -l <"$dir/old.tsv") answer lines:" >&2
diff "$dir/old.tsv" "$dir/new.tsv" && echo "no difference" >&2
