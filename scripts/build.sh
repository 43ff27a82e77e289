#!/usr/bin/env bash
# Builds migguard out of tree (default _build) with -Werror; quiet unless it
# fails.  Used by scripts/test.sh and scripts/demo.sh.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${MG_BUILDDIR:-$src/_build}
mkdir -p "$build"
log=$build/build.log
: >"$log"
fail() { echo "FAILED: $1; log follows" >&2; sed 's/^/    | /' "$log" >&2; exit 1; }
cd "$src"
if [[ ! -x configure || configure.ac -nt configure || Makefile.am -nt configure ]]; then
	./autogen.sh >>"$log" 2>&1 || fail autogen
fi
if [[ ! -f $build/Makefile || configure -nt $build/Makefile ]]; then
	(cd "$build" && "$src/configure" --enable-werror >>"$log" 2>&1) || fail configure
fi
make -C "$build" -j"$(nproc)" all >>"$log" 2>&1 || fail make
make -C "$build" -j"$(nproc)" check TESTS= >>"$log" 2>&1 || fail "make (test programs)"
