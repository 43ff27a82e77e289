# libvirt.sh - private libvirt hosts for tests (source after common.sh).
#
# A "host" is a monolithic libvirtd from Debian's packages running in its own
# UTS + mount namespace, with private copies of /etc/libvirt, /run/libvirt,
# /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt bind-mounted from
# a per-host directory, its own hostname and host_uuid, unix-socket access
# with auth none.  Two hosts on one machine can migrate to each other.
# Everything is torn down by recorded pid, never by name.
#
# Hosts
#   mg_libvirt_setup                 idempotent machine prerequisites (the
#                                    libvirt-qemu user/group, mount points)
#   mg_libvirt_host_start NAME       starts host NAME (or restarts its libvirtd
#                                    inside the existing namespace, when that
#                                    namespace still lives); waits until
#                                    `virsh list` answers; registers
#                                    mg_libvirt_host_teardown at exit.
#   mg_libvirt_host_stop NAME        stops libvirtd only (SIGTERM, then KILL);
#                                    QEMU processes and the namespace live on,
#                                    as with `systemctl stop libvirtd`.
#   mg_libvirt_host_restart NAME     stop + start (QEMUs keep running).
#   mg_libvirt_wait_reconnected NAME DOM
#                                    waits until libvirt's reconnect to DOM's
#                                    QEMU is over (a destroy racing it makes
#                                    libvirt report "domain is not running").
#   mg_libvirt_host_teardown NAME    libvirtd, every QEMU it started (pids from
#                                    its run dir, checked to be in the host's
#                                    mount namespace), the namespace anchor.
#   mg_libvirt_host_qemu_pids NAME   pids of the host's running QEMUs.
#   mg_libvirt_nsenter NAME CMD...   runs CMD inside the host's namespaces.
#   mg_virsh NAME ARGS...            virsh -q -c URI ARGS...
# Paths (all visible from the root namespace; functions print them):
#   mg_libvirt_uri NAME        qemu+unix:///system?socket=RUN/libvirt-sock
#   mg_libvirt_dir NAME        the host directory ($MG_LIBVIRT_HOSTS/NAME)
#   mg_libvirt_run_dir NAME    private /run/libvirt: qemu/DOM.xml (status XML),
#                              qemu/DOM.pid
#   mg_libvirt_lib_dir NAME    private /var/lib/libvirt
#   mg_libvirt_log_dir NAME    private /var/log/libvirt: qemu/DOM.log
#   mg_libvirt_daemon_log NAME libvirtd's own log (monitor traffic at debug)
#   mg_libvirt_pid NAME        libvirtd's pid
#   mg_libvirt_qmp_dir NAME    where busy guests put their direct QMP socket
#                              (private /var/lib/libvirt/mg-qmp)
#   mg_libvirt_qemu_pid NAME DOM
# Each start also exports MG_HOST_<N>_{URI,DIR,RUN_DIR,LIB_DIR,LOG_DIR,
# QMP_DIR,PID} where <N> is NAME upper-cased with '-' turned into '_'.
#
# Domains
#   mg_libvirt_define_tiny NAME DOM  defines a 128 MiB domain, no disk, no NIC
#                                    (type kvm when mg_accel says kvm).
#   mg_libvirt_start_tiny NAME DOM   defines it when needed and starts it.
#   mg_libvirt_domstate NAME DOM     `domstate --reason` (5 s timeout).
#
# The two-host test bed (hosts mg-src and mg-dst, shared NBD storage, the busy
# guest of guest.sh) -- also driven by tests/testbed/up.sh and down.sh:
#   mg_testbed_up DIR          NBD server + both hosts; writes DIR/testbed.env
#                              (MG_TESTBED_QEMU_CONF: extra qemu.conf lines)
#   mg_testbed_down DIR        tears down everything recorded under DIR
#   mg_testbed_nbd_start DIR [SIZE]  nbdkit (daemon mode, pidfile) serving
#                              DIR/disk.raw (64M sparse) on DIR/nbd.sock;
#                              with MG_TESTBED_NBD_DELAY (e.g. 200ms) through
#                              nbdkit's delay filter on reads and writes, so a
#                              busy guest always has a request in flight
#                              with MG_TESTBED_NBD_TCP=1 on TCP instead: a
#                              free port on 127.0.0.1 (loopback only), written
#                              to DIR/nbd.port (mg_nbd_port DIR); with
#                              MG_TESTBED_NBD_PAUSABLE=1 through nbdkit's pause
#                              filter (control socket DIR/nbd-pause.sock)
#   mg_testbed_nbd_stop DIR    (named apart from tests/lib/qemu.sh's mg_nbd_*)
#   mg_nbd_hold DIR / mg_nbd_release DIR  (pause filter) holds every new
#                              request inside a RUNNING nbdkit (state S, its
#                              socket drained) / lets them go: a stall whose
#                              peer is not stopped
#   mg_nbd_pid DIR / mg_nbd_pause DIR (SIGSTOP) / mg_nbd_resume DIR (SIGCONT)
#   mg_nbd_connections DIR     open client connections of the NBD server
#   mg_nbd_wait_connections DIR N [TIMEOUT]  waits for >= N of them
#   mg_testbed_busy_xml DIR HOST DOM [MEM_MIB]  prints the busy guest's XML;
#                              with MG_TESTBED_EMULATOR=PATH it runs on that
#                              QEMU (<emulator>; e.g. the seeded QEMU of
#                              scripts/seeded-qemu.sh; libvirt probes a new
#                              emulator once, ~8.5 s under TCG, and the bed
#                              keeps the result in its capabilities cache);
#                              MG_GUEST_EXTRA_CMDLINE is appended to the
#                              kernel command line (e.g. migguard.mode=mem)
#   mg_testbed_nova_xml DIR HOST DOM [unix|tcp] [iothread] [MEM_MIB]  the
#                              same busy guest written the way OpenStack Nova
#                              writes domains (tests/testbed/nova-guest.xml.in):
#                              no <qemu:commandline>, hence no direct monitor;
#                              disk cache='none' io='native', on an IOThread
#                              only with "iothread"; NBD over DIR/nbd.sock
#                              (unix) or the bed's TCP server (tcp; default:
#                              tcp when DIR/nbd.port exists)
#   mg_testbed_test_qmp HOST DOM               the busy guest's second QMP socket (tests)
#   mg_testbed_create_busy DIR DOM   `virsh create`s it on mg-src
#   mg_testbed_wait_writing HOST DOM [TIMEOUT]  waits for the guest's writes
#   mg_testbed_serial_lines HOST DOM  lines in the guest's serial log now (0
#                              when absent); the log is appended across boots
#   mg_testbed_wait_writing_after HOST DOM LINES [TIMEOUT] [WHAT]  waits for
#                              a "writing" line after LINES (a boot since then)
#   mg_testbed_migrate DIR DOM [VIRSH ARGS...]  live p2p mg-src -> mg-dst over
#                              a unix socket under DIR (e.g. --bandwidth 1);
#                              gives up after $MG_MIGRATE_TIMEOUT (120) s
#   mg_testbed_migrate_bg DIR DOM [ARGS...]  same in the background; sets
#                              MG_MIGRATE_PID and MG_MIGRATE_LOG
#   mg_testbed_wait_migrating HOST DOM [TIMEOUT]  waits until the source
#                              QEMU sends memory (domjobinfo)
#   mg_testbed_serial_log HOST DOM   the guest's serial console file
#
# Measured here (libvirt 9.0, QEMU 7.2, TCG guest, 2 cores):
#  * host start 0.1-0.2 s; libvirt probes QEMU capabilities lazily, at the
#    first domain start (+3.8 s cold), so the cache is published after start
#    and at stop; tiny domain start 0.4 s warm; busy guest writing 5-9 s
#    after `virsh create`; migration of the 128 MiB busy guest 2.1-3.6 s.
#  * nbdkit -f sets PR_SET_PDEATHSIG(SIGTERM): it dies with its parent shell,
#    hence daemon mode + pidfile.
#  * A `migrate-setspeed` issued before the source QEMU sends memory is
#    overridden by libvirt's own --bandwidth: wait with
#    mg_testbed_wait_migrating first.
#  * Storage stall with the IOThread disk and the guest writing: the hang is
#    BEFORE QEMU's STOP event (libvirt says "running (booted)" on the source):
#    live_migration: vm_stop > vm_state_notify > ... >
#    virtio_blk_data_plane_stop > blk_set_aio_context >
#    bdrv_try_change_aio_context > ... > aio_poll > ppoll; main thread in
#    qemu_mutex_lock_iothread (futex).
#  * The direct QMP socket lives in the host's private /var/lib/libvirt; the
#    root namespace reaches the same socket through the bind mount's source
#    (mg_libvirt_qmp_dir), and each host has its own, so the destination
#    QEMU of a migration does not take over the source's socket path.
#
# Environment: MG_LIBVIRT_HOSTS (default $MG_TEST_TMP/hosts),
# MG_TESTBED_CACHE (default /var/tmp/migguard-testbed-cache; the shared QEMU
# capabilities cache lives in its libvirt-qemu-caps/), MG_TESTBED_PERSIST=1
# (register no exit hooks: used by tests/testbed/up.sh).

: "${MG_TESTBED_CACHE:=/var/tmp/migguard-testbed-cache}"
: "${MG_LIBVIRT_HOSTS:=${MG_TEST_TMP:?}/hosts}"

# Fallbacks so the file also works without common.sh.
declare -F mg_log >/dev/null || mg_log() { printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }
declare -F mg_fail >/dev/null || mg_fail() { mg_log "FAIL: $*"; exit 1; }
declare -F mg_on_exit >/dev/null || mg_on_exit() { :; }
declare -F mg_kill_pid >/dev/null || source "$MG_SRCDIR/tests/lib/kill.sh"

mg__lv_register() { [[ -n "${MG_TESTBED_PERSIST:-}" ]] || mg_on_exit "$@"; }
mg__lv_var() { local v=${1^^}; echo "MG_HOST_${v//[^A-Z0-9]/_}"; }

mg_libvirt_dir() { echo "$MG_LIBVIRT_HOSTS/$1"; }
mg_libvirt_run_dir() { echo "$MG_LIBVIRT_HOSTS/$1/run"; }
mg_libvirt_lib_dir() { echo "$MG_LIBVIRT_HOSTS/$1/lib"; }
mg_libvirt_log_dir() { echo "$MG_LIBVIRT_HOSTS/$1/log"; }
mg_libvirt_qmp_dir() { echo "$MG_LIBVIRT_HOSTS/$1/lib/mg-qmp"; }
mg_libvirt_daemon_log() { echo "$MG_LIBVIRT_HOSTS/$1/libvirtd.log"; }
mg_libvirt_uri() { echo "qemu+unix:///system?socket=$MG_LIBVIRT_HOSTS/$1/run/libvirt-sock"; }
mg_libvirt_pid() { cat "$MG_LIBVIRT_HOSTS/$1/launch.pid" 2>/dev/null; }
mg_libvirt_qemu_pid() { cat "$MG_LIBVIRT_HOSTS/$1/run/qemu/$2.pid" 2>/dev/null; }
mg_virsh() { local h=$1; shift; virsh -q -c "$(mg_libvirt_uri "$h")" "$@"; }

mg_libvirt_setup() {
	getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
	id -u libvirt-qemu >/dev/null 2>&1 ||
		useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin -c "Libvirt Qemu" libvirt-qemu
	# Mount points for the private copies (empty directories on the host).
	mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
	mkdir -p "$MG_TESTBED_CACHE/libvirt-qemu-caps"
}

# The namespace anchor: a sleeping process that holds the host's namespaces
# so libvirtd can be restarted inside them while QEMUs run.
mg__lv_anchor_alive() {
	local d=$1 pid
	pid=$(cat "$d/anchor.pid" 2>/dev/null) || return 1
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null &&
		[[ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" == "$(cat "$d/anchor.mntns" 2>/dev/null)" ]]
}

mg__lv_write_conf() {
	local name=$1 d=$2 uuid
	mkdir -p "$d/etc" "$d/run" "$d/lib/mg-qmp" "$d/log/qemu" "$d/cache/qemu/capabilities"
	if [[ -d /etc/libvirt ]]; then cp -an /etc/libvirt/. "$d/etc/" 2>/dev/null || true; fi
	[[ -s $d/host_uuid ]] || cat /proc/sys/kernel/random/uuid >"$d/host_uuid"
	uuid=$(cat "$d/host_uuid")
	cat >"$d/etc/libvirtd.conf" <<-EOF
		# migguard test host $name
		listen_tls = 0
		listen_tcp = 0
		unix_sock_rw_perms = "0770"
		auth_unix_rw = "none"
		auth_unix_ro = "none"
		host_uuid = "$uuid"
		log_filters = "1:qemu.qemu_monitor 1:qemu.qemu_migration 3:*"
		log_outputs = "1:file:$d/libvirtd.log"
		keepalive_interval = 5
		${MG_LIBVIRT_MAX_WORKERS:+max_workers = $MG_LIBVIRT_MAX_WORKERS}
	EOF
	cat >"$d/etc/qemu.conf" <<-EOF
		# migguard test host $name: no systemd, no virtlogd, no security driver
		stdio_handler = "file"
		user = "root"
		group = "root"
		dynamic_ownership = 0
		remember_owner = 0
		security_driver = "none"
		cgroup_controllers = [ ]
		namespaces = [ ]
		lock_manager = "nop"
		set_process_name = 1
		${MG_TESTBED_QEMU_CONF:-}
	EOF
	cat >"$d/ns.sh" <<-'EOF'
		#!/bin/bash
		# Runs inside the host's fresh UTS + mount namespace.
		set -e
		d=$1 name=$2
		hostname "$name"
		mount --bind "$d/etc" /etc/libvirt
		mount --bind "$d/run" /run/libvirt
		mount --bind "$d/lib" /var/lib/libvirt
		mount --bind "$d/log" /var/log/libvirt
		mount --bind "$d/cache" /var/cache/libvirt
		(setsid sleep infinity </dev/null >/dev/null 2>&1 & echo $! >"$d/anchor.pid")
		readlink /proc/self/ns/mnt >"$d/anchor.mntns"
		echo $$ >"$d/launch.pid"
		exec libvirtd -f "$d/etc/libvirtd.conf" -p "$d/libvirtd.pid"
	EOF
}

mg__lv_export() {
	local name=$1 d v
	d=$(mg_libvirt_dir "$name")
	v=$(mg__lv_var "$name")
	export "${v}_URI=$(mg_libvirt_uri "$name")" "${v}_DIR=$d" "${v}_RUN_DIR=$d/run" \
		"${v}_LIB_DIR=$d/lib" "${v}_LOG_DIR=$d/log" "${v}_QMP_DIR=$d/lib/mg-qmp" \
		"${v}_PID=$(mg_libvirt_pid "$name")"
}

# Publishes freshly probed QEMU capabilities for later starts (libvirt probes
# them lazily, at the first domain start; atomic per file).
mg__lv_publish_caps() {
	local d=$1 f caps=$MG_TESTBED_CACHE/libvirt-qemu-caps
	for f in "$d"/cache/qemu/capabilities/*.xml; do
		[[ -f $f ]] || continue
		if ! cmp -s "$f" "$caps/${f##*/}"; then
			cp "$f" "$caps/.${f##*/}.$$" && mv -f "$caps/.${f##*/}.$$" "$caps/${f##*/}"
		fi
	done
	return 0
}

mg_libvirt_host_start() {
	local name=$1 d pid t0 deadline caps
	d=$(mg_libvirt_dir "$name")
	mg_libvirt_setup
	mkdir -p "$d"
	t0=${EPOCHREALTIME/,/.}
	caps=$MG_TESTBED_CACHE/libvirt-qemu-caps
	if [[ ! -e $d/registered ]]; then
		mg__lv_register "mg_libvirt_host_teardown $name"
		: >"$d/registered"
	fi
	rm -f "$d/launch.pid" "$d/run/libvirt-sock"
	if mg__lv_anchor_alive "$d"; then
		# Restart inside the living namespace (QEMUs still run there).
		nsenter -t "$(cat "$d/anchor.pid")" -m -u -- \
			setsid bash -c 'echo $$ >"$1/launch.pid"; exec libvirtd -f "$1/etc/libvirtd.conf" -p "$1/libvirtd.pid"' \
			_ "$d" </dev/null >>"$d/libvirtd.out" 2>&1 &
	else
		mg__lv_write_conf "$name" "$d"
		# The capabilities probe costs seconds; reuse the shared cache.
		cp -a "$caps/." "$d/cache/qemu/capabilities/" 2>/dev/null || true
		setsid unshare -m -u --propagation private bash "$d/ns.sh" "$d" "$name" \
			</dev/null >>"$d/libvirtd.out" 2>&1 &
	fi
	deadline=$((SECONDS + 90))
	until [[ -s $d/launch.pid ]] && pid=$(cat "$d/launch.pid") && [[ -n $pid ]] &&
		virsh -q -c "$(mg_libvirt_uri "$name")" list >/dev/null 2>&1; do
		if ((SECONDS >= deadline)) || { [[ -n ${pid:-} ]] && ! kill -0 "$pid" 2>/dev/null; }; then
			mg_log "--- libvirtd $name output ---"
			tail -n 30 "$d/libvirtd.out" >&2 || true
			tail -n 30 "$d/libvirtd.log" >&2 || true
			mg_fail "libvirt host $name did not come up"
		fi
		sleep 0.05
	done
	mg__lv_publish_caps "$d"
	mg__lv_export "$name"
	local t1=${EPOCHREALTIME/,/.}
	mg_log "libvirt host $name up (pid $(mg_libvirt_pid "$name"), $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s)"
}

mg_libvirt_host_stop() {
	local name=$1 d pid
	d=$(mg_libvirt_dir "$name")
	pid=$(cat "$d/launch.pid" 2>/dev/null) || return 0
	[[ -n $pid ]] || return 0
	# Only the libvirtd of this host: the process must run libvirtd.
	if [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == */libvirtd ]]; then
		mg_kill_pid "$pid"
		local i
		for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	fi
	rm -f "$d/launch.pid"
	mg__lv_publish_caps "$d"
}

mg_libvirt_host_restart() {
	mg_libvirt_host_stop "$1"
	mg_libvirt_host_start "$1"
}

# libvirt reconnects to each QEMU in a thread that holds the domain's job;
# `domstate` answers from the status XML before that ends.  A QMP passthrough
# needs the job, so its answer means the reconnect is over.
mg_libvirt_wait_reconnected() {
	local h=$1 dom=$2
	timeout 30 virsh -q -c "$(mg_libvirt_uri "$h")" qemu-monitor-command "$dom" \
		'{"execute":"query-status"}' >/dev/null ||
		mg_fail "libvirt on $h did not finish reconnecting to $dom"
}

# QEMU processes of the host: pids from its run dir's pidfiles that live in
# the host's mount namespace.
mg_libvirt_host_qemu_pids() {
	local d f pid ns
	d=$(mg_libvirt_dir "$1")
	ns=$(cat "$d/anchor.mntns" 2>/dev/null) || return 0
	for f in "$d"/run/qemu/*.pid; do
		[[ -f $f ]] || continue
		pid=$(cat "$f" 2>/dev/null) || continue
		[[ $pid =~ ^[0-9]+$ ]] || continue
		[[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == */qemu-system-* ]] || continue
		[[ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" == "$ns" ]] && echo "$pid"
	done
	return 0
}

mg_libvirt_host_teardown() {
	local name=$1 d pids pid
	d=$(mg_libvirt_dir "$name")
	[[ -d $d ]] || return 0
	pids=$(mg_libvirt_host_qemu_pids "$name")
	mg_libvirt_host_stop "$name"
	for pid in $pids; do
		kill -CONT "$pid" 2>/dev/null || true
		kill -KILL "$pid" 2>/dev/null || true
	done
	if mg__lv_anchor_alive "$d"; then
		# Any process still in the namespace (e.g. a QEMU whose pidfile is
		# gone) goes with it.
		local ns p
		ns=$(cat "$d/anchor.mntns")
		for p in /proc/[0-9]*; do
			[[ "$(readlink "$p/ns/mnt" 2>/dev/null)" == "$ns" ]] || continue
			pid=${p#/proc/}
			[[ $pid == "$(cat "$d/anchor.pid")" ]] && continue
			kill -KILL "$pid" 2>/dev/null || true
		done
		mg_kill_pid "$(cat "$d/anchor.pid")"
	fi
	for pid in $pids; do
		local i
		for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	done
	rm -f "$d/anchor.pid"
}

mg_libvirt_nsenter() {
	local d; d=$(mg_libvirt_dir "$1"); shift
	mg__lv_anchor_alive "$d" || mg_fail "host namespace of $d is gone"
	nsenter -t "$(cat "$d/anchor.pid")" -m -u -- "$@"
}

mg_libvirt_domstate() { timeout 5 virsh -q -c "$(mg_libvirt_uri "$1")" domstate --reason "$2"; }

mg_libvirt_tiny_xml() {
	local dom=$1 type=qemu
	[[ "$(mg_accel 2>/dev/null || echo tcg)" == kvm ]] && type=kvm
	cat <<-EOF
		<domain type='$type'>
		  <name>$dom</name>
		  <memory unit='MiB'>128</memory>
		  <vcpu>1</vcpu>
		  <os><type arch='x86_64'>hvm</type></os>
		  <on_poweroff>destroy</on_poweroff>
		  <on_reboot>restart</on_reboot>
		  <on_crash>destroy</on_crash>
		  <devices>
		    <controller type='usb' model='none'/>
		    <memballoon model='none'/>
		  </devices>
		</domain>
	EOF
}

mg_libvirt_define_tiny() {
	local name=$1 dom=$2 x
	x=$(mg_libvirt_dir "$name")/$dom.xml
	mg_libvirt_tiny_xml "$dom" >"$x"
	mg_virsh "$name" define "$x" >/dev/null || mg_fail "define $dom on $name"
}

mg_libvirt_start_tiny() {
	local name=$1 dom=$2
	mg_virsh "$name" dominfo "$dom" >/dev/null 2>&1 || mg_libvirt_define_tiny "$name" "$dom"
	mg_virsh "$name" start "$dom" >/dev/null || mg_fail "start $dom on $name"
}

# ---------------------------------------------------------------------------
# The two-host test bed.

mg_nbd_pid() { cat "$1/nbd.pid" 2>/dev/null; }

mg__nbd_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

mg_testbed_nbd_start() {
	local dir=$1 size=${2:-64M} try port=""
	local -a filter=() params=() listen=()
	[[ -f $dir/disk.raw ]] || truncate -s "$size" "$dir/disk.raw"
	rm -f "$dir/nbd.sock" "$dir/nbd.pid" "$dir/nbd.port" "$dir/nbd-pause.sock"
	if [[ -n ${MG_TESTBED_NBD_PAUSABLE:-} ]]; then
		filter+=(--filter=pause)
		params+=("pause-control=$dir/nbd-pause.sock")
	fi
	if [[ -n ${MG_TESTBED_NBD_DELAY:-} ]]; then
		filter+=(--filter=delay)
		params+=("delay-read=$MG_TESTBED_NBD_DELAY" "delay-write=$MG_TESTBED_NBD_DELAY")
	fi
	# Daemon mode: nbdkit -f sets PR_SET_PDEATHSIG(SIGTERM), so a foreground
	# nbdkit dies with the shell that started it (e.g. tests/testbed/up.sh).
	# The daemon writes its pidfile once it listens.  A free TCP port is
	# picked, then bound by nbdkit: another process may take it in between,
	# hence the retries.
	for try in 1 2 3; do
		if [[ -n ${MG_TESTBED_NBD_TCP:-} ]]; then
			port=$(mg__nbd_free_port)
			listen=(-i 127.0.0.1 -p "$port")
		else
			listen=(-U "$dir/nbd.sock")
		fi
		nbdkit "${listen[@]}" -P "$dir/nbd.pid" "${filter[@]}" file "$dir/disk.raw" "${params[@]}" \
			</dev/null >>"$dir/nbdkit.log" 2>&1 && break
		((try < 3)) || { cat "$dir/nbdkit.log" >&2; mg_fail "nbdkit did not start"; }
	done
	mg__lv_register "mg_testbed_nbd_stop $dir"
	local deadline=$((SECONDS + 10))
	until [[ ( -n $port || -S $dir/nbd.sock ) && -s $dir/nbd.pid ]]; do
		((SECONDS < deadline)) || { cat "$dir/nbdkit.log" >&2; mg_fail "nbdkit did not start"; }
		sleep 0.05
	done
	[[ -z $port ]] || echo "$port" >"$dir/nbd.port"
}

# The pause filter's control socket: one command letter, answered in upper
# case once it took effect ('P' only after the requests in flight finished).
mg__nbd_pause_ctl() {
	python3 - "$1/nbd-pause.sock" "$2" <<-'PY'
		import socket, sys
		s = socket.socket(socket.AF_UNIX)
		s.settimeout(30)
		s.connect(sys.argv[1])
		s.sendall(sys.argv[2].encode())
		r = s.recv(1).decode()
		sys.exit(0 if r == sys.argv[2].upper() else 1)
	PY
}
mg_nbd_hold() { mg__nbd_pause_ctl "$1" p || mg_fail "nbdkit's pause filter did not hold requests"; }
mg_nbd_release() { mg__nbd_pause_ctl "$1" r; }
mg_nbd_port() { cat "$1/nbd.port" 2>/dev/null; }

mg_testbed_nbd_stop() {
	local pid; pid=$(mg_nbd_pid "$1") || return 0
	[[ -n $pid && "$(readlink "/proc/$pid/exe" 2>/dev/null)" == */nbdkit ]] || return 0
	kill -CONT "$pid" 2>/dev/null
	mg_kill_pid "$pid"
}
mg_nbd_pause() { kill -STOP "$(mg_nbd_pid "$1")"; }
mg_nbd_resume() { kill -CONT "$(mg_nbd_pid "$1")"; }

# Number of accepted client connections (socket fds beyond the listener).
mg_nbd_connections() {
	local pid n=0 fd
	pid=$(mg_nbd_pid "$1")
	for fd in /proc/"$pid"/fd/*; do
		[[ "$(readlink "$fd" 2>/dev/null)" == socket:* ]] && n=$((n + 1))
	done
	echo $((n > 0 ? n - 1 : 0))
}

# mg_nbd_wait_connections DIR N [TIMEOUT]: waits until the server has at
# least N client connections (e.g. the destination QEMU opened the disk).
mg__nbd_has() { (($(mg_nbd_connections "$1") >= $2)); }
mg_nbd_wait_connections() {
	mg_wait_for "${3:-30}" "$2 NBD client connection(s)" mg__nbd_has "$1" "$2"
}

mg_testbed_up() {
	local dir=$1
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	MG_LIBVIRT_HOSTS=$dir/hosts
	echo "$MG_LIBVIRT_HOSTS" >"$dir/hosts.path"
	mg_testbed_nbd_start "$dir"
	mg_libvirt_host_start mg-src
	mg_libvirt_host_start mg-dst
	cat >"$dir/testbed.env" <<-EOF
		MG_TESTBED_DIR=$dir
		MG_LIBVIRT_HOSTS=$MG_LIBVIRT_HOSTS
		MG_SRC_URI='$(mg_libvirt_uri mg-src)'
		MG_DST_URI='$(mg_libvirt_uri mg-dst)'
		MG_SRC_RUN_DIR=$(mg_libvirt_run_dir mg-src)
		MG_DST_RUN_DIR=$(mg_libvirt_run_dir mg-dst)
		MG_SRC_LOG_DIR=$(mg_libvirt_log_dir mg-src)
		MG_DST_LOG_DIR=$(mg_libvirt_log_dir mg-dst)
		MG_SRC_QMP_DIR=$(mg_libvirt_qmp_dir mg-src)
		MG_DST_QMP_DIR=$(mg_libvirt_qmp_dir mg-dst)
		MG_NBD_SOCK=$dir/nbd.sock
		MG_NBD_PORT=$(mg_nbd_port "$dir")
		MG_NBD_PID=$(mg_nbd_pid "$dir")
	EOF
}

mg_testbed_down() {
	local dir=$1 h
	[[ -d $dir ]] || return 0
	[[ -f $dir/hosts.path ]] && MG_LIBVIRT_HOSTS=$(cat "$dir/hosts.path")
	[[ -f $dir/migrate.pid ]] && mg_kill_pid "$(cat "$dir/migrate.pid")"
	for h in mg-src mg-dst; do mg_libvirt_host_teardown "$h"; done
	mg_testbed_nbd_stop "$dir"
}

# The busy guest's second QMP socket, for the tests (root namespace path).
mg_testbed_test_qmp() { echo "$(mg_libvirt_qmp_dir "$1")/$2.test-sock"; }

mg_testbed_serial_log() { echo "$(mg_libvirt_log_dir "$1")/qemu/$2-serial.log"; }

# The busy guest's XML for HOST (paths inside the host's namespace; the
# serial log and direct QMP socket land in that host's private dirs, which
# the root namespace reaches through mg_libvirt_log_dir / mg_libvirt_qmp_dir).
mg_testbed_busy_xml() {
	local dir=$1 host=$2 dom=$3 mem=${4:-128}
	mg_guest_build >/dev/null
	sed -e "s|@NAME@|$dom|g" -e "s|@MEMORY_MIB@|$mem|g" \
		-e "s|@KERNEL@|$MG_GUEST_KERNEL|g" -e "s|@INITRD@|$MG_GUEST_INITRD|g" \
		-e "s|@CMDLINE@|$MG_GUEST_CMDLINE${MG_GUEST_EXTRA_CMDLINE:+ $MG_GUEST_EXTRA_CMDLINE}|g" -e "s|@NBD_SOCK@|$dir/nbd.sock|g" \
		-e "s|@SERIAL_LOG@|/var/log/libvirt/qemu/$dom-serial.log|g" \
		-e "s|@QMP_SOCK@|/var/lib/libvirt/mg-qmp/$dom.sock|g" \
		-e "s|@TEST_QMP_SOCK@|/var/lib/libvirt/mg-qmp/$dom.test-sock|g" \
		-e "s|^\( *\)<devices>\$|&${MG_TESTBED_EMULATOR:+\n\1  <emulator>$MG_TESTBED_EMULATOR</emulator>}|" \
		"$MG_SRCDIR/tests/testbed/busy-guest.xml.in"
}

# The Nova-shaped guest's XML (tests/testbed/nova-guest.xml.in): the busy
# guest as Nova writes domains, no direct monitor.
mg_testbed_nova_xml() {
	local dir=$1 host=$2 dom=$3 transport=${4:-} iothread=${5:-} mem=${6:-128}
	local host_elem iot="" drv="" port
	[[ -n $transport ]] || { transport=unix; [[ -s $dir/nbd.port ]] && transport=tcp; }
	case $transport in
	unix) host_elem="<host transport='unix' socket='$dir/nbd.sock'/>" ;;
	tcp)
		port=$(mg_nbd_port "$dir") || mg_fail "no TCP NBD server under $dir (MG_TESTBED_NBD_TCP=1)"
		host_elem="<host name='127.0.0.1' port='$port'/>"
		;;
	*) mg_fail "mg_testbed_nova_xml: transport '$transport' is not unix or tcp" ;;
	esac
	case $iothread in
	'' | none | no) ;;
	iothread) iot="<iothreads>1</iothreads>" drv=" iothread='1'" ;;
	*) mg_fail "mg_testbed_nova_xml: '$iothread' is not iothread" ;;
	esac
	mg_guest_build >/dev/null
	sed -e "s|@NAME@|$dom|g" -e "s|@MEMORY_KIB@|$((mem * 1024))|g" \
		-e "s|@KERNEL@|$MG_GUEST_KERNEL|g" -e "s|@INITRD@|$MG_GUEST_INITRD|g" \
		-e "s|@CMDLINE@|$MG_GUEST_CMDLINE|g" -e "s|@NBD_HOST@|$host_elem|g" \
		-e "s|@IOTHREADS@|$iot|g" -e "s|@DRIVER_IOTHREAD@|$drv|g" \
		-e "s|@SERIAL_LOG@|/var/log/libvirt/qemu/$dom-serial.log|g" \
		-e "s|^\( *\)<devices>\$|&${MG_TESTBED_EMULATOR:+\n\1  <emulator>$MG_TESTBED_EMULATOR</emulator>}|" \
		"$MG_SRCDIR/tests/testbed/nova-guest.xml.in"
}

mg_testbed_create_busy() {
	local dir=$1 dom=$2
	mg_testbed_busy_xml "$dir" mg-src "$dom" >"$dir/$dom.xml"
	mg_virsh mg-src create "$dir/$dom.xml" >/dev/null || mg_fail "virsh create $dom"
}

mg_testbed_serial_lines() {
	local n
	n=$({ wc -l <"$(mg_testbed_serial_log "$1" "$2")"; } 2>/dev/null) || n=0
	echo "${n:-0}"
}

mg__testbed_writing_after() { tail -n +"$(($3 + 1))" "$(mg_testbed_serial_log "$1" "$2")" 2>/dev/null | grep -q 'MIGGUARD-GUEST: writing'; }

mg_testbed_wait_writing_after() {
	local host=$1 dom=$2 lines=$3 timeout=${4:-90} what=${5:-"guest $2 on $1 writing to its disk again"}
	mg_wait_for "$timeout" "$what" mg__testbed_writing_after "$host" "$dom" "$lines"
}

mg_testbed_wait_writing() {
	local host=$1 dom=$2 timeout=${3:-60} log
	log=$(mg_testbed_serial_log "$host" "$dom")
	mg_wait_for "$timeout" "guest $dom on $host writing to its disk" \
		grep -q 'MIGGUARD-GUEST: writing' "$log"
}

mg_testbed_migrate() {
	local dir=$1 dom=$2; shift 2
	rm -f "$dir/mig-$dom.sock"
	timeout -k 5 "${MG_MIGRATE_TIMEOUT:-120}" virsh -c "$(mg_libvirt_uri mg-src)" migrate --live --p2p "$dom" "$(mg_libvirt_uri mg-dst)" \
		--migrateuri "unix://$dir/mig-$dom.sock" "$@"
}

# Waits until the source QEMU is really migrating (memory being sent): only
# then does a migrate-setspeed stick (libvirt sets --bandwidth itself when it
# issues the migrate command, after the destination has started).
mg__testbed_src_sending() {
	timeout 5 virsh -q -c "$(mg_libvirt_uri "$1")" domjobinfo "$2" 2>/dev/null |
		grep -Eq '^Memory processed: +[0-9.]*[1-9]'
}
mg_testbed_wait_migrating() {
	mg_wait_for "${3:-30}" "$2 migrating out of $1" mg__testbed_src_sending "$1" "$2"
}

mg_testbed_migrate_bg() {
	local dir=$1 dom=$2; shift 2
	MG_MIGRATE_LOG=$dir/migrate-$dom.log
	rm -f "$dir/mig-$dom.sock"
	setsid virsh -c "$(mg_libvirt_uri mg-src)" migrate --live --p2p "$dom" "$(mg_libvirt_uri mg-dst)" \
		--migrateuri "unix://$dir/mig-$dom.sock" "$@" </dev/null >"$MG_MIGRATE_LOG" 2>&1 &
	MG_MIGRATE_PID=$!
	echo "$MG_MIGRATE_PID" >"$dir/migrate.pid"
	mg__lv_register "mg_kill_pid $MG_MIGRATE_PID"
}
