# End to end on two real libvirt hosts: a busy guest's migration hangs at
# switch-over on a storage stall (NBD server stopped).  The source's guard
# declares HUNG within finish_timeout + 2 s and writes an incident naming
# live_migration as the BQL owner, the I/O wait ending at the stopped NBD
# server, and the storage-stall signature; virsh domjobinfo does not answer
# while `migguard snapshot --domain` does; the destination's guard reports
# the incoming migration STALLED after incoming_timeout.
source "$MG_SRCDIR/tests/lib/e2e.sh"

tb=$MG_TEST_TMP/tb
dom=busy
mg_e2e_up "$tb"

timing=(guard.probe_interval=500ms guard.monitor_timeout=2s guard.finish_timeout=5s guard.incoming_timeout=15s)
mg_e2e_guard_conf mg-src "$MG_TEST_TMP/src.conf" "${timing[@]}"
mg_e2e_guard_conf mg-dst "$MG_TEST_TMP/dst.conf" "${timing[@]}"
mg_e2e_guard_start mg-src gsrc "$MG_TEST_TMP/src.conf"
mg_e2e_guard_start mg-dst gdst "$MG_TEST_TMP/dst.conf"

mg_testbed_create_busy "$tb" "$dom"
mg_testbed_wait_writing mg-src "$dom" 90
mg_e2e_stall "$tb" "$dom"
stalled_at=$SECONDS

mg_guard_wait_log gsrc 60 "domain $dom: outgoing migration tracked"
mg_guard_wait_log gdst 60 "domain $dom: incoming migration tracked"
mg_guard_wait_log gsrc 60 "domain $dom: migration HUNG"
src_log=$(mg_guard_log gsrc)
mg_assert_grep "migration HUNG: .*BQL held by live_migration" "$src_log"
mg_guard_wait_log gsrc 30 "domain $dom: incident written to"
inc=$(mg_guard_incident gsrc "$dom")
mg_log "incident: $inc (HUNG $((SECONDS - stalled_at)) s after the stall began)"
nbd_pid=$(mg_nbd_pid "$tb")
python3 - "$inc/report.json" "$nbd_pid" <<'PY' || mg_fail "incident report incomplete"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["verdict"] == "hung", r["verdict"]
s = r["snapshot"]
owner = s["locks"]["bql_owner"]
names = {t["tid"]: t["name"] for t in s["threads"]}
assert names.get(owner) == "live_migration", (owner, names)
peers = [w for w in s["io_waits"] if (w.get("peer") or {}).get("pid") == int(sys.argv[2])]
assert peers and peers[0]["peer"]["state"].startswith("T"), s["io_waits"]
assert any(g["status"] == "match" and "storage-stall" in g["id"] for g in s["signatures"]), s["signatures"]
PY
[[ -f $inc/context/status.xml ]] || mg_fail "no libvirt status XML in the incident context"

# virsh hangs on the domain; migguard's snapshot does not.
rc=0; timeout 5 virsh -c "$(mg_libvirt_uri mg-src)" domjobinfo "$dom" >/dev/null 2>&1 || rc=$?
((rc == 124)) || mg_fail "virsh domjobinfo answered during the hang (rc $rc)"
start=$EPOCHREALTIME
timeout 5 "$MG_BUILDDIR/migguard" snapshot --domain "$dom" \
	--libvirt-run-dir "$(mg_libvirt_run_dir mg-src)/qemu" >"$MG_TEST_TMP/snap.txt" ||
	mg_fail "migguard snapshot --domain did not answer"
mg_assert_grep "live_migration" "$MG_TEST_TMP/snap.txt"
mg_log "migguard snapshot --domain answered in $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}') s while virsh hangs"

mg_guard_wait_log gdst 60 "domain $dom: migration STALLED"
"$MG_BUILDDIR/migguard" incidents --state-dir "$MG_TEST_TMP/state-mg-src" show "$(basename "$inc")" >"$MG_TEST_TMP/show.txt"
mg_assert_grep "BQL" "$MG_TEST_TMP/show.txt"
cat "$MG_TEST_TMP/show.txt" >&2

# `migguard status` on both hosts: the hung outgoing and the stalled
# incoming migration, each guard's libvirt connection (the file follows the
# log within a loop turn); after a guard stops, its status says it does not
# run (exit 3).
status_shows() {
	timeout 5 "$MG_BUILDDIR/migguard" status --state-dir "$MG_TEST_TMP/state-mg-$1" >"$MG_TEST_TMP/status-$1.txt" &&
		grep -Eq "^  $dom +$2 +$3 " "$MG_TEST_TMP/status-$1.txt"
}
mg_wait_for 10 "migguard status of mg-src to show the hung migration" status_shows src outgoing hung
mg_wait_for 10 "migguard status of mg-dst to show the stalled migration" status_shows dst incoming stalled
sed 's/^/    /' "$MG_TEST_TMP/status-src.txt" "$MG_TEST_TMP/status-dst.txt" >&2
mg_assert_grep "connected to qemu\+unix" "$MG_TEST_TMP/status-src.txt"
# The snapshot ran off the loop: the loop's lateness is shown, and small.
mg_assert_grep "^  loop lateness: max [0-9.]+ ms since start, [0-9.]+ ms of it the daemon's own$" "$MG_TEST_TMP/status-src.txt"
late=$(sed -nE "s/^  loop lateness: .*, ([0-9.]+) ms of it the daemon's own$/\1/p" "$MG_TEST_TMP/status-src.txt")
awk -v l="$late" 'BEGIN { exit !(l <= 100) }' || mg_fail "the source guard's loop ran $late ms late by its own work (limit 100)"
mg_guard_stop gsrc
rc=0; "$MG_BUILDDIR/migguard" status --state-dir "$MG_TEST_TMP/state-mg-src" >"$MG_TEST_TMP/status-stopped.txt" || rc=$?
((rc == 3)) || mg_fail "migguard status after the guard stopped: exit $rc: $(cat "$MG_TEST_TMP/status-stopped.txt")"
