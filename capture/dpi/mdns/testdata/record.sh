#!/bin/sh
# Records avahi.pcap: avahi-daemon (Debian package avahi-daemon) starting
# up, probing and announcing its host name, reverse mappings, workstation
# service and the static services below (an IPP printer with the Bonjour
# Printing TXT keys, a _device-info record, a Google Cast-style service),
# in a network namespace joined by a veth pair to a second one where
# tcpdump listens, on documentation addresses (192.0.2.0/24) and IPv6
# link-local addresses. Run as root: it writes its service files to
# /etc/avahi/services for the run and removes them.
set -eu
out="$(cd "$(dirname "$0")" && pwd)/avahi.pcap"
work=$(mktemp -d)
svc=/etc/avahi/services
cleanup() {
	[ -n "${avahi:-}" ] && kill "$avahi" 2>/dev/null || true
	[ -n "${dump:-}" ] && kill "$dump" 2>/dev/null || true
	sleep 1
	ip netns del vgdev 2>/dev/null || true
	ip netns del vgcp 2>/dev/null || true
	rm -f "$svc"/vigil-test-*.service
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
cat >"$work/avahi-daemon.conf" <<CONF
[server]
host-name=vigil-test-dev
domain-name=local
use-ipv4=yes
use-ipv6=yes
allow-interfaces=vgd0
enable-dbus=no
[publish]
publish-addresses=yes
publish-workstation=yes
[reflector]
[rlimits]
CONF
mkdir -p "$svc"
cat >"$svc/vigil-test-ipp.service" <<'SVC'
<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name>Vigil Test LaserJet 400</name>
  <service>
    <type>_ipp._tcp</type>
    <subtype>_universal._sub._ipp._tcp</subtype>
    <port>631</port>
    <txt-record>txtvers=1</txt-record>
    <txt-record>qtotal=1</txt-record>
    <txt-record>rp=ipp/print</txt-record>
    <txt-record>ty=Vigil Test LaserJet 400</txt-record>
    <txt-record>product=(Vigil Test LaserJet 400)</txt-record>
    <txt-record>usb_MFG=VigilTest</txt-record>
    <txt-record>usb_MDL=LaserJet 400</txt-record>
    <txt-record>note=Ward 3 corridor</txt-record>
    <txt-record>pdl=application/pdf,image/urf</txt-record>
  </service>
</service-group>
SVC
cat >"$svc/vigil-test-device-info.service" <<'SVC'
<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name>Vigil Test Device</name>
  <service>
    <type>_device-info._tcp</type>
    <port>0</port>
    <txt-record>model=VigilPump1,2</txt-record>
  </service>
</service-group>
SVC
cat >"$svc/vigil-test-cast.service" <<'SVC'
<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name>Vigil-Cast-0001</name>
  <service>
    <type>_googlecast._tcp</type>
    <port>8009</port>
    <txt-record>id=0001</txt-record>
    <txt-record>md=Vigil Cast</txt-record>
    <txt-record>fn=Nurse Station 3</txt-record>
  </service>
</service-group>
SVC
ip netns exec vgcp tcpdump -q -i vgc0 -U -w "$out" 'udp port 5353' &
dump=$!
sleep 2
ip netns exec vgdev avahi-daemon -f "$work/avahi-daemon.conf" --no-drop-root --no-chroot --no-rlimits >"$work/avahi.log" 2>&1 &
avahi=$!
sleep 8
