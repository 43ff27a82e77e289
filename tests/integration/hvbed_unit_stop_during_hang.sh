# timeout: 420
# Issue 14, `systemctl stop migguardd` during a hang, on the hypervisor bed
# with migguardd under its real unit (the .deb on both hosts, action = none
# so that the hang lasts): the storage stall of hvbed_storage_stall_recover
# (Nova-shaped guest, NBD disk on TCP, write in flight, NBD server
# stopped) hangs the migration hv-src -> hv-dst at switch-over, proved from
# outside.  The stop is issued the moment the guard declares HUNG, while
# the incident (stack snapshot through ptrace) is being written and the
# guard's libvirt calls wait on QEMU's blocked monitor.  Asserted:
#  - `systemctl stop` returns 0 within the unit's TimeoutStopSec (the time
#    it took is logged), and the unit's Result is success (not timeout: no
#    SIGKILL was needed);
#  - the daemon said a libvirt call was stuck and exited without closing
#    the connection (else the scenario did not happen);
#  - nothing left: no migguardd process in the host, every QEMU thread
#    untraced (TracerPid 0) and not stopped (State not t/T), no temporary
#    file or directory (.tmp-*, .NAME.XXXXXX) under /var/lib/migguard, and
#    an incident that was announced is complete (report.json);
#  - QEMU is still there, still hung (the guard did nothing to it).
source "$MG_SRCDIR/tests/lib/e2e.sh"
source "$MG_SRCDIR/tests/hvbed/hvbed.sh"
source "$MG_SRCDIR/tests/hvbed/guard.sh"

mg_hvbed_debs
bed=$MG_TEST_TMP/hvbed
mg_hvbed_up "$bed"
mg_hvbed_guards_up guard.probe_interval=500ms guard.monitor_timeout=2s guard.finish_timeout=5s \
	guard.action=none guard.incoming_timeout=30s
h=hv-src
root=$(mg_hvbed_root "$h")

dom=instance-0000002c
mg_hvbed_nova_start hv-src "$dom"
qemu=$MG_HVBED_QEMU
mg_hvbed_stall "$dom"
mg_hvbed_wait_hang_shape "$qemu"
MG_HANG_URI=$(mg_hvbed_uri hv-src) MG_HANG_DOM=$dom mg_e2e_hang_watch "$qemu" drain 30

guard=$(mg_hvbed_guard_pid "$h") || mg_fail "no migguardd main pid on $h"
guard_inner=$(mg_hvbed_exec "$h" systemctl show -p MainPID --value migguardd.service)
limit=$(mg_hvbed_exec "$h" systemctl show -p TimeoutStopUSec --value migguardd.service)
limit_us=$(mg_hvbed_exec "$h" systemd-analyze timespan "$limit" | sed -n 's/^ *μs: *//p')
[[ $limit_us =~ ^[0-9]+$ ]] || mg_fail "cannot read the unit's stop timeout ('$limit')"
mg_hvbed_guard_wait_log "$h" 20 "domain $dom: migration HUNG"
t0=${EPOCHREALTIME/,/.}
rc=0
timeout $((limit_us / 1000000 + 10)) "$(command -v nsenter)" -t "$(mg_hvbed_leader "$h")" -a -- \
	systemctl stop migguardd.service >"$MG_TEST_TMP/stop.out" 2>&1 || rc=$?
took=$(mg__hv_el "$t0")
((rc == 0)) || { cat "$MG_TEST_TMP/stop.out" >&2; mg_fail "systemctl stop migguardd during the hang: exit $rc after $took s"; }
awk -v t="$took" -v l="$limit_us" 'BEGIN { exit !(t * 1000000 < l) }' ||
	mg_fail "systemctl stop took $took s, not within the unit's stop timeout ($limit)"
result=$(mg_hvbed_exec "$h" systemctl show -p Result --value migguardd.service)
[[ $result == success ]] || mg_fail "the unit's Result after the stop is '$result' (timeout: systemd had to SIGKILL it)"
mg_log "systemctl stop migguardd during the hang returned in $took s (TimeoutStopSec $limit), Result=$result"

mg_hvbed_journal "$h" _PID="$guard_inner" -o cat >"$MG_TEST_TMP/guard.log"
grep -q "a libvirt call is stuck; exiting without closing the connection" "$MG_TEST_TMP/guard.log" || {
	tail -20 "$MG_TEST_TMP/guard.log" >&2
	mg_fail "the scenario did not happen: the guard had no libvirt call stuck when it stopped"
}
mg_log "the guard's last words: $(grep -E 'stopping|stuck|waiting up to|unfinished' "$MG_TEST_TMP/guard.log" | tr '\n' ' ')"

# Nothing left behind.
! kill -0 "$guard" 2>/dev/null || mg_fail "migguardd ($guard) is still there after the stop"
for p in $(mg__hv_cg_pids "$h"); do
	[[ "$(readlink "/proc/$p/exe" 2>/dev/null)" != */migguardd ]] || mg_fail "a migguardd process ($p) is left in $h"
done
[[ "$(mg_hvbed_exec "$h" systemctl show -p MainPID --value migguardd.service)" == 0 ]] || mg_fail "the unit still has a MainPID"
kill -0 "$qemu" 2>/dev/null || mg_fail "QEMU $qemu is gone: the guard acted on it (action = none)"
for t in /proc/"$qemu"/task/*; do
	tracer=$(sed -n 's/^TracerPid:[[:space:]]*//p' "$t/status")
	state=$(sed -n 's/^State:[[:space:]]*//p' "$t/status")
	((tracer == 0)) || mg_fail "QEMU thread ${t##*/} ($(cat "$t/comm")) is still traced by $tracer"
	[[ $state != [tT]* ]] || mg_fail "QEMU thread ${t##*/} ($(cat "$t/comm")) is left $state"
done
mg_log "QEMU $qemu: $(ls /proc/"$qemu"/task | wc -l) threads, none traced or stopped"
mapfile -t temps < <(find "$root/var/lib/migguard" -mindepth 1 -name '.*')
((${#temps[@]} == 0)) || mg_fail "temporary files left in /var/lib/migguard: ${temps[*]#"$root"}"
inc=$(mg_hvbed_incident "$h" "$dom")
if [[ -n $inc ]]; then
	[[ -f $root$inc/report.json ]] || mg_fail "the incident $inc announced before the stop has no report.json"
	mg_log "the incident begun before the stop is complete: $inc"
else
	mg_log "no incident announced before the stop (the stop came before it was written)"
fi
mg__hv_hang_shape "$qemu" || mg_fail "QEMU $qemu is no longer in the hang after the guard stopped"
mg_log "ok: stopped in $took s during the hang; no process, trace, or temporary file left"
