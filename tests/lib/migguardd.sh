# migguardd.sh - start and stop migguardd for a test (after common.sh).
#
# mg_guard_conf FILE KEY=VALUE... : writes a config file; KEY is
#     "section.key" (e.g. daemon.uri=qemu:///system guard.finish_timeout=3s).
# mg_guard_start NAME CONF [ARGS...] : runs `migguardd -f -v --config CONF`
#     with its stderr in $MG_TEST_TMP/NAME.log; sets MG_GUARD_PID_<NAME> and
#     registers a SIGTERM at exit.  Returns once the process runs.  With
#     MG_GUARD_WRAP set (e.g. "unshare -m --propagation private"), that
#     command line runs migguardd (it must exec it: the pid stays the same).
# mg_guard_log NAME : the log path.
# mg_guard_wait_log NAME TIMEOUT ERE [COUNT] : waits until the log has COUNT
#     (default 1) lines matching ERE.
# mg_guard_stop NAME : SIGTERM; fails unless it exits 0 within 2 s.
# mg_guard_incident NAME DOMAIN : the first incident directory guard NAME
#     logged for DOMAIN.
# A sanitizer report (ASan/UBSan/LSan build, scripts/sanitize.sh) in a
# guard's log fails the test, even one that passed: checked at exit, after
# the exit hooks have stopped every guard (LSan reports at the guard's exit).

mg_guard_conf() {
	local file=$1; shift
	local kv section key value cur=""
	: >"$file"
	for kv in $(printf '%s\n' "$@" | sort -t. -k1,1 -s); do
		section=${kv%%.*}; key=${kv#*.}; value=${key#*=}; key=${key%%=*}
		if [[ $section != "$cur" ]]; then
			printf '[%s]\n' "$section" >>"$file"
			cur=$section
		fi
		printf '%s = %s\n' "$key" "$value" >>"$file"
	done
}

mg_guard_log() { echo "$MG_TEST_TMP/$1.log"; }

MG_GUARD_NAMES=()
mg__guard_exit() {
	local rc=$? name log
	mg__run_exit_hooks
	for name in "${MG_GUARD_NAMES[@]}"; do
		log=$(mg_guard_log "$name")
		grep -Eq '==[0-9]+==ERROR: [A-Za-z]+Sanitizer|Sanitizer has encountered|: runtime error: ' "$log" 2>/dev/null || continue
		mg_log "--- $log ---"
		cat "$log" >&2
		mg_log "FAIL: sanitizer report in migguardd $name's log"
		rc=1
	done
	exit "$rc"
}
trap mg__guard_exit EXIT

mg_guard_start() {
	local name=$1 conf=$2; shift 2
	local log; log=$(mg_guard_log "$name")
	local -a wrap
	read -r -a wrap <<<"${MG_GUARD_WRAP:-}"
	"${wrap[@]}" "$MG_BUILDDIR/migguardd" -f -v --config "$conf" "$@" 2>>"$log" &
	local pid=$!
	printf -v "MG_GUARD_PID_$name" '%s' "$pid"
	MG_GUARD_NAMES+=("$name")
	mg_on_exit "mg_kill_pid $pid"
	mg_wait_for 5 "migguardd $name running" kill -0 "$pid"
}

# (grep -c prints nothing when the log is not there yet: that is 0.)
mg__count_matches() { local n; n=$(grep -Ec -- "$2" "$1" 2>/dev/null) || true; ((${n:-0} >= $3)); }

mg_guard_wait_log() {
	local name=$1 timeout=$2 re=$3 count=${4:-1}
	local log; log=$(mg_guard_log "$name")
	local deadline=$((SECONDS + timeout))
	until mg__count_matches "$log" "$re" "$count"; do
		if ((SECONDS >= deadline)); then
			mg_log "--- $log (last 40 lines) ---"
			tail -n 40 "$log" >&2
			mg_fail "migguardd $name: no $count line(s) matching /$re/ within ${timeout}s"
		fi
		local var="MG_GUARD_PID_$name"
		kill -0 "${!var}" 2>/dev/null || { tail -n 40 "$log" >&2; mg_fail "migguardd $name exited"; }
		sleep 0.05
	done
}

mg_guard_stop() {
	local name=$1 var="MG_GUARD_PID_$1" i rc
	local pid=${!var}
	kill -TERM "$pid"
	for ((i = 0; i < 40; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		"$MG_BUILDDIR/migguard" snapshot "$pid" >&2 || true
		mg_fail "migguardd $name still running 2 s after SIGTERM (its stacks above)"
	fi
	rc=0; wait "$pid" || rc=$?
	((rc == 0)) || mg_fail "migguardd $name exited $rc after SIGTERM"
}

mg_guard_incident() {
	sed -n "s/.*domain $2: incident written to \([^ ]*\) .*/\1/p" "$(mg_guard_log "$1")" | head -1
}
