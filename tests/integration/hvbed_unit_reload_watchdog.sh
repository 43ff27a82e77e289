# timeout: 420
# Issue 14, migguardd under its real unit on the hypervisor bed: the .deb
# installed on both hosts, configured through /etc/migguard/migguard.conf.
# (a) `systemctl reload migguardd` with a syntax error in the file fails
#     visibly (ExecReload runs migguardd --check-config first), the daemon
#     keeps running (same MainPID, still connected) with its old
#     configuration, and the journal says why with file:line; the file
#     restored, a reload succeeds.
# (b) The watchdog (WatchdogSec=6s in a drop-in, everything else as
#     shipped): a Nova-shaped guest's migration hv-src -> hv-dst runs
#     throttled and hv-src's guard follows it; the guard is SIGSTOPped,
#     then the storage stall of hvbed_storage_stall_recover begins (NBD
#     server stopped with a write in flight, bandwidth opened).  Proved from
#     outside: the hang's first sample comes after the SIGSTOP and before
#     systemd's "Watchdog timeout" (else the scenario did not happen).
#     systemd kills the stopped daemon (SIGABRT) and restarts it
#     (Restart=on-failure, RestartSec=5s as shipped); the new daemon finds
#     the migration at connect, declares it HUNG, writes the incident and
#     runs the unstick rung, and the domain runs again on hv-src.  Exactly
#     once across both daemons: one HUNG, one "incident written", one
#     incident directory for the domain, one "action recover", one "shut
#     down fd"; nothing about the domain from the stopped daemon after the
#     SIGSTOP.
# (`systemctl stop` during a hang: hvbed_unit_stop_during_hang.)
source "$MG_SRCDIR/tests/lib/e2e.sh"
source "$MG_SRCDIR/tests/lib/unstick.sh"
source "$MG_SRCDIR/tests/hvbed/hvbed.sh"
source "$MG_SRCDIR/tests/hvbed/guard.sh"

mg_hvbed_debs
bed=$MG_TEST_TMP/hvbed
mg_hvbed_up "$bed"
mg_hvbed_guards_up guard.probe_interval=500ms guard.monitor_timeout=2s guard.finish_timeout=5s \
	guard.action=recover guard.recover_grace=5s guard.incoming_timeout=30s

# (a) A broken file: reload fails, the running daemon keeps its config.
h=hv-src
root=$(mg_hvbed_root "$h")
conf=$root/etc/migguard/migguard.conf
cp "$conf" "$MG_TEST_TMP/good.conf"
main=$(mg_hvbed_exec "$h" systemctl show -p MainPID --value migguardd.service)
echo "this line is not a key = value pair [" >>"$conf"
bad_line=$(wc -l <"$conf")
rc=0
mg_hvbed_exec "$h" systemctl reload migguardd.service >"$MG_TEST_TMP/reload.out" 2>&1 || rc=$?
((rc != 0)) || mg_fail "systemctl reload with a broken config succeeded"
mg_log "systemctl reload with a broken config: exit $rc: $(head -1 "$MG_TEST_TMP/reload.out")"
[[ "$(mg_hvbed_exec "$h" systemctl show -p MainPID --value migguardd.service)" == "$main" ]] ||
	mg_fail "migguardd's MainPID changed ($main before): the daemon was restarted or died"
mg_hvbed_guard_connected "$h" || mg_fail "migguardd not active and connected after the failed reload"
why=$(mg_hvbed_glog "$h" | grep -E "/etc/migguard/migguard\.conf:$bad_line" | head -1) ||
	{ mg_hvbed_glog "$h" | tail -20 >&2; mg_fail "the journal does not say /etc/migguard/migguard.conf:$bad_line"; }
mg_log "journal: $why"
install -m 0644 "$MG_TEST_TMP/good.conf" "$conf"
mg_hvbed_exec "$h" systemctl reload migguardd.service || mg_fail "reload of the restored config failed"
[[ "$(mg_hvbed_exec "$h" systemctl show -p MainPID --value migguardd.service)" == "$main" ]] ||
	mg_fail "migguardd restarted on the good reload"
mg_wait_for 10 "migguardd active and connected after the good reload" mg_hvbed_guard_connected "$h"
mg_log "ok: (a) broken reload refused, old config kept, restored reload ok"

# (b) The watchdog kills a SIGSTOPped guard, systemd restarts it, and the
# hang that began while it was stopped is caught once.
wd=6
mg_hvbed_guard_dropin "$h" "$(printf '[Service]\nWatchdogSec=%ss' "$wd")"
mg_hvbed_exec "$h" systemctl restart migguardd.service || mg_fail "$h: restart with WatchdogSec=${wd}s"
mg_wait_for 15 "migguardd on $h active and connected with WatchdogSec=${wd}s" mg_hvbed_guard_connected "$h"
[[ "$(mg_hvbed_exec "$h" systemctl show -p WatchdogUSec --value migguardd.service)" == "${wd}s" ]] ||
	mg_fail "the drop-in's WatchdogSec=${wd}s is not in effect"
restarts0=$(mg_hvbed_exec "$h" systemctl show -p NRestarts --value migguardd.service)

dom=instance-0000002b
mg_hvbed_nova_start hv-src "$dom"
qemu=$MG_HVBED_QEMU
mg_hvbed_stall_start "$dom"
mg_hvbed_guard_wait_log "$h" 10 "domain $dom: outgoing migration tracked"

old_inner=$(mg_hvbed_exec "$h" systemctl show -p MainPID --value migguardd.service)
old=$(mg_hvbed_guard_pid "$h") || mg_fail "no migguardd main pid on $h"
kill -STOP "$old"
t_stop=${EPOCHREALTIME/,/.}
mg_hvbed_stall_now "$dom"
mg_hvbed_wait_hang_shape "$qemu"
t_shape=${EPOCHREALTIME/,/.}
stopped_state=$(sed -n 's/^State:[[:space:]]*//p' "/proc/$old/status" 2>/dev/null) || stopped_state=gone
[[ $stopped_state == T* ]] ||
	mg_fail "the scenario did not happen: the guard ($old) was '$stopped_state', not stopped, when the hang began"
MG_HANG_URI=$(mg_hvbed_uri hv-src) MG_HANG_DOM=$dom mg_e2e_hang_watch "$qemu" drain 30

# systemd's own lines about the unit (-u includes them).
mg_hvbed_guard_wait_log "$h" $((wd + 10)) "Watchdog timeout"
t_wd=$(mg_hvbed_glog "$h" -o short-unix | sed -n 's/^\([0-9.]*\) .*Watchdog timeout.*/\1/p' | tail -1)
awk -v a="$MG_HANG_START" -v s="$t_stop" -v w="$t_wd" 'BEGIN { exit !(s < a && a < w) }' ||
	mg_fail "the scenario did not happen: the hang's first sample ($MG_HANG_START) is not between the SIGSTOP ($t_stop) and the watchdog timeout ($t_wd)"
mg_log "hang began $(awk -v a="$MG_HANG_START" -v s="$t_stop" 'BEGIN { printf "%.2f", a - s }') s after the SIGSTOP; systemd's watchdog fired $(awk -v w="$t_wd" -v s="$t_stop" 'BEGIN { printf "%.2f", w - s }') s after it (WatchdogSec=${wd}s)"
new_main() {
	local m
	m=$(mg_hvbed_exec "$h" systemctl show -p MainPID --value migguardd.service) &&
		[[ -n $m && $m != 0 && $m != "$old_inner" ]] && mg_hvbed_guard_connected "$h"
}
mg_wait_for 20 "systemd to restart migguardd on $h (new MainPID, connected)" new_main
! kill -0 "$old" 2>/dev/null || mg_fail "the SIGSTOPped guard $old is still there"
restarts=$(mg_hvbed_exec "$h" systemctl show -p NRestarts --value migguardd.service)
((restarts == restarts0 + 1)) || mg_fail "NRestarts went $restarts0 -> $restarts, want one restart"
mg_log "journal: $(mg_hvbed_glog "$h" | grep -E 'Main process exited|Watchdog timeout' | tail -2 | tr '\n' ' ')"

mg_hvbed_guard_wait_log "$h" 30 "domain $dom: outgoing migration tracked \(found at connect"
mg_hvbed_guard_wait_log "$h" 30 "domain $dom: migration HUNG"
t_hung=$(mg_hvbed_glog "$h" -o short-unix | sed -n "s/^\([0-9.]*\) .*domain $dom: migration HUNG.*/\1/p" | head -1)
mg_log "HUNG declared by the restarted guard $(awk -v a="$MG_HANG_START" -v b="$t_hung" 'BEGIN { printf "%.2f", b - a }') s after the hang began ($(awk -v a="$t_wd" -v b="$t_hung" 'BEGIN { printf "%.2f", b - a }') s after the watchdog)"
mg_hvbed_guard_wait_log "$h" 15 "domain $dom: incident written to"
recovered() { mg_hvbed_glog "$h" | grep -E "domain $dom: action (unstick-check|kill):" >/dev/null; }
mg_wait_for 30 "the restarted guard's actions on $dom" recovered
mg_hvbed_guard_wait_log "$h" 10 "domain $dom: action unstick-check: ok"
back() { [[ "$(timeout 5 virsh -q -c "$(mg_hvbed_uri hv-src)" domstate "$dom")" == running ]]; }
mg_wait_for 15 "$dom running again on hv-src" back
[[ "$(mg_hvbed_qemu_pid hv-src "$dom")" == "$qemu" ]] || mg_fail "$dom's QEMU changed: the guest was restarted"

# Once, across both daemons.
mg_hvbed_journal "$h" _PID="$old_inner" -o cat >"$MG_TEST_TMP/old-guard.log"
grep -n "HUNG\|incident written\|action" "$MG_TEST_TMP/old-guard.log" | grep "$dom" &&
	mg_fail "the stopped guard ($old_inner) logged a verdict or an action on $dom"
count() { mg_hvbed_glog "$h" | grep -cE "$1" || true; }
for what in "domain $dom: migration HUNG" "domain $dom: incident written to" "domain $dom: action recover$" \
	"domain $dom: action unstick: ok: shut down fd"; do
	n=$(count "$what")
	((n == 1)) || mg_fail "'$what' $n times in migguardd's journal on $h, want once"
done
mapfile -t incs < <(find "$root/var/lib/migguard/incidents" -mindepth 1 -maxdepth 1 -type d -name "*$dom*")
((${#incs[@]} == 1)) || mg_fail "${#incs[@]} incident directories for $dom, want 1: ${incs[*]}"
mg_unstick_check_actions "${incs[0]}" unstick >"$MG_TEST_TMP/actions.txt" || { cat "$MG_TEST_TMP/actions.txt" >&2; exit 1; }
mg_log "ok: (b) hang begun under a SIGSTOPped guard caught after the watchdog's restart; one incident (${incs[0]##*/}), one ladder"
