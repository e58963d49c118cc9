#!/bin/sh
# Records minidlna.pcap: MiniDLNA (Debian package minidlna) announcing
# itself with NOTIFY and answering the M-SEARCH requests of upnpc (Debian
# package miniupnpc), between two network namespaces joined by a veth
# pair, on documentation addresses (192.0.2.0/24). Run as root.
set -eu
out="$(cd "$(dirname "$0")" && pwd)/minidlna.pcap"
work=$(mktemp -d)
cleanup() {
	[ -n "${dlna:-}" ] && kill "$dlna" 2>/dev/null || true
	[ -n "${dump:-}" ] && kill "$dump" 2>/dev/null || true
	sleep 1
	ip netns del vgdev 2>/dev/null || true
	ip netns del vgcp 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
ip netns add vgdev
ip netns add vgcp
ip link add vgd0 netns vgdev type veth peer name vgc0 netns vgcp
for ns in vgdev:vgd0:192.0.2.10 vgcp:vgc0:192.0.2.20; do
	n=${ns%%:*}; rest=${ns#*:}; dev=${rest%%:*}; addr=${rest#*:}
	ip -n "$n" link set lo up
	ip -n "$n" addr add "$addr/24" dev "$dev"
	ip -n "$n" link set "$dev" up
	ip -n "$n" route add 224.0.0.0/4 dev "$dev"
done
mkdir -p "$work/media" "$work/db"
cat >"$work/minidlna.conf" <<CONF
network_interface=vgd0
port=8200
media_dir=$work/media
db_dir=$work/db
log_dir=$work
friendly_name=Vigil Test Media
serial=VT0001
model_number=1
notify_interval=30
CONF
ip netns exec vgcp tcpdump -q -i vgc0 -U -w "$out" 'udp and not port 5353' &
dump=$!
sleep 2
ip netns exec vgdev minidlnad -d -f "$work/minidlna.conf" -P "$work/minidlna.pid" >"$work/dlna.log" 2>&1 &
dlna=$!
sleep 4
ip netns exec vgcp upnpc -m vgc0 -s >/dev/null 2>&1 || true
sleep 3
