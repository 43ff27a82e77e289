#!/usr/bin/env bash
# snapshot_robustness.sh - `migguard snapshot` when things go wrong: a thread
# in D state is captured from /proc without being stopped (and the snapshot
# does not hang); a target killed during the snapshot gives a partial report
# or "does not exist", never a crash or a hang; an unprivileged caller gets
# a clear permission error (exit 77).
source "$MG_SRCDIR/tests/lib/common.sh"

MG=$MG_BUILDDIR/migguard
SIGS=$MG_SRCDIR/conf/signatures
TARGET=$MG_BUILDDIR/tests/targets/deadlock

thread_state() { sed 's/.*) \(.\).*/\1/' /proc/"$1"/task/"$2"/stat; }
# a command for mg_wait_for: the state is read at each poll, not once before
thread_in() { [[ $(thread_state "$1" "$2") == "$3" ]]; }

# --- D state -----------------------------------------------------------
out=$MG_TEST_TMP/dstate.out
"$TARGET" --d-state >"$out" 2>&1 &
pid=$!
mg_on_exit mg_kill_pid "$pid"
mg_wait_for 10 "target ready" grep -qx ready "$out"
child=$(awk '/^vfork-child/ { print $2 }' "$out")
[[ -n $child ]] || mg_fail "no vfork child reported"
mg_on_exit "kill -KILL $child"
vtid=
for t in /proc/"$pid"/task/*; do [[ $(cat "$t/comm") == vfork_wait ]] && vtid=$(basename "$t"); done
[[ -n $vtid ]] || mg_fail "no vfork_wait thread"
mg_wait_for 10 "vfork_wait in D state" thread_in "$pid" "$vtid" D
timeout 20 "$MG" snapshot --signatures "$SIGS" --json "$pid" >"$MG_TEST_TMP/d.json" ||
	mg_fail "snapshot with a D-state thread failed or hung (rc $?)"
jq -e --argjson t "$vtid" '.threads[] | select(.tid == $t) | .state == "D" and (.frames | length) == 0 and (.kernel_stack | length) > 0' \
	"$MG_TEST_TMP/d.json" >/dev/null || mg_fail "D-state thread not captured from /proc"
jq -e '(.locks.cycles | length) == 1 and (.notes | test("state D"))' "$MG_TEST_TMP/d.json" >/dev/null ||
	mg_fail "snapshot with a D-state thread lost the cycle or the note"
for t in /proc/"$pid"/task/*; do
	s=$(sed 's/.*) \(.\).*/\1/' "$t/stat")
	[[ $s == S || $s == D ]] || mg_fail "thread $(basename "$t") left in state $s"
done
kill -KILL "$child" "$pid"

# --- target killed during the snapshot --------------------------------
for i in $(seq 1 20); do
	out=$MG_TEST_TMP/exit.$i.out
	"$TARGET" --threads 300 >"$out" 2>&1 &
	pid=$!
	mg_on_exit mg_kill_pid "$pid"
	mg_wait_for 10 "target $i ready" grep -qx ready "$out"
	# spread the kill over the snapshot's phases
	(sleep "0.00$((i % 10))"; kill -KILL "$pid") &
	set +e
	timeout 20 "$MG" snapshot --signatures "$SIGS" --json "$pid" >"$MG_TEST_TMP/exit.$i.json" 2>"$MG_TEST_TMP/exit.$i.err"
	rc=$?
	set -e
	wait
	case $rc in
	0) jq -e '.pid' "$MG_TEST_TMP/exit.$i.json" >/dev/null || mg_fail "run $i: rc 0 without a report" ;;
	69) grep -q 'does not exist' "$MG_TEST_TMP/exit.$i.err" || mg_fail "run $i: rc 69 without the reason" ;;
	*) cat "$MG_TEST_TMP/exit.$i.err" >&2; mg_fail "run $i: snapshot of an exiting target ended with rc $rc" ;;
	esac
done

# --- no permission ------------------------------------------------------
out=$MG_TEST_TMP/eperm.out
"$TARGET" >"$out" 2>&1 &
pid=$!
mg_on_exit mg_kill_pid "$pid"
mg_wait_for 10 "target ready" grep -qx ready "$out"
set +e
setpriv --reuid=65534 --regid=65534 --clear-groups "$MG" snapshot --signatures "$SIGS" "$pid" \
	>/dev/null 2>"$MG_TEST_TMP/eperm.err"
rc=$?
set -e
((rc == 77)) || mg_fail "unprivileged snapshot exited $rc, expected 77"
mg_assert_grep 'permission denied' "$MG_TEST_TMP/eperm.err"
