# action = recover on a hung migration whose process holds a real lock
# cycle (a deadlock: two threads named as in the seed's, live_migration and
# IO iothread1, each holding the mutex the other waits for): the snapshot
# finds the cycle, and the unstick rung refuses (this fake has no main
# thread waiting for a BQL, so its second check, the BQL held by
# live_migration, already fails; on the seeded QEMU, e2e_seed_deadlock_recover,
# it is the third: a lock cycle has no socket to shut), shuts nothing and
# sends no yank; the hang outlasts recover_grace (recover-check) and the
# kill follows.  The monitor is a scripted fake (tests/lib/fakeqmp_deadlock.py)
# whose process plays the deadlocked QEMU and, like QEMU with its BQL held,
# never answers query-status.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/fakeqmp.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

conf=$MG_TEST_TMP/g.conf
mg_guard_conf "$conf" "daemon.state_dir=$MG_TEST_TMP/state" "guard.probe_interval=200ms" \
	"guard.monitor_timeout=500ms" "guard.finish_timeout=1s" "guard.action=recover" \
	"guard.recover_grace=500ms"
cat >"$MG_TEST_TMP/dl.script" <<'SCRIPT'
reply query-migrate {"status": "active"}
silent query-status
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
grep -q "recv yank" "$(mg_fake_log dl)" && mg_fail "a yank was sent"
mg_assert_grep "action unstick: ok: check 1/5 pinned: pid $pid through its pidfd" "$log"
mg_assert_grep "action unstick: Invalid argument: check 2/5 hang: the BQL was not seen held by live_migration" "$log"
mg_assert_grep "action unstick: Operation canceled: refused at check 2 \(hang\): nothing was shut" "$log"
mg_assert_grep "action recover-check: Connection timed out: still hung after recover_grace" "$log"
mg_assert_grep "action kill: ok: SIGKILL to QEMU pid $pid( |$)" "$log"
kill -0 "$pid" 2>/dev/null && mg_fail "the deadlocked fake was not killed"

inc=$(sed -n 's/.*: incident written to \([^ ]*\) .*/\1/p' "$log" | head -n 1)
[[ -n $inc ]] || mg_fail "no incident written"
python3 - "$inc/report.json" <<'PY' || mg_fail "the incident does not list the steps in order"
import json, sys
r = json.load(open(sys.argv[1]))
steps = [(a["step"], a["result"]) for a in r["actions"]]
names = [s for s, _ in steps]
assert names[:1] == ["cancel"] and names.index("unstick") < names.index("recover-check") < names.index("kill"), steps
assert "yank" not in names, steps
assert sum(1 for s in names if s == "unstick") == 3, steps   # checks 1-2, the refusal
assert len(r["snapshot"]["locks"]["cycles"]) == 1, r["snapshot"]["locks"]
PY
