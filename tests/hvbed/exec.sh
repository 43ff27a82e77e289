#!/usr/bin/env bash
# tests/hvbed/exec.sh DIR HOST CMD...: runs CMD inside HOST (hv-src or
# hv-dst) of the hypervisor bed under DIR (mg_hvbed_exec: nsenter into all
# of the host's namespaces, clean environment).
set -uo pipefail
[[ $# -ge 3 ]] || { echo "usage: $0 DIR HOST CMD..." >&2; exit 2; }
MG_SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(cd "$1" && pwd)
export MG_SRCDIR MG_TEST_TMP=$dir MG_HVBED_DIR=$dir MG_TESTBED_PERSIST=1
source "$MG_SRCDIR/tests/hvbed/hvbed.sh"
shift
mg_hvbed_exec "$@"
