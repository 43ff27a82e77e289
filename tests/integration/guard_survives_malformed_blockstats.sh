# After a recovery the ladder watches query-blockstats for one I/O of the
# guest that succeeds (disk-check).  What QEMU answers there is type-checked:
# a reply that is not a list, a null return, and a list of null, numbers,
# strings and objects whose counters are not integers are each recorded
# as a failed disk-check, never trusted, and the guard runs on (a good
# answer whose counters move is the e2e_unstick_* tests' case, on a real
# guest).  The monitor is
# a scripted fake (no BQL: the cancel is sent and the fake ends the
# migration on it, answering query-migrate "cancelled" from then on as
# QEMU does: a sticky "active" looked like a new migration to a guard
# whose probe round came before its cancel-check, seen once under ASan).
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/fakeqmp.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

conf=$MG_TEST_TMP/g.conf
mg_guard_conf "$conf" "daemon.state_dir=$MG_TEST_TMP/state" "guard.probe_interval=200ms" \
	"guard.monitor_timeout=500ms" "guard.finish_timeout=1s" "guard.action=recover" \
	"guard.recover_grace=500ms" "guard.disk_check=2500ms"

# recovered_with NAME STEPS: a migration held in finish-migrate, ended by
# the cancel, then query-blockstats answered by STEPS; waits for the
# disk-check record and stops the guard (it must still run).
recovered_with() {
	local name=$1 steps=$2 log
	cat >"$MG_TEST_TMP/$name.script" <<SCRIPT
reply query-migrate {"status": "active"}
reply query-status {"status": "finish-migrate", "running": false, "singlestep": false}
reply migrate_cancel {}
wait query-migrate
send {"event": "MIGRATION", "data": {"status": "active"}}
waitfile $MG_TEST_TMP/$name.cancelled
reply query-status {"status": "running", "running": true, "singlestep": false}
reply query-migrate {"status": "cancelled"}
send {"event": "MIGRATION", "data": {"status": "cancelled"}}
$steps
SCRIPT
	mg_fake_start "$name" "$MG_TEST_TMP/$name.script"
	mg_guard_start "$name" "$conf" --qmp "$(mg_fake_sock "$name")" --pid "$(mg_fake_pid "$name")" --name "$name"
	log=$(mg_guard_log "$name")
	# The fake ends the migration once the guard's cancel is recorded.
	mg_guard_wait_log "$name" 30 "action cancel: ok: QMP migrate_cancel"
	touch "$MG_TEST_TMP/$name.cancelled"
	mg_guard_wait_log "$name" 30 "action disk-check: "
	mg_assert_grep "action cancel-check: ok: the migration ended" "$log"
	mg_assert_grep "recv query-blockstats" "$(mg_fake_log "$name")"
	local var="MG_GUARD_PID_$name"
	kill -0 "${!var}" || mg_fail "guard $name died"
	mg_guard_stop "$name"
}

recovered_with notlist 'reply query-blockstats {"device": "vda"}'
mg_assert_grep "action disk-check: Bad message: no block statistics within 2.500s: query-blockstats answered object, not a list" "$(mg_guard_log notlist)"

recovered_with null 'reply-raw query-blockstats {"return": null, "id": @ID@}'
mg_assert_grep "action disk-check: Bad message: no block statistics within 2.500s: query-blockstats answered null, not a list" "$(mg_guard_log null)"

recovered_with badstats 'reply query-blockstats [null, 5, "vda", {"device": "vda", "stats": null}, {"stats": {"wr_operations": "7", "rd_operations": null, "failed_wr_operations": [1]}}]'
mg_assert_grep "action disk-check: Connection timed out: no I/O of the guest succeeded within 2.500s after the recovery \(0 failed\)" "$(mg_guard_log badstats)"

