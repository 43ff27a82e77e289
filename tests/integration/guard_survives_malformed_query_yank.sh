# A malformed query-yank reply in the middle of recovery (action = recover)
# is recorded as a failed yank step and the ladder goes on: recover-check,
# then the kill of the hung process, then the standalone guard stops with
# its target.  Three replies: not a list, a null return, and a list whose
# elements are null, numbers, strings, or carry a null or non-string type
# beside one good "migration" instance, which alone is yanked.  (Issue #10
# item 3: the first was a json-c assertion, the last a strcmp(NULL): the
# guard aborted and the VM was neither recovered nor killed.)  The monitor
# is a scripted fake whose process plays the hung QEMU.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/fakeqmp.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

conf=$MG_TEST_TMP/g.conf
mg_guard_conf "$conf" "daemon.state_dir=$MG_TEST_TMP/state" "guard.probe_interval=200ms" \
	"guard.monitor_timeout=500ms" "guard.finish_timeout=1s" "guard.action=recover" \
	"guard.recover_grace=500ms"

# hung_with_yank_reply NAME REPLY-STEP: a migration held in finish-migrate,
# migrate_cancel refused, query-yank answered by REPLY-STEP; runs a guard
# until it has killed the fake and stopped.
hung_with_yank_reply() {
	local name=$1 step=$2
	cat >"$MG_TEST_TMP/$name.script" <<EOF
reply query-migrate {"status": "active"}
reply query-status {"status": "finish-migrate", "running": false, "singlestep": false}
$step
wait query-migrate
send {"event": "MIGRATION", "data": {"status": "active"}}
EOF
	mg_fake_start "$name" "$MG_TEST_TMP/$name.script"
	mg_guard_start "$name" "$conf" --qmp "$(mg_fake_sock "$name")" --pid "$(mg_fake_pid "$name")" --name "$name"
	local var="MG_GUARD_PID_$name" rc=0 log
	log=$(mg_guard_log "$name")
	# The guard stops once its target has exited: wait for that, then read.
	mg_wait_for 30 "guard $name stops with its target" eval "! kill -0 ${!var}"
	wait "${!var}" || rc=$?
	((rc == 0)) || { tail -n 30 "$log" >&2; mg_fail "guard $name exited $rc"; }
	mg_assert_grep "migration HUNG" "$log"
	mg_assert_grep "recv query-yank" "$(mg_fake_log "$name")"
	mg_assert_grep "action recover-check: " "$log"
	mg_assert_grep "action kill: ok: SIGKILL to QEMU pid $(mg_fake_pid "$name")" "$log"
	mg_assert_grep "pid $(mg_fake_pid "$name") exited, standalone guard stops" "$log"
	kill -0 "$(mg_fake_pid "$name")" 2>/dev/null && mg_fail "the hung fake $name was not killed"
	return 0
}

hung_with_yank_reply notlist 'reply query-yank {"instances": [{"type": "migration"}]}'
mg_assert_grep "action yank: Bad message: query-yank answered object, not a list" "$(mg_guard_log notlist)"
grep -q "recv yank " "$(mg_fake_log notlist)" && mg_fail "yank sent after a reply that is not a list"

hung_with_yank_reply null 'reply-raw query-yank {"return": null, "id": @ID@}'
mg_assert_grep "action yank: Bad message: query-yank answered null, not a list" "$(mg_guard_log null)"

hung_with_yank_reply badtypes 'reply query-yank [{"type": null}, null, 5, "migration", {"type": 7}, {"type": ["migration"]}, {"type": "chardev", "id": "compat_monitor0"}, {"type": "migration"}]
reply yank {}'
mg_assert_grep 'recv yank \{"instances": \[\{"type": "migration"\}\]\}$' "$(mg_fake_log badtypes)"
mg_assert_grep "query-yank: 6 malformed instance\(s\) of 8 skipped" "$(mg_guard_log badtypes)"
mg_assert_grep "action yank: ok: out-of-band yank" "$(mg_guard_log badtypes)"
