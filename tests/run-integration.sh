#!/usr/bin/env bash
# Runs integration tests one by one: one line each, the full log of any
# failure on stderr, and a closing "N passed, N failed" line.  A test that
# exits 77 is skipped (a line says so and why: its log's last line).  A test
# whose file has a "# timeout: N" line in its first 5 lines gets N seconds
# instead of MG_TEST_TIMEOUT (default 300).
set -u
: "${MG_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${MG_BUILDDIR:=$PWD}"
export MG_SRCDIR MG_BUILDDIR
logdir=$MG_BUILDDIR/tests/logs
mkdir -p "$logdir"
pass=0 fail=0 failed=() skipped=() why=()
per_test_timeout=${MG_TEST_TIMEOUT:-300}
for t in "$@"; do
	name=$(basename "$t" .sh)
	log=$logdir/$name.log
	tmp=$(mktemp -d "/tmp/mg-$name.XXXXXX")
	start=$SECONDS
	limit=$(head -n 5 "$MG_SRCDIR/$t" | sed -n 's/^# timeout: \([0-9][0-9]*\)$/\1/p' | head -n 1)
	MG_TEST_TMP=$tmp timeout -k 10 "${limit:-$per_test_timeout}" bash "$MG_SRCDIR/$t" >"$log" 2>&1
	rc=$?
	dur=$((SECONDS - start))
	if ((rc == 77)); then
		skipped+=("$name")
		printf 'SKIP: %s: %s\n' "$name" "$(tail -n 1 "$log")"
		[[ -n "${MG_KEEP_TMP:-}" ]] || rm -rf "$tmp"
	elif ((rc == 0)); then
		pass=$((pass + 1))
		[[ -n "${MG_TEST_VERBOSE:-}" ]] && printf 'PASS: %s (%ds)\n' "$name" "$dur"
		[[ -n "${MG_KEEP_TMP:-}" ]] || rm -rf "$tmp"
	else
		fail=$((fail + 1)); failed+=("$name")
		printf 'FAIL: %s (exit %d, %ds); log follows, artefacts in %s\n' "$name" "$rc" "$dur" "$tmp" >&2
		sed 's/^/    | /' "$log" >&2
		cp "$log" "$tmp/test.log" 2>/dev/null
		# One line per failure again at the end: a CI page that cuts the
		# middle of a long log still shows why each test failed.
		why+=("$name: $(grep -m 1 -E '(^|\] )FAIL: ' "$log" || tail -n 1 "$log")")
	fi
done
((${#skipped[@]} == 0)) || echo "integration: ${#skipped[@]} skipped (${skipped[*]})"
for w in "${why[@]}"; do printf 'failed: %s\n' "$w" >&2; done
echo "integration: $pass passed, $fail failed"
((fail == 0))
