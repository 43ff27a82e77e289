# timeout: 180
# The unstick rung on real QEMU (standalone guard, action = recover): the
# storage stall at switch-over (NBD server stopped with a write in flight,
# the disk on an IOThread).  The guard does not send the cancel (the BQL
# is held and the monitor silent), passes the five checks, shuts exactly
# the NBD client socket out of QEMU, and sees QEMU recover: migration
# failed, BQL free, query-status "running" -- within finish_timeout + 2 s
# of the stall, QEMU never killed.  The server resumes: QEMU's NBD client
# reconnects by itself, a write through the same drive succeeds (a yanked
# node would fail it with EIO for good), and a second migration of the
# same QEMU to a new destination completes.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

MG_NBD_OPTS=-t
mg_storage_stall_prepare src dst
qpid=$(mg_qemu_pid src)
conf=$MG_TEST_TMP/g.conf
mg_guard_conf "$conf" "daemon.state_dir=$MG_TEST_TMP/state" "guard.probe_interval=500ms" \
	"guard.monitor_timeout=1s" "guard.finish_timeout=3s" "guard.action=recover" \
	"guard.recover_grace=20s" "guard.disk_check=0"
export MIGGUARD_SIGNATURES_DIR=$MG_SRCDIR/conf/signatures
mg_guard_start g "$conf" --qmp "$(mg_qemu_guard_qmp src)" --pid "$qpid" --name src
mg_guard_wait_log g 10 "direct monitor .* connected \(oob on\)"
mg_storage_stall_trigger src dst
stalled_at=$EPOCHREALTIME

# The hang happened (seen from outside the guard): live_migration holds
# the BQL and the test's own monitor does not answer.
hung() {
	"$MG_BUILDDIR/tests/unit/probe_cli" "$qpid" 2>/dev/null | grep -q 'owner_is_migration=1' &&
		! mg_qmp_cmd -t 1 "$(mg_qemu_qmp src)" '{"execute":"query-status"}' >/dev/null
}
mg_wait_for 10 "the storage stall (BQL held by live_migration, QMP silent)" hung

log=$(mg_guard_log g)
mg_guard_wait_log g 30 "action unstick-check: "
recovered_after=$(awk -v a="$stalled_at" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')
mg_assert_grep "migration HUNG" "$log"
mg_assert_grep "action cancel: Device or resource busy: not sent: live_migration \([0-9]+\) holds the BQL" "$log"
for c in "1/5 pinned" "2/5 hang" "3/5 wait: a block-layer drain under vm_stop" "4/5 socket" "5/5 peer: fd [0-9]+: qemu-nbd \(pid $MG_STALL_NBD_PID\) is T \(stopped\)"; do
	mg_assert_grep "action unstick: ok: check $c" "$log"
done
mg_assert_grep "action unstick: ok: shut down fd [0-9]+ \(socket:\[[0-9]+\], unix stream to unix:$(mg_nbd_sock stall_nbd), qemu-nbd\) of QEMU pid $qpid" "$log"
mg_assert_grep "action unstick-check: ok: QEMU recovered [0-9]+ ms after the shutdown: the migration failed, the BQL is free, query-status answers \"running\"" "$log"
grep -q "action kill" "$log" && mg_fail "QEMU was killed"
grep -q "recv yank\|action yank" "$log" && mg_fail "a yank was sent"
awk -v t="$recovered_after" 'BEGIN{exit !(t <= 3 + 2)}' ||
	mg_fail "recovered $recovered_after s after the stall (goal: finish_timeout 3 s + 2 s)"
mg_log "recovered by unstick $recovered_after s after the stall"
mg_qmp_cmd -t 5 "$(mg_qemu_qmp src)" '{"execute":"query-status"}' | grep -q '"status": *"running"' ||
	mg_fail "source QEMU not running after the recovery"
kill -0 "$qpid" || mg_fail "source QEMU gone"

# The storage returns: the NBD client reconnects and a write succeeds.
kill -CONT "$MG_STALL_NBD_PID"
wrote() {
	mg_qmp_cmd -t 10 "$(mg_qemu_qmp src)" '{"execute":"human-monitor-command",
		"arguments":{"command-line":"qemu-io drive0 \"write 0 4k\""}}' >/dev/null &&
		tail -n 3 "$MG_TEST_TMP/src.log" | grep -q '^wrote 4096/4096'
}
mg_wait_for 30 "a write through the reconnected NBD client" wrote
grep -q 'write failed' "$MG_TEST_TMP/src.log" && mg_log "(writes failed while the server was away, as expected: $(grep -c 'write failed' "$MG_TEST_TMP/src.log"))"

# A second migration of the same QEMU completes.
mg_qemu_start_incoming dst2 "unix:$MG_TEST_TMP/dst2-migrate.sock" "${MG_DISK_ARGS[@]}"
mg_qemu_migrate "$(mg_qemu_qmp src)" "unix:$MG_TEST_TMP/dst2-migrate.sock"
completed() { mg_qmp_cmd -t 2 "$(mg_qemu_qmp src)" '{"execute":"query-migrate"}' | grep -q '"status": *"completed"'; }
mg_wait_for 60 "the second migration to complete" completed
mg_guard_stop g
