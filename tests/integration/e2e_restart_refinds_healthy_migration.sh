# timeout: 240
# A guard started while a healthy migration is in flight finds it on both
# hosts (libvirt 9.0's control info says "ok" between monitor calls, so
# only the status XML's job tells), follows it to its completion, and
# reports nothing.
source "$MG_SRCDIR/tests/lib/e2e.sh"

tb=$MG_TEST_TMP/tb
dom=busy
mg_e2e_up "$tb"
timing=(guard.probe_interval=500ms guard.monitor_timeout=2s guard.finish_timeout=5s guard.incoming_timeout=60s)
mg_e2e_guard_conf mg-src "$MG_TEST_TMP/src.conf" "${timing[@]}"
mg_e2e_guard_conf mg-dst "$MG_TEST_TMP/dst.conf" "${timing[@]}"

mg_testbed_create_busy "$tb" "$dom"
mg_testbed_wait_writing mg-src "$dom" 90
mg_testbed_migrate_bg "$tb" "$dom" --bandwidth 1
mg_testbed_wait_migrating mg-src "$dom" 30
ctl=$(mg_virsh mg-src domcontrol "$dom")
mg_log "control info of the migrating domain: $ctl"

mg_e2e_guard_start mg-src gsrc "$MG_TEST_TMP/src.conf"
mg_e2e_guard_start mg-dst gdst "$MG_TEST_TMP/dst.conf"
mg_guard_wait_log gsrc 30 "domain $dom: outgoing migration tracked \(found at connect: libvirt job migration out"
mg_guard_wait_log gdst 30 "domain $dom: incoming migration tracked \(found at connect: libvirt job migration in"

mg_virsh mg-src migrate-setspeed "$dom" 100000 || mg_fail "migrate-setspeed"
migrate_over() { ! kill -0 "$MG_MIGRATE_PID" 2>/dev/null; }
mg_wait_for 120 "virsh migrate to end" migrate_over
wait "$MG_MIGRATE_PID" || mg_fail "the migration failed: $(cat "$MG_MIGRATE_LOG")"
mg_guard_wait_log gsrc 30 "domain $dom: migration completed after"
mg_guard_wait_log gdst 30 "domain $dom: migration completed after"
for g in gsrc gdst; do
	if grep -Eq "HUNG|STALLED|incident written|<err>" "$(mg_guard_log $g)"; then
		grep -E "HUNG|STALLED|incident written|<err>" "$(mg_guard_log $g)" >&2
		mg_fail "$g reported a problem during a healthy migration"
	fi
	mg_guard_stop $g
done
