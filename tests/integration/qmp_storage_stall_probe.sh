#!/usr/bin/env bash
# The storage stall at switch-over on real QEMU (DESIGN.md section 1): with
# the NBD server stopped and a write in flight, the source's live_migration
# thread stops the VM holding the BQL and waits forever for the drain.
# Proves that the /proc BQL probe names live_migration as the owner of the
# BQL (the mutex the main thread, or a vCPU thread, waits for: which one
# depends on the path of the hang, see probe.h), that query-status gets no
# answer, and that the source recovers (migration completes) once the
# server continues.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"

probe=$MG_BUILDDIR/tests/unit/probe_cli
[[ -x $probe ]] || mg_fail "$probe not built (make check-integration builds it)"

mg_storage_stall_start src dst
src_pid=$(mg_qemu_pid src)
src_qmp=$(mg_qemu_qmp src)
# For a failure: the migration as the source saw it (kept in the artefacts).
mg_on_exit "mg_qmp_cmd -t 2 $src_qmp '{\"execute\":\"query-migrate\"}' >$MG_TEST_TMP/src-migrate-at-exit.json 2>&1"
if command -v eu-stack >/dev/null; then
	mg_on_exit "eu-stack -p $src_pid >$MG_TEST_TMP/src-stacks-at-exit.txt 2>&1"
fi

probe_out=$MG_TEST_TMP/probe.txt
# The probe sees the BQL's owner through a thread waiting for it.  The
# vCPUs are paused before the drain hangs, and the main loop, with nothing
# to do, may sleep in its poll through the hang (seen once: 30 s): a
# query-status wakes it, and it then waits for the BQL, as the guard's
# own query does.
bql_held_by_migration() {
	"$probe" "$src_pid" >"$probe_out" && grep -qx 'owner_comm=live_migration' "$probe_out" && return 0
	mg_qmp_cmd -t 1 "$src_qmp" '{"execute":"query-status"}' >/dev/null 2>&1
	return 1
}
mg_wait_for 30 "BQL owned by live_migration in qemu src" bql_held_by_migration
cat "$probe_out" >&2
mg_assert_grep '^held=1$' "$probe_out"
mg_assert_grep '^owner_is_migration=1$' "$probe_out"
owner=$(sed -n 's/^owner_tid=//p' "$probe_out")
[[ "$(cat "/proc/$src_pid/task/$owner/comm")" == live_migration ]] ||
	mg_fail "owner tid $owner is not live_migration"

# Still held a moment later: a hang, not contention.  (The QMP timeout
# below also gives it that moment.)
rc=0
mg_qmp_cmd -t 2 "$src_qmp" '{"execute":"query-status"}' >"$MG_TEST_TMP/status.txt" 2>&1 || rc=$?
((rc == 124)) || { cat "$MG_TEST_TMP/status.txt" >&2; mg_fail "query-status answered during the hang (rc $rc)"; }
"$probe" "$src_pid" >"$probe_out"
mg_assert_grep "^owner_tid=$owner$" "$probe_out"

# Recovery: the write completes, the drain ends, the migration finishes.
kill -CONT "$MG_STALL_NBD_PID"
mg_qmp_wait_migration "$src_qmp" 30 completed
mg_qmp_wait_status "$src_qmp" 10 postmigrate
"$probe" "$src_pid" >"$probe_out"
mg_assert_grep '^held=0$' "$probe_out"
mg_log "storage stall: BQL held by live_migration ($owner), query-status silent, recovered after SIGCONT"
