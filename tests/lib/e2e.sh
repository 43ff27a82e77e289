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
# mg_e2e_define_nova DIR HOST DOM [unix|tcp] [iothread] : the same for the
#     Nova-shaped guest (mg_testbed_nova_xml: no direct monitor).
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
# mg_e2e_stall_held DIR DOM : the same storage stall, but the NBD server
#     (started with MG_TESTBED_NBD_PAUSABLE=1) keeps running and holds the
#     requests in its pause filter (mg_nbd_hold): a hang whose peer is NOT
#     stalled (state S, nothing queued on its socket).  It lasts until
#     mg_nbd_release.
# mg_e2e_stall_channel DIR DOM : the migration channel stalls at
#     switch-over: the migration starts throttled, once memory flows the
#     source's rate drops to MG_E2E_CHANNEL_RATE bytes/s (default 100000,
#     through the source QEMU's own migrate-set-parameters via libvirt) so
#     the socket buffers do not fill yet, the destination QEMU is SIGSTOPped,
#     then the downtime limit goes to 2000 s: the source stops the guest and
#     writes the rest of its RAM holding the BQL, into a socket nobody
#     reads.  Waits until that is seen from /proc (mg_e2e_hang_watch
#     channel); sets MG_E2E_DST_QEMU (the stopped pid; the exit hooks
#     SIGCONT it).
# mg_e2e_hang_watch PID KIND [TIMEOUT] : waits until QEMU PID hangs with
#     the BQL held, decided from /proc only, polled every 50 ms: its main
#     thread in futex(2) (syscall 202) and live_migration in KIND's wait,
#     neither running (schedstat unchanged) for MG_HANG_CONFIRM s (default
#     1).  KIND drain: live_migration in ppoll/poll (271, 7) - the drain in
#     vm_stop; KIND channel: in sendmsg, write or writev (46, 1, 20) - the
#     switch-over write.  Then `virsh qemu-monitor-command query-status` on
#     mg-src (or MG_HANG_URI) must not answer within 1.5 s (libvirt's monitor).  Sets
#     MG_HANG_START (epoch s.us of the first sample of the confirmed wait),
#     MG_HANG_TID (live_migration), MG_HANG_SYSCALL (its syscall line) and
#     MG_HANG_DETAIL (with live_migration's wchan); fails the test saying what was seen when no such hang
#     comes within TIMEOUT s (default 30).  Needs MG_HANG_DOM (the domain).
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

mg_e2e_define_nova() {
	local dir=$1 host=$2 dom=$3; shift 3
	mg_testbed_nova_xml "$dir" "$host" "$dom" "$@" >"$MG_TEST_TMP/$dom.xml"
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

mg_e2e_stall_held() {
	local dir=$1 dom=$2 base
	[[ -S $dir/nbd-pause.sock ]] || mg_fail "mg_e2e_stall_held: the NBD server has no pause filter (MG_TESTBED_NBD_PAUSABLE=1)"
	base=$(mg_nbd_connections "$dir")
	mg_testbed_migrate_bg "$dir" "$dom" --bandwidth 1
	mg_nbd_wait_connections "$dir" $((base + 1)) 60
	mg_testbed_wait_migrating mg-src "$dom" 30
	mg_on_exit "mg_nbd_release $dir"
	mg_nbd_hold "$dir"
	mg_virsh mg-src migrate-setspeed "$dom" 100000 || mg_fail "migrate-setspeed"
	mg_log "storage held (nbdkit running, requests paused) under the migration of $dom"
}

mg_e2e_stall_channel() {
	local dir=$1 dom=$2 base rate=${MG_E2E_CHANNEL_RATE:-100000} src
	src=$(mg_libvirt_qemu_pid mg-src "$dom")
	base=$(mg_nbd_connections "$dir")
	mg_testbed_migrate_bg "$dir" "$dom" --bandwidth 1
	mg_nbd_wait_connections "$dir" $((base + 1)) 60
	mg_testbed_wait_migrating mg-src "$dom" 30
	mg_virsh mg-src qemu-monitor-command "$dom" \
		"{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"max-bandwidth\":$rate}}" >/dev/null ||
		mg_fail "migrate-set-parameters max-bandwidth on the source"
	MG_E2E_DST_QEMU=$(mg_libvirt_qemu_pid mg-dst "$dom")
	[[ -n $MG_E2E_DST_QEMU ]] || mg_fail "no destination QEMU for $dom"
	mg_on_exit "kill -CONT $MG_E2E_DST_QEMU"
	kill -STOP "$MG_E2E_DST_QEMU"
	mg_virsh mg-src migrate-setmaxdowntime "$dom" 2000000 || mg_fail "migrate-setmaxdowntime"
	MG_HANG_DOM=$dom mg_e2e_hang_watch "$src" channel 30
	mg_log "migration channel of $dom stalled at switch-over (destination QEMU $MG_E2E_DST_QEMU stopped)"
}

# "SYSCALL RUNTIME" of one thread.
mg__e2e_sc_run() {
	local sc rest run
	read -r sc rest 2>/dev/null <"/proc/$1/task/$2/syscall" || return 1
	read -r run rest 2>/dev/null <"/proc/$1/task/$2/schedstat" || return 1
	echo "$sc $run"
}

mg_e2e_hang_watch() {
	local pid=$1 kind=$2 timeout=${3:-30} dom=${MG_HANG_DOM:?}
	local deadline=$((SECONDS + timeout)) lm="" since="" first="" cur m l now rc seen="nothing"
	local -a want
	case $kind in
	drain) want=(271 7) ;;
	channel) want=(46 1 20) ;;
	*) mg_fail "mg_e2e_hang_watch: kind '$kind'" ;;
	esac
	MG_HANG_START= MG_HANG_TID= MG_HANG_SYSCALL= MG_HANG_DETAIL=
	while ((SECONDS < deadline)); do
		kill -0 "$pid" 2>/dev/null || mg_fail "no hang: QEMU $pid is gone"
		[[ -n $lm && -d /proc/$pid/task/$lm ]] || lm=$(mg__e2e_tid "$pid" live_migration) || lm=""
		now=${EPOCHREALTIME/,/.}
		if [[ -n $lm ]] && m=$(mg__e2e_sc_run "$pid" "$pid") && l=$(mg__e2e_sc_run "$pid" "$lm"); then
			seen="main thread in syscall ${m%% *}, live_migration in ${l%% *}"
			cur="$m $l"
			set -- $cur
			if [[ $1 == 202 && " ${want[*]} " == *" $3 "* ]]; then
				if [[ -z $since || $cur != "$first" ]]; then
					since=$now first=$cur
				elif awk -v a="$since" -v b="$now" -v c="${MG_HANG_CONFIRM:-1}" 'BEGIN { exit !(b - a >= c) }'; then
					rc=0
					timeout 1.5 virsh -q -c "${MG_HANG_URI:-$(mg_libvirt_uri mg-src)}" qemu-monitor-command "$dom" \
						'{"execute":"query-status"}' >/dev/null 2>&1 || rc=$?
					if ((rc == 124)); then
						MG_HANG_START=$since MG_HANG_TID=$lm
						MG_HANG_SYSCALL=$(cat "/proc/$pid/task/$lm/syscall" 2>/dev/null || true)
						MG_HANG_DETAIL="main thread in futex and live_migration ($lm) in syscall $3 ($kind, wchan $(cat "/proc/$pid/task/$lm/wchan" 2>/dev/null || echo '?')), neither running, since $(date -u -d "@$since" +%T.%3N); libvirt's query-status unanswered"
						mg_log "hang confirmed from outside: $MG_HANG_DETAIL"
						return 0
					fi
					seen="$seen, but query-status answered (rc $rc)"
					since=""
				fi
			else
				since=""
			fi
		fi
		sleep 0.05
	done
	mg_fail "the scenario did not happen: no $kind hang of QEMU $pid within $timeout s (last seen: $seen)"
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
