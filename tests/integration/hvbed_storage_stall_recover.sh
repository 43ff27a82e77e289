# timeout: 600
# Issue 14, end to end on the hypervisor bed (tests/hvbed/): migguard's
# .deb installed on both hosts, migguardd under its real unit, configured
# through the package's conffile /etc/migguard/migguard.conf (probe_interval
# 500ms, monitor_timeout 2s, finish_timeout 5s, action = recover), a guest
# written as Nova writes it (no <qemu:commandline>, no extra monitor: the
# guard has libvirt's monitor and /proc only).  The guest writes on hv-src;
# its migration to hv-dst starts throttled, and once memory flows the NBD
# server (nbdkit on the machine, TCP on 127.0.0.1) is SIGSTOPped and the
# bandwidth opened: the source hangs at switch-over with a write in flight.
# The hang is proved from OUTSIDE the guard (main thread in futex,
# live_migration in ppoll, query-status through libvirt unanswered), else
# the test fails saying the scenario did not happen.  Asserted:
#  - while it lasts, `virsh domjobinfo` hangs (timeout 5 -> 124) and
#    `migguard status` inside hv-src answers and shows the migration;
#  - HUNG in migguardd's journal at finish_timeout (+2 s at most after the
#    hang began), the incident under /var/lib/migguard/incidents inside
#    hv-src, and `migguard incidents show ID` answering there;
#  - the unstick rung: cancel not sent, five checks ok, "shut down fd",
#    unstick-check ok, no kill (a refusal fails saying which check and why);
#  - the domain running again on hv-src in the same QEMU, never rebooted,
#    `virsh migrate` failed, `virsh list` answering within 5 s on both hosts;
#  - nbdkit resumed: the guest writes again and the disk-check step is ok;
#  - `journalctl -x MESSAGE_ID=<HUNG>` shows the catalog's text (the
#    package's conf/migguard.catalog compiled in the host).
source "$MG_SRCDIR/tests/lib/e2e.sh"
source "$MG_SRCDIR/tests/lib/unstick.sh"
source "$MG_SRCDIR/tests/hvbed/hvbed.sh"
source "$MG_SRCDIR/tests/hvbed/guard.sh"

MG_UNSTICK_FINISH=5
mg_hvbed_debs
bed=$MG_TEST_TMP/hvbed
mg_hvbed_up "$bed"
t0=${EPOCHREALTIME/,/.}
mg_hvbed_guards_up guard.probe_interval=500ms guard.monitor_timeout=2s guard.finish_timeout=${MG_UNSTICK_FINISH}s \
	guard.action=recover guard.recover_grace=5s guard.incoming_timeout=30s
mg_log "package installed and both guards configured and connected in $(mg__hv_el "$t0") s"

dom=instance-0000002a
mg_hvbed_nova_start hv-src "$dom"
qemu=$MG_HVBED_QEMU
! grep -q '<qemu:commandline>' <(sed '/<!--/,/-->/d' "$bed/shared/$dom.xml") || mg_fail "the domain is not Nova-shaped (qemu:commandline)"
serial=$(mg_hvbed_serial_log hv-src "$dom")
boots=$(grep -c 'MIGGUARD-GUEST: disk' "$serial") || boots=0

mg_hvbed_stall "$dom"
mg_hvbed_wait_hang_shape "$qemu"
# libvirt during the hang: a query of the migration job waits on QEMU's
# monitor.  Started at the hang's first sample, so that its 5 s fall inside
# the hang (which the guard ends at finish_timeout).
t_job=${EPOCHREALTIME/,/.}
(
	rc=0
	timeout 5 virsh -q -c "$(mg_hvbed_uri hv-src)" domjobinfo "$dom" >"$MG_TEST_TMP/domjobinfo.out" 2>&1 || rc=$?
	echo "$rc $(mg__hv_el "$t_job")" >"$MG_TEST_TMP/domjobinfo.rc"
) &
job=$!
# The guard's CLI meanwhile, from a plain shell of the host, as an operator
# runs it.  (systemd-nspawn shows the container its own boot id while the
# unit's ProtectKernelTunables= shows the daemon the kernel's: the CLI
# compares the recorded boot id with the daemon's own view.)
t1=${EPOCHREALTIME/,/.}
rc=0
timeout 5 "$(command -v nsenter)" -t "$(mg_hvbed_leader hv-src)" -a -- \
	migguard status >"$MG_TEST_TMP/status.out" 2>&1 || rc=$?
status_secs=$(mg__hv_el "$t1")
kill -0 "$job" 2>/dev/null && job_running=1 || job_running=0
((rc == 0)) || { cat "$MG_TEST_TMP/status.out" >&2; mg_fail "migguard status in hv-src during the hang: exit $rc"; }
grep -q "$dom" "$MG_TEST_TMP/status.out" || { cat "$MG_TEST_TMP/status.out" >&2; mg_fail "migguard status does not show $dom"; }
((job_running)) || mg_fail "virsh domjobinfo had already returned when migguard status answered: $(cat "$MG_TEST_TMP/domjobinfo.rc" "$MG_TEST_TMP/domjobinfo.out")"
mg_log "migguard status answered in $status_secs s inside hv-src while virsh domjobinfo waited: $(grep -m1 "$dom" "$MG_TEST_TMP/status.out" | xargs)"

MG_HANG_URI=$(mg_hvbed_uri hv-src) MG_HANG_DOM=$dom mg_e2e_hang_watch "$qemu" drain 30

wait "$job" || true
read -r job_rc job_secs <"$MG_TEST_TMP/domjobinfo.rc"
((job_rc == 124)) || mg_fail "virsh domjobinfo during the hang did not hang: exit $job_rc after $job_secs s: $(cat "$MG_TEST_TMP/domjobinfo.out")"
mg_log "virsh domjobinfo during the hang: no answer in 5 s (timeout 124)"

# The verdict at finish_timeout, from the journal's own timestamps.
mg_hvbed_guard_wait_log hv-src 15 "domain $dom: migration HUNG"
t_hung=$(mg_hvbed_glog hv-src -o short-unix | sed -n "s/^\([0-9.]*\) .*domain $dom: migration HUNG.*/\1/p" | head -1)
hung_after=$(awk -v a="$MG_HANG_START" -v b="$t_hung" 'BEGIN { printf "%.2f", b - a }')
awk -v s="$hung_after" -v l="$((MG_UNSTICK_FINISH + 2))" 'BEGIN { exit !(s <= l) }' ||
	mg_fail "HUNG came $hung_after s after the hang began (limit finish_timeout + 2 s)"
mg_hvbed_journal hv-src MIGGUARD_DOMAIN="$dom" -o cat | grep "migration HUNG" >/dev/null ||
	mg_fail "journalctl MIGGUARD_DOMAIN=$dom does not show the HUNG verdict"
mg_log "HUNG in hv-src's journal $hung_after s after the hang began"

# The incident, inside hv-src, and the CLI on it.
mg_hvbed_guard_wait_log hv-src 15 "domain $dom: incident written to"
inc=$(mg_hvbed_incident hv-src "$dom")
[[ $inc == /var/lib/migguard/incidents/* ]] || mg_fail "incident written to '$inc', not under /var/lib/migguard/incidents"
root=$(mg_hvbed_root hv-src)
[[ -f $root$inc/report.json ]] || mg_fail "no $inc/report.json inside hv-src"
t1=${EPOCHREALTIME/,/.}
rc=0
timeout 5 "$(command -v nsenter)" -t "$(mg_hvbed_leader hv-src)" -a -- migguard incidents show "${inc##*/}" >"$MG_TEST_TMP/show.out" 2>&1 || rc=$?
((rc == 0)) || { cat "$MG_TEST_TMP/show.out" >&2; mg_fail "migguard incidents show ${inc##*/} in hv-src: exit $rc"; }
grep -q "$dom" "$MG_TEST_TMP/show.out" || mg_fail "migguard incidents show does not name $dom"
mg_log "migguard incidents show ${inc##*/} answered in $(mg__hv_el "$t1") s inside hv-src"

# The unstick rung: the records, or why it refused.
unstick_lines() { mg_hvbed_glog hv-src | grep -E "domain $dom: action (cancel|unstick|unstick-check|recover-check|kill)"; }
unstick_done() { mg_hvbed_glog hv-src | grep -E "domain $dom: action (unstick-check|kill):" >/dev/null; }
if ! mg_wait_for_quiet 20 unstick_done || ! mg__hv_glog_has hv-src "domain $dom: action unstick: ok: shut down fd"; then
	unstick_lines >&2 || true
	why=$(mg_hvbed_glog hv-src | grep -E "domain $dom: action unstick: " | grep -v ': ok: ' | head -1)
	mg_fail "the unstick rung did not shut the fd down: ${why:-no refusal recorded (see the ladder above)}"
fi
mg_hvbed_guard_wait_log hv-src 10 "domain $dom: action unstick-check: ok"
! mg__hv_glog_has hv-src "domain $dom: action kill" || mg_fail "the guard killed QEMU although unstick recovered it"

# Running again on hv-src, the same QEMU, from outside.
out_of_hang() {
	local sc
	read -r sc _ <"/proc/$qemu/task/$qemu/syscall" || return 1
	[[ $sc =~ ^[0-9]+$ && $sc != 202 ]] &&
		[[ "$(timeout 5 virsh -q -c "$(mg_hvbed_uri hv-src)" domstate "$dom")" == running ]]
}
mg_wait_for 15 "$dom running again on hv-src (main thread out of futex, domstate running)" out_of_hang
kill -0 "$qemu" && [[ "$(mg_hvbed_qemu_pid hv-src "$dom")" == "$qemu" ]] ||
	mg_fail "the source QEMU $qemu is gone: the guest was restarted"
mg_log "running on hv-src again in the same QEMU ($qemu)"

mg_wait_for 40 "virsh migrate of $dom to return" eval "! kill -0 $MG_MIGRATE_PID 2>/dev/null"
rc=0; wait "$MG_MIGRATE_PID" 2>/dev/null || rc=$?
((rc != 0)) || mg_fail "virsh migrate succeeded although the migration was broken off"
mg_log "virsh migrate returned $rc: $(tr '\n' ' ' <"$MG_MIGRATE_LOG")"
for h in hv-src hv-dst; do mg_hvbed_list_fast "$h"; done

# The storage comes back: the same QEMU writes again, and the guard's
# disk-check sees an I/O succeed.
lines=$(wc -l <"$serial")
mg_nbd_resume "$bed/storage"
writing_again() { tail -n +"$((lines + 1))" "$serial" | grep 'MIGGUARD-GUEST: writing' >/dev/null; }
mg_wait_for 60 "the guest writing again after the storage returned" writing_again
(($(grep -c 'MIGGUARD-GUEST: disk' "$serial") == boots)) || mg_fail "the guest booted again (serial log)"
mg_hvbed_guard_wait_log hv-src 60 "domain $dom: action disk-check:"
mg__hv_glog_has hv-src "domain $dom: action disk-check: ok" || mg_fail "disk-check: $(mg_hvbed_glog hv-src | grep "action disk-check")"
MG_UNSTICK_DISK=1 mg_unstick_check_actions "$root$inc" unstick >"$MG_TEST_TMP/actions.txt" ||
	{ cat "$MG_TEST_TMP/actions.txt" >&2; exit 1; }

# The journal catalog explains the HUNG message (journalctl -x).
hung_id=$(sed -n 's/^#define MG_MESSAGE_HUNG "\([0-9a-f]*\)"/\1/p' "$MG_SRCDIR/daemon/msgid.h")
[[ -n $hung_id ]] || mg_fail "no MG_MESSAGE_HUNG in daemon/msgid.h"
mg_hvbed_exec hv-src sh -c 'ls /usr/lib/systemd/catalog/migguard.catalog /lib/systemd/catalog/migguard.catalog 2>/dev/null' | grep . >/dev/null ||
	mg_fail "the package did not install migguard.catalog into systemd's catalog directory in hv-src"
mg_hvbed_exec hv-src journalctl --list-catalog "$hung_id" 2>/dev/null | grep "$hung_id" >/dev/null ||
	mg_fail "migguard.catalog is installed in hv-src but not compiled into /var/lib/systemd/catalog/database (journalctl --list-catalog $hung_id lists nothing): the package's install did not run journalctl --update-catalog"
mg_hvbed_exec hv-src journalctl --no-pager -x -q MESSAGE_ID="$hung_id" MIGGUARD_DOMAIN="$dom" >"$MG_TEST_TMP/catalog.out" 2>&1
grep -q "Subject: Live migration of $dom is hung (QEMU pid" "$MG_TEST_TMP/catalog.out" ||
	{ cat "$MG_TEST_TMP/catalog.out" >&2; mg_fail "journalctl -x MESSAGE_ID=$hung_id does not show the catalog's text"; }
mg_log "journalctl -x explains the HUNG entry: $(grep -m1 'Subject:' "$MG_TEST_TMP/catalog.out" | sed 's/^ *-- *//')"
mg_log "ok: hang caught $hung_after s after it began, recovered in place by unstick, disk working again"
