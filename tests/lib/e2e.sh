# e2e.sh - the two-host test bed with one migguardd per host.  Sourcing it
# sources common.sh, libvirt.sh, guest.sh and migguardd.sh.
#
# mg_e2e_up DIR : builds the guest (cached), brings up both hosts and the
#     NBD storage under DIR, and registers their teardown (the NBD server is
#     resumed first, so nothing stays stuck).
#
# mg_e2e_guard_conf HOST FILE [KEY=VALUE...] : a config for HOST's guard:
#     its libvirt URI, its own state dir, the direct monitors the busy guest
#     has (socket_template), plus the given keys.
#     With --no-direct first: no [qmp] socket_template (libvirt's monitor
#     only: no yank, so recover goes on to the kill step).
# mg_e2e_define_busy DIR HOST DOM : defines (persistent) and starts the busy
#     guest on HOST, and waits until it writes to its disk.
# mg_e2e_guard_start HOST NAME CONF : starts migguardd NAME for HOST in the
#     root namespace, pointed at the host's private libvirt run and log dirs.
# mg_e2e_stall DIR DOM : starts the busy guest's migration throttled, waits
#     until the destination opened the disk and memory flows, stops the NBD
#     server and opens the bandwidth: the source hangs at switch-over.

source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/libvirt.sh"
source "$MG_SRCDIR/tests/lib/guest.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

mg_e2e_up() {
	local dir=$1
	mg_guest_build >/dev/null
	mg_on_exit "mg_testbed_down $dir"
	mg_testbed_up "$dir"
	mg_on_exit "mg_nbd_resume $dir"
}

mg_e2e_guard_conf() {
	local direct=1
	[[ $1 == --no-direct ]] && { direct=0; shift; }
	local host=$1 file=$2; shift 2
	local -a qmp=()
	((direct)) && qmp=("qmp.socket_template=$(mg_libvirt_qmp_dir "$host")/%n.sock")
	mg_guard_conf "$file" "daemon.uri=$(mg_libvirt_uri "$host")" \
		"daemon.state_dir=$MG_TEST_TMP/state-$host" "${qmp[@]}" "$@"
}

mg_e2e_define_busy() {
	local dir=$1 host=$2 dom=$3
	mg_testbed_busy_xml "$dir" "$host" "$dom" >"$MG_TEST_TMP/$dom.xml"
	mg_virsh "$host" define "$MG_TEST_TMP/$dom.xml" >/dev/null || mg_fail "virsh define $dom"
	mg_virsh "$host" start "$dom" >/dev/null || mg_fail "virsh start $dom"
	mg_testbed_wait_writing "$host" "$dom" 90
}

mg_e2e_guard_start() {
	local host=$1 name=$2 conf=$3
	MIGGUARD_LIBVIRT_RUN_DIR=$(mg_libvirt_run_dir "$host")/qemu \
	MIGGUARD_LIBVIRT_LOG_DIR=$(mg_libvirt_log_dir "$host")/qemu \
	MIGGUARD_SIGNATURES_DIR=$MG_SRCDIR/conf/signatures \
		mg_guard_start "$name" "$conf"
	mg_guard_wait_log "$name" 10 "libvirt .*: connected"
}

mg_e2e_stall() {
	local dir=$1 dom=$2 base
	base=$(mg_nbd_connections "$dir")
	mg_testbed_migrate_bg "$dir" "$dom" --bandwidth 1
	mg_nbd_wait_connections "$dir" $((base + 1)) 60
	mg_testbed_wait_migrating mg-src "$dom" 30
	mg_nbd_pause "$dir"
	mg_virsh mg-src migrate-setspeed "$dom" 100000 || mg_fail "migrate-setspeed"
	mg_log "storage stalled under the migration of $dom"
}
