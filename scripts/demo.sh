#!/usr/bin/env bash
# The demo, on a fresh Debian 12 machine as root: installs what is missing,
# builds, and sets up two libvirt hosts on this machine (private namespaces
# and directories, no systemd), shared NBD storage and a small Linux guest
# that keeps writing to its disk.  One migguardd per host.  Then:
#   1. a healthy live migration src -> dst: both guards follow it;
#   2. the guest migrates back, and its storage stalls at switch-over (the
#      NBD server is stopped): QEMU hangs holding its big lock, virsh hangs;
#      the source's guard catches it, writes the incident (stacks, lock
#      owner, I/O wait, known issue) and recovers the domain (action=recover)
#      the way it does on a cloud's domains: no extra monitor (the domain is
#      written as OpenStack Nova writes it), the one stalled NBD socket shut
#      from outside QEMU (unstick); the guest keeps running, and once the
#      storage is back its disk works again (disk-check).
#
# scripts/demo.sh --seed: the seed's own deadlock instead (DESIGN.md section
# 1, a real lock cycle in QEMU): the guest runs on the seeded QEMU
# (scripts/seeded-qemu.sh builds it once, about 4 min on 2 cores), its disk
# on an IOThread behind a slow NBD server; the migration deadlocks
# (live_migration holds the BQL and waits for the IOThread's AioContext
# lock, the IOThread waits for the BQL); the guard names the cycle and the
# known upstream bug, and recovers the domain on the source (kill, restart).
#
# Everything it started is torn down at the end; it can be run again.
set -euo pipefail
scenario=stall
case ${1:-} in
"") ;;
--seed) scenario=seed ;;
-h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) echo "usage: $0 [--seed]" >&2; exit 2 ;;
esac
src=$(cd "$(dirname "$0")/.." && pwd)
export MG_SRCDIR=$src MG_BUILDDIR=${MG_BUILDDIR:-$src/_build}
"$src/scripts/deps.sh"
echo "== building migguard"
"$src/scripts/build.sh"
if [[ $scenario == seed ]]; then
	exec "$src/scripts/demo-seed.sh"
fi

source "$src/tests/lib/e2e.sh"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
t0=$SECONDS

say "building the guest (a Debian kernel + busybox initramfs that writes to its disk)"
tb=$MG_TEST_TMP/testbed
dom=demo
say "starting two libvirt hosts, mg-src and mg-dst, and the shared NBD storage"
mg_e2e_up "$tb"
echo "   mg-src: $(mg_libvirt_uri mg-src)"
echo "   mg-dst: $(mg_libvirt_uri mg-dst)"

say "starting one migguardd per host (finish_timeout=5s, action=recover, libvirt's monitor only)"
opts=(guard.probe_interval=500ms guard.monitor_timeout=2s guard.finish_timeout=5s
	guard.incoming_timeout=30s guard.action=recover guard.recover_grace=10s)
mg_e2e_guard_conf --no-direct mg-src "$MG_TEST_TMP/src.conf" "${opts[@]}"
mg_e2e_guard_conf --no-direct mg-dst "$MG_TEST_TMP/dst.conf" "${opts[@]}"
mg_e2e_guard_start mg-src gsrc "$MG_TEST_TMP/src.conf"
mg_e2e_guard_start mg-dst gdst "$MG_TEST_TMP/dst.conf"
mg_e2e_follow_guards

say "booting the guest on mg-src (TCG, a domain as Nova writes it) and waiting for its disk writes"
mg_e2e_define_nova "$tb" mg-src "$dom" unix

say "1. a healthy live migration mg-src -> mg-dst"
mg_testbed_migrate "$tb" "$dom" >/dev/null
mg_guard_wait_log gsrc 20 "domain $dom: migration completed"
mg_guard_wait_log gdst 20 "domain $dom: migration completed"
echo "   $dom now runs on mg-dst: $(mg_libvirt_domstate mg-dst "$dom")"

say "2. back to mg-src, with the storage stalling at switch-over"
# The same guest migrates back: swap the roles of the two hosts' guards.
mg_testbed_migrate_back() {
	rm -f "$tb/mig-back.sock"
	setsid virsh -c "$(mg_libvirt_uri mg-dst)" migrate --live --p2p "$dom" "$(mg_libvirt_uri mg-src)" \
		--migrateuri "unix://$tb/mig-back.sock" --bandwidth 1 </dev/null >"$tb/migrate-back.log" 2>&1 &
	mg_on_exit "mg_kill_pid $!"
}
base=$(mg_nbd_connections "$tb")
mg_testbed_migrate_back
mg_nbd_wait_connections "$tb" $((base + 1)) 60
mg_testbed_wait_migrating mg-dst "$dom" 30
mg_nbd_pause "$tb"
echo "   NBD server (pid $(mg_nbd_pid "$tb")) stopped; opening the migration bandwidth"
mg_virsh mg-dst migrate-setspeed "$dom" 100000
mg_guard_wait_log gdst 60 "domain $dom: migration finishing"
rc=0; timeout 2 virsh -c "$(mg_libvirt_uri mg-dst)" domjobinfo "$dom" >/dev/null 2>&1 || rc=$?
echo "   meanwhile 'virsh domjobinfo $dom' on mg-dst: $([[ $rc == 124 ]] && echo "no answer (hangs; cut after 2 s)" || echo "exit $rc")"
mg_guard_wait_log gdst 60 "domain $dom: migration HUNG"
mg_guard_wait_log gdst 30 "domain $dom: action unstick-check: "
echo "   $dom on mg-dst: $(mg_libvirt_domstate mg-dst "$dom") (same QEMU, never rebooted)"

say "the storage comes back: QEMU's NBD client reconnects by itself"
lines=$(mg_testbed_serial_lines mg-dst "$dom")
mg_nbd_resume "$tb"
mg_testbed_wait_writing_after mg-dst "$dom" "$lines" 60
echo "   the guest writes to its disk again"
mg_guard_wait_log gdst 60 "domain $dom: actions finished"

say "the incident, as 'migguard incidents show' prints it"
inc=$(mg_guard_incident gdst "$dom")
"$MG_BUILDDIR/migguard" incidents --state-dir "$MG_TEST_TMP/state-mg-dst" show "$(basename "$inc")" |
	sed 's/^/   /'
echo "   the full gdb-like stacks: $inc/stacks.txt"

say "after recovery"
mg_e2e_print_virsh_list
say "done in $((SECONDS - t0)) s; tearing down what the demo started"
