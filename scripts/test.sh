#!/usr/bin/env bash
# The whole test suite, from a fresh clone on Debian 12 as root: installs what
# is missing, builds with -Werror, runs the unit tests, the integration tests
# on real QEMU and libvirt, and `make distcheck`.  Quiet on success; every
# failure prints its log.
#   MG_BUILDDIR=DIR        build directory (default _build)
#   MG_SKIP_DISTCHECK=1    skip the distcheck step (for quick local runs)
#   MG_INTEGRATION="a b"   run only these integration tests (names, no .sh)
#   MIGGUARD_TEST_ACCEL=tcg  force TCG even when /dev/kvm opens
#   MG_SKIP_SANITIZE=1     skip the ASan/UBSan build (scripts/sanitize.sh)
#   MG_SKIP_FUZZ=1         skip the fuzz smoke (scripts/fuzz.sh); FUZZ_SECONDS=N per target
#   MG_SEED_BUILD=0        do not build the seeded QEMU (scripts/seeded-qemu.sh)
#                          when it is missing: the tests that need it skip
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
build=${MG_BUILDDIR:-$src/_build}
log=$build/test-build.log

step() { printf '== %s\n' "$*"; }
die_with_log() { echo "FAILED: $1; log follows" >&2; sed 's/^/    | /' "$2" >&2; exit 1; }

step "dependencies"
"$src/scripts/deps.sh"

step "build"
mkdir -p "$build"
: >"$log"
MG_BUILDDIR=$build "$src/scripts/build.sh"

step "unit tests"
if ! make -C "$build" -j"$(nproc)" check >>"$log" 2>&1; then
	for f in "$build"/tests/unit/*.log; do
		grep -q '^FAIL\|^ERROR' "${f%.log}.trs" 2>/dev/null && { echo "--- $f" >&2; cat "$f" >&2; }
	done
	die_with_log "make check" "$build/test-suite.log"
fi
unit_pass=0 unit_fail=0
for f in "$build"/tests/unit/*.log; do
	[[ -f $f ]] || continue
	line=$(grep -Eo 'Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$f" | tail -1 || true)
	[[ -n $line ]] || continue
	read -r checks fails errs < <(echo "$line" | grep -Eo '[0-9]+' | xargs)
	unit_pass=$((unit_pass + checks - fails - errs))
	unit_fail=$((unit_fail + fails + errs))
done
echo "unit: $unit_pass passed, $unit_fail failed"

# The seeded QEMU (Debian's QEMU with the seed's deadlock put back) for the
# integration tests of the seed: built once (about 4 min on 2 cores, cached
# under /var/cache/migguard), reused silently afterwards.  Only when the
# selected tests include one of them.
if [[ ${MG_SEED_BUILD:-1} != 0 && ( -z "${MG_INTEGRATION:-}" || "${MG_INTEGRATION}" == *seed* ) ]] &&
	! "$src/scripts/seeded-qemu.sh" --check >/dev/null 2>&1; then
	step "seeded QEMU (one-time build)"
	t0=$SECONDS
	"$src/scripts/seeded-qemu.sh" >"$build/seeded-qemu.out" 2>&1 || die_with_log "scripts/seeded-qemu.sh" "$build/seeded-qemu.out"
	echo "seeded QEMU: built in $((SECONDS - t0)) s: $(tail -n 1 "$build/seeded-qemu.out")"
fi

# The hypervisor bed's base rootfs (tests/hvbed/base.sh: debootstrap of
# Debian 12 with systemd, libvirt and QEMU): built once (about 80 s, cached
# under /var/cache/migguard), reused silently afterwards.
if [[ -z "${MG_INTEGRATION:-}" || "${MG_INTEGRATION}" == *hvbed* ]] &&
	! "$src/tests/hvbed/base.sh" --check >/dev/null 2>&1; then
	step "hypervisor bed base rootfs (one-time build)"
	t0=$SECONDS
	"$src/tests/hvbed/base.sh" >"$build/hvbed-base.out" 2>&1 || die_with_log "tests/hvbed/base.sh" "$build/hvbed-base.out"
	echo "hypervisor bed base: built in $((SECONDS - t0)) s"
fi

# The Debian packages, built once from this tree for the tests that
# install them in the hypervisor bed (the unit tests ran above: nocheck).
if [[ -z "${MG_INTEGRATION:-}" || "${MG_INTEGRATION}" == *hvbed* ]]; then
	step "Debian packages (scripts/build-deb.sh)"
	rm -rf "$build/deb"
	DEB_BUILD_OPTIONS=nocheck "$src/scripts/build-deb.sh" "$build/deb" >"$build/build-deb.out" 2>&1 ||
		die_with_log "scripts/build-deb.sh" "$build/build-deb.out"
	export MG_DEB_DIR=$build/deb
fi

step "integration tests (real QEMU and libvirt)"
int_status=0
if [[ -n "${MG_INTEGRATION:-}" ]]; then
	tests=()
	for n in $MG_INTEGRATION; do tests+=("tests/integration/$n.sh"); done
	make -C "$build" check-integration INTEGRATION_TESTS="${tests[*]}" 2>&1 | tee "$build/integration.out" | grep -v '^make' || int_status=1
else
	make -C "$build" check-integration 2>&1 | tee "$build/integration.out" | grep -v '^make' || int_status=1
fi
grep -q '^integration: .* 0 failed$' "$build/integration.out" || int_status=1
read -r int_pass int_fail < <(sed -n 's/^integration: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$build/integration.out" | tail -1)
: "${int_pass:=0}" "${int_fail:=1}"

san_pass=0 san_fail=0
if [[ -z "${MG_SKIP_SANITIZE:-}" ]]; then
	step "sanitizers (ASan/UBSan/LSan build: unit tests, standalone guard tests)"
	"$src/scripts/sanitize.sh" 2>&1 | tee "$build/sanitize.out" || int_status=1
	read -r san_pass san_fail < <(sed -n 's/^sanitize: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$build/sanitize.out" | tail -1) || true
	: "${san_pass:=0}" "${san_fail:=1}"
	((san_fail == 0)) || int_status=1
fi

fuzz_pass=0 fuzz_fail=0
if [[ -z "${MG_SKIP_FUZZ:-}" ]]; then
	step "fuzz smoke (libFuzzer, ${FUZZ_SECONDS:-20} s per target)"
	if "$src/scripts/fuzz.sh" >"$build/fuzz.out" 2>&1; then
		fuzz_pass=$(grep -Ec '^fuzz_[a-z_]+: [0-9]+ executions' "$build/fuzz.out" || true)
		grep -E '^fuzz' "$build/fuzz.out" || true
	else
		cat "$build/fuzz.out" >&2
		fuzz_fail=1 int_status=1
	fi
fi

if [[ -z "${MG_SKIP_DISTCHECK:-}" && $int_status == 0 ]]; then
	step "distcheck"
	make -C "$build" distcheck >>"$log" 2>&1 || die_with_log "make distcheck" "$log"
fi

echo "tests: $((unit_pass + int_pass + san_pass + fuzz_pass)) passed, $((unit_fail + int_fail + san_fail + fuzz_fail)) failed"
exit $int_status
