#!/usr/bin/env bash
# install-deps.sh installs the Debian packages that rig/record.sh needs
# (Debian 12 names). It is idempotent: when every package is installed it
# does nothing, so `make test-deps` can call it on every run.
#
# The daemons among them (sshd, snmpd, lldpd, avahi, nginx) must never run
# on the host: the rig starts its own copies inside network namespaces.
# While apt runs, a policy-rc.d that forbids service starts is in place
# (unless the machine already has one, as Debian containers do).
set -euo pipefail

PACKAGES=(
	# capture and checks
	tcpdump tshark libwireshark-data iproute2 util-linux procps coreutils mawk
	# DHCP and DNS: server and both clients (busybox-static also brings
	# telnetd, login, httpd and wget, which Debian's plain busybox lacks)
	dnsmasq-base isc-dhcp-client busybox-static
	# DICOM: DCMTK and pydicom's sample files
	dcmtk python3 python3-pydicom
	# HL7 v2 over MLLP
	python3-hl7
	# LLDP, SNMP, mDNS
	lldpd snmpd snmp avahi-daemon
	# SSH, HTTP/TLS
	openssh-server openssh-client nginx-light openssl curl
	# the injected scan of rig/detect.sh
	nmap
	# not the rig's, but the suite's: the IEEE registries the OUI
	# registry is generated from (its reproduction test), and the
	# ClickHouse server the store tests start on free ports
	ieee-data clickhouse-server clickhouse-client
	# the dashboard's browser tests and make screenshots (headless Chromium,
	# with a font for the text)
	chromium fonts-dejavu-core
	# the ipset enforcement backend's test applies its script with these
	ipset iptables
	# the nftables enforcement tests change and inspect Vigil's table by hand
	nftables
)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f '${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	echo "rig: all ${#PACKAGES[@]} packages installed"
	exit 0
fi
echo "rig: installing ${missing[*]}"

if [[ $EUID -ne 0 ]]; then
	if sudo -n true 2>/dev/null; then
		exec sudo -n bash "$0" "$@"
	fi
	echo "rig: installing needs root (apt-get): the tests that need these packages will skip" >&2
	[[ ${CI:-} == true ]] && exit 1
	exit 0
fi

policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\n# rig/install-deps.sh: no service starts while it installs\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -q -o DPkg::Lock::Timeout=600)
"${apt[@]}" update
"${apt[@]}" install -y --no-install-recommends "${PACKAGES[@]}"

if [[ -d /run/systemd/system ]]; then
	echo "rig: note: on this systemd host the packages' services are enabled for the next boot;" \
		"the rig does not need them (systemctl disable ssh snmpd lldpd avahi-daemon nginx)" >&2
fi
