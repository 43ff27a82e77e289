# A migration hangs on a storage stall while (1) the source's libvirtd is
# restarted and (2) the source's guard itself is restarted: each time the
# guard reconnects, re-finds the migration job through
# virDomainGetControlInfo and the status XML, and still declares HUNG.  The
# restarted guard finds in its ledger (STATE_DIR/acted) that this migration
# was reported already: it says so and writes no second incident.
source "$MG_SRCDIR/tests/lib/e2e.sh"

tb=$MG_TEST_TMP/tb
dom=busy
mg_e2e_up "$tb"
timing=(guard.probe_interval=500ms guard.monitor_timeout=2s guard.finish_timeout=5s guard.incoming_timeout=60s)
mg_e2e_guard_conf mg-src "$MG_TEST_TMP/src.conf" "${timing[@]}"

mg_testbed_create_busy "$tb" "$dom"
mg_testbed_wait_writing mg-src "$dom" 90

# (1) The guard is started only after the migration began, and libvirtd
# restarts under it while the migration hangs.
mg_e2e_stall "$tb" "$dom"
mg_libvirt_host_restart mg-src
mg_e2e_guard_start mg-src g1 "$MG_TEST_TMP/src.conf"
mg_guard_wait_log g1 30 "domain $dom: outgoing migration tracked \(found at connect: libvirt job migration out"
mg_guard_wait_log g1 30 "domain $dom: migration HUNG"
mg_guard_wait_log g1 30 "domain $dom: incident written to"

mg_libvirt_host_restart mg-src
mg_guard_wait_log g1 30 "libvirt .*: connected" 2
mg_guard_stop g1

# (2) A new guard process on the same hang: it finds the job again and
# still catches the hang, but knows the incident is written already.
mg_e2e_guard_start mg-src g2 "$MG_TEST_TMP/src.conf"
mg_guard_wait_log g2 30 "domain $dom: outgoing migration tracked \(found at connect"
mg_guard_wait_log g2 30 "domain $dom: migration HUNG: .*BQL held by live_migration"
mg_guard_wait_log g2 30 "domain $dom: hung already reported on this migration before a restart: incident .*; no second incident, no second action"
mg_guard_stop g2
grep -q "incident written to" "$(mg_guard_log g2)" && mg_fail "the restarted guard wrote a second incident"
n=$(find "$MG_TEST_TMP/state-mg-src/incidents" -mindepth 1 -maxdepth 1 -type d | wc -l)
((n == 1)) || mg_fail "$n incidents for one hung migration, want 1"

