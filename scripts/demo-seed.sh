#!/usr/bin/env bash
# The seed scenario of the demo (scripts/demo.sh --seed runs it after
# installing and building): the deadlock of DESIGN.md section 1 on a real
# QEMU, caught, named and recovered by migguardd.  See scripts/demo.sh.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
export MG_SRCDIR=$src MG_BUILDDIR=${MG_BUILDDIR:-$src/_build}
source "$src/tests/lib/e2e.sh"
source "$src/tests/lib/qemu.sh"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
t0=$SECONDS

say "the seeded QEMU (Debian's QEMU 7.2 with QEMU 8.2's virtio-blk stop ordering put back)"
if seed=$("$src/scripts/seeded-qemu.sh" --check); then
	echo "   built before: $seed"
else
	echo "   building it once (about 4 min on 2 cores; cached in /var/cache/migguard)"
	tb0=$SECONDS
	seed=$("$src/scripts/seeded-qemu.sh")
	echo "   built in $((SECONDS - tb0)) s: $seed"
fi
sed -n 's/^\(source\|patch\|cflags\): /   \1: /p' "$seed/build-info"
export MG_TESTBED_EMULATOR=$seed/qemu-system-x86_64 MG_TESTBED_NBD_DELAY=200ms

tb=$MG_TEST_TMP/testbed
dom=seed
say "starting two libvirt hosts, mg-src and mg-dst, and shared NBD storage answering in 200 ms"
mg_e2e_up "$tb"
echo "   mg-src: $(mg_libvirt_uri mg-src)"
echo "   mg-dst: $(mg_libvirt_uri mg-dst)"

say "starting one migguardd per host (finish_timeout=5s, action=recover, restart=yes)"
opts=(guard.probe_interval=500ms guard.monitor_timeout=2s guard.finish_timeout=5s
	guard.incoming_timeout=30s guard.action=recover guard.recover_grace=3s guard.restart=yes)
mg_e2e_guards_up "${opts[@]}"
mg_e2e_follow_guards
src_log=$(mg_guard_log gsrc)

say "booting the guest on mg-src (TCG; virtio-blk on IOThread iothread1) until it writes to its disk"
mg_e2e_define_busy "$tb" mg-src "$dom"
tq=$(mg_testbed_test_qmp mg-src "$dom")

say "migrating it live to mg-dst: a disk request is in flight when QEMU stops the guest"
hung=0
for attempt in 1 2 3; do
	qemu_pid=$(mg_libvirt_qemu_pid mg-src "$dom")
	mg_testbed_migrate_bg "$tb" "$dom"
	mg_e2e_seed_watch "$qemu_pid" "$tq" "$MG_MIGRATE_PID" 90
	if [[ $MG_SEED_RESULT == hung ]]; then
		hung=1
		echo "   deadlocked (seen from outside the guard: $MG_SEED_DETAIL)"
		break
	fi
	# No request was in flight at the stop: the migration completed.
	echo "   attempt $attempt: the migration $MG_SEED_RESULT (no request in flight at the stop); again"
	lines=$(mg_testbed_serial_lines mg-src "$dom")
	mg_virsh mg-dst destroy "$dom" >/dev/null 2>&1 || true
	mg_virsh mg-src start "$dom" >/dev/null
	mg_testbed_wait_writing_after mg-src "$dom" "$lines" 90 "the guest on mg-src writing again"
done
((hung)) || mg_fail "the migration did not deadlock in 3 attempts"
rc=0; timeout 2 virsh -c "$(mg_libvirt_uri mg-src)" qemu-monitor-command "$dom" '{"execute":"query-status"}' \
	>/dev/null 2>&1 || rc=$?
echo "   meanwhile 'virsh qemu-monitor-command $dom query-status' on mg-src: $([[ $rc == 124 ]] &&
	echo "no answer (hangs; cut after 2 s)" || echo "exit $rc")"
mg_guard_wait_log gsrc 30 "domain $dom: migration HUNG"
mg_guard_wait_log gsrc 60 "domain $dom: actions finished"

say "the incident, as 'migguard incidents show' prints it"
inc=$(mg_guard_incident gsrc "$dom")
"$MG_BUILDDIR/migguard" incidents --state-dir "$MG_TEST_TMP/state-mg-src" show "$(basename "$inc")" |
	sed 's/^/   /'
echo "   the full gdb-like stacks (inline frames from DWARF): $inc/stacks.txt"

say "after recovery"
running_again() {
	local p; p=$(mg_libvirt_qemu_pid mg-src "$dom")
	[[ -n $p && $p != "$qemu_pid" && "$(mg_libvirt_domstate mg-src "$dom")" == running* ]]
}
mg_wait_for 30 "$dom running again on mg-src" running_again
echo "   $dom runs again on mg-src (new QEMU pid $(mg_libvirt_qemu_pid mg-src "$dom")): $(mg_libvirt_domstate mg-src "$dom")"
mg_e2e_print_virsh_list
say "done in $((SECONDS - t0)) s; tearing down what the demo started"
