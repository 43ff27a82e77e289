#!/usr/bin/env bash
# The QMP client (qmp.c) against a real QEMU through a storage stall at
# switch-over, on a connection made before the hang with out-of-band
# execution negotiated (DESIGN.md section 4): query-status times out and the
# connection reads "unresponsive", out-of-band commands keep answering, and
# once the NBD server continues the late reply clears the mark and the
# source reads postmigrate.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"

watch=$MG_BUILDDIR/tests/unit/qmp_watch
[[ -x $watch ]] || mg_fail "$watch not built (make check-integration builds it)"

mg_storage_stall_prepare src dst
out=$MG_TEST_TMP/watch.out
"$watch" "$(mg_qemu_guard_qmp src)" 55 >"$out" 2>"$MG_TEST_TMP/watch.log" &
watch_pid=$!
mg_on_exit "mg_kill_pid $watch_pid"
mg_wait_for 10 "qmp_watch ready with oob" grep -qx 'ready oob=1' "$out"
mg_wait_for 10 "query-status answered" grep -qx 'status=running' "$out"
mg_wait_for 10 "out-of-band answered" grep -qx 'oob=ok' "$out"

mg_storage_stall_trigger src dst
mg_wait_for 20 "monitor marked unresponsive" grep -qx 'unresponsive=1' "$out"
mg_assert_grep '^status-error=-110$' "$out"	# -ETIMEDOUT
oob_before=$(grep -cx 'oob=ok' "$out")
oob_more() { (($(grep -cx 'oob=ok' "$out") > oob_before + 2)); }
mg_wait_for 10 "out-of-band answers during the hang" oob_more
grep -qx 'responsive' "$out" && mg_fail "monitor answered during the hang"

kill -CONT "$MG_STALL_NBD_PID"
mg_wait_for 30 "monitor answering again" grep -qx 'responsive' "$out"
mg_wait_for 10 "source in postmigrate" grep -qx 'status=postmigrate' "$out"
grep -q '^closed=' "$out" && mg_fail "connection closed: $(grep '^closed=' "$out")"
mg_log "qmp client: unresponsive during the stall with oob answering, responsive after"
