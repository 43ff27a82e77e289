# action = recover on a QEMU that stopped answering at switch-over (held at
# pre-switchover, then SIGSTOPped): cancel and yank get no answer, the kill
# ends QEMU, and the standalone guard, which stops when its QEMU exits,
# still has every step in the incident (they are written off the loop: the
# guard waits for them, boundedly, before it exits).
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

uri="unix:$MG_TEST_TMP/mig.sock"
mg_qemu_start src
mg_qemu_start_incoming dst "$uri"
src_qmp=$(mg_qemu_qmp src)
pid=$(mg_qemu_pid src)
conf=$MG_TEST_TMP/g.conf
mg_guard_conf "$conf" "daemon.state_dir=$MG_TEST_TMP/state" "guard.probe_interval=500ms" \
	"guard.monitor_timeout=1s" "guard.finish_timeout=3s" "guard.action=recover" "guard.recover_grace=1s"
mg_guard_start g "$conf" --qmp "$(mg_qemu_guard_qmp src)" --pid "$pid" --name src
mg_guard_wait_log g 10 "direct monitor .* connected"
mg_qmp_cmd "$src_qmp" '{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"pause-before-switchover","state":true},{"capability":"events","state":true}]}}' >/dev/null
mg_qemu_migrate "$src_qmp" "$uri"
mg_qmp_wait_migration "$src_qmp" 60 pre-switchover
mg_guard_wait_log g 10 "migration finishing"
kill -STOP "$pid"

mg_guard_wait_log g 20 "migration HUNG"
mg_guard_wait_log g 30 "action kill: ok"
gpid=$MG_GUARD_PID_g
mg_wait_for 15 "the guard to stop with its QEMU" bash -c "! kill -0 $gpid"
rc=0; wait "$gpid" || rc=$?
((rc == 0)) || mg_fail "migguardd exited $rc"
inc=$(mg_guard_incident g src)
python3 - "$inc/report.json" <<'PY' || mg_fail "the incident lacks the last steps"
import json, sys
steps = [a["step"] for a in json.load(open(sys.argv[1]))["actions"]]
assert steps[0] == "cancel" and "kill" in steps, steps
PY
