# timeout: 420
# Issue 16: a post-copy migration whose link is cut twice completes, with the
# guest still writing, driven by the guards alone (postcopy_action =
# recover, domains without an extra monitor).  Each cut (the proxy killed:
# EOF) pauses both sides; the source guard records the break in an incident
# and tries virDomainMigrateToURI3(POSTCOPY_RESUME) every resume_interval;
# the tries fail while the link is down and one succeeds once a new proxy
# answers; the migration completes, the source domain is gone and the
# destination runs the guest, which kept rewriting its memory.  Nothing is
# destroyed on either side.  The resume's %a is the destination's address as
# the source QEMU's migration peer (127.0.0.1 here: the proxy).
source "$MG_SRCDIR/tests/lib/postcopy.sh"
source "$MG_SRCDIR/tests/lib/e2e.sh"
source "$MG_SRCDIR/tests/lib/pcguard.sh"

mg_pc_bed_up "$MG_TEST_TMP/pc"
mg_pc_guards_up recover

scenario() {
	local dom=$1 cut failed_before d
	local -a inc
	mg_pc_guest_start "$dom"
	mg_pc_migrate_start "$dom"
	mg_guard_wait_log gsrc 20 "domain $dom: post-copy \(source side\): watched, postcopy_action = recover"
	mg_pc_wait_dst_working "$dom" 1 || { mg_pc_discard "$dom" "it completed before a cut"; return 2; }
	for cut in 1 2; do
		failed_before=$(mg_pc_guard_count gsrc "domain $dom: source postcopy-resume: .*try [0-9]+ failed")
		mg_pc_break_eof
		mg_pc_wait_paused "$dom"
		if mg_pc_dst_wedged "$dom"; then
			mg_pc_discard "$dom"
			return 2
		fi
		mg_guard_wait_log gsrc 20 "domain $dom: source postcopy-break: ok: break $cut: " 1
		# The link is still down: the guard's first try fails (nothing
		# listens behind the proxy's port), and it keeps trying.
		mg_guard_wait_log gsrc 90 "domain $dom: source postcopy-resume: .*try [0-9]+ failed" $((failed_before + 1))
		mg_pc_link_restore
		mg_guard_wait_log gsrc 60 "domain $dom: source postcopy-resume: ok: break $cut closed after"
		mg_wait_for 30 "source QEMU of $dom postcopy-active or completed again" \
			eval '[[ "$(mg_pc_src_migration '"$dom"')" == @(postcopy-active|completed) ]]'
		((cut == 2)) || mg_pc_wait_flowing "$dom" 500000
	done

	mg_pc_assert_completed "$dom" 180
	mg_guard_wait_log gsrc 30 "domain $dom: migration completed after"
	# One incident per break on the source, each with its steps.
	mapfile -t inc < <(mg_pc_incidents "$MG_PC_SRC" | grep -- "-$dom-")
	((${#inc[@]} == 2)) || mg_fail "${#inc[@]} incidents of $dom on $MG_PC_SRC for two breaks, want 2"
	for d in "${inc[@]}"; do
		mg_assert_grep '"step": *"postcopy-break"' "$d/report.json"
		mg_assert_grep '"step": *"postcopy-resume"' "$d/report.json"
		mg_assert_grep 'neither side is destroyed' "$d/report.json"
	done
	mg_pc_assert_nothing_destroyed "$dom"
	mg_log "ok: two cuts, the guards resumed both, the migration of $dom completed with the guest writing"
}
mg_pc_attempts scenario
