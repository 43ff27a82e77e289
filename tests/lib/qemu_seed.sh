# qemu_seed.sh - the seed's own deadlock (DESIGN.md section 1) on a bare
# seeded QEMU pair, no libvirt (source after common.sh, qemu.sh - for its
# QMP helpers - and guest.sh).
#
# The seeded QEMU (scripts/seeded-qemu.sh: Debian 12's QEMU 7.2 with QEMU
# 8.2's virtio-blk dataplane-stop ordering put back) deadlocks when the
# migration thread stops the VM while an IOThread completes a request:
#   live_migration holds the BQL in vm_stop -> vm_state_notify ->
#     virtio_blk_data_plane_stop -> blk_drain -> bdrv_do_drained_begin and
#     waits for the IOThread's AioContext lock;
#   IO iothread1 holds that lock in virtio_blk_rw_complete ->
#     address_space_stl_le -> (inlined) prepare_mmio_access and waits for
#     the BQL.
# Measured here (2 cores, TCG): 19 of 19 migrations deadlocked, 0.3-0.65 s
# after `migrate`; an attempt takes 12-21 s (guest writing 7-15 s after
# start, migration under 1 s, the verdict 5 s after the hang); the
# unseeded Debian QEMU (MG_SEED_QEMU=/usr/bin/qemu-system-x86_64)
# completed 6 of 6 in 7-10 s.
# It needs (measured, issue 11): a busy Linux guest under TCG (the guest of
# tests/lib/guest.sh, writing 4 KiB O_DIRECT to /dev/vda in a loop), a
# virtio-blk-pci disk (MSI-X) on an IOThread, the disk on nbdkit with the
# delay filter (200 ms) so a request is in flight at the stop, and the
# migration over a unix socket (issue 11 saw 4 hangs in 5 migrations).
#
# (The seeded QEMU's directory comes from common.sh's mg_seeded_qemu_dir:
#     built when missing, or the test skipped with 77 under MG_SEED_BUILD=0.)
# mg_seed_binary dwarf|stripped : the seeded binary with DWARF, or its copy
#     with the symbol table only (MG_SEED_QEMU overrides both, e.g.
#     /usr/bin/qemu-system-x86_64 to see the unseeded QEMU complete).
# mg_seed_nbd_start NAME DISK : nbdkit -f on $(mg_nbd_sock NAME) serving the
#     raw DISK through `--filter=delay` (wdelay MG_SEED_WDELAY, default 200ms;
#     rdelay MG_SEED_RDELAY, default 200ms); sets MG_NBD_PID_NAME.
# mg_seed_qemu_start NAME BINARY NBD_SOCK [QEMU ARGS...] : one QEMU of the
#     pair: TCG, q35, 128 MiB, `-name guest=NAME,debug-threads=on` (threads
#     named like libvirt's: `IO iothread1`, `live_migration`, `CPU 0/TCG`),
#     the busy guest by -kernel/-initrd/-append, its serial console in
#     $MG_TEST_TMP/NAME.serial, virtio-blk-pci `vblk0` on IOThread
#     `iothread1` on the NBD socket, QMP on $(mg_qemu_qmp NAME); sets
#     MG_QEMU_PID_NAME; returns once QMP answers.
# mg_seed_attempt TAG BINARY : one bounded attempt: nbdkit (TAGnbd), source
#     (TAGsrc) and incoming destination (TAGdst, same binary), waits for the
#     guest to write, migrates over unix:$MG_TEST_TMP/TAG-migrate.sock and
#     decides (mg_seed_watch).  Sets MG_SEED_RESULT (hung, completed,
#     failed, timeout, died), MG_SEED_SRC_PID, MG_SEED_DST_PID, MG_SEED_NBD_PID,
#     MG_SEED_MIG_TID, MG_SEED_IO_TID, MG_SEED_HANG_START (epoch seconds with
#     microseconds: the first 50 ms sample after which both threads stayed
#     in futex and never ran again - the hang's start as seen from outside),
#     MG_SEED_HANG_AFTER (seconds from the migrate command to that sample),
#     MG_SEED_BOOT_S (start to first guest write), MG_SEED_ATTEMPT_S and
#     MG_SEED_DETAIL (one line for the log).  Leaves the processes up; call
#     mg_seed_teardown TAG when done with them.  Bounded by
#     MG_SEED_BOOT_TIMEOUT (90 s) and MG_SEED_MIGRATE_TIMEOUT (90 s).
# mg_seed_watch SRC : the verdict from OUTSIDE migguard, polled every 50 ms
#     after `migrate`: "hung" when live_migration and IO iothread1 both sit
#     in futex(2) (/proc/PID/task/TID/syscall 202) without running
#     (schedstat unchanged) for MG_SEED_CONFIRM seconds (default 2) AND a
#     fresh QMP query-status gets no answer within MG_SEED_QMP_TIMEOUT (3 s);
#     "completed"/"failed" when the live_migration thread has gone and
#     query-migrate says so; "died" when the source exited.
# mg_seed_threads PID : one line per thread: tid, comm, state, syscall
#     number, wchan (for the log of a verdict).
# mg_seed_teardown TAG : kills the attempt's processes by pid: a hung source
#     with SIGKILL at once (its SIGTERM handler runs in the main loop, which
#     waits for the BQL forever), the others with mg_kill_pid; reaps them.

MG_SEED_GUEST_SERIAL_RE='MIGGUARD-GUEST: writing'
declare -gA MG__SEED_HUNG=()

mg_seed_binary() {
	if [[ -n ${MG_SEED_QEMU:-} ]]; then
		echo "$MG_SEED_QEMU"
		return 0
	fi
	local dir
	dir=$(mg_seeded_qemu_dir) || exit $?
	case $1 in
	dwarf) echo "$dir/qemu-system-x86_64" ;;
	stripped) echo "$dir/qemu-system-x86_64.stripped" ;;
	*) mg_fail "mg_seed_binary: dwarf or stripped, not '$1'" ;;
	esac
}

mg_seed_nbd_start() {
	local name=$1 disk=$2 sock pid
	sock=$(mg_nbd_sock "$name")
	rm -f "$sock"
	# Foreground (-f) in the background: nbdkit sets PR_SET_PDEATHSIG, so
	# it also dies with this shell.
	nbdkit -f -U "$sock" --filter=delay file "file=$disk" \
		"wdelay=${MG_SEED_WDELAY:-200ms}" "rdelay=${MG_SEED_RDELAY:-200ms}" \
		</dev/null >>"$MG_TEST_TMP/$name.log" 2>&1 &
	pid=$!
	printf -v "MG_NBD_PID_$name" '%s' "$pid"
	mg_on_exit "mg_kill_pid $pid"
	mg_wait_for 10 "nbdkit socket $sock" test -S "$sock"
}

mg_seed_qemu_start() {
	local name=$1 bin=$2 nbd=$3; shift 3
	local sock pid
	sock=$(mg_qemu_qmp "$name")
	rm -f "$sock"
	: "${MG_GUEST_KERNEL:?mg_guest_build first}" "${MG_GUEST_INITRD:?}" "${MG_GUEST_CMDLINE:?}"
	"$bin" -nodefaults -display none -no-user-config \
		-name "guest=$name,debug-threads=on" -machine q35,accel=tcg -m 128 -smp 1 \
		-qmp "unix:$sock,server=on,wait=off" \
		-kernel "$MG_GUEST_KERNEL" -initrd "$MG_GUEST_INITRD" -append "$MG_GUEST_CMDLINE" \
		-chardev "file,id=serial0,path=$MG_TEST_TMP/$name.serial" -serial chardev:serial0 \
		-object iothread,id=iothread1 \
		-drive "if=none,id=drive0,format=raw,cache=none,file.driver=nbd,file.server.type=unix,file.server.path=$nbd" \
		-device virtio-blk-pci,id=vblk0,drive=drive0,iothread=iothread1 \
		-pidfile "$MG_TEST_TMP/$name.pid" "$@" >>"$MG_TEST_TMP/$name.log" 2>&1 &
	pid=$!
	printf -v "MG_QEMU_PID_$name" '%s' "$pid"
	mg_on_exit "mg_kill_pid $pid"
	mg_wait_for 20 "QMP socket of qemu $name" test -S "$sock"
	mg_wait_for 20 "QMP answer from qemu $name" mg_qmp_cmd -t 2 "$sock" '{"execute":"query-status"}'
}

# The tid of the thread of PID named COMM.
mg_seed_tid() {
	local t c
	for t in /proc/"$1"/task/*; do
		c=$(cat "$t/comm" 2>/dev/null) || continue
		[[ $c == "$2" ]] && { echo "${t##*/}"; return 0; }
	done
	return 1
}

mg_seed_threads() {
	local t
	for t in /proc/"$1"/task/*; do
		printf '%s\t%-16s %s syscall %s wchan %s\n' "${t##*/}" "$(cat "$t/comm" 2>/dev/null)" \
			"$(sed 's/.*) \(.\).*/\1/' "$t/stat" 2>/dev/null)" \
			"$(cut -d' ' -f1 "$t/syscall" 2>/dev/null)" "$(cat "$t/wchan" 2>/dev/null)"
	done
}

# True when thread TID of PID is blocked in futex(2).
mg__seed_in_futex() {
	local s
	s=$(cut -d' ' -f1 /proc/"$1"/task/"$2"/syscall 2>/dev/null) || return 1
	[[ $s == 202 ]]
}
# The thread's time on the CPU (ns): unchanged while it never runs.
mg__seed_runtime() { cut -d' ' -f1 /proc/"$1"/task/"$2"/schedstat 2>/dev/null; }

mg__seed_now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

# One step of mg_seed_watch: returns 0 with MG_SEED_RESULT set once a
# verdict is reached, 1 to be called again.
mg__seed_watch_step() {
	local pid=$MG_SEED_SRC_PID sock=$MG_SEED_SRC_QMP now st rc run
	if ! kill -0 "$pid" 2>/dev/null || [[ ! -d /proc/$pid/task ]]; then
		MG_SEED_RESULT=died
		MG_SEED_DETAIL="source QEMU exited during the migration"
		return 0
	fi
	if [[ ! -d /proc/$pid/task/$MG_SEED_MIG_TID ]]; then
		# live_migration has returned: the migration ended one way or
		# the other; QMP answers again.
		st=$(mg_qmp_migration_status -t 5 "$sock" 2>/dev/null) || st="no-answer"
		case $st in
		completed) MG_SEED_RESULT=completed ;;
		*) MG_SEED_RESULT=failed ;;
		esac
		MG_SEED_DETAIL="live_migration ended, query-migrate: $st"
		return 0
	fi
	now=$(mg__seed_now_us)
	if mg__seed_in_futex "$pid" "$MG_SEED_MIG_TID" && mg__seed_in_futex "$pid" "$MG_SEED_IO_TID"; then
		run="$(mg__seed_runtime "$pid" "$MG_SEED_MIG_TID") $(mg__seed_runtime "$pid" "$MG_SEED_IO_TID")"
		if [[ -z $MG__SEED_SINCE || $run != "$MG__SEED_RUN" ]]; then
			# First seen both waiting, or one of them ran since: the
			# wait (if it lasts) began at this sample.
			MG__SEED_SINCE=$now
			MG__SEED_RUN=$run
			return 1
		fi
		((now - MG__SEED_SINCE >= ${MG_SEED_CONFIRM:-2} * 1000000)) || return 1
		rc=0
		mg_qmp_cmd -t "${MG_SEED_QMP_TIMEOUT:-3}" "$sock" '{"execute":"query-status"}' >/dev/null 2>&1 || rc=$?
		if ((rc != 124)); then
			MG__SEED_SINCE=
			return 1
		fi
		# Still the same two waits, still not run, after the QMP wait.
		mg__seed_in_futex "$pid" "$MG_SEED_MIG_TID" && mg__seed_in_futex "$pid" "$MG_SEED_IO_TID" &&
			[[ "$(mg__seed_runtime "$pid" "$MG_SEED_MIG_TID") $(mg__seed_runtime "$pid" "$MG_SEED_IO_TID")" == "$MG__SEED_RUN" ]] ||
			{ MG__SEED_SINCE=; return 1; }
		MG_SEED_RESULT=hung
		MG_SEED_HANG_START=$((MG__SEED_SINCE / 1000000)).$(printf '%06d' $((MG__SEED_SINCE % 1000000)))
		MG_SEED_HANG_AFTER=$(mg__seed_secs $((MG__SEED_SINCE - MG__SEED_MIGRATE_US)))
		MG_SEED_DETAIL="live_migration ($MG_SEED_MIG_TID) and IO iothread1 ($MG_SEED_IO_TID) in futex without running since $(date -u -d "@$MG_SEED_HANG_START" +%H:%M:%S.%3N) ($MG_SEED_HANG_AFTER s after migrate); query-status unanswered for ${MG_SEED_QMP_TIMEOUT:-3} s"
		return 0
	fi
	MG__SEED_SINCE=
	return 1
}

mg__seed_secs() { printf '%d.%03d' $(($1 / 1000000)) $((($1 % 1000000) / 1000)); }

mg_seed_watch() {
	local src=$1
	MG_SEED_SRC_PID=$(mg_qemu_pid "$src")
	MG_SEED_SRC_QMP=$(mg_qemu_qmp "$src")
	MG_SEED_RESULT= MG__SEED_SINCE= MG_SEED_HANG_START= MG_SEED_HANG_AFTER=
	if ! mg_wait_for_quiet "${MG_SEED_MIGRATE_TIMEOUT:-90}" mg__seed_watch_step; then
		MG_SEED_RESULT=timeout
		MG_SEED_DETAIL="neither hung nor ended within ${MG_SEED_MIGRATE_TIMEOUT:-90} s: $(mg_qmp_migration_status -t 3 "$MG_SEED_SRC_QMP" 2>&1 || true)"
	fi
}

mg__seed_guest_writing() { grep -q "$MG_SEED_GUEST_SERIAL_RE" "$1"; }

mg_seed_attempt() {
	local tag=$1 bin=$2 t0 uri disk
	t0=$(mg__seed_now_us)
	uri="unix:$MG_TEST_TMP/$tag-migrate.sock"
	disk=$MG_TEST_TMP/$tag-disk.raw
	rm -f "$disk" "${uri#unix:}"
	truncate -s 64M "$disk"
	mg_seed_nbd_start "${tag}nbd" "$disk"
	MG_SEED_NBD_PID=$(eval echo "\$MG_NBD_PID_${tag}nbd")
	mg_seed_qemu_start "${tag}src" "$bin" "$(mg_nbd_sock "${tag}nbd")"
	MG_SEED_SRC_PID=$(mg_qemu_pid "${tag}src")
	# The destination opens the disk at start-up and listens meanwhile.
	mg_seed_qemu_start "${tag}dst" "$bin" "$(mg_nbd_sock "${tag}nbd")" -incoming defer
	MG_SEED_DST_PID=$(mg_qemu_pid "${tag}dst")
	mg_qmp_cmd "$(mg_qemu_qmp "${tag}dst")" \
		"{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"$uri\"}}" >/dev/null ||
		mg_fail "migrate-incoming on ${tag}dst"
	mg_wait_for 10 "incoming socket ${uri#unix:}" test -S "${uri#unix:}"
	if ! mg_wait_for_quiet "${MG_SEED_BOOT_TIMEOUT:-90}" mg__seed_guest_writing "$MG_TEST_TMP/${tag}src.serial"; then
		mg_log "--- serial console of ${tag}src ---"
		tail -n 30 "$MG_TEST_TMP/${tag}src.serial" >&2 || true
		mg_log "--- log of ${tag}src ---"
		tail -n 30 "$MG_TEST_TMP/${tag}src.log" >&2 || true
		mg_fail "the guest of ${tag}src did not write to its disk within ${MG_SEED_BOOT_TIMEOUT:-90} s"
	fi
	MG_SEED_BOOT_S=$(mg__seed_secs $(($(mg__seed_now_us) - t0)))
	MG_SEED_IO_TID=$(mg_seed_tid "$MG_SEED_SRC_PID" "IO iothread1") ||
		mg_fail "no thread 'IO iothread1' in ${tag}src ($MG_SEED_SRC_PID): $(mg_seed_threads "$MG_SEED_SRC_PID")"
	# Fast, so that the attempt is short; the stop comes when the few
	# dirty pages left fit in the downtime.
	mg_qmp_cmd "$(mg_qemu_qmp "${tag}src")" \
		'{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":1073741824}}' >/dev/null ||
		mg_fail "migrate-set-parameters on ${tag}src"
	MG__SEED_MIGRATE_US=$(mg__seed_now_us)
	mg_qemu_migrate "$(mg_qemu_qmp "${tag}src")" "$uri" || mg_fail "migrate on ${tag}src"
	MG_SEED_MIG_TID=$(mg_seed_tid "$MG_SEED_SRC_PID" live_migration) || MG_SEED_MIG_TID=
	if [[ -z $MG_SEED_MIG_TID ]]; then
		# Already over (the thread is created by `migrate` and exits at
		# the end): let the watch read query-migrate.
		MG_SEED_MIG_TID=none
	fi
	mg_seed_watch "${tag}src"
	MG_SEED_ATTEMPT_S=$(mg__seed_secs $(($(mg__seed_now_us) - t0)))
	if [[ $MG_SEED_RESULT == hung ]]; then
		MG__SEED_HUNG[$tag]=1
		mg_seed_threads "$MG_SEED_SRC_PID" >"$MG_TEST_TMP/${tag}src.threads"
	fi
}

mg_seed_teardown() {
	local tag=$1 pid v
	for v in "MG_QEMU_PID_${tag}src" "MG_QEMU_PID_${tag}dst" "MG_NBD_PID_${tag}nbd"; do
		pid=${!v:-}
		[[ -n $pid ]] || continue
		if [[ $v == *src && ${MG__SEED_HUNG[$tag]:-} == 1 ]]; then
			kill -KILL "$pid" 2>/dev/null || true
		else
			mg_kill_pid "$pid"
		fi
		wait "$pid" 2>/dev/null || true
	done
}
