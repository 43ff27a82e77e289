# End to end on two real libvirt hosts: a healthy migration of a busy guest.
# Both guards follow it (source: outgoing, destination: incoming), log its
# completion, and write no incident.
source "$MG_SRCDIR/tests/lib/e2e.sh"

tb=$MG_TEST_TMP/tb
dom=busy
mg_e2e_up "$tb"
timing=(guard.probe_interval=500ms guard.monitor_timeout=2s guard.finish_timeout=5s guard.incoming_timeout=15s)
mg_e2e_guard_conf mg-src "$MG_TEST_TMP/src.conf" "${timing[@]}"
mg_e2e_guard_conf mg-dst "$MG_TEST_TMP/dst.conf" "${timing[@]}"
mg_e2e_guard_start mg-src gsrc "$MG_TEST_TMP/src.conf"
mg_e2e_guard_start mg-dst gdst "$MG_TEST_TMP/dst.conf"

mg_testbed_create_busy "$tb" "$dom"
mg_testbed_wait_writing mg-src "$dom" 90
mg_testbed_migrate "$tb" "$dom" >/dev/null || mg_fail "migration failed"
[[ "$(mg_libvirt_domstate mg-dst "$dom")" == running* ]] || mg_fail "not running on mg-dst"

mg_guard_wait_log gsrc 20 "domain $dom: outgoing migration tracked"
mg_guard_wait_log gsrc 20 "domain $dom: migration completed after"
mg_guard_wait_log gdst 20 "domain $dom: incoming migration tracked"
mg_guard_wait_log gdst 20 "domain $dom: migration completed after"
for g in gsrc gdst; do
	if grep -Eq "HUNG|STALLED|incident written|<err>" "$(mg_guard_log $g)"; then
		grep -E "HUNG|STALLED|incident written|<err>" "$(mg_guard_log $g)" >&2
		mg_fail "$g reported a problem during a healthy migration"
	fi
	mg_guard_stop $g
done
for h in mg-src mg-dst; do
	[[ -z "$(ls "$MG_TEST_TMP/state-$h/incidents" 2>/dev/null)" ]] || mg_fail "incident on $h"
done
