# timeout: 420
# Issue 16: with postcopy_action = none the guards record a broken post-copy
# and touch nothing: both sides stay paused after the link is back (no
# pause, no resume from the guards).  Then the source QEMU is killed: the
# source guard records that the guest is lost on the source side, and
# nothing is destroyed - the destination domain is still there for the
# operator.
source "$MG_SRCDIR/tests/lib/postcopy.sh"
source "$MG_SRCDIR/tests/lib/e2e.sh"
source "$MG_SRCDIR/tests/lib/pcguard.sh"

dom=pcbusy
mg_pc_bed_up "$MG_TEST_TMP/pc"
mg_pc_guards_up none
mg_pc_guest_start "$dom"
mg_pc_migrate_start "$dom"
mg_guard_wait_log gsrc 20 "domain $dom: post-copy \(source side\): watched, postcopy_action = none"
mg_pc_wait_flowing "$dom" 500000

mg_pc_break_eof
mg_pc_wait_paused "$dom"
mg_guard_wait_log gsrc 20 "domain $dom: source postcopy-break: ok: break 1: "
mg_guard_wait_log gsrc 20 "domain $dom: incident written to "
mg_pc_link_restore
# A guard with recover tries within resume_interval (2 s) and resumes at
# once (e2e_postcopy_recover_link_cut): for five times that, watch for the
# migration moving again, which must not happen.
moved() { [[ "$(mg_pc_src_migration "$dom")" != postcopy-paused ]]; }
if mg_wait_for_quiet 10 moved; then
	mg_fail "the source QEMU is $(mg_pc_src_migration "$dom") with postcopy_action = none, want postcopy-paused"
fi
for g in gsrc gdst; do
	! grep -Eq "postcopy-(pause|resume):" "$(mg_guard_log $g)" || mg_fail "$g paused or resumed with postcopy_action = none"
done

src_pid=$(mg_libvirt_qemu_pid "$MG_PC_SRC" "$dom")
[[ -n $src_pid ]] || mg_fail "no source QEMU pid for $dom"
kill -KILL "$src_pid"
mg_guard_wait_log gsrc 30 "domain $dom: source postcopy-lost: No such process: the source QEMU is gone during post-copy"
inc=$(mg_pc_incidents "$MG_PC_SRC" | tail -n 1)
mg_assert_grep 'guest cannot be recovered' "$inc/report.json"
# Nothing destroyed: the destination domain and its QEMU are still there.
dst_pid=$(mg_libvirt_qemu_pid "$MG_PC_DST" "$dom")
[[ -n $dst_pid ]] && kill -0 "$dst_pid" || mg_fail "the destination QEMU of $dom is gone"
mg_virsh "$MG_PC_DST" domstate "$dom" >/dev/null || mg_fail "the destination domain $dom is gone"
for g in gsrc gdst; do
	! grep -Eq "action (kill|destroy)" "$(mg_guard_log $g)" || mg_fail "$g destroyed something"
done
mg_log "ok: none touched nothing; the source QEMU killed: recorded as lost, destination $(mg_libvirt_domstate "$MG_PC_DST" "$dom") left alone"
