# timeout: 420
# Issue 16: a post-copy link that black-holes (the proxy SIGSTOPped: no
# error, no byte, no event) is seen as a stall by the source guard from
# QEMU's own traffic (no in-band query), which pauses the source
# (virDomainAbortJobFlags POSTCOPY): the source QEMU reads postcopy-paused.
# The guard then keeps trying to resume; once the proxy is replaced (the
# destination sees the old connection close and pauses too) a try
# succeeds, and the migration completes with the guest still writing.
source "$MG_SRCDIR/tests/lib/postcopy.sh"
source "$MG_SRCDIR/tests/lib/e2e.sh"
source "$MG_SRCDIR/tests/lib/pcguard.sh"

mg_pc_bed_up "$MG_TEST_TMP/pc"
mg_pc_guards_up recover

scenario() {
	local dom=$1 t0
	local -a inc
	mg_pc_guest_start "$dom"
	mg_pc_migrate_start "$dom"
	mg_guard_wait_log gsrc 20 "domain $dom: post-copy \(source side\): watched, postcopy_action = recover"
	mg_pc_wait_flowing "$dom" 500000

	mg_pc_break_blackhole
	t0=$SECONDS
	[[ "$(mg_pc_src_migration "$dom")" == postcopy-active ]] ||
		mg_fail "the scenario did not happen: the source QEMU is $(mg_pc_src_migration "$dom") right after the black hole, not postcopy-active"
	mg_guard_wait_log gsrc 30 "domain $dom: source postcopy-break: ok: break 1: stalled: "
	mg_guard_wait_log gsrc 20 "domain $dom: source postcopy-pause: ok: "
	mg_wait_for 20 "source QEMU of $dom postcopy-paused after the guard's pause" eval '[[ "$(mg_pc_src_migration '"$dom"')" == postcopy-paused ]]'
	mg_log "stall seen and paused $((SECONDS - t0)) s after the black hole (postcopy_stall_timeout 5 s)"

	mg_pc_link_restore
	# The old connection closes now: the destination pauses too.
	mg_pc_wait_paused "$dom"
	if mg_pc_dst_wedged "$dom"; then
		mg_pc_discard "$dom"
		return 2
	fi
	mg_guard_wait_log gsrc 120 "domain $dom: source postcopy-resume: ok: break 1 closed after"
	mg_pc_assert_completed "$dom" 180
	mapfile -t inc < <(mg_pc_incidents "$MG_PC_SRC" | grep -- "-$dom-")
	((${#inc[@]} == 1)) || mg_fail "${#inc[@]} incidents of $dom on $MG_PC_SRC for one break, want 1"
	mg_assert_grep '"step": *"postcopy-pause"' "${inc[0]}/report.json"
	mg_assert_grep 'stalled: QEMU' "${inc[0]}/report.json"
	mg_pc_assert_nothing_destroyed "$dom"
	mg_log "ok: black hole seen as a stall, paused, resumed after the link came back, $dom completed"
}
mg_pc_attempts scenario
