#!/usr/bin/env bash
# cli_status_ties_pid_to_daemon.sh - `migguard status` says "running" only
# when status.json's pid is still the migguardd that wrote it: a real
# migguardd is running (exit 0); a file naming a live pid that is another
# process (a reused pid, with or without the daemon's start time) is stale
# (exit 3); an unprivileged user is told "permission denied" (exit 77), not
# "not running"; a malformed file or member is named (exit 65); text from
# the file reaches the terminal escaped.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

MG=$MG_BUILDDIR/migguard
out=$MG_TEST_TMP/status.out err=$MG_TEST_TMP/status.err

# status DIR WANT [USER]: runs `migguard status` (as USER), wants exit WANT.
status() {
	local dir=$1 want=$2 rc=0
	local -a as=()
	[[ -z ${3:-} ]] || as=(setpriv --reuid="$3" --regid="$(id -g "$3")" --clear-groups)
	"${as[@]}" timeout 10 "$MG" status --state-dir "$dir" >"$out" 2>"$err" || rc=$?
	cat "$out" "$err" >&2
	((rc == want)) || mg_fail "status of $dir${3:+ as $3} exited $rc, not $want"
	! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$out" "$err" || mg_fail "status printed a raw control byte"
}

# --- a real daemon ------------------------------------------------------
# libvirt's in-process test driver: no libvirtd needed, the daemon runs
# and keeps its status file up to date.
conf=$MG_TEST_TMP/migguard.conf
mg_guard_conf "$conf" "daemon.uri=test:///default" "daemon.state_dir=$MG_TEST_TMP/state"
mg_guard_start g "$conf"
mg_wait_for 10 "status.json written" test -s "$MG_TEST_TMP/state/status.json"
status "$MG_TEST_TMP/state" 0
mg_assert_grep "^migguardd .* \(pid $MG_GUARD_PID_g\) running since " "$out"
daemon_start=$(jq -e .start_time "$MG_TEST_TMP/state/status.json") || mg_fail "status.json has no start_time"
[[ $daemon_start == "$(awk '{ sub(/.*\) /, ""); print $20 }' /proc/"$MG_GUARD_PID_g"/stat)" ]] ||
	mg_fail "status.json's start_time is not the daemon's"

# An unprivileged user cannot read the 0600 file: not "not running".
status "$MG_TEST_TMP/state" 77 nobody
mg_assert_grep 'permission denied' "$err"
! grep -q 'not running' "$out" "$err" || mg_fail "told an unprivileged user the daemon is not running"

# --- a reused pid --------------------------------------------------------
sleep 600 &
other=$!
mg_on_exit mg_kill_pid "$other"
mkdir -p "$MG_TEST_TMP/stale"
stale() { jq "$1" "$MG_TEST_TMP/state/status.json" >"$MG_TEST_TMP/stale/status.json"; }
migration='[{"domain":"vm1","direction":"outgoing","phase":"hung","pid":4242,"phase_since":"2026-11-30T00:00:00.000Z","detail":"stale"}]'
# The daemon's file, its pid now naming a `sleep`.
stale ".pid = $other | .migrations = $migration"
status "$MG_TEST_TMP/stale" 3
mg_assert_grep "^migguardd \(pid $other\) is not running, pid $other is now sleep: " "$out"
! grep -q vm1 "$out" || mg_fail "a stale migration was shown as watched"
# A file from an older daemon (no start_time): the process name decides.
stale "del(.start_time) | del(.boot_id) | .pid = $other | .migrations = $migration"
status "$MG_TEST_TMP/stale" 3
stale "del(.start_time) | del(.boot_id)"
status "$MG_TEST_TMP/stale" 0
# From an earlier boot, even with the same pid and start time.
stale '.boot_id = "00000000-0000-0000-0000-000000000000"'
status "$MG_TEST_TMP/stale" 3
mg_assert_grep 'from an earlier boot' "$out"

# --- malformed members, control bytes -----------------------------------
stale '.migrations = {}'
status "$MG_TEST_TMP/stale" 65
mg_assert_grep '^migguardd .* running since ' "$out"
mg_assert_grep 'malformed: "migrations" is object, not an array$' "$err"
stale '.migrations = [null, {"domain": 5, "pid": "x"}]'
status "$MG_TEST_TMP/stale" 65
mg_assert_grep 'malformed: "migrations\[0\]" is null, not an object$' "$err"
stale '.pid = "x"'
status "$MG_TEST_TMP/stale" 65
mg_assert_grep 'malformed: "pid" is string, not an integer$' "$err"
printf '[1]' >"$MG_TEST_TMP/stale/status.json"
status "$MG_TEST_TMP/stale" 65
stale '.daemon = "conn\u001b]0;x\u0007" | .migrations = [{"domain":"d\u001b[2J","direction":"outgoing","phase":"active","pid":1,"detail":"\u009b"}]'
status "$MG_TEST_TMP/stale" 0
mg_assert_grep '^  conn\\x1b\]0;x\\x07$' "$out"
mg_assert_grep '^  d\\x1b\[2J +outgoing +active +\? +1  \\xc2\\x9b$' "$out"

# --- no file ------------------------------------------------------------
mg_guard_stop g
status "$MG_TEST_TMP/state" 3
mg_assert_grep '^migguardd is not running \(no ' "$out"
