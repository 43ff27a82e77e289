# A guard killed after its verdict and started again re-finds the same hung
# migration (QEMU held at pre-switchover, answering): it must neither write
# a second incident nor run the ladder.  The first guard reports only
# (action = none); the second would cancel (action = cancel), so a ladder
# run by it would end the migration.  The second says it already reported,
# in its log and in status.json; when the migration ends the record goes.
# Also: a temporary incident left by a guard that died mid-write becomes a
# visible partial incident when a guard starts.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

uri="unix:$MG_TEST_TMP/mig.sock"
state=$MG_TEST_TMP/state
mg_qemu_start src
mg_qemu_start_incoming dst "$uri"
src_qmp=$(mg_qemu_qmp src)
pid=$(mg_qemu_pid src)
common=("daemon.state_dir=$state" "guard.probe_interval=500ms" "guard.monitor_timeout=1s"
	"guard.finish_timeout=3s")
mg_guard_conf "$MG_TEST_TMP/g1.conf" "${common[@]}" "guard.action=none"
mg_guard_conf "$MG_TEST_TMP/g2.conf" "${common[@]}" "guard.action=cancel"

# The leftover of a writer that is gone: a pid no process has now.
sh -c 'exit 0' & dead=$!; wait "$dead"
mkdir -p "$state/incidents/.tmp-20260101T000000Z-src-nouuid-$dead"
echo '{"domain": "src", "verdict": "hung", "actions": []}' \
	>"$state/incidents/.tmp-20260101T000000Z-src-nouuid-$dead/report.json"

mg_guard_start g1 "$MG_TEST_TMP/g1.conf" --qmp "$(mg_qemu_guard_qmp src)" --pid "$pid" --name src
mg_guard_wait_log g1 10 "direct monitor .* connected"
partial=$state/incidents/20260101T000000Z-src-nouuid-partial
[[ -d $partial ]] || { ls -a "$state/incidents" >&2; mg_fail "the half-written incident is not kept as $partial"; }
python3 - "$partial/report.json" <<'PY' || mg_fail "the recovered incident is not marked partial"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["partial"] is True and r["verdict"] == "hung", r
PY
"$MG_BUILDDIR/migguard" incidents --config "$MG_TEST_TMP/g1.conf" | grep -q "20260101T000000Z-src-nouuid-partial" ||
	mg_fail "migguard incidents does not list the partial incident"
rm -rf "$partial"

mg_qmp_cmd "$src_qmp" '{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"pause-before-switchover","state":true},{"capability":"events","state":true}]}}' >/dev/null
mg_qemu_migrate "$src_qmp" "$uri"
mg_qmp_wait_migration "$src_qmp" 60 pre-switchover
mg_guard_wait_log g1 15 "migration HUNG"
mg_guard_wait_log g1 15 "incident written to"
inc=$(mg_guard_incident g1 src)
[[ -d $inc ]] || mg_fail "no incident directory $inc"
mg_wait_for 5 "the guard's record of the verdict" compgen -G "$state/acted/$pid-*.json"

# Killed as a crash would: no clean-up of any kind.
kill -KILL "$MG_GUARD_PID_g1"
wait "$MG_GUARD_PID_g1" 2>/dev/null || true

mg_guard_start g2 "$MG_TEST_TMP/g2.conf" --qmp "$(mg_qemu_guard_qmp src)" --pid "$pid" --name src
mg_guard_wait_log g2 20 "migration HUNG"
mg_guard_wait_log g2 5 "already reported on this migration before a restart: incident $inc"
mg_wait_for 5 "status.json saying the guard already reported" grep -q "already reported on this migration" "$state/status.json"
# The verdict was the moment to act: give a ladder time to show itself.
mg_wait_for_quiet 2 grep -q "action cancel" "$(mg_guard_log g2)" && mg_fail "the restarted guard ran the ladder again"
log2=$(mg_guard_log g2)
grep -q "incident written to" "$log2" && mg_fail "the restarted guard wrote a second incident"
n=$(find "$state/incidents" -mindepth 1 -maxdepth 1 ! -name '.*' | wc -l)
((n == 1)) || { ls -a "$state/incidents" >&2; mg_fail "$n incidents, expected 1"; }
[[ "$(mg_qmp_migration_status "$src_qmp")" == pre-switchover ]] || mg_fail "the migration was acted on"

# The migration ends: its record goes.
mg_qmp_cmd "$src_qmp" '{"execute":"migrate_cancel"}' >/dev/null
mg_qmp_wait_migration "$src_qmp" 20 cancelled
mg_wait_for 10 "the record removed once the migration ended" bash -c "! compgen -G '$state/acted/$pid-*.json'"

# migrate_to NAME: a new destination and a migration of src to it, held
# at pre-switchover (each failed migration ends its destination QEMU).
migrate_to() {
	mg_qemu_start_incoming "$1" "unix:$MG_TEST_TMP/$1.sock"
	mg_qemu_migrate "$src_qmp" "unix:$MG_TEST_TMP/$1.sock"
	mg_qmp_wait_migration "$src_qmp" 60 pre-switchover
}
mg_guard_stop g2
# A later migration of the same QEMU is a new one: reported again (by a
# guard that only reports, so that the migration stays).
mg_guard_start g4 "$MG_TEST_TMP/g1.conf" --qmp "$(mg_qemu_guard_qmp src)" --pid "$pid" --name src
mg_guard_wait_log g4 10 "direct monitor .* connected"
migrate_to dst2
mg_guard_wait_log g4 20 "incident written to"
mg_wait_for 5 "the guard's record of the second verdict" compgen -G "$state/acted/$pid-*.json"
# It ends while no guard runs: the next guard drops its record when it
# finds no migration running, and reports the migration after it.
kill -KILL "$MG_GUARD_PID_g4"
wait "$MG_GUARD_PID_g4" 2>/dev/null || true
[[ "$(mg_qmp_migration_status "$src_qmp")" == pre-switchover ]] || mg_fail "the second migration was acted on"
mg_qmp_cmd "$src_qmp" '{"execute":"migrate_cancel"}' >/dev/null
mg_qmp_wait_migration "$src_qmp" 20 cancelled
mg_guard_start g3 "$MG_TEST_TMP/g1.conf" --qmp "$(mg_qemu_guard_qmp src)" --pid "$pid" --name src
mg_wait_for 10 "the record of the migration that ended unseen removed" bash -c "! compgen -G '$state/acted/$pid-*.json'"
migrate_to dst3
mg_guard_wait_log g3 20 "migration HUNG"
mg_guard_wait_log g3 10 "incident written to"
grep -q "already reported" "$(mg_guard_log g3)" && mg_fail "a new migration was taken for the one that ended"
n=$(find "$state/incidents" -mindepth 1 -maxdepth 1 ! -name '.*' | wc -l)
((n == 3)) || { ls -a "$state/incidents" >&2; mg_fail "$n incidents, expected 3"; }
mg_guard_stop g3
