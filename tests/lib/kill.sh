# kill.sh - mg_kill_pid, for the tests (through common.sh) and for the test
# bed's teardown (tests/testbed/down.sh, which runs without common.sh so
# that one failure does not stop the rest of the teardown).

# mg_kill_pid PID: SIGTERM, then SIGKILL after 5 s; only that pid.
mg_kill_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -CONT "$pid" 2>/dev/null || true
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
}
