# hvbed.sh - the hypervisor bed: two Debian 12 hosts booted by systemd-nspawn
# with systemd as PID 1, Debian's libvirtd.service (socket-activated) and
# QEMU, as a Debian package finds them in production.  Source after
# tests/lib/common.sh (it sources tests/lib/libvirt.sh and guest.sh for the
# NBD server and the Nova-shaped guest).  See tests/hvbed/README.md.
#
# Each host ("hv-src", "hv-dst") is the cached base rootfs of
# tests/hvbed/base.sh as the read-only lower layer of an overlayfs whose
# upper/work dirs are under DIR/HOST/, mounted in a private mount namespace
# (so the mount goes away with the container, whatever happens), in a
# cgroup of its own in /sys/fs/cgroup/systemd and /sys/fs/cgroup/unified
# (systemd-nspawn --keep-unit uses the cgroup it is started in; the host has
# no systemd to make a scope), booted with
#   systemd-nspawn --keep-unit --register=no -b --console=pipe --capability=all
#     --system-call-filter=pidfd_getfd
# (nspawn's seccomp allow-list, inherited by everything under the host's
# PID 1, answers pidfd_getfd(2) with EPERM: the unstick rung's check 4
# needs it; a real hypervisor has no such filter.  A root shell entered with
# nsenter is outside the filter, so it does not show there.)
# The containers share the machine's network namespace: each libvirtd
# listens on its own TCP port on 127.0.0.1 (auth none) through Debian's
# libvirtd-tcp.socket -- TCP rather than a unix socket on a bind mount
# because with --p2p the SOURCE libvirtd connects to the destination's URI
# from inside its container, and 127.0.0.1 reaches every container and the
# machine alike (as qemu+tcp:// between real hypervisors).  Everything is
# torn down by recorded pids and cgroups, never by name.
#
# Per host, written into the upper layer before boot: a fresh
# /etc/machine-id and hostname; libvirtd.conf with host_uuid_source =
# "machine-id" and auth_tcp = "none"; qemu.conf with cgroup_controllers = [ ]
# (the cgroup v1 hierarchy is read-only inside) and distinct migration and
# VNC port ranges; libvirt-guests with ON_BOOT=ignore and a 2 s shutdown
# timeout (Debian's default waits up to 300 s for an OS-less guest); with
# /dev/kvm on the machine, a unit that mknods /dev/kvm before libvirtd.
# Bind mounts: the guest build dir of tests/lib/guest.sh read-only and
# DIR/shared read-write, both at the same path as on the machine.
#
# Bed
#   mg_hvbed_up DIR            base (built once, cached), NBD server on
#                              127.0.0.1 (DIR/storage, MG_TESTBED_NBD_TCP),
#                              both hosts booted and answering `virsh list`;
#                              writes DIR/hvbed.env; registers mg_hvbed_down
#                              DIR at exit (with MG_TESTBED_PERSIST=1: not)
#   mg_hvbed_down DIR          powers each host off through its PID 1
#                              (SIGRTMIN+4, MG_HVBED_STOP_TIMEOUT s, default
#                              10), then SIGKILLs that PID 1 (a SIGKILL of
#                              systemd-nspawn leaves the container running),
#                              kills what is left in the host's cgroups,
#                              removes them; stops the NBD server; hosts
#                              and server in parallel.  Only what DIR
#                              records.  When the script is failing (the
#                              status common.sh's exit-hook runner keeps in
#                              "rc"), dumps each host's console, failed
#                              units and journal tail to the test's stderr
#                              first.  Idempotent.
#   mg_hvbed_can_run           0 when systemd-nspawn, nsenter, overlayfs and
#                              the hybrid cgroup layout of this machine kind
#                              (/sys/fs/cgroup/systemd + unified, writable)
#                              are there (installs the host tools first)
# Hosts (HOST is hv-src or hv-dst; the bed of the last mg_hvbed_up, or
# MG_HVBED_DIR)
#   mg_hvbed_exec HOST CMD...  runs CMD in all of HOST's namespaces
#                              (nsenter -t LEADER -a; no machinectl) with a
#                              clean environment
#   mg_hvbed_virsh HOST ARGS...  virsh -q -c URI ARGS... from the machine
#   mg_hvbed_uri HOST          qemu+tcp://127.0.0.1:PORT/system
#   mg_hvbed_leader HOST       the host's PID 1 as the machine sees it
#   mg_hvbed_root HOST         /proc/LEADER/root: the host's files
#   mg_hvbed_journal HOST ARGS...  journalctl --no-pager ARGS... inside
#   mg_hvbed_install_deb HOST DEB...  copies the .debs in and installs them
#                              with apt-get (offline: the base holds the
#                              dependencies; a download fails the test
#                              unless MG_HVBED_ALLOW_DOWNLOAD=1); the
#                              package's own maintainer scripts enable and
#                              start its units
#   mg_hvbed_dump HOST         console, failed units and journal tail (stderr)
#   mg_hvbed_debs              sets MG_HVBED_DEB_DIR and MG_HVBED_DEBS (the
#                              migguard .deb) from MG_DEB_DIR, or builds
#                              them there with scripts/build-deb.sh
#                              (nocheck); exits 77 (skip) when neither is
#                              possible or systemd-nspawn cannot run here
# Guests
#   mg_hvbed_nova_xml HOST DOM [iothread] [MEM_MIB]  the Nova-shaped busy
#                              guest (mg_testbed_nova_xml) on the bed's TCP
#                              NBD disk, without <cputune> (no cpu cgroup
#                              controller in the containers)
#   mg_hvbed_nova_start HOST DOM   that guest defined (persistent, its XML in
#                              DIR/shared/DOM.xml) and started on HOST,
#                              writing to its disk; MG_HVBED_QEMU is its
#                              QEMU's machine pid
#   mg_hvbed_serial_log HOST DOM   its serial console file (machine path)
#   mg_hvbed_wait_writing HOST DOM [TIMEOUT]
#   mg_hvbed_qemu_pid HOST DOM     machine pid of DOM's QEMU on HOST
#   mg_hvbed_migrate DOM [VIRSH ARGS...]  live p2p hv-src -> hv-dst,
#                              --migrateuri tcp://127.0.0.1:FREE_PORT and
#                              --listen-address 127.0.0.1; gives up after
#                              $MG_MIGRATE_TIMEOUT (120) s
#
# Layout: DIR/HOST/{upper,work,root,launch.sh,console.log,nspawn.pid,
# leader.pid,cgroup,port,install-deb.log}, DIR/shared, DIR/storage
# (disk.raw, nbd.port, nbd.pid), DIR/hosts, DIR/base, DIR/hvbed.env.  Each
# host keeps a persistent journal in its upper layer
# (DIR/HOST/upper/var/log/journal), readable after teardown.
# Environment: MG_HVBED_CACHE (base.sh), MG_HVBED_DIR, MG_HVBED_STOP_TIMEOUT,
# MG_HVBED_ALLOW_DOWNLOAD, MG_TESTBED_PERSIST, MG_MIGRATE_TIMEOUT.
#
# Measured here (2 cores, libvirt 9.0, QEMU 7.2, TCG): base 69-85 s once,
# 404 MB; both hosts up in 1.2-1.6 s; Nova-shaped guest writing 6.5-8.9 s
# after start; migration 1.0-1.7 s; .deb install 1.4-2.1 s per host;
# teardown 2.9 s.  A test ended by SIGTERM/SIGINT still runs its exit hooks
# (traps set here unless the test set its own).

: "${MG_SRCDIR:?}"
declare -F mg_testbed_nbd_start >/dev/null || source "$MG_SRCDIR/tests/lib/libvirt.sh"
declare -F mg_guest_build >/dev/null || source "$MG_SRCDIR/tests/lib/guest.sh"

: "${MG_HVBED_CACHE:=/var/cache/migguard/hvbed}"
export MG_HVBED_CACHE
MG_HVBED_HOSTS="hv-src hv-dst"

# A test ended by SIGTERM/SIGINT (the runner's timeout) still runs its exit
# hooks, so the containers do not outlive it (a SIGKILL leaves them: then
# tests/hvbed/down.sh on the kept test directory ends them).
[[ -n "$(trap -p TERM)" ]] || trap 'exit 143' TERM
[[ -n "$(trap -p INT)" ]] || trap 'exit 130' INT

# Failure output goes to the test's stderr even from exit hooks (common.sh
# runs them with stdout and stderr on /dev/null).
[[ -n ${MG_HVBED_ERRFD:-} ]] || exec {MG_HVBED_ERRFD}>&2

mg__hv_dir() { echo "${MG_HVBED_DIR:?no hypervisor bed (mg_hvbed_up)}/$1"; }
mg__hv_el() { awk -v a="$1" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.2f", b - a }'; }
mg__hv_free_port() { mg__nbd_free_port; }

mg_hvbed_can_run() {
	"$MG_SRCDIR/tests/hvbed/base.sh" --deps >/dev/null 2>&1 || return 1
	command -v systemd-nspawn >/dev/null && command -v nsenter >/dev/null || return 1
	[[ -w /sys/fs/cgroup/systemd && -w /sys/fs/cgroup/unified ]] || return 1
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || return 1
}

mg_hvbed_uri() { echo "qemu+tcp://127.0.0.1:$(cat "$(mg__hv_dir "$1")/port")/system"; }
mg_hvbed_virsh() { local h=$1; shift; virsh -q -c "$(mg_hvbed_uri "$h")" "$@"; }

# Pids in the host's cgroup tree (name=systemd hierarchy).
mg__hv_cg_pids() {
	local d cg
	d=$(mg__hv_dir "$1")
	cg=$(cat "$d/cgroup" 2>/dev/null) || return 0
	[[ -d /sys/fs/cgroup/systemd/$cg ]] || return 0
	find "/sys/fs/cgroup/systemd/$cg" "/sys/fs/cgroup/unified/$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -un
}

# The container's PID 1: in the host's cgroups, pid 1 in its pid namespace.
mg__hv_find_leader() {
	local pid ns
	for pid in $(mg__hv_cg_pids "$1"); do
		ns=$(sed -n 's/^NSpid:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null) || continue
		[[ $ns =~ ^[0-9]+[[:space:]]+1$ ]] && { echo "$pid"; return 0; }
	done
	return 1
}

mg_hvbed_leader() {
	local d pid
	d=$(mg__hv_dir "$1")
	pid=$(cat "$d/leader.pid" 2>/dev/null) || true
	if [[ -n $pid ]] && grep -qE "^NSpid:[[:space:]]+${pid}[[:space:]]+1$" "/proc/$pid/status" 2>/dev/null; then
		echo "$pid"
		return 0
	fi
	pid=$(mg__hv_find_leader "$1") || return 1
	echo "$pid" >"$d/leader.pid"
	echo "$pid"
}

mg_hvbed_root() { echo "/proc/$(mg_hvbed_leader "$1")/root"; }

mg_hvbed_exec() {
	local h=$1 leader; shift
	leader=$(mg_hvbed_leader "$h") || { mg_log "hvbed: host $h is not running"; return 125; }
	nsenter -t "$leader" -a -- /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

mg_hvbed_journal() { local h=$1; shift; mg_hvbed_exec "$h" journalctl --no-pager -q "$@"; }

# mg__hv_mkdir BASE UPPER REL...: creates each REL in the upper layer with
# the owner and mode its lower-layer twin has (a directory present in the
# upper layer lends the merged directory its own attributes).
mg__hv_mkdir() {
	local base=$1 u=$2 rel p comp; shift 2
	for rel in "$@"; do
		p=
		for comp in ${rel//\// }; do
			p=$p/$comp
			[[ -d $u$p ]] && continue
			mkdir "$u$p"
			if [[ -d $base$p ]]; then
				chown --reference="$base$p" "$u$p"
				chmod --reference="$base$p" "$u$p"
			fi
		done
	done
}

# Writes HOST's configuration into its overlay's upper layer (before boot).
mg__hv_write_conf() {
	local h=$1 d=$2 index=$3 port=$4 base=$5 u mig_min vnc_min kvm caps
	u=$d/upper
	mg__hv_mkdir "$base" "$u" etc/libvirt etc/default etc/systemd/system/sockets.target.wants \
		etc/systemd/system/libvirtd-tcp.socket.d etc/systemd/system/sysinit.target.wants
	# QEMU capabilities probed by an earlier bed on the same base.
	caps=$(mg__hv_caps_dir)
	if compgen -G "$caps/*.xml" >/dev/null; then
		mg__hv_mkdir "$base" "$u" var/cache/libvirt/qemu/capabilities
		cp -p "$caps"/*.xml "$u/var/cache/libvirt/qemu/capabilities/"
	fi
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$u/etc/machine-id"
	echo >>"$u/etc/machine-id"
	echo "$h" >"$u/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$h" >"$u/etc/hosts"
	cat >"$u/etc/libvirt/libvirtd.conf" <<-EOF
		# migguard hypervisor bed, host $h (tests/hvbed/hvbed.sh)
		# The host UUID comes from this host's own /etc/machine-id: the
		# default (SMBIOS) is the same machine's for both containers, and
		# libvirt refuses to migrate between hosts with the same UUID.
		host_uuid_source = "machine-id"
		# libvirtd-tcp.socket listens on 127.0.0.1 only.
		auth_tcp = "none"
	EOF
	mig_min=$((49152 + index * 32))
	vnc_min=$((5900 + index * 50))
	cat >"$u/etc/libvirt/qemu.conf" <<-EOF
		# migguard hypervisor bed, host $h (tests/hvbed/hvbed.sh); Debian's
		# defaults otherwise (user libvirt-qemu, dynamic ownership, virtlogd).
		# The cgroup v1 hierarchy is read-only inside the container.
		cgroup_controllers = [ ]
		# Both hosts share the machine's network namespace.
		migration_port_min = $mig_min
		migration_port_max = $((mig_min + 31))
		remote_display_port_min = $vnc_min
		remote_display_port_max = $((vnc_min + 49))
	EOF
	cat >"$u/etc/default/libvirt-guests" <<-EOF
		# migguard hypervisor bed: do not wait 300 s for guests without an OS
		ON_BOOT=ignore
		ON_SHUTDOWN=shutdown
		PARALLEL_SHUTDOWN=0
		SHUTDOWN_TIMEOUT=2
	EOF
	cat >"$u/etc/systemd/system/libvirtd-tcp.socket.d/mg-hvbed.conf" <<-EOF
		[Socket]
		ListenStream=
		ListenStream=127.0.0.1:$port
	EOF
	ln -sf /lib/systemd/system/libvirtd-tcp.socket "$u/etc/systemd/system/sockets.target.wants/libvirtd-tcp.socket"
	# No background apt, dpkg or file system jobs during a test (apt-daily
	# would take dpkg's lock from mg_hvbed_install_deb, and the mirror).
	local t
	for t in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer logrotate.timer; do
		ln -sf /dev/null "$u/etc/systemd/system/$t"
	done
	if [[ -c /dev/kvm ]]; then
		kvm=$(stat -c '%t %T' /dev/kvm)
		cat >"$u/etc/systemd/system/mg-hvbed-kvm.service" <<-EOF
			[Unit]
			Description=migguard hypervisor bed: /dev/kvm as on the machine
			DefaultDependencies=no
			Before=sysinit.target libvirtd.service virtqemud.service
			ConditionPathExists=!/dev/kvm
			[Service]
			Type=oneshot
			ExecStart=/bin/sh -c 'mknod -m 0660 /dev/kvm c $((16#${kvm% *})) $((16#${kvm#* })) && chgrp kvm /dev/kvm'
		EOF
		ln -sf /etc/systemd/system/mg-hvbed-kvm.service "$u/etc/systemd/system/sysinit.target.wants/mg-hvbed-kvm.service"
	fi
	# The launcher: its own cgroups, the overlay in a private mount
	# namespace, then exec systemd-nspawn (so nspawn.pid is nspawn's).
	cat >"$d/launch.sh" <<-'EOF'
		#!/bin/bash
		# Runs in a fresh mount namespace (unshare -m --propagation private).
		set -e
		h=$1 d=$2 base=$3 cg=$4; shift 4
		echo $$ >"$d/nspawn.pid"
		for hier in systemd unified; do
			mkdir -p "/sys/fs/cgroup/$hier/$cg"
			echo $$ >"/sys/fs/cgroup/$hier/$cg/cgroup.procs"
		done
		mount -t overlay overlay -o "lowerdir=$base,upperdir=$d/upper,workdir=$d/work" "$d/root"
		exec systemd-nspawn -q -D "$d/root" -M "$h" --keep-unit --register=no -b \
			--console=pipe --capability=all --system-call-filter=pidfd_getfd --link-journal=no "$@"
	EOF
}

# Starts HOST (does not wait).
mg__hv_launch() {
	local h=$1 index=$2 base=$3 d port cg
	d=$(mg__hv_dir "$h")
	rm -rf "$d"
	mkdir -p "$d/upper" "$d/work" "$d/root"
	port=$(mg__hv_free_port)
	echo "$port" >"$d/port"
	cg=mg-hvbed-$h-$$-$RANDOM
	echo "$cg" >"$d/cgroup"
	mg__hv_write_conf "$h" "$d" "$index" "$port" "$base"
	echo "$h" >>"$MG_HVBED_DIR/hosts"
	setsid unshare -m --propagation private bash "$d/launch.sh" "$h" "$d" "$base" "$cg" \
		--bind-ro="$MG_GUEST_DIR" --bind="$MG_HVBED_DIR/shared" \
		</dev/null >"$d/console.log" 2>&1 &
}

mg__hv_system_up() {
	local s
	s=$(mg_hvbed_exec "$1" systemctl is-system-running 2>/dev/null) || true
	[[ $s == running || $s == degraded ]]
}

mg__hv_wait_up() {
	local h=$1 d t0=$2 deadline=$((SECONDS + 90)) pid
	d=$(mg__hv_dir "$h")
	until mg_hvbed_leader "$h" >/dev/null 2>&1 && mg__hv_system_up "$h" &&
		mg_hvbed_virsh "$h" list >/dev/null 2>&1; do
		pid=$(cat "$d/nspawn.pid" 2>/dev/null) || true
		if ((SECONDS >= deadline)) || { [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; }; then
			# (the exit hook dumps every host; without one, dump here)
			[[ -z ${MG_TESTBED_PERSIST:-} ]] || mg_hvbed_dump "$h"
			mg_fail "hypervisor $h did not come up (libvirtd on $(mg_hvbed_uri "$h"))"
		fi
		sleep 0.05
	done
	if [[ "$(mg_hvbed_exec "$h" systemctl is-system-running 2>/dev/null)" == degraded ]]; then
		mg_hvbed_exec "$h" systemctl --failed --no-legend >"$d/failed-units" 2>&1 || true
	fi
	mg_log "hypervisor $h up (PID 1 = $(mg_hvbed_leader "$h"), libvirtd on 127.0.0.1:$(cat "$d/port"), $(mg__hv_el "$t0") s)"
}

mg_hvbed_up() {
	local dir=$1 base h i=0 t0
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	export MG_HVBED_DIR=$dir
	mg_hvbed_can_run || mg_fail "systemd-nspawn cannot run here (tests/hvbed/base.sh --deps, cgroups, overlayfs)"
	base=$("$MG_SRCDIR/tests/hvbed/base.sh") || mg_fail "tests/hvbed/base.sh failed"
	mg_guest_build >/dev/null
	mkdir -p "$dir/shared" "$dir/storage"
	echo "$base" >"$dir/base"
	: >"$dir/hosts"
	[[ -n ${MG_TESTBED_PERSIST:-} ]] || mg_on_exit "mg_hvbed_down $dir"
	MG_TESTBED_NBD_TCP=1 mg_testbed_nbd_start "$dir/storage"
	t0=${EPOCHREALTIME/,/.}
	for h in $MG_HVBED_HOSTS; do
		mg__hv_launch "$h" "$i" "$base"
		i=$((i + 1))
	done
	for h in $MG_HVBED_HOSTS; do mg__hv_wait_up "$h" "$t0"; done
	cat >"$dir/hvbed.env" <<-EOF
		MG_HVBED_DIR=$dir
		MG_HVBED_BASE=$base
		MG_HVBED_SRC_URI=$(mg_hvbed_uri hv-src)
		MG_HVBED_DST_URI=$(mg_hvbed_uri hv-dst)
		MG_HVBED_NBD_PORT=$(mg_nbd_port "$dir/storage")
	EOF
}

mg_hvbed_dump() {
	local h=$1 d leader
	d=$(mg__hv_dir "$h")
	{
		echo "=== hypervisor $h: console (last 40 lines of $d/console.log) ==="
		tail -n 40 "$d/console.log" 2>/dev/null
		if leader=$(mg_hvbed_leader "$h" 2>/dev/null); then
			echo "=== $h: systemctl --failed ==="
			timeout 10 nsenter -t "$leader" -a -- systemctl --failed --no-legend --no-pager 2>&1
			echo "=== $h: journal (last 80 lines) ==="
			timeout 10 nsenter -t "$leader" -a -- journalctl --no-pager -b -n 80 2>&1
		else
			echo "=== $h: not running ==="
		fi
	} >&"$MG_HVBED_ERRFD" 2>&1 || true
}

mg__hv_alive() { kill -0 "$1" 2>/dev/null; }

# Ends HOST: poweroff through its PID 1, then SIGKILL of that PID 1 (which
# takes the whole pid namespace with it), then whatever is left in its
# cgroups; removes the cgroups.  The overlay mount lives in the launcher's
# private mount namespace and goes with the last process in it.
mg__hv_stop() {
	local h=$1 d leader nspawn cg i hier
	d=$(mg__hv_dir "$h")
	[[ -d $d ]] || return 0
	nspawn=$(cat "$d/nspawn.pid" 2>/dev/null) || nspawn=
	cg=$(cat "$d/cgroup" 2>/dev/null) || cg=
	if leader=$(mg__hv_find_leader "$h"); then
		kill -RTMIN+4 "$leader" 2>/dev/null || true
		for ((i = 0; i < ${MG_HVBED_STOP_TIMEOUT:-10} * 20; i++)); do
			mg__hv_alive "$leader" || break
			sleep 0.05
		done
		if mg__hv_alive "$leader"; then
			echo "hvbed: $h did not power off within ${MG_HVBED_STOP_TIMEOUT:-10} s: SIGKILL of its PID 1" >>"$d/teardown.log"
			kill -KILL "$leader" 2>/dev/null || true
		fi
	fi
	# nspawn exits when its container does.
	if [[ -n $nspawn ]]; then
		for ((i = 0; i < 200; i++)); do
			mg__hv_alive "$nspawn" || break
			sleep 0.05
		done
	fi
	# Whatever is left (nspawn itself when stuck): only our cgroups' pids.
	local -a left
	for ((i = 0; i < 100; i++)); do
		mapfile -t left < <(mg__hv_cg_pids "$h")
		((${#left[@]})) || break
		kill -KILL "${left[@]}" 2>/dev/null || true
		sleep 0.05
	done
	if [[ -n $cg ]]; then
		for hier in systemd unified; do
			[[ -d /sys/fs/cgroup/$hier/$cg ]] || continue
			for ((i = 0; i < 100; i++)); do
				find "/sys/fs/cgroup/$hier/$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
				[[ -d /sys/fs/cgroup/$hier/$cg ]] || break
				sleep 0.05
			done
		done
	fi
	rm -f "$d/leader.pid"
}

mg_hvbed_down() {
	local dir=$1 h failing=0
	[[ -f $dir/hosts ]] || return 0
	export MG_HVBED_DIR=$dir
	# common.sh's exit hook runner keeps the script's status in "rc".
	[[ ${rc:-0} == 0 ]] || failing=1
	for h in $(cat "$dir/hosts"); do
		((failing)) && mg_hvbed_dump "$h"
		mg__hv_publish_caps "$h"
	done
	# In parallel (each takes about 2 s: nspawn lingers 1.2 s after its
	# container's PID 1, nbdkit 2 s after SIGTERM).
	local -a stoppers=()
	for h in $(cat "$dir/hosts"); do
		mg__hv_stop "$h" &
		stoppers+=($!)
	done
	mg_testbed_nbd_stop "$dir/storage" &
	stoppers+=($!)
	wait "${stoppers[@]}"
	rm -f "$dir/hosts"
}

# libvirt probes QEMU's capabilities at the first domain start (seconds under
# TCG); keep the result per base, like tests/lib/libvirt.sh does for the
# namespace bed (libvirt checks the cached file against the QEMU binary and
# itself, and probes again when they differ).
mg__hv_caps_dir() { echo "$MG_HVBED_CACHE/$(basename "$(cat "$MG_HVBED_DIR/base" 2>/dev/null || echo none)").libvirt-caps"; }
mg__hv_publish_caps() {
	local h=$1 r c f
	r=$(mg_hvbed_root "$h" 2>/dev/null) || return 0
	c=$(mg__hv_caps_dir)
	mkdir -p "$c"
	for f in "$r"/var/cache/libvirt/qemu/capabilities/*.xml; do
		[[ -f $f ]] || continue
		cmp -s "$f" "$c/${f##*/}" || { cp -p "$f" "$c/.${f##*/}.$$" && mv -f "$c/.${f##*/}.$$" "$c/${f##*/}"; }
	done
	return 0
}

# ---------------------------------------------------------------------------
# Guests.

# Nova's <cputune><shares> needs libvirt's cpu cgroup controller, which the
# hosts do not have (cgroup_controllers = [ ]: the v1 hierarchy is read-only
# in the containers): libvirt refuses it ("CPU tuning is not available on
# this host"), so the bed drops that one element.
mg_hvbed_nova_xml() {
	local h=$1 dom=$2 iothread=${3:-} mem=${4:-128} xml
	xml=$(mg_testbed_nova_xml "$MG_HVBED_DIR/storage" "$h" "$dom" tcp "$iothread" "$mem") || return 1
	sed '/<cputune>/,/<\/cputune>/d' <<<"$xml"
}

mg_hvbed_nova_start() {
	local h=$1 dom=$2 xml=$MG_HVBED_DIR/shared/$2.xml
	mg_hvbed_nova_xml "$h" "$dom" >"$xml" || mg_fail "no domain XML for $dom"
	mg_hvbed_virsh "$h" define "$xml" >/dev/null || mg_fail "define $dom on $h"
	mg_hvbed_virsh "$h" start "$dom" >/dev/null || mg_fail "start $dom on $h"
	mg_hvbed_wait_writing "$h" "$dom" 90
	MG_HVBED_QEMU=$(mg_hvbed_qemu_pid "$h" "$dom") || mg_fail "no QEMU for $dom on $h"
}

mg_hvbed_serial_log() { echo "$(mg_hvbed_root "$1")/var/log/libvirt/qemu/$2-serial.log"; }

mg__hv_writing() { grep -q 'MIGGUARD-GUEST: writing' "$(mg_hvbed_serial_log "$1" "$2")" 2>/dev/null; }
mg_hvbed_wait_writing() {
	mg_wait_for "${3:-90}" "guest $2 on $1 writing to its disk" mg__hv_writing "$1" "$2"
}

# The QEMU's pid inside HOST, translated to the machine's pid namespace.
mg_hvbed_qemu_pid() {
	local h=$1 dom=$2 r inner pid
	r=$(mg_hvbed_root "$h") || return 1
	inner=$(cat "$r/run/libvirt/qemu/$dom.pid" 2>/dev/null) || return 1
	for pid in $(mg__hv_cg_pids "$h"); do
		grep -qE "^NSpid:[[:space:]]+${pid}[[:space:]]+${inner}$" "/proc/$pid/status" 2>/dev/null && { echo "$pid"; return 0; }
	done
	return 1
}

mg_hvbed_migrate() {
	local dom=$1 port; shift
	port=$(mg__hv_free_port)
	timeout -k 5 "${MG_MIGRATE_TIMEOUT:-120}" virsh -c "$(mg_hvbed_uri hv-src)" migrate --live --p2p "$dom" \
		"$(mg_hvbed_uri hv-dst)" --migrateuri "tcp://127.0.0.1:$port" --listen-address 127.0.0.1 "$@"
}

# ---------------------------------------------------------------------------
# Packages.

mg_hvbed_install_deb() {
	local h=$1 r f log; shift
	local -a inside=()
	r=$(mg_hvbed_root "$h") || mg_fail "hypervisor $h is not running"
	mkdir -p "$r/var/tmp/mg-hvbed-debs"
	for f in "$@"; do
		[[ -f $f ]] || mg_fail "mg_hvbed_install_deb: no such package file: $f"
		cp "$f" "$r/var/tmp/mg-hvbed-debs/"
		inside+=("/var/tmp/mg-hvbed-debs/${f##*/}")
	done
	log=$(mg__hv_dir "$h")/install-deb.log
	if ! mg_hvbed_exec "$h" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		-o Dpkg::Options::=--force-confdef "${inside[@]}" >"$log" 2>&1; then
		cat "$log" >&2
		mg_fail "installing ${inside[*]} on $h failed"
	fi
	# Offline: every dependency must already be in the base.
	if [[ -z ${MG_HVBED_ALLOW_DOWNLOAD:-} ]] && ! grep -q '^Need to get 0 B' "$log"; then
		cat "$log" >&2
		mg_fail "installing on $h downloaded packages: add them to tests/hvbed/base.sh's list (or MG_HVBED_ALLOW_DOWNLOAD=1)"
	fi
}

mg_hvbed_debs() {
	mg_hvbed_can_run || { mg_log "SKIP: systemd-nspawn cannot run here (tests/hvbed/base.sh --deps)"; exit 77; }
	local debdir=${MG_DEB_DIR:-} t0
	if [[ -z $debdir && ! -x $MG_SRCDIR/scripts/build-deb.sh ]]; then
		mg_log "SKIP: no package to install (no scripts/build-deb.sh here, MG_DEB_DIR unset)"
		exit 77
	fi
	if [[ -z $debdir ]]; then
		debdir=$MG_TEST_TMP/debs
		t0=${EPOCHREALTIME/,/.}
		DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" "$MG_SRCDIR/scripts/build-deb.sh" "$debdir" >/dev/null ||
			mg_fail "scripts/build-deb.sh failed"
		mg_log "packages built in $(mg__hv_el "$t0") s"
	fi
	MG_HVBED_DEB_DIR=$debdir
	MG_HVBED_DEBS=("$debdir"/migguard_*.deb)
	[[ -f ${MG_HVBED_DEBS[0]} ]] || mg_fail "no migguard_*.deb in $debdir"
}
