# The state directory is full (a small tmpfs, filled) when a migration
# hangs (QEMU held at pre-switchover): the incident cannot be written, so
# its evidence (summary, lock facts, I/O-wait chains) goes to the log as
# structured fields at once, the guard still acts (cancel), and once space
# returns the incident is written after all, with the steps taken
# meanwhile appended in order.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

state=$MG_TEST_TMP/state
mkdir -p "$state"
mount -t tmpfs -o size=256k,mode=0700 mg-full "$state" || mg_fail "cannot mount a tmpfs on $state"
mg_on_exit "umount -l '$state'"
dd if=/dev/zero of="$state/fill" bs=4k 2>/dev/null && mg_fail "the tmpfs did not fill"
echo x >"$state/probe" 2>/dev/null && mg_fail "the tmpfs is not full"

uri="unix:$MG_TEST_TMP/mig.sock"
mg_qemu_start src
mg_qemu_start_incoming dst "$uri"
src_qmp=$(mg_qemu_qmp src)
conf=$MG_TEST_TMP/g.conf
mg_guard_conf "$conf" "daemon.state_dir=$state" "guard.probe_interval=500ms" \
	"guard.monitor_timeout=1s" "guard.finish_timeout=3s" "guard.action=cancel"
mg_guard_start g "$conf" --qmp "$(mg_qemu_guard_qmp src)" --pid "$(mg_qemu_pid src)" --name src
mg_guard_wait_log g 10 "direct monitor .* connected"
mg_qmp_cmd "$src_qmp" '{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"pause-before-switchover","state":true},{"capability":"events","state":true}]}}' >/dev/null
mg_qemu_migrate "$src_qmp" "$uri"
mg_qmp_wait_migration "$src_qmp" 60 pre-switchover

mg_guard_wait_log g 15 "migration HUNG"
mg_guard_wait_log g 10 "incident cannot be written"
log=$(mg_guard_log g)
# The entry, with its multi-line fields, up to the next log line.
line=$(awk '/incident cannot be written/ { on = 1 } on && /^migguardd\[/ && !/incident cannot be written/ { exit } on' "$log")
[[ $line == *"No space left on device"* ]] || mg_fail "the journal entry does not say why: $line"
[[ $line == *'summary="The outgoing migration of src'*'is hung'* ]] || mg_fail "no summary field: $line"
[[ $line == *' locks={'*'"bql_owner"'* ]] || mg_fail "no lock facts field: $line"
[[ $line == *' io_waits='*'"tid"'* ]] || mg_fail "no I/O-wait chains field: $line"
# The guard acts without waiting for the disk.
mg_guard_wait_log g 15 "action cancel-check: ok"
[[ -z "$(find "$state" -name report.json)" ]] || mg_fail "an incident was written on a full disk?"

# Space returns: the next attempt writes it.
rm -f "$state/fill"
mg_guard_wait_log g 30 "incident written to .* after the state directory could be written again"
inc=$(mg_guard_incident g src)
[[ -d $inc ]] || mg_fail "no incident directory $inc"
mg_wait_for 10 "both steps in the incident" python3 -c '
import json, sys
steps = [(a["step"], a["result"]) for a in json.load(open(sys.argv[1]))["actions"]]
assert steps == [("cancel", "ok"), ("cancel-check", "ok")], steps
' "$inc/report.json"
python3 - "$inc/report.json" <<'PY' || mg_fail "the late incident lacks its evidence"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["verdict"] == "hung" and "is hung" in r["summary"], r
PY
mg_guard_stop g
