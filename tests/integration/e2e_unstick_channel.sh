# timeout: 300
# Issue 13, unstick on the migration channel: the Nova-shaped guest (no
# direct monitor) migrates; the destination QEMU is SIGSTOPped and the
# downtime limit raised, so the source stops the guest and writes the rest
# of its state into a socket nobody reads, holding the BQL
# (mg_e2e_stall_channel; proved from outside: main thread in futex,
# live_migration in sendmsg/write, neither running, libvirt's query-status
# unanswered, else the test fails saying the scenario did not happen).
# Guards on both hosts with action = recover.  Asserts: the source runs
# again within finish_timeout + 2 s of the hang start, same QEMU pid, no new
# boot; the incident records cancel not sent, the five unstick checks ok,
# one "shut down fd" ok, unstick-check ok, disk-check ok (the storage never
# stalled), no kill; `virsh migrate` returned (failed), libvirt's job ended,
# `virsh list` answers on both hosts; the destination is cleaned up (its
# stopped QEMU resumed; no domain left there); the guest keeps writing; a
# second migration of the same domain completes.
source "$MG_SRCDIR/tests/lib/e2e.sh"
source "$MG_SRCDIR/tests/lib/unstick.sh"

tb=$MG_TEST_TMP/tb
dom=instance-0000002b
mg_e2e_up "$tb"
mg_unstick_guards_up
mg_e2e_define_nova "$tb" mg-src "$dom" unix
qemu_pid=$(mg_libvirt_qemu_pid mg-src "$dom")
boots=$(mg_unstick_boots mg-src "$dom")
mg_e2e_stall_channel "$tb" "$dom"
mg_unstick_assert_recovered "$dom" "$qemu_pid"

# The destination: its stopped QEMU resumes; libvirt removes the domain.
kill -CONT "$MG_E2E_DST_QEMU" 2>/dev/null || true
mg_unstick_libvirt_clean "$dom"
lines=$(mg_testbed_serial_lines mg-src "$dom")
mg_testbed_wait_writing_after mg-src "$dom" "$lines" 60 "the guest writing on mg-src after the recovery"
(($(mg_unstick_boots mg-src "$dom") == boots)) || mg_fail "the guest booted again (serial log)"
mg_guard_wait_log gsrc 60 "domain $dom: action disk-check:"
mg_assert_grep "domain $dom: action disk-check: ok" "$(mg_guard_log gsrc)"
MG_UNSTICK_DISK=1 mg_unstick_check_actions "$(mg_guard_incident gsrc "$dom")" unstick
mg_testbed_migrate "$tb" "$dom" >"$MG_TEST_TMP/migrate2.log" 2>&1 ||
	mg_fail "the second migration failed: $(cat "$MG_TEST_TMP/migrate2.log")"
[[ "$(mg_libvirt_domstate mg-dst "$dom")" == running* ]] || mg_fail "$dom not running on mg-dst after the second migration"
mg_log "ok: migration channel unstuck $MG_RECOVERED_SECS s after the hang began; second migration completed"
