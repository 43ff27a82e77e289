#!/usr/bin/env bash
# base.sh - the hypervisor bed's base root file system (Debian 12 with
# systemd, libvirt and QEMU), built once by debootstrap and cached.
#
# Usage: tests/hvbed/base.sh [--check|--key|--deps]
#   (none)   prints the base's directory, building it first when missing
#            (92-140 s and ~400 MB measured here; needs the mirror);
#   --check  prints it and exits 0 when it is built, exits 1 otherwise;
#   --key    prints the cache key only;
#   --deps   installs the host tools the bed needs (debootstrap,
#            systemd-container) when missing, nothing else.
#
# The base lives in $MG_HVBED_CACHE/KEY (default /var/cache/migguard/hvbed),
# KEY being a hash of the recipe version below, the suite, the mirror and the
# package list.  It is built in KEY.tmp and renamed to KEY only when complete,
# all under flock($MG_HVBED_CACHE/.lock): an interrupted build leaves a
# KEY.tmp that the next run removes and builds again; concurrent callers
# build once.  A finished base is never written to again: the bed mounts it
# as the read-only lower layer of an overlayfs (tests/hvbed/hvbed.sh).
#
# What is in it: debootstrap --variant=minbase with systemd as init, dbus,
# libpam-systemd (without it polkitd and libvirt-daemon-system stay
# unconfigured), Debian's libvirt (monolithic libvirtd, socket-activated)
# and QEMU, the tools tests use inside (iproute2, procps, elfutils), and
# migguard's run-time libraries (configure.ac: libvirt, libvirt-qemu,
# libxml2, json-c, libsystemd, libdw + libelf, inih), so that migguard's
# .deb installs offline with `apt-get install ./migguard_*.deb`.  Then
# `apt-get clean`.  Nothing host-specific: /etc/machine-id, libvirt's
# configuration and ports are written per host into the overlay's upper
# layer at bring-up.
#
# Environment: MG_HVBED_CACHE, MG_HVBED_SUITE (bookworm), MG_HVBED_MIRROR
# (default: the Debian URI of /etc/apt/sources.list*, else
# http://deb.debian.org/debian).
set -euo pipefail

# Bump when the recipe (what is done to the tree) changes: it is in the key.
MG_HVBED_RECIPE=1

: "${MG_HVBED_CACHE:=/var/cache/migguard/hvbed}"
: "${MG_HVBED_SUITE:=bookworm}"

mg_hvbed_packages=(
	systemd systemd-sysv dbus libpam-systemd
	libvirt-daemon-system libvirt-clients qemu-system-x86
	iproute2 procps elfutils
	# migguard's run-time dependencies (configure.ac's PKG_CHECK_MODULES)
	libvirt0 libxml2 libjson-c5 libsystemd0 libdw1 libelf1 libinih1
)

mg__hvbed_mirror() {
	local u
	if [[ -n ${MG_HVBED_MIRROR:-} ]]; then echo "$MG_HVBED_MIRROR"; return; fi
	u=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
		grep -Eo 'https?://[^ ]*/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ')
	echo "${u:-http://deb.debian.org/debian}"
}

mg__hvbed_key() {
	{
		echo "recipe=$MG_HVBED_RECIPE"
		echo "suite=$MG_HVBED_SUITE"
		echo "mirror=$(mg__hvbed_mirror)"
		printf '%s\n' "${mg_hvbed_packages[@]}" | sort
	} | sha256sum | cut -c1-16
}

mg__hvbed_log() { printf '[%s] hvbed base: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Host tools: debootstrap (to build) and systemd-nspawn (to boot).
mg__hvbed_deps() {
	local -a missing=()
	command -v debootstrap >/dev/null || missing+=(debootstrap)
	command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
	command -v nbdkit >/dev/null || missing+=(nbdkit)
	command -v virsh >/dev/null || missing+=(libvirt-clients)
	((${#missing[@]} == 0)) && return 0
	((EUID == 0)) || { mg__hvbed_log "missing ${missing[*]} (run as root)"; return 1; }
	mg__hvbed_log "installing ${missing[*]}"
	local log
	log=$(mktemp /tmp/migguard-hvbed-apt.XXXXXX)
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends -t "$MG_HVBED_SUITE" "${missing[@]}" >"$log" 2>&1; then
		apt-get update -q >>"$log" 2>&1 || true
		apt-get install -y -q --no-install-recommends -t "$MG_HVBED_SUITE" "${missing[@]}" >>"$log" 2>&1 ||
			{ cat "$log" >&2; rm -f "$log"; return 1; }
	fi
	rm -f "$log"
}

# Unmounts everything mounted at or below DIR, deepest first.
mg__hvbed_unmount_under() {
	local m
	[[ -d $1 ]] || return 0
	findmnt -rn -o TARGET | awk -v d="$1" 'index($0, d "/") == 1' | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

mg__hvbed_build_locked() {
	local key=$1 dir=$MG_HVBED_CACHE/$1 tmp=$MG_HVBED_CACHE/$1.tmp mirror log t0 include
	[[ -f $dir/.mg-hvbed-complete ]] && return 0
	# Called under `||`: set -e is off here, every step checks itself.
	mg__hvbed_deps || return 1
	mirror=$(mg__hvbed_mirror)
	include=$(IFS=,; echo "${mg_hvbed_packages[*]}")
	log=$MG_HVBED_CACHE/$key.log
	# An interrupted debootstrap can leave proc/sys (or more) mounted in
	# its target: unmount them before removing it, and never cross into
	# another file system while removing.
	mg__hvbed_unmount_under "$tmp"
	rm -rf --one-file-system "$tmp" || return 1
	mkdir -p "$tmp" || return 1
	t0=$SECONDS
	mg__hvbed_log "building $dir ($MG_HVBED_SUITE from $mirror; about 2 min once)"
	if ! debootstrap --variant=minbase --include="$include" "$MG_HVBED_SUITE" "$tmp" "$mirror" >"$log" 2>&1; then
		tail -n 40 "$log" >&2
		[[ -f $tmp/debootstrap/debootstrap.log ]] && tail -n 40 "$tmp/debootstrap/debootstrap.log" >&2
		mg__hvbed_log "debootstrap failed (full log: $log)"
		return 1
	fi
	chroot "$tmp" apt-get clean >>"$log" 2>&1 || { mg__hvbed_log "apt-get clean failed"; return 1; }
	# Every package configured (libvirt-daemon-system stays unconfigured
	# without libpam-systemd: catch that here, not at bring-up).
	if chroot "$tmp" dpkg --audit 2>&1 | grep -q .; then
		chroot "$tmp" dpkg --audit >&2
		mg__hvbed_log "packages left unconfigured"
		return 1
	fi
	mg__hvbed_unmount_under "$tmp"
	# No identity in the base: each host gets its own machine-id.
	: >"$tmp/etc/machine-id"
	rm -f "$tmp/var/lib/dbus/machine-id"
	{
		echo "recipe=$MG_HVBED_RECIPE suite=$MG_HVBED_SUITE mirror=$mirror"
		echo "include=$include"
		echo "built=$(date -u +%FT%TZ) seconds=$((SECONDS - t0))"
	} >"$tmp/.mg-hvbed-complete"
	sync -f "$tmp/.mg-hvbed-complete" 2>/dev/null || true
	mv -T "$tmp" "$dir" || return 1
	mg__hvbed_log "built in $((SECONDS - t0)) s, $(du -sh "$dir" | cut -f1)"
}

main() {
	local key rc=0
	case ${1:-} in
	--key) mg__hvbed_key; return ;;
	--deps) mg__hvbed_deps; return ;;
	--check)
		key=$(mg__hvbed_key)
		[[ -f $MG_HVBED_CACHE/$key/.mg-hvbed-complete ]] || return 1
		echo "$MG_HVBED_CACHE/$key"
		return 0
		;;
	'') ;;
	*) echo "usage: $0 [--check|--key|--deps]" >&2; return 64 ;;
	esac
	key=$(mg__hvbed_key)
	if [[ ! -f $MG_HVBED_CACHE/$key/.mg-hvbed-complete ]]; then
		mkdir -p "$MG_HVBED_CACHE"
		{
			flock 9
			mg__hvbed_build_locked "$key" || rc=1
		} 9>"$MG_HVBED_CACHE/.lock"
		((rc == 0)) || return 1
	fi
	echo "$MG_HVBED_CACHE/$key"
}

main "$@"
