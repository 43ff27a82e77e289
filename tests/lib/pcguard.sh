# pcguard.sh - one guard per post-copy bed host (tests/lib/postcopy.sh),
# configured as an operator would for post-copy recovery, for the
# e2e_postcopy_* tests.  Source after postcopy.sh and e2e.sh.
#
#   mg_pc_guards_up ACTION [KEY=VALUE...]  writes both configs (no direct
#       monitor: domains as Nova writes them; guard.action none, so only the
#       post-copy guard acts; guard.postcopy_action ACTION; the [postcopy]
#       resume_* pointing at the destination through the bed's proxy port)
#       and starts guards gsrc (on mg-pcsrc) and gdst (on mg-pcdst).
#   mg_pc_guard_count NAME ERE   lines of guard NAME's log matching ERE.
#   mg_pc_incidents HOST         the incident directories on HOST, one a line.

mg_pc_guards_up() {
	local action=$1; shift
	local -a common=(guard.action=none guard.postcopy_action="$action" guard.probe_interval=500ms
		guard.monitor_timeout=2s guard.finish_timeout=10s guard.incoming_timeout=120s
		guard.postcopy_stall_timeout=5s
		postcopy.resume_uri="$(mg_libvirt_uri "$MG_PC_DST")"
		postcopy.resume_migrate_uri="tcp://%a:$MG_PC_PORT" postcopy.resume_listen_address=127.0.0.2
		postcopy.resume_interval=2s postcopy.resume_tries=20 "$@")
	mg_e2e_guard_conf --no-direct "$MG_PC_SRC" "$MG_TEST_TMP/pcsrc.conf" "${common[@]}"
	mg_e2e_guard_conf --no-direct "$MG_PC_DST" "$MG_TEST_TMP/pcdst.conf" "${common[@]}"
	mg_e2e_guard_start "$MG_PC_SRC" gsrc "$MG_TEST_TMP/pcsrc.conf"
	mg_e2e_guard_start "$MG_PC_DST" gdst "$MG_TEST_TMP/pcdst.conf"
}

mg_pc_guard_count() { grep -Ec -- "$2" "$(mg_guard_log "$1")" || true; }

# mg_pc_assert_nothing_destroyed DOM: neither guard killed, destroyed or
# lost DOM.  One grep per log: a `grep | grep -q` pipeline under pipefail
# can fail from SIGPIPE, which the `!` would take for "nothing found".
mg_pc_assert_nothing_destroyed() {
	local dom=$1 g
	for g in gsrc gdst; do
		! grep -Eq -- "domain $dom: .*(action (kill|destroy)|postcopy-lost)" "$(mg_guard_log $g)" ||
			mg_fail "$g destroyed or lost $dom"
	done
}

mg_pc_incidents() {
	find "$MG_TEST_TMP/state-$1/incidents" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort
}
