# Standalone guard on a real QEMU migrating to a second QEMU: it sees the
# migration start, follows it to completion, and declares nothing hung.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

uri="unix:$MG_TEST_TMP/mig.sock"
mg_qemu_start src
mg_qemu_start_incoming dst "$uri"
conf=$MG_TEST_TMP/g.conf
mg_guard_conf "$conf" "daemon.state_dir=$MG_TEST_TMP/state" "guard.probe_interval=200ms" \
	"guard.monitor_timeout=1s" "guard.finish_timeout=3s"
mg_guard_start g "$conf" --qmp "$(mg_qemu_guard_qmp src)" --pid "$(mg_qemu_pid src)" --name src
mg_guard_wait_log g 10 "direct monitor .* connected \(oob on\)"

# libvirt always turns on migration events; do the same.
mg_qmp_cmd "$(mg_qemu_qmp src)" '{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"events","state":true}]}}' >/dev/null
mg_qemu_migrate "$(mg_qemu_qmp src)" "$uri"
mg_qmp_wait_migration "$(mg_qemu_qmp src)" 60 completed
mg_guard_wait_log g 10 "outgoing migration tracked"
mg_guard_wait_log g 10 "migration completed after"
log=$(mg_guard_log g)
if grep -Eq "HUNG|STALLED|incident written" "$log"; then
	mg_fail "a healthy migration was reported hung"
fi
[[ ! -d $MG_TEST_TMP/state/incidents ]] || [[ -z "$(ls "$MG_TEST_TMP/state/incidents")" ]] ||
	mg_fail "an incident was written for a healthy migration"
mg_guard_stop g
