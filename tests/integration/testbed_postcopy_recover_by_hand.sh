#!/usr/bin/env bash
# timeout: 360
# Post-copy test bed self-test, no guard: a busy guest (memory rewritten
# forever) migrates in post-copy through a loopback proxy; the proxy is
# killed (both sides postcopy-paused, libvirt says so on both hosts), a new
# proxy comes up, an operator's `virsh migrate --postcopy-resume` resumes
# it; a second cut, a second resume; the migration completes and the guest
# keeps working on the destination.  Proves tests/lib/postcopy.sh and the
# facts of tests/testbed/FACTS-postcopy.md the guard's tests rely on.
source "$MG_SRCDIR/tests/lib/postcopy.sh"

mg_pc_bed_up "$MG_TEST_TMP/pc"

scenario() {
	local dom=$1 cut
	mg_pc_guest_start "$dom"
	mg_pc_migrate_start "$dom"
	for cut in 1 2; do
		# Pages flow through the proxy, then the link is cut mid-stream.
		mg_pc_wait_flowing "$dom" 500000
		mg_pc_break_eof
		mg_pc_wait_paused "$dom"
		if mg_pc_dst_wedged "$dom"; then
			mg_pc_discard "$dom"
			return 2
		fi
		if ((cut == 1)); then
			mg_pc_assert_libvirt_paused "$dom"
			! kill -0 "$MG_PC_MIGRATE_PID" 2>/dev/null ||
				mg_wait_for 10 "the original virsh migrate returning" eval "! kill -0 $MG_PC_MIGRATE_PID"
			mg_assert_grep "failed in post-copy phase" "$MG_PC_MIGRATE_LOG"
		fi
		# Both still there: nothing destroyed either side.
		kill -0 "$(mg_libvirt_qemu_pid "$MG_PC_SRC" "$dom")" 2>/dev/null || mg_fail "source QEMU of $dom gone"
		mg_pc_link_restore
		mg_pc_resume_by_hand "$dom"
	done
	mg_pc_assert_completed "$dom" 150
	mg_log "ok: two cuts, two resumes by hand, migration completed, the guest works on $MG_PC_DST"
}
mg_pc_attempts scenario
