#!/usr/bin/env bash
# nsexec.sh DEVDIR CMD [ARG...] runs CMD as one rig device. record.sh
# starts it as
#
#   ip netns exec vrig-NAME unshare --uts -- nsexec.sh DEVDIR CMD...
#
# so it already sits in the device's network namespace, in a mount
# namespace of its own (ip netns exec makes one, a slave of the host's:
# nothing mounted here reaches the host) and in a UTS namespace of its own.
# Here it gives the device its hostname, private /run and /var/log (sshd's
# privilege separation directory, lldpd's chroot, avahi's runtime files,
# utmp/wtmp all land in memory that dies with the process), and its own
# /etc/resolv.conf and /etc/hosts. Everything is exec'd, so the PID that
# record.sh holds is the daemon's own.
set -euo pipefail

dev=$1
shift

hostname "$(<"$dev/hostname")"

mount -t tmpfs -o mode=0755,size=16m vrig-run /run
mount -t tmpfs -o mode=0755,size=16m vrig-log /var/log
mkdir -p /run/lock /run/sshd /run/lldpd /run/avahi-daemon

# /etc/resolv.conf may be a symlink into /run (systemd-resolved): give its
# target a home in the private /run before binding over it.
resolv=$(readlink -f /etc/resolv.conf)
if [[ ! -e $resolv ]]; then
	mkdir -p "$(dirname "$resolv")"
	: >"$resolv"
fi
mount --bind "$dev/resolv.conf" "$resolv"
mount --bind "$dev/hosts" "$(readlink -f /etc/hosts)"

# Optional per-device overlays of fixed daemon paths.
if [[ -d $dev/avahi-services ]]; then
	mount --bind "$dev/avahi-services" /etc/avahi/services
fi

exec "$@"
