# timeout: 300
# Issue 13, unstick must refuse a socket whose peer is not stalled: the
# Nova-shaped guest's storage stall at switch-over, but the NBD server keeps
# running and holds the requests in its pause filter (mg_e2e_stall_held:
# nbdkit in state S, its side of the socket drained; the hang lasts until
# the test releases it).  The hang is proved from outside the guard
# (mg_e2e_hang_watch drain) and the server is checked to be running, not
# stopped, during it; otherwise the test fails saying the scenario did not
# happen.  Guards with action = recover, restart = yes.  Asserts: unstick
# records checks 1-4 ok and check 5/5 peer not ok, shuts no fd; the ladder
# goes on: recover-check, kill of the verified pid, and (once the server
# serves again) restart; the domain runs again on the source with a new
# QEMU; `virsh list` answers on both hosts; nothing left on the destination.
source "$MG_SRCDIR/tests/lib/e2e.sh"
source "$MG_SRCDIR/tests/lib/unstick.sh"

tb=$MG_TEST_TMP/tb
dom=instance-0000002c
export MG_TESTBED_NBD_PAUSABLE=1
mg_e2e_up "$tb"
mg_unstick_guards_up guard.restart=yes
mg_e2e_define_nova "$tb" mg-src "$dom" unix
qemu_pid=$(mg_libvirt_qemu_pid mg-src "$dom")
nbd_pid=$(mg_nbd_pid "$tb")
mg_e2e_stall_held "$tb" "$dom"
MG_HANG_DOM=$dom mg_e2e_hang_watch "$qemu_pid" drain 30
state=$(awk '{ print $3 }' "/proc/$nbd_pid/stat")
[[ $state == [SR] ]] || mg_fail "the scenario did not happen: the NBD server is in state $state, not running"
mg_log "NBD server $nbd_pid in state $state during the hang"

log=$(mg_guard_log gsrc)
mg_guard_wait_log gsrc 30 "domain $dom: migration HUNG"
mg_guard_wait_log gsrc 30 "domain $dom: action unstick: [^:]*: check 5/5 peer:"
grep -q "domain $dom: action unstick: ok: check 5/5 peer:" "$log" && mg_fail "unstick judged a running NBD server stalled"
grep -q "domain $dom: action unstick: ok: shut down fd" "$log" && mg_fail "unstick shut a socket although its peer is not stalled"
mg_guard_wait_log gsrc 30 "domain $dom: action kill: ok: SIGKILL to QEMU pid $qemu_pid"
# The restarted domain opens its disk: the server has to serve again.
mg_nbd_release "$tb"
mg_guard_wait_log gsrc 60 "domain $dom: action restart: ok"
restarted() {
	local p; p=$(mg_libvirt_qemu_pid mg-src "$dom")
	[[ -n $p && $p != "$qemu_pid" ]] && [[ "$(mg_libvirt_domstate mg-src "$dom")" == running* ]]
}
mg_wait_for 30 "$dom running again on mg-src with a new QEMU" restarted
for h in mg-src mg-dst; do
	timeout 5 virsh -q -c "$(mg_libvirt_uri $h)" list --all >/dev/null || mg_fail "virsh list --all on $h did not answer within 5 s"
done
gone_on_dst() { ! timeout 5 virsh -q -c "$(mg_libvirt_uri mg-dst)" list --all | grep -qw "$dom"; }
mg_wait_for 30 "no leftover $dom on mg-dst" gone_on_dst
mg_unstick_check_actions "$(mg_guard_incident gsrc "$dom")" refuse:peer
mg_log "ok: unstick refused (peer running) and the ladder went on to kill and restart"
