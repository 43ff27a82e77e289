#!/usr/bin/env bash
# tests/testbed/unstick-tests-by-hand.sh storage unix|tcp [iothread] | channel
# Runs the flow of e2e_unstick_storage_*.sh or e2e_unstick_channel.sh with
# the "unstick" rung done BY HAND (tests/testbed/unstick.py shuts the
# stalled socket right after the hang is confirmed from outside) and the
# guard acting on nothing (MG_UNSTICK_ACTION=none): the guard's unstick
# records and the incident check are stubbed out (logged as STUB).  It
# checks the scenario, the test bed and every assertion that does not read
# the guard's records, independently of the daemon's code.  MG_BUILDDIR
# defaults to the worktree's _b.
set -euo pipefail
MG_SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
: "${MG_BUILDDIR:=$MG_SRCDIR/_b}"
: "${MG_TEST_TMP:=$(mktemp -d /tmp/unstick-by-hand.XXXXXX)}"
export MG_SRCDIR MG_BUILDDIR MG_TEST_TMP MG_UNSTICK_ACTION=none
source "$MG_SRCDIR/tests/lib/e2e.sh"
source "$MG_SRCDIR/tests/lib/unstick.sh"
u=$MG_SRCDIR/tests/testbed/unstick.py
eval "orig_$(declare -f mg_e2e_hang_watch)"
mg_e2e_hang_watch() {
	orig_mg_e2e_hang_watch "$@"
	local pid=$1 fd tb=$MG_TEST_TMP/tb
	if [[ $2 == channel ]]; then fd=$(python3 "$u" mig-fd "$pid")
	elif [[ -s $tb/nbd.port ]]; then fd=$(python3 "$u" nbd-fd "$pid" "tcp:$(cat "$tb/nbd.port")")
	else fd=$(python3 "$u" nbd-fd "$pid" "$(mg_nbd_pid "$tb")"); fi
	mg_log "BY HAND: shutting fd $fd ($(readlink "/proc/$pid/fd/$fd")) of QEMU $pid"
	python3 "$u" shut "$pid" "$fd" >/dev/null
}
eval "orig_$(declare -f mg_guard_wait_log)"
mg_guard_wait_log() {
	[[ $3 == *"action "* || $3 == *HUNG* ]] && { mg_log "STUB: $3"; return 0; }
	orig_mg_guard_wait_log "$@"
}
mg_assert_grep() { mg_log "STUB grep: $1"; }
mg_unstick_check_actions() { mg_log "STUB actions: $2"; }
mg_guard_incident() { echo /nonexistent; }
case ${1:-} in
storage) mg_unstick_storage_test "$2" "${3:-}" ;;
channel) source <(sed -n '/^tb=/,$p' "$MG_SRCDIR/tests/integration/e2e_unstick_channel.sh") ;;
*) echo "usage: $0 storage unix|tcp [iothread] | channel" >&2; exit 2 ;;
esac
