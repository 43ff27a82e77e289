# The real migguardd binary refuses a bad configuration at start-up with
# file:line and exit 78, validates with --check-config, and on SIGHUP keeps
# the running configuration when the new file is bad.  A config path that
# is not a regular file, or a NUL byte in it, is refused promptly.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

bad=$MG_TEST_TMP/bad.conf
printf '[daemon]\nuri = qemu:///system\n[guard]\nfinish_timeout = soon\n' >"$bad"
rc=0; out=$("$MG_BUILDDIR/migguardd" -f --config "$bad" 2>&1) || rc=$?
((rc == 78)) || mg_fail "bad config: exit $rc, expected 78 ($out)"
grep -q "$bad:4: \[guard\] finish_timeout" <<<"$out" || mg_fail "no file:line in: $out"

rc=0; out=$("$MG_BUILDDIR/migguardd" --check-config="$bad" 2>&1) || rc=$?
((rc == 78)) || mg_fail "--check-config on a bad file: exit $rc"

# A device, a FIFO or an endless line is refused at once, naming the file
# (/dev/zero used to be read until memory ran out).
for f in /dev/zero "$MG_TEST_TMP/fifo.conf"; do
	[[ $f == /dev/zero ]] || mkfifo "$f"
	rc=0; out=$(timeout 10 "$MG_BUILDDIR/migguardd" --check-config="$f" 2>&1) || rc=$?
	((rc == 78)) || mg_fail "--check-config=$f: exit $rc, expected 78 ($out)"
	grep -qF "$f: not a regular file" <<<"$out" || mg_fail "--check-config=$f does not name the file: $out"
done
# A NUL byte in a value is an error at its line, not a shorter value.
printf '[guard]\naction = cancel\0kill\n' >"$MG_TEST_TMP/nul.conf"
rc=0; out=$(timeout 10 "$MG_BUILDDIR/migguardd" --check-config="$MG_TEST_TMP/nul.conf" 2>&1) || rc=$?
((rc == 78)) || mg_fail "--check-config on a NUL byte: exit $rc, expected 78 ($out)"
grep -qF "$MG_TEST_TMP/nul.conf:2: NUL byte in the line" <<<"$out" || mg_fail "no file:line for the NUL byte: $out"

rc=0; "$MG_BUILDDIR/migguardd" -f --config "$MG_TEST_TMP/absent.conf" 2>/dev/null || rc=$?
((rc == 78)) || mg_fail "missing explicit config: exit $rc, expected 78"

good=$MG_TEST_TMP/good.conf
# A libvirt socket nobody listens on: the daemon keeps retrying, never exits.
mg_guard_conf "$good" "daemon.uri=qemu+unix:///system?socket=$MG_TEST_TMP/none.sock" \
	"daemon.state_dir=$MG_TEST_TMP/state" "guard.finish_timeout=7s"
out=$("$MG_BUILDDIR/migguardd" -v --check-config="$good") || mg_fail "good config rejected"
grep -q '^finish_timeout = 7s$' <<<"$out" || mg_fail "--check-config -v does not show finish_timeout = 7s: $out"

mg_guard_start g "$good"
mg_guard_wait_log g 10 "retrying in 1s"
pid=$MG_GUARD_PID_g
cp "$bad" "$good"
kill -HUP "$pid"
mg_guard_wait_log g 10 "reload of $good failed, keeping the running configuration"
kill -0 "$pid" || mg_fail "daemon died on a bad reload"
mg_guard_conf "$good" "daemon.uri=qemu+unix:///system?socket=$MG_TEST_TMP/other.sock"
kill -HUP "$pid"
mg_guard_wait_log g 10 "configuration reloaded from $good"
mg_guard_wait_log g 10 "switching from .*none.sock to .*other.sock"
# Backoff grows and is bounded: 1s, 2s, 4s... never a busy loop.
mg_guard_wait_log g 15 "retrying in 4s"
attempts=$(grep -c "retrying in" "$(mg_guard_log g)")
((attempts < 10)) || mg_fail "$attempts connection attempts in a few seconds: busy loop"
mg_guard_stop g
