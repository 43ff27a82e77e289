#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ (clang, ASan/UBSan) in their
# own build directory, configured once and reused, and runs `make
# fuzz-smoke`: each target for FUZZ_SECONDS from its seed corpus after its
# regression inputs.  Quiet build; prints the executions per target; fails
# on any crash, leak, timeout or UBSan report, naming the reproducer.
#   MG_FUZZ_BUILDDIR=DIR   build directory (default _build-fuzz)
#   FUZZ_SECONDS=N         seconds per target (default 20)
#   FUZZ_JOBS=N            targets at once (default 2)
#   FUZZ_TARGETS="a b"     only these targets (fuzz_qmp, fuzz_guard, ...)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${MG_FUZZ_BUILDDIR:-$src/_build-fuzz}
mkdir -p "$build"
log=$build/fuzz-build.log
: >"$log"
fail() { echo "FAILED: $1; log follows" >&2; sed 's/^/    | /' "$log" >&2; exit 1; }
command -v clang >/dev/null || { echo "scripts/fuzz.sh: clang is missing (scripts/deps.sh installs it)" >&2; exit 1; }
cd "$src"
if [[ ! -x configure || configure.ac -nt configure || Makefile.am -nt configure ]]; then
	./autogen.sh >>"$log" 2>&1 || fail autogen
fi
if [[ ! -f $build/Makefile || configure -nt $build/Makefile ]] || ! grep -q '^FUZZ_LDFLAGS = -fsanitize=fuzzer' "$build/Makefile"; then
	(cd "$build" && CC=clang "$src/configure" --enable-fuzzing >>"$log" 2>&1) || fail configure
fi
make -C "$build" -j"$(nproc)" all >>"$log" 2>&1 || fail make
args=()
[[ -n ${FUZZ_SECONDS:-} ]] && args+=("FUZZ_SECONDS=$FUZZ_SECONDS")
[[ -n ${FUZZ_JOBS:-} ]] && args+=("FUZZ_JOBS=$FUZZ_JOBS")
[[ -n ${FUZZ_TARGETS:-} ]] && args+=("FUZZ_TARGETS=$FUZZ_TARGETS")
exec make -s -C "$build" fuzz-smoke "${args[@]}"
