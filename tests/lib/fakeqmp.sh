# fakeqmp.sh - a scripted fake QMP monitor (tests/lib/fakeqmp.py) for the
# guard tests that play a hostile or broken QEMU (source after common.sh).
#
# mg_fake_start NAME SCRIPT : serves $(mg_fake_sock NAME) as scripted by the
#     file SCRIPT (steps in fakeqmp.py's header), its log in
#     $(mg_fake_log NAME); sets MG_FAKE_PID_NAME (the process the socket's
#     peer credentials name); returns once it listens.
#     With MG_FAKE_PROGRAM set, that program (same arguments) serves it,
#     e.g. tests/lib/fakeqmp_deadlock.py: the fake plus a real lock cycle.
# mg_fake_sock NAME / mg_fake_log NAME / mg_fake_pid NAME
# mg_fake_wait_log NAME TIMEOUT ERE [COUNT] : waits until the fake's log has
#     COUNT (default 1) lines matching ERE; fails if the fake exited.

mg_fake_sock() { echo "$MG_TEST_TMP/$1.fake.sock"; }
mg_fake_log() { echo "$MG_TEST_TMP/$1.fake.log"; }
mg_fake_pid() { local v="MG_FAKE_PID_$1"; echo "${!v}"; }

mg_fake_start() {
	local name=$1 script=$2 log
	log=$(mg_fake_log "$name")
	python3 "${MG_FAKE_PROGRAM:-$MG_SRCDIR/tests/lib/fakeqmp.py}" "$(mg_fake_sock "$name")" "$script" "$log" \
		2>>"$MG_TEST_TMP/$name.fake.err" &
	local pid=$!
	printf -v "MG_FAKE_PID_$name" '%s' "$pid"
	mg_on_exit "mg_kill_pid $pid"
	mg_wait_for 10 "fake monitor $name listening" grep -qx listening "$log"
}

mg_fake_wait_log() {
	local name=$1 timeout=$2 re=$3 count=${4:-1}
	local log; log=$(mg_fake_log "$name")
	local deadline=$((SECONDS + timeout))
	until (($(grep -Ec -- "$re" "$log" 2>/dev/null || true) >= count)); do
		if ((SECONDS >= deadline)); then
			mg_log "--- $log (last 30 lines) ---"
			tail -n 30 "$log" >&2
			mg_fail "fake monitor $name: no $count line(s) matching /$re/ within ${timeout}s"
		fi
		kill -0 "$(mg_fake_pid "$name")" 2>/dev/null ||
			{ cat "$MG_TEST_TMP/$name.fake.err" >&2; mg_fail "fake monitor $name exited"; }
		sleep 0.05
	done
}
