#!/usr/bin/env bash
# The ASan/UBSan/LSan build in CI (issue 10): builds migguard in its own
# directory with `--enable-sanitizers --enable-werror`, runs the unit tests
# and the integration tests that need no two-host test bed (standalone guard,
# QMP, snapshot on real QEMU; daemon start-up, reload and one private libvirtd)
# with the sanitized binaries.  Any sanitizer report fails the run: ASan and
# UBSan halt at the first error (UBSan is built -fno-sanitize-recover too),
# LSan checks every process at exit, and a report in a guard's log fails the
# test even when the test itself passed (tests/lib/migguardd.sh).  Quiet on
# success; every failure prints its log; the last line is
# "sanitize: N passed, N failed".  Expects what scripts/deps.sh installs.
#   MG_SAN_BUILDDIR=DIR      build directory (default _build-san)
#   MG_SAN_CFLAGS="..."      CFLAGS for configure (default autoconf's "-g -O2":
#                            gcc's -Wformat-overflow etc. need the optimizer)
#   MG_SAN_INTEGRATION="a b" integration tests to run (names, no .sh; default
#                            every guard_*, qmp_*, snapshot_* test, daemon_config
#                            and daemon_lifecycle)
#   MG_SAN_SKIP_INTEGRATION=1  unit tests only
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
build=${MG_SAN_BUILDDIR:-$src/_build-san}
cflags=${MG_SAN_CFLAGS:--g -O2}
mkdir -p "$build"
build=$(cd "$build" && pwd)
log=$build/sanitize-build.log
: >"$log"
# Seconds per phase, for CI budgets (not printed: quiet on success).
times=$build/sanitize-times.txt
: >"$times"
t0=$SECONDS
phase() { echo "$1 $((SECONDS - t0))s" >>"$times"; t0=$SECONDS; }

die_with_log() {
	echo "FAILED: $1; log follows" >&2
	sed 's/^/    | /' "$2" >&2
	echo "sanitize: 0 passed, 1 failed"
	exit 1
}

# --- build ------------------------------------------------------------------
if [[ ! -x configure || configure.ac -nt configure || Makefile.am -nt configure ]]; then
	./autogen.sh >>"$log" 2>&1 || die_with_log autogen "$log"
fi
# Reconfigure when configure changed or the flags differ from the last run.
stamp="$build/.sanitize-configure"
want="--enable-sanitizers --enable-werror CFLAGS=$cflags"
if [[ ! -f $build/Makefile || configure -nt $build/Makefile || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
	(cd "$build" && "$src/configure" --enable-sanitizers --enable-werror CFLAGS="$cflags" >>"$log" 2>&1) ||
		die_with_log "configure --enable-sanitizers --enable-werror" "$log"
	echo "$want" >"$stamp"
fi
grep -q '^SANITIZER_CFLAGS = .*-fsanitize=address' "$build/Makefile" ||
	die_with_log "configure did not enable the sanitizers" "$log"
# Two steps: `make all check` in one -j run races on libmgcore.la.
make -C "$build" -j"$(nproc)" all >>"$log" 2>&1 || die_with_log "make (sanitizers, -Werror)" "$log"
make -C "$build" -j"$(nproc)" check TESTS= >>"$log" 2>&1 || die_with_log "make (test programs)" "$log"
phase build

# --- runtime options --------------------------------------------------------
# halt_on_error: the first report ends the process with a non-zero status;
# detect_leaks: LSan at every exit (a Check test's forked child included:
# Check then reports "Early exit with return value 1").  The suppressions
# cover leaks inside third-party libraries only; see the file.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:exitcode=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:abort_on_error=0"
export LSAN_OPTIONS="suppressions=$src/tests/lsan.supp:print_suppressions=0"
# ASan roughly halves the speed: Check's per-test timeouts (4 s unless a
# test sets its own) scale with it, so a slow test is not a hung one.
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-2}
# A report in any process's output; "runtime error:" is UBSan's.
san_re='==[0-9]+==(ERROR|WARNING): [A-Za-z]+Sanitizer|[A-Za-z]+Sanitizer has encountered|: runtime error: |Sanitizer:DEADLYSIGNAL'

# --- unit tests ---------------------------------------------------------------
unit_pass=0 unit_fail=0 unit_status=0
rm -f "$build"/tests/unit/*.log "$build"/tests/unit/*.trs "$build"/test-suite.log
make -C "$build" -j"$(nproc)" check >>"$log" 2>&1 || unit_status=1
for f in "$build"/tests/unit/*.log; do
	[[ -f $f ]] || continue
	checks=0 fails=0 errs=0
	line=$(grep -Eo 'Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$f" | tail -1 || true)
	[[ -z $line ]] || read -r checks fails errs < <(echo "$line" | grep -Eo '[0-9]+' | xargs)
	# A report in a test's forked child is one of Check's errors ("Early
	# exit"); one outside any test is counted here.
	if grep -Eq "$san_re" "$f" && ((fails + errs == 0)); then
		errs=1 checks=$((checks + 1))
	fi
	if grep -q '^FAIL\|^ERROR' "${f%.log}.trs" 2>/dev/null || ((fails + errs)); then
		echo "--- $f" >&2
		cat "$f" >&2
	fi
	unit_pass=$((unit_pass + checks - fails - errs))
	unit_fail=$((unit_fail + fails + errs))
done
if ((unit_status != 0 && unit_fail == 0)); then
	[[ -f $build/test-suite.log ]] || die_with_log "make check" "$log"
	echo "--- $build/test-suite.log" >&2
	cat "$build/test-suite.log" >&2
	unit_fail=1
fi

phase unit

# --- integration tests on real QEMU -------------------------------------------
int_pass=0 int_fail=0
if [[ -z "${MG_SAN_SKIP_INTEGRATION:-}" ]]; then
	tests=()
	if [[ -n "${MG_SAN_INTEGRATION:-}" ]]; then
		for n in $MG_SAN_INTEGRATION; do tests+=("tests/integration/$n.sh"); done
	else
		for t in tests/integration/guard_*.sh tests/integration/qmp_*.sh tests/integration/snapshot_*.sh \
			tests/integration/daemon_config.sh tests/integration/daemon_lifecycle.sh; do
			tests+=("$t")
		done
	fi
	out=$build/sanitize-integration.out
	rm -f "$build"/tests/logs/*.log
	# Failures print their logs on stderr (tests/run-integration.sh); make's
	# own lines and the (no-op) rebuild's go to stdout, kept in $out.
	make -C "$build" check-integration INTEGRATION_TESTS="${tests[*]}" >"$out" 2>"$out.err" || true
	grep -v '^make' "$out.err" >&2 || true
	read -r int_pass int_fail < <(sed -n 's/^integration: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$out" | tail -1) || true
	if [[ -z "${int_pass:-}" ]]; then
		echo "FAILED: make check-integration did not run; output above" >&2
		int_pass=0 int_fail=${#tests[@]}
	fi
	# A report from a process whose status the test ignored (a CLI run with
	# "|| true", a helper) still fails the run.
	for f in "$build"/tests/logs/*.log; do
		[[ -f $f ]] || continue
		grep -Eq "$san_re" "$f" || continue
		grep -q "^FAIL: $(basename "$f" .log) " "$out.err" && continue # already counted, log printed
		echo "FAILED: sanitizer report in $(basename "$f" .log), which passed; log follows" >&2
		sed 's/^/    | /' "$f" >&2
		int_pass=$((int_pass - 1)) int_fail=$((int_fail + 1))
	done
fi

phase integration
echo "sanitize: $((unit_pass + int_pass)) passed, $((unit_fail + int_fail)) failed"
((unit_fail + int_fail == 0))
