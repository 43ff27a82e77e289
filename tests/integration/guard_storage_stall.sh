# The storage stall at switch-over on real QEMU: the NBD server is stopped
# with a write in flight, the source's live_migration thread stops the VM
# holding the BQL and waits forever.  The standalone guard, connected before
# the hang, declares HUNG with the evidence "monitor unresponsive" and "BQL
# held by live_migration (tid)", and its incident's snapshot names
# live_migration as the BQL owner.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

mg_storage_stall_prepare src dst
conf=$MG_TEST_TMP/g.conf
mg_guard_conf "$conf" "daemon.state_dir=$MG_TEST_TMP/state" "guard.probe_interval=500ms" \
	"guard.monitor_timeout=1s" "guard.finish_timeout=3s"
export MIGGUARD_SIGNATURES_DIR=$MG_SRCDIR/conf/signatures
mg_guard_start g "$conf" --qmp "$(mg_qemu_guard_qmp src)" --pid "$(mg_qemu_pid src)" --name src
mg_guard_wait_log g 10 "direct monitor .* connected \(oob on\)"
mg_storage_stall_trigger src dst

mg_guard_wait_log g 30 "migration HUNG"
log=$(mg_guard_log g)
mg_assert_grep "migration HUNG: .*monitor unresponsive" "$log"
owner=$(grep -Eo 'BQL held by live_migration \([0-9]+\)' "$log" | head -1 | grep -Eo '[0-9]+')
[[ -n $owner ]] || mg_fail "no 'BQL held by live_migration (tid)' evidence"
[[ "$(cat "/proc/$(mg_qemu_pid src)/task/$owner/comm")" == live_migration ]] ||
	mg_fail "tid $owner is not live_migration"
mg_guard_wait_log g 30 "incident written to"
inc=$(sed -n 's/.*incident written to \([^ ]*\) .*/\1/p' "$log" | head -1)
python3 - "$inc/report.json" "$owner" <<'PY' || mg_fail "incident does not name live_migration as BQL owner"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["verdict"] == "hung"
snap = r["snapshot"]
assert snap["locks"]["bql_owner"] == int(sys.argv[2]), snap["locks"]
assert "live_migration" in r["summary"], r["summary"]
PY
grep -q "vm_stop" "$inc/stacks.txt" || mg_fail "stacks.txt has no vm_stop frame"
# The target was stopped only for the unwind and runs (blocked) again.
state=$(awk '/^State:/ {print $2}' "/proc/$(mg_qemu_pid src)/status")
[[ $state != T && $state != t ]] || mg_fail "QEMU left stopped ($state)"
mg_guard_stop g
