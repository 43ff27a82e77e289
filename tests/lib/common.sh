# common.sh - sourced by every integration test.  Conventions:
#  * a test is tests/integration/NAME.sh; exit 0 = pass, anything else = fail;
#  * it runs with MG_SRCDIR, MG_BUILDDIR and MG_TEST_TMP (a fresh directory
#    for this test, removed by the runner on success) in the environment;
#  * everything it starts is registered with mg_on_exit and torn down by pid,
#    never by name;
#  * waits are on conditions (mg_wait_for), never bare sleeps.
set -euo pipefail

: "${MG_SRCDIR:?}" "${MG_BUILDDIR:?}"
: "${MG_TEST_TMP:=$(mktemp -d /tmp/mgtest.XXXXXX)}"
export MG_TEST_TMP

MG_EXIT_HOOKS=()
mg_on_exit() { MG_EXIT_HOOKS+=("$*"); }
mg__run_exit_hooks() {
	local rc=$? i
	set +e
	for ((i = ${#MG_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
		eval "${MG_EXIT_HOOKS[$i]}" >/dev/null 2>&1
	done
	return $rc
}
trap mg__run_exit_hooks EXIT

mg_log() { printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }
mg_fail() { mg_log "FAIL: $*"; exit 1; }

# mg_wait_for TIMEOUT_SECONDS DESCRIPTION COMMAND...: polls COMMAND every
# 50 ms until it succeeds; fails the test with DESCRIPTION on timeout.
mg_wait_for() {
	local timeout=$1 what=$2; shift 2
	mg_wait_for_quiet "$timeout" "$@" || mg_fail "timed out after ${timeout}s waiting for: $what"
}

# mg_wait_for_quiet TIMEOUT CMD...: like mg_wait_for, but returns 1 on
# timeout instead of failing (for a test that gathers evidence first).
mg_wait_for_quiet() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.05
	done
}

source "$MG_SRCDIR/tests/lib/kill.sh"

# The accelerator for QEMU: KVM when /dev/kvm opens (and not forced off with
# MIGGUARD_TEST_ACCEL=tcg), TCG otherwise.
mg_accel() {
	if [[ "${MIGGUARD_TEST_ACCEL:-}" == tcg ]]; then echo tcg; return; fi
	if [[ "${MIGGUARD_TEST_ACCEL:-}" == kvm ]]; then echo kvm; return; fi
	if [[ -c /dev/kvm ]] && { exec 9<>/dev/kvm; } 2>/dev/null; then
		exec 9>&-
		echo kvm
	else
		echo tcg
	fi
}

# Asserts that FILE contains a line matching the extended regex.
mg_assert_grep() {
	local re=$1 file=$2
	grep -Eq -- "$re" "$file" || { mg_log "--- $file ---"; tail -n 50 "$file" >&2; mg_fail "no line matching /$re/ in $file"; }
}

# The seeded QEMU's directory (scripts/seeded-qemu.sh), built once when
# missing; exits 77 (skipped) when it is not built and MG_SEED_BUILD=0.
# Call as: dir=$(mg_seeded_qemu_dir) || exit $?
mg_seeded_qemu_dir() {
	local dir
	if dir=$("$MG_SRCDIR/scripts/seeded-qemu.sh" --check 2>/dev/null); then
		echo "$dir"
		return 0
	fi
	if [[ ${MG_SEED_BUILD:-1} == 0 ]]; then
		mg_log "SKIP: the seeded QEMU is not built and MG_SEED_BUILD=0 (scripts/seeded-qemu.sh builds it)"
		exit 77
	fi
	mg_log "building the seeded QEMU (scripts/seeded-qemu.sh, about 4 min once, on 2 cores)"
	dir=$("$MG_SRCDIR/scripts/seeded-qemu.sh") || mg_fail "scripts/seeded-qemu.sh failed"
	echo "$dir"
}
