# Test bed self-test: the storage-stall hang at switch-over, for real.
# A busy guest (IOThread virtio-blk disk on shared NBD storage) migrates
# throttled; once the destination has opened the disk and memory flows, the
# NBD server is SIGSTOPped and the bandwidth opened up: the source's
# live_migration thread calls vm_stop() holding the BQL and hangs draining the
# disk inside vm_state_notify -> virtio_blk_data_plane_stop, BEFORE QEMU's
# STOP event (libvirt still says "running"), while the main thread waits for
# the BQL.  SIGCONT on the NBD server lets the migration finish.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/libvirt.sh"
source "$MG_SRCDIR/tests/lib/guest.sh"

tb=$MG_TEST_TMP/tb
dom=busy
el() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

mg_guest_build >/dev/null
mg_on_exit "mg_testbed_down $tb"
mg_testbed_up "$tb"
mg_on_exit "mg_nbd_resume $tb"   # runs first at exit: never leave it stopped

mg_testbed_create_busy "$tb" "$dom"
mg_testbed_wait_writing mg-src "$dom" 90
pid=$(mg_libvirt_qemu_pid mg-src "$dom")
base=$(mg_nbd_connections "$tb")

mg_testbed_migrate_bg "$tb" "$dom" --bandwidth 1
mg_nbd_wait_connections "$tb" $((base + 1)) 60   # the destination opened the disk
mg_testbed_wait_migrating mg-src "$dom" 30         # memory flows (bandwidth applied)
mg_nbd_pause "$tb"
t0=$EPOCHREALTIME
mg_virsh mg-src migrate-setspeed "$dom" 100000 || mg_fail "migrate-setspeed"

main_syscall() { cut -d' ' -f1 "/proc/$pid/task/$pid/syscall" 2>/dev/null; }
# The main thread blocked in futex (202) for 1 s in a row (20 samples).
main_stuck() {
	local i
	for ((i = 0; i < 20; i++)); do
		[[ "$(main_syscall)" == 202 ]] || return 1
		sleep 0.05
	done
}
mg_wait_for 20 "source QEMU main thread blocked in a futex wait" main_stuck
mg_log "main thread in futex wait $(el "$t0") s after migrate-setspeed"

thread_tid() {
	local t
	for t in /proc/"$pid"/task/*; do
		[[ "$(cat "$t/comm" 2>/dev/null)" == "$1" ]] && { echo "${t##*/}"; return 0; }
	done
	return 1
}
mig_tid=$(thread_tid live_migration) || mg_fail "no live_migration thread"

# The stack shows where the drain hangs (QEMU exports these symbols).
if command -v eu-stack >/dev/null; then
	timeout 30 eu-stack -p "$pid" >"$MG_TEST_TMP/stacks.txt" 2>&1 || true
	awk -v t="TID $mig_tid:" '$0 == t { on = 1; print; next } /^TID / { on = 0 } on' \
		"$MG_TEST_TMP/stacks.txt" >"$MG_TEST_TMP/live_migration.txt"
	mg_log "live_migration ($mig_tid) stack:"
	sed 's/^/    /' "$MG_TEST_TMP/live_migration.txt" >&2
	mg_assert_grep 'virtio_blk_data_plane_stop' "$MG_TEST_TMP/live_migration.txt"
	mg_assert_grep 'vm_state_notify' "$MG_TEST_TMP/live_migration.txt"
	! grep -q bdrv_drain_all "$MG_TEST_TMP/live_migration.txt" || mg_fail "hang after STOP (bdrv_drain_all)"
	mg_assert_grep 'qemu_mutex_lock_iothread' <(awk -v t="TID $pid:" '$0 == t { on = 1; next } /^TID / { on = 0 } on' "$MG_TEST_TMP/stacks.txt")
fi

# The migration never completes: 10 s later it still runs, the source still
# has the domain, the main thread is still blocked.
deadline=$((SECONDS + 10))
while ((SECONDS < deadline)); do
	kill -0 "$MG_MIGRATE_PID" 2>/dev/null || mg_fail "migration ended during the stall: $(cat "$MG_MIGRATE_LOG")"
	sleep 0.2
done
[[ "$(main_syscall)" == 202 ]] || mg_fail "main thread no longer blocked"

# Before STOP: libvirt never got QEMU's STOP event, so it still reports the
# source as running (after STOP it would say "paused (migrating)").
state=$(mg_libvirt_domstate mg-src "$dom") || mg_fail "domstate on mg-src did not answer"
mg_log "mg-src domstate: $state; mg-dst: $(mg_libvirt_domstate mg-dst "$dom" || true)"
[[ $state == running* ]] || mg_fail "expected the before-STOP hang (running), got '$state'"
if grep -q 'QEMU_MONITOR_RECV_EVENT.*"event": "MIGRATION".*"active"' "$(mg_libvirt_daemon_log mg-src)"; then
	! sed -n '/"event": "MIGRATION".*"active"/,$p' "$(mg_libvirt_daemon_log mg-src)" |
		grep -q 'QEMU_MONITOR_RECV_EVENT.*"event": "STOP"' || mg_fail "QEMU sent STOP"
fi

# Recovery: the NBD server continues, the migration completes.
t0=$EPOCHREALTIME
mg_nbd_resume "$tb"
mg_wait_for 60 "migration to finish after SIGCONT" eval '! kill -0 '"$MG_MIGRATE_PID"
wait "$MG_MIGRATE_PID" || mg_fail "migration failed after SIGCONT: $(cat "$MG_MIGRATE_LOG")"
mg_log "migration completed $(el "$t0") s after SIGCONT"
[[ "$(mg_libvirt_domstate mg-dst "$dom")" == "running (migrated)" ]] || mg_fail "$dom not running on mg-dst"
mg_log "ok"
