# e2e.sh - the two-host test bed with one migguardd per host.  Sourcing it
# sources common.sh, libvirt.sh, guest.sh and migguardd.sh.
#
# mg_e2e_up DIR : builds the guest (cached), brings up both hosts and the
#     NBD storage under DIR, and registers their teardown (the NBD server is
#     resumed first, so nothing stays stuck).
#
# mg_e2e_guard_conf HOST FILE [KEY=VALUE...] : a config for HOST's guard:
#     its libvirt URI, its own state dir, the direct monitors the busy guest
#     has (socket_template), plus the given keys.
#     With --no-direct first: no [qmp] socket_template (libvirt's monitor
#     only: no yank, so recover goes on to the kill step).
# mg_e2e_define_busy DIR HOST DOM : defines (persistent) and starts the busy
#     guest on HOST, and waits until it writes to its disk.
# mg_e2e_guard_start HOST NAME CONF : starts migguardd NAME for HOST in the
#     root namespace, pointed at the host's private libvirt run and log dirs.
# mg_e2e_guards_up KEY=VALUE... : one guard per host, gsrc for mg-src and
#     gdst for mg-dst, both configured with these keys.
# mg_e2e_follow_guards : prints both guards' notable lines as they come
#     (tracked, phases, verdicts, incidents, actions), prefixed by the
#     guard's name, until the script exits (the demos).
# mg_e2e_print_virsh_list : `virsh list --all` on both hosts, each with
#     how long it took to answer (fails after 5 s: a hung libvirt).
# mg_e2e_stall DIR DOM : starts the busy guest's migration throttled, waits
#     until the destination opened the disk and memory flows, stops the NBD
#     server and opens the bandwidth: the source hangs at switch-over.
#
# The seed's own deadlock (DESIGN.md section 1) on the seeded QEMU of
# scripts/seeded-qemu.sh (issue 11):
# mg_e2e_seeded_qemu : sets MG_SEED_DIR to the seeded QEMU's directory,
#     building it once (about 4 min on 2 cores) when missing; skips the
#     test (exit 77) when it is not built and MG_SEED_BUILD=0.
# mg_e2e_seed_watch PID TEST_QMP MIGRATE_PID [TIMEOUT] : what one migration
#     of the seeded QEMU PID did, decided from OUTSIDE the guard, polled
#     every 50 ms (the guard's verdict is what the test checks, so it must
#     not be the test's evidence):
#       hung      - live_migration and IO iothread1 both sit in futex(2)
#                   (/proc/PID/task/TID/syscall 202) without running
#                   (schedstat unchanged), the IOThread on the futex word the
#                   main thread waits on (the BQL) and live_migration on
#                   another (the AioContext lock), for MG_SEED_CONFIRM s
#                   (default 1), and then a fresh query-status on TEST_QMP
#                   gets no answer within 1 s;
#       completed - the `virsh migrate` MIGRATE_PID exited 0;
#       failed    - it exited otherwise;
#       timeout   - none of these within TIMEOUT s (default 90).
#     Sets MG_SEED_RESULT, MG_SEED_DETAIL and, when hung,
#     MG_SEED_HANG_START (epoch seconds.microseconds: the first sample of
#     the confirmed wait) and MG_SEED_THREADS (the two tids).

source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/libvirt.sh"
source "$MG_SRCDIR/tests/lib/guest.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

mg_e2e_up() {
	local dir=$1
	mg_guest_build >/dev/null
	mg_on_exit "mg_testbed_down $dir"
	mg_testbed_up "$dir"
	mg_on_exit "mg_nbd_resume $dir"
}

mg_e2e_guard_conf() {
	local direct=1
	[[ $1 == --no-direct ]] && { direct=0; shift; }
	local host=$1 file=$2; shift 2
	local -a qmp=()
	((direct)) && qmp=("qmp.socket_template=$(mg_libvirt_qmp_dir "$host")/%n.sock")
	mg_guard_conf "$file" "daemon.uri=$(mg_libvirt_uri "$host")" \
		"daemon.state_dir=$MG_TEST_TMP/state-$host" "${qmp[@]}" "$@"
}

mg_e2e_define_busy() {
	local dir=$1 host=$2 dom=$3
	mg_testbed_busy_xml "$dir" "$host" "$dom" >"$MG_TEST_TMP/$dom.xml"
	mg_virsh "$host" define "$MG_TEST_TMP/$dom.xml" >/dev/null || mg_fail "virsh define $dom"
	mg_virsh "$host" start "$dom" >/dev/null || mg_fail "virsh start $dom"
	mg_testbed_wait_writing "$host" "$dom" 90
}

mg_e2e_guard_start() {
	local host=$1 name=$2 conf=$3
	MIGGUARD_LIBVIRT_RUN_DIR=$(mg_libvirt_run_dir "$host")/qemu \
	MIGGUARD_LIBVIRT_LOG_DIR=$(mg_libvirt_log_dir "$host")/qemu \
	MIGGUARD_SIGNATURES_DIR=$MG_SRCDIR/conf/signatures \
		mg_guard_start "$name" "$conf"
	mg_guard_wait_log "$name" 10 "libvirt .*: connected"
}

mg_e2e_stall() {
	local dir=$1 dom=$2 base
	base=$(mg_nbd_connections "$dir")
	mg_testbed_migrate_bg "$dir" "$dom" --bandwidth 1
	mg_nbd_wait_connections "$dir" $((base + 1)) 60
	mg_testbed_wait_migrating mg-src "$dom" 30
	mg_nbd_pause "$dir"
	mg_virsh mg-src migrate-setspeed "$dom" 100000 || mg_fail "migrate-setspeed"
	mg_log "storage stalled under the migration of $dom"
}

mg_e2e_seeded_qemu() {
	MG_SEED_DIR=$(mg_seeded_qemu_dir) || exit $?
}

# The tid of PID's thread named COMM.
mg__e2e_tid() {
	local t c
	for t in /proc/"$1"/task/*; do
		read -r c 2>/dev/null <"$t/comm" || continue
		[[ $c == "$2" ]] && { echo "${t##*/}"; return 0; }
	done
	return 1
}

# "SYSCALL FUTEX-ADDR RUNTIME" of one thread (RUNTIME: ns on a CPU).
mg__e2e_wait_of() {
	local sc addr rest run
	read -r sc addr rest 2>/dev/null <"/proc/$1/task/$2/syscall" || return 1
	read -r run rest 2>/dev/null <"/proc/$1/task/$2/schedstat" || return 1
	echo "$sc $addr $run"
}

# One sample: 0 when the ABBA shape holds now; prints the three threads'
# waits (compared between samples: unchanged means they never ran).
mg__e2e_abba_sample() {
	local pid=$1 lm=$2 io=$3 m i l
	m=$(mg__e2e_wait_of "$pid" "$pid") && i=$(mg__e2e_wait_of "$pid" "$io") &&
		l=$(mg__e2e_wait_of "$pid" "$lm") || return 1
	set -- $m $i $l
	# main, IOThread, live_migration: all in futex; the IOThread on the
	# main thread's word (the BQL), live_migration on another one.
	[[ $1 == 202 && $4 == 202 && $7 == 202 && $5 == "$2" && $8 != "$2" ]] || return 1
	echo "$i $l"
}

mg_e2e_seed_watch() {
	local pid=$1 qmp=$2 mig=$3 timeout=${4:-90}
	local deadline=$((SECONDS + timeout)) lm="" io="" since="" first="" cur now rc
	MG_SEED_RESULT=timeout MG_SEED_DETAIL="neither hung nor ended within $timeout s" MG_SEED_HANG_START= MG_SEED_THREADS=
	while ((SECONDS < deadline)); do
		if ! kill -0 "$mig" 2>/dev/null; then
			rc=0; wait "$mig" 2>/dev/null || rc=$?
			MG_SEED_RESULT=completed MG_SEED_DETAIL="virsh migrate exited 0"
			((rc == 0)) || MG_SEED_RESULT=failed MG_SEED_DETAIL="virsh migrate exited $rc"
			return 0
		fi
		[[ -n $io ]] || io=$(mg__e2e_tid "$pid" "IO iothread1") || io=""
		# live_migration exists only while a migration runs.
		[[ -n $lm && -d /proc/$pid/task/$lm ]] || lm=$(mg__e2e_tid "$pid" live_migration) || lm=""
		now=${EPOCHREALTIME/,/.}
		if [[ -n $lm && -n $io ]] && cur=$(mg__e2e_abba_sample "$pid" "$lm" "$io"); then
			if [[ -z $since || $cur != "$first" ]]; then
				since=$now first=$cur
			elif awk -v a="$since" -v b="$now" -v c="${MG_SEED_CONFIRM:-1}" 'BEGIN { exit !(b - a >= c) }'; then
				rc=0
				mg_qmp_cmd -t 1 "$qmp" '{"execute":"query-status"}' >/dev/null 2>&1 || rc=$?
				if ((rc == 124)) && [[ "$(mg__e2e_abba_sample "$pid" "$lm" "$io")" == "$first" ]]; then
					MG_SEED_RESULT=hung MG_SEED_HANG_START=$since MG_SEED_THREADS="$lm $io"
					MG_SEED_DETAIL="live_migration ($lm) and IO iothread1 ($io) in futex, not running, since $(date -u -d "@$since" +%T.%3N); IO iothread1 on the main thread's word; query-status unanswered"
					return 0
				fi
				since=""
			fi
		else
			since=""
		fi
		sleep 0.05
	done
}

mg_e2e_guards_up() {
	mg_e2e_guard_conf mg-src "$MG_TEST_TMP/src.conf" "$@"
	mg_e2e_guard_conf mg-dst "$MG_TEST_TMP/dst.conf" "$@"
	mg_e2e_guard_start mg-src gsrc "$MG_TEST_TMP/src.conf"
	mg_e2e_guard_start mg-dst gdst "$MG_TEST_TMP/dst.conf"
}

mg_e2e_follow_guards() {
	local g
	for g in gsrc gdst; do
		tail -n 0 -F "$(mg_guard_log "$g")" 2>/dev/null | grep --line-buffered -E \
			"tracked|migration (finishing|HUNG|STALLED|completed|failed|cancelled)|incident written|action [a-z-]+:" |
			sed -u -e "s/^migguardd\[[0-9]*\]: //" -e "s/ domain=.*//" -e "s/^/   [$g] /" &
		mg_on_exit "kill $!"
	done
}

mg_e2e_print_virsh_list() {
	local h start out
	for h in mg-src mg-dst; do
		start=$EPOCHREALTIME
		out=$(timeout 5 virsh -q -c "$(mg_libvirt_uri $h)" list --all) || mg_fail "virsh list on $h hangs"
		printf '   %s: virsh list --all answered in %.2f s: %s\n' "$h" \
			"$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{print b-a}')" "$(echo "${out:-(no domains)}" | xargs)"
	done
}
