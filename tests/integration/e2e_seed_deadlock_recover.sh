# timeout: 600
# The seed's own deadlock (DESIGN.md section 1) end to end on the two-host
# libvirt bed: the busy guest runs on the seeded QEMU (scripts/seeded-qemu.sh:
# QEMU 7.2 with 8.2's virtio-blk dataplane-stop ordering), its disk on an
# IOThread and on nbdkit with the delay filter (200 ms), so a request is in
# flight when live_migration stops the VM; 4 migrations in 5 then deadlock:
# live_migration holds the BQL and waits for the IOThread's AioContext lock,
# IO iothread1 holds that and waits for the BQL.  Guards on both hosts with
# action = recover, restart = yes.
#
# MG_SEED_RUNS (default 5) migrations, each decided from OUTSIDE the guard
# (mg_e2e_seed_watch: the two threads' futex waits in /proc, no QMP answer).
# A hung run must be caught and recovered: HUNG at finish_timeout; the
# incident names the lock cycle, its two threads and the known issue
# qemu-bfa36802d170 with its upstream fix; the ladder records the cancel
# not sent (the BQL is held), unstick's refusal (issue 13: checks 1/5
# pinned and 2/5 hang ok, 3/5 wait not ok - a lock cycle is no known kind
# of wait, there is no socket to shut - and no later check, no fd shut
# down, no yank), recover-check, then the kill,
# the kill of the verified pid and the restart; the domain runs again on the
# source within finish_timeout + recover_grace + 10 s of the hang; `virsh
# list --all` answers on both hosts within 5 s; no leftover on the
# destination.  A run that did not hang must have completed with no
# incident and no action: it counts as "did not hang", never as a pass of the
# guard.  Fails when no run hung (the scenario did not happen), when a hang
# was not caught or recovered, or when a run that did not hang got an
# incident.  Prints "k of N runs hung; k caught; k recovered" and the times.
source "$MG_SRCDIR/tests/lib/e2e.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"

runs=${MG_SEED_RUNS:-5}
finish_timeout=5 recover_grace=3
dom=busy
tb=$MG_TEST_TMP/tb

# MG_SEED_QEMU overrides the emulator (e.g. /usr/bin/qemu-system-x86_64:
# the unseeded QEMU never hangs, which exercises the "did not hang" path).
if [[ -n ${MG_SEED_QEMU:-} ]]; then
	export MG_TESTBED_EMULATOR=$MG_SEED_QEMU
else
	mg_e2e_seeded_qemu
	export MG_TESTBED_EMULATOR=$MG_SEED_DIR/qemu-system-x86_64
fi
export MG_TESTBED_NBD_DELAY=200ms
mg_e2e_up "$tb"
timing=(guard.probe_interval=500ms guard.monitor_timeout=2s guard.finish_timeout=${finish_timeout}s
	guard.incoming_timeout=30s guard.action=recover guard.recover_grace=${recover_grace}s guard.restart=yes)
mg_e2e_guard_conf mg-src "$MG_TEST_TMP/src.conf" "${timing[@]}"
mg_e2e_guard_conf mg-dst "$MG_TEST_TMP/dst.conf" "${timing[@]}"
mg_e2e_guard_start mg-src gsrc "$MG_TEST_TMP/src.conf"
mg_e2e_guard_start mg-dst gdst "$MG_TEST_TMP/dst.conf"
src_log=$(mg_guard_log gsrc) dst_log=$(mg_guard_log gdst)
tq=$(mg_testbed_test_qmp mg-src "$dom")

now() { echo "${EPOCHREALTIME/,/.}"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
count() { local n; n=$(grep -Ec -- "$1" "$2" 2>/dev/null) || true; echo "${n:-0}"; }
failures=()
problem() { mg_log "PROBLEM (run $run): $*"; failures+=("run $run: $*"); }

# start_and_wait_writing start|LINE: starts the domain on mg-src (its
# serial log as it is now), or waits for the QEMU already started after
# the serial log had LINE lines.
start_and_wait_writing() {
	local lines=$1
	if [[ $1 == start ]]; then
		lines=$(mg_testbed_serial_lines mg-src "$dom")
		mg_virsh mg-src start "$dom" >/dev/null || mg_fail "virsh start $dom on mg-src"
	fi
	mg_testbed_wait_writing_after mg-src "$dom" "$lines" 90 "the guest on mg-src writing to its disk"
}

t_setup=$(now)
mg_e2e_define_busy "$tb" mg-src "$dom"
mg_log "seeded QEMU $MG_TESTBED_EMULATOR; busy guest writing $(secs "$t_setup" "$(now)") s after define"

hung=0 caught=0 recovered=0 done_ok=0
results=()
for ((run = 1; run <= runs; run++)); do
	t_run=$(now)
	qemu_pid=$(mg_libvirt_qemu_pid mg-src "$dom")
	n_inc=$(count "domain $dom: incident written to" "$src_log")
	n_hung=$(count "domain $dom: migration HUNG" "$src_log")
	n_act=$(count "domain $dom: action " "$src_log")
	n_done=$(count "domain $dom: migration completed after" "$src_log")
	n_fin=$(count "domain $dom: actions finished" "$src_log")
	n_dst_inc=$(count "incident written to" "$dst_log")
	mg_testbed_migrate_bg "$tb" "$dom"
	mg_e2e_seed_watch "$qemu_pid" "$tq" "$MG_MIGRATE_PID" 90
	mg_log "run $run: $MG_SEED_RESULT: $MG_SEED_DETAIL"

	case $MG_SEED_RESULT in
	completed)
		# Not a pass of the guard: the scenario did not happen this time.
		[[ "$(mg_libvirt_domstate mg-dst "$dom")" == running* ]] || problem "migrated, but not running on mg-dst"
		mg_guard_wait_log gsrc 20 "domain $dom: migration completed after" $((n_done + 1))
		(($(count "domain $dom: incident written to" "$src_log") == n_inc)) || problem "an incident for a migration that did not hang"
		(($(count "domain $dom: migration HUNG" "$src_log") == n_hung)) || problem "HUNG for a migration that did not hang"
		(($(count "domain $dom: action " "$src_log") == n_act)) || problem "an action for a migration that did not hang"
		done_ok=$((done_ok + 1))
		result="run $run: did not hang (migration completed) $(secs "$t_run" "$(now)") s after migrate"
		# Back to a clean start: the transient copy goes, the persistent
		# definition on mg-src starts again.
		mg_virsh mg-dst destroy "$dom" >/dev/null || mg_fail "virsh destroy $dom on mg-dst"
		start_and_wait_writing start
		results+=("$result; the run with the next boot $(secs "$t_run" "$(now)") s")
		;;
	hung)
		hung=$((hung + 1))
		h0=$MG_SEED_HANG_START
		read -r lm_tid io_tid <<<"$MG_SEED_THREADS"
		# The deadlocked guest writes no more: whatever comes after this
		# line is the restarted one's.
		lines=$(mg_testbed_serial_lines mg-src "$dom")
		mg_guard_wait_log gsrc $((finish_timeout + 15)) "domain $dom: migration HUNG" $((n_hung + 1))
		t_hung=$(now)
		mg_guard_wait_log gsrc 20 "domain $dom: incident written to" $((n_inc + 1))
		t_inc=$(now)
		inc=$(sed -n "s/.*domain $dom: incident written to \([^ ]*\) .*/\1/p" "$src_log" | sed -n "$((n_inc + 1))p")
		restarted() {
			local p; p=$(mg_libvirt_qemu_pid mg-src "$dom")
			[[ -n $p && $p != "$qemu_pid" ]] && [[ "$(mg_libvirt_domstate mg-src "$dom")" == running* ]]
		}
		limit=$((finish_timeout + recover_grace + 10))
		rec_ok=1
		if mg_wait_for_quiet 60 restarted; then
			t_rec=$(now)
			recovered_in=$(secs "$h0" "$t_rec")
			awk -v s="$recovered_in" -v l="$limit" 'BEGIN { exit !(s <= l) }' ||
				{ problem "running again on mg-src $recovered_in s after the hang began (limit $limit s)"; rec_ok=0; }
		else
			t_rec="" recovered_in=never rec_ok=0
			problem "not running again on mg-src with a new QEMU 60 s after the verdict"
		fi
		for h in mg-src mg-dst; do
			t0=$(now)
			timeout 5 virsh -q -c "$(mg_libvirt_uri $h)" list --all >"$MG_TEST_TMP/list-$h" ||
				{ problem "virsh list --all on $h did not answer within 5 s"; rec_ok=0; }
			mg_log "run $run: $h: virsh list --all answered in $(secs "$t0" "$(now)") s"
		done
		gone_on_dst() { ! timeout 5 virsh -q -c "$(mg_libvirt_uri mg-dst)" list --all | grep -qw "$dom"; }
		mg_wait_for_quiet 30 gone_on_dst || { problem "leftover $dom on mg-dst"; rec_ok=0; }
		((rec_ok)) && recovered=$((recovered + 1))
		mg_guard_wait_log gsrc 30 "domain $dom: actions finished" $((n_fin + 1))
		# The last records reach report.json off the guard's loop.
		has_restart() { grep -q '"step": *"restart"' "$inc/report.json"; }
		mg_wait_for_quiet 10 has_restart || true
		# The incident and its ladder, read from report.json and stacks.txt.
		check_out=$MG_TEST_TMP/check-$run.txt
		check_rc=0
		python3 - "$inc" "$h0" "$qemu_pid" "$lm_tid" "$io_tid" "$finish_timeout" >"$check_out" 2>&1 <<'PY' || check_rc=$?
import datetime, json, re, sys
inc, h0, qpid, lm_tid, io_tid, ft = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
r = json.load(open(inc + "/report.json"))
stacks = open(inc + "/stacks.txt").read()
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)
def at(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
s = r.get("snapshot") or {}
names = {t["tid"]: t["name"] for t in s.get("threads", [])}
locks = s.get("locks") or {}
bql = locks.get("bql")
verdict_after = at(r["timing"]["verdict_at"]) - h0
print("HUNG %.2f s after the hang began (finish_timeout %.0f s)" % (verdict_after, ft))
check(r["verdict"] == "hung", "verdict %s" % r["verdict"])
check(ft - 0.5 <= verdict_after <= ft + 2.5, "HUNG %.2f s after the hang began, not at finish_timeout" % verdict_after)
# The lock cycle: live_migration holds the BQL and waits for the lock IO
# iothread1 holds, which waits for the BQL.
cyc = [c for c in locks.get("cycles", []) if sorted(c["threads"]) == sorted([lm_tid, io_tid])]
check(cyc, "no lock cycle of live_migration (%d) and IO iothread1 (%d): %s" % (lm_tid, io_tid, locks.get("cycles")))
check(names.get(lm_tid) == "live_migration" and names.get(io_tid) == "IO iothread1",
      "thread names %s %s" % (names.get(lm_tid), names.get(io_tid)))
if cyc:
    c = cyc[0]
    i = c["threads"].index(lm_tid)
    # waits_for[i] is what thread i waits for, held by thread i+1.
    check(c["waits_for"][i] != bql and c["waits_for"][(i + 1) % 2] == bql,
          "live_migration does not hold the BQL (%s) and wait for the other lock: %s" % (bql, c))
    check(locks.get("bql_owner") == lm_tid, "BQL owner %s, not live_migration" % locks.get("bql_owner"))
    print("cycle:", c["sentence"])
spec = re.compile(r"live_migration (\(\d+\) )?holds the BQL and waits for .* held by IO iothread1( \(\d+\))?, which waits for the BQL")
check(spec.search(stacks) or spec.search(r.get("summary") or ""),
      "the cycle sentence does not say 'live_migration holds the BQL and waits for ... held by IO iothread1, which waits for the BQL'")
sig = [g for g in s.get("signatures", []) if g["id"] == "qemu-bfa36802d170"]
check(sig and sig[0]["status"] == "match",
      "known issue qemu-bfa36802d170 not matched: %r" % ((sig[0]["status"], sig[0]["reason"]) if sig else "no such signature",))
check("known issue [qemu-bfa36802d170]" in (r.get("summary") or ""), "the summary does not name qemu-bfa36802d170")
check(sig and "bfa36802d170" in (sig[0].get("fix") or "") and "virtio-blk: avoid using ioeventfd state" in (sig[0].get("fix") or ""),
      "the upstream fix is not named")
# The ladder.
acts = r.get("actions", [])
steps = [a["step"] for a in acts]
d = {a["step"]: a for a in acts}
print("steps:", ", ".join("%s %s +%.2f s" % (a["step"], a["result"], at(a["at"]) - h0) for a in acts))
order = ["cancel", "unstick", "recover-check", "kill", "kill-check", "restart"]
check([x for i, x in enumerate(steps) if x in order and (i == 0 or steps[i - 1] != x)] == order,
      "steps %s, not %s" % (steps, order))
check("cancel" in d and d["cancel"]["result"] != "ok" and d["cancel"]["detail"].startswith("not sent"),
      "cancel: %s" % d.get("cancel"))
check("yank" not in steps, "a yank was sent: %s" % steps)
# unstick (issue 13) refuses a lock cycle at its third check (three check
# records and the refusal) and the ladder goes on to kill.
uns = [a for a in acts if a["step"] == "unstick"]
checks = [a for a in uns if a["detail"].startswith("check ")]
check(len(uns) == 4 and [a["detail"][:12] for a in checks] == ["check 1/5 pi", "check 2/5 ha", "check 3/5 wa"] and
      checks[0]["result"] == "ok" and checks[1]["result"] == "ok" and checks[2]["result"] != "ok" and
      "lock cycle" in checks[2]["detail"] and uns[3]["detail"].startswith("refused at check 3 (wait)"),
      "unstick did not refuse at check 3/5 wait after two ok checks: %s" % [(a["result"], a["detail"]) for a in uns])
check(not uns or ("kill" in steps and acts.index(uns[-1]) < steps.index("kill")), "kill did not follow unstick's refusal")
check("kill" in d and d["kill"]["result"] == "ok" and d["kill"]["detail"] == "SIGKILL to QEMU pid %d" % qpid,
      "kill: %s" % d.get("kill"))
check("kill-check" in d and d["kill-check"]["result"] == "ok", "kill-check: %s" % d.get("kill-check"))
check("restart" in d and d["restart"]["result"] == "ok", "restart: %s" % d.get("restart"))
for b in bad:
    print("CHECK-FAIL:", b)
sys.exit(1 if bad else 0)
PY
		sed 's/^/    /' "$check_out" >&2
		((check_rc == 0)) || grep -q '^CHECK-FAIL' "$check_out" ||
			echo "CHECK-FAIL: HUNG: the incident check itself failed (exit $check_rc): $inc" >>"$check_out"
		while read -r l; do problem "${l#CHECK-FAIL: }"; done < <(grep '^CHECK-FAIL' "$check_out")
		# "Caught": HUNG and the incident names the cycle of these threads
		# (signature and wording checked above, reported separately).
		if grep -q '^HUNG' "$check_out" &&
			! grep -q '^CHECK-FAIL: \(verdict\|HUNG\|no lock cycle\|thread names\)' "$check_out"; then
			caught=$((caught + 1))
		fi
		result="run $run: hung $(secs "$t_run" "$h0") s after migrate; from the hang: HUNG seen +$(secs "$h0" "$t_hung") s, incident +$(secs "$h0" "$t_inc") s, running again +$recovered_in s"
		[[ -n $t_rec ]] || { results+=("$result"); break; }
		# The restarted QEMU boots the guest again: the next run starts there.
		mg_wait_for 30 "virsh migrate of run $run ended" eval "! kill -0 $MG_MIGRATE_PID 2>/dev/null"
		start_and_wait_writing "$lines"
		results+=("$result; the run with the next boot $(secs "$t_run" "$(now)") s")
		;;
	*)
		problem "the migration neither completed nor hung: $MG_SEED_RESULT ($MG_SEED_DETAIL)"
		results+=("run $run: $MG_SEED_RESULT")
		mg_log "--- virsh migrate ---"; cat "$MG_MIGRATE_LOG" >&2 || true
		break
		;;
	esac
	(($(count "incident written to" "$dst_log") == n_dst_inc)) || problem "the destination's guard wrote an incident"
done

printf '%s\n' "${results[@]}" >&2
summary="$hung of $runs runs hung; $caught caught; $recovered recovered ($done_ok did not hang)"
mg_log "$summary"
echo "$summary"
((hung > 0)) || failures+=("no run hung: the scenario did not happen")
((caught == hung)) || failures+=("$((hung - caught)) hang(s) not caught")
((recovered == hung)) || failures+=("$((hung - recovered)) hang(s) not recovered")
if ((${#failures[@]})); then
	mg_log "--- migguardd on mg-src (last 60 lines) ---"
	tail -n 60 "$src_log" >&2
	printf '  %s\n' "${failures[@]}" >&2
	mg_fail "${#failures[@]} problem(s)"
fi
