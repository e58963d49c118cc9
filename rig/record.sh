#!/usr/bin/env bash
# record.sh OUTDIR records Vigil's rig of real peers: real daemons and
# clients (dnsmasq, udhcpc, dhclient, DCMTK, python3-hl7, lldpd, snmpd,
# OpenSSH, busybox telnetd, nginx, curl, avahi) play a small hospital
# network, one network namespace per device on one bridge, and tcpdump
# records the bridge. It writes
#
#   OUTDIR/rig.pcap    the capture (Ethernet, full packets)
#   OUTDIR/truth.json  the identity each device was given, checked against
#                      what the capture really holds (see truth.py)
#   OUTDIR/logs/       the daemons' and clients' output
#
# Everything lives in namespaces named vrig-*; the host's own network
# namespace is never touched (even the bridge sits in a namespace), and
# only documentation address ranges are used (192.0.2.0/24 for the LAN,
# 203.0.113.0/24 for the "internet"). See rig/README.md.
#
# Exit status: 0 recorded and verified; 1 failed; 2 usage; 77 this machine
# cannot run the rig (not root, a tool missing: run rig/install-deps.sh);
# 124 the global time bound (VIGIL_RIG_TIMEOUT, default 120 s) ran out.
set -euo pipefail

RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly RIG_DIR
readonly PY=/usr/bin/python3 # Debian's python3, which has python3-hl7 and pydicom
readonly NS_PREFIX=vrig-
readonly LOCK=${VIGIL_RIG_LOCK:-/tmp/vigil-rig.lock}

log() { printf '%s rig: %s\n' "$(date +%T.%3N)" "$*" >&2; }

# The helpers shared with the other rig script.
# shellcheck source=rig/lib.sh
source "$RIG_DIR/lib.sh"
if [[ $# -ne 1 || $1 == -* ]]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi

# --- preflight: root and tools (exit 77: this machine cannot run the rig) ---

if [[ $EUID -ne 0 ]]; then
	echo "rig: needs root (network namespaces, bridges, tcpdump)" >&2
	exit 77
fi

missing=()
for tool in ip ss tcpdump tshark timeout flock unshare dnsmasq busybox dhclient \
	dcmqrscp echoscu storescu dcmodify dcmdump mllp_send lldpd snmpd snmpget \
	/usr/sbin/sshd ssh ssh-keygen nginx openssl curl avahi-daemon base64 "$PY"; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if command -v busybox >/dev/null 2>&1; then
	applets=$(busybox --list)
	for applet in telnetd udhcpc login httpd wget; do
		grep -qx "$applet" <<<"$applets" || missing+=("busybox-$applet (install busybox-static)")
	done
fi
if [[ -x $PY ]] && ! "$PY" -c 'import hl7.mllp, pydicom' 2>/dev/null; then
	missing+=("python3-hl7/python3-pydicom")
fi
if ((${#missing[@]})); then
	echo "rig: missing tools: ${missing[*]} (run rig/install-deps.sh)" >&2
	exit 77
fi

# --- one run at a time, then the global time bound (lib.sh) ---
serialise record.sh "${VIGIL_RIG_TIMEOUT:-120}" "$@"

OUT=$1
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STATE=$(mktemp -d /tmp/vigil-rig.XXXXXX)
chmod 0755 "$STATE" # daemons that drop privileges read their files here
readonly OUT STATE
rm -rf "$OUT/logs" "$OUT/rig.pcap" "$OUT/truth.json"
mkdir -p "$OUT/logs" "$STATE/log" "$STATE/dev"
FACTS=$STATE/facts.tsv
: >"$FACTS"
T0=$EPOCHREALTIME

# --- the synthetic identities (everything the truth is made of) ---

readonly LAN=192.0.2
readonly GW=$LAN.1 DNS=$LAN.2
readonly INET_IP=203.0.113.80 INET_GW=203.0.113.1

readonly PATIENT_NAME='ZZRIG^PATIENT' PATIENT_ID=ZZRIG0001 RESULT_VALUE=ZZRIGRESULT
readonly TELNET_USER=admin TELNET_PW=ZZrigTelnetPw1
readonly HTTP_USER=rigadmin HTTP_PW=ZZrigHttpPw1
readonly SNMP_COMMUNITY=public SNMP_BAD_COMMUNITY=ZZrigCommunity1
HTTP_TOKEN=$(printf '%s:%s' "$HTTP_USER" "$HTTP_PW" | base64)
readonly HTTP_TOKEN

readonly PACS_AET=VIGILPACS CT_AET=CTSCANNER01 WRONG_AET=WRONGPACS
readonly CT_VENDOR='VigilRig Medical' CT_MODEL='RigCT 9000' CT_SERIAL=RIGCT-0001
readonly CT_SOFTWARE=4.2.1 CT_STATION=CTROOM1 CT_INSTITUTION='Rig General Hospital'
readonly HL7_APP=RIGLAB HL7_FAC=RIGHOSP HL7_RAPP=RIGEHR HL7_RFAC=RIGHOSP
readonly SW_NAME=rig-sw-core1 SW_DESCR='VigilRig SwitchOS 12.4 (rig-sw-core1)'
readonly SNMP_DESCR='VigilRig PrintStation RP-4200 firmware 2.7.1'
readonly SNMP_NAME=rig-printer-2f SNMP_LOCATION='Rig General Hospital, Ward 2F'
readonly SNMP_CONTACT=biomed@rig.example
readonly TELNET_ISSUE='VigilRig RM-700 patient monitor - service port'
readonly WEB_NAME=rig-pacs-web
readonly WS_HOST=RIG-WS-01 WS_UA='VigilRig-Workstation/1.0'
readonly PUMP_HOST=rig-pump-01 PUMP_VC=VigilRig-Pump-IV7 PUMP_UA='RigPump-IV7/3.1'
readonly PUMP_IP1=$LAN.101 PUMP_IP2=$LAN.102 WS_IP=$LAN.110
readonly MON_HOST=rig-monitor-icu1 CLOUD_NAME=updates.rig-vendor.example

fact() { # fact SUBJECT KEY VALUE: one line of facts.tsv for truth.py
	[[ $3 != *$'\t'* && $3 != *$'\n'* ]] || die "fact $1 $2: value has a tab or newline"
	printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$FACTS"
}

# device NAME MAC IP|dhcp HOSTNAME CLASS ROLE: declares one device on the
# bridge. MACs carry real OUIs of the device class (Wireshark's manuf;
# ../shared/integrations/fingerprints/medical-vendor-ouis.tsv), with
# 52:49 ("RI") as the rig's marker in the device part.
DEVICES=()
declare -A MAC IP HOST
device() {
	DEVICES+=("$1")
	MAC[$1]=$2 IP[$1]=$3 HOST[$1]=$4
	fact "$1" mac "$2"
	fact "$1" class "$5"
	fact "$1" role "$6"
	if [[ $3 == dhcp ]]; then fact "$1" addressing dhcp; else
		fact "$1" addressing static
		fact "$1" ip "$3"
	fi
}
device router 00:05:85:52:49:01 "$GW" rig-router network "router to the internet (Juniper)"
device core f8:bc:12:52:49:02 "$DNS" rig-core it "DHCP and DNS server, dnsmasq (Dell)"
device switch 00:1b:54:52:49:03 "$LAN.3" "$SW_NAME" network "switch management, lldpd (Cisco)"
device nms 00:50:56:52:49:05 "$LAN.5" rig-nms it "network management station, snmpget (VMware)"
device pacs 00:14:22:52:49:10 "$LAN.10" rig-pacs it "PACS: DCMTK dcmqrscp, nginx web viewer, sshd (Dell)"
device ct 44:4b:5d:52:49:20 "$LAN.20" rig-ct medical "CT modality, DCMTK echoscu/storescu (GE Healthcare)"
device hl7 94:57:a5:52:49:30 "$LAN.30" rig-hl7 it "HL7 interface engine, python3-hl7 MLLP (HP)"
device lab 00:06:6b:52:49:31 "$LAN.31" rig-lab medical "lab analyzer, mllp_send (Sysmex)"
device printer 00:21:b7:52:49:40 "$LAN.40" "$SNMP_NAME" it "printer, snmpd (Lexmark)"
device monitor 00:09:fb:52:49:50 "$LAN.50" "$MON_HOST" medical "patient monitor, busybox telnetd and avahi (Philips)"
device ws 3c:a9:f4:52:49:60 dhcp "$WS_HOST" it "workstation, dhclient, curl, ssh, telnet (Intel)"
device pump 00:03:b1:52:49:70 dhcp "$PUMP_HOST" medical "infusion pump, udhcpc and wget (ICU Medical)"
readonly INET_MAC=02:00:cb:00:71:50 ROUTER_WAN_MAC=02:00:cb:00:71:01

# --- namespaces, processes, teardown ---

declare -A PID_OF
STARTED=()

alive() { kill -0 "${PID_OF[$1]}" 2>/dev/null; }

teardown() {
	stop_processes
	sweep_namespaces
}

on_exit() {
	local rc=$?
	set +e
	# Ignore further signals while cleaning up: timeout(1) signals the
	# whole process group, so a second TERM is usual and must not cut the
	# teardown short (its --kill-after is the backstop).
	trap - EXIT
	trap '' INT TERM
	teardown
	cp -f "$STATE"/log/*.log "$OUT/logs/" 2>/dev/null
	if ((rc != 0)); then
		log "failed (exit $rc); logs in $OUT/logs"
		rm -f "$OUT/truth.json"
	fi
	if [[ -n ${VIGIL_RIG_KEEP:-} ]]; then log "state kept in $STATE"; else rm -rf "$STATE"; fi
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- topology ---

# nsip NS: run the ip(8) commands on stdin in namespace NS, in one exec
# (setup stays quick on a loaded machine).
nsip() { ip -n "$NS_PREFIX$1" -batch -; }

setup_topology() {
	# Leftovers of a run that died without its trap (SIGKILL): the lock
	# guarantees that no other run owns them.
	sweep_namespaces
	local stale
	for stale in /tmp/vigil-rig.??????; do
		if [[ -d $stale && $stale != "$STATE" ]]; then rm -rf "$stale"; fi
	done
	mkns sw0 || {
		log "cannot create network namespaces here"
		exit 77
	}
	local d
	for d in "${DEVICES[@]}" inet; do mkns "$d"; done

	# The bridge lives in its own namespace too. group_fwd_mask 0x4000
	# makes it forward LLDP (01:80:c2:00:00:0e), which it otherwise keeps
	# to the port; with tcpdump making br0 promiscuous, every forwarded
	# frame is seen on br0.
	{
		echo "link set lo up"
		echo "link add br0 type bridge stp_state 0 mcast_snooping 0 group_fwd_mask 0x4000"
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
			if [[ ${IP[$d]} != dhcp ]]; then
				echo "addr add ${IP[$d]}/24 dev eth0"
				[[ $d == router ]] || echo "route add default via $GW"
			fi
		} | nsip "$d"
		mkdir -p "$STATE/dev/$d"
		echo "${HOST[$d]}" >"$STATE/dev/$d/hostname"
		echo "nameserver $DNS" >"$STATE/dev/$d/resolv.conf"
		printf '127.0.0.1\tlocalhost\n' >"$STATE/dev/$d/hosts"
		if [[ ${IP[$d]} != dhcp ]]; then
			printf '%s\t%s\n' "${IP[$d]}" "${HOST[$d]}" >>"$STATE/dev/$d/hosts"
		fi
	done

	# The internet: a host in 203.0.113.0/24 behind the router, on a
	# link of its own (a mirror port inside the hospital sees it only as
	# traffic to and from the router's MAC).
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
	mkdir -p "$STATE/dev/inet"
	echo rig-vendor-cloud >"$STATE/dev/inet/hostname"
	echo "nameserver $INET_IP" >"$STATE/dev/inet/resolv.conf"
	printf '127.0.0.1\tlocalhost\n' >"$STATE/dev/inet/hosts"
	fact inet ip "$INET_IP"
	fact inet via router
	fact inet contacted_by pump
}

# --- files the scenarios need, prepared before the capture starts ---

prepare() {
	local d=$STATE/dev i

	# DICOM: pydicom's CT_small.dcm, three times, with synthetic equipment
	# and a synthetic patient; private tags and the sample's other patient
	# IDs removed. The sample's own identities must not survive.
	local sample
	sample=$("$PY" -c 'from pydicom.data import get_testdata_file as f; print(f("CT_small.dcm"))')
	[[ -f $sample ]] || die "pydicom sample CT_small.dcm not found"
	mkdir -p "$d/ct/dicom" "$d/pacs/db"
	for i in 1 2 3; do
		cp "$sample" "$d/ct/dicom/ct$i.dcm"
		dcmodify -q -nb -gin -ep -e "(0010,1002)" \
			-i "(0008,0060)=CT" \
			-i "(0008,0070)=$CT_VENDOR" \
			-i "(0008,1090)=$CT_MODEL" \
			-i "(0018,1000)=$CT_SERIAL" \
			-i "(0018,1020)=$CT_SOFTWARE" \
			-i "(0008,1010)=$CT_STATION" \
			-i "(0008,0080)=$CT_INSTITUTION" \
			-i "(0010,0010)=$PATIENT_NAME" \
			-i "(0010,0020)=$PATIENT_ID" \
			-i "(0010,0030)=19010101" \
			-i "(0020,0010)=RIGSTUDY1" \
			-i "(0020,0013)=$i" \
			"$d/ct/dicom/ct$i.dcm"
	done
	if dcmdump "$d"/ct/dicom/*.dcm | grep -E 'CompressedSamples|1CT1|ABCD1234|1234ABCD|JFK IMAGING|GE MEDICAL|RHAPSODE'; then
		die "the sample's own identities survived dcmodify"
	fi
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

	# HL7: three ORU^R01 2.5 results for the synthetic patient.
	local now
	now=$(date -u +%Y%m%d%H%M%S)
	: >"$d/lab/oru.hl7"
	for i in 1 2 3; do
		printf '%s\n' \
			"MSH|^~\\&|$HL7_APP|$HL7_FAC|$HL7_RAPP|$HL7_RFAC|$now||ORU^R01^ORU_R01|RIGMSG000$i|P|2.5" \
			"PID|1||$PATIENT_ID^^^$HL7_FAC^MR||$PATIENT_NAME||19010101|U" \
			"OBR|1||RIGORD000$i|GLU^Glucose^L" \
			"OBX|1|ST|GLU^Glucose^L||$RESULT_VALUE||||||F" >>"$d/lab/oru.hl7"
	done

	# DHCP: static leases, the pump's first address (changed later).
	printf '%s,%s\n%s,%s\n' "${MAC[pump]}" "$PUMP_IP1" "${MAC[ws]}" "$WS_IP" >"$d/core/dhcp-hosts"
	local c
	for c in pump ws; do
		printf '#!/bin/sh\nexec %s %s "$@"\n' "$RIG_DIR/dhcp-event.sh" "$d/$c" >"$d/$c/dhcp-event"
		chmod 0755 "$d/$c/dhcp-event"
	done
	cat >"$d/ws/dhclient.conf" <<EOF
send host-name "$WS_HOST";
request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers, host-name;
EOF

	# LLDP.
	echo "configure lldp tx-interval 5" >"$d/switch/lldpd.conf"

	# SNMP.
	mkdir -p "$d/printer/persist"
	cat >"$d/printer/snmpd.conf" <<EOF
agentAddress udp:$LAN.40:161
rocommunity $SNMP_COMMUNITY $LAN.0/24
sysDescr $SNMP_DESCR
sysName $SNMP_NAME
sysLocation $SNMP_LOCATION
sysContact $SNMP_CONTACT
sysServices 72
EOF

	# SSH: a private sshd (host key, config) and a throwaway client key.
	ssh-keygen -q -t ed25519 -N '' -C rig-pacs -f "$d/pacs/ssh_host_ed25519_key"
	ssh-keygen -q -t ed25519 -N '' -C rig-ws -f "$d/ws/id_ed25519"
	cat >"$d/pacs/sshd_config" <<EOF
Port 22
ListenAddress $LAN.10
HostKey $d/pacs/ssh_host_ed25519_key
PidFile none
UsePAM no
PermitRootLogin no
PasswordAuthentication yes
KbdInteractiveAuthentication no
AuthorizedKeysFile none
LogLevel VERBOSE
EOF

	# Telnet: busybox login behind busybox telnetd; the issue file is the
	# banner.
	mkdir -p "$d/monitor/bin"
	ln -s "$(command -v busybox)" "$d/monitor/bin/login"
	printf '%s\n' "$TELNET_ISSUE" >"$d/monitor/issue.net"

	# HTTP/TLS: nginx with a self-signed certificate, TLS 1.2 only, and
	# Basic auth on plain HTTP.
	mkdir -p "$d/pacs/nginx/tmp" "$d/pacs/www"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
		-subj "/CN=$WEB_NAME" -addext "subjectAltName=DNS:$WEB_NAME" \
		-keyout "$d/pacs/nginx/key.pem" -out "$d/pacs/nginx/cert.pem" 2>/dev/null
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
        server_name $WEB_NAME;
        ssl_certificate $d/pacs/nginx/cert.pem;
        ssl_certificate_key $d/pacs/nginx/key.pem;
        ssl_protocols TLSv1.2;
        location / { return 200 "Rig PACS web viewer\n"; }
    }
    server {
        listen $LAN.10:80;
        server_name $WEB_NAME;
        location / {
            auth_basic "Rig PACS";
            auth_basic_user_file $d/pacs/nginx/htpasswd;
            root $d/pacs/www;
        }
    }
}
EOF

	# mDNS: avahi with a private configuration and services directory.
	mkdir -p "$d/monitor/avahi-services"
	cat >"$d/monitor/avahi-daemon.conf" <<EOF
[server]
host-name=$MON_HOST
domain-name=local
use-ipv4=yes
use-ipv6=no
allow-interfaces=eth0
enable-dbus=no
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-addresses=yes
publish-hinfo=no
publish-workstation=no
publish-domain=no
[reflector]
enable-reflector=no
EOF
	cat >"$d/monitor/avahi-services/rigmon.service" <<EOF
<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name>RigMonitor ICU1</name>
  <service>
    <type>_http._tcp</type>
    <port>80</port>
    <txt-record>model=RM-700</txt-record>
  </service>
</service-group>
EOF

	# The internet host's web server.
	mkdir -p "$d/inet/www"
	echo '{"latest":"3.2.0"}' >"$d/inet/www/firmware.json"
}

start_capture() {
	ip netns exec ${NS_PREFIX}sw0 tcpdump -i br0 -s 0 -n -U -Z root --immediate-mode \
		-w "$OUT/rig.pcap" >"$STATE/log/tcpdump.log" 2>&1 {lockfd}>&- &
	PID_OF[tcpdump]=$!
	STARTED+=(tcpdump)
	wait_until 10 grep -qs 'listening on' "$STATE/log/tcpdump.log" || die "tcpdump did not start"
}

stop_capture() {
	sleep 0.5 # the last FIN/ACKs
	kill -INT "${PID_OF[tcpdump]}"
	wait "${PID_OF[tcpdump]}" || true
	grep -E 'captured|dropped' "$STATE/log/tcpdump.log" >&2 || true
	if grep -qE '[1-9][0-9]* packets dropped by kernel' "$STATE/log/tcpdump.log"; then
		die "tcpdump dropped packets"
	fi
}

# --- scenarios, in the order they run ---

dhcp_events() { cat "$STATE/dev/$1/dhcp-events.log" 2>/dev/null || true; }
dhcp_seen() { dhcp_events "$1" | grep -qx "$2"; }

scenario_dhcp() {
	log "DHCP: dnsmasq in core; udhcpc (pump) and dhclient (ws)"
	# DNS knows every static device (forward and reverse: dcmqrscp and
	# sshd look their peers up), answers for itself only (--local=/#/:
	# no REFUSED, nothing forwarded) and learns the DHCP clients' names.
	local d records=()
	for d in "${DEVICES[@]}"; do
		[[ ${IP[$d]} == dhcp ]] || records+=(--host-record="${HOST[$d]},${IP[$d]}")
	done
	start_bg dnsmasq core dnsmasq --keep-in-foreground --conf-file=/dev/null \
		--log-facility=- --log-dhcp --log-queries --user=root --group=root \
		--pid-file="$STATE/dev/core/dnsmasq.pid" --interface=eth0 --bind-interfaces \
		--no-resolv --no-hosts --no-ping --dhcp-authoritative \
		--dhcp-range="$LAN.100,$LAN.150,255.255.255.0,1h" \
		--dhcp-option=option:router,"$GW" --dhcp-option=option:dns-server,"$DNS" \
		--dhcp-hostsfile="$STATE/dev/core/dhcp-hosts" \
		--dhcp-leasefile="$STATE/dev/core/dnsmasq.leases" \
		--local=/#/ "${records[@]}" --host-record="$WEB_NAME,$LAN.10" --host-record="$CLOUD_NAME,$INET_IP"
	await_listen dnsmasq core udp 67

	start_bg udhcpc pump busybox udhcpc -f -i eth0 -s "$STATE/dev/pump/dhcp-event" \
		-x "hostname:$PUMP_HOST" -V "$PUMP_VC" -R -t 10 -T 1 -A 1
	start_bg dhclient ws dhclient -4 -d -v -1 -cf "$STATE/dev/ws/dhclient.conf" \
		-lf "$STATE/dev/ws/dhclient.leases" -pf "$STATE/dev/ws/dhclient.pid" \
		-sf "$STATE/dev/ws/dhcp-event" eth0
	wait_until 15 dhcp_seen pump "udhcpc bound $PUMP_IP1" || die "pump got no lease: $(dhcp_events pump)"
	wait_until 15 dhcp_seen ws "dhclient BOUND $WS_IP" || die "ws got no lease: $(dhcp_events ws)"

	# The pump renews (same address), releases, and comes back with a
	# different static lease: one device, two addresses.
	kill -USR1 "${PID_OF[udhcpc]}"
	wait_until 10 dhcp_seen pump "udhcpc renew $PUMP_IP1" || die "pump did not renew: $(dhcp_events pump)"
	kill -USR2 "${PID_OF[udhcpc]}"
	wait_until 10 dhcp_seen pump "udhcpc deconfig" || die "pump did not release: $(dhcp_events pump)"
	printf '%s,%s\n%s,%s\n' "${MAC[pump]}" "$PUMP_IP2" "${MAC[ws]}" "$WS_IP" >"$STATE/dev/core/dhcp-hosts"
	kill -HUP "${PID_OF[dnsmasq]}"
	sleep 0.2
	kill -USR1 "${PID_OF[udhcpc]}"
	wait_until 15 dhcp_seen pump "udhcpc bound $PUMP_IP2" || die "pump did not get its new address: $(dhcp_events pump)"

	fact pump attr:hostname "$PUMP_HOST"
	fact pump attr:dhcp.vendor_class "$PUMP_VC"
	fact ws attr:hostname "$WS_HOST"
}

scenario_dicom() {
	log "DICOM: dcmqrscp ($PACS_AET) in pacs; echoscu/storescu ($CT_AET) in ct"
	# Fork mode: in single-process mode (-s) DCMTK 3.6.7 dcmqrscp
	# crashes after the first association is released.
	start_bg dcmqrscp pacs dcmqrscp -c "$STATE/dev/pacs/dcmqrscp.cfg" 104
	await_listen dcmqrscp pacs tcp 104
	nsx ct echoscu -aet "$CT_AET" -aec "$PACS_AET" "$LAN.10" 104 >"$STATE/log/echoscu.log" 2>&1 ||
		die "C-ECHO failed: $(cat "$STATE/log/echoscu.log")"
	nsx ct storescu -aet "$CT_AET" -aec "$PACS_AET" "$LAN.10" 104 "$STATE"/dev/ct/dicom/ct*.dcm \
		>"$STATE/log/storescu.log" 2>&1 || die "C-STORE failed: $(cat "$STATE/log/storescu.log")"
	if nsx ct echoscu -aet "$CT_AET" -aec "$WRONG_AET" "$LAN.10" 104 >"$STATE/log/echoscu-wrong.log" 2>&1; then
		die "an association to the wrong AE title was accepted"
	fi
	grep -qi 'reject' "$STATE/log/echoscu-wrong.log" || die "wrong AE title: no rejection: $(cat "$STATE/log/echoscu-wrong.log")"
	local stored
	stored=$(find "$STATE/dev/pacs/db" -name 'CT*' -type f | wc -l)
	((stored == 3)) || die "the PACS stored $stored objects, not 3"

	fact ct attr:dicom.ae_title "$CT_AET"
	fact ct attr:dicom.role scu
	fact ct learn:dicom.implementation_class_uid ""
	fact ct learn:dicom.implementation_version ""
	fact ct attr:vendor "$CT_VENDOR"
	fact ct attr:model "$CT_MODEL"
	fact ct attr:serial "$CT_SERIAL"
	fact ct attr:software_version "$CT_SOFTWARE"
	fact ct attr:dicom.station_name "$CT_STATION"
	fact ct attr:dicom.institution_name "$CT_INSTITUTION"
	fact ct attr:dicom.modality CT
	fact pacs attr:dicom.ae_title "$PACS_AET"
	fact pacs attr:dicom.role scp
	fact pacs learn:dicom.implementation_class_uid ""
	fact pacs learn:dicom.implementation_version ""
	fact auth:dicom ct "pacs|ae-title|$CT_AET|success|A-ASSOCIATE-AC (C-ECHO, then C-STORE of 3 CT images)"
	fact auth:dicom ct "pacs|ae-title|$CT_AET|failure|A-ASSOCIATE-RJ: called AE title $WRONG_AET not recognised"
}

scenario_hl7() {
	log "HL7: ACKing MLLP engine in hl7; mllp_send in lab"
	start_bg hl7-engine hl7 "$PY" "$RIG_DIR/hl7_server.py" "$LAN.30" 2575
	await_listen hl7-engine hl7 tcp 2575
	nsx lab mllp_send --loose --port 2575 --file "$STATE/dev/lab/oru.hl7" "$LAN.30" \
		>"$STATE/log/mllp_send.log" 2>&1 || die "mllp_send failed: $(cat "$STATE/log/mllp_send.log")"
	local acks
	acks=$(grep -c 'MSA|AA' "$STATE/log/mllp_send.log" || true)
	((acks == 3)) || die "mllp_send got $acks ACKs, not 3"

	fact lab attr:hl7.sending_application "$HL7_APP"
	fact lab attr:hl7.sending_facility "$HL7_FAC"
	fact lab attr:hl7.receiving_application "$HL7_APP"
	fact lab attr:hl7.receiving_facility "$HL7_FAC"
	fact lab attr:hl7.message_type ORU^R01
	fact lab attr:hl7.version 2.5
	fact hl7 attr:hl7.sending_application "$HL7_RAPP"
	fact hl7 attr:hl7.sending_facility "$HL7_RFAC"
	fact hl7 attr:hl7.receiving_application "$HL7_RAPP"
	fact hl7 attr:hl7.receiving_facility "$HL7_RFAC"
	fact hl7 attr:hl7.message_type ACK^R01
}

scenario_lldp() {
	log "LLDP: lldpd in switch"
	start_bg lldpd switch lldpd -d -k -I eth0 -S "$SW_DESCR" -m "$LAN.3" \
		-O "$STATE/dev/switch/lldpd.conf"
	# lldpd sends its first LLDPDU at once and then every tx-interval;
	# the scenarios after this one give it time for a second.
	wait_until 10 alive lldpd || die "lldpd died"
	fact switch attr:lldp.system_name "$SW_NAME"
	fact switch attr:lldp.system_description "$SW_DESCR"
	fact switch attr:lldp.management_address "$LAN.3"
	fact switch learn:lldp.chassis_id ""
	fact switch learn:lldp.port_id ""
}

scenario_snmp() {
	log "SNMP: snmpd in printer; snmpget in nms"
	start_bg snmpd printer env SNMP_PERSISTENT_DIR="$STATE/dev/printer/persist" MIBS= \
		snmpd -f -Lo -C -c "$STATE/dev/printer/snmpd.conf" -p "$STATE/dev/printer/snmpd.pid"
	await_listen snmpd printer udp 161
	local out
	out=$(nsx nms env MIBS= SNMPCONFPATH="$STATE/dev/nms" snmpget -v2c -c "$SNMP_COMMUNITY" -On -t 2 -r 1 \
		"$LAN.40" 1.3.6.1.2.1.1.1.0 1.3.6.1.2.1.1.2.0 1.3.6.1.2.1.1.4.0 1.3.6.1.2.1.1.5.0 1.3.6.1.2.1.1.6.0 2>&1) ||
		die "snmpget failed: $out"
	echo "$out" >"$STATE/log/snmpget.log"
	grep -q "$SNMP_NAME" <<<"$out" || die "snmpget: no sysName in $out"
	nsx nms env MIBS= SNMPCONFPATH="$STATE/dev/nms" snmpget -v1 -c "$SNMP_COMMUNITY" -On -t 2 -r 1 \
		"$LAN.40" 1.3.6.1.2.1.1.3.0 >>"$STATE/log/snmpget.log" 2>&1 || die "snmpget -v1 failed"
	if nsx nms env MIBS= SNMPCONFPATH="$STATE/dev/nms" snmpget -v2c -c "$SNMP_BAD_COMMUNITY" -On -t 1 -r 0 \
		"$LAN.40" 1.3.6.1.2.1.1.5.0 >>"$STATE/log/snmpget.log" 2>&1; then
		die "snmpd answered a wrong community"
	fi

	fact printer attr:snmp.sys_descr "$SNMP_DESCR"
	fact printer attr:snmp.sys_name "$SNMP_NAME"
	fact printer attr:snmp.sys_location "$SNMP_LOCATION"
	fact printer attr:snmp.sys_contact "$SNMP_CONTACT"
	fact printer learn:snmp.sys_object_id ""
	fact printer attr:insecure_protocol snmpv1
	fact printer attr:cleartext_credential "snmp community"
	fact nms attr:insecure_protocol snmpv1
	fact nms attr:cleartext_credential "snmp community"
	fact auth:snmp nms "printer|community||success|GetResponse to community $SNMP_COMMUNITY (v2c and v1)"
	fact auth:snmp nms "printer|community||failure|no response to a wrong community (v2c)"
}

scenario_ssh() {
	log "SSH: sshd in pacs; one failing ssh from ws"
	start_bg sshd pacs /usr/sbin/sshd -D -e -f "$STATE/dev/pacs/sshd_config"
	await_listen sshd pacs tcp 22
	if nsx ws ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o IdentitiesOnly=yes -o IdentityAgent=none -i "$STATE/dev/ws/id_ed25519" -o ConnectTimeout=5 \
		-o GSSAPIAuthentication=no "rigservice@$WEB_NAME" true >"$STATE/log/ssh.log" 2>&1; then
		die "ssh logged in"
	fi
	grep -q 'Permission denied' "$STATE/log/ssh.log" || die "ssh: no auth failure: $(cat "$STATE/log/ssh.log")"

	fact pacs learn:ssh.banner ""
	fact ws learn:ssh.banner ""
	fact auth:ssh ws "pacs|publickey|rigservice|failure|Permission denied (publickey,password)"
}

scenario_telnet() {
	log "Telnet: busybox telnetd/login in monitor; one failed login from ws"
	start_bg telnetd monitor busybox telnetd -F -p 23 -b "$LAN.50" \
		-l "$STATE/dev/monitor/bin/login" -f "$STATE/dev/monitor/issue.net"
	await_listen telnetd monitor tcp 23
	nsx ws "$PY" "$RIG_DIR/telnet_login.py" "$LAN.50" 23 "$TELNET_USER" "$TELNET_PW" \
		>"$STATE/log/telnet.log" 2>&1 || die "telnet login did not fail as scripted: $(cat "$STATE/log/telnet.log")"

	fact monitor attr:telnet.banner "$TELNET_ISSUE"
	fact monitor attr:insecure_protocol telnet
	fact monitor attr:cleartext_credential "telnet login"
	fact ws attr:insecure_protocol telnet
	fact ws attr:cleartext_credential "telnet login"
	fact auth:telnet ws "monitor|login|$TELNET_USER|failure|Login incorrect"
}

scenario_http() {
	log "HTTP/TLS: nginx in pacs; curl from ws"
	start_bg nginx pacs nginx -p "$STATE/dev/pacs/nginx" -c "$STATE/dev/pacs/nginx/nginx.conf" \
		-e "$STATE/dev/pacs/nginx/error.log"
	await_listen nginx pacs tcp 443
	await_listen nginx pacs tcp 80
	local code
	code=$(nsx ws curl -sS -k --tlsv1.2 --tls-max 1.2 -A "$WS_UA" -o /dev/null -w '%{http_code}' \
		"https://$WEB_NAME/" 2>"$STATE/log/curl-https.log") || die "curl https failed: $(cat "$STATE/log/curl-https.log")"
	[[ $code == 200 ]] || die "https: status $code"
	code=$(nsx ws curl -sS -A "$WS_UA" -u "$HTTP_USER:$HTTP_PW" -o /dev/null -w '%{http_code}' \
		"http://$WEB_NAME/" 2>"$STATE/log/curl-http.log") || die "curl http failed: $(cat "$STATE/log/curl-http.log")"
	[[ $code == 401 ]] || die "http basic auth: status $code, not 401"

	fact ws attr:tls.sni "$WEB_NAME"
	fact ws attr:http.user_agent "$WS_UA"
	fact ws attr:dns.query "$WEB_NAME"
	fact ws attr:cleartext_credential "http basic"
	fact pacs attr:tls.cert_subject "CN=$WEB_NAME"
	fact pacs attr:tls.version 1.2
	fact pacs learn:http.server ""
	fact pacs attr:cleartext_credential "http basic"
	fact auth:http ws "pacs|basic|$HTTP_USER|failure|401 Unauthorized"
}

scenario_mdns() {
	log "mDNS: avahi-daemon in monitor"
	start_bg avahi monitor avahi-daemon -f "$STATE/dev/monitor/avahi-daemon.conf" \
		--no-chroot --no-drop-root --no-rlimits --no-proc-title
	wait_until 15 grep -q 'Server startup complete' "$STATE/log/avahi.log" ||
		die "avahi did not start: $(tail -n 5 "$STATE/log/avahi.log")"
	wait_until 10 grep -q "Service \"RigMonitor ICU1\" .* successfully established" "$STATE/log/avahi.log" ||
		die "avahi did not publish its service: $(tail -n 5 "$STATE/log/avahi.log")"

	fact monitor attr:hostname "$MON_HOST"
	fact monitor attr:mdns.service _http._tcp
}

scenario_internet() {
	log "internet: busybox httpd at $INET_IP; the pump fetches from it through the router"
	start_bg inet-httpd inet busybox httpd -f -v -p "$INET_IP:80" -h "$STATE/dev/inet/www"
	await_listen inet-httpd inet tcp 80
	nsx pump busybox wget -q -U "$PUMP_UA" -O "$STATE/dev/pump/firmware.json" \
		"http://$CLOUD_NAME/firmware.json" >"$STATE/log/wget.log" 2>&1 ||
		die "the pump could not reach the internet host: $(cat "$STATE/log/wget.log")"
	grep -q latest "$STATE/dev/pump/firmware.json" || die "the pump fetched nothing"

	fact pump attr:http.user_agent "$PUMP_UA"
	fact pump attr:dns.query "$CLOUD_NAME"
}

# --- main ---

log "setting up ${#DEVICES[@]} devices in namespaces"
setup_topology
prepare
start_capture
scenario_dhcp
scenario_dicom
scenario_hl7
scenario_lldp
scenario_snmp
scenario_ssh
scenario_telnet
scenario_http
scenario_mdns
scenario_internet
stop_capture
teardown

for v in "$PATIENT_NAME" "$PATIENT_ID" "$RESULT_VALUE"; do fact forbidden:patient yes "$v"; done
fact forbidden:password yes "$TELNET_PW"
fact forbidden:password no "$HTTP_PW"
fact forbidden:credential yes "$HTTP_TOKEN"
fact forbidden:credential yes "$SNMP_BAD_COMMUNITY"
fact tool sshd "$(ssh -V 2>&1 | cut -d, -f1)"
fact tool nginx "$(nginx -v 2>&1 | sed 's/.*version: //')"
for p in dcmtk python3-hl7 python3-pydicom dnsmasq-base busybox-static isc-dhcp-client lldpd snmpd snmp \
	openssh-server nginx-light curl avahi-daemon tcpdump tshark; do
	fact package "$p" "$(dpkg-query -W -f '${Version}' "$p" 2>/dev/null || echo unknown)"
done

"$PY" "$RIG_DIR/truth.py" --facts "$FACTS" --dhcp-log pump="$STATE/dev/pump/dhcp-events.log" \
	--dhcp-log ws="$STATE/dev/ws/dhcp-events.log" --pcap "$OUT/rig.pcap" --out "$OUT/truth.json" ||
	die "the capture does not hold what the rig configured (see above)"
log "recorded $OUT/rig.pcap and $OUT/truth.json in $(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $T0 }") s"
