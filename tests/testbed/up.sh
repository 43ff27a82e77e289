#!/usr/bin/env bash
# tests/testbed/up.sh DIR: brings up the two-host test bed under DIR and
# leaves it running: libvirt hosts mg-src and mg-dst (own UTS + mount
# namespaces, private libvirt dirs), an NBD server sharing DIR/disk.raw on
# DIR/nbd.sock, and the busy guest's kernel + initramfs (built once, cached).
# Writes DIR/testbed.env (URIs, run/log/QMP dirs, NBD socket and pid) for the
# demo and e2e scripts to source.  On failure it tears down what it started.
# Tear down with tests/testbed/down.sh DIR.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
MG_SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
dir=$(cd "$1" && pwd)
export MG_SRCDIR MG_TEST_TMP=$dir MG_TESTBED_PERSIST=1
: "${MG_BUILDDIR:=$MG_SRCDIR}"
export MG_BUILDDIR
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/libvirt.sh"
source "$MG_SRCDIR/tests/lib/guest.sh"
mg_on_exit 'if ((rc_up != 0)); then mg_testbed_down "$dir"; fi'
rc_up=1
mg_guest_build >/dev/null
mg_testbed_up "$dir"
rc_up=0
cat "$dir/testbed.env"
