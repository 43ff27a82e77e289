# timeout: 300
# With a direct monitor, the switch-over write stalled on the migration
# channel (the destination QEMU stopped, mg_e2e_stall_channel, the hang
# proved from outside) is ended by QEMU's own out-of-band yank of the
# migration channel, not by unstick: QEMU knows its channel, so there is no
# fd to pick, and the end state is the same.  Only the "migration" instance
# is yanked, never a block node.  Asserts: the cancel not sent, one yank
# ok, recover-check ok, disk-check ok, no unstick record and no kill; the
# source runs again with the same QEMU; once the destination QEMU resumes
# and libvirt has cleaned it up, a second migration completes.
source "$MG_SRCDIR/tests/lib/e2e.sh"
source "$MG_SRCDIR/tests/lib/unstick.sh"

tb=$MG_TEST_TMP/tb
dom=busy
mg_e2e_up "$tb"
mg_e2e_guard_conf mg-src "$MG_TEST_TMP/src.conf" guard.probe_interval=500ms guard.monitor_timeout=2s \
	guard.finish_timeout=5s guard.action=recover guard.recover_grace=10s
mg_e2e_guard_start mg-src gsrc "$MG_TEST_TMP/src.conf"
mg_e2e_define_busy "$tb" mg-src "$dom"
qemu_pid=$(mg_libvirt_qemu_pid mg-src "$dom")
mg_e2e_stall_channel "$tb" "$dom"
mg_guard_wait_log gsrc 30 "domain $dom: migration HUNG"
mg_guard_wait_log gsrc 30 "domain $dom: action recover-check: "
log=$(mg_guard_log gsrc)
mg_assert_grep "domain $dom: direct monitor .* connected \(oob on\)" "$log"
mg_assert_grep "domain $dom: action cancel: Device or resource busy: not sent" "$log"
mg_assert_grep "domain $dom: action yank: ok: out-of-band yank of the migration channel( |$)" "$log"
mg_assert_grep "domain $dom: action recover-check: ok" "$log"
grep -q "domain $dom: action unstick" "$log" && mg_fail "unstick ran although the direct monitor's yank was the tool"
grep -q "domain $dom: action kill" "$log" && mg_fail "QEMU was killed"
running_on_src() { [[ "$(mg_libvirt_domstate mg-src "$dom")" == running* ]]; }
mg_wait_for 15 "$dom running on mg-src" running_on_src
[[ "$(mg_libvirt_qemu_pid mg-src "$dom")" == "$qemu_pid" ]] || mg_fail "the source QEMU changed"

kill -CONT "$MG_E2E_DST_QEMU" 2>/dev/null || true
mg_unstick_libvirt_clean "$dom"
mg_guard_wait_log gsrc 60 "domain $dom: action disk-check:"
mg_assert_grep "domain $dom: action disk-check: ok" "$(mg_guard_log gsrc)"
mg_testbed_migrate "$tb" "$dom" >"$MG_TEST_TMP/migrate2.log" 2>&1 ||
	mg_fail "the second migration failed: $(cat "$MG_TEST_TMP/migrate2.log")"
[[ "$(mg_libvirt_domstate mg-dst "$dom")" == running* ]] || mg_fail "$dom not running on mg-dst after the second migration"
