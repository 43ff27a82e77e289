# migguardd against a real private libvirtd: logs a real domain's lifecycle
# events with structured fields, reconnects after libvirtd restarts, exits 0
# on SIGTERM within 2 s.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/libvirt.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

mg_libvirt_host_start mgh1
uri=$(mg_libvirt_uri mgh1)
conf=$MG_TEST_TMP/migguard.conf
mg_guard_conf "$conf" "daemon.uri=$uri" "daemon.state_dir=$MG_TEST_TMP/state"
"$MG_BUILDDIR/migguardd" --check-config="$conf" >/dev/null || mg_fail "config rejected"

mg_guard_start g "$conf"
mg_guard_wait_log g 10 "libvirt .*: connected"

dom=mgtiny
mg_libvirt_define_tiny mgh1 "$dom"
v() { virsh -q -c "$uri" "$@"; }
v start "$dom" >/dev/null
uuid=$(v domuuid "$dom")
mg_guard_wait_log g 10 "domain $dom: lifecycle started \(booted\) domain=$dom uuid=$uuid event=started detail=booted"
v suspend "$dom" >/dev/null
mg_guard_wait_log g 10 "domain $dom: lifecycle suspended \(paused\)"
v resume "$dom" >/dev/null
mg_guard_wait_log g 10 "domain $dom: lifecycle resumed \(unpaused\)"
v destroy "$dom" >/dev/null
mg_guard_wait_log g 10 "domain $dom: lifecycle stopped \(destroyed\)"

# libvirtd goes away and comes back: the guard notices, backs off, reconnects.
mg_libvirt_host_stop mgh1
mg_guard_wait_log g 30 "libvirt .*: connection closed|retrying in"
mg_libvirt_host_start mgh1
mg_guard_wait_log g 30 "libvirt .*: connected" 2
v start "$dom" >/dev/null
mg_guard_wait_log g 10 "domain $dom: lifecycle started \(booted\)" 2
v destroy "$dom" >/dev/null
mg_guard_wait_log g 10 "domain $dom: lifecycle stopped \(destroyed\)" 2

mg_guard_stop g
mg_assert_grep "received Terminated, stopping" "$(mg_guard_log g)"
# Nothing in this run was an error worth logging.
if grep -q '<err>' "$(mg_guard_log g)"; then
	grep '<err>' "$(mg_guard_log g)" >&2
	mg_fail "migguardd logged errors"
fi
