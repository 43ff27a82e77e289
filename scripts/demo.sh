#!/usr/bin/env bash
# The demo, on a fresh Debian 12 machine as root: installs what is missing,
# builds, starts a private libvirt daemon (its own namespaces and dirs, no
# systemd needed), runs migguardd against it and drives a real domain through
# its lifecycle so you can watch migguardd report it.  Cleans up after
# itself; can be run again.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
export MG_SRCDIR=$src MG_BUILDDIR=${MG_BUILDDIR:-$src/_build}
"$src/scripts/deps.sh"
echo "== building migguard"
"$src/scripts/build.sh"

source "$src/tests/lib/common.sh"
source "$src/tests/lib/libvirt.sh"
source "$src/tests/lib/migguardd.sh"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting a private libvirt host 'demo-host'"
mg_libvirt_host_start demo-host
uri=$(mg_libvirt_uri demo-host)
echo "   $uri"

say "starting migguardd in the foreground (its log follows, indented)"
conf=$MG_TEST_TMP/migguard.conf
mg_guard_conf "$conf" "daemon.uri=$uri" "daemon.state_dir=$MG_TEST_TMP/state" "daemon.log_level=info"
mg_guard_start demo "$conf"
tail -n +1 -f "$(mg_guard_log demo)" | sed -u 's/^/   | /' &
tail_pid=$!
mg_on_exit "kill $tail_pid"
mg_guard_wait_log demo 10 "libvirt .*: connected"

dom=demo-tiny
say "defining and starting a real $(mg_accel | tr a-z A-Z) domain '$dom' (128 MiB, no disk)"
mg_libvirt_define_tiny demo-host "$dom"
mg_virsh demo-host start "$dom" >/dev/null
mg_guard_wait_log demo 10 "domain $dom: lifecycle started"
say "pausing and resuming it"
mg_virsh demo-host suspend "$dom" >/dev/null
mg_guard_wait_log demo 10 "domain $dom: lifecycle suspended"
mg_virsh demo-host resume "$dom" >/dev/null
mg_guard_wait_log demo 10 "domain $dom: lifecycle resumed \(unpaused\)"
say "restarting libvirtd: migguardd reconnects by itself"
mg_libvirt_host_restart demo-host
mg_guard_wait_log demo 30 "libvirt .*: connected" 2
say "destroying the domain"
mg_virsh demo-host destroy "$dom" >/dev/null
mg_guard_wait_log demo 10 "domain $dom: lifecycle stopped"
say "stopping migguardd (SIGTERM)"
mg_guard_stop demo
sleep 0.2 # let tail print the last lines
say "done: everything the demo started is being torn down"
