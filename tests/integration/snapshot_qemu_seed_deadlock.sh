#!/usr/bin/env bash
# timeout: 1500
# snapshot_qemu_seed_deadlock.sh - `migguard snapshot` on the seed's own
# deadlock (DESIGN.md section 1) on a real QEMU: the seeded QEMU of
# scripts/seeded-qemu.sh (QEMU 8.2's virtio-blk dataplane-stop ordering put
# back), a busy Linux guest under TCG on an IOThread disk behind nbdkit's
# delay filter, migrated over a unix socket, no libvirt
# (tests/lib/qemu_seed.sh).  Up to MG_SEED_ATTEMPTS (5) migrations until
# one deadlocks, decided from outside migguard (live_migration and
# IO iothread1 blocked in futex without running, query-status unanswered);
# if none does, the test FAILS: the scenario did not happen.  Done twice:
# on the binary with DWARF and on its stripped copy (symbol table only).
#
# On each hung source: text and --json snapshots; the lock cycle between
# live_migration (holds the BQL, waits for the mutex IO iothread1 holds)
# and IO iothread1 (waits for the BQL) is named with both threads; both
# stacks show the production path; signature qemu-bfa36802d170 matches;
# with DWARF, prepare_mmio_access appears as an inline frame ("inlined":
# true); stripped, no QEMU frame is inlined.  QEMU is not left stopped.  Every
# assertion is checked and the failing ones are listed together.
#
# Skipped (exit 77) only when the seeded QEMU is not built and
# MG_SEED_BUILD=0; otherwise scripts/seeded-qemu.sh builds it (once, about
# 4 min on 2 cores: hence the timeout above; a run on a built QEMU takes
# 30-60 s).  MG_SEED_OPT=-O3 runs it on an independent build of the same
# source with other flags.  MG_SEED_SAVE_DIR=DIR keeps the snapshots of
# both hung runs there, with `eu-stack -i` and gdb's `thread apply all bt` of each hung
# source (references for signature unit tests).
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"
source "$MG_SRCDIR/tests/lib/guest.sh"
source "$MG_SRCDIR/tests/lib/qemu_seed.sh"

MG=$MG_BUILDDIR/migguard
SIGS=$MG_SRCDIR/conf/signatures
SIG=qemu-bfa36802d170
[[ -x $MG ]] || mg_fail "$MG not built"
command -v nbdkit >/dev/null || mg_fail "nbdkit is not installed (scripts/testbed-deps.sh)"
[[ -n ${MG_SEED_QEMU:-} ]] || { mg_seeded_qemu_dir >/dev/null || exit $?; }
mg_guest_build >/dev/null
max=${MG_SEED_ATTEMPTS:-5}
save=${MG_SEED_SAVE_DIR:-}
[[ -z $save ]] || mkdir -p "$save"

PASSED=() FAILED=()
# check DESCRIPTION COMMAND...: records whether COMMAND succeeds.
check() {
	local what=$1; shift
	if "$@" >/dev/null 2>&1; then PASSED+=("$what"); else FAILED+=("$what"); fi
}
# jqt MODE FILTER [jq ARGS...]: true when FILTER holds on MODE's JSON snapshot.
jqt() { local m=$1 f=$2; shift 2; jq -e "$@" "$f" "$MG_TEST_TMP/$m.json"; }
# has_frame MODE TID REGEX [inlined]: a frame of thread TID whose symbol
# matches ^REGEX$ (and, with "inlined", that is marked inlined).
has_frame() {
	local m=$1 tid=$2 re=$3 sel='true'
	[[ ${4:-} == inlined ]] && sel='.inlined == true'
	jqt "$m" '[.threads[] | select(.tid == $t) | .frames[] | select((.symbol // "") | test($re)) | select('"$sel"')] | length > 0' \
		--argjson t "$tid" --arg re "^($re)$"
}

# run_until_hang MODE BINARY: attempts until one hangs (at most $max); sets
# HUNG_TAG, and ATTEMPTS_<MODE> to "k hung of n".
run_until_hang() {
	local mode=$1 bin=$2 n tag hung=0
	HUNG_TAG=
	for ((n = 1; n <= max; n++)); do
		tag=${mode:0:1}$n
		mg_seed_attempt "$tag" "$bin"
		mg_log "$mode attempt $n: $MG_SEED_RESULT (guest writing after ${MG_SEED_BOOT_S} s, attempt ${MG_SEED_ATTEMPT_S} s): $MG_SEED_DETAIL"
		case $MG_SEED_RESULT in
		hung) hung=1; HUNG_TAG=$tag; break ;;
		completed | failed) mg_seed_teardown "$tag" ;;
		*)
			mg_log "--- threads of ${tag}src ---"
			mg_seed_threads "$MG_SEED_SRC_PID" >&2 || true
			tail -n 20 "$MG_TEST_TMP/${tag}src.log" >&2 || true
			mg_seed_teardown "$tag"
			;;
		esac
	done
	((n <= max)) || n=$max
	printf -v "ATTEMPTS_$mode" '%s' "$hung of $n"
	((hung))
}

# snapshot_and_check MODE: snapshots of the hung source of the last
# attempt and the assertions on them.
snapshot_and_check() {
	local m=$1 pid=$MG_SEED_SRC_PID mig=$MG_SEED_MIG_TID io=$MG_SEED_IO_TID t s rc
	rc=0
	"$MG" snapshot --signatures "$SIGS" --json "$pid" >"$MG_TEST_TMP/$m.json" 2>"$MG_TEST_TMP/$m.json.err" || rc=$?
	check "$m: snapshot --json exits 0 (rc $rc)" test "$rc" = 0
	rc=0
	"$MG" snapshot --signatures "$SIGS" "$pid" >"$MG_TEST_TMP/$m.txt" 2>"$MG_TEST_TMP/$m.txt.err" || rc=$?
	check "$m: snapshot (text) exits 0 (rc $rc)" test "$rc" = 0
	mg_log "$m snapshot summary:"
	sed -n '/^Summary:/,$p' "$MG_TEST_TMP/$m.txt" >&2
	if [[ -n $save ]]; then
		cp "$MG_TEST_TMP/$m.json" "$save/seed-$m.json"
		cp "$MG_TEST_TMP/$m.txt" "$save/seed-$m.txt"
		cp "$MG_TEST_TMP/${HUNG_TAG}src.threads" "$save/seed-$m.threads"
	fi

	for t in /proc/"$pid"/task/*; do
		s=$(sed 's/.*) \(.\).*/\1/' "$t/stat")
		[[ $s != T && $s != t ]] || { FAILED+=("$m: QEMU thread ${t##*/} left in state $s"); break; }
	done
	check "$m: thread IO iothread1 ($io) named in the snapshot" \
		jqt "$m" '[.threads[] | select(.tid == $t and .name == "IO iothread1")] | length == 1' --argjson t "$io"
	check "$m: BQL owner is live_migration ($mig)" jqt "$m" '.locks.bql_owner == $t' --argjson t "$mig"
	check "$m: IO iothread1 waits for the BQL held by live_migration" \
		jqt "$m" '.locks as $l | [$l.edges[] | select(.waiter == $io and .addr == $l.bql and .owner == $mig)] | length == 1' \
		--argjson io "$io" --argjson mig "$mig"
	check "$m: live_migration waits for a mutex (not the BQL) held by IO iothread1" \
		jqt "$m" '.locks as $l | [$l.edges[] | select(.waiter == $mig and .owner == $io and .addr != $l.bql)] | length == 1' \
		--argjson io "$io" --argjson mig "$mig"
	check "$m: one lock cycle of exactly live_migration and IO iothread1" \
		jqt "$m" '[.locks.cycles[] | select((.threads | sort) == ([$io, $mig] | sort))] | length == 1' \
		--argjson io "$io" --argjson mig "$mig"
	check "$m: the text names the cycle (deadlock: live_migration ($mig) holds ... held by IO iothread1 ($io), which waits for ...)" \
		grep -Eq "^deadlock: live_migration \($mig\) holds the BQL and waits for mutex 0x[0-9a-f]+ held by IO iothread1 \($io\), which waits for the BQL$" "$MG_TEST_TMP/$m.txt"
	check "$m: BQL line names live_migration ($mig) as holder" \
		grep -Eq "^BQL: 0x[0-9a-f]+ \(.*\), held by live_migration \($mig\)" "$MG_TEST_TMP/$m.txt"
	for fn in vm_stop vm_state_notify virtio_blk_data_plane_stop blk_drain 'bdrv_do_drained_begin(\.part\.[0-9]+)?'; do
		check "$m: live_migration's stack has $fn" has_frame "$m" "$mig" "$fn"
	done
	for fn in virtio_blk_rw_complete address_space_stl_le; do
		check "$m: IO iothread1's stack has $fn" has_frame "$m" "$io" "$fn"
	done
	if [[ $m == dwarf ]]; then
		check "dwarf: IO iothread1's stack has prepare_mmio_access as an inline frame (\"inlined\": true)" \
			has_frame "$m" "$io" prepare_mmio_access inlined
		check "dwarf: the text shows prepare_mmio_access" grep -q ' in prepare_mmio_access ' "$MG_TEST_TMP/$m.txt"
	else
		# (libc's frames may have DWARF from its separate debug file.)
		check "stripped: no inline frame in QEMU without its DWARF" \
			jqt "$m" '[.threads[].frames[] | select(.inlined == true and .module == $b)] | length == 0' --arg b "$stripped"
	fi
	check "$m: signature $SIG matches (JSON status \"match\")" \
		jqt "$m" '[.signatures[] | select(.id == $s and .status == "match")] | length == 1' --arg s "$SIG"
	check "$m: the text names the known issue [$SIG]" grep -q "^known issue \[$SIG\]" "$MG_TEST_TMP/$m.txt"
	mg_log "$m: target stopped $(jq .stopped_us "$MG_TEST_TMP/$m.json" 2>/dev/null) us, snapshot wall $(jq .wall_us "$MG_TEST_TMP/$m.json" 2>/dev/null) us"

	# What eu-stack and gdb name on the same hang (after migguard, which
	# must see the hang undisturbed).
	if [[ -n $save ]]; then
		if command -v eu-stack >/dev/null; then
			timeout 60 eu-stack -i -p "$pid" >"$save/seed-$m.eu-stack.txt" 2>&1 || true
		fi
		if command -v gdb >/dev/null; then
			timeout 120 gdb -nx -batch -p "$pid" -ex 'thread apply all bt' \
				-ex 'p qemu_global_mutex' >"$save/seed-$m.gdb.txt" 2>&1 </dev/null || true
		fi
	fi
}

no_hang=()
dwarf=$(mg_seed_binary dwarf)
stripped=$(mg_seed_binary stripped)
for mode in dwarf stripped; do
	[[ $mode == dwarf ]] && bin=$dwarf || bin=$stripped
	if run_until_hang "$mode" "$bin"; then
		snapshot_and_check "$mode"
		mg_seed_teardown "$HUNG_TAG"
	else
		no_hang+=("$mode")
		FAILED+=("$mode: the scenario did not happen: no migration deadlocked in $max attempts")
	fi
done
[[ -z $save ]] || { ls "$(dirname "$dwarf")"/build-info >/dev/null 2>&1 && cp "$(dirname "$dwarf")/build-info" "$save/seed-build-info"; } || true

mg_log "hangs: dwarf ${ATTEMPTS_dwarf:-0 of 0}, stripped ${ATTEMPTS_stripped:-0 of 0}"
mg_log "${#PASSED[@]} assertions passed, ${#FAILED[@]} failed"
if ((${#FAILED[@]})); then
	for f in "${PASSED[@]}"; do mg_log "  ok:   $f"; done
	for f in "${FAILED[@]}"; do mg_log "  FAIL: $f"; done
	for m in dwarf stripped; do
		[[ -f $MG_TEST_TMP/$m.txt ]] || continue
		mg_log "--- $m snapshot (text) ---"
		cat "$MG_TEST_TMP/$m.txt" "$MG_TEST_TMP/$m.txt.err" >&2
	done
	mg_fail "${#FAILED[@]} assertion(s) failed on the seed's deadlock"
fi
