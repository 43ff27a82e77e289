# Test bed self-test: two libvirt hosts on one machine (mg-src, mg-dst) with
# shared NBD storage; a busy guest (kernel + busybox writing to its IOThread
# virtio-blk disk) migrates live from mg-src to mg-dst and keeps writing.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/libvirt.sh"
source "$MG_SRCDIR/tests/lib/guest.sh"

tb=$MG_TEST_TMP/tb
dom=busy
el() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

mg_guest_build >/dev/null
mg_on_exit "mg_testbed_down $tb"
mg_testbed_up "$tb"
src_log=$(mg_testbed_serial_log mg-src "$dom")
dst_log=$(mg_testbed_serial_log mg-dst "$dom")

t0=$EPOCHREALTIME
mg_testbed_create_busy "$tb" "$dom"
mg_testbed_wait_writing mg-src "$dom" 90
mg_log "guest writing $(el "$t0") s after virsh create (TCG)"
[[ -S "$(mg_libvirt_qmp_dir mg-src)/$dom.sock" ]] || mg_fail "no direct QMP socket"
src_pid=$(mg_libvirt_qemu_pid mg-src "$dom")

t0=$EPOCHREALTIME
MG_MIGRATE_TIMEOUT=90 mg_testbed_migrate "$tb" "$dom" >"$MG_TEST_TMP/migrate.out" 2>&1 ||
	mg_fail "migration failed: $(tail -n 20 "$(mg_libvirt_log_dir mg-src)/qemu/$dom.log")"
mg_log "migrated in $(el "$t0") s"

[[ "$(mg_libvirt_domstate mg-dst "$dom")" == "running (migrated)" ]] || mg_fail "$dom not running on mg-dst"
! mg_virsh mg-src dominfo "$dom" >/dev/null 2>&1 || mg_fail "$dom still defined on mg-src"
mg_wait_for 10 "source QEMU $src_pid gone" eval '! kill -0 '"$src_pid"
# The guest keeps writing on the destination (same shared disk).
mg_wait_for 60 "guest writing on mg-dst" grep -q 'MIGGUARD-GUEST: writing' "$dst_log"
! grep -q 'failed' "$src_log" "$dst_log" || mg_fail "guest reported a failed write"
[[ -s "$(mg_libvirt_run_dir mg-dst)/qemu/$dom.xml" ]] || mg_fail "no status XML on mg-dst"
mg_log "ok"
