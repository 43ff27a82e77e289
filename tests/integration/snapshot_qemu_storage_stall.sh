#!/usr/bin/env bash
# snapshot_qemu_storage_stall.sh - `migguard snapshot` on a real QEMU hung at
# switch-over by a storage stall (qemu-nbd SIGSTOPped with a write in
# flight, tests/lib/qemu_stall.sh), in both shapes: disk in the main
# AioContext and disk on an IOThread.  The BQL owner is live_migration, its
# frames include vm_stop and the drain (bdrv_drain_all, exported by
# Debian's QEMU, or virtio_blk_data_plane_stop), an I/O-wait chain ends at
# the stopped qemu-nbd, signature storage-stall-switchover matches, and
# QEMU is not left stopped.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"
source "$MG_SRCDIR/tests/lib/qemu_stall.sh"

MG=$MG_BUILDDIR/migguard
SIGS=$MG_SRCDIR/conf/signatures
[[ -x $MG ]] || mg_fail "$MG not built"

variant=${1:-main}
mg_stall_launch src dst "$variant"
pid=$(mg_qemu_pid src)
nbd=$MG_STALL_NBD_PID

mig_tid() {
	local t
	for t in /proc/"$pid"/task/*; do
		[[ $(cat "$t/comm" 2>/dev/null) == live_migration ]] && { basename "$t"; return 0; }
	done
	return 1
}
# The hang: live_migration sits in ppoll (aio_poll of the drain) holding
# the BQL.  The main loop only blocks on the BQL once something wakes it up:
# a QMP command does (as libvirt's monitor calls do in production); it gets
# no answer.
draining() {
	local tid
	tid=$(mig_tid) || return 1
	[[ $(cut -d' ' -f1 /proc/"$pid"/task/"$tid"/syscall) == 271 ]]
}
main_blocked() { [[ $(cut -d' ' -f1 /proc/"$pid"/syscall) == 202 ]]; }
mg_wait_for 30 "live_migration of qemu src draining" draining
rc=0
mg_qmp_cmd -t 2 "$(mg_qemu_qmp src)" '{"execute":"query-status"}' >/dev/null 2>&1 || rc=$?
((rc == 124)) || mg_fail "query-status answered during the stall (rc $rc)"
mg_wait_for 10 "main thread of qemu src blocked" main_blocked
tid=$(mig_tid)

json=$MG_TEST_TMP/stall.json
txt=$MG_TEST_TMP/stall.txt
"$MG" snapshot --signatures "$SIGS" --json "$pid" >"$json" || mg_fail "snapshot --json failed"
"$MG" snapshot --signatures "$SIGS" "$pid" >"$txt" || mg_fail "snapshot failed"
sed -n '/^Summary:/,$p' "$txt" >&2

for t in /proc/"$pid"/task/*; do
	s=$(sed 's/.*) \(.\).*/\1/' "$t/stat")
	[[ $s != T && $s != t ]] || mg_fail "QEMU thread $(basename "$t") left in state $s"
done
jq -e --argjson t "$tid" '.locks.bql_owner == $t' "$json" >/dev/null ||
	mg_fail "BQL owner is not live_migration ($tid): $(jq -c .locks "$json")"
if [[ $variant == main ]]; then drain=bdrv_drain_all; else drain=virtio_blk_data_plane_stop; fi
for fn in vm_stop $drain aio_poll; do
	jq -e --argjson t "$tid" --arg f "$fn" \
		'[.threads[] | select(.tid == $t) | .frames[].symbol] | index($f) != null' "$json" >/dev/null ||
		mg_fail "$fn not on live_migration's stack"
done
jq -e --argjson n "$nbd" '[.io_waits[] | select(.peer.pid == $n and (.peer.state | startswith("T")))] | length > 0' \
	"$json" >/dev/null || mg_fail "no I/O-wait chain ends at the stopped qemu-nbd ($nbd)"
[[ $variant == main ]] && who="live_migration \($tid\)" || who="IO io1 \([0-9]+\)"
mg_assert_grep "^I/O wait: $who fd [0-9]+ socket:\[[0-9]+\] \(unix, peer socket:\[[0-9]+\]\) -> qemu-nbd \($nbd\) T \(stopped\)" "$txt"
jq -e '.signatures[] | select(.id == "storage-stall-switchover") | .status == "match"' "$json" >/dev/null ||
	mg_fail "signature storage-stall-switchover did not match"
mg_assert_grep '^known issue \[storage-stall-switchover\]' "$txt"
mg_log "qemu storage stall ($variant): stopped $(jq .stopped_us "$json") us, wall $(jq .wall_us "$json") us, $(jq '.threads | length' "$json") threads"
