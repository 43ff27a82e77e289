#!/usr/bin/env bash
# tests/testbed/unstick-experiment.sh SCENARIO TRANSPORT SHAPE [abort]
# One measured run of issue 13's "unstick" by hand (tests/testbed/unstick.py)
# on a fresh two-host bed with the Nova-shaped guest (no direct monitor):
#   SCENARIO  storage  NBD server SIGSTOPped at switch-over (mg_e2e_stall)
#             channel  destination QEMU SIGSTOPped while the source writes
#                      its final state (mg_e2e_stall_channel)
#             held     NBD server running, requests held by its pause filter
#             delay    NBD server running, delay filter delay-write=30
#   TRANSPORT unix|tcp (the NBD server's), SHAPE none|iothread,
#   abort     `virsh domjobabort` in the background before the shutdown.
# Prints "key: value" lines (timings in s from the shutdown, or from the hang
# for "delay" where nothing is shut).  MG_SRCDIR/MG_BUILDDIR as for tests;
# MG_TEST_TMP defaults to a fresh /tmp directory (kept).
set -euo pipefail
scen=$1 transport=$2 shape=$3 abort=${4:-}
MG_SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
: "${MG_BUILDDIR:=$MG_SRCDIR/_b}"
export MG_SRCDIR MG_BUILDDIR
: "${MG_TEST_TMP:=$(mktemp -d /tmp/unstick-exp.XXXXXX)}"
export MG_TEST_TMP
[[ $transport == tcp ]] && export MG_TESTBED_NBD_TCP=1
[[ $scen == held ]] && export MG_TESTBED_NBD_PAUSABLE=1
source "$MG_SRCDIR/tests/lib/e2e.sh"
u=$MG_SRCDIR/tests/testbed/unstick.py
tb=$MG_TEST_TMP/tb dom=nova
now() { echo "${EPOCHREALTIME/,/.}"; }
el() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.3f", b - a }'; }
out() { echo "$*"; }
vs() { mg_virsh mg-src "$@"; }
blockstats() {
	timeout 10 virsh -q -c "$(mg_libvirt_uri mg-src)" qemu-monitor-command "$dom" '{"execute":"query-blockstats"}' 2>&1 |
		python3 -c 'import json,sys
try:
    s = json.load(sys.stdin)["return"][0]["stats"]
    print("wr_operations=%d failed_wr_operations=%d rd_operations=%d failed_rd_operations=%d" % (s["wr_operations"], s["failed_wr_operations"], s["rd_operations"], s["failed_rd_operations"]))
except Exception as e:
    print("unanswered (%s)" % e)'
}

if [[ $scen == delay ]]; then
	mg_guest_build >/dev/null
	mg_on_exit "mg_testbed_down $tb"
	mkdir -p "$tb"
	# The slow server from the start: the guest's first write takes 30 s.
	MG_LIBVIRT_HOSTS=$tb/hosts; echo "$MG_LIBVIRT_HOSTS" >"$tb/hosts.path"
	truncate -s 64M "$tb/disk.raw"
	if [[ $transport == tcp ]]; then
		port=$(mg__nbd_free_port); nbdkit -i 127.0.0.1 -p "$port" -P "$tb/nbd.pid" --filter=delay file "$tb/disk.raw" delay-write=30; echo "$port" >"$tb/nbd.port"
	else
		nbdkit -U "$tb/nbd.sock" -P "$tb/nbd.pid" --filter=delay file "$tb/disk.raw" delay-write=30
	fi
	mg_on_exit "mg_testbed_nbd_stop $tb"
	mg_wait_for 10 "nbdkit" test -s "$tb/nbd.pid"
	mg_libvirt_host_start mg-src; mg_libvirt_host_start mg-dst
else
	mg_e2e_up "$tb"
fi
t=$(now)
mg_e2e_define_nova "$tb" mg-src "$dom" "$transport" "$shape"
out "guest writing after: $(el "$t")"
qpid=$(mg_libvirt_qemu_pid mg-src "$dom")
nbdpid=$(mg_nbd_pid "$tb")
peer=$nbdpid; [[ $transport == tcp ]] && peer=tcp:$(mg_nbd_port "$tb")
out "blockstats before: $(blockstats)"
lines0=$(mg_testbed_serial_lines mg-src "$dom")
export MG_HANG_DOM=$dom
case $scen in
storage) mg_e2e_stall "$tb" "$dom"; mg_e2e_hang_watch "$qpid" drain 30 ;;
held) mg_e2e_stall_held "$tb" "$dom"; mg_e2e_hang_watch "$qpid" drain 30 ;;
delay)
	mg_testbed_migrate_bg "$tb" "$dom" --bandwidth 1
	mg_testbed_wait_migrating mg-src "$dom" 60
	vs migrate-setspeed "$dom" 100000
	th=$(now)
	if mg_e2e_hang_watch "$qpid" drain 40 2>&1 | tail -1; then :; fi
	;;
channel) mg_e2e_stall_channel "$tb" "$dom" ;;
esac
out "hang: ${MG_HANG_DETAIL:-}"
out "live_migration syscall: ${MG_HANG_SYSCALL:-}"
out "nbdkit state: $(awk '{print $3}' /proc/$nbdpid/stat)"
python3 "$u" fds "$qpid" | sed 's/^/  source fd: /'
ss -xapnH 2>/dev/null | grep "pid=$nbdpid," | sed 's/^/  nbdkit unix: /' || true
[[ $transport == tcp ]] && ss -tanpH | grep "pid=$nbdpid," | sed 's/^/  nbdkit tcp: /' || true
if [[ $scen == delay ]]; then
	# How long does the drain wait? main thread leaves futex.
	mg_wait_for 60 "main thread out of futex" eval "[[ \$(cut -d' ' -f1 /proc/$qpid/task/$qpid/syscall) != 202 ]]"
	out "hang lasted (from the setspeed): $(el "$th")"
	mg_wait_for 60 "virsh migrate ends" eval "! kill -0 $MG_MIGRATE_PID"
	rc=0; wait "$MG_MIGRATE_PID" || rc=$?
	out "virsh migrate: rc $rc: $(tr '\n' ' ' <"$MG_MIGRATE_LOG")"
	exit 0
fi
if [[ -n $abort ]]; then
	(t1=$(now); r=0; timeout 120 virsh -c "$(mg_libvirt_uri mg-src)" domjobabort "$dom" >"$MG_TEST_TMP/abort.out" 2>&1 || r=$?
	 echo "rc $r after $(el "$t1") s: $(tr '\n' ' ' <"$MG_TEST_TMP/abort.out")" >"$MG_TEST_TMP/abort.res") &
	abortpid=$!
	sleep 1   # experiment: let libvirt issue the abort before the shutdown
fi
if [[ $scen == channel ]]; then fd=$(python3 "$u" mig-fd "$qpid"); else fd=$(python3 "$u" nbd-fd "$qpid" "$peer"); fi
out "shut fd: $fd ($(readlink /proc/$qpid/fd/$fd))"
ts=$(python3 "$u" shut "$qpid" "$fd")
# Outside view of QEMU: main thread out of futex.
mg_wait_for 30 "main thread out of futex" eval "[[ \$(cut -d' ' -f1 /proc/$qpid/task/$qpid/syscall 2>/dev/null) != 202 ]]"
out "main thread out of futex: +$(el "$ts")"
(r=0; timeout 60 virsh -q -c "$(mg_libvirt_uri mg-src)" qemu-monitor-command "$dom" '{"execute":"query-status"}' >"$MG_TEST_TMP/qs.out" 2>&1 || r=$?; echo "rc $r +$(el "$ts"): $(cat "$MG_TEST_TMP/qs.out")" >"$MG_TEST_TMP/qs.res") &
qspid=$!
st() { [[ "$(mg_libvirt_domstate mg-src "$dom" 2>/dev/null)" == running* ]]; }
if mg_wait_for_quiet 30 st; then out "domstate running: +$(el "$ts")"; else out "domstate after 30 s: $(mg_libvirt_domstate mg-src "$dom" || true)"; fi
out "blockstats at recovery: $(blockstats) (+$(el "$ts"))"
if mg_wait_for_quiet 60 eval "! kill -0 $MG_MIGRATE_PID"; then
	rc=0; wait "$MG_MIGRATE_PID" || rc=$?
	out "virsh migrate returned: +$(el "$ts") rc $rc: $(tr '\n' ' ' <"$MG_MIGRATE_LOG")"
else
	out "virsh migrate: still running 60 s after the shutdown"
fi
wait "$qspid" || true; out "query-status: $(cat "$MG_TEST_TMP/qs.res")"
[[ -n $abort ]] && { wait "$abortpid" || true; out "domjobabort: $(cat "$MG_TEST_TMP/abort.res")"; }
out "domstate src: $(mg_libvirt_domstate mg-src "$dom" 2>&1 || true); dst: $(mg_libvirt_domstate mg-dst "$dom" 2>&1 || true)"
t1=$(now); r=0; j=$(timeout 40 virsh -c "$(mg_libvirt_uri mg-src)" domjobinfo "$dom" 2>&1) || r=$?
out "domjobinfo src: rc $r +$(el "$t1") s: $(echo "$j" | grep -E 'Job type|error' | xargs)"
t1=$(now); r=0; j=$(timeout 40 virsh -c "$(mg_libvirt_uri mg-src)" domjobabort "$dom" 2>&1) || r=$?
out "later domjobabort: rc $r +$(el "$t1") s: $(echo "$j" | xargs)"
for h in mg-src mg-dst; do t1=$(now); r=0; l=$(timeout 10 virsh -q -c "$(mg_libvirt_uri $h)" list --all 2>&1) || r=$?; out "virsh list $h: rc $r +$(el "$t1"): $(echo "$l" | xargs)"; done
if [[ $scen == channel ]]; then
	out "dst qemu $MG_E2E_DST_QEMU: $(awk '{print $3}' /proc/$MG_E2E_DST_QEMU/stat 2>/dev/null || echo gone)"
fi
out "blockstats before resume: $(blockstats) (+$(el "$ts"))"
lines1=$(mg_testbed_serial_lines mg-src "$dom")
case $scen in
storage) mg_nbd_resume "$tb" ;;
held) mg_nbd_release "$tb" ;;
channel) kill -CONT "$MG_E2E_DST_QEMU" 2>/dev/null || true
	gone() { ! timeout 5 virsh -q -c "$(mg_libvirt_uri mg-dst)" list --all | grep -qw "$dom"; }
	if mg_wait_for_quiet 30 gone; then out "dst domain gone after SIGCONT"; else out "dst domain still there 30 s after SIGCONT: $(mg_libvirt_domstate mg-dst "$dom")"; fi ;;
esac
tr=$(now)
if mg_wait_for_quiet 60 mg__testbed_writing_after mg-src "$dom" "$lines1"; then out "guest writing again: +$(el "$tr") after resume"; else out "guest NOT writing 60 s after resume"; fi
out "boots in serial log: $(grep -c 'MIGGUARD-GUEST: disk' "$(mg_testbed_serial_log mg-src "$dom")" || true)"
out "blockstats after resume: $(blockstats)"
t1=$(now); r=0; MG_MIGRATE_TIMEOUT=90 mg_testbed_migrate "$tb" "$dom" >"$MG_TEST_TMP/mig2.log" 2>&1 || r=$?
out "second migration: rc $r +$(el "$t1") s: $(tr '\n' ' ' <"$MG_TEST_TMP/mig2.log")"
out "domstate dst after: $(mg_libvirt_domstate mg-dst "$dom" 2>&1 || true)"
