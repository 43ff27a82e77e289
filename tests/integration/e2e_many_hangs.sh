# timeout: 240
# Issue 15, many hangs at once: N (MG_MANY_N, default 5) Nova-shaped domains
# without a guest OS (no direct monitor), their disks on ONE shared NBD
# server, migrate from mg-src to mg-dst at the same moment; the server is
# SIGSTOPped with a write in flight on every domain, so every source hangs in
# vm_stop's drain holding the BQL.  Each hang is seen from outside the guard
# (tests/lib/scale_watch.py: main thread in futex, live_migration in ppoll,
# neither running, libvirt's query-status unanswered) or the test fails
# naming the domain where the scenario did not happen.  One guard per host,
# action = recover.  Asserts for EVERY domain: an incident written within
# finish_timeout + probe_interval + 1 s of its own hang start, naming the
# domain, its own QEMU's pid, its own live_migration as the BQL owner and
# only its own QEMU's threads; running on mg-src again and answering within
# finish_timeout + recover_grace + 20 s; exactly one verdict, one incident
# and one ladder (no migration acted on twice, even after every `virsh
# migrate` returned).  Then the guard's own loop lateness maximum (the
# metric migguard_loop_lateness_own_max_seconds: timers late by the daemon's
# work, not by waiting for one of the 2 loaded CPUs) must be <= 100 ms.
source "$MG_SRCDIR/tests/lib/e2e.sh"
source "$MG_SRCDIR/tests/lib/scale.sh"

N=${MG_MANY_N:-5}
[[ $N =~ ^[1-9][0-9]*$ ]] || mg_fail "MG_MANY_N '$N' is not a positive number"
PROBE_MS=500 FINISH_S=5 GRACE_S=5
INC_LIMIT_MS=$((FINISH_S * 1000 + PROBE_MS + 1000))
REC_LIMIT_MS=$(((FINISH_S + GRACE_S + 20) * 1000))
LATENESS_LIMIT_MS=100

tb=$MG_TEST_TMP/tb
mg_e2e_up "$tb"
mg_scale_guards_up guard.probe_interval=${PROBE_MS}ms guard.monitor_timeout=2s guard.finish_timeout=${FINISH_S}s \
	guard.action=recover guard.recover_grace=${GRACE_S}s guard.incoming_timeout=60s
MG_SCALE_RECOVER_WAIT=$((REC_LIMIT_MS / 1000 + 15)) mg_scale_outage "$tb" "$N" "$MG_TEST_TMP/outage.txt"

bad=0
printf '%-20s %12s %14s %s\n' domain "incident ms" "recovered ms" "how" >&2
while read -r d li lr how; do
	printf '%-20s %12d %14d %s\n' "$d" "$li" "$lr" "$how" >&2
	((li <= INC_LIMIT_MS)) || { mg_log "$d: incident $li ms after its hang began (limit $INC_LIMIT_MS)"; bad=1; }
	((lr <= REC_LIMIT_MS)) || { mg_log "$d: recovered $lr ms after its hang began (limit $REC_LIMIT_MS)"; bad=1; }
done <"$MG_TEST_TMP/outage.txt"
(($(wc -l <"$MG_TEST_TMP/outage.txt") == N)) || mg_fail "$(wc -l <"$MG_TEST_TMP/outage.txt") result lines for $N domains"
((bad == 0)) || mg_fail "a deadline was missed (above)"

for h in src dst; do
	late=$(mg_scale_lateness_ms "$MG_TEST_TMP/$h.prom" migguard_loop_lateness_own_max_seconds)
	[[ -n $late ]] || mg_fail "guard g$h exports no migguard_loop_lateness_own_max_seconds in $MG_TEST_TMP/$h.prom"
	mg_log "guard g$h: loop lateness max $(mg_scale_lateness_ms "$MG_TEST_TMP/$h.prom") ms, own $late ms"
	awk -v l="$late" -v m="$LATENESS_LIMIT_MS" 'BEGIN { exit !(l <= m) }' ||
		mg_fail "guard g$h: loop lateness max $late ms > $LATENESS_LIMIT_MS ms"
done
# While they trickled, QEMU's events relayed by libvirt let rounds skip
# their query-status (report.json timing.quiet_rounds): libvirt's monitor
# is spared too.
quiet=$(find "$MG_TEST_TMP/state-mg-src" -name report.json -exec python3 -c '
import json, sys
print(sum(json.load(open(f))["timing"].get("quiet_rounds", 0) for f in sys.argv[1:]))' {} +)
mg_log "source incidents: $quiet probe rounds without a query in all ($(mg_accel))"
# Under TCG the idle guests' vCPUs wait like paused ones: every round asks.
[[ $(mg_accel) != kvm ]] || ((quiet > 0)) ||
	mg_fail "no probe round of the $N trickling migrations went without a query (libvirt-relayed events not heard?)"
mg_log "ok: $N simultaneous hangs, $N incidents, $N recoveries, no deadline missed"
