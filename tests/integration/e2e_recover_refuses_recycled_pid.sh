# The kill step never signals a pid that may have been recycled: the guard
# runs in its own mount namespace, and once the ladder is past cancel and
# unstick (off here: unstick = no; recover_grace running), the test bind-mounts over /proc/QPID/stat, in
# the guard's namespace only, a copy whose start time (field 22) is one tick
# later: exactly what the guard would read if QEMU had died and its pid gone
# to a new process.  The guard must refuse to signal, say so in its log and
# in the incident, and not restart anything; the real QEMU is untouched.
source "$MG_SRCDIR/tests/lib/e2e.sh"

tb=$MG_TEST_TMP/tb
dom=busy
mg_e2e_up "$tb"
# No direct monitor and unstick = no: the ladder reaches the kill step
# after recover_grace.
mg_e2e_guard_conf --no-direct mg-src "$MG_TEST_TMP/src.conf" \
	guard.probe_interval=500ms guard.monitor_timeout=2s \
	guard.finish_timeout=5s guard.unstick=no guard.action=recover guard.recover_grace=10s guard.restart=yes
MG_GUARD_WRAP="unshare -m --propagation private" mg_e2e_guard_start mg-src gsrc "$MG_TEST_TMP/src.conf"
guard_pid=$MG_GUARD_PID_gsrc
[[ "$(readlink /proc/$guard_pid/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ]] ||
	mg_fail "migguardd does not run in its own mount namespace"

mg_e2e_define_busy "$tb" mg-src "$dom"
qpid=$(mg_libvirt_qemu_pid mg-src "$dom")
real_start=$(python3 -c 'import sys; print(open(sys.argv[1]).read().rsplit(")", 1)[1].split()[19])' "/proc/$qpid/stat")
mg_e2e_stall "$tb" "$dom"
mg_guard_wait_log gsrc 30 "domain $dom: migration HUNG"
mg_guard_wait_log gsrc 30 "domain $dom: action unstick: Operation canceled: not run: unstick = no"

python3 - "/proc/$qpid/stat" "$MG_TEST_TMP/recycled-stat" <<'PY'
import sys
text = open(sys.argv[1]).read()
head, tail = text.rsplit(")", 1)
fields = tail.split()
fields[19] = str(int(fields[19]) + 1)	# field 22: starttime
open(sys.argv[2], "w").write(head + ") " + " ".join(fields) + "\n")
PY
nsenter -t "$guard_pid" -m -- mount --bind "$MG_TEST_TMP/recycled-stat" "/proc/$qpid/stat" ||
	mg_fail "cannot bind-mount over /proc/$qpid/stat in the guard's namespace"
seen=$(nsenter -t "$guard_pid" -m -- python3 -c 'import sys; print(open(sys.argv[1]).read().rsplit(")", 1)[1].split()[19])' "/proc/$qpid/stat")
((seen == real_start + 1)) || mg_fail "the guard's namespace shows start time $seen, wanted $((real_start + 1))"
mg_log "in the guard's namespace pid $qpid now starts at tick $seen (really $real_start)"

mg_guard_wait_log gsrc 30 "domain $dom: action kill: Stale file handle: refused: pid $qpid now names another process"
kill -0 "$qpid" 2>/dev/null || mg_fail "QEMU pid $qpid was signalled"
[[ "$(python3 -c 'import sys; print(open(sys.argv[1]).read().rsplit(")", 1)[1].split()[19])' "/proc/$qpid/stat")" == "$real_start" ]] ||
	mg_fail "pid $qpid is no longer the QEMU it was"
log=$(mg_guard_log gsrc)
! grep -Eq "domain $dom: action (kill-check|restart)" "$log" || mg_fail "the ladder went on after refusing the kill"
! grep -q "SIGKILL to QEMU\|SIGABRT" "$log" || mg_fail "a signal was sent"
inc=$(mg_guard_incident gsrc "$dom")
python3 - "$inc/report.json" "$qpid" <<'PY' || mg_fail "the incident does not record the refusal"
import json, sys
steps = json.load(open(sys.argv[1]))["actions"]
print([(a["step"], a["result"]) for a in steps])
kill = [a for a in steps if a["step"] == "kill"]
assert len(kill) == 1 and kill[0]["result"] != "ok", steps
assert "refused" in kill[0]["detail"] and sys.argv[2] in kill[0]["detail"], kill
assert not [a for a in steps if a["step"] in ("kill-check", "restart")], steps
PY
# The hang is still there: clean up.
mg_nbd_resume "$tb"
mg_virsh mg-src destroy "$dom" >/dev/null 2>&1 || true
