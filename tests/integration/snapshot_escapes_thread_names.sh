#!/usr/bin/env bash
# snapshot_escapes_thread_names.sh - a process names its thread (and the
# peer of its pipe) with terminal escape sequences, as any process may
# (/proc/self/comm, prctl(PR_SET_NAME)); `migguard snapshot PID` and the
# stacks.txt of `--output DIR` show those names, and the name of the file
# it waits on, as \xNN, never a raw control byte, while the JSON keeps the
# real name.
source "$MG_SRCDIR/tests/lib/common.sh"

MG=$MG_BUILDDIR/migguard
SIGS=$MG_SRCDIR/conf/signatures
# ESC ] 0 ; title BEL (retitles the window), then CSI 2J (clears it): 12
# bytes, within the 15 the kernel keeps.
evil=$'\e]0;pwn\a\e[2J'
fifo=$MG_TEST_TMP/fifo$'\e[31m' never=$MG_TEST_TMP/never
mkfifo "$fifo" "$never"

# A shell that renames itself (its own comm: same thread group) and then
# blocks reading the FIFO; a writer holds the other end (and then blocks
# opening a FIFO nobody writes).
bash -c 'printf "%s" "$1" >/proc/self/comm; echo renamed; read -r _ <"$2"' _ "$evil" "$fifo" >"$MG_TEST_TMP/reader.out" &
reader=$!
mg_on_exit mg_kill_pid "$reader"
bash -c 'exec 3>"$1"; read -r _ <"$2"' _ "$fifo" "$never" &
writer=$!
mg_on_exit mg_kill_pid "$writer"
mg_wait_for 10 "reader renamed" grep -qx renamed "$MG_TEST_TMP/reader.out"
mg_wait_for 10 "reader blocked on the FIFO" grep -q "pipe_read\|pipe_wait\|wait_woken" /proc/"$reader"/wchan
[[ $(cat /proc/"$reader"/comm) == *$'\e'* ]] || mg_fail "the kernel did not keep the ESC in the name"

has_control() { LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$1"; }

"$MG" snapshot --signatures "$SIGS" "$reader" >"$MG_TEST_TMP/snap.txt" || mg_fail "snapshot failed (rc $?)"
if has_control "$MG_TEST_TMP/snap.txt"; then
	cat -v "$MG_TEST_TMP/snap.txt" >&2
	mg_fail "snapshot text printed a raw control byte"
fi
mg_assert_grep '^Process [0-9]+ "\\x1b\]0;pwn\\x07\\x1b\[2J", ' "$MG_TEST_TMP/snap.txt"
mg_assert_grep '^Thread 1 \(.*\(LWP [0-9]+\) "\\x1b\]0;pwn\\x07\\x1b\[2J"\):' "$MG_TEST_TMP/snap.txt"
# The summary's I/O-wait chain names the thread and the file.
mg_assert_grep '^I/O wait: \\x1b\]0;pwn\\x07\\x1b\[2J \([0-9]+\) fd 0 /.*/fifo\\x1b\[31m$' "$MG_TEST_TMP/snap.txt"

"$MG" snapshot --signatures "$SIGS" --output "$MG_TEST_TMP/out" "$reader" >"$MG_TEST_TMP/summary.txt" ||
	mg_fail "snapshot --output failed (rc $?)"
for f in "$MG_TEST_TMP/out/stacks.txt" "$MG_TEST_TMP/summary.txt"; do
	if has_control "$f"; then
		cat -v "$f" >&2
		mg_fail "$f holds a raw control byte"
	fi
done
mg_assert_grep '"\\x1b\]0;pwn\\x07\\x1b\[2J"\):' "$MG_TEST_TMP/out/stacks.txt"
# JSON keeps the real bytes (json-c writes them as \u001b).
jq -e --arg n "${evil:0:15}" '.threads[0].name == $n' "$MG_TEST_TMP/out/report.json" >/dev/null ||
	mg_fail "report.json lost the real thread name"

# A domain name given on the command line (and the file name built from
# it) is echoed escaped in the error.
rc=0
"$MG" snapshot --libvirt-run-dir "$MG_TEST_TMP" --domain "vm$evil" >"$MG_TEST_TMP/dom.out" 2>&1 || rc=$?
((rc != 0)) || mg_fail "snapshot of a missing domain succeeded"
! has_control "$MG_TEST_TMP/dom.out" || { cat -v "$MG_TEST_TMP/dom.out" >&2; mg_fail "domain error printed a raw control byte"; }
mg_assert_grep '^migguard: domain vm\\x1b\]0;pwn\\x07\\x1b\[2J: ' "$MG_TEST_TMP/dom.out"
