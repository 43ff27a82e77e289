# The incoming side of action = recover: the source hangs on a storage
# stall (its guard set to action = none, so nothing unsticks it), the
# destination's guard sees no incoming progress for incoming_timeout,
# declares STALLED and destroys the incoming domain so that it can be
# started again; the step is in the destination's incident.
source "$MG_SRCDIR/tests/lib/e2e.sh"

tb=$MG_TEST_TMP/tb
dom=busy
mg_e2e_up "$tb"
timing=(guard.probe_interval=500ms guard.monitor_timeout=2s guard.finish_timeout=5s guard.incoming_timeout=10s)
mg_e2e_guard_conf mg-src "$MG_TEST_TMP/src.conf" "${timing[@]}" guard.action=none
mg_e2e_guard_conf mg-dst "$MG_TEST_TMP/dst.conf" "${timing[@]}" guard.action=recover
mg_e2e_guard_start mg-src gsrc "$MG_TEST_TMP/src.conf"
mg_e2e_guard_start mg-dst gdst "$MG_TEST_TMP/dst.conf"

mg_testbed_create_busy "$tb" "$dom"
mg_testbed_wait_writing mg-src "$dom" 90
src_pid=$(mg_libvirt_qemu_pid mg-src "$dom")
mg_e2e_stall "$tb" "$dom"

mg_guard_wait_log gsrc 30 "domain $dom: migration HUNG"
mg_guard_wait_log gdst 60 "domain $dom: migration STALLED"
mg_guard_wait_log gdst 60 "domain $dom: action destroy: ok"
mg_guard_wait_log gdst 60 "domain $dom: action destroy-check: ok"
gone_on_dst() { ! timeout 5 virsh -q -c "$(mg_libvirt_uri mg-dst)" list --all | grep -qw "$dom"; }
mg_wait_for 30 "$dom gone from mg-dst" gone_on_dst
# action = none on the source: its QEMU is untouched and still hung.
grep -q "action " "$(mg_guard_log gsrc)" && mg_fail "the source guard acted with action = none"
kill -0 "$src_pid" || mg_fail "source QEMU gone"
[[ "$(cut -d' ' -f1 /proc/"$src_pid"/task/"$src_pid"/syscall)" != running ]] || mg_fail "source not blocked"
inc=$(mg_guard_incident gdst "$dom")
python3 - "$inc/report.json" <<'PY' || mg_fail "the destination incident lacks the destroy step"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["verdict"] == "stalled" and r["direction"] == "incoming", (r["verdict"], r["direction"])
assert [(a["step"], a["result"]) for a in r["actions"]] == [("destroy", "ok"), ("destroy-check", "ok")], r["actions"]
PY
