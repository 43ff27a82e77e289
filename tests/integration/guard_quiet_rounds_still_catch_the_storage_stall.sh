# timeout: 180
# Issue 15: while QEMU reports migration changes as events (libvirt always
# sets the capability), its main loop sits idle in its poll and a vCPU is
# in the guest, a probe round sends no query-status: the /proc probe
# answers for it.  Proved on
# real QEMU: a migration throttled to stay active for a window of rounds,
# then let go into the storage stall at switch-over (NBD server stopped,
# a write in flight): the guard still declares HUNG on time with the BQL
# evidence, and its incident says how many rounds were quiet.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

mg_storage_stall_prepare src dst
conf=$MG_TEST_TMP/g.conf
mg_guard_conf "$conf" "daemon.state_dir=$MG_TEST_TMP/state" "guard.probe_interval=100ms" \
	"guard.monitor_timeout=1s" "guard.finish_timeout=3s"
export MIGGUARD_SIGNATURES_DIR=$MG_SRCDIR/conf/signatures
mg_guard_start g "$conf" --qmp "$(mg_qemu_guard_qmp src)" --pid "$(mg_qemu_pid src)" --name src
mg_guard_wait_log g 10 "direct monitor .* connected \(oob on\)"

qmp=$(mg_qemu_qmp src)
mg_qmp_cmd "$qmp" '{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"events","state":true}]}}' >/dev/null
mg_qmp_cmd "$qmp" '{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":1000}}' >/dev/null
mg_storage_stall_trigger src dst
mg_guard_wait_log g 10 "outgoing migration tracked"
# The window: about 30 rounds of an active migration (a measurement
# period, not a wait for a condition).
sleep 3
[[ "$(mg_qmp_migration_status "$qmp")" == active ]] ||
	mg_fail "the scenario did not happen: the throttled migration is $(mg_qmp_migration_status "$qmp"), not active"
! grep -q "migration finishing" "$(mg_guard_log g)" || mg_fail "finishing during the throttled window"
# Let it converge: switch-over stops the VM and drains the stopped disk.
t0=$SECONDS
mg_qmp_cmd "$qmp" '{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":1073741824}}' >/dev/null
mg_guard_wait_log g 30 "migration HUNG"
log=$(mg_guard_log g)
mg_assert_grep "migration HUNG: .*(monitor unresponsive|BQL held by live_migration)" "$log"
((SECONDS - t0 <= 3 + 1 + 5)) || mg_fail "HUNG $((SECONDS - t0)) s after the switch-over was let go (finish_timeout 3 s)"
mg_guard_wait_log g 30 "incident written to"
inc=$(sed -n 's/.*incident written to \([^ ]*\) .*/\1/p' "$log" | head -1)
# A round is quiet only while a vCPU is in the guest: under KVM the idle
# firmware's vCPU halts inside KVM_RUN, under TCG it waits on a condition
# variable like a paused one, so there every round asks.
python3 - "$inc/report.json" "$(mg_accel)" <<'PY' || mg_fail "the incident's probe rounds are not what $(mg_accel) should give"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["verdict"] == "hung"
n, quiet = r["timing"]["probe_rounds"], r["timing"]["quiet_rounds"]
print("rounds %d, quiet %d (%s)" % (n, quiet, sys.argv[2]))
# 3 s of the window at 100 ms: about 30 rounds, nearly all quiet under
# KVM; the rounds of the hang itself never are (the vCPUs are paused).
assert n >= 25 and quiet < n, (n, quiet)
if sys.argv[2] == "kvm":
    assert quiet >= 20, (n, quiet)
PY
mg_log "ok: quiet rounds during the active phase, and the stall still caught"
