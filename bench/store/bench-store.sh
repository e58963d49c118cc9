#!/usr/bin/env bash
# bench-store.sh measures the path sensor -> JetStream -> ClickHouse on
# this machine, with a real ClickHouse (store/chtest starts one) and the
# embedded JetStream, and prints medians of several runs:
#
# Every measure starts where the sensor hands its events, made and
# encoded, to its events.Batcher (PublishEncoded); making them is the
# sensor's work, part of the packet rate of make bench-capture.
#
#   publish   publishing alone through the Batcher (batches sent
#             asynchronously): events/s stored by JetStream
#   insert    the writer alone, draining events published beforehand:
#             rows/s into ClickHouse (fetch, decode, ID look-up, insert,
#             rollups, acknowledgements)
#   pipeline  both at once, sustained: the end-to-end rate into
#             ClickHouse, and the publisher's rate while the writer takes
#             most of the two cores
#   pipeline, events made in the same process
#             the same with each event made and encoded as it is
#             published, on the same two cores: what the sensor's making
#             of events costs, not the goal's measure
#
#   make bench-store                  # 500,000 events, 5 runs
#   EVENTS=100000 RUNS=3 make bench-store
#
# Goals (issue 6): 100,000 events/s into ClickHouse, 500,000/s published.
# Progress goes to stderr; the results, a markdown table, to stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-go}
EVENTS=${EVENTS:-500000}
RUNS=${RUNS:-5}
OUT=${BENCH_OUT:-$(mktemp)}
[[ -n ${BENCH_OUT:-} ]] || trap 'rm -f "$OUT"' EXIT

say() { printf '%s\n' "$*" >&2; }
command -v clickhouse-server >/dev/null || [[ -x /usr/sbin/clickhouse-server ]] ||
	{ say "bench-store: clickhouse-server is not installed (make test-deps)"; exit 1; }

if [[ -n ${BENCH_REPORT_ONLY:-} ]]; then : # BENCH_OUT holds a previous run's output: only print the table
else
say "bench-store: $EVENTS flow events, $RUNS runs of each benchmark ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
$GO test -run '^$' -bench '^(BenchmarkPublish|BenchmarkWriter|BenchmarkPipeline|BenchmarkPipelineMakingEvents)$' \
	-benchtime "${EVENTS}x" -count "$RUNS" -timeout 60m ./store/ | tee "$OUT" >&2
fi

# median NAME METRIC [FORMAT]: the median of METRIC over the runs of
# benchmark NAME (plain awk and sort: mawk has no asort).
median() {
	local values n
	values=$(awk -v name="$1" -v metric="$2" '
		$1 ~ "^"name"(-[0-9]+)?$" { for (i = 3; i < NF; i++) if ($(i+1) == metric) print $i }' "$OUT" | sort -g)
	n=$(printf '%s' "$values" | grep -c . || true)
	if ((n == 0)); then
		echo "-"
		return
	fi
	printf '%s\n' "$values" | awk -v n="$n" -v fmt="${3:-%.0f}" '
		{ v[NR] = $1 }
		END { m = (n % 2) ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2; printf fmt "\n", m }'
}

printf '| measure | events/s (median of %s) | goal |\n|---|---|---|\n' "$RUNS"
printf '| publish to JetStream (Batcher, alone) | %s | 500,000 |\n' "$(median BenchmarkPublish published/s)"
printf '| insert into ClickHouse (writer alone, batches of 50,000) | %s | 100,000 |\n' "$(median BenchmarkWriter/max_rows=50000 rows/s)"
printf '| insert into ClickHouse (writer alone, batches of 10,000) | %s | |\n' "$(median BenchmarkWriter/max_rows=10000 rows/s)"
printf '| pipeline: publish rate while the writer runs | %s | |\n' "$(median BenchmarkPipeline published/s)"
printf '| pipeline: sustained end to end into ClickHouse | %s | 100,000 |\n' "$(median BenchmarkPipeline rows/s)"
printf '| pipeline: Go CPU per event (writer + NATS), µs | %s | |\n' "$(median BenchmarkPipeline go-cpu-µs/row %.1f)"
printf '| pipeline: ClickHouse CPU per event, µs | %s | |\n' "$(median BenchmarkPipeline clickhouse-cpu-µs/row %.1f)"
printf '| pipeline, events made in the same process: end to end (not the goal'"'"'s measure) | %s | |\n' "$(median BenchmarkPipelineMakingEvents rows/s)"
printf '| pipeline, events made in the same process: Go CPU per event, µs | %s | |\n' "$(median BenchmarkPipelineMakingEvents go-cpu-µs/row %.1f)"
