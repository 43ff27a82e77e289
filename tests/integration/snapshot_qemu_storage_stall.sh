#!/usr/bin/env bash
# snapshot_qemu_storage_stall.sh - `migguard snapshot` on a real QEMU hung at
# switch-over by a storage stall (qemu-nbd SIGSTOPped with a write in
# flight, tests/lib/qemu_stall.sh), in both shapes: disk in the main
# AioContext and disk on an IOThread.  The BQL owner is live_migration, its
# frames include vm_stop and the drain (bdrv_drain_all, exported by
# Debian's QEMU, or virtio_blk_data_plane_stop), an I/O-wait chain ends at
# the stopped qemu-nbd, signature storage-stall-switchover matches, and
# QEMU is not left stopped.  The I/O waits are ranked: the NBD chain comes
# first with role hang, IO mon_iothread's monitor sockets are idle (after
# it in the text, counted but not named in the summary).
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

# One snapshot into a directory first: its report.json, stacks.txt and the
# summary it prints describe the same instant.  First, because a ptrace
# stop makes a poll with a timeout (the monitor thread's) come back as
# restart_syscall, whose fds a later snapshot does not follow.
out=$MG_TEST_TMP/stall.d
sum=$MG_TEST_TMP/stall.summary
"$MG" snapshot --signatures "$SIGS" --output "$out" "$pid" >"$sum" || mg_fail "snapshot --output failed"
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

# The ranking, on the snapshot of the directory: the NBD wait is on the
# hang's path and before every idle wait, all idle ones come last, and
# every wait of IO mon_iothread (its monitor sockets) is idle.
mon=$(jq '[.threads[] | select(.name == "IO mon_iothread") | .tid][0]' "$out/report.json")
[[ $mon != null ]] || mg_fail "no IO mon_iothread in the snapshot"
jq -e --argjson n "$nbd" --argjson m "$mon" '
	.io_waits as $w
	| ($w | map(.peer.pid == $n) | index(true)) as $at_nbd
	| ($w | map(.role == "idle") | index(true)) as $at_idle
	| $at_nbd != null and $w[$at_nbd].role == "hang" and $at_idle != null and $at_nbd < $at_idle
	  and all($w[$at_idle:][]; .role == "idle")
	  and ([$w[] | select(.tid == $m)] | length > 0 and all(.role == "idle"))' "$out/report.json" >/dev/null ||
	mg_fail "NBD wait not first as hang or mon_iothread's not idle: $(jq -c '[.io_waits[] | [.tid, .fd, .role, .peer.comm]]' "$out/report.json")"
line_of() { grep -n -m1 -E -- "$1" "$out/stacks.txt" | cut -d: -f1; }
at_head=$(line_of "^I/O waits on the hang's path ")
at_nbd=$(line_of "^I/O wait: $who fd [0-9]+ .* -> qemu-nbd \($nbd\) T \(stopped\)$")
at_idle=$(line_of "^I/O waits not on the hang's path \(idle\):$")
at_mon=$(line_of "^I/O wait: IO mon_iothread \($mon\) fd [0-9]+ socket:")
[[ -n $at_head && -n $at_nbd && -n $at_idle && -n $at_mon ]] &&
	((at_head < at_nbd && at_nbd < at_idle && at_idle < at_mon)) ||
	mg_fail "stacks.txt: want the hang's heading, the NBD wait, the idle heading, mon_iothread's wait in that order (lines $at_head $at_nbd $at_idle $at_mon)"
mg_assert_grep "^I/O wait: $who fd [0-9]+ .* -> qemu-nbd \($nbd\) T \(stopped\)$" "$sum"
mg_assert_grep "^\(\+[0-9]+ idle I/O waits? not on the hang's path\)$" "$sum"
! grep -q mon_iothread "$sum" || mg_fail "the summary names IO mon_iothread: $(cat "$sum")"

jq -e '.signatures[] | select(.id == "storage-stall-switchover") | .status == "match"' "$json" >/dev/null ||
	mg_fail "signature storage-stall-switchover did not match"
mg_assert_grep '^known issue \[storage-stall-switchover\]' "$txt"
mg_log "qemu storage stall ($variant): stopped $(jq .stopped_us "$json") us, wall $(jq .wall_us "$json") us, $(jq '.threads | length' "$json") threads"
