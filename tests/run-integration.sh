#!/usr/bin/env bash
# Runs integration tests one by one: one line each, the full log of any
# failure on stderr, and a closing "N passed, N failed" line.
set -u
: "${MG_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${MG_BUILDDIR:=$PWD}"
export MG_SRCDIR MG_BUILDDIR
logdir=$MG_BUILDDIR/tests/logs
mkdir -p "$logdir"
pass=0 fail=0 failed=()
per_test_timeout=${MG_TEST_TIMEOUT:-300}
for t in "$@"; do
	name=$(basename "$t" .sh)
	log=$logdir/$name.log
	tmp=$(mktemp -d "/tmp/mg-$name.XXXXXX")
	start=$SECONDS
	MG_TEST_TMP=$tmp timeout -k 10 "$per_test_timeout" bash "$MG_SRCDIR/$t" >"$log" 2>&1
	rc=$?
	dur=$((SECONDS - start))
	if ((rc == 0)); then
		pass=$((pass + 1))
		[[ -n "${MG_TEST_VERBOSE:-}" ]] && printf 'PASS: %s (%ds)\n' "$name" "$dur"
		[[ -n "${MG_KEEP_TMP:-}" ]] || rm -rf "$tmp"
	else
		fail=$((fail + 1)); failed+=("$name")
		printf 'FAIL: %s (exit %d, %ds); log follows, artefacts in %s\n' "$name" "$rc" "$dur" "$tmp" >&2
		sed 's/^/    | /' "$log" >&2
	fi
done
echo "integration: $pass passed, $fail failed"
((fail == 0))
