#!/usr/bin/env bash
# snapshot_deadlock.sh - `migguard snapshot` on the deadlocked target of
# tests/targets/ (DESIGN.md section 1's shape), built with symbols and
# stripped: every thread with its name, the ABBA cycle between
# live_migration and IO iothread4 with exactly their mutex addresses, the
# BQL owner, the known-issue signature (matched / unmatchable), and the
# target's run state after each snapshot (running stays running, a
# SIGSTOPped target stays stopped).
source "$MG_SRCDIR/tests/lib/common.sh"

MG=$MG_BUILDDIR/migguard
SIGS=$MG_SRCDIR/conf/signatures
TARGET=$MG_BUILDDIR/tests/targets/deadlock
STRIPPED=$MG_BUILDDIR/tests/targets/deadlock-stripped
[[ -x $MG && -x $TARGET && -x $STRIPPED ]] || mg_fail "build migguard and the targets first (make check-integration)"

EXPECTED_NAMES=(live_migration vnc_worker call_rcu)
for i in 1 2 3 4; do EXPECTED_NAMES+=("IO iothread$i"); done
for i in 0 1 2 3 4 5 6 7; do EXPECTED_NAMES+=("CPU $i/KVM"); done

# state of every thread of PID, one letter each, sorted and unique
thread_states() {
	local t
	for t in /proc/"$1"/task/*; do
		sed 's/.*) \(.\).*/\1/' "$t/stat"
	done | sort -u | tr -d '\n'
}
# true when every thread of PID is in STATE (a command for mg_wait_for, which
# would otherwise poll one state read once, before the wait)
states_are() { [[ $(thread_states "$1") == "$2" ]]; }

# true once the deadlock is in place: the main thread and both deadlocked
# threads sit in futex(2) and nothing runs
deadlocked() {
	local pid=$1 t
	[[ $(thread_states "$pid") == S ]] || return 1
	[[ $(cut -d' ' -f1 /proc/"$pid"/syscall) == 202 ]] || return 1
	for t in /proc/"$pid"/task/*; do
		case $(cat "$t/comm") in
		live_migration | "IO iothread4") [[ $(cut -d' ' -f1 "$t/syscall") == 202 ]] || return 1 ;;
		esac
	done
}

start_target() {
	local bin=$1 out=$MG_TEST_TMP/$(basename "$1").out
	"$bin" >"$out" 2>&1 &
	TARGET_PID=$!
	mg_on_exit mg_kill_pid "$TARGET_PID"
	mg_wait_for 10 "$bin prints ready" grep -qx ready "$out"
	mg_wait_for 10 "$bin deadlocked" deadlocked "$TARGET_PID"
}

tid_of() { # PID NAME
	local t
	for t in /proc/"$1"/task/*; do
		[[ $(cat "$t/comm") == "$2" ]] && { basename "$t"; return; }
	done
	mg_fail "no thread named $2 in $1"
}

# Address of a global of the symbol build in PID's address space (PIE:
# load base from /proc/PID/maps + st_value from nm); strip keeps the layout.
global_addr() { # PID SYMBOL EXTRA_OFFSET
	local base value exe
	exe=$(readlink /proc/"$1"/exe)
	base=$(awk -v exe="$exe" '$6 == exe && $3 == "00000000" { split($1, a, "-"); print a[1]; exit }' /proc/"$1"/maps)
	value=$(nm "$TARGET" | awk -v s="$2" '$3 == s { print $1 }')
	[[ -n $base && -n $value ]] || mg_fail "cannot locate $2 in $1"
	printf '0x%x\n' $((0x$base + 0x$value + $3))
}

check_snapshot() { # BIN EXPECTED_SIGNATURE_STATUS
	local bin=$1 want=$2 json=$MG_TEST_TMP/$(basename "$1").json txt=$MG_TEST_TMP/$(basename "$1").txt
	local mig iot bql ctx name
	start_target "$bin"
	mig=$(tid_of "$TARGET_PID" live_migration)
	iot=$(tid_of "$TARGET_PID" "IO iothread4")
	bql=$(global_addr "$TARGET_PID" qemu_global_mutex 0)
	# aio_context_lock[3]: sizeof(pthread_mutex_t) is 40 on x86_64
	ctx=$(global_addr "$TARGET_PID" aio_context_lock 120)

	"$MG" snapshot --signatures "$SIGS" --json "$TARGET_PID" >"$json" || mg_fail "snapshot --json failed"
	[[ $(thread_states "$TARGET_PID") == S ]] || mg_fail "target threads in states $(thread_states "$TARGET_PID") after the snapshot"
	"$MG" snapshot --signatures "$SIGS" "$TARGET_PID" >"$txt" || mg_fail "snapshot (text) failed"
	[[ $(thread_states "$TARGET_PID") == S ]] || mg_fail "target not running after the text snapshot"

	for name in "${EXPECTED_NAMES[@]}"; do
		jq -e --arg n "$name" '[.threads[] | select(.name == $n)] | length == 1' "$json" >/dev/null ||
			mg_fail "thread \"$name\" missing from the snapshot"
		grep -qF "\"$name\"):" "$txt" || mg_fail "thread \"$name\" missing from the text"
	done
	jq -e '.threads | length == 16' "$json" >/dev/null || mg_fail "expected 16 threads"
	jq -e '[.threads[] | select((.frames | length) < 3)] | length == 0' "$json" >/dev/null ||
		mg_fail "a thread has fewer than 3 frames"
	jq -e --argjson m "$mig" '.locks.bql_owner == $m' "$json" >/dev/null || mg_fail "BQL owner is not live_migration ($mig)"
	jq -e --arg b "$bql" '.locks.bql == $b' "$json" >/dev/null || mg_fail "BQL is not qemu_global_mutex ($bql)"
	jq -e '.locks.cycles | length == 1' "$json" >/dev/null || mg_fail "expected exactly one cycle"
	jq -e --argjson m "$mig" --argjson i "$iot" '.locks.cycles[0].threads == [$m, $i]' "$json" >/dev/null ||
		mg_fail "cycle is not live_migration ($mig) -> IO iothread4 ($iot)"
	jq -e --arg b "$bql" --arg c "$ctx" '.locks.cycles[0].waits_for == [$c, $b]' "$json" >/dev/null ||
		mg_fail "cycle addresses are not [$ctx, $bql]"
	mg_assert_grep "^deadlock: live_migration \($mig\) holds the BQL and waits for mutex $ctx held by IO iothread4 \($iot\), which waits for the BQL\$" "$txt"
	# CPU threads wait on their condvars, not on a mutex
	jq -e '[.threads[] | select(.name | startswith("CPU ")) | .wait] | unique == ["condvar"]' "$json" >/dev/null ||
		mg_fail "CPU threads not classified as condvar waits"
	jq -e --arg s "$want" '.signatures[] | select(.id == "qemu-bfa36802d170") | .status == $s' "$json" >/dev/null ||
		mg_fail "signature qemu-bfa36802d170 is not \"$want\""
	if [[ $want == match ]]; then
		mg_assert_grep '^known issue \[qemu-bfa36802d170\]' "$txt"
		jq -e '[.threads[] | select(.name == "live_migration") | .frames[].symbol] | index("vm_stop") != null' "$json" >/dev/null ||
			mg_fail "vm_stop not on live_migration's stack"
	else
		mg_assert_grep '^signature \[qemu-bfa36802d170\] unmatchable: .*have no symbol' "$txt"
	fi
	jq -e '.stopped_us > 0 and .stopped_us < 1000000 and .partial == false' "$json" >/dev/null ||
		mg_fail "bad stopped_us or partial snapshot: $(jq -c '{stopped_us, partial, notes}' "$json")"

	# A stopped target stays stopped, and is still fully captured.
	kill -STOP "$TARGET_PID"
	mg_wait_for 5 "target stopped" states_are "$TARGET_PID" T
	"$MG" snapshot --signatures "$SIGS" --json "$TARGET_PID" >"$json.stopped" || mg_fail "snapshot of a stopped target failed"
	[[ $(thread_states "$TARGET_PID") == T ]] || mg_fail "a SIGSTOPped target was resumed (states $(thread_states "$TARGET_PID"))"
	jq -e --argjson m "$mig" '.was_stopped and .locks.bql_owner == $m and (.locks.cycles | length == 1)' "$json.stopped" >/dev/null ||
		mg_fail "snapshot of the stopped target is incomplete"
	kill -CONT "$TARGET_PID"
	mg_wait_for 5 "target resumed" states_are "$TARGET_PID" S
	mg_kill_pid "$TARGET_PID"
	mg_log "$(basename "$bin"): ok, target stopped $(jq .stopped_us "$json") us, wall $(jq .wall_us "$json") us"
}

check_snapshot "$TARGET" match
check_snapshot "$STRIPPED" unmatchable

# Errors: no such process; --output writes the report files.
if "$MG" snapshot 999999999 2>"$MG_TEST_TMP/err"; then mg_fail "snapshot of a missing pid succeeded"; fi
mg_assert_grep 'does not exist' "$MG_TEST_TMP/err"
start_target "$TARGET"
"$MG" snapshot --signatures "$SIGS" --output "$MG_TEST_TMP/out" "$TARGET_PID" >"$MG_TEST_TMP/summary" ||
	mg_fail "snapshot --output failed"
jq -e '.schema_version == 1' "$MG_TEST_TMP/out/report.json" >/dev/null || mg_fail "report.json unreadable"
mg_assert_grep '^Thread 1 \(Thread 0x[0-9a-f]+ \(LWP [0-9]+\) "deadlock"\):' "$MG_TEST_TMP/out/stacks.txt"
mg_assert_grep '^deadlock: live_migration' "$MG_TEST_TMP/summary"

# --domain: the pid comes from libvirt's status XML, libvirt is not called.
mkdir -p "$MG_TEST_TMP/run"
sed "s/@PID@/$TARGET_PID/" "$MG_SRCDIR/tests/data/snapshot/domstatus.xml.in" >"$MG_TEST_TMP/run/guest1.xml"
"$MG" snapshot --signatures "$SIGS" --json --domain guest1 --libvirt-run-dir "$MG_TEST_TMP/run" >"$MG_TEST_TMP/dom.json" ||
	mg_fail "snapshot --domain failed"
jq -e --argjson p "$TARGET_PID" '.pid == $p and (.locks.cycles | length) == 1' "$MG_TEST_TMP/dom.json" >/dev/null ||
	mg_fail "snapshot --domain did not snapshot pid $TARGET_PID"
if "$MG" snapshot --domain nosuch --libvirt-run-dir "$MG_TEST_TMP/run" 2>"$MG_TEST_TMP/err"; then
	mg_fail "snapshot of a missing domain succeeded"
fi
mg_assert_grep 'domain nosuch' "$MG_TEST_TMP/err"
