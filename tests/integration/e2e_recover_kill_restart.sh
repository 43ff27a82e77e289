# action = recover on the storage-stall hang without a direct monitor, on a
# persistent domain with restart = yes (the storage comes back after the
# kill, so the domain can start), with the unstick rung switched off
# (unstick = no; it is what the e2e_unstick_* tests prove): the cancel is
# not sent during a BQL hang, so after recover_grace the guard
# verifies the QEMU pid by its start time, kills it, and starts the domain
# again from its definition.  Both hosts answer virsh within 5 s; the
# destination has no leftover incoming domain.
source "$MG_SRCDIR/tests/lib/e2e.sh"

tb=$MG_TEST_TMP/tb
dom=busy
mg_e2e_up "$tb"
mg_e2e_guard_conf --no-direct mg-src "$MG_TEST_TMP/src.conf" \
	guard.probe_interval=500ms guard.monitor_timeout=2s \
	guard.finish_timeout=5s guard.unstick=no guard.action=recover guard.recover_grace=5s guard.restart=yes \
	"metrics.textfile=$MG_TEST_TMP/migguard.prom"
mg_e2e_guard_start mg-src gsrc "$MG_TEST_TMP/src.conf"

mg_e2e_define_busy "$tb" mg-src "$dom"
old_pid=$(mg_libvirt_qemu_pid mg-src "$dom")
mg_e2e_stall "$tb" "$dom"
start=$SECONDS
mg_guard_wait_log gsrc 30 "domain $dom: migration HUNG"
mg_guard_wait_log gsrc 30 "domain $dom: action kill: ok: SIGKILL to QEMU pid $old_pid"
mg_guard_wait_log gsrc 30 "domain $dom: action kill-check: ok"
# Starting the domain opens its disk: the storage has to answer again.
mg_nbd_resume "$tb"
mg_guard_wait_log gsrc 60 "domain $dom: action restart: ok"
restarted() {
	local p; p=$(mg_libvirt_qemu_pid mg-src "$dom")
	[[ -n $p && $p != "$old_pid" ]] && [[ "$(mg_libvirt_domstate mg-src "$dom")" == running* ]]
}
mg_wait_for 30 "$dom running again on mg-src with a new QEMU" restarted
mg_log "recovered (restarted) $((SECONDS - start)) s after the stall began"
((SECONDS - start <= 5 + 5 + 30 + 10)) || mg_fail "took $((SECONDS - start)) s"
for h in mg-src mg-dst; do
	timeout 5 virsh -q -c "$(mg_libvirt_uri $h)" list --all >"$MG_TEST_TMP/list-$h" ||
		mg_fail "virsh list --all on $h did not answer within 5 s"
done
gone_on_dst() { ! timeout 5 virsh -q -c "$(mg_libvirt_uri mg-dst)" list --all | grep -qw "$dom"; }
mg_wait_for 30 "no leftover $dom on mg-dst" gone_on_dst
log=$(mg_guard_log gsrc)
inc=$(mg_guard_incident gsrc "$dom")
python3 - "$inc/report.json" <<'PY' || mg_fail "the incident does not list the steps"
import json, sys
steps = [(a["step"], a["result"]) for a in json.load(open(sys.argv[1]))["actions"]]
print(steps)
d = dict(steps)
assert [s for s, _ in steps][:1] == ["cancel"], steps
assert d["kill"] == "ok" and d["kill-check"] == "ok" and d["restart"] == "ok", steps
PY
# The Prometheus textfile counted what happened.
prom=$MG_TEST_TMP/migguard.prom
metric() { grep -qxF "$1" "$prom" || { cat "$prom" >&2; mg_fail "no line '$1' in $prom"; }; }
mg_wait_for 10 "the metrics file to show the restart" grep -qxF 'migguard_actions_total{step="restart",result="ok"} 1' "$prom"
metric 'migguard_migrations_tracked_total{direction="outgoing"} 1'
metric 'migguard_migrations_hung_total 1'
metric 'migguard_incidents_written_total 1'
metric 'migguard_actions_total{step="kill",result="ok"} 1'
metric 'migguard_actions_total{step="unstick",result="failed"} 1'
metric 'migguard_libvirt_connected 1'
[[ "$(stat -c %a "$prom")" == 644 ]] || mg_fail "$prom is not mode 0644"
mg_virsh mg-src destroy "$dom" >/dev/null 2>&1 || true
