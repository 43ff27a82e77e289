# Test bed self-test: one private libvirt host (own UTS + mount namespace,
# private libvirt dirs) starts, runs a tiny real domain, and its teardown
# leaves nothing of ours running.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/libvirt.sh"

h=mgt-one
dom=mgtiny
mg_libvirt_host_start "$h"
uri=$(mg_libvirt_uri "$h")
[[ $MG_HOST_MGT_ONE_URI == "$uri" ]] || mg_fail "MG_HOST_MGT_ONE_URI not exported"
[[ "$(mg_libvirt_nsenter "$h" hostname)" == "$h" ]] || mg_fail "host namespace has the wrong hostname"
[[ "$(hostname)" != "$h" ]] || mg_fail "hostname leaked into the root namespace"
libvirtd_pid=$(mg_libvirt_pid "$h")
anchor_pid=$(cat "$(mg_libvirt_dir "$h")/anchor.pid")

t0=$EPOCHREALTIME
mg_libvirt_start_tiny "$h" "$dom"
mg_log "tiny domain started in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s ($(mg_accel))"
[[ "$(mg_virsh "$h" domstate "$dom")" == running ]] || mg_fail "$dom is not running"
run=$(mg_libvirt_run_dir "$h")
[[ -s $run/qemu/$dom.xml ]] || mg_fail "no status XML at $run/qemu/$dom.xml"
qemu_pid=$(mg_libvirt_qemu_pid "$h" "$dom")
[[ "$(mg_libvirt_host_qemu_pids "$h")" == "$qemu_pid" ]] || mg_fail "QEMU pid not found from the run dir"
[[ "$(readlink "/proc/$qemu_pid/exe")" == */qemu-system-* ]] || mg_fail "pid $qemu_pid is not QEMU"

# libvirtd restarted with the domain running: QEMU survives, libvirt finds it.
mg_libvirt_host_restart "$h"
mg_libvirt_wait_reconnected "$h" "$dom"
[[ "$(mg_libvirt_pid "$h")" != "$libvirtd_pid" ]] || mg_fail "libvirtd was not restarted"
kill -0 "$qemu_pid" || mg_fail "QEMU died with libvirtd"
[[ "$(mg_virsh "$h" domstate "$dom")" == running ]] || mg_fail "$dom not running after the restart"
libvirtd_pid2=$(mg_libvirt_pid "$h")

mg_virsh "$h" destroy "$dom" >/dev/null
mg_wait_for 10 "QEMU $qemu_pid gone" eval '! kill -0 '"$qemu_pid"
[[ "$(mg_virsh "$h" domstate "$dom")" == "shut off" ]] || mg_fail "$dom not shut off"

# Teardown with a domain running leaves nothing behind either.
mg_virsh "$h" start "$dom" >/dev/null
qemu_pid2=$(mg_libvirt_qemu_pid "$h" "$dom")
mg_libvirt_host_teardown "$h"
for p in "$libvirtd_pid" "$libvirtd_pid2" "$anchor_pid" "$qemu_pid" "$qemu_pid2"; do
	! kill -0 "$p" 2>/dev/null || mg_fail "pid $p ($(cat "/proc/$p/comm" 2>/dev/null)) still running after teardown"
done
! virsh -c "$uri" list >/dev/null 2>&1 || mg_fail "libvirt socket still answers"
mg_log "ok"
