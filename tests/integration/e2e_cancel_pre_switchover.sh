# action = cancel on the two-host test bed, on a migration held in
# finish-migrate while QEMU still answers: libvirt enables
# pause-before-switchover itself and continues QEMU from there, so with the
# source's libvirtd hung (SIGSTOP) just before, QEMU stays at pre-switchover
# with the guest stopped.  The source guard declares HUNG after
# finish_timeout and cancels through its direct monitor, without libvirt:
# QEMU runs the guest again and the destination QEMU, its stream cut, ends.
# Then the hung libvirtd is restarted, as an operator would: it re-finds the
# migration job, sees it cancelled, and reports the domain running on the
# source; nothing is left on the destination.
# (Resuming the stopped libvirtd with SIGCONT instead leaves its Perform
# thread waiting in qemuDomainObjWait for good in about 4 runs of 5 with
# libvirt 9.0, even after domjobabort: virsh migrate never returns.)
source "$MG_SRCDIR/tests/lib/e2e.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"

tb=$MG_TEST_TMP/tb
dom=busy
mg_e2e_up "$tb"
mg_e2e_guard_conf mg-src "$MG_TEST_TMP/src.conf" guard.probe_interval=500ms guard.monitor_timeout=2s \
	guard.finish_timeout=3s guard.action=cancel
mg_e2e_guard_start mg-src gsrc "$MG_TEST_TMP/src.conf"
mg_testbed_create_busy "$tb" "$dom"
mg_testbed_wait_writing mg-src "$dom" 90
qpid=$(mg_libvirt_qemu_pid mg-src "$dom")
tq=$(mg_testbed_test_qmp mg-src "$dom")

mg_testbed_migrate_bg "$tb" "$dom" --bandwidth 1
mg_testbed_wait_migrating mg-src "$dom" 60
mg_guard_wait_log gsrc 20 "domain $dom: outgoing migration tracked"
[[ "$(mg_qmp_migration_status "$tq")" == active ]] || mg_fail "migration not active"

lvpid=$(mg_libvirt_pid mg-src)
mg_on_exit "kill -CONT $lvpid 2>/dev/null || true"
kill -STOP "$lvpid"
mg_log "libvirtd of mg-src (pid $lvpid) stopped; opening the bandwidth on QEMU's test monitor"
mg_qmp_cmd "$tq" '{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":1073741824}}' >/dev/null ||
	mg_fail "migrate-set-parameters"
mg_qmp_wait_migration "$tq" 60 pre-switchover
[[ "$(mg_qmp_status "$tq")" == finish-migrate ]] || mg_fail "pre-switchover but not finish-migrate"
mg_log "QEMU waits at pre-switchover (finish-migrate) and answers its monitors"

mg_guard_wait_log gsrc 15 "domain $dom: migration HUNG"
mg_guard_wait_log gsrc 15 "domain $dom: action cancel: ok: QMP migrate_cancel"
mg_guard_wait_log gsrc 15 "domain $dom: action cancel-check: ok"
mg_qmp_wait_status "$tq" 10 running
[[ "$(mg_qmp_migration_status "$tq")" == cancelled ]] || mg_fail "migration not cancelled"
log=$(mg_guard_log gsrc)
! grep -q "domain $dom: action \(yank\|kill\|restart\)" "$log" || mg_fail "cancel went further than cancel"

mg_log "the guest runs again on the source; restarting the hung libvirtd of mg-src"
kill -KILL "$lvpid"
mg_wait_for 10 "libvirtd $lvpid gone" bash -c "! kill -0 $lvpid 2>/dev/null"
mg_libvirt_host_restart mg-src
migrate_over() { ! kill -0 "$MG_MIGRATE_PID" 2>/dev/null; }
mg_wait_for 60 "virsh migrate to end" migrate_over
rc=0; wait "$MG_MIGRATE_PID" || rc=$?
((rc != 0)) || mg_fail "virsh migrate reported success"
sed 's/^/    virsh migrate: /' "$MG_MIGRATE_LOG" >&2
no_job() { timeout 5 virsh -q -c "$(mg_libvirt_uri mg-src)" domjobinfo "$dom" | grep -q '^Job type: *None'; }
mg_wait_for 30 "no migration job left on mg-src" no_job
running_on_src() { [[ "$(mg_libvirt_domstate mg-src "$dom")" == running* ]]; }
mg_wait_for 30 "$dom running on mg-src" running_on_src
[[ "$(mg_libvirt_qemu_pid mg-src "$dom")" == "$qpid" ]] || mg_fail "the source QEMU changed"
gone_on_dst() { ! timeout 5 virsh -q -c "$(mg_libvirt_uri mg-dst)" list --all | grep -qw "$dom"; }
mg_wait_for 30 "no leftover $dom on mg-dst" gone_on_dst
# The guest goes on writing to its disk on the source.
serial=$(mg_testbed_serial_log mg-src "$dom")
n0=$(wc -c <"$serial")
grows() { (($(wc -c <"$serial") > n0)); }
mg_wait_for 30 "the guest on mg-src to write again" grows
inc=$(mg_guard_incident gsrc "$dom")
python3 - "$inc/report.json" <<'PY' || mg_fail "the incident does not record the cancel"
import json, sys
steps = [(a["step"], a["result"]) for a in json.load(open(sys.argv[1]))["actions"]]
print(steps)
assert steps == [("cancel", "ok"), ("cancel-check", "ok")], steps
PY
mg_virsh mg-src destroy "$dom" >/dev/null 2>&1 || true
