# action = cancel on a migration held in finish-migrate while QEMU still
# answers (pause-before-switchover, never continued): after HUNG the guard
# sends migrate_cancel on its direct monitor, the migration is cancelled,
# the source runs again, and the incident records the step and the check.
# The shipped exec plugin runs a command for the verdict, the incident and
# each step, with the event in its environment.
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
# The plugin directory must be root-owned and not group-writable: a copy.
install -d -m 0755 "$MG_TEST_TMP/plugins"
install -m 0755 "$MG_BUILDDIR/plugins/.libs/exec.so" "$MG_TEST_TMP/plugins/"
mkdir "$MG_TEST_TMP/events"
cat >"$MG_TEST_TMP/hook.sh" <<'EOF'
#!/bin/sh
# One file per event: NAME[-STEP].env
f="${0%/*}/events/$1${MIGGUARD_STEP:+-$MIGGUARD_STEP}"
env | grep '^MIGGUARD_' | sort >"$f.tmp" && mv "$f.tmp" "$f.env"
EOF
chmod 0755 "$MG_TEST_TMP/hook.sh"
printf '[plugin exec]\ncommand = %s\nevents = migration-started, hung, incident, action\n' \
	"$MG_TEST_TMP/hook.sh" >>"$conf"
MIGGUARD_PLUGIN_DIR=$MG_TEST_TMP/plugins mg_guard_start g "$conf" --qmp "$(mg_qemu_guard_qmp src)" --pid "$(mg_qemu_pid src)" --name src
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
ev=$MG_TEST_TMP/events
mg_wait_for 10 "the exec plugin's command for the last step" test -e "$ev/action-cancel-check.env"
for e in migration-started hung incident action-cancel; do
	[[ -e $ev/$e.env ]] || { ls "$ev" >&2; mg_fail "no $e event from the exec plugin"; }
done
grep -qx "MIGGUARD_EVENT=hung" "$ev/hung.env" || mg_fail "hung.env: $(cat "$ev/hung.env")"
grep -qx "MIGGUARD_DOMAIN=src" "$ev/hung.env" || mg_fail "hung.env: $(cat "$ev/hung.env")"
grep -qx "MIGGUARD_PID=$(mg_qemu_pid src)" "$ev/hung.env" || mg_fail "hung.env: $(cat "$ev/hung.env")"
grep -qx "MIGGUARD_INCIDENT=$inc" "$ev/incident.env" || mg_fail "incident.env: $(cat "$ev/incident.env")"
grep -qx "MIGGUARD_RESULT=ok" "$ev/action-cancel.env" || mg_fail "action-cancel.env: $(cat "$ev/action-cancel.env")"
grep -qx "MIGGUARD_INCIDENT=$inc" "$ev/action-cancel.env" || mg_fail "action-cancel.env: $(cat "$ev/action-cancel.env")"
grep -q "1 plugin loaded" "$log" || mg_fail "the plugin load is not logged"
mg_guard_stop g
