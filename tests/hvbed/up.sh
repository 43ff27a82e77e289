#!/usr/bin/env bash
# tests/hvbed/up.sh DIR: brings up the hypervisor bed under DIR and leaves it
# running (hosts hv-src and hv-dst, the NBD server), building the base once
# when missing.  Prints DIR/hvbed.env.  On failure it tears down what it
# started.  Then, for example:
#   tests/hvbed/exec.sh DIR hv-src systemctl status libvirtd
#   virsh -c "$(. DIR/hvbed.env; echo "$MG_HVBED_SRC_URI")" list
# Tear down with tests/hvbed/down.sh DIR.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
MG_SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
dir=$(cd "$1" && pwd)
export MG_SRCDIR MG_TEST_TMP=$dir MG_TESTBED_PERSIST=1
: "${MG_BUILDDIR:=$MG_SRCDIR}"
export MG_BUILDDIR
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/hvbed/hvbed.sh"
mg_on_exit 'if ((rc_up != 0)); then mg_hvbed_down "$dir"; fi'
rc_up=1
mg_hvbed_up "$dir"
rc_up=0
cat "$dir/hvbed.env"
