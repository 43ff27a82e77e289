# action = recover on a hung migration whose process holds a real lock
# cycle (a deadlock: two threads named as in the seed's, live_migration and
# IO iothread1, each holding the mutex the other waits for): the snapshot
# finds the cycle, the ladder still tries the yank but records that a yank
# cannot end a deadlock, and when the hang outlasts recover_grace records
# "yank-check: the hang persists: a lock cycle inside QEMU is not ended by a
# yank" (not the generic recover-check) before the kill.  The monitor is a
# scripted fake (tests/lib/fakeqmp_deadlock.py) whose process plays the
# deadlocked QEMU; the same ladder on a process without a cycle records
# recover-check (guard_survives_malformed_query_yank).
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/fakeqmp.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

conf=$MG_TEST_TMP/g.conf
mg_guard_conf "$conf" "daemon.state_dir=$MG_TEST_TMP/state" "guard.probe_interval=200ms" \
	"guard.monitor_timeout=500ms" "guard.finish_timeout=1s" "guard.action=recover" \
	"guard.recover_grace=500ms"
cat >"$MG_TEST_TMP/dl.script" <<'SCRIPT'
reply query-migrate {"status": "active"}
reply query-status {"status": "finish-migrate", "running": false, "singlestep": false}
reply query-yank [{"type": "migration"}]
reply yank {}
wait query-migrate
send {"event": "MIGRATION", "data": {"status": "active"}}
SCRIPT
MG_FAKE_PROGRAM=$MG_SRCDIR/tests/lib/fakeqmp_deadlock.py mg_fake_start dl "$MG_TEST_TMP/dl.script"
pid=$(mg_fake_pid dl)
mg_guard_start dl "$conf" --qmp "$(mg_fake_sock dl)" --pid "$pid" --name dl
log=$(mg_guard_log dl)
# The guard stops once its target has exited.
mg_wait_for 30 "the guard stops with its killed target" eval "! kill -0 $MG_GUARD_PID_dl"
rc=0; wait "$MG_GUARD_PID_dl" || rc=$?
((rc == 0)) || { tail -n 40 "$log" >&2; mg_fail "the guard exited $rc"; }

mg_assert_grep "migration HUNG" "$log"
mg_assert_grep "deadlock: live_migration \([0-9]+\) holds (the BQL|mutex 0x[0-9a-f]+) and waits for (the BQL|mutex 0x[0-9a-f]+) held by IO iothread1 \([0-9]+\)" "$log"
mg_assert_grep "recv yank " "$(mg_fake_log dl)"
mg_assert_grep "action yank: ok: out-of-band yank .*; the snapshot found a lock cycle: a yank cannot end a deadlock$" "$log"
mg_assert_grep "action yank-check: Connection timed out: the hang persists: a lock cycle inside QEMU is not ended by a yank$" "$log"
grep -q "action recover-check: " "$log" && mg_fail "recover-check recorded although the snapshot found a lock cycle"
mg_assert_grep "action kill: ok: SIGKILL to QEMU pid $pid$" "$log"
kill -0 "$pid" 2>/dev/null && mg_fail "the deadlocked fake was not killed"

inc=$(sed -n 's/.*: incident written to \([^ ]*\) .*/\1/p' "$log" | head -n 1)
[[ -n $inc ]] || mg_fail "no incident written"
python3 - "$inc/report.json" <<'PY' || mg_fail "the incident does not list the steps in order"
import json, sys
r = json.load(open(sys.argv[1]))
steps = [(a["step"], a["result"]) for a in r["actions"]]
names = [s for s, _ in steps]
assert names[:1] == ["cancel"] and names.index("yank") < names.index("yank-check") < names.index("kill"), steps
assert len(r["snapshot"]["locks"]["cycles"]) == 1, r["snapshot"]["locks"]
PY
