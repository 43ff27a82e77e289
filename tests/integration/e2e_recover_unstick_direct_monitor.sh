# action = recover on the storage-stall hang, with a direct monitor: the
# in-band cancel is not sent (the BQL is held), and unstick -- not a yank:
# a yanked NBD node would fail every later I/O -- shuts the NBD client
# socket out of QEMU; the migration fails cleanly and the guest runs on the
# source again, without killing QEMU, and no yank is sent.
# Both hosts answer `virsh list --all` within 5 s and the destination has no
# leftover incoming domain; the incident lists each step and its result.
source "$MG_SRCDIR/tests/lib/e2e.sh"

tb=$MG_TEST_TMP/tb
dom=busy
mg_e2e_up "$tb"
mg_e2e_guard_conf mg-src "$MG_TEST_TMP/src.conf" guard.probe_interval=500ms guard.monitor_timeout=2s \
	guard.finish_timeout=5s guard.action=recover guard.recover_grace=10s
mg_e2e_guard_start mg-src gsrc "$MG_TEST_TMP/src.conf"

mg_testbed_create_busy "$tb" "$dom"
mg_testbed_wait_writing mg-src "$dom" 90
qemu_pid=$(mg_libvirt_qemu_pid mg-src "$dom")
mg_e2e_stall "$tb" "$dom"
start=$SECONDS
mg_guard_wait_log gsrc 30 "domain $dom: migration HUNG"
mg_guard_wait_log gsrc 30 "domain $dom: action unstick: ok: shut down fd"
mg_guard_wait_log gsrc 30 "domain $dom: action unstick-check: ok"
log=$(mg_guard_log gsrc)
grep -q "action kill:" "$log" && mg_fail "QEMU was killed although unstick recovered it"
grep -q "action yank" "$log" && mg_fail "a yank was sent on a storage stall"
kill -0 "$qemu_pid" || mg_fail "the source QEMU is gone"

running_on_src() { [[ "$(mg_libvirt_domstate mg-src "$dom")" == running* ]]; }
mg_wait_for 15 "$dom running on mg-src" running_on_src
# The destination's libvirt ends the incoming domain, whose QEMU hangs too
# on the same stopped storage: it sends SIGTERM, waits 10 s, then SIGKILL
# (tests/testbed/FACTS-unstick.md), and only then does `virsh migrate`
# return; its daemon is slow to answer meanwhile.
mg_wait_for 40 "virsh migrate of $dom to return" eval "! kill -0 $MG_MIGRATE_PID 2>/dev/null"
((SECONDS - start <= 5 + 10 + 10)) || mg_fail "recovered after $((SECONDS - start)) s"
for h in mg-src mg-dst; do
	t0=$EPOCHREALTIME
	timeout 5 virsh -q -c "$(mg_libvirt_uri $h)" list --all >"$MG_TEST_TMP/list-$h" ||
		mg_fail "virsh list --all on $h did not answer within 5 s"
	mg_log "$h: virsh list --all answered in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}') s"
done
no_leftover() { ! grep -qw "$dom" "$MG_TEST_TMP/list-mg-dst" || { timeout 5 virsh -q -c "$(mg_libvirt_uri mg-dst)" list --all >"$MG_TEST_TMP/list-mg-dst"; ! grep -qw "$dom" "$MG_TEST_TMP/list-mg-dst"; }; }
mg_wait_for 30 "no leftover $dom on mg-dst" no_leftover
# libvirt's migration job ended too (DESIGN: check it after any action).
job_done() { timeout 5 virsh -c "$(mg_libvirt_uri mg-src)" domjobinfo "$dom" | grep -q "Job type: *None"; }
mg_wait_for 30 "libvirt's job on mg-src ended" job_done

inc=$(mg_guard_incident gsrc "$dom")
python3 - "$inc/report.json" <<'PY' || mg_fail "the incident does not list the steps"
import json, sys
steps = [(a["step"], a["result"]) for a in json.load(open(sys.argv[1]))["actions"]]
print(steps)
names = [s for s, _ in steps]
assert names[0] == "cancel" and "unstick" in names and "unstick-check" in names, steps
assert "yank" not in names and "kill" not in names, steps
assert all(r == "ok" for s, r in steps if s == "unstick") and dict(steps)["unstick-check"] == "ok", steps
PY
"$MG_BUILDDIR/migguard" incidents --state-dir "$MG_TEST_TMP/state-mg-src" show "$(basename "$inc")" | sed -n '/^Actions/,$p' >&2
