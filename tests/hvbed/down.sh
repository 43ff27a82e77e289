#!/usr/bin/env bash
# tests/hvbed/down.sh DIR: tears down the hypervisor bed that up.sh (or a
# test) started under DIR: each host through its PID 1, what is left in its
# cgroups, the NBD server.  Idempotent; leaves DIR (upper layers, logs).
set -uo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
[[ -d $1 ]] || exit 0
MG_SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(cd "$1" && pwd)
export MG_SRCDIR MG_TEST_TMP=$dir MG_TESTBED_PERSIST=1
source "$MG_SRCDIR/tests/hvbed/hvbed.sh"
mg_hvbed_down "$dir"
