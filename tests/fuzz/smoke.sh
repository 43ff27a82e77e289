#!/bin/sh
# smoke.sh - `make fuzz-smoke`: for each target, replay its regression
# inputs (tests/fuzz/regressions/TARGET/), then fuzz it for FUZZ_SECONDS
# from its seed corpus plus what earlier runs found (OUT/TARGET/corpus),
# FUZZ_JOBS targets at a time.  Fails on any crash, leak, timeout or UBSan
# report; prints each target's executions (libFuzzer's
# stat::number_of_executed_units) and where a reproducer was saved.
#   smoke.sh SRCDIR BINDIR OUTDIR TARGET...
set -u
src=$1 bin=$2 out=$3
shift 3
: "${FUZZ_SECONDS:=20}" "${FUZZ_JOBS:=2}"

if [ "${MG_FUZZ_ONE:-}" = 1 ]; then
	t=$1 dir=$out/$1
	mkdir -p "$dir/corpus"
	rm -f "$dir/result"
	opts="-print_final_stats=1 -close_fd_mask=3 -timeout=10 -rss_limit_mb=2048 -artifact_prefix=$dir/"
	dict=
	case $t in fuzz_qmp|fuzz_guard) dict=-dict=$src/qmp.dict ;; esac
	regs=$(find "$src/regressions/$t" -type f ! -name '.*' 2>/dev/null | sort)
	if [ -n "$regs" ]; then
		# shellcheck disable=SC2086
		# Replayed with the harness's own messages, the daemon's log off.
		if ! MG_FUZZ_QUIET=1 "$bin/$t" $(echo "$opts" | sed 's/-close_fd_mask=3//') $regs >"$dir/regressions.log" 2>&1; then
			echo "$t: FAILED replaying its regression inputs" >"$dir/result"
			tail -n 60 "$dir/regressions.log" | sed "s/^/    $t| /" >>"$dir/result"
			exit 0
		fi
	fi
	# shellcheck disable=SC2086
	"$bin/$t" $opts $dict -max_total_time="$FUZZ_SECONDS" "$dir/corpus" "$src/corpus/$t" >"$dir/fuzz.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log" | tail -n 1)
	units=$(find "$dir/corpus" -type f | wc -l)
	if [ $rc -ne 0 ]; then
		echo "$t: FAILED (exit $rc) after ${execs:-?} executions; reproducer: $(ls "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-* 2>/dev/null | tail -n 1)" >"$dir/result"
		grep -A40 -m1 'ERROR: \|runtime error\|==ERROR\|ALARM' "$dir/fuzz.log" | sed "s/^/    $t| /" >>"$dir/result"
	else
		echo "$t: ${execs:-0} executions in ${FUZZ_SECONDS} s (new corpus units: $units)" >"$dir/result"
	fi
	exit 0
fi

mkdir -p "$out"
start=$(date +%s)
for t in "$@"; do echo "$t"; done |
	MG_FUZZ_ONE=1 xargs -P "$FUZZ_JOBS" -I{} sh "$0" "$src" "$bin" "$out" {}
status=0
total=0
for t in "$@"; do
	if [ -f "$out/$t/result" ]; then cat "$out/$t/result"; else echo "$t: no result"; status=1; fi
	grep -q FAILED "$out/$t/result" 2>/dev/null && status=1
	n=$(sed -n 's/^[^:]*: \([0-9][0-9]*\) executions.*/\1/p' "$out/$t/result" 2>/dev/null)
	total=$((total + ${n:-0}))
done
echo "fuzz-smoke: $total executions in $(( $(date +%s) - start )) s; $( [ $status = 0 ] && echo passed || echo FAILED)"
exit $status
