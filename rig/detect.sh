#!/usr/bin/env bash
# detect.sh OUTDIR records the rig's detection scenario: real daemons and
# clients in network namespaces (as record.sh) repeat a hospital's normal
# rounds for a normal phase long enough to learn and then be judged, and
# then the rig injects anomalies one after the other:
#
#   internet     the patient monitor fetches a file from an internet host
#   scan         the workstation SYN-scans 200 ports of the PACS (nmap)
#   new_peer     the lab analyser opens HTTP to the PACS (new peer, new port)
#   brute_force  the workstation tries 30 wrong Basic passwords on the PACS
#
# It writes
#
#   OUTDIR/detect.pcap   the capture of the bridge
#   OUTDIR/detect.json   phases and anomalies with the times the rig's
#                        clock read around each (bench/detection.RigTruth)
#   OUTDIR/logs/         the daemons' and clients' output
#
# Settings: VIGIL_RIG_NORMAL (seconds of normal rounds, default 120),
# VIGIL_RIG_LEARN (learning window the recording is made for, default
# half of the normal phase), VIGIL_RIG_ROUND (seconds between rounds,
# default 4), VIGIL_RIG_TIMEOUT (the whole run's bound, default normal+150).
#
# Exit status as record.sh: 0 recorded; 1 failed; 2 usage; 77 this machine
# cannot run it (not root, a tool missing); 124 time bound reached.
set -euo pipefail

RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly RIG_DIR
readonly PY=/usr/bin/python3
# Namespaces, lock and state directory of its own, so that a detection
# recording and an identity recording (record.sh: vrig-*, which it sweeps
# at start) can run at the same time without touching each other.
readonly NS_PREFIX=vrigd-
readonly LOCK=${VIGIL_RIG_DETECT_LOCK:-/tmp/vigil-rig-detect.lock}
readonly NORMAL=${VIGIL_RIG_NORMAL:-120}
readonly ROUND=${VIGIL_RIG_ROUND:-4}
readonly LEARN=${VIGIL_RIG_LEARN:-$((NORMAL / 2))}

log() { printf '%s rig-detect: %s\n' "$(date +%T.%3N)" "$*" >&2; }

# The helpers shared with the other rig script.
# shellcheck source=rig/lib.sh
source "$RIG_DIR/lib.sh"
if [[ $# -ne 1 || $1 == -* ]]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
if [[ $EUID -ne 0 ]]; then
	echo "rig-detect: needs root (network namespaces, bridges, tcpdump)" >&2
	exit 77
fi
missing=()
for tool in ip ss tcpdump timeout flock unshare busybox dcmqrscp echoscu mllp_send snmpd snmpget \
	nginx openssl curl nmap "$PY"; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if command -v busybox >/dev/null 2>&1 && ! busybox --list | grep -qx httpd; then
	missing+=("busybox-httpd (install busybox-static)")
fi
if ((${#missing[@]})); then
	echo "rig-detect: missing tools: ${missing[*]} (run rig/install-deps.sh)" >&2
	exit 77
fi

serialise detect.sh "${VIGIL_RIG_TIMEOUT:-$((NORMAL + 150))}" "$@"

OUT=$1
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STATE=$(mktemp -d /tmp/vigil-rigd.XXXXXX)
chmod 0755 "$STATE"
readonly OUT STATE
rm -rf "$OUT/logs" "$OUT/detect.pcap" "$OUT/detect.json"
mkdir -p "$OUT/logs" "$STATE/log" "$STATE/dev"

readonly LAN=192.0.2 GW=192.0.2.1
readonly INET_IP=203.0.113.80 INET_GW=203.0.113.1
readonly INET_MAC=02:00:cb:00:71:50 ROUTER_WAN_MAC=02:00:cb:00:71:01
readonly PACS_AET=VIGILPACS CT_AET=CTSCANNER01
readonly HTTP_USER=rigadmin

DEVICES=()
declare -A MAC IP HOST
device() {
	DEVICES+=("$1")
	MAC[$1]=$2 IP[$1]=$3 HOST[$1]=$4
}
# The devices of record.sh (same MACs and addresses), without DHCP.
device router 00:05:85:52:49:01 "$GW" rig-router
device nms 00:50:56:52:49:05 "$LAN.5" rig-nms
device pacs 00:14:22:52:49:10 "$LAN.10" rig-pacs
device ct 44:4b:5d:52:49:20 "$LAN.20" rig-ct
device hl7 94:57:a5:52:49:30 "$LAN.30" rig-hl7
device lab 00:06:6b:52:49:31 "$LAN.31" rig-lab
device printer 00:21:b7:52:49:40 "$LAN.40" rig-printer-2f
device monitor 00:09:fb:52:49:50 "$LAN.50" rig-monitor-icu1
device ws 3c:a9:f4:52:49:60 "$LAN.110" RIG-WS-01

declare -A PID_OF
STARTED=()

on_exit() {
	local rc=$?
	set +e
	trap - EXIT
	trap '' INT TERM
	stop_processes
	sweep_namespaces
	cp -f "$STATE"/log/*.log "$OUT/logs/" 2>/dev/null
	if ((rc != 0)); then
		log "failed (exit $rc); logs in $OUT/logs"
		rm -f "$OUT/detect.json"
	fi
	if [[ -n ${VIGIL_RIG_KEEP:-} ]]; then log "state kept in $STATE"; else rm -rf "$STATE"; fi
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

nsip() { ip -n "$NS_PREFIX$1" -batch -; }

setup_topology() {
	sweep_namespaces
	mkns sw0 || {
		log "cannot create network namespaces here"
		exit 77
	}
	local d e
	for d in "${DEVICES[@]}" inet; do mkns "$d"; done
	{
		echo "link set lo up"
		echo "link add br0 type bridge stp_state 0 mcast_snooping 0"
		echo "link set br0 up"
		for d in "${DEVICES[@]}"; do
			echo "link add p-$d type veth peer name eth0 netns $NS_PREFIX$d"
			echo "link set p-$d master br0 up"
		done
	} | nsip sw0
	for d in "${DEVICES[@]}"; do
		{
			echo "link set lo up"
			echo "link set eth0 address ${MAC[$d]}"
			echo "link set eth0 up"
			echo "addr add ${IP[$d]}/24 dev eth0"
			[[ $d == router ]] || echo "route add default via $GW"
		} | nsip "$d"
		mkdir -p "$STATE/dev/$d"
		echo "${HOST[$d]}" >"$STATE/dev/$d/hostname"
		# No DNS server: every device knows every other from its hosts
		# file (dcmqrscp looks its peers up), and a lookup of anything
		# else fails at once on the namespace's loopback.
		echo "nameserver 127.0.0.1" >"$STATE/dev/$d/resolv.conf"
		{
			printf '127.0.0.1\tlocalhost\n'
			for e in "${DEVICES[@]}"; do printf '%s\t%s\n' "${IP[$e]}" "${HOST[$e]}"; done
		} >"$STATE/dev/$d/hosts"
	done
	nsip router <<EOF
link add wan0 type veth peer name eth0 netns ${NS_PREFIX}inet
link set wan0 address $ROUTER_WAN_MAC up
addr add $INET_GW/24 dev wan0
EOF
	ip netns exec ${NS_PREFIX}router sysctl -qw net.ipv4.ip_forward=1
	nsip inet <<EOF
link set lo up
link set eth0 address $INET_MAC up
addr add $INET_IP/24 dev eth0
route add default via $INET_GW
EOF
	mkdir -p "$STATE/dev/inet/www"
	echo rig-vendor-cloud >"$STATE/dev/inet/hostname"
	echo "nameserver $INET_IP" >"$STATE/dev/inet/resolv.conf"
	printf '127.0.0.1\tlocalhost\n' >"$STATE/dev/inet/hosts"
	echo '{"latest":"3.2.0"}' >"$STATE/dev/inet/www/firmware.json"
}

prepare() {
	local d=$STATE/dev
	mkdir -p "$d/pacs/db"
	cat >"$d/pacs/dcmqrscp.cfg" <<EOF
NetworkTCPPort  = 104
MaxPDUSize      = 16384
MaxAssociations = 16
HostTable BEGIN
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
$PACS_AET  $d/pacs/db  RW  (10, 64mb)  ANY
AETable END
EOF
	# HL7: one ORU^R01 result per round from the lab, one vital-signs
	# ORU^R01 from the monitor; synthetic patient only.
	local now
	now=$(date -u +%Y%m%d%H%M%S)
	printf '%s\n' "MSH|^~\\&|RIGLAB|RIGHOSP|RIGEHR|RIGHOSP|$now||ORU^R01^ORU_R01|RIGLAB0001|P|2.5" \
		"PID|1||ZZRIG0001^^^RIGHOSP^MR||ZZRIG^PATIENT||19010101|U" \
		"OBX|1|ST|GLU^Glucose^L||ZZRIGRESULT||||||F" >"$d/lab/oru.hl7"
	printf '%s\n' "MSH|^~\\&|RIGMON|ICU1|RIGEHR|RIGHOSP|$now||ORU^R01^ORU_R01|RIGMON0001|P|2.5" \
		"PID|1||ZZRIG0001^^^RIGHOSP^MR||ZZRIG^PATIENT||19010101|U" \
		"OBX|1|NM|8867-4^Heart rate^LN||72|/min|||||F" >"$d/monitor/oru.hl7"
	mkdir -p "$d/printer/persist"
	cat >"$d/printer/snmpd.conf" <<EOF
agentAddress udp:$LAN.40:161
rocommunity public $LAN.0/24
sysName rig-printer-2f
EOF
	mkdir -p "$d/pacs/nginx/tmp" "$d/pacs/www"
	echo "Rig PACS" >"$d/pacs/www/index.html"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
		-subj "/CN=rig-pacs-web" -keyout "$d/pacs/nginx/key.pem" -out "$d/pacs/nginx/cert.pem" 2>/dev/null
	printf '%s:%s\n' "$HTTP_USER" "$(openssl passwd -apr1 'rig-correct-password-never-sent')" >"$d/pacs/nginx/htpasswd"
	cat >"$d/pacs/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $d/pacs/nginx/nginx.pid;
error_log $d/pacs/nginx/error.log info;
events { worker_connections 64; }
http {
    access_log $d/pacs/nginx/access.log;
    client_body_temp_path $d/pacs/nginx/tmp/body;
    proxy_temp_path $d/pacs/nginx/tmp/proxy;
    fastcgi_temp_path $d/pacs/nginx/tmp/fastcgi;
    uwsgi_temp_path $d/pacs/nginx/tmp/uwsgi;
    scgi_temp_path $d/pacs/nginx/tmp/scgi;
    default_type text/plain;
    server {
        listen $LAN.10:443 ssl;
        ssl_certificate $d/pacs/nginx/cert.pem;
        ssl_certificate_key $d/pacs/nginx/key.pem;
        location / { return 200 "Rig PACS web viewer\n"; }
    }
    server {
        listen $LAN.10:80;
        location /viewer { return 200 "viewer\n"; }
        location / {
            auth_basic "Rig PACS";
            auth_basic_user_file $d/pacs/nginx/htpasswd;
            root $d/pacs/www;
        }
    }
}
EOF
}

start_daemons() {
	start_bg dcmqrscp pacs dcmqrscp -c "$STATE/dev/pacs/dcmqrscp.cfg" 104
	start_bg hl7-engine hl7 "$PY" "$RIG_DIR/hl7_server.py" "$LAN.30" 2575
	start_bg snmpd printer env SNMP_PERSISTENT_DIR="$STATE/dev/printer/persist" MIBS= \
		snmpd -f -Lo -C -c "$STATE/dev/printer/snmpd.conf" -p "$STATE/dev/printer/snmpd.pid"
	start_bg nginx pacs nginx -p "$STATE/dev/pacs/nginx" -c "$STATE/dev/pacs/nginx/nginx.conf" \
		-e "$STATE/dev/pacs/nginx/error.log"
	start_bg inet-httpd inet busybox httpd -f -v -p "$INET_IP:80" -h "$STATE/dev/inet/www"
	await_listen dcmqrscp pacs tcp 104
	await_listen hl7-engine hl7 tcp 2575
	await_listen snmpd printer udp 161
	await_listen nginx pacs tcp 443
	await_listen nginx pacs tcp 80
	await_listen inet-httpd inet tcp 80
}

start_capture() {
	ip netns exec ${NS_PREFIX}sw0 tcpdump -i br0 -s 0 -n -U -Z root --immediate-mode -B 16384 \
		-w "$OUT/detect.pcap" >"$STATE/log/tcpdump.log" 2>&1 {lockfd}>&- &
	PID_OF[tcpdump]=$!
	STARTED+=(tcpdump)
	wait_until 10 grep -qs 'listening on' "$STATE/log/tcpdump.log" || die "tcpdump did not start"
}

stop_capture() {
	sleep 1
	kill -INT "${PID_OF[tcpdump]}"
	wait "${PID_OF[tcpdump]}" || true
	grep -E 'captured|dropped' "$STATE/log/tcpdump.log" >&2 || true
	if grep -qE '[1-9][0-9]* packets dropped by kernel' "$STATE/log/tcpdump.log"; then
		die "tcpdump dropped packets"
	fi
}

now() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }

# round is one round of normal work: every client talks to its usual
# server, the same way each time.
round() {
	local n=$1
	nsx ct echoscu -aet "$CT_AET" -aec "$PACS_AET" "$LAN.10" 104 >>"$STATE/log/echoscu.log" 2>&1 ||
		die "round $n: C-ECHO failed"
	nsx lab mllp_send --loose --port 2575 --file "$STATE/dev/lab/oru.hl7" "$LAN.30" >>"$STATE/log/mllp-lab.log" 2>&1 ||
		die "round $n: lab HL7 failed"
	nsx monitor mllp_send --loose --port 2575 --file "$STATE/dev/monitor/oru.hl7" "$LAN.30" >>"$STATE/log/mllp-monitor.log" 2>&1 ||
		die "round $n: monitor HL7 failed"
	nsx nms env MIBS= SNMPCONFPATH="$STATE/dev/nms" snmpget -v2c -c public -On -t 2 -r 1 \
		"$LAN.40" 1.3.6.1.2.1.1.3.0 >>"$STATE/log/snmpget.log" 2>&1 || die "round $n: snmpget failed"
	nsx ws curl -sS -k -o /dev/null "https://$LAN.10/" >>"$STATE/log/curl.log" 2>&1 || die "round $n: https failed"
}

ANOMALIES=()
# anomaly NAME KIND DEVICE PEERS TOOL START END: one entry of detect.json.
anomaly() {
	ANOMALIES+=("$("$PY" -c 'import json,sys; a=sys.argv[1:]; print(json.dumps({"name":a[0],"kind":a[1],"device":a[2],"peers":[p for p in a[3].split(",") if p],"tool":a[4],"start":a[5],"end":a[6]}))' "$@")")
}

log "setting up ${#DEVICES[@]} devices; normal phase ${NORMAL}s (rounds every ${ROUND}s), learning ${LEARN}s"
setup_topology
prepare
start_daemons
start_capture

normal_start=$(now)
rounds=0
end=$((SECONDS + NORMAL))
while ((SECONDS < end)); do
	next=$((SECONDS + ROUND))
	rounds=$((rounds + 1))
	round "$rounds"
	while ((SECONDS < next)); do sleep 0.1; done
done
normal_end=$(now)
log "normal phase: $rounds rounds"

# Anomalies, a few seconds apart, normal rounds going on in between.
sleep 2
t0=$(now)
nsx monitor busybox wget -q -O /dev/null "http://$INET_IP/firmware.json" >"$STATE/log/wget.log" 2>&1 ||
	die "the monitor could not reach the internet host: $(cat "$STATE/log/wget.log")"
anomaly "patient monitor fetches a file from internet host $INET_IP" internet "$LAN.50" "" \
	"busybox wget http://$INET_IP/firmware.json" "$t0" "$(now)"
round a1

sleep 2
t0=$(now)
nsx ws nmap -n -Pn -sS -p 1-200 --max-retries 0 --max-rate 200 "$LAN.10" >"$STATE/log/nmap.log" 2>&1 ||
	die "nmap failed: $(cat "$STATE/log/nmap.log")"
anomaly "workstation SYN-scans 200 ports of the PACS" scan "$LAN.110" "$LAN.10" \
	"nmap -sS -p 1-200 $LAN.10" "$t0" "$(now)"
round a2

sleep 2
t0=$(now)
nsx lab curl -sS -o /dev/null "http://$LAN.10/viewer" >"$STATE/log/curl-lab.log" 2>&1 ||
	die "the lab could not reach the PACS web server: $(cat "$STATE/log/curl-lab.log")"
anomaly "lab analyser opens HTTP to the PACS (new peer, new port)" new_peer "$LAN.31" "$LAN.10" \
	"curl http://$LAN.10/viewer" "$t0" "$(now)"
round a3

sleep 2
t0=$(now)
for i in $(seq 1 30); do
	code=$(nsx ws curl -sS -u "$HTTP_USER:ZZrigGuess$i" -o /dev/null -w '%{http_code}' "http://$LAN.10/" 2>>"$STATE/log/curl-brute.log")
	[[ $code == 401 ]] || die "brute force attempt $i: status $code, not 401"
done
anomaly "workstation guesses 30 HTTP Basic passwords on the PACS" brute_force "$LAN.110" "$LAN.10" \
	"curl -u $HTTP_USER:... http://$LAN.10/ (30 times, 401 each)" "$t0" "$(now)"
round a4

stop_capture

{
	printf '{"schema":1,"capture":"detect.pcap","lan":"%s.0/24","learn_s":%s,"normal_start":"%s","normal_end":"%s","rounds":%d,"anomalies":[' \
		"$LAN" "$LEARN" "$normal_start" "$normal_end" "$rounds"
	(
		IFS=,
		echo -n "${ANOMALIES[*]}"
	)
	echo ']}'
} >"$OUT/detect.json.tmp"
"$PY" -m json.tool "$OUT/detect.json.tmp" >"$OUT/detect.json" || die "detect.json is not JSON"
rm -f "$OUT/detect.json.tmp"
log "recorded $OUT/detect.pcap and $OUT/detect.json"
