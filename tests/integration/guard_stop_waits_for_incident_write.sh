# SIGTERM while the incident is still being written: the files are written
# off the loop, so a stop right after the verdict would cut the write and
# leave only a temporary directory.  The disk is made slow for real: strace
# delays every fsync of the running guard by 400 ms (an incident syncs each
# of its files), so the write is surely in flight when the signal comes.
# The guard must wait for it (boundedly), then exit 0 with the incident
# whole and no temporary directory left.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

command -v strace >/dev/null || mg_fail "strace is missing (scripts/deps.sh installs it)"
uri="unix:$MG_TEST_TMP/mig.sock"
mg_qemu_start src
mg_qemu_start_incoming dst "$uri"
src_qmp=$(mg_qemu_qmp src)
pid=$(mg_qemu_pid src)
state=$MG_TEST_TMP/state
conf=$MG_TEST_TMP/g.conf
mg_guard_conf "$conf" "daemon.state_dir=$state" "guard.probe_interval=500ms" \
	"guard.monitor_timeout=1s" "guard.finish_timeout=2s"
# LeakSanitizer cannot run under ptrace (strace): in the sanitizer build
# (scripts/sanitize.sh) this guard is checked by ASan and UBSan only.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	mg_guard_start g "$conf" --qmp "$(mg_qemu_guard_qmp src)" --pid "$pid" --name src
gpid=$MG_GUARD_PID_g
mg_guard_wait_log g 10 "direct monitor .* connected"

strace -f -qq -o /dev/null -e trace=fsync,fdatasync \
	-e inject=fsync:delay_enter=400000 -e inject=fdatasync:delay_enter=400000 -p "$gpid" &
spid=$!
mg_on_exit "mg_kill_pid $spid"
mg_wait_for 10 "strace attached to migguardd" grep -q "^TracerPid:[[:space:]]*$spid\$" "/proc/$gpid/status"

mg_qmp_cmd "$src_qmp" '{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"pause-before-switchover","state":true}]}}' >/dev/null
mg_qemu_migrate "$src_qmp" "$uri"
mg_qmp_wait_migration "$src_qmp" 60 pre-switchover
mg_guard_wait_log g 20 "migration HUNG"
kill -TERM "$gpid"
mg_guard_wait_log g 5 "waiting up to 5 s for [0-9]+ incident write"
mg_wait_for 15 "the guard to stop" bash -c "! kill -0 $gpid"
rc=0; wait "$gpid" || rc=$?
((rc == 0)) || mg_fail "migguardd exited $rc"

log=$(mg_guard_log g)
grep -q "incident write(s) unfinished" "$log" && mg_fail "the guard stopped before the incident was written"
inc=$(mg_guard_incident g src)
[[ -n $inc && -d $inc ]] || mg_fail "no incident written before the stop"
python3 - "$inc/report.json" <<'PY' || mg_fail "the incident is not whole"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["verdict"] == "hung", r["verdict"]
assert not r.get("partial"), "partial"
PY
[[ -s $inc/stacks.txt ]] || mg_fail "stacks.txt missing or empty"
left=$(find "$state/incidents" -maxdepth 1 -name '.tmp-*' | wc -l)
((left == 0)) || mg_fail "$left temporary incident directories left"
