#!/usr/bin/env bash
# snapshot_inline_frames.sh - `migguard snapshot` names what gdb names
# (issue 11): on tests/targets/inline (-O2 -g), a thread blocked under two
# always_inline functions shows them as inlined frames with their file:line,
# in the text (gdb's layout: no address on the frames around an inlined
# call) and in the JSON ("inlined": true);
# the same binary without DWARF (objcopy --strip-debug) shows exactly the
# frames of the symbol table, as before; its DWARF in a separate file is
# found again by build-id under a directory named by MIGGUARD_DEBUGINFO_PATH
# (and --debuginfo-path), and by .gnu_debuglink in the binary's .debug/;
# no DWARF is loaded while the target is stopped (the debug log); and no
# debuginfod server is asked even when DEBUGINFOD_URLS is set.
source "$MG_SRCDIR/tests/lib/common.sh"

MG=$MG_BUILDDIR/migguard
TARGET=$MG_BUILDDIR/tests/targets/inline
SRC=$MG_SRCDIR/tests/targets/inline.c
SIGS=$MG_SRCDIR/conf/signatures
THREAD="IO iothread1"
[[ -x $MG && -x $TARGET ]] || mg_fail "build migguard and the targets first (make check-integration)"
command -v objcopy >/dev/null || mg_fail "objcopy (binutils) is needed"

# The line of the marker comment LINE:NAME in the target's source.
marker_line() { grep -n "LINE:$1\b" "$SRC" | cut -d: -f1; }
L_BQL=$(marker_line bql_lock)
L_PREPARE=$(marker_line prepare_mmio_access)
L_STL=$(marker_line address_space_stl_le)
[[ -n $L_BQL && -n $L_PREPARE && -n $L_STL ]] || mg_fail "markers missing in $SRC"

# true once the waiting thread of PID sits in futex(2)
blocked() {
	local t
	for t in /proc/"$1"/task/*; do
		[[ $(cat "$t/comm") == "$THREAD" ]] || continue
		[[ $(cut -d' ' -f1 "$t/syscall") == 202 ]] && return 0
	done
	return 1
}

start_target() { # BIN: sets TARGET_PID
	local out=$MG_TEST_TMP/$(basename "$1").out
	"$1" >"$out" 2>&1 &
	TARGET_PID=$!
	mg_on_exit mg_kill_pid "$TARGET_PID"
	mg_wait_for 10 "$1 prints ready" grep -qx ready "$out"
	mg_wait_for 10 "$1: $THREAD blocked" blocked "$TARGET_PID"
}

# snap NAME [ARGS...]: JSON and text snapshots of TARGET_PID into
# $MG_TEST_TMP/NAME.json and NAME.txt (env from the caller)
snap() {
	local name=$1; shift
	"$MG" snapshot --signatures "$SIGS" --json "$@" "$TARGET_PID" >"$MG_TEST_TMP/$name.json" ||
		mg_fail "$name: snapshot --json failed"
	"$MG" snapshot --signatures "$SIGS" "$@" "$TARGET_PID" >"$MG_TEST_TMP/$name.txt" ||
		mg_fail "$name: snapshot failed"
}

# The frames of the waiting thread that belong to the target binary, as
# "symbol|inlined|file-basename|line" lines.
target_frames() { # NAME
	jq -r --arg t "$THREAD" --arg exe "$(readlink -f "/proc/$TARGET_PID/exe")" '
		.threads[] | select(.name == $t) | .frames[] | select(.module == $exe) |
		"\(.symbol)|\(.inlined // false)|\(if .file then (.file | split("/") | last) else "" end)|\(.line // "")"' \
		"$MG_TEST_TMP/$1.json"
}

WANT_DWARF="qemu_mutex_lock_impl|false||
bql_lock|true|inline.c|$L_BQL
prepare_mmio_access|true|inline.c|$L_PREPARE
address_space_stl_le|false|inline.c|$L_STL
iothread_run|false||"
WANT_SYMTAB="qemu_mutex_lock_impl|false||
address_space_stl_le|false||
iothread_run|false||"

expect_frames() { # NAME WANT
	local got
	got=$(target_frames "$1" | grep -v '^main|' | grep -v '^_start|') || true
	[[ $got == "$2" ]] || mg_fail "$1: frames of $THREAD in the target are
$got
expected
$2"
}

# (a) With DWARF: the inlined frames, in JSON and in gdb's text layout.
expect_inline_text() { # NAME
	local txt=$MG_TEST_TMP/$1.txt
	mg_assert_grep "^#[0-9]+ +0x[0-9a-f]{16} in qemu_mutex_lock_impl \(\) from " "$txt"
	mg_assert_grep "^#[0-9]+ +0x[0-9a-f]{16} in bql_lock \(\) at .*inline\.c:$L_BQL\$" "$txt"
	mg_assert_grep "^#[0-9]+ +prepare_mmio_access \(\) at .*inline\.c:$L_PREPARE\$" "$txt"
	mg_assert_grep "^#[0-9]+ +address_space_stl_le \(\) at .*inline\.c:$L_STL\$" "$txt"
	# consecutive numbers: bql_lock, prepare_mmio_access, address_space_stl_le
	local n
	n=$(grep -E '^#[0-9]+ +(0x[0-9a-f]+ in )?(bql_lock|prepare_mmio_access|address_space_stl_le) ' "$txt" |
		sed 's/^#\([0-9]*\).*/\1/' | tr '\n' ' ')
	read -r a b c <<<"$n"
	((b == a + 1 && c == b + 1)) || mg_fail "$1: inline frames not consecutive: $n"
	# "inlined" appears only where it is true
	jq -e '[.threads[].frames[] | select(has("inlined") and .inlined != true)] | length == 0' \
		"$MG_TEST_TMP/$1.json" >/dev/null || mg_fail "$1: \"inlined\" present but not true"
	jq -e '[.threads[].frames[] | select(.inlined) | .offset] | unique == [null]' \
		"$MG_TEST_TMP/$1.json" >/dev/null || mg_fail "$1: an inlined frame has an offset"
}

start_target "$TARGET"
snap dwarf
expect_frames dwarf "$WANT_DWARF"
expect_inline_text dwarf
# the blocked thread is still seen waiting for the BQL the main thread holds
jq -e --argjson p "$TARGET_PID" '.locks.bql_owner == $p' "$MG_TEST_TMP/dwarf.json" >/dev/null ||
	mg_fail "BQL owner is not the main thread"

# (d) DWARF is loaded after the release, never while the target is stopped.
"$MG" snapshot -v --signatures "$SIGS" "$TARGET_PID" >/dev/null 2>"$MG_TEST_TMP/verbose.log" ||
	mg_fail "snapshot -v failed"
mg_assert_grep "snapshot $TARGET_PID: DWARF loaded during the stop: 0 modules" "$MG_TEST_TMP/verbose.log"
mg_assert_grep "snapshot $TARGET_PID: .*symbolize [0-9]+ us, DWARF of [1-9][0-9]* modules" "$MG_TEST_TMP/verbose.log"
mg_log "with DWARF: target stopped $(jq .stopped_us "$MG_TEST_TMP/dwarf.json") us"

mg_kill_pid "$TARGET_PID"

# (b) The same program without DWARF: symbol-table frames only, no file:line.
mkdir -p "$MG_TEST_TMP/bin"
STRIPPED=$MG_TEST_TMP/bin/inline-stripped
objcopy --strip-debug "$TARGET" "$STRIPPED"
objcopy --only-keep-debug "$TARGET" "$MG_TEST_TMP/inline.debug"
start_target "$STRIPPED"
snap stripped
expect_frames stripped "$WANT_SYMTAB"
mg_assert_grep "^#[0-9]+ +0x[0-9a-f]{16} in address_space_stl_le \(\) from .*/inline-stripped\$" "$MG_TEST_TMP/stripped.txt"
if grep -qE 'bql_lock|prepare_mmio_access' "$MG_TEST_TMP/stripped.txt"; then
	mg_fail "inlined frames without DWARF"
fi
# A hung QEMU's snapshot never waits for a download: libdwfl would ask the
# server for this module, which has no local debug info (eu-stack -i does).
if command -v strace >/dev/null; then
	# a cache of our own: after a failed query the client answers from its
	# cache for 10 minutes without connecting; no LSan (it cannot run
	# under ptrace) in the sanitizer build
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	DEBUGINFOD_URLS=http://127.0.0.1:9 DEBUGINFOD_CACHE_PATH=$MG_TEST_TMP/debuginfod strace -f -e trace=connect -o "$MG_TEST_TMP/connect.log" \
		"$MG" snapshot --signatures "$SIGS" "$TARGET_PID" >/dev/null || mg_fail "snapshot under strace failed"
	if grep -q 'sin_port=htons(9)' "$MG_TEST_TMP/connect.log"; then
		mg_fail "the snapshot asked the debuginfod server of DEBUGINFOD_URLS"
	fi
fi

# (c) Its debug file at a build-id path under a directory of ours.
BUILD_ID=$(readelf -n "$STRIPPED" | awk '/Build ID:/ { print $3 }')
[[ -n $BUILD_ID ]] || mg_fail "the target has no build-id note"
mkdir -p "$MG_TEST_TMP/debug/.build-id/${BUILD_ID:0:2}"
cp "$MG_TEST_TMP/inline.debug" "$MG_TEST_TMP/debug/.build-id/${BUILD_ID:0:2}/${BUILD_ID:2}.debug"
MIGGUARD_DEBUGINFO_PATH=$MG_TEST_TMP/debug snap buildid_env
expect_frames buildid_env "$WANT_DWARF"
expect_inline_text buildid_env
snap buildid_opt --debuginfo-path "/nonexistent:$MG_TEST_TMP/debug"
expect_frames buildid_opt "$WANT_DWARF"
mg_kill_pid "$TARGET_PID"

# ... and by .gnu_debuglink, in the binary's .debug/ directory (libdwfl's
# default places, no knob).
mkdir -p "$MG_TEST_TMP/dl/.debug"
cp "$MG_TEST_TMP/inline.debug" "$MG_TEST_TMP/dl/inline-dl.debug"
objcopy --add-gnu-debuglink="$MG_TEST_TMP/dl/inline-dl.debug" "$STRIPPED" "$MG_TEST_TMP/dl/inline-dl"
mv "$MG_TEST_TMP/dl/inline-dl.debug" "$MG_TEST_TMP/dl/.debug/"
start_target "$MG_TEST_TMP/dl/inline-dl"
snap debuglink
expect_frames debuglink "$WANT_DWARF"
mg_kill_pid "$TARGET_PID"
mg_log "inline frames: with DWARF, stripped, build-id (env and option), debuglink: ok"
