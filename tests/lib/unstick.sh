# unstick.sh - the end-to-end scenarios of the "unstick" rung (issue 13) on
# the two-host bed with the Nova-shaped guest (no direct monitor).  Source
# after e2e.sh.  The daemon contract the checks read (one log line per
# ladder record, the same records in the incident's report.json "actions"):
#   domain DOM: action STEP: RESULT: DETAIL     (RESULT ok or a strerror)
#   cancel  "Device or resource busy", "not sent ..." during a BQL hang;
#   unstick "check N/5 NAME: ..." for pinned, hang, wait, socket, peer (the
#           first failing check ends the list), then "shut down fd ..." (ok);
#   unstick-check ok ("QEMU recovered ..."); disk-check ok once an I/O
#   succeeded after the recovery; after a refusal recover-check, kill ...
#
# mg_unstick_guards_up [KEY=VALUE...] : migguardd on both hosts (gsrc,
#     gdst), libvirt's monitor only (--no-direct), action = recover,
#     probe_interval 500ms, monitor_timeout 2s, finish_timeout
#     $MG_UNSTICK_FINISH (5) s, recover_grace 5s, incoming_timeout 30s, plus
#     the given keys.
# mg_unstick_boots HOST DOM : how many times the guest booted (its serial
#     log is appended across boots: "MIGGUARD-GUEST: disk" lines).
# mg_unstick_wait_recovered PID DOM TIMEOUT : waits until the source QEMU
#     PID is out of the hang, seen from outside: its main thread no longer
#     in futex(2) (two samples 50 ms apart, the process alive, not exiting)
#     and libvirt's domstate "running"; sets MG_RECOVERED_AT (epoch s.us);
#     fails at once when the QEMU is gone, else after TIMEOUT, saying what
#     it saw.
# mg_unstick_assert_recovered DOM QEMU_PID : the recovery the rung promises,
#     from outside: QEMU_PID out of the hang (mg_unstick_wait_recovered)
#     within finish_timeout + 2 s of MG_HANG_START, the guard's HUNG,
#     "shut down fd" and unstick-check ok lines, the same QEMU alive,
#     query-status through libvirt "running", no kill.  Sets
#     MG_RECOVERED_SECS (hang start to running).
# mg_unstick_libvirt_clean DOM : libvirt after the recovery: `virsh migrate`
#     ($MG_MIGRATE_PID) returned, with an error; domjobinfo on mg-src says
#     "Job type: None"; a later domjobabort says no job is active; `virsh
#     list --all` answers within 5 s on both hosts; no DOM left on mg-dst.
# mg_unstick_check_actions INC MODE : the incident's report.json "actions"
#     (waits up to 10 s for the last record).  MODE "unstick": cancel not
#     sent, the five checks ok in order, one "shut down fd" unstick ok,
#     unstick-check ok, no kill; with MG_UNSTICK_DISK=1 also disk-check ok.
#     MODE "refuse:CHECK" (pinned, hang, wait, socket or peer): the checks
#     before CHECK ok, CHECK not ok, none after it, no fd shut down, then
#     kill ok after the refusal.  Prints the steps.
# mg_unstick_storage_test TRANSPORT [iothread] : the whole storage-stall
#     scenario over NBD TRANSPORT (unix|tcp), described in
#     tests/integration/e2e_unstick_storage_unix.sh.

: "${MG_UNSTICK_FINISH:=5}"

mg_unstick_guards_up() {
	local -a keys=(guard.probe_interval=500ms guard.monitor_timeout=2s guard.finish_timeout=${MG_UNSTICK_FINISH}s
		guard.action=${MG_UNSTICK_ACTION:-recover} guard.recover_grace=5s guard.incoming_timeout=30s "$@")
	mg_e2e_guard_conf --no-direct mg-src "$MG_TEST_TMP/src.conf" "${keys[@]}"
	mg_e2e_guard_conf --no-direct mg-dst "$MG_TEST_TMP/dst.conf" "${keys[@]}"
	mg_e2e_guard_start mg-src gsrc "$MG_TEST_TMP/src.conf"
	mg_e2e_guard_start mg-dst gdst "$MG_TEST_TMP/dst.conf"
}

mg_unstick_boots() {
	local n
	n=$(grep -c 'MIGGUARD-GUEST: disk' "$(mg_testbed_serial_log "$1" "$2")" 2>/dev/null) || n=0
	echo "${n:-0}"
}

# 0 when QEMU PID is out of the hang: alive (state S or R, not exiting),
# its main thread not in futex(2), libvirt says running; 2 when it is gone.
mg__unstick_out_of_hang() {
	local st sc
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 2
	[[ $st == [SR] ]] || { [[ $st == [ZX] ]] && return 2; return 1; }
	read -r sc _ <"/proc/$1/task/$1/syscall" 2>/dev/null || return 2
	[[ $sc =~ ^[0-9]+$ && $sc != 202 ]] && [[ "$(mg_libvirt_domstate mg-src "$2" 2>/dev/null)" == running* ]]
}
mg_unstick_wait_recovered() {
	local pid=$1 dom=$2 timeout=$3 deadline rc t why=""
	deadline=$((SECONDS + timeout))
	while :; do
		rc=0; mg__unstick_out_of_hang "$pid" "$dom" || rc=$?
		# Twice in a row, 50 ms apart: not a sample taken while exiting.
		if ((rc == 0)); then
			t=${EPOCHREALTIME/,/.}
			sleep 0.05
			mg__unstick_out_of_hang "$pid" "$dom" && break
			rc=1
		fi
		((rc == 2)) && why="the source QEMU $pid is gone (killed or crashed), so the guest was not recovered in place"
		((rc != 2 && SECONDS < deadline)) || break
		sleep 0.05
	done
	if ((rc != 0)); then
		mg_log "--- migguardd on mg-src (last 40 lines) ---"
		tail -n 40 "$(mg_guard_log gsrc)" >&2
		[[ -n $why ]] || why="$dom not recovered on mg-src within $timeout s: main thread in syscall $(cut -d' ' -f1 "/proc/$pid/task/$pid/syscall" 2>/dev/null || echo '(gone)'), domstate '$(mg_libvirt_domstate mg-src "$dom" 2>&1 || true)'"
		mg_fail "$why"
	fi
	MG_RECOVERED_AT=$t
}

mg_unstick_assert_recovered() {
	local dom=$1 qemu_pid=$2 secs
	mg_unstick_wait_recovered "$qemu_pid" "$dom" $((MG_UNSTICK_FINISH + 15))
	secs=$(awk -v a="$MG_HANG_START" -v b="$MG_RECOVERED_AT" 'BEGIN { printf "%.2f", b - a }')
	MG_RECOVERED_SECS=$secs
	mg_log "running on mg-src again $secs s after the hang began"
	mg_guard_wait_log gsrc 10 "domain $dom: migration HUNG"
	mg_guard_wait_log gsrc 10 "domain $dom: action unstick: ok: shut down fd"
	mg_guard_wait_log gsrc 10 "domain $dom: action unstick-check: ok"
	awk -v s="$secs" -v l="$((MG_UNSTICK_FINISH + 2))" 'BEGIN { exit !(s <= l) }' ||
		mg_fail "running again $secs s after the hang began (limit finish_timeout + 2 s = $((MG_UNSTICK_FINISH + 2)) s)"
	[[ "$(mg_libvirt_qemu_pid mg-src "$dom")" == "$qemu_pid" ]] && kill -0 "$qemu_pid" ||
		mg_fail "the source QEMU $qemu_pid is gone: the guest was restarted"
	[[ "$(timeout 5 virsh -q -c "$(mg_libvirt_uri mg-src)" qemu-monitor-command "$dom" '{"execute":"query-status"}')" == *'"running":true'* ]] ||
		mg_fail "QEMU's query-status through libvirt does not say running"
	grep -q "domain $dom: action kill" "$(mg_guard_log gsrc)" && mg_fail "the guard killed QEMU although unstick recovered it"
	return 0
}

mg_unstick_libvirt_clean() {
	local dom=$1 rc out h t0
	mg_wait_for 40 "virsh migrate of $dom to return" eval "! kill -0 $MG_MIGRATE_PID 2>/dev/null"
	rc=0; wait "$MG_MIGRATE_PID" 2>/dev/null || rc=$?
	((rc != 0)) || mg_fail "virsh migrate succeeded although the migration was broken off"
	mg_log "virsh migrate returned $rc: $(tr '\n' ' ' <"$MG_MIGRATE_LOG")"
	job_none() { timeout 5 virsh -c "$(mg_libvirt_uri mg-src)" domjobinfo "$1" 2>/dev/null | grep -q '^Job type: *None'; }
	mg_wait_for 35 "libvirt's job on $dom to end on mg-src (domjobinfo: Job type: None)" job_none "$dom"
	rc=0; out=$(timeout 35 virsh -c "$(mg_libvirt_uri mg-src)" domjobabort "$dom" 2>&1) || rc=$?
	[[ $rc != 0 && $out == *"no job is active"* ]] || mg_fail "a later domjobabort on mg-src: rc $rc: $out"
	for h in mg-src mg-dst; do
		t0=${EPOCHREALTIME/,/.}
		timeout 5 virsh -q -c "$(mg_libvirt_uri $h)" list --all >"$MG_TEST_TMP/list-$h" ||
			mg_fail "virsh list --all on $h did not answer within 5 s"
		mg_log "$h: virsh list --all answered in $(awk -v a="$t0" -v b="${EPOCHREALTIME/,/.}" 'BEGIN{printf "%.2f", b-a}') s"
	done
	gone_on_dst() { ! timeout 5 virsh -q -c "$(mg_libvirt_uri mg-dst)" list --all | grep -qw "$1"; }
	mg_wait_for 30 "no leftover $dom on mg-dst" gone_on_dst "$dom"
}

mg_unstick_check_actions() {
	local inc=$1 mode=$2 last=unstick-check
	[[ $mode == refuse:* ]] && last=kill
	[[ ${MG_UNSTICK_DISK:-} == 1 ]] && last=disk-check
	has_last() { grep -q "\"step\": *\"$1\"" "$2/report.json"; }
	mg_wait_for_quiet 10 has_last "$last" "$inc" || true
	python3 - "$inc/report.json" "$mode" "${MG_UNSTICK_DISK:-0}" <<-'PY' || mg_fail "the incident's actions do not show $mode"
		import json, sys
		acts = json.load(open(sys.argv[1])).get("actions", [])
		mode, disk = sys.argv[2], sys.argv[3] == "1"
		for a in acts:
		    print("  %-14s %-28s %s" % (a["step"], a["result"], a["detail"]))
		bad = []
		def check(c, what):
		    if not c:
		        bad.append(what)
		steps = [a["step"] for a in acts]
		cancel = [a for a in acts if a["step"] == "cancel"]
		check(cancel and cancel[0]["result"] == "Device or resource busy" and cancel[0]["detail"].startswith("not sent"),
		      "cancel was not recorded as not sent: %s" % cancel)
		names = ["pinned", "hang", "wait", "socket", "peer"]
		uns = [a for a in acts if a["step"] == "unstick"]
		checks = [a for a in uns if a["detail"].startswith("check ")]
		shut = [a for a in uns if a["detail"].startswith("shut down fd")]
		upto = 5 if mode == "unstick" else names.index(mode.split(":", 1)[1]) + 1
		check(len(checks) == upto, "%d unstick check records, expected %d" % (len(checks), upto))
		for i, a in enumerate(checks[:upto]):
		    want = "check %d/5 %s:" % (i + 1, names[i])
		    check(a["detail"].startswith(want), "unstick record %d: %r does not start %r" % (i + 1, a["detail"], want))
		    if i + 1 < upto or mode == "unstick":
		        check(a["result"] == "ok", "%s: %s" % (want, a["result"]))
		    else:
		        check(a["result"] != "ok", "%s ok, but it should have refused" % want)
		if mode == "unstick":
		    check(len(shut) == 1 and shut[0]["result"] == "ok", "no single ok 'shut down fd' record: %s" % shut)
		    uc = [a for a in acts if a["step"] == "unstick-check"]
		    check(len(uc) == 1 and uc[0]["result"] == "ok", "unstick-check: %s" % uc)
		    check("kill" not in steps, "QEMU was killed although unstick recovered it")
		    if shut and uc:
		        check(acts.index(shut[0]) < acts.index(uc[0]), "unstick-check before the shutdown")
		    if disk:
		        dc = [a for a in acts if a["step"] == "disk-check"]
		        check(len(dc) == 1 and dc[0]["result"] == "ok", "disk-check: %s" % dc)
		else:
		    check(not shut, "an fd was shut down although check %s failed: %s" % (mode, shut))
		    kills = [a for a in acts if a["step"] == "kill"]
		    check(kills and kills[0]["result"] == "ok", "no kill ok after the refusal: %s" % kills)
		    if kills and checks:
		        check(acts.index(checks[-1]) < acts.index(kills[0]), "kill came before unstick's refusal")
		for b in bad:
		    print("CHECK-FAIL:", b)
		sys.exit(1 if bad else 0)
	PY
}

mg_unstick_storage_test() {
	local transport=$1 shape=${2:-} tb=$MG_TEST_TMP/tb dom=instance-0000002a
	local qemu_pid boots lines t_resume
	[[ $transport == tcp ]] && export MG_TESTBED_NBD_TCP=1
	mg_e2e_up "$tb"
	mg_unstick_guards_up
	mg_e2e_define_nova "$tb" mg-src "$dom" "$transport" "$shape"
	qemu_pid=$(mg_libvirt_qemu_pid mg-src "$dom")
	boots=$(mg_unstick_boots mg-src "$dom")
	mg_e2e_stall "$tb" "$dom"
	MG_HANG_DOM=$dom mg_e2e_hang_watch "$qemu_pid" drain 30
	mg_unstick_assert_recovered "$dom" "$qemu_pid"
	mg_unstick_libvirt_clean "$dom"
	# The storage comes back: the guest writes again through the same QEMU.
	lines=$(mg_testbed_serial_lines mg-src "$dom")
	mg_nbd_resume "$tb"
	t_resume=$SECONDS
	mg_testbed_wait_writing_after mg-src "$dom" "$lines" 60 "the guest writing again after the storage returned"
	(($(mg_unstick_boots mg-src "$dom") == boots)) || mg_fail "the guest booted again (serial log)"
	mg_guard_wait_log gsrc 60 "domain $dom: action disk-check:"
	mg_assert_grep "domain $dom: action disk-check: ok" "$(mg_guard_log gsrc)"
	mg_log "disk-check ok $((SECONDS - t_resume)) s after the storage returned"
	MG_UNSTICK_DISK=1 mg_unstick_check_actions "$(mg_guard_incident gsrc "$dom")" unstick
	# A second migration of the same domain completes.
	mg_testbed_migrate "$tb" "$dom" >"$MG_TEST_TMP/migrate2.log" 2>&1 ||
		mg_fail "the second migration failed: $(cat "$MG_TEST_TMP/migrate2.log")"
	[[ "$(mg_libvirt_domstate mg-dst "$dom")" == running* ]] || mg_fail "$dom not running on mg-dst after the second migration"
	mg_log "ok: unstick over $transport NBD${shape:+ ($shape)}: running $MG_RECOVERED_SECS s after the hang began, disk working, second migration completed"
}
