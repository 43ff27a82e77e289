# A QMP MIGRATION event whose status is null, a number, a list or an
# object, or whose data is not an object, is ignored with a warning, before
# and during a tracked migration: the standalone guard keeps running, keeps
# polling, then still tracks a real migration, declares it HUNG, sees it
# end, and stops cleanly.  (Issue #10 item 2: status null was a SIGSEGV.)
# The monitor is a scripted fake; --pid names the fake itself, the process
# the socket's peer credentials name.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/fakeqmp.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

go=$MG_TEST_TMP/go-complete
cat >"$MG_TEST_TMP/script" <<EOF
# connected and discovering: the guard polls query-migrate
wait query-migrate
send {"event": "MIGRATION", "data": {"status": null}, "timestamp": {"seconds": 1700000000, "microseconds": 0}}
send {"event": "MIGRATION", "data": {"status": 7}}
send {"event": "MIGRATION", "data": {"status": ["active"]}}
send {"event": "MIGRATION", "data": {"status": {"s": "active"}}}
send {"event": "MIGRATION", "data": "active"}
send {"event": "MIGRATION", "data": null}
send {"event": "MIGRATION"}
send {"event": "STOP", "data": [1], "timestamp": "now"}
touch $MG_TEST_TMP/untracked-sent
wait query-migrate
# a real migration: tracked ...
reply query-migrate {"status": "active"}
send {"event": "MIGRATION", "data": {"status": "active"}}
wait query-status
# ... hostile events while tracked ...
send {"event": "MIGRATION", "data": {"status": null}}
send {"event": "MIGRATION", "data": {"status": 3.5}}
# ... then held in finish-migrate
reply query-status {"status": "finish-migrate", "running": false, "singlestep": false}
send {"event": "STOP"}
waitfile $go
reply query-migrate {"status": "completed"}
reply query-status {"status": "postmigrate", "running": false, "singlestep": false}
send {"event": "MIGRATION", "data": {"status": "completed"}}
EOF
mg_fake_start f "$MG_TEST_TMP/script"
conf=$MG_TEST_TMP/g.conf
mg_guard_conf "$conf" "daemon.state_dir=$MG_TEST_TMP/state" "guard.probe_interval=200ms" \
	"guard.monitor_timeout=1s" "guard.finish_timeout=2s"
mg_guard_start g "$conf" --qmp "$(mg_fake_sock f)" --pid "$(mg_fake_pid f)" --name fake
mg_guard_wait_log g 10 "direct monitor .* connected \(oob on\)"

mg_fake_wait_log f 10 "touch .*/untracked-sent"
mg_guard_wait_log g 10 "QMP event MIGRATION ignored" 6
# Still guarding: it polls again after all of them, and is still alive.
n=$(grep -c "recv query-migrate" "$(mg_fake_log f)")
mg_fake_wait_log f 10 "recv query-migrate" $((n + 1))
mg_guard_wait_log g 10 "outgoing migration tracked \(QEMU migration status active\)"
mg_guard_wait_log g 10 "QMP event MIGRATION ignored" 8
mg_guard_wait_log g 15 "migration HUNG"
mg_guard_wait_log g 15 "incident written to"
touch "$go"
mg_guard_wait_log g 10 "migration completed"
log=$(mg_guard_log g)
grep -q "(null)" "$log" && mg_fail "a null status reached a log line: $(grep -m1 '(null)' "$log")"
mg_guard_stop g
