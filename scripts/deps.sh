#!/usr/bin/env bash
# Installs, when missing, every Debian 12 package that building migguard,
# its tests and its demo need.  Idempotent; needs root for the install.
set -euo pipefail

packages=(
	# build
	build-essential autoconf automake libtool pkg-config
	libvirt-dev libxml2-dev libjson-c-dev libsystemd-dev libdw-dev libelf-dev
	libinih-dev check
	# fuzzing (libFuzzer) and symbolised sanitizer reports
	clang libclang-rt-14-dev llvm
	# real parts for the tests and the demo
	libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
	qemu-system-x86 qemu-utils nbdkit busybox-static cpio
	# the hypervisor bed (tests/hvbed/): builds its base, boots the hosts
	debootstrap systemd-container
	# peers of the benchmarks, docs checks, helpers
	elfutils gdb groff-base man-db systemd python3 procps psmisc strace
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
((${#missing[@]} == 0)) && exit 0
if ((EUID != 0)); then
	echo "deps: missing packages: ${missing[*]} (run as root to install them)" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists may be absent on a fresh machine; refresh them once.
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/migguard-apt.log 2>&1; then
	apt-get update -q >>/tmp/migguard-apt.log 2>&1
	apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/migguard-apt.log 2>&1 ||
		{ cat /tmp/migguard-apt.log >&2; exit 1; }
fi
