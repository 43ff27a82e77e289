# postcopy.sh - the post-copy test bed (issue 16): two namespace hosts
# (mg-pcsrc, mg-pcdst: names of their own, so they never meet other tests'
# hosts), shared NBD storage, the busy guest in its memory mode, and the
# migration stream through a loopback TCP proxy the test can cut, black-hole
# and replace.  Sourcing it sources common.sh, libvirt.sh, guest.sh, qemu.sh
# and proxy.sh.  Facts behind every wait: tests/testbed/FACTS-postcopy.md.
#
# The routing: `--migrateuri tcp://127.0.0.1:P --listen-address 127.0.0.2`
# makes the destination QEMU listen on 127.0.0.2:P and the source connect to
# 127.0.0.1:P, where proxy "pc" listens and forwards to 127.0.0.2:P.  P is
# picked free in MG_PC_PORTS (default 49600-49700) on both addresses, once per
# bed: a destination QEMU keeps its listener for the whole post-copy, so one
# migration per bed (or call mg_pc_new_port between migrations).
#
#   mg_pc_bed_up DIR        NBD server, both hosts, the proxy, one
#                           `virsh event --all --loop --timestamp` per host
#                           (DIR/events-HOST.log); everything torn down at
#                           exit by pid.  Sets MG_PC_DIR, MG_PC_PORT,
#                           MG_PC_SRC, MG_PC_DST, MG_PC_MIGRATEURI.
#   mg_pc_new_port          a fresh port, the proxy restarted on it.
#   mg_pc_guest_start DOM [MEM_MIB] [DIRTY_MIB]  `virsh create`s the busy
#                           guest (default 128 MiB, dirtying 32) on mg-pcsrc;
#                           returns once its console shows 2 memory passes
#                           after this boot.
#   mg_pc_migrate_args DOM  prints the migration's arguments (one a line):
#                           the flags (MG_PC_BANDWIDTH MiB/s precopy, default
#                           50; MG_PC_POSTCOPY_BANDWIDTH MiB/s post-copy,
#                           default 1), DOM, the destination URI, the
#                           migrate URI and listen address.  The resume is
#                           the same plus --postcopy-resume.
#   mg_pc_migrate_start DOM [TIMEOUT]  `virsh migrate` in the background
#                           (MG_PC_MIGRATE_PID, MG_PC_MIGRATE_LOG); returns
#                           once the source QEMU is postcopy-active and
#                           libvirt says "paused (post-copy)"; fails saying
#                           so when the migration ended first (converged in
#                           precopy: no post-copy happened); then waits until
#                           the destination runs the guest (libvirt "running
#                           (post-copy)": the switch-over loaded).  TIMEOUT 60 s.
#   mg_pc_src_migration DOM the source QEMU's query-migrate status through
#                           libvirt (answers in post-copy, paused or not).
#   mg_pc_dst_migration DOM the destination QEMU's, through its direct test
#                           monitor (libvirt's passthrough does not answer
#                           on the destination during the incoming job);
#                           a fresh connection: no answer when the
#                           destination's main loop is wedged.
#   mg_pc_wait_flowing DOM BYTES [TIMEOUT]  waits until the proxy moved
#                           BYTES more source->destination bytes (pages).
#   mg_pc_break_eof         kills the proxy: both QEMUs read EOF.
#   mg_pc_break_blackhole   SIGSTOPs the proxy: no byte moves, nothing
#                           closes (libvirt and QEMU notice nothing).
#   mg_pc_link_restore      a new proxy process on the same port (the old
#                           one killed first when it lives, e.g. stopped).
#   mg_pc_wait_paused DOM [TIMEOUT]  waits until the source QEMU is
#                           postcopy-paused (through libvirt) and the
#                           destination paused (libvirt "running (post-copy
#                           failed)", or its QEMU postcopy-paused on the
#                           direct monitor when libvirt's view is stale);
#                           logs both; MG_PC_DST_QMP: the destination QEMU's
#                           status, empty when its main loop does not answer
#                           (BQL held by a faulting vCPU).  20 s by default.
#   mg_pc_assert_libvirt_paused DOM  libvirt's view of a first break: source
#                           "paused (post-copy failed)", destination
#                           "running (post-copy failed)", both status XMLs
#                           with phase='postcopy_failed' asyncPaused='yes',
#                           and the events (source Suspended Post-copy
#                           Error, destination Resumed Post-copy Error).
#   mg_pc_resume_by_hand DOM [TIMEOUT]  what an operator runs: the original
#                           `virsh migrate` plus --postcopy-resume, in the
#                           background (it returns only when the migration
#                           completes); returns once the source QEMU is
#                           postcopy-active again or the migration completed.
#                           libvirt 9.0 races here: the call may fail at
#                           once with "job 'migration in' failed in
#                           post-copy phase" although QEMU resumed: that is
#                           logged and accepted when the source QEMU says
#                           postcopy-active/completed.  Sets
#                           MG_PC_RESUME_PID, MG_PC_RESUME_LOG.  30 s.
#   mg_pc_progress HOST DOM "mem pass" lines of DOM's console on HOST.
#   mg_pc_assert_completed DOM [TIMEOUT]  the source domain gone, the
#                           destination "running (migrated)" and its QEMU
#                           migration "completed", and the guest still
#                           working there: two more memory passes and a
#                           disk write on the destination's console after
#                           the completion.  TIMEOUT (120 s) covers the
#                           rest of the post-copy at MG_PC_POSTCOPY_BANDWIDTH.

source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/libvirt.sh"
source "$MG_SRCDIR/tests/lib/guest.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"
source "$MG_SRCDIR/tests/lib/proxy.sh"

MG_PC_SRC=mg-pcsrc
MG_PC_DST=mg-pcdst
: "${MG_PC_PORTS:=49600-49700}"

mg_pc_bed_up() {
	local dir=$1 h
	mkdir -p "$dir"
	MG_PC_DIR=$(cd "$dir" && pwd)
	mg_guest_build >/dev/null
	mg_testbed_nbd_start "$MG_PC_DIR"
	mg_libvirt_host_start "$MG_PC_SRC"
	mg_libvirt_host_start "$MG_PC_DST"
	for h in "$MG_PC_SRC" "$MG_PC_DST"; do
		setsid virsh -c "$(mg_libvirt_uri "$h")" event --all --loop --timestamp \
			</dev/null >"$MG_PC_DIR/events-$h.log" 2>&1 &
		mg_on_exit "mg_kill_pid $!"
	done
	mg_pc_new_port
}

mg_pc_new_port() {
	local p
	p=$(mg_proxy_free_port "${MG_PC_PORTS%-*}" "${MG_PC_PORTS#*-}" 127.0.0.1 127.0.0.2) ||
		mg_fail "no free port in $MG_PC_PORTS on 127.0.0.1 and 127.0.0.2"
	if [[ -n "$(mg_proxy_pid pc)" ]] && mg__proxy_ours "$(mg_proxy_pid pc)" pc; then
		mg_proxy_teardown pc
		mg_wait_for 5 "old proxy gone" mg__proxy_gone "$(mg_proxy_pid pc)"
	fi
	MG_PC_PORT=$p
	MG_PC_MIGRATEURI=tcp://127.0.0.1:$p
	mg_proxy_start pc "127.0.0.1:$p" "127.0.0.2:$p"
}

# The guest's disk writer in post-copy (MG_PC_GUEST_DISK=on|off, default
# off): QEMU emulates virtio-blk in its main loop, holding the BQL, and a
# request whose buffer is a page still on the source blocks there on the
# userfault; while the link is down the destination's monitor is then
# wedged and libvirt cannot resume (FACTS-postcopy.md, "the freeze").
: "${MG_PC_GUEST_DISK:=off}"

# The TCG bed's wedge (FACTS-postcopy.md): under TCG a vCPU also reads
# guest RAM with the BQL held (interrupt delivery: the IDT, the kernel
# stack); when such a page is still on the source at the cut, the
# destination's main loop stops for good and no resume can reach it -
# QEMU's limit, which the guard records but cannot undo.  A test that meets
# it has not run its scenario: it says so, discards that domain and runs
# the scenario again on a new one, at most MG_PC_ATTEMPTS (3) times.
: "${MG_PC_ATTEMPTS:=3}"

# mg_pc_dst_wedged DOM: the destination QEMU's main loop does not answer
# (a fresh connection to its direct monitor, 3 s).
mg_pc_dst_wedged() { [[ -z "$(mg_pc_dst_migration "$1")" ]]; }

# mg_pc_discard DOM [WHY]: ends a spoiled scenario: both QEMUs of DOM killed by
# pid, the background virsh migrate too, the proxy replaced on its port
# (free again once the destination QEMU is gone).
mg_pc_discard() {
	local dom=$1 why=${2:-"the destination wedged (TCG bed limit)"} h pid
	mg_log "discarding $dom: $why; the scenario runs again on a new domain"
	for h in "$MG_PC_SRC" "$MG_PC_DST"; do
		pid=$(mg_libvirt_qemu_pid "$h" "$dom")
		[[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null
	done
	[[ -n ${MG_PC_MIGRATE_PID:-} ]] && kill -KILL "$MG_PC_MIGRATE_PID" 2>/dev/null
	mg_wait_for 30 "$dom gone from $MG_PC_SRC" mg__pc_src_gone "$dom"
	mg_wait_for 30 "$dom gone from $MG_PC_DST" eval '! timeout 5 virsh -q -c "$(mg_libvirt_uri "$MG_PC_DST")" dominfo '"$dom"' >/dev/null 2>&1'
	mg_pc_link_restore
}

# mg_pc_wait_dst_working DOM [N] [TIMEOUT]: waits until the guest made N
# (1) more memory passes on the destination: it runs there and its working
# set crossed, so a cut then leaves on the source only memory it does not
# touch.  Returns 1 when the migration is no longer in post-copy by then
# (it completed first: the scenario cannot happen on this domain).
mg_pc_wait_dst_working() {
	local dom=$1 n=${2:-1} timeout=${3:-90} base
	base=$(mg_pc_progress "$MG_PC_DST" "$dom")
	mg_wait_for "$timeout" "$n memory pass(es) of $dom on $MG_PC_DST" \
		mg__pc_progress_beyond "$MG_PC_DST" "$dom" $((base + n))
	[[ "$(mg_pc_src_migration "$dom")" == postcopy-active ]] && return 0
	mg_log "the migration of $dom left post-copy ($(mg_pc_src_migration "$dom")) before its working set crossed"
	return 1
}

# mg_pc_attempts FUNC: runs FUNC DOM with DOM pcbusy1, pcbusy2, ... until
# it returns 0; FUNC returns 2 after mg_pc_discard when the bed wedged (any
# other failure is mg_fail inside it).  Fails after MG_PC_ATTEMPTS wedges.
mg_pc_attempts() {
	local fn=$1 a rc
	for ((a = 1; a <= MG_PC_ATTEMPTS; a++)); do
		rc=0
		"$fn" "pcbusy$a" || rc=$?
		((rc == 0)) && return 0
		((rc == 2)) || mg_fail "$fn pcbusy$a returned $rc"
	done
	mg_fail "the scenario did not happen in $MG_PC_ATTEMPTS attempts (the destination wedged, or the migration left post-copy first; see above and FACTS-postcopy.md)"
}

mg_pc_guest_start() {
	local dom=$1 mem=${2:-128} dirty=${3:-32} n0 xml
	xml=$MG_PC_DIR/$dom.xml
	MG_GUEST_EXTRA_CMDLINE="migguard.mode=mem migguard.mem_mib=$dirty migguard.disk=$MG_PC_GUEST_DISK" \
		mg_testbed_busy_xml "$MG_PC_DIR" "$MG_PC_SRC" "$dom" "$mem" >"$xml"
	n0=$(mg_testbed_serial_lines "$MG_PC_SRC" "$dom")
	mg_virsh "$MG_PC_SRC" create "$xml" >/dev/null || mg_fail "virsh create $dom on $MG_PC_SRC"
	mg_wait_for 120 "guest $dom dirtying its memory on $MG_PC_SRC (2 passes)" \
		mg__pc_passes_after "$MG_PC_SRC" "$dom" "$n0" 2
}

# At least N "mem pass" lines after line L of HOST's console log of DOM.
mg__pc_passes_after() {
	(($(tail -n +"$(($3 + 1))" "$(mg_testbed_serial_log "$1" "$2")" 2>/dev/null | grep -c 'MIGGUARD-GUEST: mem pass') >= $4))
}

mg_pc_migrate_args() {
	local dom=$1
	printf '%s\n' --live --p2p --postcopy --postcopy-after-precopy \
		--bandwidth "${MG_PC_BANDWIDTH:-50}" --postcopy-bandwidth "${MG_PC_POSTCOPY_BANDWIDTH:-1}" \
		"$dom" "$(mg_libvirt_uri "$MG_PC_DST")" --migrateuri "$MG_PC_MIGRATEURI" --listen-address 127.0.0.2
}

mg_pc_src_migration() {
	timeout 5 virsh -q -c "$(mg_libvirt_uri "$MG_PC_SRC")" qemu-monitor-command "$1" \
		'{"execute":"query-migrate"}' 2>/dev/null | sed -n 's/.*"status":"\([a-z-]*\)".*/\1/p'
}

mg_pc_dst_migration() {
	mg_qmp_cmd -t 3 "$(mg_testbed_test_qmp "$MG_PC_DST" "$1")" '{"execute":"query-migrate"}' 2>/dev/null |
		sed -n 's/.*"status": *"\([a-z-]*\)".*/\1/p'
}

mg__pc_src_is() { [[ "$(mg_pc_src_migration "$1")" == "$2" ]]; }
mg__pc_dst_is() { [[ "$(mg_pc_dst_migration "$1")" == "$2" ]]; }

mg__pc_in_postcopy() {
	local dom=$1
	kill -0 "$MG_PC_MIGRATE_PID" 2>/dev/null || return 2
	[[ "$(mg_libvirt_domstate "$MG_PC_SRC" "$dom" 2>/dev/null)" == "paused (post-copy)" ]] &&
		mg__pc_src_is "$dom" postcopy-active
}

mg_pc_migrate_start() {
	local dom=$1 timeout=${2:-60} deadline rc
	local -a args
	mapfile -t args < <(mg_pc_migrate_args "$dom")
	MG_PC_MIGRATE_LOG=$MG_PC_DIR/migrate-$dom.log
	setsid virsh -c "$(mg_libvirt_uri "$MG_PC_SRC")" migrate "${args[@]}" </dev/null >"$MG_PC_MIGRATE_LOG" 2>&1 &
	MG_PC_MIGRATE_PID=$!
	mg_on_exit "mg_kill_pid $MG_PC_MIGRATE_PID"
	deadline=$((SECONDS + timeout))
	while :; do
		rc=0
		mg__pc_in_postcopy "$dom" || rc=$?
		((rc == 0)) && break
		if ((rc == 2)); then
			rc=0; wait "$MG_PC_MIGRATE_PID" || rc=$?
			mg_fail "the scenario did not happen: the migration of $dom ended (virsh rc $rc: $(tr '\n' ' ' <"$MG_PC_MIGRATE_LOG")) before post-copy was seen; domstate on $MG_PC_DST: $(mg_libvirt_domstate "$MG_PC_DST" "$dom" 2>&1)"
		fi
		((SECONDS < deadline)) || mg_fail "no post-copy within $timeout s: source $(mg_libvirt_domstate "$MG_PC_SRC" "$dom" 2>&1), QEMU $(mg_pc_src_migration "$dom")"
		sleep 0.1
	done
	# Post-copy starts with the switch-over package (device state) that the
	# destination loads holding its BQL: a cut before that load ended
	# wedges the destination (check_section_footer failed, seen here).  The
	# guest runs there once libvirt says running (post-copy).
	mg_wait_for "$timeout" "$dom running (post-copy) on $MG_PC_DST (the switch-over loaded)" \
		mg__pc_state_is "$MG_PC_DST" "$dom" "running (post-copy)"
	mg_log "$dom in post-copy (source paused (post-copy), QEMU postcopy-active; running on $MG_PC_DST; port $MG_PC_PORT)"
}

mg__pc_c2s() { local m; m=$(mg_proxy_moved pc); echo "${m%% *}"; }
mg__pc_moved_beyond() { (($(mg__pc_c2s) >= $1)); }

mg_pc_wait_flowing() {
	local dom=$1 bytes=$2 timeout=${3:-30} base
	base=$(mg__pc_c2s)
	mg_wait_for "$timeout" "$bytes more bytes of $dom's pages through the proxy (from $base)" \
		mg__pc_moved_beyond $((base + bytes))
}

mg_pc_break_eof() { mg_proxy_kill pc; }
mg_pc_break_blackhole() { mg_proxy_blackhole pc; }
mg_pc_link_restore() { mg_proxy_restart pc; }

# The destination's in-band monitor may not answer while paused: a vCPU
# that faulted on a missing page while holding the BQL blocks QEMU's main
# loop until the page comes (seen under TCG, FACTS-postcopy.md).  Its
# MIGRATION event still reaches libvirt (sent from the listen thread), so
# the destination's pause is taken from libvirt's state; the direct
# monitor's answer is recorded in MG_PC_DST_QMP ("no answer" when wedged).
mg__pc_dst_paused() {
	local s
	s=$(mg_libvirt_domstate "$MG_PC_DST" "$1" 2>/dev/null)
	[[ $s == "running (post-copy failed)" ]] && return 0
	# After libvirt 9.0's resume race libvirt's destination state is stale
	# ("running (post-copy)"): then only QEMU can tell.
	mg__pc_dst_is "$1" postcopy-paused
}
mg_pc_wait_paused() {
	local dom=$1 timeout=${2:-20}
	mg_wait_for "$timeout" "source QEMU of $dom postcopy-paused" mg__pc_src_is "$dom" postcopy-paused
	if ! mg_wait_for_quiet "$timeout" mg__pc_dst_paused "$dom"; then
		# After libvirt's resume race only QEMU can tell, and a TCG
		# destination may have wedged: the caller's mg_pc_dst_wedged
		# discards the domain then; anything else is a failure.
		mg_pc_dst_wedged "$dom" ||
			mg_fail "timed out after ${timeout}s waiting for: destination of $dom paused (libvirt running (post-copy failed), or QEMU postcopy-paused)"
		mg_log "destination of $dom: not paused after ${timeout}s and its QEMU does not answer a fresh monitor (wedged)"
		return 0
	fi
	MG_PC_DST_QMP=$(mg_pc_dst_migration "$dom") || true
	mg_log "$dom paused on both sides; libvirt: source '$(mg_libvirt_domstate "$MG_PC_SRC" "$dom" 2>&1)', destination '$(mg_libvirt_domstate "$MG_PC_DST" "$dom" 2>&1)'; destination QEMU (fresh direct monitor): ${MG_PC_DST_QMP:-no answer}"
}

mg__pc_job_paused() {
	grep -Eq "<job [^>]*phase='postcopy_failed'[^>]*asyncPaused='yes'" "$(mg_libvirt_run_dir "$1")/qemu/$2.xml"
}
mg__pc_state_is() { [[ "$(mg_libvirt_domstate "$1" "$2" 2>/dev/null)" == "$3" ]]; }

mg_pc_assert_libvirt_paused() {
	local dom=$1
	mg_wait_for 10 "libvirt: $dom paused (post-copy failed) on $MG_PC_SRC" \
		mg__pc_state_is "$MG_PC_SRC" "$dom" "paused (post-copy failed)"
	mg_wait_for 10 "libvirt: $dom running (post-copy failed) on $MG_PC_DST" \
		mg__pc_state_is "$MG_PC_DST" "$dom" "running (post-copy failed)"
	mg__pc_job_paused "$MG_PC_SRC" "$dom" || mg_fail "source status XML: $(grep '<job' "$(mg_libvirt_run_dir "$MG_PC_SRC")/qemu/$dom.xml")"
	mg__pc_job_paused "$MG_PC_DST" "$dom" || mg_fail "destination status XML: $(grep '<job' "$(mg_libvirt_run_dir "$MG_PC_DST")/qemu/$dom.xml")"
	mg_wait_for 10 "event Suspended Post-copy Error on $MG_PC_SRC" \
		grep -q "for domain '$dom': Suspended Post-copy Error" "$MG_PC_DIR/events-$MG_PC_SRC.log"
	mg_wait_for 10 "event Resumed Post-copy Error on $MG_PC_DST" \
		grep -q "for domain '$dom': Resumed Post-copy Error" "$MG_PC_DIR/events-$MG_PC_DST.log"
}

mg__pc_resumed() {
	local dom=$1 s
	mg__pc_src_gone "$dom" && return 0
	s=$(mg_pc_src_migration "$dom")
	[[ $s == postcopy-active || $s == completed ]]
}
mg__pc_src_gone() { ! timeout 5 virsh -q -c "$(mg_libvirt_uri "$MG_PC_SRC")" dominfo "$1" >/dev/null 2>&1; }

mg_pc_resume_by_hand() {
	local dom=$1 timeout=${2:-30} n=${MG_PC_RESUMES:-0} rc
	local -a args
	mapfile -t args < <(mg_pc_migrate_args "$dom")
	n=$((n + 1)); MG_PC_RESUMES=$n
	MG_PC_RESUME_LOG=$MG_PC_DIR/resume-$dom-$n.log
	mg_log "resume $n: virsh migrate ${args[*]} --postcopy-resume"
	setsid virsh -c "$(mg_libvirt_uri "$MG_PC_SRC")" migrate "${args[@]}" --postcopy-resume \
		</dev/null >"$MG_PC_RESUME_LOG" 2>&1 &
	MG_PC_RESUME_PID=$!
	mg_on_exit "mg_kill_pid $MG_PC_RESUME_PID"
	if ! mg_wait_for_quiet "$timeout" mg__pc_resumed "$dom"; then
		[[ -n ${MG_PC_DST_QMP:-} ]] ||
			mg_fail "resume $n did not resume $dom within $timeout s; the destination QEMU's in-band monitor did not answer since the break (a vCPU waits for a page holding the BQL, TCG), so libvirt's Prepare on $MG_PC_DST waits on query-migrate forever: this break cannot be recovered through libvirt (FACTS-postcopy.md, 'the destination wedge')"
		mg_fail "resume $n did not resume $dom within $timeout s (source QEMU: $(mg_pc_src_migration "$dom"); virsh: $(tr '\n' ' ' <"$MG_PC_RESUME_LOG"))"
	fi
	if ! kill -0 "$MG_PC_RESUME_PID" 2>/dev/null; then
		rc=0; wait "$MG_PC_RESUME_PID" || rc=$?
		if ((rc != 0)); then
			grep -q "job 'migration in' failed in post-copy phase" "$MG_PC_RESUME_LOG" ||
				mg_fail "resume $n failed (rc $rc): $(cat "$MG_PC_RESUME_LOG")"
			mg_log "resume $n: virsh failed at once (libvirt 9.0's resume race: $(tr '\n' ' ' <"$MG_PC_RESUME_LOG")) but QEMU resumed"
		fi
	fi
	mg_log "resume $n: source QEMU $(mg_pc_src_migration "$dom" || true)"
}

mg_pc_progress() {
	local n
	n=$(grep -c 'MIGGUARD-GUEST: mem pass' "$(mg_testbed_serial_log "$1" "$2")" 2>/dev/null) || n=0
	echo "${n:-0}"
}

mg__pc_progress_beyond() { (($(mg_pc_progress "$1" "$2") >= $3)); }

mg_pc_assert_completed() {
	local dom=$1 timeout=${2:-120} lines passes
	mg_wait_for "$timeout" "$dom gone from $MG_PC_SRC (migration completed)" mg__pc_src_gone "$dom"
	mg_wait_for 10 "$dom running (migrated) on $MG_PC_DST" mg__pc_state_is "$MG_PC_DST" "$dom" "running (migrated)"
	mg_wait_for 10 "destination QEMU of $dom: migration completed" mg__pc_dst_is "$dom" completed
	lines=$(mg_testbed_serial_lines "$MG_PC_DST" "$dom")
	passes=$(mg_pc_progress "$MG_PC_DST" "$dom")
	mg_wait_for 60 "guest $dom rewriting its memory on $MG_PC_DST (2 passes after the completion)" \
		mg__pc_progress_beyond "$MG_PC_DST" "$dom" $((passes + 2))
	[[ $MG_PC_GUEST_DISK == off ]] || mg_testbed_wait_writing_after "$MG_PC_DST" "$dom" "$lines" 60
	! grep -q 'failed' "$(mg_testbed_serial_log "$MG_PC_DST" "$dom")" ||
		mg_fail "the guest reported a failure: $(grep failed "$(mg_testbed_serial_log "$MG_PC_DST" "$dom")" | head -n 3)"
	mg_log "$dom completed: gone from $MG_PC_SRC, running on $MG_PC_DST, memory passes $passes -> $(mg_pc_progress "$MG_PC_DST" "$dom")$([[ $MG_PC_GUEST_DISK == off ]] || echo ", disk writes continue")"
}
