#!/usr/bin/env bash
# Installs, when missing, the Debian 12 packages the libvirt test bed
# (tests/lib/libvirt.sh, tests/lib/guest.sh, tests/testbed/) needs, and
# creates the libvirt-qemu user and group libvirtd wants.  Non-interactive,
# idempotent; needs root to install.
set -euo pipefail

packages=(
	libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
	qemu-system-x86 qemu-utils nbdkit
	busybox-static cpio      # the busy guest's initramfs
	util-linux               # unshare, nsenter, setsid, flock
	elfutils                 # eu-stack for the storage-stall test
	procps
	python3                  # tests/lib/proxy.py, the post-copy bed's TCP proxy
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	((EUID == 0)) || { echo "testbed-deps: missing ${missing[*]} (run as root)" >&2; exit 1; }
	echo "testbed-deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	log=$(mktemp /tmp/migguard-testbed-apt.XXXXXX)
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
		apt-get update -q >>"$log" 2>&1
		apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1 ||
			{ cat "$log" >&2; exit 1; }
	fi
	rm -f "$log"
fi
if ((EUID == 0)); then
	getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
	id -u libvirt-qemu >/dev/null 2>&1 ||
		useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin -c "Libvirt Qemu" libvirt-qemu
fi
