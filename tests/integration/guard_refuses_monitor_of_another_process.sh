# A socket at the QMP path served by another process than the guarded one
# (here a fake monitor that makes the migration look hung) is refused: the
# guard checks the listener's SO_PEERCRED against --pid right after
# connect, logs the refusal naming both pids, reads nothing from it, never
# declares HUNG and never signals; the unrelated process it was pointed at
# (a sleep) survives, and the guard keeps retrying and stops cleanly.
# Control: the same script served by the process named in --pid is trusted,
# tracked, declared HUNG and that process killed.  (Issue #10 item 4: the
# fake made the guard SIGKILL an unrelated pid.)
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/fakeqmp.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

cat >"$MG_TEST_TMP/hung.script" <<'EOF'
reply query-migrate {"status": "active"}
reply query-status {"status": "finish-migrate", "running": false, "singlestep": false}
wait query-migrate
send {"event": "MIGRATION", "data": {"status": "active"}}
EOF
conf=$MG_TEST_TMP/g.conf
mg_guard_conf "$conf" "daemon.state_dir=$MG_TEST_TMP/state" "guard.probe_interval=200ms" \
	"guard.monitor_timeout=500ms" "guard.finish_timeout=1s" "guard.action=recover" \
	"guard.recover_grace=0s"

sleep 1000 &
victim=$!
mg_on_exit "mg_kill_pid $victim"
mg_fake_start f "$MG_TEST_TMP/hung.script"
mg_guard_start g "$conf" --qmp "$(mg_fake_sock f)" --pid "$victim" --name victim
# Unchecked, the guard would have declared HUNG after 1 s and killed the
# sleep within 2 s; three refusals take 3 s (retries after 1 s and 2 s).
mg_guard_wait_log g 15 "refusing the monitor at $(mg_fake_sock f) \(peer pid $(mg_fake_pid f) uid [0-9]+\): the socket is served by pid $(mg_fake_pid f), not by pid $victim" 3
kill -0 "$victim" || mg_fail "the unrelated process $victim was killed"
log=$(mg_guard_log g)
grep -Eq "HUNG|STALLED|action |incident written|migration tracked" "$log" &&
	mg_fail "the guard acted on a refused monitor: $(grep -Em1 "HUNG|STALLED|action |incident written|migration tracked" "$log")"
grep -q "^recv " "$(mg_fake_log f)" &&
	mg_fail "the guard talked to the refused monitor: $(grep -m1 '^recv ' "$(mg_fake_log f)")"
mg_guard_stop g
kill -0 "$victim" || mg_fail "the unrelated process $victim was killed"

# Control: served by the process the guard is pointed at, it is trusted.
mg_fake_start owner "$MG_TEST_TMP/hung.script"
mg_guard_start o "$conf" --qmp "$(mg_fake_sock owner)" --pid "$(mg_fake_pid owner)" --name owner
mg_wait_for 30 "guard o stops with the process it killed" eval "! kill -0 $MG_GUARD_PID_o"
mg_assert_grep "migration HUNG" "$(mg_guard_log o)"
mg_assert_grep "action kill: ok: SIGKILL to QEMU pid $(mg_fake_pid owner)" "$(mg_guard_log o)"
grep -q "refusing the monitor" "$(mg_guard_log o)" && mg_fail "the owner's own monitor was refused"
kill -0 "$victim" || mg_fail "the unrelated process $victim was killed"
