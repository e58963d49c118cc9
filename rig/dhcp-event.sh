#!/bin/sh
# shellcheck disable=SC2154 # interface, ip, new_ip_address, ...: set by the DHCP client
# dhcp-event.sh DEVDIR [EVENT] is the address script of the rig's DHCP
# clients: busybox udhcpc passes the event as $1 (after DEVDIR), ISC
# dhclient in $reason. It only touches the device's own interface inside
# its namespace, writes the device's private resolv.conf, and appends one
# line per event to DEVDIR/dhcp-events.log, which record.sh waits on and
# truth.py reads.
set -eu

dev=$1
shift
log=$dev/dhcp-events.log

configure() { # configure IP MASK ROUTER DNS
	cur=$(ip -4 -o addr show dev "$interface" | awk '{print $4}' | cut -d/ -f1)
	if [ "$cur" != "$1" ]; then
		ip -4 addr flush dev "$interface"
		ip addr add "$1/$2" dev "$interface"
	fi
	if [ -n "$3" ]; then
		ip route replace default via "${3%% *}" dev "$interface"
	fi
	if [ -n "$4" ]; then
		: >"$dev/resolv.conf.new"
		for ns in $4; do echo "nameserver $ns" >>"$dev/resolv.conf.new"; done
		cat "$dev/resolv.conf.new" >"$dev/resolv.conf"
		rm -f "$dev/resolv.conf.new"
	fi
}

if [ -n "${reason:-}" ]; then
	# ISC dhclient.
	case $reason in
	PREINIT) ip link set "$interface" up ;;
	BOUND | RENEW | REBIND | REBOOT)
		configure "$new_ip_address" "$new_subnet_mask" "${new_routers:-}" "${new_domain_name_servers:-}"
		echo "dhclient $reason $new_ip_address" >>"$log"
		;;
	EXPIRE | FAIL | RELEASE | STOP)
		ip -4 addr flush dev "$interface"
		echo "dhclient $reason" >>"$log"
		;;
	esac
	exit 0
fi

# busybox udhcpc.
event=${1:-}
case $event in
deconfig)
	ip -4 addr flush dev "$interface"
	echo "udhcpc deconfig" >>"$log"
	;;
bound | renew)
	configure "$ip" "${subnet:-255.255.255.0}" "${router:-}" "${dns:-}"
	echo "udhcpc $event $ip" >>"$log"
	;;
leasefail | nak)
	echo "udhcpc $event" >>"$log"
	;;
esac
exit 0
