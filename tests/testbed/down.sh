#!/usr/bin/env bash
# tests/testbed/down.sh DIR: tears down the test bed that up.sh started under
# DIR: a migration started by the helpers, both libvirt hosts with every QEMU
# they started, their namespaces, the NBD server -- all by recorded pid.
# Idempotent; leaves DIR (logs) in place.
set -uo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
[[ -d $1 ]] || exit 0
MG_SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(cd "$1" && pwd)
export MG_SRCDIR MG_TEST_TMP=$dir MG_TESTBED_PERSIST=1
source "$MG_SRCDIR/tests/lib/libvirt.sh"
mg_testbed_down "$dir"
