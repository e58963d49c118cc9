#!/usr/bin/env bash
# bench-capture.sh times Vigil's sensor against ndpiReader on one core, on
# one large capture built from the shared corpus (see bench/README.md).
#
#   make bench-capture                 # ~1.5 million packets, 5 runs each
#   BENCH_SMALL=1 make bench-capture   # smoke run, well under a minute
#
# Settings (environment): RUNS (runs per tool, default 5; 3 when small),
# BENCH_PACKETS (minimum corpus size), BENCH_CPU (core to pin, default 0),
# BENCH_CACHE (corpus and binaries; default $XDG_CACHE_HOME/vigil-bench),
# SHARED (the shared directory, default ../shared), NDPI=0 (Vigil alone),
# BENCH_PROFILE=1 (one more Vigil run with a CPU profile, top printed),
# SENSORBENCH_FLAGS (extra sensorbench flags, e.g. -batch=false).
#
# Progress goes to stderr; the results, a markdown table, to stdout.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
SMALL=${BENCH_SMALL:-0}
if [[ $SMALL == 1 ]]; then
	RUNS=${RUNS:-3}
	MIN_PACKETS=${BENCH_PACKETS:-150000}
else
	RUNS=${RUNS:-5}
	MIN_PACKETS=${BENCH_PACKETS:-1500000}
fi
CPU=${BENCH_CPU:-0}
SHARED=${SHARED:-../shared}
CACHE=${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vigil-bench}
NDPI=${NDPI:-1}
BIN=$CACHE/bin

say() { printf '%s\n' "$*" >&2; }
die() { say "bench-capture: $*"; exit 1; }

[[ -f $SHARED/pcaps/MANIFEST.tsv ]] ||
	die "no $SHARED/pcaps/MANIFEST.tsv: the shared capture corpus must sit beside the checkout (or set SHARED)"

if [[ $NDPI == 1 ]] && ! command -v ndpiReader >/dev/null; then
	install=(apt-get install -y -q libndpi-bin)
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		say "== installing libndpi-bin (ndpiReader)"
		apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive "${install[@]}" >&2
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null && command -v apt-get >/dev/null; then
		say "== installing libndpi-bin (ndpiReader) with sudo"
		sudo -n apt-get update -q >&2 && sudo -n env DEBIAN_FRONTEND=noninteractive "${install[@]}" >&2
	else
		die "ndpiReader not found. Install it with 'sudo apt-get install -y libndpi-bin' (Debian, Ubuntu), or run with NDPI=0 to time Vigil alone."
	fi
	command -v ndpiReader >/dev/null || die "libndpi-bin installed but ndpiReader is not on PATH"
fi

PIN=()
if command -v taskset >/dev/null; then
	PIN=(taskset -c "$CPU")
else
	say "bench-capture: taskset not found (util-linux): runs are NOT pinned to one core"
fi

say "== building"
mkdir -p "$BIN"
"$GO" build -o "$BIN/mkcapture" ./bench/mkcapture
"$GO" build -o "$BIN/sensorbench" ./bench/sensorbench

say "== corpus (at least $MIN_PACKETS packets, cached in $CACHE)"
salt=$(cat bench/mkcapture/*.go | sha256sum | cut -c1-16)
read -r CORPUS PACKETS < <("$BIN/mkcapture" -pcaps "$SHARED/pcaps" -cache "$CACHE" -min-packets "$MIN_PACKETS" -salt "$salt")
[[ -n ${PACKETS:-} ]] || die "mkcapture gave no corpus"
MB=$(( $(stat -c %s "$CORPUS") / 1000000 ))
say "   $CORPUS: $PACKETS packets, $MB MB"
cat "$CORPUS" >/dev/null # into the page cache: both tools read it warm
# A one-packet capture (the corpus's file header and first record) gives
# each tool's fixed cost: start, setup, exit.
caplen=$(od -An -tu4 -j 32 -N 4 "$CORPUS" | tr -d ' ')
ONE=$CACHE/one-packet.pcap
head -c $((24 + 16 + caplen)) "$CORPUS" >"$ONE"

# CPU time (user + sys) of each run, from GNU time when present: on a
# shared machine the wall time includes waiting for the core, CPU time
# does not.
TIMEF=$CACHE/time.out
CPUT=()
if [[ -x /usr/bin/time ]]; then
	CPUT=(/usr/bin/time -f '%U %S %M' -o "$TIMEF")
else
	say "bench-capture: /usr/bin/time (GNU time) not found: CPU times are not reported"
fi
# cputime: user + sys seconds of the last run under CPUT.
cputime() { if [[ ${#CPUT[@]} -gt 0 ]]; then awk 'END { printf "%.4f", $1 + $2 }' "$TIMEF"; fi; }
# peakmb: peak resident memory (MB) of the last run under CPUT.
peakmb() { if [[ ${#CPUT[@]} -gt 0 ]]; then awk 'END { printf "%.0f", $3 / 1024 }' "$TIMEF"; fi; }

# elapsed START: seconds since START ($EPOCHREALTIME).
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.4f", b - a }'; }
# field KEY LINE: the value of KEY=value in LINE.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

vigil_s=() ndpi_s=() allocs=() bytes=() evs=() vigil_0=() ndpi_0=() vigil_c=() ndpi_c=() vigil_m=() ndpi_m=()
for ((i = 1; i <= RUNS; i++)); do
	t0=$EPOCHREALTIME
	# shellcheck disable=SC2086
	GOMAXPROCS=1 "${PIN[@]}" "$BIN/sensorbench" ${SENSORBENCH_FLAGS:-} -file "$ONE" >/dev/null
	vigil_0+=("$(elapsed "$t0")")
	if [[ $NDPI == 1 ]]; then
		t0=$EPOCHREALTIME
		"${PIN[@]}" ndpiReader -i "$ONE" -n 1 -q >/dev/null
		ndpi_0+=("$(elapsed "$t0")")
	fi
	t0=$EPOCHREALTIME
	# shellcheck disable=SC2086 # flags are words
	out=$(GOMAXPROCS=1 "${CPUT[@]}" "${PIN[@]}" "$BIN/sensorbench" ${SENSORBENCH_FLAGS:-} -file "$CORPUS")
	s=$(elapsed "$t0")
	vigil_c+=("$(cputime)") vigil_m+=("$(peakmb)")
	[[ $(field packets "$out") == "$PACKETS" ]] || die "sensorbench read $(field packets "$out") packets, the corpus has $PACKETS"
	vigil_s+=("$s") allocs+=("$(field allocs_per_packet "$out")") bytes+=("$(field bytes_per_packet "$out")")
	evs+=("$(awk -v e="$(field events "$out")" -v n="$PACKETS" 'BEGIN { printf "%.3f", e / n }')")
	say "   run $i/$RUNS vigil ${s}s, cpu ${vigil_c[-1]:-?}s ($out)"
	if [[ $NDPI == 1 ]]; then
		t0=$EPOCHREALTIME
		"${CPUT[@]}" "${PIN[@]}" ndpiReader -i "$CORPUS" -n 1 -q >/dev/null
		s=$(elapsed "$t0")
		ndpi_s+=("$s")
		ndpi_c+=("$(cputime)") ndpi_m+=("$(peakmb)")
		say "   run $i/$RUNS ndpiReader ${s}s, cpu ${ndpi_c[-1]:-?}s"
	fi
done

# stats: "median min max" of the numbers given.
stats() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		print m, v[1], v[NR] }'
}
# rates SECONDS...: packets per second of each run.
rates() { for s in "$@"; do awk -v n="$PACKETS" -v s="$s" 'BEGIN { printf "%.0f\n", n / s }'; done; }
# median SECONDS...: packets per second of the median run.
median_rate() {
	local r
	mapfile -t r < <(rates "$@")
	stats "${r[@]}" | cut -d' ' -f1
}
# num N: N rounded, with thousands separators.
num() { printf '%.0f' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
row() { # row NAME STARTUP_MEDIAN SECONDS...
	local name=$1 start=$2 r med lo hi smed
	shift 2
	mapfile -t r < <(rates "$@")
	read -r med lo hi < <(stats "${r[@]}")
	read -r smed _ _ < <(stats "$@")
	printf '| %s | %s | %s | %s | %.2f | %.3f |\n' "$name" "$(num "$med")" "$(num "$lo")" "$(num "$hi")" "$smed" "$start"
}

say "== flow table memory"
memflows=BenchmarkFlowTableMemory
[[ $SMALL == 1 ]] && memflows='BenchmarkFlowTableMemory/^tcp$'
membench=$("$GO" test -run '^$' -bench "$memflows" -benchtime 1x ./capture)
perflow() { awk -v k="BenchmarkFlowTableMemory/$1" '$1 ~ "^"k {
	for (i = 2; i < NF; i++) if ($(i + 1) == "B/flow") print $i }' <<<"$membench"; }
flow_tcp=$(perflow tcp) flow_udp=$(perflow udp)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
ndpi_version=
if [[ $NDPI == 1 ]]; then
	ndpi_version=$( (ndpiReader -h 2>&1 || true) | sed -n 's/.*nDPI \([0-9][0-9.]*\).*/\1/p' | head -1)
fi
read -r allocs_med _ _ < <(stats "${allocs[@]}")
read -r bytes_med _ _ < <(stats "${bytes[@]}")
read -r evs_med _ _ < <(stats "${evs[@]}")

echo "Corpus: $(num "$PACKETS") packets ($MB MB): the Ethernet captures of $SHARED/pcaps, one after the other"
echo "in time, repeated with the addresses perturbed (bench/mkcapture)."
echo "$cpu, $(nproc) cores, Linux $(uname -r), $("$GO" env GOVERSION)${ndpi_version:+, nDPI $ndpi_version};"
echo "each tool pinned to one core (taskset -c $CPU), Vigil with GOMAXPROCS=1; $RUNS interleaved runs, wall time of the whole process."
echo
read -r v0 _ _ < <(stats "${vigil_0[@]}")
echo "| One core | median pkt/s | min pkt/s | max pkt/s | median s | startup s |"
echo "|---|---:|---:|---:|---:|---:|"
row "Vigil sensor (decode, flows, identification, dissectors, events encoded)" "$v0" "${vigil_s[@]}"
if [[ $NDPI == 1 ]]; then
	read -r n0 _ _ < <(stats "${ndpi_0[@]}")
	row "ndpiReader -q" "$n0" "${ndpi_s[@]}"
	vmed=$(median_rate "${vigil_s[@]}") nmed=$(median_rate "${ndpi_s[@]}")
	pairs=()
	for ((i = 0; i < RUNS; i++)); do
		pairs+=("$(awk -v n="${ndpi_s[i]}" -v v="${vigil_s[i]}" 'BEGIN { printf "%.4f", n / v }')")
	done
	read -r pmed plo phi < <(stats "${pairs[@]}")
	read -r vs _ _ < <(stats "${vigil_s[@]}")
	read -r ns _ _ < <(stats "${ndpi_s[@]}")
	echo
	printf 'Vigil / ndpiReader: **%.2fx** (ratio of the medians; per interleaved pair: median %.2fx, min %.2fx, max %.2fx;\n' \
		"$(awk -v v="$vmed" -v n="$nmed" 'BEGIN { print v / n }')" "$pmed" "$plo" "$phi"
	printf 'without each tool'"'"'s startup, measured on a one-packet file: %.2fx). Goal: 1.5x.\n' \
		"$(awk -v v="$vs" -v v0="$v0" -v n="$ns" -v n0="$n0" 'BEGIN { print (n - n0) / (v - v0) }')"
fi
if [[ ${#CPUT[@]} -gt 0 ]]; then
	echo
	echo "CPU time (user + sys) of the same runs: what each tool costs one core, whatever else the machine runs."
	echo
	echo "| One core, CPU time | median pkt/s | min pkt/s | max pkt/s | median s |"
	echo "|---|---:|---:|---:|---:|"
	row "Vigil sensor" 0 "${vigil_c[@]}" | sed -E 's/ [0-9.]+ \|$//'
	if [[ $NDPI == 1 ]]; then
		row "ndpiReader -q" 0 "${ndpi_c[@]}" | sed -E 's/ [0-9.]+ \|$//'
		printf '\nVigil / ndpiReader, CPU time: **%.2fx** (ratio of the medians). Goal: 1.5x.\n' \
			"$(awk -v v="$(median_rate "${vigil_c[@]}")" -v n="$(median_rate "${ndpi_c[@]}")" 'BEGIN { print v / n }')"
	fi
	# Peak resident memory: Vigil trades some for fewer collections
	# (gc_headroom_mb), so the comparison shows it.
	read -r vm _ _ < <(stats "${vigil_m[@]}")
	printf '\nPeak resident memory (median of the runs): Vigil %s MB' "$vm"
	if [[ $NDPI == 1 ]]; then
		read -r nm _ _ < <(stats "${ndpi_m[@]}")
		printf ', ndpiReader %s MB' "$nm"
	fi
	printf '.\n'
fi
echo
echo "| Vigil, whole run | |"
echo "|---|---:|"
echo "| allocations per packet | $allocs_med |"
echo "| bytes allocated per packet | $bytes_med |"
echo "| events per packet | $evs_med |"
echo "| flow table, bytes per tracked flow (1e6 flows; TCP / UDP) | ${flow_tcp:-?} / ${flow_udp:--} |"

if [[ ${BENCH_PROFILE:-0} == 1 ]]; then
	prof=$CACHE/sensorbench.cpu.pprof
	# shellcheck disable=SC2086
	GOMAXPROCS=1 "${PIN[@]}" "$BIN/sensorbench" ${SENSORBENCH_FLAGS:-} -file "$CORPUS" -cpuprofile "$prof" >&2
	say "== CPU profile of one Vigil run ($prof)"
	"$GO" tool pprof -top -nodecount=15 "$BIN/sensorbench" "$prof" >&2 2>/dev/null
	"$GO" tool pprof -top -cum -nodecount=25 "$BIN/sensorbench" "$prof" 2>/dev/null | tail -n 25 >&2
fi
