# timeout: 600
# The hypervisor bed (tests/hvbed/): two Debian 12 hosts booted by
# systemd-nspawn with systemd as PID 1 and Debian's own libvirtd.service,
# from the cached base rootfs (built once by tests/hvbed/base.sh: about 2 min
# and 400 MB the first time, hence the timeout).  A guest written the way
# OpenStack Nova writes domains (NBD over TCP on 127.0.0.1, QEMU as
# libvirt-qemu) starts on hv-src, writes to its disk, migrates live (p2p,
# over 127.0.0.1) to hv-dst and keeps writing there.  The teardown leaves no
# container, cgroup, mount or process behind.  Skipped (77) only when
# systemd-nspawn cannot run here at all.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/hvbed/hvbed.sh"

mg_hvbed_can_run || { mg_log "SKIP: systemd-nspawn cannot run here (tests/hvbed/base.sh --deps)"; exit 77; }

bed=$MG_TEST_TMP/hvbed
dom=nova-1
t0=${EPOCHREALTIME/,/.}
mg_hvbed_up "$bed"
mg_log "bed up in $(mg__hv_el "$t0") s"

# Two distinct hosts, each with its own identity, systemd running.
for h in hv-src hv-dst; do
	[[ "$(mg_hvbed_exec "$h" hostname)" == "$h" ]] || mg_fail "$h: wrong hostname"
	[[ "$(mg_hvbed_exec "$h" readlink /proc/1/exe)" == */systemd ]] || mg_fail "$h: PID 1 is not systemd"
	[[ "$(mg_hvbed_exec "$h" systemctl is-active libvirtd.service)" == active ]] || mg_fail "$h: libvirtd.service not active"
done
uuid_src=$(mg_hvbed_virsh hv-src capabilities | sed -n 's:.*<uuid>\(.*\)</uuid>.*:\1:p' | head -n 1)
uuid_dst=$(mg_hvbed_virsh hv-dst capabilities | sed -n 's:.*<uuid>\(.*\)</uuid>.*:\1:p' | head -n 1)
[[ -n $uuid_src && $uuid_src != "$uuid_dst" ]] || mg_fail "host UUIDs not distinct: '$uuid_src' '$uuid_dst'"

# A Nova-shaped guest on hv-src (persistent, as Nova defines them).
mg_hvbed_nova_xml hv-src "$dom" >"$bed/shared/$dom.xml"
mg_hvbed_virsh hv-src define "$bed/shared/$dom.xml" >/dev/null || mg_fail "define $dom on hv-src"
t0=${EPOCHREALTIME/,/.}
mg_hvbed_virsh hv-src start "$dom" >/dev/null || mg_fail "start $dom on hv-src"
mg_hvbed_wait_writing hv-src "$dom" 90
mg_log "guest writing $(mg__hv_el "$t0") s after virsh start"
src_pid=$(mg_hvbed_qemu_pid hv-src "$dom") || mg_fail "no QEMU pid for $dom on hv-src"
qemu_uid=$(mg_hvbed_exec hv-src id -u libvirt-qemu)
[[ "$(awk '/^Uid:/ { print $2 }' "/proc/$src_pid/status")" == "$qemu_uid" ]] || mg_fail "QEMU $src_pid does not run as libvirt-qemu"

t0=${EPOCHREALTIME/,/.}
MG_MIGRATE_TIMEOUT=90 mg_hvbed_migrate "$dom" --persistent --undefinesource >"$MG_TEST_TMP/migrate.out" 2>&1 || {
	cat "$MG_TEST_TMP/migrate.out" >&2
	mg_fail "migration failed"
}
mg_log "migrated in $(mg__hv_el "$t0") s"

[[ "$(mg_hvbed_virsh hv-dst domstate --reason "$dom")" == "running (migrated)" ]] || mg_fail "$dom not running on hv-dst"
! mg_hvbed_virsh hv-src dominfo "$dom" >/dev/null 2>&1 || mg_fail "$dom still defined on hv-src"
mg_wait_for 10 "source QEMU $src_pid gone" eval '! kill -0 '"$src_pid"
mg_hvbed_wait_writing hv-dst "$dom" 60
! grep -q 'failed' "$(mg_hvbed_serial_log hv-src "$dom")" "$(mg_hvbed_serial_log hv-dst "$dom")" ||
	mg_fail "guest reported a failed write"
dst_pid=$(mg_hvbed_qemu_pid hv-dst "$dom") || mg_fail "no QEMU pid for $dom on hv-dst"

# Teardown: nothing left behind.
declare -A nspawn=() cg=() leader=()
for h in hv-src hv-dst; do
	nspawn[$h]=$(cat "$bed/$h/nspawn.pid")
	cg[$h]=$(cat "$bed/$h/cgroup")
	leader[$h]=$(mg_hvbed_leader "$h")
done
t0=${EPOCHREALTIME/,/.}
mg_hvbed_down "$bed"
mg_log "bed down in $(mg__hv_el "$t0") s"
for h in hv-src hv-dst; do
	! kill -0 "${nspawn[$h]}" 2>/dev/null || mg_fail "systemd-nspawn of $h still runs"
	! kill -0 "${leader[$h]}" 2>/dev/null || mg_fail "PID 1 of $h still runs"
	[[ ! -e /sys/fs/cgroup/systemd/${cg[$h]} && ! -e /sys/fs/cgroup/unified/${cg[$h]} ]] ||
		mg_fail "cgroup ${cg[$h]} of $h left behind"
done
! kill -0 "$dst_pid" 2>/dev/null || mg_fail "QEMU $dst_pid of hv-dst still runs"
! grep -qF "$bed" /proc/self/mountinfo || mg_fail "a mount under $bed is left"
for p in /proc/[0-9]*; do
	[[ "$(readlink "$p/root" 2>/dev/null)" == "$bed"/* ]] && mg_fail "process ${p#/proc/} still runs in the bed"
done
[[ -z "$(mg_nbd_pid "$bed/storage")" ]] || ! kill -0 "$(mg_nbd_pid "$bed/storage")" 2>/dev/null || mg_fail "nbdkit still runs"
mg_log "ok"
