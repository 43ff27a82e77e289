# action = cancel on a migration held in finish-migrate while QEMU still
# answers (pause-before-switchover, never continued): after HUNG the guard
# sends migrate_cancel on its direct monitor, the migration is cancelled,
# the source runs again, and the incident records the step and the check.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

uri="unix:$MG_TEST_TMP/mig.sock"
mg_qemu_start src
mg_qemu_start_incoming dst "$uri"
src_qmp=$(mg_qemu_qmp src)
conf=$MG_TEST_TMP/g.conf
mg_guard_conf "$conf" "daemon.state_dir=$MG_TEST_TMP/state" "guard.probe_interval=500ms" \
	"guard.monitor_timeout=1s" "guard.finish_timeout=3s" "guard.action=cancel"
mg_guard_start g "$conf" --qmp "$(mg_qemu_guard_qmp src)" --pid "$(mg_qemu_pid src)" --name src
mg_guard_wait_log g 10 "direct monitor .* connected"
mg_qmp_cmd "$src_qmp" '{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"pause-before-switchover","state":true},{"capability":"events","state":true}]}}' >/dev/null
mg_qemu_migrate "$src_qmp" "$uri"
mg_qmp_wait_migration "$src_qmp" 60 pre-switchover

mg_guard_wait_log g 15 "migration HUNG"
mg_guard_wait_log g 15 "action cancel: ok: QMP migrate_cancel"
mg_guard_wait_log g 15 "action cancel-check: ok"
mg_qmp_wait_status "$src_qmp" 10 running
[[ "$(mg_qmp_migration_status "$src_qmp")" == cancelled ]] || mg_fail "migration not cancelled"
kill -0 "$(mg_qemu_pid src)" || mg_fail "source QEMU gone"
log=$(mg_guard_log g)
grep -q "action yank\|action kill" "$log" && mg_fail "cancel went further than cancel"
inc=$(sed -n 's/.*incident written to \([^ ]*\) .*/\1/p' "$log" | head -1)
python3 - "$inc/report.json" <<'PY' || mg_fail "incident lacks the cancel steps"
import json, sys
steps = [(a["step"], a["result"]) for a in json.load(open(sys.argv[1]))["actions"]]
assert steps == [("cancel", "ok"), ("cancel-check", "ok")], steps
PY
mg_guard_stop g
