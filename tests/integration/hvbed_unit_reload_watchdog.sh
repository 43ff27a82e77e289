# timeout: 300
# Issue 14, migguardd under its real unit on the hypervisor bed: the .deb
# installed on both hosts, configured through /etc/migguard/migguard.conf.
# (a) `systemctl reload migguardd` with a syntax error in the file fails
#     visibly (ExecReload runs migguardd --check-config first), the daemon
#     keeps running (same MainPID, still connected) with its old
#     configuration, and the journal says why with file:line; the file
#     restored, a reload succeeds.
# Not yet written (see the branch's report): (b) the watchdog on a
# SIGSTOPped daemon and the hang caught once after its restart, (c)
# `systemctl stop` during a hang.
source "$MG_SRCDIR/tests/lib/e2e.sh"
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
